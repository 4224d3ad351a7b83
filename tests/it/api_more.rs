//! Label transfer, contact photos and the labels a contact carries, through the API.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::json;

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_transfers_a_label_to_a_collaborator_and_nobody_else_can() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let cy = s.user("cy@example.com").await;
    let owner = s.record(&ann).await;
    let bob_user = s.record(&bob).await;
    let label = s.app.service.create_label(&owner, None, "Team", "").await.unwrap().id;
    let g = s.app.service.share(&owner, &label, &Grantee::User(bob.clone()), Level::Share, true).await.unwrap();
    let path = format!("/api/v1/labels/{label}/transfer");
    let to = |who: &str| json!({"to": who}).to_string();
    // Bob has not accepted yet: he cannot be handed it.
    let r = s.as_user(&ann, "POST", &path, &[JSON], to(&bob)).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "to");
    s.app.service.respond(&bob_user, g.id, true).await.unwrap();
    // Only the owner transfers (share level is not enough), and a stranger does not even see the label.
    s.as_user(&bob, "POST", &path, &[JSON], to(&bob)).await.assert(403);
    s.as_user(&cy, "POST", &path, &[JSON], to(&cy)).await.assert(404);
    s.as_user(&ann, "POST", &path, &[JSON], to("nobody@example.com")).await.assert(422);
    s.as_user(&ann, "POST", &path, &[JSON], json!({"to": bob, "keep": true}).to_string()).await.assert(400);
    let l = parse(s.as_user(&ann, "GET", &format!("/api/v1/labels/{label}"), &[], "").await.assert(200));
    assert_eq!(l["level"], "owner", "refusals changed nothing");

    s.as_user(&ann, "POST", &path, &[JSON], to(&bob)).await.assert(204);
    let l = parse(s.as_user(&bob, "GET", &format!("/api/v1/labels/{label}"), &[], "").await.assert(200));
    assert_eq!(l["level"], "owner");
    let l = parse(s.as_user(&ann, "GET", &format!("/api/v1/labels/{label}"), &[], "").await.assert(200));
    assert_eq!(l["level"], "share", "the previous owner stays at share level");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_photo_is_served_as_an_image_to_whoever_may_read_it() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let cy = s.user("cy@example.com").await;
    let body = json!({"full_name": "Pic", "photo": format!("data:image/png;base64,{PNG}")}).to_string();
    let c = parse(s.as_user(&ann, "POST", "/api/v1/contacts", &[JSON], body).await.assert(201));
    let id = c["id"].as_i64().unwrap();
    let r = s.as_user(&ann, "GET", &format!("/api/v1/contacts/{id}/photo"), &[], "").await;
    r.assert(200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(&r.bytes[..4], b"\x89PNG");
    // RFC 9110 §13.1.2
    let etag = r.etag();
    s.as_user(&ann, "GET", &format!("/api/v1/contacts/{id}/photo"), &[("if-none-match", &etag)], "").await.assert(304);
    s.as_user(&cy, "GET", &format!("/api/v1/contacts/{id}/photo"), &[], "").await.assert(404);
    let plain =
        parse(&s.as_user(&ann, "POST", "/api/v1/contacts", &[JSON], json!({"full_name": "No pic"}).to_string()).await);
    s.as_user(&ann, "GET", &format!("/api/v1/contacts/{}/photo", plain["id"]), &[], "").await.assert(404);
    // An SVG (which can carry script) is never served as a photo.
    let svg = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:svg\r\nFN:Svg\r\nPHOTO:data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=\r\nEND:VCARD\r\n";
    s.put_card(&ann, &format!("{}svg.vcf", contacts(&ann)), svg).await.assert(201);
    let page = parse(&s.as_user(&ann, "GET", "/api/v1/contacts?q=svg", &[], "").await);
    s.as_user(&ann, "GET", &format!("/api/v1/contacts/{}/photo", page["items"][0]["id"]), &[], "").await.assert(404);
    s.stop().await;
}

/// Ann owns "Team"; Sam manages it (share level) and Vic views it, both accepted.
struct Managed {
    ann: String,
    sam: String,
    vic: String,
    label: String,
    vic_grant: i64,
}

