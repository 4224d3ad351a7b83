//! WebDAV-Push benchmark: the release server against the push service stand-in (tests/it/common/push_service.rs,
//! which decrypts every message as a phone would).
//!
//!   cargo run --release --example bench-push -- [--bin target/release/labelbook] [--writes 20]
//!
//! Reports (1) a PUT's own latency with no registrations and with 1,000 on its book (push must not slow a write);
//! (2) write acknowledged → message received and decrypted, p50 and p99, with 1,000 registrations on one book;
//! (3) the same with 10,000 registrations spread over 1,000 books (each write concerns 10 of them).

#[path = "util.rs"]
mod util;

#[path = "../../tests/it/common/push_service.rs"]
#[allow(dead_code)]
mod push_service;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use push_service::{PushService, Subscription};

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{arg, cpu_ticks, ms, percentile};

type Http = Client<HttpConnector, Full<Bytes>>;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench-password";

/// The server, stopped however the benchmark ends (a failed assertion included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Ctx {
    http: Http,
    auth: String,
    base: String,
}

impl Ctx {
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: String) -> (u16, Bytes) {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.http.request(b.body(Full::new(Bytes::from(body))).expect("request")).await.expect("response");
        let status = resp.status().as_u16();
        (status, resp.into_body().collect().await.expect("body").to_bytes())
    }

    async fn put(&self, book: &str, i: usize) -> Duration {
        let card =
            format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-{i}\r\nFN:Contact {i}\r\nN:Contact;{i};;;\r\nEND:VCARD\r\n");
        let t = Instant::now();
        let (s, _) = self.send("PUT", &format!("{book}p-{i}.vcf"), &[("content-type", "text/vcard")], card).await;
        assert!(s == 201 || s == 204, "PUT {s}");
        t.elapsed()
    }

    /// Registers `sub` on `book`; answers the registration's path.
    async fn register(&self, book: &str, sub: &Subscription) -> String {
        let body = format!(
            r#"<push-register xmlns="https://bitfire.at/webdav-push"><subscription><web-push-subscription><push-resource>{}</push-resource><subscription-public-key type="p256dh">{}</subscription-public-key><auth-secret>{}</auth-secret></web-push-subscription></subscription></push-register>"#,
            sub.resource, sub.p256dh, sub.auth
        );
        let resp = {
            let b = http::Request::builder()
                .method("POST")
                .uri(format!("{}{book}", self.base))
                .header("authorization", &self.auth)
                .header("content-type", "application/xml");
            self.http.request(b.body(Full::new(Bytes::from(body))).expect("request")).await.expect("response")
        };
        assert_eq!(resp.status().as_u16(), 204, "register");
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("Location").to_string();
        location.trim_start_matches(&self.base).to_string()
    }
}

/// Registers each of `subs` on its book, 16 at a time; answers the registrations' paths.
async fn register_all(ctx: &Arc<Ctx>, subs: Vec<(String, Subscription)>) -> Vec<String> {
    let subs = Arc::new(tokio::sync::Mutex::new(subs));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (ctx, subs) = (ctx.clone(), subs.clone());
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let Some((book, sub)) = subs.lock().await.pop() else { return made };
                made.push(ctx.register(&book, &sub).await);
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.expect("registering"));
    }
    out
}

/// PUT latencies over `n` sequential writes into `book`.
async fn put_latency(ctx: &Ctx, book: &str, from: usize, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in from..from + n {
        out.push(ctx.put(book, i).await);
    }
    out
}

/// One write at a time into one of `books`: the time from its acknowledgement to each of `per_write` messages.
async fn push_latency(
    ctx: &Ctx,
    svc: &PushService,
    books: &[String],
    writes: usize,
    per_write: usize,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for w in 0..writes {
        let book = &books[(w * 7919) % books.len()];
        ctx.put(book, 1_000_000 + w).await;
        let acked = Instant::now();
        let mut got = 0;
        while got < per_write {
            let m = svc.next(Duration::from_secs(30)).await.expect("a push message within 30 s");
            out.push(m.at.saturating_duration_since(acked));
            got += 1;
        }
        // Nothing else pending: the next write starts a window of its own.
        assert!(svc.next(Duration::from_millis(300)).await.is_none(), "one message per registration per write");
    }
    out
}

/// One write at a time, each by the owner of one of `books`: the time from its acknowledgement to each of
/// `per_write` messages.
async fn push_latency_spread(
    books: &[(Arc<Ctx>, String)],
    svc: &PushService,
    writes: usize,
    per_write: usize,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for w in 0..writes {
        let (who, book) = &books[(w * 7919) % books.len()];
        out.extend(push_latency(who, svc, std::slice::from_ref(book), 1, per_write).await);
    }
    out
}

