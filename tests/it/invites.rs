//! Invitations by link: single-use, replaced by a resend, answered by the invitee signed in. A copied
//! link never creates an account; a mailed one does (tests/mail.rs).

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::json;

/// Ann, with a label "Team", on a server whose domain is example.com.
async fn world() -> (Server, String, labelbook::store::User, String) {
    let s = Server::start().await;
    s.app.service.add_domain(&Admin::console(), "example.com", true, false).await.unwrap();
    let ann = s.user("ann@example.com").await;
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Team", "").await.unwrap().id;
    (s, ann, owner, label)
}

async fn share(s: &Server, ann: &str, label: &str, who: &str, level: &str) -> Resp {
    let body = json!({"grantee": who, "level": level}).to_string();
    s.as_user(ann, "POST", &format!("/api/v1/labels/{label}/grants"), &[JSON], body).await
}

async fn link(s: &Server, who: &str, grant: i64) -> String {
    let r = s.as_user(who, "POST", &format!("/api/v1/grants/{grant}/link"), &[], "").await;
    let j = parse(r.assert(201));
    assert_eq!(j["path"].as_str().unwrap(), format!("/#/invite/{}", j["secret"].as_str().unwrap()));
    j["secret"].as_str().unwrap().to_string()
}

/// A copied link passes through the inviter's hands: it cannot prove that whoever opens it owns the address, so
/// it never creates an account (anyone could otherwise take an unregistered address of the server's domains). It
/// works once the account exists. (A mailed link creates the account: tests/mail.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_link_never_creates_an_account_and_works_once_an_administrator_made_it() {
    let (s, ann, _, label) = world().await;
    let g = parse(share(&s, &ann, &label, "New.Person@Example.com", "edit").await.assert(201));
    assert_eq!((g["grantee"].as_str(), g["status"].as_str()), (Some("new.person@example.com"), Some("pending")));
    let gid = g["id"].as_i64().unwrap();
    let secret = link(&s, &ann, gid).await;

    // Whoever holds the link sees what it invites to; no credentials needed.
    let info = parse(s.request("GET", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(200));
    assert_eq!(info["label_name"], "Team");
    assert_eq!(info["invited_by"], ann.as_str());
    assert_eq!((info["account_exists"].as_bool(), info["can_create_account"].as_bool()), (Some(false), Some(false)));
    assert_eq!(info["level"], "edit");
    s.request("GET", "/api/v1/invite-links/lbi_nonsense", None, &[], "").await.assert(404);

    let accept = format!("/api/v1/invite-links/{secret}/accept");
    let r = s.request("POST", &accept, None, &[JSON], json!({"password": "a-good-password"}).to_string()).await;
    r.assert(403).contains("no account for new.person@example.com").contains("administrator");
    s.request("POST", &format!("/api/v1/invite-links/{secret}/decline"), None, &[], "").await.assert(403);
    assert!(s.app.store.user_by_email("new.person@example.com").await.unwrap().is_none(), "no account was made");
    let grants = parse(s.as_user(&ann, "GET", &format!("/api/v1/labels/{label}/grants"), &[], "").await.assert(200));
    assert_eq!(grants["items"][0]["status"], "pending", "refusals changed nothing");

    // Once an administrator has made the account, the same link is answered signed in.
    s.app.accounts.create_user("new.person@example.com", "a-good-password", false).await.unwrap();
    let info = parse(s.request("GET", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(200));
    assert_eq!(info["account_exists"], true);
    s.request("POST", &accept, None, &[JSON], json!({"password": "another-password"}).to_string()).await.assert(403);
    let r = s.request("POST", &accept, Some(("new.person@example.com", "a-good-password")), &[JSON], "{}").await;
    let j = parse(r.assert(200));
    assert_eq!((j["account_created"].as_bool(), j["label_id"].as_str()), (Some(false), Some(label.as_str())));
    // Single use.
    s.request("GET", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(409);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_account_answers_its_link_signed_in_and_a_resend_replaces_the_link() {
    let (s, ann, _, label) = world().await;
    let bob = s.user("bob@example.com").await;
    let cy = s.user("cy@example.com").await;
    let g = parse(share(&s, &ann, &label, &bob, "view").await.assert(201));
    let gid = g["id"].as_i64().unwrap();
    let first = link(&s, &ann, gid).await;
    let second = link(&s, &ann, gid).await;
    s.request("GET", &format!("/api/v1/invite-links/{first}"), None, &[], "").await.assert(404);
    let info = parse(s.request("GET", &format!("/api/v1/invite-links/{second}"), None, &[], "").await.assert(200));
    assert_eq!(info["account_exists"], true);

    let accept = format!("/api/v1/invite-links/{second}/accept");
    s.request("POST", &accept, None, &[], "").await.assert(403).contains("sign in as bob@example.com");
    s.as_user(&cy, "POST", &accept, &[], "").await.assert(403);
    let r = s.as_user(&bob, "POST", &accept, &[], "").await;
    assert_eq!(parse(r.assert(200))["account_created"], false);
    assert_eq!(r.header("set-cookie"), None);
    let l = parse(s.as_user(&bob, "GET", &format!("/api/v1/labels/{label}"), &[], "").await.assert(200));
    assert_eq!(l["level"], "view");
    // An accepted invitation needs no link.
    s.as_user(&ann, "POST", &format!("/api/v1/grants/{gid}/link"), &[], "").await.assert(409);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_made_by_managers_only_and_answered_by_the_invitee() {
    let (s, ann, owner, label) = world().await;
    let viewer = s.user("vi@example.com").await;
    let vi = s.record(&viewer).await;
    let g = s.app.service.share(&owner, &label, &Grantee::User(viewer.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&vi, g.id, true).await.unwrap();
    let someone = s.user("someone@example.com").await;
    let pending = parse(share(&s, &ann, &label, &someone, "edit").await.assert(201));
    let pid = pending["id"].as_i64().unwrap();
    // A view-level collaborator cannot hand out invitations; a stranger does not see the grant.
    s.as_user(&viewer, "POST", &format!("/api/v1/grants/{pid}/link"), &[], "").await.assert(403);
    let stranger = s.user("zed@example.com").await;
    s.as_user(&stranger, "POST", &format!("/api/v1/grants/{pid}/link"), &[], "").await.assert(404);

    let secret = link(&s, &ann, pid).await;
    s.request("POST", &format!("/api/v1/invite-links/{secret}/decline"), None, &[], "").await.assert(403);
    s.as_user(&someone, "POST", &format!("/api/v1/invite-links/{secret}/decline"), &[], "").await.assert(204);
    let grants = parse(&s.as_user(&ann, "GET", &format!("/api/v1/labels/{label}/grants"), &[], "").await);
    let declined = grants["items"].as_array().unwrap().iter().find(|g| g["grantee"] == someone.as_str()).unwrap();
    assert_eq!(declined["status"], "declined");
    s.as_user(&someone, "POST", &format!("/api/v1/invite-links/{secret}/accept"), &[JSON], "{}").await.assert(409);

    // Addresses outside the server's domains, with no account, cannot be invited.
    let r = share(&s, &ann, &label, "x@elsewhere.net", "view").await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "grantee");
    s.request("GET", &format!("/api/v1/invite-links/{secret}?x=1"), None, &[], "").await.assert(400);
    s.request("PUT", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(405);
    s.stop().await;
}