async fn two_managers_and_vic(s: &Server) -> Managed {
    let ann = s.user("ann@example.com").await;
    let sam = s.user("sam@example.com").await;
    let vic = s.user("vic@example.com").await;
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Team", "").await.unwrap().id;
    let mut vic_grant = 0;
    for (who, level) in [(&sam, Level::Share), (&vic, Level::View)] {
        let g = s.app.service.share(&owner, &label, &Grantee::User(who.clone()), level, true).await.unwrap();
        vic_grant = g.id;
        let user = s.record(who).await;
        s.app.service.respond(&user, g.id, true).await.unwrap();
    }
    Managed { ann, sam, vic, label, vic_grant }
}

/// Two managers changing the same grant. Each grant carries a version (its ETag); a change sent
/// with an If-Match that is no longer current is refused with 412 and changes nothing (RFC 9110 §13.1.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_changing_one_grant_never_overwrite_each_other_unknowingly() {
    let s = Server::start().await;
    let Managed { ann, sam, vic, label, .. } = two_managers_and_vic(&s).await;
    let vics_grant = |who: String| {
        let (s, label) = (&s, label.clone());
        async move {
            let list = parse(api(s, &who, "GET", &format!("/labels/{label}/grants"), None).await.assert(200));
            list["items"].as_array().unwrap().iter().find(|g| g["grantee"] == "vic@example.com").unwrap().clone()
        }
    };
    // Both managers look at Vic's grant and see the same version.
    let seen_by_ann = vics_grant(ann.clone()).await;
    let seen_by_sam = vics_grant(sam.clone()).await;
    assert_eq!(seen_by_ann["etag"], seen_by_sam["etag"]);
    let stale = format!("\"{}\"", seen_by_sam["etag"].as_str().unwrap());
    let path = format!("/api/v1/grants/{}", seen_by_ann["id"]);
    let vic_book = format!("/dav/addressbooks/{vic}/{label}/");
    // Ann raises Vic to edit: the answer carries the new version.
    let r = s.as_user(&ann, "PATCH", &path, &[JSON, ("if-match", &stale)], json!({"level": "edit"}).to_string()).await;
    let now = parse(r.assert(200));
    assert_eq!(now["level"], "edit");
    assert_eq!(r.etag(), format!("\"{}\"", now["etag"].as_str().unwrap()));
    assert_ne!(r.etag(), stale);
    // Sam, still looking at the old version, is refused: his change would undo Ann's without his knowing.
    let token = s.sync_token(&vic, &vic_book).await;
    for (method, body) in [("PATCH", json!({"level": "delete"}).to_string()), ("DELETE", String::new())] {
        let r = s.as_user(&sam, method, &path, &[JSON, ("if-match", &stale)], body).await;
        r.assert(412);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
    // Nor may the owner hide fields on a version she no longer has: nothing changes, not even Vic's ETags.
    let hide = json!({"hidden_fields": ["TEL"]}).to_string();
    s.as_user(&ann, "PATCH", &path, &[JSON, ("if-match", &stale)], hide).await.assert(412);
    let current = vics_grant(sam.clone()).await;
    assert_eq!((current["level"].as_str(), current["status"].as_str()), (Some("edit"), Some("accepted")));
    assert_eq!(current["hidden_fields"], json!([]));
    assert_eq!(s.sync_token(&vic, &vic_book).await, token, "a refused change moves no sync-token");
    // With the version he now reads, Sam's removal goes through; Ann's older one then fails.
    let fresh = format!("\"{}\"", current["etag"].as_str().unwrap());
    let r = s.as_user(&sam, "DELETE", &path, &[("if-match", &fresh)], "").await;
    assert_eq!(parse(r.assert(200))["status"], "revoked");
    let r = s.as_user(&ann, "PATCH", &path, &[JSON, ("if-match", &fresh)], json!({"level": "view"}).to_string()).await;
    r.assert(412);
    assert_eq!(vics_grant(ann.clone()).await["status"], "revoked");
    // `*` matches whatever version there is; a revoked grant then says why it cannot change.
    let r = s.as_user(&ann, "PATCH", &path, &[JSON, ("if-match", "*")], json!({"level": "view"}).to_string()).await;
    r.assert(409);
    s.stop().await;
}

