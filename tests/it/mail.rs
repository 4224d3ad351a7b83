//! Invitations by e-mail and the administrators' mail settings, against a real SMTP
//! server on 127.0.0.1 (tests/common/smtp.rs): STARTTLS (RFC 3207) with a private CA, AUTH PLAIN (RFC 4616),
//! retries after 4xx and no retry after 5xx (RFC 5321 §4.2.1), and the links in the messages answered.

use crate::common::smtp::{SinkOptions, SmtpSink};
use crate::common::*;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;

const ADMIN: &str = "admin@example.com";

/// A server whose domain is example.com, with an administrator, Ann (owner of "Team") and Bob.
async fn world(tweak: impl FnOnce(&mut labelbook::config::Config)) -> (Server, String) {
    let s = Server::start_with(tweak).await;
    s.app.service.add_domain(&Admin::console(), "example.com", true, false).await.unwrap();
    s.app.accounts.create_user(ADMIN, PASSWORD, true).await.unwrap();
    s.user("ann@example.com").await;
    s.user("bob@example.com").await;
    let ann = s.record("ann@example.com").await;
    let label = s.app.service.create_label(&ann, None, "Team", "").await.unwrap().id;
    (s, label)
}

fn plain_smtp(sink: &SmtpSink) -> Value {
    json!({"host": "127.0.0.1", "port": sink.port, "security": "none", "from": "Labelbook <lb@example.com>"})
}

async fn set_smtp(s: &Server, smtp: Value) -> Value {
    parse(api(s, ADMIN, "PATCH", "/admin/settings", Some(json!({"smtp": smtp}))).await.assert(200))
}

async fn share(s: &Server, label: &str, who: &str, level: &str) -> Value {
    let r = api(
        s,
        "ann@example.com",
        "POST",
        &format!("/labels/{label}/grants"),
        Some(json!({"grantee": who, "level": level})),
    )
    .await;
    parse(r.assert(201))
}

async fn grant_listed(s: &Server, label: &str, id: i64) -> Value {
    let list = parse(api(s, "ann@example.com", "GET", &format!("/labels/{label}/grants"), None).await.assert(200));
    list["items"].as_array().unwrap().iter().find(|g| g["id"] == id).cloned().expect("grant listed")
}

