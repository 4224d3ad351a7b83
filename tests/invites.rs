//! Invitations by link (issue 3 §2): single-use, replaced by a resend, answered by the invitee signed in, or by
//! choosing a password when the address has no account yet (in the server's domains).

mod common;

use common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::json;

/// Ann, with a label "Team", on a server whose domain is example.com.
async fn world() -> (Server, String, labelbook::store::User, String) {
    let s = Server::start().await;
    s.app.service.add_domain("example.com", true, false).await.unwrap();
    let ann = s.user("ann@example.com").await;
    let owner = s.app.store.user_by_email(&ann).await.unwrap().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_address_without_an_account_makes_the_account_on_acceptance() {
    let (s, ann, _, label) = world().await;
    let g = parse(share(&s, &ann, &label, "New.Person@Example.com", "edit").await.assert(201));
    assert_eq!((g["grantee"].as_str(), g["status"].as_str()), (Some("new.person@example.com"), Some("pending")));
    let secret = link(&s, &ann, g["id"].as_i64().unwrap()).await;

    // Whoever holds the link sees what it invites to; no credentials needed.
    let info = parse(s.request("GET", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(200));
    assert_eq!(info["label_name"], "Team");
    assert_eq!(info["invited_by"], ann.as_str());
    assert_eq!(info["account_exists"], false);
    assert_eq!(info["level"], "edit");
    s.request("GET", "/api/v1/invite-links/lbi_nonsense", None, &[], "").await.assert(404);

    let accept = format!("/api/v1/invite-links/{secret}/accept");
    let r = s.request("POST", &accept, None, &[JSON], "{}").await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "password");
    let r = s.request("POST", &accept, None, &[JSON], json!({"password": "short"}).to_string()).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "password");
    assert!(s.app.store.user_by_email("new.person@example.com").await.unwrap().is_none(), "refusals made nothing");

    let r = s.request("POST", &accept, None, &[JSON], json!({"password": "a-good-password"}).to_string()).await;
    let j = parse(r.assert(200));
    assert_eq!(j["account_created"], true);
    assert_eq!(j["label_id"], label.as_str());
    let cookie = r.header("set-cookie").expect("signed in").split(';').next().unwrap().to_string();
    let labels = parse(s.request("GET", "/api/v1/labels", None, &[("cookie", &cookie)], "").await.assert(200));
    assert_eq!(labels["items"][0]["name"], "Team", "the new account has the label at once");
    s.request("GET", "/api/v1/me", Some(("new.person@example.com", "a-good-password")), &[], "").await.assert(200);
    // Single use.
    s.request("POST", &accept, None, &[JSON], json!({"password": "another-password"}).to_string()).await.assert(409);
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
async fn links_are_made_by_managers_only_and_decline_works_without_an_account() {
    let (s, ann, owner, label) = world().await;
    let viewer = s.user("vi@example.com").await;
    let vi = s.app.store.user_by_email(&viewer).await.unwrap().unwrap();
    let g = s.app.service.share(&owner, &label, &Grantee::User(viewer.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&vi, g.id, true).await.unwrap();
    let pending = parse(share(&s, &ann, &label, "someone@example.com", "edit").await.assert(201));
    let pid = pending["id"].as_i64().unwrap();
    // A view-level collaborator cannot hand out invitations; a stranger does not see the grant.
    s.as_user(&viewer, "POST", &format!("/api/v1/grants/{pid}/link"), &[], "").await.assert(403);
    let stranger = s.user("zed@example.com").await;
    s.as_user(&stranger, "POST", &format!("/api/v1/grants/{pid}/link"), &[], "").await.assert(404);

    let secret = link(&s, &ann, pid).await;
    s.request("POST", &format!("/api/v1/invite-links/{secret}/decline"), None, &[], "").await.assert(204);
    let grants = parse(&s.as_user(&ann, "GET", &format!("/api/v1/labels/{label}/grants"), &[], "").await);
    let someone = grants["items"].as_array().unwrap().iter().find(|g| g["grantee"] == "someone@example.com").unwrap();
    assert_eq!(someone["status"], "declined");
    assert!(s.app.store.user_by_email("someone@example.com").await.unwrap().is_none(), "declining makes no account");
    s.request("POST", &format!("/api/v1/invite-links/{secret}/accept"), None, &[JSON], "{}").await.assert(409);

    // Addresses outside the server's domains, with no account, cannot be invited.
    let r = share(&s, &ann, &label, "x@elsewhere.net", "view").await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "grantee");
    s.request("GET", &format!("/api/v1/invite-links/{secret}?x=1"), None, &[], "").await.assert(400);
    s.request("PUT", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(405);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_invite_any_domain_an_outside_address_is_invited_and_gets_its_account() {
    let s = Server::start_with(|c| c.invite_any_domain = true).await;
    s.app.service.add_domain("example.com", true, false).await.unwrap();
    let ann = s.user("ann@example.com").await;
    let owner = s.app.store.user_by_email(&ann).await.unwrap().unwrap();
    let label = s.app.service.create_label(&owner, None, "Partners", "").await.unwrap().id;
    let g = parse(share(&s, &ann, &label, "pat@partner.org", "view").await.assert(201));
    let secret = link(&s, &ann, g["id"].as_i64().unwrap()).await;
    let accept = format!("/api/v1/invite-links/{secret}/accept");
    let r = s.request("POST", &accept, None, &[JSON], json!({"password": "pats-password"}).to_string()).await;
    assert_eq!(parse(r.assert(200))["account_created"], true);
    s.request("GET", &format!("/api/v1/labels/{label}"), Some(("pat@partner.org", "pats-password")), &[], "")
        .await
        .assert(200);
    // Accounts made by other means still live in the server's domains.
    let e = s.app.accounts.create_user("sam@partner.org", PASSWORD, false).await;
    assert!(e.is_err());
    s.stop().await;
}
