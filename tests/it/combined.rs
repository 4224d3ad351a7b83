//! The combined book: an app password with the "single" layout sees one `all/` book with every
//! contact the user can see once, and each label as an Apple group card (X-ADDRESSBOOKSERVER-KIND:group,
//! X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:…); editing a group edits the label, within the user's level.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;

struct World {
    s: Server,
    /// Ann's app password with the single layout.
    ann_single: String,
    team: String,
    clients: String,
    partners: String,
}

fn card(uid: &str, name: &str, tel: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nTEL;TYPE=CELL:{tel}\r\nEND:VCARD\r\n"
    )
}

/// Ann owns "Team" (with her contact a-1) and an unlabeled contact a-2. Bob owns "Clients", shared with Ann at
/// edit level hiding phones, holding b-1; and "Partners", shared at view level, holding b-1 and b-2.
async fn world() -> World {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let ann_u = s.record(&ann).await;
    let bob_u = s.record(&bob).await;
    let svc = &s.app.service;
    let team = svc.create_label(&ann_u, None, "Team", "").await.unwrap().id;
    let clients = svc.create_label(&bob_u, None, "Clients", "").await.unwrap().id;
    let partners = svc.create_label(&bob_u, None, "Partners", "").await.unwrap().id;
    s.put_card(&ann, &format!("{}a-1.vcf", book(&ann, &team)), &card("a-1", "Ada One", "+1 555 0101"))
        .await
        .assert(201);
    s.put_card(&ann, &format!("{}a-2.vcf", contacts(&ann)), &card("a-2", "Ada Two", "+1 555 0102")).await.assert(201);
    s.put_card(&bob, &format!("{}b-1.vcf", book(&bob, &clients)), &card("b-1", "Ben One", "+1 555 0201"))
        .await
        .assert(201);
    s.put_card(&bob, &format!("{}b-1.vcf", book(&bob, &partners)), &card("b-1", "Ben One", "+1 555 0201"))
        .await
        .assert(201);
    s.put_card(&bob, &format!("{}b-2.vcf", book(&bob, &partners)), &card("b-2", "Ben Two", "+1 555 0202"))
        .await
        .assert(201);
    let g = svc.share(&bob_u, &clients, &Grantee::User(ann.clone()), Level::Edit, true).await.unwrap();
    svc.respond(&ann_u, g.id, true).await.unwrap();
    svc.change_grant(&bob_u, g.id, None, Some(&["TEL".to_string()]), None).await.unwrap();
    let g = svc.share(&bob_u, &partners, &Grantee::User(ann.clone()), Level::View, true).await.unwrap();
    svc.respond(&ann_u, g.id, true).await.unwrap();
    let (_, secret) = s.app.accounts.add_app_password(&ann_u, "Mac", "single").await.unwrap();
    World { s, ann_single: secret, team, clients, partners }
}

fn book(user: &str, label: &str) -> String {
    format!("/dav/addressbooks/{user}/{label}/")
}

const ALL: &str = "/dav/addressbooks/ann@example.com/all/";

impl World {
    async fn mac(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<bytes::Bytes>) -> Resp {
        self.s.request(method, path, Some(("ann@example.com", &self.ann_single)), headers, body).await
    }

    async fn get(&self, name: &str) -> Resp {
        self.mac("GET", &format!("{ALL}{name}"), &[], "").await
    }

    async fn put(&self, name: &str, body: &str, etag: Option<&str>) -> Resp {
        let quoted = etag.map(|e| format!("\"{e}\""));
        let mut headers = vec![("content-type", "text/vcard; charset=utf-8")];
        if let Some(q) = &quoted {
            headers.push(("if-match", q.as_str()));
        }
        self.mac("PUT", &format!("{ALL}{name}"), &headers, body.to_string()).await
    }

    async fn sync(&self, token: &str) -> Resp {
        let headers = [("depth", "1"), ("content-type", "application/xml")];
        self.mac("REPORT", ALL, &headers, sync_body(token, "")).await
    }
}

fn token_of(r: &Resp) -> String {
    between(&r.body, "<d:sync-token>", "</d:sync-token>").expect("a sync-token").to_string()
}

