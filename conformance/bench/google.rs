//! Google bridge benchmark: the release server against the People API stand-in (conformance/google).
//!
//!   cargo run --release --example bench-google -- [--n 10000] [--users 10] [--idle-users 100]
//!       [--bin target/release/labelbook] [--quota 90]
//!
//! Reports (1) the initial mirror of one label of N contacts to `users` collaborators under a quota of `quota`
//! mutations per minute per user, against the quota-bound minimum; (2) change → visible in every
//! collaborator's Google, p50 and p99 over 20 CardDAV edits; (3) the server's CPU and resident memory while
//! `idle-users` mirrored users are polled with nothing to do.

#[path = "../google/emulator.rs"]
mod emulator;
#[path = "util.rs"]
mod util;

use base64::Engine;
use bytes::Bytes;
use emulator::{Emulator, Options};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use labelbook::service::Grantee;
use labelbook::service::access::Level;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use util::{arg, cpu_ticks, percentile};

const KEY: &[u8] = include_bytes!("../google/test-service-account.json");
const PASSWORD: &str = "bench-password";

fn card(i: usize, tel: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:g-{i:07}\r\nFN:Contact {i}\r\nN:Contact;{i};;;\r\nORG:Company {};\r\n\
         EMAIL;TYPE=WORK:g{i}@example.com\r\nTEL;TYPE=CELL:{tel}\r\nNOTE:seen at fair {i}\r\nEND:VCARD\r\n",
        i % 97
    )
}

fn start(bin: &str, dir: &std::path::Path, key: &std::path::Path, google: &Emulator, poll: u64) -> (Child, String) {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .env("LABELBOOK_LOG", "warn")
        .env("LABELBOOK_GOOGLE_SERVICE_ACCOUNT_KEY", key)
        .env("LABELBOOK_GOOGLE_PEOPLE_API_URL", google.base())
        .env("LABELBOOK_GOOGLE_POLL_SECS", poll.to_string())
        .env_remove("LABELBOOK_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    util::spawn_server(&mut cmd)
}

/// An owner with one label of `n` contacts shared (accepted, on devices) with `users` collaborators, all
/// mirrored; answers the label id.
async fn seed(dir: &std::path::Path, n: usize, users: usize, prefix: &str) -> String {
    let config = labelbook::config::Config { data_dir: dir.to_path_buf(), ..Default::default() };
    let app = labelbook::app::App::open(config).await.expect("app");
    let owner = app.accounts.create_user(&format!("{prefix}owner@example.com"), PASSWORD, false).await.expect("owner");
    let label = app.service.create_label(&owner, None, "Clients", "").await.expect("label").id;
    let view = app.service.open_book(&owner, &label).await.expect("book");
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let cards: Vec<(String, Vec<u8>)> =
            chunk.iter().map(|i| (format!("g{i}.vcf"), card(*i, &format!("+1 555 {i:07}")).into_bytes())).collect();
        for r in app.service.put_cards(&view, &cards, &Default::default()).await.expect("cards") {
            r.expect("card");
        }
    }
    for u in 0..users {
        let user = app.accounts.create_user(&format!("{prefix}u{u}@example.com"), PASSWORD, false).await.expect("user");
        let g =
            app.service.share(&owner, &label, &Grantee::parse(&user.email), Level::Edit, true).await.expect("share");
        app.service.respond(&user, g.id, true).await.expect("accept");
        app.store.google_enable(user.id, false).await.expect("enable");
    }
    app.store.close().await;
    label
}

