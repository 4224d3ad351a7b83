//! Many devices polling: `--devices` app passwords spread over `--users` accounts, each device polling one book
//! every `--interval` seconds as DAVx5 and iOS do when nothing is pushed: PROPFIND Depth 0 (getctag,
//! sync-token), then a sync-collection with the token it holds. A third of the devices poll their user's My
//! contacts, a third the label the previous user shares with them, a third their combined book (`all/`). Meanwhile `--changes` new cards a
//! second are written to random users' books, so most polls find nothing and some find a change.
//!
//!   cargo run --release --example bench-poll -- [--devices 10000] [--users 2500] [--interval 30] [--secs 60]
//!       [--changes 2] [--bin target/release/labelbook] [--database-url postgres://…/empty-database]
//!
//! Reports the server's CPU over the measured window (% of one core), p50/p99 of each request, and its resident
//! memory. Every device must see every change written before its poll began, exactly once: a poll that
//! misses one (or answers an error) fails the run. The devices are seeded through the library at a low argon2
//! cost (the stored hash carries its parameters, so the server verifies them at that cost too): the first
//! sign-in of 10,000 devices at the default cost would take minutes of CPU and is not what this measures.

#[path = "util.rs"]
mod util;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::{arg, cpu_ticks, ms, percentile, postgres_ticks, rss_kb};

type Http = Client<HttpConnector, Full<Bytes>>;

const PROPFIND: &str = r#"<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>"#;

struct Device {
    user: usize,
    /// The book it polls: its user's My contacts, the label the previous user shares with it, or its combined
    /// book (`all/`), one device in three each.
    book: String,
    /// Whose My contacts' changes it must see (none for the shared label, which is not written to).
    sees: Option<usize>,
    auth: String,
    token: Mutex<String>,
    /// Changes this device has been sent so far.
    seen: AtomicUsize,
}

struct Ctx {
    http: Http,
    base: String,
    emails: Vec<String>,
    devices: Vec<Device>,
    /// Cards written to each user's book during the run (counted once the PUT is answered).
    written: Vec<AtomicUsize>,
    propfind: Mutex<Vec<Duration>>,
    sync: Mutex<Vec<Duration>>,
    errors: AtomicUsize,
    missed: AtomicUsize,
}

