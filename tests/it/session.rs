//! Dashboard sessions (cookie + CSRF header), API tokens (Bearer, scoped), app passwords through the API, adding
//! existing contacts to a label, and the dashboard's own files: through real HTTP.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::{Value, json};

/// What Chromium sends with a page's fetch().
const FETCH: (&str, &str) = ("sec-fetch-mode", "cors");

/// Signs in; returns the cookie pair to send back and the CSRF token.
async fn login(s: &Server, email: &str, password: &str) -> (String, String) {
    let body = json!({"email": email, "password": password}).to_string();
    let r = s.request("POST", "/api/v1/session", None, &[JSON, FETCH], body).await;
    r.assert(201);
    let set = r.header("set-cookie").expect("a session cookie").to_string();
    let pair = set.split(';').next().unwrap().to_string();
    (pair, parse(&r)["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_signs_in_and_unsafe_requests_need_the_csrf_token() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let body = json!({"email": "Ann@Example.com", "password": PASSWORD}).to_string();
    let r = s.request("POST", "/api/v1/session", None, &[JSON, FETCH], body).await;
    r.assert(201);
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with("labelbook_session=lbs_"), "{set}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure attribute ({set})");
    // Beside it, a marker the page can read (no secret in it), so a signed-out page load asks nothing that fails.
    let cookies: Vec<&str> = r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    let marker = cookies.iter().find(|c| c.starts_with("lb_signed_in=")).expect("the signed-in marker");
    assert!(marker.starts_with("lb_signed_in=1;") && !marker.contains("HttpOnly"), "{marker}");
    let j = parse(&r);
    assert_eq!(j["user"]["email"], ann);
    assert_eq!(j["credential"], "session");
    let csrf = j["csrf_token"].as_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();

    // Reads need only the cookie.
    let r = s.request("GET", "/api/v1/me", None, &[("cookie", &cookie), FETCH], "").await;
    r.assert(200);
    assert_eq!(parse(&r)["email"], ann);
    let r = s.request("GET", "/api/v1/session", None, &[("cookie", &cookie)], "").await;
    assert_eq!(parse(r.assert(200))["csrf_token"], csrf.as_str(), "a reloaded page gets its CSRF token back");

    // An unsafe request with the cookie alone (what a forged cross-site request carries) is refused and
    // changes nothing; with the token it goes through.
    let label = json!({"name": "Clients"}).to_string();
    for bad in ["", "wrong"] {
        let mut h = vec![("cookie", cookie.as_str()), JSON, FETCH];
        if !bad.is_empty() {
            h.push(("x-csrf-token", bad));
        }
        s.request("POST", "/api/v1/labels", None, &h, label.clone()).await.assert(403).contains("CSRF");
    }
    let r = s.request("GET", "/api/v1/labels", None, &[("cookie", &cookie)], "").await;
    assert_eq!(parse(&r)["items"].as_array().unwrap().len(), 0, "the refused requests made no label");
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str()), JSON, FETCH];
    s.request("POST", "/api/v1/labels", None, &h, label).await.assert(201);

    // Signing out ends the session on the server, not just in this browser.
    let r = s.request("DELETE", "/api/v1/session", None, &h[..2], "").await;
    r.assert(204);
    let cleared: Vec<&str> = r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
    let r = s.request("GET", "/api/v1/me", None, &[("cookie", &cookie), FETCH], "").await;
    r.assert(401).contains("session");
    assert_eq!(r.header("www-authenticate"), None, "no Basic challenge for a page: no browser password dialog");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_get_no_basic_challenge_and_scripts_do() {
    let s = Server::start().await;
    let r = s.request("GET", "/api/v1/me", None, &[FETCH], "").await;
    r.assert(401);
    assert_eq!(r.header("www-authenticate"), None);
    // RFC 7617 §2: a client without credentials is told how to authenticate.
    let r = s.request("GET", "/api/v1/me", None, &[], "").await;
    r.assert(401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let r = s.request("GET", "/api/v1/me", Some(("nobody@example.com", "x")), &[FETCH], "").await;
    r.assert(401);
    assert_eq!(r.header("www-authenticate"), None);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_share_the_basic_limiter_and_name_the_field() {
    let s = Server::start_with(|c| c.login_max_failures = 3).await;
    let ann = s.user("ann@example.com").await;
    let bad = json!({"email": ann, "password": "wrong"}).to_string();
    for _ in 0..3 {
        let r = s.request("POST", "/api/v1/session", None, &[JSON, FETCH], bad.clone()).await;
        r.assert(401);
        assert_eq!(r.header("set-cookie"), None);
        assert_eq!(parse(&r)["errors"][0]["field"], "password");
    }
    let good = json!({"email": ann, "password": PASSWORD}).to_string();
    let r = s.request("POST", "/api/v1/session", None, &[JSON, FETCH], good).await;
    r.assert(429);
    assert!(r.header("retry-after").is_some());
    // The same limit holds for Basic: guessing through the login form does not reset it.
    s.as_user(&ann, "GET", "/api/v1/me", &[], "").await.assert(429);

    // Bad input is refused with the field at fault.
    let r =
        s.request("POST", "/api/v1/session", None, &[JSON], json!({"email": "", "password": "x"}).to_string()).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "email");
    s.request("POST", "/api/v1/session", None, &[JSON], "{").await.assert(400);
    s.request("POST", "/api/v1/session", None, &[], "email=a").await.assert(415);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_with_a_new_password_a_disabled_account_or_idleness() {
    let s = Server::start_with(|c| c.session_idle_secs = 3600).await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let (cookie, _) = login(&s, &ann, PASSWORD).await;
    s.request("GET", "/api/v1/me", None, &[("cookie", &cookie)], "").await.assert(200);
    s.app.accounts.set_password(&user, "a-new-password-1", false).await.unwrap();
    s.request("GET", "/api/v1/me", None, &[("cookie", &cookie)], "").await.assert(401);

    let (cookie, _) = login(&s, &ann, "a-new-password-1").await;
    let user = s.record(&ann).await;
    s.app.accounts.set_disabled(&user, true).await.unwrap();
    s.request("GET", "/api/v1/me", None, &[("cookie", &cookie)], "").await.assert(401);
    s.app.accounts.set_disabled(&user, false).await.unwrap();

    let (cookie, _) = login(&s, &ann, "a-new-password-1").await;
    s.request("GET", "/api/v1/me", None, &[("cookie", &cookie)], "").await.assert(200);
    // An hour without a request ends the session.
    s.app.store.clock.advance(std::time::Duration::from_secs(3601));
    s.request("GET", "/api/v1/me", None, &[("cookie", &cookie)], "").await.assert(401).contains("sign in again");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_scoped_revocable_and_cannot_mint_credentials() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let new = |scope: &str| json!({"name": format!("{scope} script"), "scope": scope}).to_string();
    let r = s.as_user(&ann, "POST", "/api/v1/tokens", &[JSON], new("read")).await;
    let read = parse(r.assert(201));
    let read_secret = read["secret"].as_str().unwrap().to_string();
    assert!(read_secret.starts_with("lbt_"));
    let r = s.as_user(&ann, "POST", "/api/v1/tokens", &[JSON], new("write")).await;
    let write = parse(r.assert(201));
    let write_secret = write["secret"].as_str().unwrap().to_string();
    let bearer = |t: &str| format!("Bearer {t}");

    // RFC 6750 §2.1: the token in the Authorization header.
    let r = s.request("GET", "/api/v1/me", None, &[("authorization", &bearer(&read_secret))], "").await;
    assert_eq!(parse(r.assert(200))["email"], ann);
    let label = json!({"name": "By script"}).to_string();
    let h = [("authorization", bearer(&read_secret)), ("content-type", "application/json".into())];
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.request("POST", "/api/v1/labels", None, &h, label.clone()).await.assert(403).contains("read-only");
    let h = [("authorization", bearer(&write_secret)), ("content-type", "application/json".into())];
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.request("POST", "/api/v1/labels", None, &h, label).await.assert(201);

    // A token (or a device's app password) cannot create or revoke credentials.
    s.request("POST", "/api/v1/tokens", None, &h, new("write")).await.assert(403);
    let body = json!({"name": "phone"}).to_string();
    s.request("POST", "/api/v1/app-passwords", None, &h, body.clone()).await.assert(403);
    let user = s.record(&ann).await;
    let (_, device) = s.app.accounts.add_app_password(&user, "iPad", "books").await.unwrap();
    s.request("POST", "/api/v1/tokens", Some((&ann, &device)), &[JSON], new("write")).await.assert(403);

    // The list shows names and scopes, never secrets; revoking stops the token at once.
    let r = s.as_user(&ann, "GET", "/api/v1/tokens", &[], "").await;
    r.assert(200).lacks(&read_secret).lacks("lbt_");
    assert_eq!(parse(&r)["items"].as_array().unwrap().len(), 2);
    let id = read["token"]["id"].as_i64().unwrap();
    s.as_user(&ann, "DELETE", &format!("/api/v1/tokens/{id}"), &[], "").await.assert(204);
    s.as_user(&ann, "DELETE", &format!("/api/v1/tokens/{id}"), &[], "").await.assert(404);
    let r = s.request("GET", "/api/v1/me", None, &[("authorization", &bearer(&read_secret))], "").await;
    r.assert(401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));

    // Bad input: each names the field.
    for (body, field) in [
        (json!({"name": "", "scope": "read"}), "name"),
        (json!({"name": "x", "scope": "admin"}), "scope"),
        (json!({"name": "x", "scope": "read", "expires_in_days": 0}), "expires_in_days"),
        (json!({"name": "write script", "scope": "read"}), "name"),
    ] {
        let r = s.as_user(&ann, "POST", "/api/v1/tokens", &[JSON], body.to_string()).await;
        assert_eq!(parse(r.assert(422))["errors"][0]["field"], field, "{body}");
    }
    // Another user's token id is not found, and stays.
    let bob = s.user("bob@example.com").await;
    let wid = write["token"]["id"].as_i64().unwrap();
    s.as_user(&bob, "DELETE", &format!("/api/v1/tokens/{wid}"), &[], "").await.assert(404);
    s.request("GET", "/api/v1/me", None, &[("authorization", &bearer(&write_secret))], "").await.assert(200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_passwords_made_in_the_dashboard_sync_and_revoke() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let (cookie, csrf) = login(&s, &ann, PASSWORD).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str()), JSON];
    let r = s.request("POST", "/api/v1/app-passwords", None, &h, json!({"name": "iPhone"}).to_string()).await;
    let made = parse(r.assert(201));
    assert_eq!(made["app_password"]["layout"], "books");
    assert_eq!(made["server_path"], "/dav/");
    let password = made["password"].as_str().unwrap().to_string();
    let r = s.request("PROPFIND", &home(&ann), Some((&ann, &password)), &[("depth", "0")], "").await;
    r.assert(207);
    let r = s.request("POST", "/api/v1/app-passwords", None, &h, json!({"name": "iPhone"}).to_string()).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "name", "names are unique per account");
    let r =
        s.request("POST", "/api/v1/app-passwords", None, &h, json!({"name": "Mac", "layout": "x"}).to_string()).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "layout");
    let r = s.request("GET", "/api/v1/app-passwords", None, &h[..1], "").await;
    r.assert(200).lacks(&password);
    let id = made["app_password"]["id"].as_i64().unwrap();
    s.request("DELETE", &format!("/api/v1/app-passwords/{id}"), None, &h[..2], "").await.assert(204);
    let r = s.request("PROPFIND", &home(&ann), Some((&ann, &password)), &[("depth", "0")], "").await;
    r.assert(401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_contacts_go_on_a_label_and_collaborators_add_copies() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let api = |who: &str, method: &'static str, path: String, body: Value| {
        let who = who.to_string();
        let s = &s;
        async move { s.as_user(&who, method, &format!("/api/v1{path}"), &[JSON], body.to_string()).await }
    };
    let mine = parse(api(&ann, "POST", "/contacts".into(), json!({"full_name": "Cy Diaz"})).await.assert(201));
    let cy = mine["id"].as_i64().unwrap();
    let label = parse(api(&ann, "POST", "/labels".into(), json!({"name": "Team"})).await.assert(201));
    let label = label["id"].as_str().unwrap().to_string();
    let before = s.sync_token(&ann, &format!("/dav/addressbooks/{ann}/{label}/")).await;

    let r = api(&ann, "POST", format!("/labels/{label}/members"), json!({"contact_ids": [cy, 999_999]})).await;
    let j = parse(r.assert(200));
    assert_eq!(j["added"], 1);
    assert_eq!(j["items"][0]["label_contact_id"], cy, "on their own label it is the same contact");
    assert!(j["items"][1]["error"].as_str().unwrap().contains("no such"), "{j}");
    // RFC 6578 §3.2: the label's sync-token moved; the card is in the label's book under its own name.
    assert_ne!(s.sync_token(&ann, &format!("/dav/addressbooks/{ann}/{label}/")).await, before);
    let page = parse(api(&ann, "GET", format!("/labels/{label}/contacts"), json!(null)).await.assert(200));
    assert_eq!(page["items"][0]["full_name"], "Cy Diaz");
    let r = api(&ann, "POST", format!("/labels/{label}/members"), json!({"contact_ids": [cy]})).await;
    let j = parse(r.assert(200));
    assert_eq!(j["added"], 0);
    assert!(j["items"][0]["error"].as_str().unwrap().contains("already"), "{j}");

    // Bob, at edit level, adds one of his own: it goes in as a copy owned by Ann, and his stays his.
    let owner = s.record(&ann).await;
    let bob_user = s.record(&bob).await;
    let g = s.app.service.share(&owner, &label, &Grantee::User(bob.clone()), Level::Edit, true).await.unwrap();
    s.app.service.respond(&bob_user, g.id, true).await.unwrap();
    let his = parse(api(&bob, "POST", "/contacts".into(), json!({"full_name": "Dee Eng"})).await.assert(201));
    let his_id = his["id"].as_i64().unwrap();
    let r = api(&bob, "POST", format!("/labels/{label}/members"), json!({"contact_ids": [his_id]})).await;
    let j = parse(r.assert(200));
    let copy = j["items"][0]["label_contact_id"].as_i64().unwrap();
    assert_ne!(copy, his_id);
    let r = parse(api(&ann, "GET", "/contacts?q=Dee".into(), json!(null)).await.assert(200));
    assert_eq!(r["items"][0]["id"], copy, "the copy is in the owner's My contacts");
    api(&bob, "GET", format!("/contacts/{his_id}"), json!(null)).await.assert(200);
    // Someone else's contact id is not found, and nothing is added.
    let r = api(&bob, "POST", format!("/labels/{label}/members"), json!({"contact_ids": [cy]})).await;
    assert_eq!(parse(r.assert(200))["added"], 0);
    // Bad input.
    api(&ann, "POST", format!("/labels/{label}/members"), json!({"contact_ids": []})).await.assert(422);
    api(&ann, "POST", format!("/labels/{label}/members"), json!({"ids": [cy]})).await.assert(400);
    api(&ann, "POST", "/labels/contacts/members".into(), json!({"contact_ids": [cy]})).await.assert(422);
    s.stop().await;
}

