//! The trash, contact history and label activity through the API: who may see and restore what.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::{Value, json};

/// Ann's label "Team" with one contact, shared with Bob at `level` (accepted); returns (label, contact id).
async fn team(s: &Server, ann: &str, bob: &str, level: Level) -> (String, i64) {
    let owner = s.record(ann).await;
    let label = s.app.service.create_label(&owner, None, "Team", "").await.unwrap().id;
    let c = parse(
        api(
            s,
            ann,
            "POST",
            &format!("/labels/{label}/contacts"),
            Some(json!({"full_name": "Bo Chen", "title": "CEO"})),
        )
        .await
        .assert(201),
    );
    let g = s.app.service.share(&owner, &label, &Grantee::User(bob.into()), level, true).await.unwrap();
    let bob_user = s.record(bob).await;
    s.app.service.respond(&bob_user, g.id, true).await.unwrap();
    (label, c["id"].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_collaborator_takes_off_the_owner_sees_in_the_trash_and_puts_back() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let (label, cid) = team(&s, &ann, &bob, Level::Delete).await;
    api(&s, &bob, "DELETE", &format!("/labels/{label}/contacts/{cid}"), None).await.assert(204);

    let t = parse(api(&s, &ann, "GET", "/trash", None).await.assert(200));
    let removal = &t["removals"][0];
    assert_eq!(removal["label_name"], "Team");
    assert_eq!(removal["full_name"], "Bo Chen");
    assert_eq!(removal["contact_id"], cid);
    assert!(removal["restorable_until"].as_str().unwrap() > removal["removed_at"].as_str().unwrap());
    let rid = removal["id"].as_i64().unwrap();
    // Restoring needs share level: Bob (delete) neither sees it in his trash nor may put it back.
    let bt = parse(api(&s, &bob, "GET", "/trash", None).await.assert(200));
    assert_eq!(bt["removals"].as_array().unwrap().len(), 0);
    api(&s, &bob, "POST", &format!("/labels/{label}/removals/{rid}/restore"), None).await.assert(403);
    let cy = s.user("cy@example.com").await;
    api(&s, &cy, "POST", &format!("/labels/{label}/removals/{rid}/restore"), None).await.assert(404);
    let page = parse(api(&s, &ann, "GET", &format!("/labels/{label}/contacts"), None).await.assert(200));
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "refusals changed nothing");

    api(&s, &ann, "POST", &format!("/labels/{label}/removals/{rid}/restore"), None).await.assert(204);
    let page = parse(api(&s, &bob, "GET", &format!("/labels/{label}/contacts"), None).await.assert(200));
    assert_eq!(page["items"][0]["full_name"], "Bo Chen");
    api(&s, &ann, "POST", &format!("/labels/{label}/removals/{rid}/restore"), None).await.assert(409);
    api(&s, &ann, "POST", "/labels/contacts/removals/1/restore", None).await.assert(404);
    api(&s, &ann, "GET", &format!("/labels/{label}/removals/{rid}/restore"), None).await.assert(405);

    // A deleted contact: in its owner's trash, restorable once, by its owner only.
    api(&s, &ann, "DELETE", &format!("/contacts/{cid}"), None).await.assert(204);
    let t = parse(api(&s, &ann, "GET", "/trash", None).await.assert(200));
    assert_eq!(t["contacts"][0]["id"], cid);
    api(&s, &bob, "POST", &format!("/trash/contacts/{cid}/restore"), None).await.assert(404);
    api(&s, &ann, "POST", &format!("/trash/contacts/{cid}/restore"), None).await.assert(204);
    api(&s, &ann, "POST", &format!("/trash/contacts/{cid}/restore"), None).await.assert(409);
    api(&s, &ann, "POST", "/trash/contacts/abc/restore", None).await.assert(404);
    api(&s, &ann, "GET", &format!("/labels/{label}/contacts/{cid}"), None).await.assert(200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_activity_say_who_changed_what() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let cy = s.user("cy@example.com").await;
    let (label, cid) = team(&s, &ann, &bob, Level::Delete).await;
    api(&s, &bob, "PATCH", &format!("/labels/{label}/contacts/{cid}"), Some(json!({"title": "CTO"}))).await.assert(200);

    for who in [&ann, &bob] {
        let h = parse(api(&s, who, "GET", &format!("/contacts/{cid}/history"), None).await.assert(200));
        let newest = &h["items"][0];
        assert_eq!(newest["action"], "edited", "{h}");
        assert_eq!(newest["actor"], bob.as_str());
        assert_eq!(newest["previous"]["title"], "CEO", "the version the edit replaced");
    }
    api(&s, &cy, "GET", &format!("/contacts/{cid}/history"), None).await.assert(404);
    api(&s, &ann, "GET", "/contacts/0/history", None).await.assert(404);

    api(&s, &bob, "DELETE", &format!("/labels/{label}/contacts/{cid}"), None).await.assert(204);
    let a = parse(api(&s, &bob, "GET", &format!("/labels/{label}/activity"), None).await.assert(200));
    let actions: Vec<(&str, &str)> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(actions[..2], [("removed", bob.as_str()), ("edited", bob.as_str())], "{a}");
    assert!(actions.contains(&("added", ann.as_str())), "{a}");
    assert_eq!(a["next_before"], Value::Null);
    // Pages: newest first, `before` continues.
    let p1 = parse(api(&s, &ann, "GET", &format!("/labels/{label}/activity?limit=1"), None).await.assert(200));
    assert_eq!(p1["items"][0]["action"], "removed");
    let before = p1["next_before"].as_i64().unwrap();
    let p2 = parse(
        api(&s, &ann, "GET", &format!("/labels/{label}/activity?limit=1&before={before}"), None).await.assert(200),
    );
    assert_eq!(p2["items"][0]["action"], "edited");
    api(&s, &cy, "GET", &format!("/labels/{label}/activity"), None).await.assert(404);
    api(&s, &ann, "GET", &format!("/labels/{label}/activity?limit=0"), None).await.assert(400);
    api(&s, &ann, "GET", &format!("/labels/{label}/activity?before=x"), None).await.assert(400);
    api(&s, &ann, "GET", &format!("/labels/{label}/activity?since=1"), None).await.assert(400);
    s.stop().await;
}