fn shared_name(s: &str, uid_line: &str) -> String {
    // The href of the card whose body holds `uid_line`, from a multistatus with address-data.
    let i = s.find(&format!("{uid_line}&#13;")).expect("the card is listed");
    let before = &s[..i];
    let h = before.rfind("<d:href>").unwrap() + "<d:href>".len();
    let end = before[h..].find("</d:href>").unwrap() + h;
    before[h..end].rsplit('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_book_holds_every_contact_once_and_labels_as_groups() {
    let w = world().await;
    // The single-layout home shows one book; other credentials keep the per-label books.
    let home = w.mac("PROPFIND", "/dav/addressbooks/ann@example.com/", &[("depth", "1")], "").await;
    home.assert(207).contains("/all/").lacks("/contacts/").lacks(&w.team);
    let home = w.s.propfind("ann@example.com", "/dav/addressbooks/ann@example.com/", "1", "").await;
    home.assert(207).contains("/contacts/").lacks("/all/");

    let body = r#"<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop></d:propfind>"#;
    let r = w.mac("PROPFIND", ALL, &[("depth", "1")], body).await;
    r.assert(207);
    // RFC 6352 §6: every card once, each label's group card.
    for uid in ["UID:a-1", "UID:a-2", "UID:b-1", "UID:b-2"] {
        assert_eq!(r.body.matches(&format!("{uid}&#13;")).count(), 1, "{uid} once:\n{}", r.body);
    }
    assert_eq!(r.body.matches("X-ADDRESSBOOKSERVER-KIND:group").count(), 3, "{}", r.body);
    assert!(r.body.contains("a-1.vcf") && r.body.contains("a-2.vcf"), "own cards keep their names");
    // Ben One is shown through Clients (edit beats view), whose grant hides phones; Ben Two through Partners.
    let b1 = shared_name(&r.body, "UID:b-1");
    let got = w.get(&b1).await;
    got.assert(200).lacks("TEL").contains("FN:Ben One");
    w.get(&shared_name(&r.body, "UID:b-2")).await.assert(200).contains("TEL");
    // Groups name their members by UID.
    let team = w.get(&format!("lb-label-{}.vcf", w.team)).await;
    team.assert(200).contains("FN:Team").contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a-1").lacks("a-2");
    let partners = w.get(&format!("lb-label-{}.vcf", w.partners)).await;
    partners.assert(200).contains("urn:uuid:b-1").contains("urn:uuid:b-2");
    // The book's privileges are a card book's; renaming or deleting it is refused, and nothing changes.
    let r = w.mac("DELETE", ALL, &[], "").await;
    r.assert(403);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_anywhere_show_in_the_next_sync_and_a_new_reach_starts_it_again() {
    let w = world().await;
    let first = w.sync("").await;
    first.assert(207);
    let token = token_of(&first);
    // RFC 6578 §3.8: an unchanged book reports nothing but its token.
    let again = w.sync(&token).await;
    again.assert(207).lacks("<d:response>");
    // Bob edits Ben One in Clients: the card and both groups that carry it change for Ann.
    w.s.put_card(
        "bob@example.com",
        &format!("{}b-1.vcf", book("bob@example.com", &w.clients)),
        &card("b-1", "Ben Renamed", "+1 555 0299"),
    )
    .await
    .assert(204);
    let delta = w.sync(&token).await;
    delta.assert(207).contains("lb-shared-").contains(&format!("lb-label-{}.vcf", w.clients)).lacks("a-2.vcf");
    let token = token_of(&delta);
    // Ann's own new contact (added from the Mac) goes to My contacts and shows in the delta.
    w.put("new-1.vcf", &card("n-1", "Nia New", "+1 555 0301"), None).await.assert(201);
    w.s.as_user("ann@example.com", "GET", &format!("{}new-1.vcf", contacts("ann@example.com")), &[], "")
        .await
        .assert(200);
    let delta = w.sync(&token).await;
    delta.assert(207).contains("new-1.vcf");
    let token = token_of(&delta);
    // A share revoked changes what the book can hold: the old token is refused, so the Mac starts again
    // (RFC 6578 §3.2) and no longer sees Partners.
    let bob = w.s.record("bob@example.com").await;
    let grant = w.s.app.service.grants(&bob, &w.partners).await.unwrap().remove(0);
    w.s.app.service.revoke(&bob, grant.id).await.unwrap();
    let r = w.sync(&token).await;
    r.assert(403).contains("valid-sync-token");
    let fresh = w.sync("").await;
    fresh.assert(207).lacks(&w.partners).lacks("UID:b-2").contains(&w.clients);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_in_the_combined_book_go_to_the_book_that_holds_each_card_within_its_level() {
    let w = world().await;
    let body = r#"<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:address-data/></d:prop></d:propfind>"#;
    let listing = w.mac("PROPFIND", ALL, &[("depth", "1")], body).await;
    let b1 = shared_name(&listing.body, "UID:b-1");
    let b2 = shared_name(&listing.body, "UID:b-2");

    // A shared contact edited at edit level: it changes in Bob's label, and the phone hidden from Ann stays.
    let etag = w.get(&b1).await.etag();
    let edited = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:b-1\r\nFN:Ben Edited\r\nN:Edited;Ben;;;\r\nEND:VCARD\r\n";
    w.put(&b1, edited, Some("stale")).await.assert(412);
    w.put(&b1, edited, Some(&etag)).await.assert(204);
    let bobs =
        w.s.as_user("bob@example.com", "GET", &format!("{}b-1.vcf", book("bob@example.com", &w.clients)), &[], "")
            .await;
    bobs.assert(200).contains("FN:Ben Edited").contains("TEL;TYPE=CELL:+1 555 0201");
    // Ben Two is only in Partners (view): editing or deleting him is refused and changes nothing.
    let etag2 = w.get(&b2).await.etag();
    w.put(&b2, &card("b-2", "Nope", "+1"), Some(&etag2)).await.assert(403).contains("need-privileges");
    w.mac("DELETE", &format!("{ALL}{b2}"), &[], "").await.assert(403);
    w.get(&b2).await.assert(200).contains("FN:Ben Two");

    // A group edited in Contacts: Ann adds her own Ada Two to Team (she owns it) and takes Ada One off.
    let group = format!("lb-label-{}.vcf", w.team);
    let g = w.get(&group).await;
    let new_group = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{}\r\nFN:Team\r\nN:Team;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a-2\r\nEND:VCARD\r\n",
        w.team
    );
    w.put(&group, &new_group, Some("stale")).await.assert(412);
    let r = w.put(&group, &new_group, Some(&g.etag())).await;
    r.assert(204);
    let team = w.s.propfind("ann@example.com", &book("ann@example.com", &w.team), "1", "").await;
    team.assert(207).contains("a-2.vcf").lacks("a-1.vcf");
    w.get(&group).await.assert(200).contains("urn:uuid:a-2").lacks("urn:uuid:a-1");
    // Renaming the group renames the label (Ann owns Team); a collaborator cannot rename Bob's Clients.
    let g = w.get(&group).await;
    w.put(&group, &new_group.replace("FN:Team", "FN:Team A"), Some(&g.etag())).await.assert(204);
    let label = parse(api(&w.s, "ann@example.com", "GET", &format!("/labels/{}", w.team), None).await.assert(200));
    assert_eq!(label["name"], "Team A");
    let cg = format!("lb-label-{}.vcf", w.clients);
    let c = w.get(&cg).await;
    let renamed = c.body.replace("FN:Clients", "FN:Mine now");
    w.put(&cg, &renamed, Some(&c.etag())).await.assert(403);
    let label = parse(api(&w.s, "ann@example.com", "GET", &format!("/labels/{}", w.clients), None).await.assert(200));
    assert_eq!(label["name"], "Clients");
    let new_group = new_group.replace("FN:Team", "FN:Team A");
    // In Partners (view) the same edit is refused before anything changes.
    let pg = format!("lb-label-{}.vcf", w.partners);
    let p = w.get(&pg).await;
    let fewer = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{}\r\nFN:Partners\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b-1\r\nEND:VCARD\r\n",
        w.partners
    );
    w.put(&pg, &fewer, Some(&p.etag())).await.assert(403);
    w.get(&pg).await.assert(200).contains("urn:uuid:b-2");
    // Ben Two, Bob's contact that Ann reads in Partners, put on Bob's Clients from its group (she edits there):
    // the same contact now carries both labels, phone and all, and Bob has no second Ben Two.
    let c = w.get(&cg).await;
    let more = c.body.replace("END:VCARD", "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b-2\r\nEND:VCARD");
    w.put(&cg, &more, Some(&c.etag())).await.assert(204);
    w.get(&cg).await.assert(200).contains("urn:uuid:b-2");
    let bob = "bob@example.com";
    let on_clients = parse(&api(&w.s, bob, "GET", &format!("/labels/{}/contacts?q=Ben%20Two", w.clients), None).await);
    assert_eq!(on_clients["items"][0]["phones"][0]["value"], "+1 555 0202", "{on_clients}");
    assert_eq!(
        parse(&api(&w.s, bob, "GET", "/contacts?q=Ben%20Two", None).await)["items"].as_array().unwrap().len(),
        1
    );
    // Someone else's contact cannot be put on a label from here; a new group is not a label.
    let with_b1 = new_group.replace(
        "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a-2",
        "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a-2\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b-1",
    );
    let g = w.get(&group).await;
    w.put(&group, &with_b1, Some(&g.etag())).await.assert(403);
    let brand_new =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:g-9\r\nFN:Friends\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nEND:VCARD\r\n";
    w.put("g-9.vcf", brand_new, None).await.assert(403);
    w.put("lb-shared-999.vcf", &card("x", "X", "1"), None).await.assert(404);
    w.mac("DELETE", &format!("{ALL}{group}"), &[], "").await.assert(403);

    // Deleting her own contact here deletes it, as in My contacts.
    w.mac("DELETE", &format!("{ALL}a-2.vcf"), &[], "").await.assert(204);
    w.s.as_user("ann@example.com", "GET", &format!("{}a-2.vcf", contacts("ann@example.com")), &[], "")
        .await
        .assert(404);
    w.s.stop().await;
}