impl Ctx {
    async fn send(&self, auth: &str, method: &str, path: &str, depth: &str, body: String) -> (u16, String) {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", auth)
            .header("depth", depth)
            .header("content-type", "application/xml")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        match self.http.request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// One poll of device `d`: the collection's tokens, then what changed since the device's token.
    async fn poll(&self, d: usize, timed: bool) {
        let device = &self.devices[d];
        let book = &device.book;
        let written = |u: Option<usize>| u.map_or(0, |u| self.written[u].load(Ordering::SeqCst));
        let written_before = written(device.sees);
        let t = Instant::now();
        let (status, body) = self.send(&device.auth, "PROPFIND", book, "0", PROPFIND.into()).await;
        let propfind = t.elapsed();
        if status != 207 || !body.contains("getctag>") {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let token = device.token.lock().expect("token").clone();
        let t = Instant::now();
        let (status, body) = self.send(&device.auth, "REPORT", book, "1", sync_body(&token)).await;
        let sync = t.elapsed();
        let Some(next) = status.eq(&207).then(|| between(&body, "sync-token>", "<")).flatten() else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        *device.token.lock().expect("token") = next.to_string();
        let seen = device.seen.fetch_add(body.matches("getetag>").count() / 2, Ordering::SeqCst)
            + body.matches("getetag>").count() / 2;
        // Every card written before this poll began is new to this device (each is a new card), so it must have
        // been sent by now, and none twice.
        let written_after = written(device.sees);
        if timed && (seen < written_before || seen > written_after) && self.missed.fetch_add(1, Ordering::Relaxed) < 3 {
            eprintln!("device {d}: sent {seen} changes, {written_before}..{written_after} written\n{body}");
        }
        if timed {
            self.propfind.lock().expect("times").push(propfind);
            self.sync.lock().expect("times").push(sync);
        }
    }
}

/// Whether a device's book is a label (named by its id) rather than My contacts or the combined book.
fn is_label(book: &str) -> bool {
    !book.ends_with("/contacts/") && !book.ends_with("/all/")
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn card(uid: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Contact {uid}\r\nN:Contact;{uid};;;\r\nEMAIL;TYPE=INTERNET:{uid}@example.com\r\nEND:VCARD\r\n"
    )
}

/// Accounts with a few cards each, a label each shared with the next account, and their devices' app
/// passwords, written through the library; answers the e-mails and, per device, its user, book and Basic
/// credentials.
async fn seed(
    config: labelbook::config::Config,
    users: usize,
    devices: usize,
) -> (Vec<String>, Vec<(usize, String, String)>) {
    use labelbook::service::{Grantee, access::Level};
    let app = labelbook::app::App::open(config).await.expect("app");
    let mut emails = Vec::new();
    let mut creds = Vec::new();
    let mut accounts = Vec::new();
    let mut labels = Vec::new();
    for u in 0..users {
        let email = format!("poll{u}@example.com");
        let user = app.accounts.create_user(&email, "poll-bench-password", false).await.expect("user");
        let view = app.service.open_book(&user, "contacts").await.expect("book");
        let cards: Vec<(String, Vec<u8>)> =
            (0..4).map(|i| (format!("s{i}.vcf"), card(&format!("seed-{u}-{i}")).into_bytes())).collect();
        for r in app.service.put_cards(&view, &cards, &Default::default()).await.expect("cards") {
            r.expect("card");
        }
        for d in (u..devices).step_by(users) {
            let (_, secret) = app.accounts.add_app_password(&user, &format!("device {d}"), "books").await.expect("app");
            creds.push((d, u, format!("{email}:{secret}")));
        }
        labels.push(app.service.create_label(&user, None, "Team", "").await.expect("label").id);
        emails.push(email);
        accounts.push(user);
    }
    for u in 0..users {
        let next = &accounts[(u + 1) % users];
        let to = Grantee::User(next.email.clone());
        let g = app.service.share(&accounts[u], &labels[u], &to, Level::View, true).await.expect("share");
        app.service.respond(next, g.id, true).await.expect("accept");
    }
    app.store.close().await;
    creds.sort();
    let creds = creds
        .into_iter()
        .map(|(d, u, c)| {
            let book = match (d / users) % 3 {
                0 => "contacts".to_string(),
                1 => labels[(u + users - 1) % users].clone(),
                _ => "all".to_string(),
            };
            let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(c));
            (u, format!("/dav/addressbooks/{}/{book}/", emails[u]), auth)
        })
        .collect();
    (emails, creds)
}

#[tokio::main]
async fn main() {
    let devices: usize = arg("--devices").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let users: usize = arg("--users").and_then(|v| v.parse().ok()).unwrap_or(devices.div_ceil(4)).max(1);
    let interval: f64 = arg("--interval").and_then(|v| v.parse().ok()).unwrap_or(30.0);
    let secs: f64 = arg("--secs").and_then(|v| v.parse().ok()).unwrap_or(60.0);
    let changes: f64 = arg("--changes").and_then(|v| v.parse().ok()).unwrap_or(2.0);
    let bin = arg("--bin").unwrap_or_else(|| "target/release/labelbook".into());
    let database_url = arg("--database-url");
    let dir = std::env::temp_dir().join(format!("labelbook-poll-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let seeded = Instant::now();
    let config = labelbook::config::Config {
        data_dir: dir.clone(),
        database_url: database_url.clone(),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        ..Default::default()
    };
    let (emails, creds) = seed(config, users, devices).await;
    let seeded = seeded.elapsed();

    let (mut child, base) = util::spawn_server(&mut util::serve_command(&bin, &dir, database_url.as_deref()));
    let pid = child.id();
    let backend = if database_url.is_some() { "postgres" } else { "sqlite" };
    println!(
        "Polling benchmark: {devices} devices of {users} users every {interval} s for {secs} s, {changes} changes/s, {backend}, server pid {pid} (seeded in {:.1} s)",
        seeded.as_secs_f64()
    );

    let http: Http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build_http();
    let ctx = Arc::new(Ctx {
        http,
        base,
        written: (0..users).map(|_| AtomicUsize::new(0)).collect(),
        devices: creds
            .into_iter()
            .map(|(user, book, auth)| Device {
                user,
                sees: (!is_label(&book)).then_some(user),
                book,
                auth,
                token: Mutex::new(String::new()),
                seen: AtomicUsize::new(0),
            })
            .collect(),
        emails,
        propfind: Mutex::new(Vec::new()),
        sync: Mutex::new(Vec::new()),
        errors: AtomicUsize::new(0),
        missed: AtomicUsize::new(0),
    });

    // Every device signs in and takes its initial sync (16 at a time), as after a restart of every phone.
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (ctx, next) = (ctx.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let d = next.fetch_add(1, Ordering::Relaxed);
                if d >= ctx.devices.len() {
                    break;
                }
                ctx.poll(d, false).await;
                ctx.devices[d].seen.store(0, Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await.expect("initial sync");
    }
    assert_eq!(ctx.errors.load(Ordering::Relaxed), 0, "every device's initial sync must succeed");

    // The measured window: each device polls at its own offset in the interval; writes come at a steady rate.
    let (ticks, pg_ticks) = (cpu_ticks(pid), postgres_ticks());
    let started = Instant::now();
    let window = Duration::from_secs_f64(secs);
    let writer = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if changes <= 0.0 {
                return 0;
            }
            let mut k = 0usize;
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            while started.elapsed() < window {
                let due = Duration::from_secs_f64(k as f64 / changes);
                tokio::time::sleep_until((started + due).into()).await;
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let user = (state % ctx.emails.len() as u64) as usize;
                let auth = &ctx.devices.iter().find(|d| d.user == user).expect("a device").auth;
                let book = format!("/dav/addressbooks/{}/contacts/", ctx.emails[user]);
                let uid = format!("change-{k}");
                let req = http::Request::builder()
                    .method("PUT")
                    .uri(format!("{}{book}{uid}.vcf", ctx.base))
                    .header("authorization", auth)
                    .header("content-type", "text/vcard")
                    .body(Full::new(Bytes::from(card(&uid))))
                    .expect("request");
                let status = ctx.http.request(req).await.map(|r| r.status().as_u16()).unwrap_or(0);
                assert_eq!(status, 201, "a change written during the run");
                ctx.written[user].fetch_add(1, Ordering::SeqCst);
                k += 1;
            }
            k
        })
    };
    let n = ctx.devices.len();
    let mut polls = Vec::new();
    let mut round = 0usize;
    'schedule: loop {
        for d in 0..n {
            let due = Duration::from_secs_f64((round as f64 + d as f64 / n as f64) * interval);
            if due >= window {
                break 'schedule;
            }
            tokio::time::sleep_until((started + due).into()).await;
            let ctx = ctx.clone();
            polls.push(tokio::spawn(async move { ctx.poll(d, true).await }));
        }
        round += 1;
    }
    let written = writer.await.expect("writer");
    let count = polls.len();
    for p in polls {
        p.await.expect("poll");
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - ticks) as f64 / wall;
    let pg_cpu = postgres_ticks().saturating_sub(pg_ticks) as f64 / wall;
    let (errors, missed) = (ctx.errors.load(Ordering::Relaxed), ctx.missed.load(Ordering::Relaxed));
    let propfind = std::mem::take(&mut *ctx.propfind.lock().expect("times"));
    let sync = std::mem::take(&mut *ctx.sync.lock().expect("times"));
    let pg = if database_url.is_some() { format!(" (PostgreSQL {pg_cpu:.1} %)") } else { String::new() };
    println!(
        "{count} polls ({:.0}/s) and {written} changes in {wall:.1} s: server CPU {cpu:.1} % of one core{pg}, {} MB resident",
        count as f64 / wall,
        rss_kb(pid) / 1024
    );
    if !propfind.is_empty() {
        println!(
            "PROPFIND Depth 0:  p50 {}  p99 {}\nsync-collection:   p50 {}  p99 {}",
            ms(percentile(propfind.clone(), 0.5)),
            ms(percentile(propfind, 0.99)),
            ms(percentile(sync.clone(), 0.5)),
            ms(percentile(sync, 0.99)),
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(errors, 0, "every poll must be answered");
    assert_eq!(missed, 0, "every device must be sent every change written before its poll, once");
}