/// "Add an existing contact" picks from everything the user can see, not only their own contacts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_contacts_can_come_from_any_label_one_can_read() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let api = |who: &str, method: &'static str, path: String, body: Value| {
        let who = who.to_string();
        let s = &s;
        async move { s.as_user(&who, method, &format!("/api/v1{path}"), &[JSON], body.to_string()).await }
    };
    let owner = s.record(&ann).await;
    let bob_user = s.record(&bob).await;
    let label = |who: String, name: &'static str| {
        let api = &api;
        async move {
            parse(api(&who, "POST", "/labels".into(), json!({ "name": name })).await.assert(201))["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let clients = label(ann.clone(), "Clients").await;
    let prospects = label(ann.clone(), "Prospects").await;
    let private = label(ann.clone(), "Private").await;
    let bobs = label(bob.clone(), "Bob's").await;
    let xena = json!({"full_name": "Xena Young", "phones": [{"value": "+1 555 0199", "types": ["cell"]}], "note": "met in Oslo"});
    let xena =
        parse(api(&ann, "POST", format!("/labels/{clients}/contacts"), xena).await.assert(201))["id"].as_i64().unwrap();
    let secret = parse(
        api(&ann, "POST", format!("/labels/{private}/contacts"), json!({"full_name": "Secret"})).await.assert(201),
    );
    let secret = secret["id"].as_i64().unwrap();
    // Bob edits Clients with the mobile number hidden from him, and edits Prospects.
    for (l, hidden) in [(&clients, vec!["TEL;TYPE=CELL"]), (&prospects, vec![])] {
        let g = s.app.service.share(&owner, l, &Grantee::User(bob.clone()), Level::Edit, true).await.unwrap();
        s.app.service.respond(&bob_user, g.id, true).await.unwrap();
        if !hidden.is_empty() {
            s.app.service.set_hidden_fields(&owner, g.id, &hidden).await.unwrap();
        }
    }
    let add = |who: String, to: String, from: String, ids: Vec<i64>| {
        let api = &api;
        async move {
            let r = api(&who, "POST", format!("/labels/{to}/members"), json!({"from": from, "contact_ids": ids})).await;
            parse(r.assert(200))
        }
    };
    // Into his own label, from Clients: a copy, his own, as he reads it (without the hidden number).
    let j = add(bob.clone(), bobs.clone(), clients.clone(), vec![xena]).await;
    let copy = j["items"][0]["label_contact_id"].as_i64().unwrap();
    assert_ne!(copy, xena);
    let his = parse(api(&bob, "GET", format!("/contacts/{copy}"), json!(null)).await.assert(200));
    assert_eq!((his["full_name"].as_str(), his["note"].as_str()), (Some("Xena Young"), Some("met in Oslo")));
    assert_eq!(his["phones"], json!([]), "what is hidden from him is not copied: {his}");
    // Into Ann's Prospects, from Ann's Clients: the same contact now carries both labels; nothing is lost,
    // the number hidden from Bob included, and Ann has no duplicate.
    let j = add(bob.clone(), prospects.clone(), clients.clone(), vec![xena]).await;
    assert_eq!(j["items"][0]["label_contact_id"], xena, "{j}");
    let there = parse(api(&ann, "GET", format!("/labels/{prospects}/contacts/{xena}"), json!(null)).await.assert(200));
    assert_eq!(there["phones"][0]["value"], "+1 555 0199");
    let hers = parse(api(&ann, "GET", "/contacts?q=xena".into(), json!(null)).await.assert(200));
    assert_eq!(hers["items"].as_array().unwrap().len(), 1);
    let j = add(bob.clone(), prospects.clone(), clients.clone(), vec![xena]).await;
    assert!(j["items"][0]["error"].as_str().unwrap().contains("already"), "{j}");
    // A contact not in the label named, or a label Bob cannot read, gives him nothing and tells him nothing.
    let j = add(bob.clone(), bobs.clone(), clients.clone(), vec![secret]).await;
    assert_eq!(j["added"], 0);
    let r =
        api(&bob, "POST", format!("/labels/{bobs}/members"), json!({"from": private, "contact_ids": [secret]})).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "from");
    let r =
        api(&bob, "POST", format!("/labels/{bobs}/members"), json!({"from": "nonsense", "contact_ids": [xena]})).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "from");
    // Reading a label is enough to copy from it; the label added to still needs edit level.
    let g = s.app.service.share(&owner, &private, &Grantee::User(bob.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&bob_user, g.id, true).await.unwrap();
    assert_eq!(add(bob.clone(), bobs.clone(), private.clone(), vec![secret]).await["added"], 1);
    let r = api(&bob, "POST", format!("/labels/{private}/members"), json!({"from": bobs, "contact_ids": [copy]})).await;
    r.assert(403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_from_the_binary_with_a_strict_policy() {
    let s = Server::start().await;
    let r = s.request("GET", "/", None, &[], "").await;
    r.assert(200).contains("<script type=\"module\" src=\"/assets/app.js\"");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let js = s.request("GET", "/assets/app.js", None, &[], "").await;
    js.assert(200);
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
    // RFC 9110 §13.1.2: a revalidation with the current ETag is a 304 without a body.
    let etag = js.etag();
    let r = s.request("GET", "/assets/app.js", None, &[("if-none-match", &etag)], "").await;
    r.assert(304);
    assert!(r.bytes.is_empty());
    s.request("GET", "/assets/style.css", None, &[], "").await.assert(200);
    // The page is ES modules: every module another imports is served, as JavaScript (a browser refuses a
    // module of any other type).
    let mut modules = vec!["assets/app.js".to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(path) = modules.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let r = s.request("GET", &format!("/{path}"), None, &[], "").await;
        r.assert(200);
        assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"), "{path}");
        let dir = std::path::Path::new(&path).parent().unwrap().to_path_buf();
        for line in r.body.lines().filter(|l| l.starts_with("import ")) {
            let target = line.rsplit("from \"").next().unwrap().trim_end_matches("\";");
            let joined = dir.join(target);
            let mut parts: Vec<&str> = Vec::new();
            for c in joined.components() {
                match c.as_os_str().to_str().unwrap() {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    p => parts.push(p),
                }
            }
            modules.push(parts.join("/"));
        }
    }
    assert!(seen.len() > 10, "the dashboard's modules: {seen:?}");
    for bad in ["/assets/nothing.js", "/assets/../Cargo.toml", "/assets//app.js", "/assets/%2e%2e/Cargo.toml"] {
        s.request("GET", bad, None, &[], "").await.assert(404);
    }
    let r = s.request("POST", "/", None, &[], "").await;
    r.assert(405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    s.stop().await;
}