/// Without If-Match, two managers changing one grant at the same moment each either succeed or are told it
/// changed meanwhile (409); the grant ends at a level one of them was told they set, never in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_grant_changes_leave_one_consistent_answer() {
    let s = Server::start().await;
    let Managed { ann, sam, vic_grant, .. } = two_managers_and_vic(&s).await;
    let path = format!("/api/v1/grants/{vic_grant}");
    for round in 0..10 {
        let (a, b) = if round % 2 == 0 { ("edit", "delete") } else { ("delete", "edit") };
        let (ra, rb) = tokio::join!(
            s.as_user(&ann, "PATCH", &path, &[JSON], json!({"level": a}).to_string()),
            s.as_user(&sam, "PATCH", &path, &[JSON], json!({"level": b}).to_string()),
        );
        let told: Vec<&str> = [(&ra, a), (&rb, b)]
            .into_iter()
            .filter_map(|(r, level)| match r.status.as_u16() {
                200 => Some(level),
                409 => None,
                other => panic!("round {round}: {other} {}", r.body),
            })
            .collect();
        assert!(!told.is_empty(), "round {round}: at least one change goes through");
        let stored = s.app.store.grant(vic_grant).await.unwrap().unwrap();
        assert!(told.contains(&stored.level.as_str()), "round {round}: {} was nobody's answer", stored.level);
    }
    s.stop().await;
}

/// A contact's card names the labels carrying it that the reader can open, and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_names_only_the_labels_its_reader_can_open() {
    let s = Server::start().await;
    let carol = s.user("carol@example.com").await;
    let owner = s.record(&carol).await;
    let clients = s.app.service.create_label(&owner, None, "Clients", "").await.unwrap();
    let private = s.app.service.create_label(&owner, None, "Private", "").await.unwrap();
    s.user("bob@example.com").await;
    let bob = s.record("bob@example.com").await;
    let g = s
        .app
        .service
        .share(&owner, &clients.id, &Grantee::User("bob@example.com".into()), Level::View, true)
        .await
        .unwrap();
    s.app.service.respond(&bob, g.id, true).await.unwrap();
    let created = parse(
        api(&s, &carol, "POST", &format!("/labels/{}/contacts", clients.id), Some(json!({"full_name": "Kim"})))
            .await
            .assert(201),
    );
    let id = created["id"].as_i64().unwrap();
    let mine = s.app.service.open_book_anywhere(&owner, "contacts").await.unwrap();
    let on_private = s.app.service.open_book_anywhere(&owner, &private.id).await.unwrap();
    s.app.service.add_to_label(&on_private, &mine, &[id]).await.unwrap();

    let names = |r: &Resp| {
        parse(r)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let r = api(&s, &carol, "GET", &format!("/contacts/{id}/labels"), None).await;
    assert_eq!(names(r.assert(200)), ["Clients", "Private"]);
    let r = api(&s, "bob@example.com", "GET", &format!("/labels/{}/contacts/{id}/labels", clients.id), None).await;
    assert_eq!(names(r.assert(200)), ["Clients"]);
    r.lacks(&private.id);
    // Not Bob's contact in his own book, and a label he cannot open: 404 either way.
    api(&s, "bob@example.com", "GET", &format!("/contacts/{id}/labels"), None).await.assert(404);
    api(&s, "bob@example.com", "GET", &format!("/labels/{}/contacts/{id}/labels", private.id), None).await.assert(404);
    api(&s, &carol, "POST", &format!("/contacts/{id}/labels"), None).await.assert(405);

    // Whether a label is shared, for the sidebar's icon: Carol's shared one and not her private one; for Bob,
    // someone else's label always is.
    let shared = |v: &serde_json::Value, name: &str| {
        v["items"].as_array().unwrap().iter().find(|l| l["name"] == name).map(|l| l["shared"].clone()).unwrap()
    };
    let hers = parse(&api(&s, &carol, "GET", "/labels", None).await);
    assert_eq!((shared(&hers, "Clients"), shared(&hers, "Private")), (json!(true), json!(false)));
    assert_eq!(shared(&parse(&api(&s, "bob@example.com", "GET", "/labels", None).await), "Clients"), json!(true));
    assert_eq!(parse(&api(&s, &carol, "GET", &format!("/labels/{}", private.id), None).await)["shared"], json!(false));
    assert_eq!(parse(&api(&s, &carol, "GET", "/me", None).await)["my_contacts"]["shared"], json!(false));
    s.stop().await;
}
