//! Hidden fields, over CardDAV: everything the collaborator reads omits the hidden properties, with
//! the ETags of what they read; their writes keep what they could not see; changing the setting shows in their
//! next sync.

use crate::common::*;
use labelbook::service::access::Level;
use labelbook::service::{Grantee, ServiceError, etag_of};
use labelbook::store::User;

/// An iPhone's card: the mobile number grouped with its label, a work number, a note.
const JANE: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nitem1.TEL;type=CELL;type=pref:+1 555 0100\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\nTEL;type=WORK;type=VOICE:+1 555 0199\r\nitem2.EMAIL;type=INTERNET:jane@example.com\r\nitem2.X-ABLabel:_$!<Work>!$_\r\nNOTE:met at the fair\r\nUID:jane-1\r\nEND:VCARD\r\n";

fn quoted(tag: &str) -> String {
    format!("\"{tag}\"")
}

struct World {
    s: Server,
    ann: User,
    bob: User,
    label: String,
    grant: i64,
}

impl World {
    fn card(&self, who: &str) -> String {
        format!("/dav/addressbooks/{who}/{}/jane.vcf", self.label)
    }

    fn book(&self, who: &str) -> String {
        format!("/dav/addressbooks/{who}/{}/", self.label)
    }
}

/// Ann owns "Press" with Jane's card; Bob collaborates at edit level, with TEL and NOTE hidden from him.
async fn world(hidden: &[&str]) -> World {
    let s = Server::start().await;
    s.user("ann@example.com").await;
    s.user("bob@example.com").await;
    let ann = s.record("ann@example.com").await;
    let bob = s.record("bob@example.com").await;
    let label = s.app.service.create_label(&ann, None, "Press", "").await.unwrap().id;
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&bob.email), Level::Edit, true).await.unwrap();
    s.app.service.respond(&bob, g.id, true).await.unwrap();
    let w = World { s, ann, bob, label, grant: g.id };
    w.s.put_card(&w.ann.email, &w.card(&w.ann.email), JANE).await.assert(201);
    if !hidden.is_empty() {
        w.s.app.service.set_hidden_fields(&w.ann, w.grant, hidden).await.unwrap();
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_collaborator_reads_omits_hidden_fields_everywhere() {
    let w = world(&["TEL", "NOTE"]).await;
    let bob = &w.bob.email;
    // RFC 6352 §6.3.2 GET: the card without TEL (and its item label) and NOTE; the ETag is that of these bytes.
    let r = w.s.as_user(bob, "GET", &w.card(bob), &[], "").await;
    r.assert(200).lacks("+1 555").lacks("Mobile").lacks("NOTE").contains("jane@example.com").contains("UID:jane-1");
    let seen = r.body.clone();
    assert_eq!(r.etag(), quoted(&etag_of(seen.as_bytes())));
    assert_ne!(r.etag(), quoted(&etag_of(JANE.as_bytes())));
    // RFC 6352 §8.7 multiget, RFC 6578 sync-collection, RFC 4918 PROPFIND: the same bytes and ETag.
    let multiget = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><d:getcontentlength/><C:address-data/></d:prop><d:href>{}</d:href></C:addressbook-multiget>"#,
        w.card(bob)
    );
    let m = w.s.report(bob, &w.book(bob), &multiget).await;
    m.assert(207).lacks("+1 555").lacks("met at the fair").contains(r.etag().trim_matches('"'));
    m.contains(&format!("<d:getcontentlength>{}</d:getcontentlength>", seen.len()));
    let sync = w.s.report(bob, &w.book(bob), &sync_body("", "")).await;
    sync.assert(207).contains(r.etag().trim_matches('"'));
    w.s.propfind(bob, &w.book(bob), "1", "").await.assert(207).contains(r.etag().trim_matches('"'));
    // RFC 6352 §8.6 addressbook-query: a hidden value cannot be probed for.
    let query = r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><C:filter><C:prop-filter name="TEL"><C:text-match collation="i;unicode-casemap" match-type="contains">0100</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#;
    w.s.report(bob, &w.book(bob), query).await.assert(207).lacks("jane.vcf");
    w.s.report(&w.ann.email, &w.book(&w.ann.email), query).await.assert(207).contains("jane.vcf");
    // A whole-book GET, converted to 4.0 on the way out, still omits them.
    let all = w.s.as_user(bob, "GET", &w.book(bob), &[("accept", "text/vcard; version=4.0")], "").await;
    all.assert(200).lacks("+1 555").contains("VERSION:4.0");
    // The owner reads the card as stored.
    let owner = w.s.as_user(&w.ann.email, "GET", &w.card(&w.ann.email), &[], "").await;
    assert_eq!(owner.assert(200).body, JANE);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collaborators_put_keeps_the_hidden_values() {
    let w = world(&["TEL;TYPE=CELL", "NOTE"]).await;
    let bob = &w.bob.email;
    let r = w.s.as_user(bob, "GET", &w.card(bob), &[], "").await;
    r.assert(200).lacks("+1 555 0100").contains("+1 555 0199");
    // iOS renumbers item groups on save: his EMAIL becomes item1, where the hidden mobile number lives.
    let edited = r.body.replace("item2.", "item1.").replace("FN:Jane Doe", "FN:Jane Q. Doe");
    // RFC 9110 §13.1.1: If-Match holds the ETag he read, not the stored card's.
    let stored = quoted(&etag_of(JANE.as_bytes()));
    let stale = w.s.as_user(bob, "PUT", &w.card(bob), &[("if-match", stored.as_str())], edited.clone()).await;
    stale.assert(412);
    let ifm = r.etag();
    let put = w.s.as_user(bob, "PUT", &w.card(bob), &[("if-match", ifm.as_str())], edited.clone()).await;
    put.assert(204);
    // RFC 6352 §6.3.2.3: what he reads back is what he sent, so the ETag comes back and matches a GET.
    assert_eq!(put.etag(), quoted(&etag_of(edited.as_bytes())));
    let again = w.s.as_user(bob, "GET", &w.card(bob), &[], "").await;
    assert_eq!(again.assert(200).body, edited);
    assert_eq!(again.etag(), put.etag());
    // The owner sees his edit and everything he could not see, the mobile number still with its label.
    let owner = w.s.as_user(&w.ann.email, "GET", &w.card(&w.ann.email), &[], "").await;
    owner.assert(200).contains("FN:Jane Q. Doe").contains("NOTE:met at the fair").contains("+1 555 0199");
    let mobile = owner.body.lines().find(|l| l.ends_with("+1 555 0100")).expect("the hidden number is kept");
    let group = mobile.split('.').next().unwrap();
    assert_ne!(group, "item1", "moved out of the way of his item1");
    owner.contains(&format!("{group}.X-ABLabel:_$!<Mobile>!$_"));

    // A vCard 4.0 client (RFC 6350) reads 4.0 and writes 4.0 back: the hidden lines follow, converted.
    let v4 = w.s.as_user(bob, "GET", &w.card(bob), &[("accept", "text/vcard; version=4.0")], "").await;
    v4.assert(200).contains("VERSION:4.0").lacks("+1 555 0100");
    let edited4 = v4.body.replace("FN:Jane Q. Doe", "FN:Jane Doe-Smith");
    let ifm = v4.etag();
    w.s.as_user(bob, "PUT", &w.card(bob), &[("if-match", ifm.as_str())], edited4.clone()).await.assert(204);
    let owner = w.s.as_user(&w.ann.email, "GET", &w.card(&w.ann.email), &[], "").await;
    owner.assert(200).contains("VERSION:4.0").contains("FN:Jane Doe-Smith").contains("+1 555 0100").contains("NOTE:");

    // A number he adds while numbers are hidden from him is kept (never dropped), and he is not told an ETag
    // for bytes he will not read back.
    let new = vcard3("new-1", "New").replace("END:VCARD", "TEL;TYPE=CELL:+1 555 0777\r\nEND:VCARD");
    let created = w.s.put_card(bob, &format!("{}new.vcf", w.book(bob)), &new).await;
    assert!(created.assert(201).header("etag").is_none());
    w.s.as_user(&w.ann.email, "GET", &format!("{}new.vcf", w.book(&w.ann.email)), &[], "")
        .await
        .assert(200)
        .contains("0777");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_hidden_fields_shows_in_the_next_sync() {
    let w = world(&[]).await;
    let bob = &w.bob.email;
    let first = w.s.as_user(bob, "GET", &w.card(bob), &[], "").await;
    assert_eq!(first.assert(200).body, JANE);
    let token = w.s.sync_token(bob, &w.book(bob)).await;
    w.s.app.service.set_hidden_fields(&w.ann, w.grant, &["EMAIL"]).await.unwrap();
    // RFC 6578 §3.5: the card is reported with its new ETag in his next delta.
    let delta = w.s.report(bob, &w.book(bob), &sync_body(&token, "")).await;
    let now = w.s.as_user(bob, "GET", &w.card(bob), &[], "").await;
    now.assert(200).lacks("jane@example.com").lacks("_$!<Work>!$_");
    delta.assert(207).contains("jane.vcf").contains(now.etag().trim_matches('"'));
    assert_ne!(now.etag(), first.etag());
    // Cleared: he reads the stored card again.
    w.s.app.service.set_hidden_fields::<&str>(&w.ann, w.grant, &[]).await.unwrap();
    assert_eq!(w.s.as_user(bob, "GET", &w.card(bob), &[], "").await.body, JANE);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_hides_fields_and_entries_are_checked() {
    let w = world(&[]).await;
    let svc = &w.s.app.service;
    let carl = {
        w.s.user("carl@example.com").await;
        w.s.record("carl@example.com").await
    };
    let g = svc.share(&w.ann, &w.label, &Grantee::parse(&carl.email), Level::Share, true).await.unwrap();
    svc.respond(&carl, g.id, true).await.unwrap();
    // Share level manages collaborators but hiding fields is the owner's.
    assert!(matches!(svc.set_hidden_fields(&carl, w.grant, &["TEL"]).await, Err(ServiceError::Forbidden(_))));
    assert!(matches!(svc.set_hidden_fields(&w.bob, w.grant, &["TEL"]).await, Err(ServiceError::Forbidden(_))));
    for bad in ["UID", "FN", "TEL;LABEL=x", "no such"] {
        let refused = svc.set_hidden_fields(&w.ann, w.grant, &[bad]).await;
        assert!(matches!(refused, Err(ServiceError::Field(f)) if f.field == "hidden_fields"), "{bad}");
    }
    assert_eq!(w.s.app.store.grant(w.grant).await.unwrap().unwrap().hidden_fields, "[]", "refusals change nothing");
    let g = svc.set_hidden_fields(&w.ann, w.grant, &["tel;type=cell", "NOTE"]).await.unwrap();
    assert_eq!(g.hidden_fields, r#"["TEL;TYPE=CELL","NOTE"]"#);
    // A user reached by a second grant that hides nothing sees everything (the most open grant wins).
    let dom = svc.share(&w.ann, &w.label, &Grantee::parse("group:all"), Level::View, true).await;
    assert!(dom.is_err(), "no such group yet");
    svc.add_group(&Admin::console(), "all").await.unwrap();
    svc.set_group_member(&Admin::console(), "all", &w.bob.email, true).await.unwrap();
    svc.share(&w.ann, &w.label, &Grantee::parse("group:all"), Level::View, true).await.unwrap();
    let bob = &w.bob.email;
    assert_eq!(w.s.as_user(bob, "GET", &w.card(bob), &[], "").await.body, JANE);
    w.s.stop().await;
}

/// A search by someone from whom fields are hidden finds a contact only through what they can read, on the API
/// (`q=`) and in addressbook-query (RFC 6352 §10.5 text-match): one case per kind of field a search covers (phone
/// by its text and by its digits, e-mail, organization), each checked against the owner, who finds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_find_only_what_the_searcher_may_read() {
    let w = world(&["TEL;TYPE=CELL", "EMAIL", "ORG"]).await;
    let (ann, bob) = (&w.ann.email, &w.bob.email);
    let ada = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ada-1\r\nFN:Ada Byron\r\nN:Byron;Ada;;;\r\nORG:Analytical Engines;Research\r\nTITLE:Countess\r\nEND:VCARD\r\n";
    w.s.put_card(ann, &format!("/dav/addressbooks/{ann}/{}/ada.vcf", w.label), ada).await.assert(201);
    let api_finds = |who: &str, q: &str| {
        let (s, label) = (&w.s, &w.label);
        let (who, q) = (who.to_string(), q.to_string());
        async move {
            let path = format!("/labels/{label}/contacts?q={}", q.replace(' ', "%20").replace('+', "%2B"));
            let page = parse(api(s, &who, "GET", &path, None).await.assert(200));
            let names: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["full_name"].as_str().unwrap().to_string())
                .collect();
            names
        }
    };
    let dav_finds = |who: &str, prop: &str, text: &str| {
        let (s, book) = (&w.s, w.book(who));
        let who = who.to_string();
        let body = format!(
            r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><C:filter><C:prop-filter name="{prop}"><C:text-match match-type="contains">{text}</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#
        );
        async move {
            let r = s.report(&who, &book, &body).await;
            r.assert(207);
            r.body.matches("<d:response>").count()
        }
    };
    // (needle for q=, property and text for addressbook-query, what the owner finds, what Bob finds)
    let cases = [
        ("+1 555 0100", "TEL", "555 0100", "Jane Doe", false), // the hidden mobile, as typed
        ("5550100", "TEL", "0100", "Jane Doe", false),         // the hidden mobile, by its digits
        ("555 0199", "TEL", "0199", "Jane Doe", true),         // the work number stays visible
        ("jane@example", "EMAIL", "jane@", "Jane Doe", false), // e-mail
        ("analytical", "ORG", "Analytical", "Ada Byron", false), // organization
    ];
    for (q, prop, text, owner_finds, bob_sees) in cases {
        assert_eq!(api_finds(ann, q).await, [owner_finds], "the owner searches {q:?}");
        assert_eq!(dav_finds(ann, prop, text).await, 1, "the owner queries {prop} for {text:?}");
        let expected: Vec<&str> = if bob_sees { vec![owner_finds] } else { vec![] };
        assert_eq!(api_finds(bob, q).await, expected, "Bob searches {q:?}");
        assert_eq!(dav_finds(bob, prop, text).await, usize::from(bob_sees), "Bob queries {prop} for {text:?}");
    }
    // What Bob can read is found as before, by name.
    assert_eq!(api_finds(bob, "byron").await, ["Ada Byron"]);

    // Pages of one: a card found only through its hidden mobile is skipped, and the cursor carries on past it.
    for (uid, name, tel) in [
        ("b1", "Bea One", "TEL;TYPE=WORK:777 1234"),
        ("b2", "Bea Two", "TEL;TYPE=CELL:777 1234"),
        ("b3", "Bea Three", "TEL;TYPE=HOME:777-1234"),
    ] {
        let card = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\n{tel}\r\nEND:VCARD\r\n");
        w.s.put_card(ann, &format!("/dav/addressbooks/{ann}/{}/{uid}.vcf", w.label), &card).await.assert(201);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let path = format!("/labels/{}/contacts?q=7771234&limit=1{cursor}", w.label);
        let page = parse(api(&w.s, bob, "GET", &path, None).await.assert(200));
        seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["full_name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["Bea One", "Bea Three"]);
}
