//! The admin API (accounts, groups, domains) and the directory search, through real HTTP: administrators do
//! it as people, everyone else is refused and changes nothing.

use crate::common::*;
use serde_json::{Value, json};

async fn call(s: &Server, who: (&str, &str), method: &str, path: &str, body: Option<Value>) -> Resp {
    let path = format!("/api/v1{path}");
    match body {
        Some(b) => s.request(method, &path, Some(who), &[JSON], b.to_string()).await,
        None => s.request(method, &path, Some(who), &[], "").await,
    }
}

async fn admin(s: &Server) -> String {
    s.app.accounts.create_user("root@example.com", PASSWORD, true).await.unwrap();
    "root@example.com".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_accounts_and_nobody_else_can() {
    let s = Server::start().await;
    let root = admin(&s).await;
    let me = (root.as_str(), PASSWORD);
    let r = call(&s, me, "POST", "/admin/users", Some(json!({"email": "Bob@Example.com"}))).await;
    let made = parse(r.assert(201));
    assert_eq!(made["user"]["email"], "bob@example.com");
    let bob_pw = made["password"].as_str().unwrap().to_string();
    s.request("GET", "/api/v1/me", Some(("bob@example.com", &bob_pw)), &[], "").await.assert(200);

    for (body, status, field) in [
        (json!({"email": "bob@example.com"}), 409, None),
        (json!({"email": "not-an-address"}), 422, Some("email")),
        (json!({"email": "cy@example.com", "password": "short"}), 422, Some("password")),
        (json!({"email": "cy@example.com", "role": "admin"}), 400, None),
    ] {
        let r = call(&s, me, "POST", "/admin/users", Some(body.clone())).await;
        r.assert(status);
        if let Some(f) = field {
            assert_eq!(parse(&r)["errors"][0]["field"], f, "{body}");
        }
    }
    let r = call(&s, me, "POST", "/admin/users", Some(json!({"email": "cy@example.com", "password": PASSWORD}))).await;
    assert_eq!(parse(r.assert(201))["password"], Value::Null, "a chosen password is not echoed");

    // Not an administrator, or an administrator's device or script: refused, and nothing changes.
    let bob = ("bob@example.com", bob_pw.as_str());
    let root_user = s.record(&root).await;
    let (_, device) = s.app.accounts.add_app_password(&root_user, "phone", "books").await.unwrap();
    let (_, token) = s
        .app
        .accounts
        .create_token(&root_user, labelbook::service::access::Credential::Password, "ci", "write", None)
        .await
        .unwrap();
    let bearer = format!("Bearer {token}");
    for (method, path, body) in [
        ("GET", "/admin/users", None),
        ("POST", "/admin/users", Some(json!({"email": "eve@example.com"}))),
        ("PATCH", "/admin/users/cy@example.com", Some(json!({"disabled": true}))),
        ("DELETE", "/admin/users/cy@example.com", None),
        ("POST", "/admin/groups", Some(json!({"name": "Sales"}))),
        ("POST", "/admin/domains", Some(json!({"name": "example.com"}))),
    ] {
        for who in [bob, (root.as_str(), device.as_str())] {
            call(&s, who, method, path, body.clone()).await.assert(403);
        }
        let mut h = vec![("authorization", bearer.as_str())];
        if body.is_some() {
            h.push(JSON);
        }
        let b = body.map(|b| b.to_string()).unwrap_or_default();
        s.request(method, &format!("/api/v1{path}"), None, &h, b).await.assert(403);
    }
    let users = parse(call(&s, me, "GET", "/admin/users", None).await.assert(200));
    let emails: Vec<&str> = users["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["bob@example.com", "cy@example.com", "root@example.com"]);
    assert!(!users["items"][1]["disabled"].as_bool().unwrap());

    // Disable, reset a password, delete.
    call(&s, me, "PATCH", "/admin/users/bob@example.com", Some(json!({"disabled": true}))).await.assert(200);
    s.request("GET", "/api/v1/me", Some(bob), &[], "").await.assert(401);
    let r =
        call(&s, me, "PATCH", "/admin/users/bob@example.com", Some(json!({"disabled": false, "reset_password": true})))
            .await;
    let new_pw = parse(r.assert(200))["password"].as_str().unwrap().to_string();
    s.request("GET", "/api/v1/me", Some(bob), &[], "").await.assert(401);
    s.request("GET", "/api/v1/me", Some(("bob@example.com", &new_pw)), &[], "").await.assert(200);
    let r = call(&s, me, "PATCH", &format!("/admin/users/{root}"), Some(json!({"disabled": true}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "disabled");
    let r = call(&s, me, "PATCH", &format!("/admin/users/{root}"), Some(json!({"reset_password": true}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "reset_password");
    call(&s, me, "DELETE", &format!("/admin/users/{root}"), None).await.assert(409);
    call(&s, me, "GET", "/admin/users/nobody@example.com", None).await.assert(404);

    let bob_user = s.record("bob@example.com").await;
    let label = s.app.service.create_label(&bob_user, None, "Bob's", "").await.unwrap().id;
    call(&s, me, "DELETE", "/admin/users/bob@example.com", None).await.assert(409).contains("Bob's");
    s.app.service.delete_label(&bob_user, &label).await.unwrap();
    call(&s, me, "DELETE", "/admin/users/bob@example.com", None).await.assert(204);
    call(&s, me, "GET", "/admin/users/bob@example.com", None).await.assert(404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_domains_and_the_directory() {
    let s = Server::start().await;
    let root = admin(&s).await;
    let me = (root.as_str(), PASSWORD);
    s.user("bob@example.com").await;
    let g = parse(call(&s, me, "POST", "/admin/groups", Some(json!({"name": "Sales"}))).await.assert(201));
    assert_eq!(g["members"], json!([]));
    call(&s, me, "POST", "/admin/groups", Some(json!({"name": "Sales"}))).await.assert(409);
    call(&s, me, "PUT", "/admin/groups/Sales/members/bob@example.com", None).await.assert(204);
    call(&s, me, "PUT", "/admin/groups/Sales/members/nobody@example.com", None).await.assert(422);
    call(&s, me, "PUT", "/admin/groups/Nope/members/bob@example.com", None).await.assert(404);
    let all = parse(call(&s, me, "GET", "/admin/groups", None).await.assert(200));
    assert_eq!(all["items"][0]["members"], json!(["bob@example.com"]));

    // Completing whom to share with: people and groups, for anyone signed in, never everyone at once.
    let d = parse(call(&s, ("bob@example.com", PASSWORD), "GET", "/directory?q=ro", None).await.assert(200));
    assert_eq!(d["users"][0]["email"], root.as_str());
    let d = parse(call(&s, ("bob@example.com", PASSWORD), "GET", "/directory?q=sal", None).await.assert(200));
    assert_eq!(d["groups"], json!(["Sales"]));
    call(&s, me, "GET", "/directory?q=r", None).await.assert(400);
    call(&s, me, "GET", "/directory", None).await.assert(400);

    call(&s, me, "DELETE", "/admin/groups/Sales/members/bob@example.com", None).await.assert(204);
    call(&s, me, "DELETE", "/admin/groups/Sales", None).await.assert(204);
    call(&s, me, "DELETE", "/admin/groups/Sales", None).await.assert(404);

    // Domains: once one is listed, accounts live in the server's domains.
    let d = parse(
        call(&s, me, "POST", "/admin/domains", Some(json!({"name": "Example.com", "primary": true}))).await.assert(201),
    );
    assert_eq!(d["name"], "example.com");
    assert_eq!(d["primary"], true);
    call(&s, me, "POST", "/admin/domains", Some(json!({"name": "not a domain"}))).await.assert(422);
    call(&s, me, "POST", "/admin/domains", Some(json!({}))).await.assert(422);
    let r = call(&s, me, "POST", "/admin/users", Some(json!({"email": "gus@elsewhere.net"}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "email");
    call(&s, me, "POST", "/admin/domains", Some(json!({"name": "example.org"}))).await.assert(201);
    let d = parse(
        call(&s, me, "PATCH", "/admin/domains/example.org", Some(json!({"auto_accept": true}))).await.assert(200),
    );
    assert_eq!(d["auto_accept"], true);
    assert_eq!(d["primary"], false);
    call(&s, me, "PATCH", "/admin/domains/example.org", Some(json!({"primary": false}))).await.assert(422);
    call(&s, me, "DELETE", "/admin/domains/example.com", None).await.assert(409);
    call(&s, me, "DELETE", "/admin/domains/example.org", None).await.assert(204);
    let all = parse(call(&s, me, "GET", "/admin/domains", None).await.assert(200));
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    s.stop().await;
}

/// A password reset is for a compromised account: the sessions, app passwords and API tokens made with the old
/// password end with it (on DAV and the API alike), unless the administrator keeps the devices (a forgotten
/// password); sessions always end. The CLI's `user passwd` means the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_ends_sessions_app_passwords_and_tokens_unless_the_devices_are_kept() {
    let s = Server::start().await;
    let root = admin(&s).await;
    let me = (root.as_str(), PASSWORD);
    let bob = s.user("bob@example.com").await;
    let (device, token, cookie) = mint(&s, &bob).await;
    assert_eq!(works(&s, &bob, &device, &token, &cookie).await, (207, 200, 200));
    let r = call(&s, me, "PATCH", "/admin/users/bob@example.com", Some(json!({"reset_password": true}))).await;
    let new_pw = parse(r.assert(200))["password"].as_str().unwrap().to_string();
    assert_eq!(
        works(&s, &bob, &device, &token, &cookie).await,
        (401, 401, 401),
        "everything made with the old password ended"
    );
    let listed = parse(s.request("GET", "/api/v1/app-passwords", Some((&bob, &new_pw)), &[], "").await.assert(200));
    assert_eq!(listed["items"], json!([]));

    // Keeping the devices: the app password and the token go on working; the session still ends.
    s.app.accounts.set_password(&s.app.user(&bob).await.unwrap(), PASSWORD, true).await.unwrap();
    let (device, token, cookie) = mint(&s, &bob).await;
    let keep = json!({"reset_password": true, "keep_devices": true});
    call(&s, me, "PATCH", "/admin/users/bob@example.com", Some(keep)).await.assert(200);
    assert_eq!(works(&s, &bob, &device, &token, &cookie).await, (207, 200, 401));
    let r = call(&s, me, "PATCH", "/admin/users/bob@example.com", Some(json!({"keep_devices": true}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "keep_devices");
    s.stop().await;
}

/// An app password, a read token and a dashboard session for `bob`, made with his current password.
async fn mint(s: &Server, bob: &str) -> (String, String, String) {
    let r = s.as_user(bob, "POST", "/api/v1/app-passwords", &[JSON], json!({"name": "phone"}).to_string()).await;
    let device = parse(r.assert(201))["password"].as_str().unwrap().to_string();
    let body = json!({"name": "script", "scope": "read"}).to_string();
    let r = s.as_user(bob, "POST", "/api/v1/tokens", &[JSON], body).await;
    let token = parse(r.assert(201))["secret"].as_str().unwrap().to_string();
    let body = json!({"email": bob, "password": PASSWORD}).to_string();
    let r = s.request("POST", "/api/v1/session", None, &[JSON, ("sec-fetch-mode", "cors")], body).await;
    let cookie = r.assert(201).header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    (device, token, cookie)
}

/// What the app password (over CardDAV), the token and the session are answered.
async fn works(s: &Server, bob: &str, device: &str, token: &str, cookie: &str) -> (u16, u16, u16) {
    let dav = s.request("PROPFIND", &contacts(bob), Some((bob, device)), &[("depth", "0")], "").await;
    let bearer = format!("Bearer {token}");
    let api = s.request("GET", "/api/v1/me", None, &[("authorization", &bearer)], "").await;
    let session = s.request("GET", "/api/v1/me", None, &[("cookie", cookie)], "").await;
    (dav.status.as_u16(), api.status.as_u16(), session.status.as_u16())
}

/// Looking for people to share with finds one's own domain and the people a label is shared between (either
/// way), never the whole server, and the same on the API and over CardDAV (RFC 3744 §9.4); administrators, and
/// everyone with directory_everyone, find every account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_shows_ones_domain_and_ones_collaborators_only() {
    for everyone in [false, true] {
        let s = Server::start_with(|c| c.directory_everyone = everyone).await;
        let root = admin(&s).await;
        let bob = s.user("bob@example.com").await;
        s.user("bea@example.com").await;
        let cy = s.user("cy@other.org").await;
        let finds = |who: &str, q: &str| {
            let (s, who, q) = (&s, who.to_string(), q.to_string());
            async move {
                let d = parse(call(s, (&who, PASSWORD), "GET", &format!("/directory?q={q}"), None).await.assert(200));
                let api: Vec<String> =
                    d["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect();
                let body = format!(
                    r#"<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop><d:displayname/></d:prop><d:match>{q}</d:match></d:property-search><d:prop><d:displayname/></d:prop></d:principal-property-search>"#
                );
                let dav = s.report0(&who, "/dav/principals/", &body).await;
                assert_eq!(dav.assert(207).body.matches("<d:response>").count(), api.len(), "DAV and API agree");
                api
            }
        };
        assert_eq!(finds(&bob, "be").await, ["bea@example.com"], "one's own domain");
        assert_eq!(finds(&bob, "cy").await.len(), usize::from(everyone), "another domain, nothing shared");
        assert_eq!(finds(&root, "cy").await, [cy.as_str()], "an administrator finds everyone");
        // Cy shares a label with Bob: each now finds the other.
        let cy_user = s.record(&cy).await;
        let label = s.app.service.create_label(&cy_user, None, "Joint", "").await.unwrap().id;
        let grantee = labelbook::service::Grantee::parse(&bob);
        s.app.service.share(&cy_user, &label, &grantee, labelbook::service::access::Level::View, true).await.unwrap();
        assert_eq!(finds(&bob, "cy").await, [cy.as_str()]);
        assert_eq!(finds(&cy, "bob").await, [bob.as_str()]);
        assert_eq!(finds(&cy, "bea").await.len(), usize::from(everyone), "not Bob's colleagues");
        s.stop().await;
    }
}
