//! `/api/v1/events` (server-sent events, HTML Living Standard §9.2): every change a user may see reaches their
//! open stream, nothing of anybody else's does, and a reconnect with Last-Event-ID resumes without a gap.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

/// The id of the last event or id line read so far.
fn last_id(text: &str) -> String {
    text.lines().filter_map(|l| l.strip_prefix("id: ")).next_back().expect("an id line").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_hears_what_its_user_may_see_and_nothing_else() {
    let s = Server::start().await;
    let ann_email = s.user("ann@example.com").await;
    let bob_email = s.user("bob@example.com").await;
    let cy_email = s.user("cy@example.com").await;
    let ann = s.record(&ann_email).await;
    let bob = s.record(&bob_email).await;

    let mut bob_sees = s.open_stream("/api/v1/events", Some(&bob_email), &[]).await;
    assert_eq!(bob_sees.status.as_u16(), 200);
    assert_eq!(bob_sees.headers.get("content-type").unwrap(), "text/event-stream");
    // §9.2.6: the stream opens with a reconnection time and an id (so a reconnect can resume from here).
    assert!(bob_sees.wait_for(0, "retry: 2000\nid: ", SOON).await, "{}", bob_sees.text);
    let mut cy_sees = s.open_stream("/api/v1/events", Some(&cy_email), &[]).await;
    assert!(cy_sees.wait_for(0, "id: ", SOON).await);
    let cy_start = cy_sees.text.len();

    // Ann makes a label and shares it with Bob: he hears of the invitation, Cy of nothing.
    let label = s.app.service.create_label(&ann, None, "Clients", "").await.unwrap().id;
    let mut at = bob_sees.text.len();
    let g = s.app.service.share(&ann, &label, &Grantee::User(bob_email.clone()), Level::Edit, true).await.unwrap();
    assert!(bob_sees.wait_for(at, "event: invitations\ndata: {\"count\":1}", SOON).await, "{}", bob_sees.text);
    // Before he accepts, the label's contacts are not his to hear about.
    at = bob_sees.text.len();
    s.put_card(&ann_email, &format!("/dav/addressbooks/{ann_email}/{label}/a.vcf"), &vcard3("a", "Al"))
        .await
        .assert(201);
    assert!(!bob_sees.wait_for(at, "event: contacts", QUIET).await, "{}", bob_sees.text);

    s.app.service.respond(&bob, g.id, true).await.unwrap();
    assert!(bob_sees.wait_for(at, "event: labels", SOON).await, "{}", bob_sees.text);
    // A change over CardDAV reaches him at once, naming the label.
    at = bob_sees.text.len();
    s.put_card(&ann_email, &format!("/dav/addressbooks/{ann_email}/{label}/b.vcf"), &vcard3("b", "Bo"))
        .await
        .assert(201);
    let want = format!("event: contacts\ndata: {{\"labels\":[\"{label}\"],\"my_contacts\":false}}");
    assert!(bob_sees.wait_for(at, &want, SOON).await, "{}", bob_sees.text);
    // His own My contacts too.
    at = bob_sees.text.len();
    s.put_card(&bob_email, &format!("{}mine.vcf", contacts(&bob_email)), &vcard3("mine", "Mine")).await.assert(201);
    assert!(bob_sees.wait_for(at, "\"my_contacts\":true", SOON).await, "{}", bob_sees.text);

    assert!(!cy_sees.wait_for(cy_start, "event:", QUIET).await, "Cy heard of others' changes: {}", cy_sees.text);

    // Revoked, Bob hears that his labels changed and nothing of the label's contacts after that.
    s.app.service.revoke(&ann, g.id).await.unwrap();
    at = bob_sees.text.len();
    assert!(bob_sees.wait_for(at, "event: labels", SOON).await);
    at = bob_sees.text.len();
    s.put_card(&ann_email, &format!("/dav/addressbooks/{ann_email}/{label}/c.vcf"), &vcard3("c", "Cy"))
        .await
        .assert(201);
    assert!(!bob_sees.wait_for(at, "event: contacts", QUIET).await, "{}", bob_sees.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_last_event_id_gets_what_it_missed_or_a_resync() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let mut first = s.open_stream("/api/v1/events", Some(&ann), &[]).await;
    assert!(first.wait_for(0, "id: ", SOON).await);
    s.put_card(&ann, &format!("{}one.vcf", contacts(&ann)), &vcard3("one", "One")).await.assert(201);
    assert!(first.wait_for(0, "event: contacts", SOON).await);
    let id = last_id(&first.text);
    drop(first);

    // Changes while the page is away...
    s.put_card(&ann, &format!("{}two.vcf", contacts(&ann)), &vcard3("two", "Two")).await.assert(201);
    s.app.service.create_label(&s.record(&ann).await, None, "L", "").await.unwrap();
    // ...are sent first on reconnect (§9.2.4: the browser sends Last-Event-ID), each once, then live ones.
    let mut again = s.open_stream("/api/v1/events", Some(&ann), &[("last-event-id", &id)]).await;
    assert!(again.wait_for(0, "event: labels", SOON).await, "{}", again.text);
    assert_eq!(again.text.matches("event: contacts").count(), 1, "{}", again.text);
    assert!(!again.text.contains("resync"));

    // An id from another server (or before a restart) cannot be resumed: the client is told to re-read.
    let mut lost = s.open_stream("/api/v1/events", Some(&ann), &[("last-event-id", "elsewhere.5")]).await;
    assert!(lost.wait_for(0, "event: resync", SOON).await, "{}", lost.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_need_credentials_and_read_tokens_suffice() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let r = s.request("GET", "/api/v1/events", None, &[("sec-fetch-mode", "cors")], "").await;
    r.assert(401);
    let r = s
        .as_user(
            &ann,
            "POST",
            "/api/v1/tokens",
            &[("content-type", "application/json")],
            r#"{"name":"wall","scope":"read"}"#,
        )
        .await;
    let secret = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["secret"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {secret}");
    let mut wall = s.open_stream("/api/v1/events", None, &[("authorization", &bearer)]).await;
    assert_eq!(wall.status.as_u16(), 200);
    s.put_card(&ann, &format!("{}one.vcf", contacts(&ann)), &vcard3("one", "One")).await.assert(201);
    assert!(wall.wait_for(0, "event: contacts", SOON).await);
    s.request("POST", "/api/v1/events", None, &[("authorization", &bearer)], "").await.assert(403);
    s.as_user(&ann, "POST", "/api/v1/events", &[], "").await.assert(405);
    s.as_user(&ann, "GET", "/api/v1/events?x=1", &[], "").await.assert(400);

    // A new password ends the stream: the browser reconnects and must authenticate again.
    let mut mine = s.open_stream("/api/v1/events", Some(&ann), &[]).await;
    assert!(mine.wait_for(0, "id: ", SOON).await);
    let user = s.record(&ann).await;
    s.app.accounts.set_password(&user, "another-password-1", false).await.unwrap();
    assert!(mine.wait_for(0, "event: account", SOON).await, "{}", mine.text);
    assert!(mine.ends_within(SOON).await, "the stream ended");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_holds_a_bounded_number_of_streams() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let max = labelbook::api::MAX_STREAMS_PER_USER;
    let mut open = Vec::new();
    for _ in 0..max {
        let st = s.open_stream("/api/v1/events", Some(&ann), &[]).await;
        assert_eq!(st.status.as_u16(), 200);
        open.push(st);
    }
    let r = s.as_user(&ann, "GET", "/api/v1/events", &[], "").await;
    r.assert(429);
    assert!(r.header("retry-after").is_some());
    // Another account is not held back by Ann's.
    let bob = s.user("bob@example.com").await;
    assert_eq!(s.open_stream("/api/v1/events", Some(&bob), &[]).await.status.as_u16(), 200);
    drop(open);
    s.stop().await;
}
