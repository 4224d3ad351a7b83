//! Label transfer and contact photos through the API.

mod common;

use common::*;
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
    let owner = s.app.store.user_by_email(&ann).await.unwrap().unwrap();
    let bob_user = s.app.store.user_by_email(&bob).await.unwrap().unwrap();
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