/// Waits until the grant's last message is no longer queued.
async fn mail_settled(s: &Server, label: &str, id: i64, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let g = grant_listed(s, label, id).await;
        if g["mail"]["status"] != "queued" || tokio::time::Instant::now() > deadline {
            return g["mail"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn secret_in(text: &str) -> String {
    let i = text.find("/#/invite/").expect("a link") + "/#/invite/".len();
    text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_for_administrators_and_never_show_the_password() {
    let (s, _) = world(|_| {}).await;
    let sink = SmtpSink::start(SinkOptions { starttls_in: None, login: None }).await;
    // Administrators only; a collaborator or any other user is refused, and nothing changes.
    api(&s, "ann@example.com", "GET", "/admin/settings", None).await.assert(403);
    api(&s, "ann@example.com", "PATCH", "/admin/settings", Some(json!({"invite_any_domain": true}))).await.assert(403);
    api(&s, "ann@example.com", "POST", "/admin/settings/smtp-test", Some(json!({}))).await.assert(403);
    let start = parse(api(&s, ADMIN, "GET", "/admin/settings", None).await.assert(200));
    assert_eq!(start, json!({"public_url": null, "invite_any_domain": false, "smtp": null, "set_in_dashboard": []}));

    // Bad values name their field and store nothing.
    let mut bad = plain_smtp(&sink);
    bad["from"] = json!("not an address");
    let r = api(&s, ADMIN, "PATCH", "/admin/settings", Some(json!({"smtp": bad, "public_url": "https://ok.example"})))
        .await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "smtp.from");
    let r = api(&s, ADMIN, "PATCH", "/admin/settings", Some(json!({"public_url": "ftp://x"}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "public_url");
    let r = api(
        &s,
        ADMIN,
        "PATCH",
        "/admin/settings",
        Some(json!({"smtp": {"host": "h", "from": "a@b.c", "security": "ssl"}})),
    )
    .await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "smtp.security");
    api(&s, ADMIN, "PATCH", "/admin/settings", Some(json!({"colour": "blue"}))).await.assert(400);
    assert_eq!(parse(api(&s, ADMIN, "GET", "/admin/settings", None).await.assert(200)), start);

    // The password is write-only, and a change that leaves it out keeps it.
    let mut with_login = plain_smtp(&sink);
    with_login["username"] = json!("lb");
    with_login["password"] = json!("s3cret-pass");
    let j = set_smtp(&s, with_login).await;
    assert_eq!(j["smtp"]["password_set"], true);
    assert_eq!(j["set_in_dashboard"], json!(["smtp"]));
    let mut moved = plain_smtp(&sink);
    moved["username"] = json!("lb");
    moved["port"] = json!(2525);
    let r = api(&s, ADMIN, "PATCH", "/admin/settings", Some(json!({"smtp": moved}))).await;
    assert!(!r.body.contains("s3cret-pass"), "{}", r.body);
    let j = parse(r.assert(200));
    assert_eq!((j["smtp"]["port"].as_i64(), j["smtp"]["password_set"].as_bool()), (Some(2525), Some(true)));
    let stored = s.app.service.settings().await.unwrap().smtp.unwrap();
    assert_eq!(stored.password.as_deref(), Some("s3cret-pass"));

    // null forgets the dashboard's value: the config file's (none here) applies again.
    let j = parse(
        api(&s, ADMIN, "PATCH", "/admin/settings", Some(json!({"smtp": null, "invite_any_domain": true})))
            .await
            .assert(200),
    );
    assert_eq!((j["smtp"].is_null(), j["invite_any_domain"].as_bool()), (true, Some(true)));
    assert_eq!(j["set_in_dashboard"], json!(["invite_any_domain"]));
    // Without a mail server the test says so.
    api(&s, ADMIN, "POST", "/admin/settings/smtp-test", None).await.assert(409);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_mailed_over_starttls_with_a_link_that_answers_them() {
    let (s, label) = world(|c| c.mail_resend_secs = 600).await;
    let sink = SmtpSink::start(SinkOptions {
        starttls_in: Some(s.db.dir.clone()),
        login: Some(("lb@example.com".into(), "mail-pass".into())),
    })
    .await;
    let smtp = json!({
        "host": "localhost", "port": sink.port, "security": "starttls", "username": "lb@example.com",
        "password": "wrong", "from": "Labelbook <lb@example.com>",
        "ca_file": sink.ca_file.as_ref().unwrap().display().to_string(),
    });
    set_smtp(&s, smtp.clone()).await;
    api(&s, ADMIN, "PATCH", "/admin/settings", Some(json!({"public_url": "https://contacts.example.com/"})))
        .await
        .assert(200);

    // The settings test reports the server's refusal and the conversation, without the password.
    let t = parse(api(&s, ADMIN, "POST", "/admin/settings/smtp-test", Some(json!({}))).await.assert(200));
    assert_eq!(t["sent"], false, "{t}");
    assert!(t["error"].as_str().unwrap().contains("535"), "{t}");
    let transcript = t["transcript"].to_string();
    assert!(transcript.contains("TLS established") && !transcript.contains("wrong"), "{transcript}");
    // Trying other settings before saving them, then the saved ones once corrected.
    let mut right = smtp.clone();
    right["password"] = json!("mail-pass");
    let t = parse(
        api(&s, ADMIN, "POST", "/admin/settings/smtp-test", Some(json!({"to": "Ops@Example.com", "smtp": right})))
            .await
            .assert(200),
    );
    assert_eq!((t["sent"].as_bool(), t["to"].as_str()), (Some(true), Some("ops@example.com")), "{t}");
    set_smtp(&s, right).await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].to, vec!["ops@example.com"]);
    assert!(got[0].tls && got[0].user.as_deref() == Some("lb@example.com"), "STARTTLS then AUTH");

    // A new invitation is mailed to the invitee, from the configured sender, answering to the inviter.
    let g = share(&s, &label, "bob@example.com", "edit").await;
    let gid = g["id"].as_i64().unwrap();
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "the invitation arrives");
    let m = &got[1];
    assert_eq!((m.from.as_str(), m.to.clone()), ("lb@example.com", vec!["bob@example.com".to_string()]));
    assert_eq!(m.header("Reply-To").as_deref(), Some("ann@example.com"));
    assert_eq!(m.header("Subject").as_deref(), Some("ann@example.com invited you to \"Team\""));
    let text = m.text();
    assert!(text.contains("edit access") && text.contains("https://contacts.example.com/#/invite/lbi_"), "{text}");
    let mailed = secret_in(&text);
    let mail = mail_settled(&s, &label, gid, Duration::from_secs(5)).await;
    assert_eq!((mail["status"].as_str(), mail["to"].as_str()), (Some("sent"), Some("bob@example.com")), "{mail}");

    // The mailed link and a copied link work side by side; neither replaces the other.
    let copied = parse(api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/link"), None).await.assert(201));
    let copied = copied["secret"].as_str().unwrap().to_string();
    s.request("GET", &format!("/api/v1/invite-links/{mailed}"), None, &[], "").await.assert(200);
    s.request("GET", &format!("/api/v1/invite-links/{copied}"), None, &[], "").await.assert(200);

    // Resend: not moments after the last message (429 with Retry-After), then a new link that replaces the
    // mailed one only.
    let r = api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/resend"), None).await;
    assert!(r.assert(429).header("retry-after").is_some());
    s.app.store.clock.advance(Duration::from_secs(601));
    let r = parse(api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/resend"), None).await.assert(202));
    assert_eq!(r["to"], "bob@example.com");
    let got = sink.wait_for(3, Duration::from_secs(10)).await;
    let again = secret_in(&got[2].text());
    assert_ne!(again, mailed);
    s.request("GET", &format!("/api/v1/invite-links/{mailed}"), None, &[], "").await.assert(404);
    s.request("GET", &format!("/api/v1/invite-links/{copied}"), None, &[], "").await.assert(200);

    // Bob answers through the mail.
    let r = s.as_user("bob@example.com", "POST", &format!("/api/v1/invite-links/{again}/accept"), &[JSON], "{}").await;
    r.assert(200);
    let labels = parse(api(&s, "bob@example.com", "GET", "/labels", None).await.assert(200));
    assert!(labels["items"].as_array().unwrap().iter().any(|l| l["id"] == label.as_str()), "{labels}");
    // An accepted invitation is not resent.
    api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/resend"), None).await.assert(409);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_is_down_delays_an_invitation_and_one_that_refuses_it_is_reported() {
    let (s, label) = world(|c| c.mail_retry_secs = 1).await;
    let sink = SmtpSink::start(SinkOptions { starttls_in: None, login: None }).await;
    set_smtp(&s, plain_smtp(&sink)).await;

    // RFC 5321 §4.2.1: 4xx is transient, so the message waits (1 s, then 4 s) and goes out.
    sink.behaviour.defer.store(2, Ordering::SeqCst);
    let g = share(&s, &label, "new.person@example.com", "view").await;
    let gid = g["id"].as_i64().unwrap();
    let got = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "delivered after two deferrals");
    let text = got[0].text();
    // No public address is set: the link uses the address the inviter's request came to.
    assert!(text.contains(&format!("{}/#/invite/lbi_", s.base)), "{text}");
    assert!(text.contains("you choose its password"), "an invitee without an account is told: {text}");
    let mail = mail_settled(&s, &label, gid, Duration::from_secs(5)).await;
    assert_eq!((mail["status"].as_str(), mail["attempts"].as_i64()), (Some("sent"), Some(3)), "{mail}");

    // 5xx is permanent: reported on the grant at once, not retried.
    sink.behaviour.reject.store(true, Ordering::SeqCst);
    let g = share(&s, &label, "carol@example.com", "view").await;
    let gid = g["id"].as_i64().unwrap();
    let mail = mail_settled(&s, &label, gid, Duration::from_secs(10)).await;
    assert_eq!((mail["status"].as_str(), mail["attempts"].as_i64()), (Some("failed"), Some(1)), "{mail}");
    assert!(mail["error"].as_str().unwrap().contains("550"), "{mail}");
    // The share itself stands, and the inviter can still copy a link.
    assert_eq!(grant_listed(&s, &label, gid).await["status"], "pending");
    api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/link"), None).await.assert(201);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_needs_a_mail_server_a_pending_person_and_the_share_level() {
    let (s, label) = world(|c| c.mail_resend_secs = 0).await;
    let g = share(&s, &label, "bob@example.com", "view").await;
    let gid = g["id"].as_i64().unwrap();
    // No mail server: nothing was queued, and a resend says what to do instead.
    assert!(grant_listed(&s, &label, gid).await["mail"].is_null());
    let r = api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/resend"), None).await;
    assert!(parse(r.assert(409))["detail"].as_str().unwrap().contains("copy the invitation link"));

    let sink = SmtpSink::start(SinkOptions { starttls_in: None, login: None }).await;
    set_smtp(&s, plain_smtp(&sink)).await;
    // A collaborator below share level, or a stranger, cannot resend (or learn the grant exists).
    s.user("dan@example.com").await;
    s.user("eve@example.com").await;
    let dan = share(&s, &label, "dan@example.com", "delete").await;
    api(&s, "dan@example.com", "POST", &format!("/invitations/{}/accept", dan["id"]), None).await.assert(200);
    api(&s, "dan@example.com", "POST", &format!("/grants/{gid}/resend"), None).await.assert(403);
    api(&s, "eve@example.com", "POST", &format!("/grants/{gid}/resend"), None).await.assert(404);
    api(&s, "ann@example.com", "GET", "/grants/1/resend", None).await.assert(405);
    // Groups and domains get no invitation to resend.
    let body = json!({"kind": "domain", "grantee": "example.com", "level": "view"});
    let dom =
        parse(api(&s, "ann@example.com", "POST", &format!("/labels/{label}/grants"), Some(body)).await.assert(201));
    api(&s, "ann@example.com", "POST", &format!("/grants/{}/resend", dom["id"]), None).await.assert(409);
    // The owner can.
    api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/resend"), None).await.assert(202);
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "Dan's invitation and the resend, nothing for the domain: {got:?}");
    let to_bob: Vec<_> = got.iter().filter(|m| m.to == vec!["bob@example.com".to_string()]).collect();
    assert_eq!(to_bob.len(), 1, "only the resend reached Bob: {got:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_accepted_at_once_is_announced_by_mail() {
    let (s, label) = world(|_| {}).await;
    s.app.service.set_domain(&Admin::console(), "example.com", false, Some(true)).await.unwrap();
    let sink = SmtpSink::start(SinkOptions { starttls_in: None, login: None }).await;
    set_smtp(&s, plain_smtp(&sink)).await;
    let g = share(&s, &label, "bob@example.com", "edit").await;
    assert_eq!(g["status"], "accepted");
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("Subject").as_deref(), Some("ann@example.com shared \"Team\" with you"));
    let text = got[0].text();
    assert!(text.contains(&format!("/#/book/{label}")) && !text.contains("/#/invite/"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_withdrawn_before_its_turn_is_not_sent() {
    let (s, label) = world(|c| c.mail_retry_secs = 1).await;
    let sink = SmtpSink::start(SinkOptions { starttls_in: None, login: None }).await;
    set_smtp(&s, plain_smtp(&sink)).await;
    // The first try is deferred (451); the invitation is revoked before the retry.
    sink.behaviour.defer.store(1, Ordering::SeqCst);
    let g = share(&s, &label, "bob@example.com", "view").await;
    let gid = g["id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while grant_listed(&s, &label, gid).await["mail"]["attempts"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the first try happens");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api(&s, "ann@example.com", "DELETE", &format!("/grants/{gid}"), None).await.assert(200);
    let mail = mail_settled(&s, &label, gid, Duration::from_secs(10)).await;
    assert_eq!(mail["status"], "cancelled", "{mail}");
    assert!(sink.received().is_empty(), "nothing reached Bob");
    s.stop().await;
}

/// Only a link mailed to an address with no account can create that account (opening it proves control of the
/// address); the copied link of the same invitation cannot (403, nothing made). With invite_any_domain the
/// address may be outside the server's domains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_mailed_link_creates_the_invited_account() {
    let (s, label) = world(|c| c.invite_any_domain = true).await;
    let sink = SmtpSink::start(SinkOptions { starttls_in: None, login: None }).await;
    set_smtp(&s, plain_smtp(&sink)).await;
    let g = share(&s, &label, "pat@partner.org", "view").await;
    let gid = g["id"].as_i64().unwrap();
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    let mailed = secret_in(&got.last().expect("the invitation was mailed").text());
    let copied = parse(api(&s, "ann@example.com", "POST", &format!("/grants/{gid}/link"), None).await.assert(201));
    let copied = copied["secret"].as_str().unwrap().to_string();

    let info = |secret: String| {
        let s = &s;
        async move { parse(s.request("GET", &format!("/api/v1/invite-links/{secret}"), None, &[], "").await.assert(200)) }
    };
    assert_eq!(info(copied.clone()).await["can_create_account"], false);
    assert_eq!(info(mailed.clone()).await["can_create_account"], true);
    let password = json!({"password": "pats-password"}).to_string();
    let r = s.request("POST", &format!("/api/v1/invite-links/{copied}/accept"), None, &[JSON], password.clone()).await;
    r.assert(403).contains("only an invitation e-mailed to pat@partner.org");
    assert!(s.app.store.user_by_email("pat@partner.org").await.unwrap().is_none(), "the copied link made nothing");

    let r = s.request("POST", &format!("/api/v1/invite-links/{mailed}/accept"), None, &[JSON], password).await;
    assert_eq!(parse(r.assert(200))["account_created"], true);
    s.request("GET", &format!("/api/v1/labels/{label}"), Some(("pat@partner.org", "pats-password")), &[], "")
        .await
        .assert(200);
    // Accounts made by other means still live in the server's domains.
    assert!(s.app.accounts.create_user("sam@partner.org", PASSWORD, false).await.is_err());
    s.stop().await;
}
