//! Duplicates found across everything a user reads, merged with nothing lost (the survivor keeps every line of
//! both, the labels move where the user's level allows, the other contact leaves every CardDAV book in the same
//! transaction), and undone.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::json;

fn card(uid: &str, name: &str, lines: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n{lines}END:VCARD\r\n")
}

/// The contact id behind a card of My contacts, by its UID, through the API.
async fn contact_id(s: &Server, user: &str, book: &str, name: &str) -> i64 {
    let path = if book == "contacts" { "/contacts?q=".to_string() } else { format!("/labels/{book}/contacts?q=") };
    let r = api(s, user, "GET", &format!("{path}{}", name.replace(' ', "%20")), None).await;
    r.assert(200);
    let v = parse(&r);
    let items: Vec<_> = v["items"].as_array().unwrap().iter().filter(|c| c["full_name"] == name).collect();
    assert_eq!(items.len(), 1, "one {name} in {book}: {}", r.body);
    items[0]["id"].as_i64().unwrap()
}

async fn share(s: &Server, owner: &labelbook::store::User, label: &str, who: &str, level: Level) {
    s.user(who).await;
    let u = s.record(who).await;
    let g = s.app.service.share(owner, label, &Grantee::User(who.to_string()), level, true).await.unwrap();
    s.app.service.respond(&u, g.id, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_merges_two_contacts_into_one_with_nothing_lost_and_undoes_it() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let team = s.app.service.create_label(&user, None, "Team", "").await.unwrap();
    let team_book = format!("{}{}/", home(&ann), team.id);
    let keep_card = card("keep-1", "Mia Wong", "EMAIL:Mia@Example.com\r\nTEL;TYPE=CELL:+1 415 555 0100\r\n");
    s.put_card(&ann, &format!("{}keep-1.vcf", contacts(&ann)), &keep_card).await.assert(201);
    s.put_card(
        &ann,
        &format!("{team_book}other-1.vcf"),
        &card("other-1", "Mia W.", "EMAIL:mia@example.com\r\nTEL:(415) 555-0100\r\nTEL;TYPE=WORK:+44 20 7946 0018\r\nORG:Wong & Co\r\nNOTE:met in Lyon\r\n"),
    )
    .await
    .assert(201);
    s.put_card(&ann, &format!("{}solo.vcf", contacts(&ann)), &card("solo", "Sol Ode", "EMAIL:sol@example.com\r\n"))
        .await
        .assert(201);

    // Found by the shared address (and number), once, and mergeable.
    let r = api(&s, &ann, "GET", "/duplicates", None).await;
    r.assert(200);
    let found = parse(&r);
    assert_eq!(found["compared"], 3);
    let pairs = found["items"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{}", r.body);
    assert_eq!(pairs[0]["mergeable"], true);
    assert_eq!(pairs[0]["reasons"][0]["kind"], "email");
    assert_eq!(pairs[0]["score"], 100);
    let keep_id = contact_id(&s, &ann, "contacts", "Mia Wong").await;
    let other_id = contact_id(&s, &ann, "contacts", "Mia W.").await;
    let ids = [pairs[0]["a"]["id"].as_i64().unwrap(), pairs[0]["b"]["id"].as_i64().unwrap()];
    assert!(ids.contains(&keep_id) && ids.contains(&other_id));

    let my_token = s.sync_token(&ann, &contacts(&ann)).await;
    let team_token = s.sync_token(&ann, &team_book).await;
    let before = s.as_user(&ann, "GET", &format!("{}keep-1.vcf", contacts(&ann)), &[], "").await;
    let body = json!({"keep": {"book": "contacts", "id": keep_id}, "other": {"book": "contacts", "id": other_id}});

    // A preview says what would happen and changes nothing.
    let mut preview = body.clone();
    preview["preview"] = json!(true);
    let r = api(&s, &ann, "POST", "/duplicates/merge", Some(preview)).await;
    r.assert(200);
    let plan = parse(&r);
    assert_eq!(plan["deletes_other"], true);
    assert_eq!(plan["labels_joined"], json!(["Team"]));
    let added: Vec<&str> = plan["added"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(added.contains(&"ORG:Wong & Co") && added.contains(&"NOTE:met in Lyon"), "{added:?}");
    assert!(added.contains(&"TEL;TYPE=WORK:+44 20 7946 0018"));
    assert!(!added.iter().any(|l| l.contains("415")), "the same number is not said twice: {added:?}");
    assert_eq!(plan["not_kept"], json!(["FN:Mia W."]));
    assert!(plan.get("merge_id").is_none());
    assert_eq!(s.sync_token(&ann, &contacts(&ann)).await, my_token, "a preview writes nothing");

    // The merge: one contact with every line of both, on both books; the other leaves each book as a deletion.
    let r = api(&s, &ann, "POST", "/duplicates/merge", Some(body.clone())).await;
    r.assert(201);
    let done = parse(&r);
    let merge_id = done["merge_id"].as_i64().unwrap();
    assert_eq!(done["survivor"]["organization"], "Wong & Co", "{}", r.body);
    let merged = s.as_user(&ann, "GET", &format!("{}keep-1.vcf", contacts(&ann)), &[], "").await;
    merged
        .assert(200)
        .contains("UID:keep-1")
        .contains("ORG:Wong & Co")
        .contains("NOTE:met in Lyon")
        .contains("NICKNAME:Mia W.");
    assert!(
        merged.body.starts_with(before.body.trim_end_matches("END:VCARD\r\n")),
        "the survivor's lines keep their bytes"
    );
    s.as_user(&ann, "GET", &format!("{}other-1.vcf", contacts(&ann)), &[], "").await.assert(404);
    s.as_user(&ann, "GET", &format!("{team_book}other-1.vcf"), &[], "").await.assert(404);
    // RFC 6578 §3.5.2: a member removed since the token is reported with a 404 status, in the same delta as the
    // survivor's change.
    let delta = s.report(&ann, &contacts(&ann), &sync_body(&my_token, "")).await;
    delta.assert(207).contains("keep-1.vcf</d:href><d:propstat>");
    assert!(
        between(&delta.body, "other-1.vcf</d:href>", "</d:response>").is_some_and(|r| r.contains("404")),
        "{}",
        delta.body
    );
    let delta = s.report(&ann, &team_book, &sync_body(&team_token, "")).await;
    delta.assert(207).contains("keep-1.vcf</d:href><d:propstat>");
    assert!(between(&delta.body, "other-1.vcf</d:href>", "</d:response>").is_some_and(|r| r.contains("404")));
    let r = api(&s, &ann, "GET", &format!("/labels/{}/contacts", team.id), None).await;
    assert_eq!(parse(&r)["items"].as_array().unwrap().len(), 1, "one Mia on the label: {}", r.body);
    // History says so; the other is in the trash; nothing is found twice any more.
    let h = api(&s, &ann, "GET", &format!("/contacts/{keep_id}/history"), None).await;
    h.assert(200).contains("merged");
    let trash = s.app.service.trash(&user).await.unwrap();
    assert_eq!(trash.contacts.iter().map(|c| c.contact_id).collect::<Vec<_>>(), vec![other_id]);
    assert_eq!(parse(&api(&s, &ann, "GET", "/duplicates", None).await)["items"], json!([]));

    // Undo: both as they were, where they were.
    let token = s.sync_token(&ann, &team_book).await;
    api(&s, &ann, "POST", &format!("/merges/{merge_id}/undo"), None).await.assert(204);
    let back = s.as_user(&ann, "GET", &format!("{}keep-1.vcf", contacts(&ann)), &[], "").await;
    assert_eq!(back.assert(200).etag(), before.etag());
    s.as_user(&ann, "GET", &format!("{}other-1.vcf", contacts(&ann)), &[], "")
        .await
        .assert(200)
        .contains("NOTE:met in Lyon");
    s.as_user(&ann, "GET", &format!("{team_book}other-1.vcf"), &[], "").await.assert(200);
    s.report(&ann, &team_book, &sync_body(&token, "")).await.assert(207).contains("other-1.vcf</d:href><d:propstat>");
    let r = api(&s, &ann, "GET", &format!("/labels/{}/contacts", team.id), None).await;
    assert_eq!(parse(&r)["items"].as_array().unwrap().len(), 1, "the survivor left the label it joined: {}", r.body);
    api(&s, &ann, "POST", &format!("/merges/{merge_id}/undo"), None).await.assert(409);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collaborator_merges_within_their_level_and_what_they_may_not_change_stays() {
    let s = Server::start().await;
    let carol = s.user("carol@example.com").await;
    let owner = s.record(&carol).await;
    let shared = s.app.service.create_label(&owner, None, "Clients", "").await.unwrap();
    let private = s.app.service.create_label(&owner, None, "Private", "").await.unwrap();
    share(&s, &owner, &shared.id, "del@example.com", Level::Delete).await;
    share(&s, &owner, &shared.id, "edit@example.com", Level::Edit).await;
    let book = |who: &str, label: &str| format!("/dav/addressbooks/{who}/{label}/");
    s.put_card(
        &carol,
        &format!("{}k.vcf", book(&carol, &shared.id)),
        &card("k", "Kim Park", "EMAIL:kim@example.com\r\n"),
    )
    .await
    .assert(201);
    s.put_card(
        &carol,
        &format!("{}o.vcf", book(&carol, &shared.id)),
        &card("o", "Kim P", "EMAIL:KIM@example.com\r\nTEL:+33 1 23 45 67 89\r\n"),
    )
    .await
    .assert(201);
    // The other is also on a label of Carol's that the collaborators cannot see.
    let o_mine = contact_id(&s, &carol, "contacts", "Kim P").await;
    s.app
        .service
        .add_to_label(
            &s.app.service.open_book_anywhere(&owner, &private.id).await.unwrap(),
            &s.app.service.open_book_anywhere(&owner, "contacts").await.unwrap(),
            &[o_mine],
        )
        .await
        .unwrap();
    // A contact of the collaborator's own with the same address: found, but two owners' contacts stay two.
    s.put_card(
        "del@example.com",
        &format!("{}mine.vcf", contacts("del@example.com")),
        &card("mine", "Kim", "EMAIL:kim@example.com\r\n"),
    )
    .await
    .assert(201);

    let keep = contact_id(&s, "del@example.com", &shared.id, "Kim Park").await;
    let other = contact_id(&s, "del@example.com", &shared.id, "Kim P").await;
    let found = parse(&api(&s, "del@example.com", "GET", "/duplicates", None).await);
    let pairs = found["items"].as_array().unwrap();
    assert_eq!(pairs.len(), 3, "{found}");
    let across: Vec<_> = pairs.iter().filter(|p| p["mergeable"] == false).collect();
    assert_eq!(across.len(), 2, "{found}");
    assert!(across[0]["why_not"].as_str().unwrap().contains("each keeps their own"));
    let mine = contact_id(&s, "del@example.com", "contacts", "Kim").await;
    let refused = api(
        &s,
        "del@example.com",
        "POST",
        "/duplicates/merge",
        Some(json!({"keep": {"book": "contacts", "id": mine}, "other": {"book": shared.id, "id": other}})),
    )
    .await;
    refused.assert(409);

    // Edit level cannot take a contact off the label: refused, nothing changed; listed as not mergeable.
    let body = json!({"keep": {"book": shared.id, "id": keep}, "other": {"book": shared.id, "id": other}});
    let token = s.sync_token(&carol, &contacts(&carol)).await;
    api(&s, "edit@example.com", "POST", "/duplicates/merge", Some(body.clone())).await.assert(403);
    assert_eq!(s.sync_token(&carol, &contacts(&carol)).await, token);
    let theirs = parse(&api(&s, "edit@example.com", "GET", "/duplicates", None).await);
    assert_eq!(theirs["items"][0]["mergeable"], false, "{theirs}");

    // Delete level: the survivor gains the other's lines, the other leaves the shared label; it stays in Carol's
    // own contacts and on her private label, and the answer says so.
    let r = api(&s, "del@example.com", "POST", "/duplicates/merge", Some(body)).await;
    r.assert(201);
    let done = parse(&r);
    assert_eq!(done["deletes_other"], false);
    let apart = done["kept_apart"].to_string();
    assert!(
        apart.contains("1 of carol@example.com’s labels you cannot see") && apart.contains("own contacts"),
        "{apart}"
    );
    s.as_user(&carol, "GET", &format!("{}k.vcf", book(&carol, &shared.id)), &[], "")
        .await
        .assert(200)
        .contains("TEL:+33 1 23 45 67 89");
    s.as_user(&carol, "GET", &format!("{}o.vcf", book(&carol, &shared.id)), &[], "").await.assert(404);
    s.as_user(&carol, "GET", &format!("{}o.vcf", contacts(&carol)), &[], "").await.assert(200);
    let private_list = parse(&api(&s, &carol, "GET", &format!("/labels/{}/contacts", private.id), None).await);
    assert_eq!(private_list["items"].as_array().unwrap().len(), 1);
    // Someone else's merge is not theirs to undo; the merger's is.
    let id = done["merge_id"].as_i64().unwrap();
    api(&s, "edit@example.com", "POST", &format!("/merges/{id}/undo"), None).await.assert(404);
    api(&s, "del@example.com", "POST", &format!("/merges/{id}/undo"), None).await.assert(204);
    s.as_user(&carol, "GET", &format!("{}o.vcf", book(&carol, &shared.id)), &[], "").await.assert(200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_found_only_by_what_the_user_reads() {
    let s = Server::start().await;
    let carol = s.user("carol@example.com").await;
    let owner = s.record(&carol).await;
    let label = s.app.service.create_label(&owner, None, "Suppliers", "").await.unwrap();
    share(&s, &owner, &label.id, "dan@example.com", Level::Delete).await;
    let g = s.app.service.grants(&owner, &label.id).await.unwrap();
    let grant = g.iter().find(|g| g.grantee == "dan@example.com").unwrap();
    s.app.service.set_hidden_fields(&owner, grant.id, &["TEL"]).await.unwrap();
    let book = format!("{}{}/", home(&carol), label.id);
    // Alike only by a number hidden from Dan.
    s.put_card(&carol, &format!("{book}a.vcf"), &card("a", "Al Bee", "TEL:+1 212 555 0199\r\n")).await.assert(201);
    s.put_card(
        &carol,
        &format!("{book}b.vcf"),
        &card("b", "Cy Dee", "TEL:212-555-0199\r\nTEL;TYPE=WORK:+44 20 7946 0018\r\nORG:Dee Co\r\n"),
    )
    .await
    .assert(201);
    assert_eq!(parse(&api(&s, &carol, "GET", "/duplicates", None).await)["items"].as_array().unwrap().len(), 1);
    let r = api(&s, "dan@example.com", "GET", "/duplicates", None).await;
    r.assert(200).lacks("555");
    assert_eq!(parse(&r)["items"], json!([]), "a hidden number finds nothing for Dan");
    // Dan merges the two anyway: Carol's survivor keeps both hidden numbers' lines (once: they are one number),
    // and what Dan is shown of it holds none.
    let a = contact_id(&s, "dan@example.com", &label.id, "Al Bee").await;
    let b = contact_id(&s, "dan@example.com", &label.id, "Cy Dee").await;
    let r = api(
        &s,
        "dan@example.com",
        "POST",
        "/duplicates/merge",
        Some(json!({"keep": {"book": label.id, "id": a}, "other": {"book": label.id, "id": b}})),
    )
    .await;
    r.assert(201).lacks("555").lacks("7946");
    // Carol's survivor keeps its own hidden number and gains what Dan reads of the other (its organization),
    // never a line hidden from him: a merge does not move hidden data onto another contact.
    let merged = s.as_user(&carol, "GET", &format!("{book}a.vcf"), &[], "").await;
    merged.assert(200).contains("TEL:+1 212 555 0199").contains("ORG:Dee Co").lacks("7946");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_merge_request_is_refused_and_changes_nothing() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    s.put_card(&ann, &format!("{}a.vcf", contacts(&ann)), &card("a", "Al", "EMAIL:al@example.com\r\n"))
        .await
        .assert(201);
    let a = contact_id(&s, &ann, "contacts", "Al").await;
    let token = s.sync_token(&ann, &contacts(&ann)).await;
    for (body, status) in [
        (json!({"keep": {"book": "contacts", "id": a}, "other": {"book": "contacts", "id": a}}), 422),
        (json!({"keep": {"book": "contacts", "id": a}, "other": {"book": "contacts", "id": a + 1000}}), 404),
        (json!({"keep": {"book": "nope", "id": a}, "other": {"book": "contacts", "id": a}}), 400),
        (
            json!({"keep": {"book": uuid::Uuid::new_v4().to_string(), "id": a}, "other": {"book": "contacts", "id": a}}),
            404,
        ),
        (json!({"keep": {"book": "contacts", "id": -1}, "other": {"book": "contacts", "id": a}}), 400),
        (json!({"keep": {"book": "contacts", "id": a}}), 400),
        (json!({"keep": {"book": "contacts", "id": a}, "other": {"book": "contacts", "id": a}, "extra": 1}), 400),
    ] {
        api(&s, &ann, "POST", "/duplicates/merge", Some(body.clone())).await.assert(status);
    }
    api(&s, &ann, "POST", "/merges/999999/undo", None).await.assert(404);
    api(&s, &ann, "POST", "/merges/x/undo", None).await.assert(404);
    api(&s, &ann, "DELETE", "/duplicates", None).await.assert(405);
    assert_eq!(s.sync_token(&ann, &contacts(&ann)).await, token);
    s.stop().await;
}