#[tokio::main]
async fn main() {
    let n: usize = arg("--n").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let users: usize = arg("--users").and_then(|v| v.parse().ok()).unwrap_or(10);
    let idle_users: usize = arg("--idle-users").and_then(|v| v.parse().ok()).unwrap_or(100);
    let quota: usize = arg("--quota").and_then(|v| v.parse().ok()).unwrap_or(90);
    let bin = arg("--bin").unwrap_or_else(|| "target/release/labelbook".into());
    let dir = std::env::temp_dir().join(format!("labelbook-bench-google-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let google = Emulator::start(Options {
        key_json: KEY.to_vec(),
        sync_token_ttl: Duration::from_secs(7 * 86_400),
        propagation_delay: Duration::ZERO,
        quota: Some((quota, Duration::from_secs(60))),
        oauth_client: None,
    })
    .await;
    let mut key: serde_json::Value = serde_json::from_slice(KEY).expect("key");
    key["token_uri"] = serde_json::json!(format!("{}/token", google.base()));
    let key_path = dir.join("google-key.json");
    std::fs::write(&key_path, key.to_string()).expect("key file");
    println!("Google bridge benchmark: N = {n}, {users} collaborators, quota {quota} mutations/min/user, sqlite");

    let t = Instant::now();
    let label = seed(&dir, n, users, "").await;
    println!("seeded in {:.1} s", t.elapsed().as_secs_f64());
    let names: Vec<String> = (0..users).map(|u| format!("u{u}@example.com")).collect();

    // (1) The initial mirror.
    let t = Instant::now();
    let (mut child, base) = start(&bin, &dir, &key_path, &google, 60);
    let pid = child.id();
    loop {
        if names.iter().all(|u| google.count(u) >= n) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(1800), "initial mirror took more than 30 min");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t.elapsed();
    let (_, mutations, limited) = google.counts();
    let per_user = mutations as f64 / users as f64;
    // The quota lets `quota` mutations through in any minute: the fastest possible is the minutes past the
    // first full window that the remaining mutations need.
    let bound = ((per_user - quota as f64).max(0.0) / quota as f64) * 60.0;
    println!(
        "initial mirror:             {:>9.1} s   ({per_user:.0} mutations per user, quota-bound minimum {bound:.1} s, {limited} answered 429)",
        took.as_secs_f64()
    );

    // (2) Change → visible in every collaborator's Google.
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("owner@example.com:{PASSWORD}")));
    let mut seen = Vec::new();
    // Each change is one mutation per user: under a tight quota, fewer of them, so the quota left by the mirror
    // (not the bridge) does not decide what is measured.
    let changes = 20.min(quota / 2).max(1);
    if per_user > quota as f64 {
        // The mirror used the last minute's quota up: let it go by.
        tokio::time::sleep(Duration::from_secs(61)).await;
    }
    for k in 0..changes {
        let i = k * (n / 20).max(1);
        let tel = format!("+1 777 {k:07}");
        let url = format!("{base}/dav/addressbooks/owner@example.com/{label}/g{i}.vcf");
        let req = http::Request::builder()
            .method("PUT")
            .uri(&url)
            .header("authorization", &auth)
            .header("content-type", "text/vcard")
            .body(Full::new(Bytes::from(card(i, &tel))))
            .expect("request");
        let t = Instant::now();
        let resp = http.request(req).await.expect("PUT");
        assert_eq!(resp.status().as_u16(), 204, "PUT {url}");
        let _ = resp.into_body().collect().await;
        let mut pending: Vec<&String> = names.iter().collect();
        while !pending.is_empty() {
            pending.retain(|u| {
                let done = google.has_phone(u, &tel);
                if done {
                    seen.push(t.elapsed());
                }
                !done
            });
            assert!(t.elapsed() < Duration::from_secs(60), "a change took more than a minute");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    println!(
        "change → visible:           {:>9.1} ms p50, {:.1} ms p99  ({} observations)",
        percentile(seen.clone(), 0.5).as_secs_f64() * 1000.0,
        percentile(seen.clone(), 0.99).as_secs_f64() * 1000.0,
        seen.len()
    );
    let _ = child.kill();
    let _ = child.wait();

    // (3) Idle polling: `idle_users` mirrored users with small labels, polled every 10 s, for 60 s.
    let idle_dir = dir.join("idle");
    std::fs::create_dir_all(&idle_dir).expect("dir");
    seed(&idle_dir, 20, idle_users, "idle-").await;
    let (mut child, _) = start(&bin, &idle_dir, &key_path, &google, 10);
    let pid_idle = child.id();
    let t = Instant::now();
    while (0..idle_users).any(|u| google.count(&format!("idle-u{u}@example.com")) < 20) {
        assert!(t.elapsed() < Duration::from_secs(600), "idle users not mirrored in 10 min");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (before, requests_before) = (cpu_ticks(pid_idle), google.counts().0);
    let window = Duration::from_secs(60);
    tokio::time::sleep(window).await;
    let ticks = cpu_ticks(pid_idle) - before;
    let hz = 100.0;
    println!(
        "{idle_users} users polled idle:      {:>9.2} % of one core, {} MB resident, {} requests to Google in {} s",
        ticks as f64 / hz / window.as_secs_f64() * 100.0,
        util::rss_kb(pid_idle) / 1024,
        google.counts().0 - requests_before,
        window.as_secs()
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = pid;
    let _ = std::fs::remove_dir_all(&dir);
}