#[tokio::main]
async fn main() {
    let bin = arg("--bin").unwrap_or_else(|| "target/release/labelbook".into());
    let writes: usize = arg("--writes").and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("labelbook-bench-push-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .env("LABELBOOK_ADMIN_EMAIL", EMAIL)
        .env("LABELBOOK_ADMIN_PASSWORD", PASSWORD)
        .env("LABELBOOK_LOG", "error")
        .env("LABELBOOK_PUSH_ALLOW_LOCAL_ENDPOINTS", "true")
        .env("LABELBOOK_PUSH_MAX_REGISTRATIONS_PER_USER", "20000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let (child, base) = util::spawn_server(&mut cmd);
    let pid = child.id();
    let child = KillOnDrop(child);
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{PASSWORD}")));
    let http: Http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(32).build_http();
    let ctx = Arc::new(Ctx { http, auth, base });
    let contacts = format!("/dav/addressbooks/{EMAIL}/contacts/");
    let quiet_book = {
        let (s, b) = ctx
            .send("POST", "/api/v1/labels", &[("content-type", "application/json")], r#"{"name":"Quiet"}"#.into())
            .await;
        assert_eq!(s, 201);
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        format!("/dav/addressbooks/{EMAIL}/{}/", v["id"].as_str().expect("id"))
    };
    let (s, body) = ctx
        .send(
            "PROPFIND",
            &contacts,
            &[("depth", "0")],
            r#"<d:propfind xmlns:d="DAV:" xmlns:P="https://bitfire.at/webdav-push"><d:prop><P:transports/></d:prop></d:propfind>"#.into(),
        )
        .await;
    assert_eq!(s, 207);
    let body = String::from_utf8_lossy(&body).into_owned();
    let key = body.split("type=\"p256ecdsa\">").nth(1).and_then(|r| r.split('<').next()).expect("a VAPID key");
    // The stand-in decrypts every message: on a runtime of its own, so its work does not delay this client's
    // requests (what is timed).
    let standin = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let key = key.to_string();
    let svc = standin.spawn(async move { PushService::start(&key).await }).await.expect("the stand-in starts");
    println!("WebDAV-Push benchmark: {writes} writes per figure, SQLite");

    // (1) A write's own latency: its book without registrations, then with 1,000.
    for i in 0..200 {
        ctx.put(&quiet_book, i).await;
    }
    let bare = put_latency(&ctx, &quiet_book, 200, 300).await;
    let t = Instant::now();
    let on_contacts = register_all(&ctx, (0..1000).map(|_| (contacts.clone(), svc.subscribe())).collect()).await;
    println!("1,000 registrations made:   {:>12}", ms(t.elapsed()));
    // The pushes of these writes are drained as they come; the PUTs are what is timed.
    let drain = {
        let svc = Arc::new(svc);
        let d = svc.clone();
        (svc, tokio::spawn(async move { while d.next(Duration::from_secs(3)).await.is_some() {} }))
    };
    let loaded = put_latency(&ctx, &contacts, 0, 300).await;
    drain.1.await.expect("drain");
    let svc = Arc::into_inner(drain.0).expect("one owner");
    println!(
        "PUT, no registrations:      {:>12} p50 {:>12} p99",
        ms(percentile(bare.clone(), 0.5)),
        ms(percentile(bare, 0.99))
    );
    println!(
        "PUT, 1,000 on its book:     {:>12} p50 {:>12} p99",
        ms(percentile(loaded.clone(), 0.5)),
        ms(percentile(loaded, 0.99))
    );

    // (2) Write → push, 1,000 registrations on one book.
    let cpu = cpu_ticks(pid);
    let d = push_latency(&ctx, &svc, std::slice::from_ref(&contacts), writes, 1000).await;
    let per_message = cpu_ticks(pid).saturating_sub(cpu) as f64 / 100.0 / d.len() as f64;
    println!(
        "write → push, 1,000 on 1:   {:>12} p50 {:>12} p99  ({} messages, server CPU {:.0} µs each)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d.clone(), 0.99)),
        d.len(),
        per_message * 1e6
    );
    // Those registrations go: a write into a label also changes its owner's My contacts.
    for path in on_contacts {
        let (s, _) = ctx.send("DELETE", &path, &[], String::new()).await;
        assert_eq!(s, 204);
    }

    // (3) 10,000 registrations over 1,000 books: 100 people with 10 labels each, each label on 10 devices.
    let t = Instant::now();
    let mut books: Vec<(Arc<Ctx>, String)> = Vec::new();
    for u in 0..100 {
        let email = format!("person{u}@example.com");
        let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
        let (s, _) = ctx.send("POST", "/api/v1/admin/users", &[("content-type", "application/json")], body).await;
        assert_eq!(s, 201, "account");
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{email}:{PASSWORD}")));
        let person = Arc::new(Ctx { http: ctx.http.clone(), auth, base: ctx.base.clone() });
        for i in 0..10 {
            let body = format!(r#"{{"name":"Book {i}"}}"#);
            let (s, b) = person.send("POST", "/api/v1/labels", &[("content-type", "application/json")], body).await;
            assert_eq!(s, 201);
            let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
            books.push((person.clone(), format!("/dav/addressbooks/{email}/{}/", v["id"].as_str().expect("id"))));
        }
    }
    println!("100 people, 1,000 books:    {:>12}", ms(t.elapsed()));
    let t = Instant::now();
    for chunk in books.chunks(10) {
        let person = chunk[0].0.clone();
        let subs = chunk.iter().flat_map(|(_, b)| (0..10).map(|_| (b.clone(), svc.subscribe()))).collect();
        register_all(&person, subs).await;
    }
    println!("10,000 registrations made:  {:>12}", ms(t.elapsed()));
    let d = push_latency_spread(&books, &svc, writes, 10).await;
    println!(
        "write → push, 10k on 1,000: {:>12} p50 {:>12} p99  ({} messages)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d.clone(), 0.99)),
        d.len()
    );
    assert!(svc.refusals().is_empty(), "{:?}", svc.refusals());
    drop(child);
    standin.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);
}
