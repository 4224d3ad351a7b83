//! Labelbook benchmark: starts the server binary on fresh data, loads N contacts and times what a sync costs.
//!
//!   cargo run --release --example bench -- --n 10000 [--bin target/release/labelbook] [--database-url postgres://…]
//!
//! Reports PUT throughput (1 and 16 clients), PROPFIND Depth 1, initial sync-collection, delta sync after one
//! change, multiget of 500, the JSON API (a page, a search, an export, an import job), and the server's resident
//! memory. Every request goes over loopback HTTP.

#[path = "util.rs"]
mod util;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{arg, ms, percentile};

type Http = Client<HttpConnector, Full<Bytes>>;

struct Ctx {
    http: Http,
    auth: String,
    book: String,
}

impl Ctx {
    async fn send(&self, method: &str, url: &str, headers: &[(&str, &str)], body: String) -> (u16, Bytes) {
        let mut b = http::Request::builder().method(method).uri(url).header("authorization", &self.auth);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.http.request(b.body(Full::new(Bytes::from(body))).expect("request")).await.expect("response");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    }

    async fn put(&self, i: usize) {
        self.put_as(i, 201).await
    }

    async fn put_as(&self, i: usize, want: u16) {
        let uid = format!("bench-{i:07}");
        let card = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Contact {i}\r\nN:Contact;{i};;;\r\nORG:Company {};\r\nEMAIL;TYPE=INTERNET:{uid}@example.com\r\nTEL;TYPE=CELL:+1 555 {:07}\r\nEND:VCARD\r\n",
            i % 97,
            i
        );
        let (status, _) =
            self.send("PUT", &format!("{}{uid}.vcf", self.book), &[("content-type", "text/vcard")], card).await;
        assert_eq!(status, want, "PUT {uid}");
    }
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

async fn timed<F, Fut>(runs: usize, f: F) -> Vec<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

#[tokio::main]
async fn main() {
    let n: usize = arg("--n").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let bin = arg("--bin").unwrap_or_else(|| "target/release/labelbook".into());
    let database_url = arg("--database-url");
    let dir = std::env::temp_dir().join(format!("labelbook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut cmd = util::serve_command(&bin, &dir, database_url.as_deref());
    cmd.env("LABELBOOK_ADMIN_EMAIL", "bench@example.com").env("LABELBOOK_ADMIN_PASSWORD", "bench-password");
    let (mut child, base) = util::spawn_server(&mut cmd);
    let pid = child.id();

    let auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bench@example.com:bench-password"));
    let http: Http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(32).build_http();
    let ctx = Arc::new(Ctx { http, auth, book: format!("{base}/dav/addressbooks/bench@example.com/contacts/") });
    let backend = if database_url.is_some() { "postgres" } else { "sqlite" };
    println!("Labelbook benchmark: N = {n}, {backend}, server pid {pid}");

    // PUT, one client.
    let single = n.min(2_000);
    let t = Instant::now();
    let mut each = Vec::with_capacity(single);
    for i in 0..single {
        let one = Instant::now();
        ctx.put(i).await;
        each.push(one.elapsed());
    }
    let put1 = single as f64 / t.elapsed().as_secs_f64();
    println!(
        "PUT, 1 client:              {put1:>9.0} /s  ({single} cards; p50 {}, p99 {})",
        ms(percentile(each.clone(), 0.5)),
        ms(percentile(each, 0.99))
    );

    // PUT, 16 clients, for the rest.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(single));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (ctx, next) = (ctx.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                ctx.put(i).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let loaded = n.saturating_sub(single);
    if loaded > 0 {
        let put16 = loaded as f64 / t.elapsed().as_secs_f64();
        println!("PUT, 16 clients:            {put16:>9.0} /s  ({loaded} cards)");
    }

    let propfind = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop></d:propfind>"#;
    let runs = if n > 50_000 { 5 } else { 15 };
    let d = timed(runs, || async {
        let (s, body) = ctx.send("PROPFIND", &ctx.book, &[("depth", "1")], propfind.into()).await;
        assert_eq!(s, 207);
        assert!(body.len() > n * 50);
    })
    .await;
    println!(
        "PROPFIND Depth 1:           {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );

    // RFC 4331 quota-used-bytes of the whole book, as DAVx5 asks for it with the collection's properties.
    let quota = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:quota-used-bytes/><d:sync-token/></d:prop></d:propfind>"#;
    let d = timed(50, || async {
        let (s, body) = ctx.send("PROPFIND", &ctx.book, &[("depth", "0")], quota.into()).await;
        assert_eq!(s, 207);
        assert!(String::from_utf8_lossy(&body).contains("quota-used-bytes>"));
    })
    .await;
    println!(
        "PROPFIND Depth 0, quota:    {:>12} p50  ({} p99)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.99))
    );

    let sync = |token: &str, data: bool| {
        let prop = if data { "<d:getetag/><C:address-data/>" } else { "<d:getetag/>" };
        format!(
            r#"<d:sync-collection xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop>{prop}</d:prop></d:sync-collection>"#
        )
    };
    let d = timed(runs, || async {
        let (s, _) = ctx.send("REPORT", &ctx.book, &[("depth", "1")], sync("", false)).await;
        assert_eq!(s, 207);
    })
    .await;
    println!(
        "initial sync (etags):       {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );
    let d = timed(runs, || async {
        let (s, _) = ctx.send("REPORT", &ctx.book, &[("depth", "1")], sync("", true)).await;
        assert_eq!(s, 207);
    })
    .await;
    println!(
        "initial sync (with cards):  {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );

    // Delta after one change: a token from just before one PUT.
    let (_, body) = ctx.send("REPORT", &ctx.book, &[("depth", "1")], sync("", false)).await;
    let body = String::from_utf8_lossy(&body);
    let token = body.split("<d:sync-token>").nth(1).and_then(|s| s.split('<').next()).expect("token").to_string();
    ctx.put(n + 1).await;
    let d = timed(200, || async {
        let (s, body) = ctx.send("REPORT", &ctx.book, &[("depth", "1")], sync(&token, false)).await;
        assert_eq!(s, 207);
        assert_eq!(String::from_utf8_lossy(&body).matches("<d:getetag>").count(), 1);
    })
    .await;
    println!(
        "delta sync, 1 change:       {:>12} p50  ({} p99)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.99))
    );

    let hrefs: String =
        (0..500.min(n)).map(|k| format!("<d:href>{}bench-{:07}.vcf</d:href>", ctx.book, (k * 7919) % n)).collect();
    let multiget = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop>{hrefs}</C:addressbook-multiget>"#
    );
    let d = timed(20, || async {
        let (s, body) = ctx.send("REPORT", &ctx.book, &[("depth", "1")], multiget.clone()).await;
        assert_eq!(s, 207);
        assert_eq!(String::from_utf8_lossy(&body).matches("BEGIN:VCARD").count(), 500.min(n));
    })
    .await;
    println!(
        "multiget of 500:            {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );

    // The JSON API as the dashboard uses it: a page by name, a search, an export, an import job.
    let api = format!("{base}/api/v1");
    let d = timed(runs, || async {
        let (s, _) = ctx.send("GET", &format!("{api}/contacts?limit=100"), &[], String::new()).await;
        assert_eq!(s, 200);
    })
    .await;
    println!(
        "API page of 100 by name:    {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );
    let d = timed(runs, || async {
        let (s, _) = ctx.send("GET", &format!("{api}/contacts?limit=100&sort=recent"), &[], String::new()).await;
        assert_eq!(s, 200);
    })
    .await;
    println!(
        "API page of 100 by change:  {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );
    let d = timed(runs, || async {
        let (s, _) = ctx.send("GET", &format!("{api}/contacts?limit=100&q=555%20004"), &[], String::new()).await;
        assert_eq!(s, 200);
    })
    .await;
    println!(
        "API search (phone digits):  {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );
    let d = timed(3, || async {
        let (s, body) = ctx.send("GET", &format!("{api}/export"), &[], String::new()).await;
        assert_eq!(s, 200);
        assert!(body.len() > n * 100);
    })
    .await;
    println!(
        "API export .vcf (all):      {:>12} p50  ({} min)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );
    // One imported card in a hundred has the address of a card already there: duplicates to find below.
    let email = |i: usize| {
        if i.is_multiple_of(100) { format!("bench-{i:07}@example.com") } else { format!("imp{i}@example.com") }
    };
    let file: String = (0..n)
        .map(|i| format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:imp-{i:07}\r\nFN:Imported {i}\r\nN:Imported;{i};;;\r\nEMAIL:{}\r\nEND:VCARD\r\n", email(i)))
        .collect();
    let t = Instant::now();
    let (s, body) = ctx.send("POST", &format!("{api}/imports"), &[("content-type", "text/vcard")], file).await;
    assert_eq!(s, 202, "{}", String::from_utf8_lossy(&body));
    let job: serde_json::Value = serde_json::from_slice(&body).expect("job");
    let url = format!("{api}/imports/{}", job["id"]);
    loop {
        let (_, body) = ctx.send("GET", &url, &[], String::new()).await;
        let job: serde_json::Value = serde_json::from_slice(&body).expect("job");
        if job["status"] != "running" {
            assert_eq!(job["created"].as_u64(), Some(n as u64), "{job}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("API import job ({n} new):   {rate:>9.0} /s  ({})", ms(t.elapsed()));

    // Likely duplicates among everything: the cards above and the imported ones (one pair per hundred).
    let pairs = n.div_ceil(100).min(500);
    let d = timed(3, || async {
        let (s, body) = ctx.send("GET", &format!("{api}/duplicates"), &[], String::new()).await;
        assert_eq!(s, 200);
        let found: serde_json::Value = serde_json::from_slice(&body).expect("duplicates");
        // The cards above, the imported ones, and the odd card the steps before left.
        let compared = found["compared"].as_u64().unwrap_or(0);
        assert!((2 * n as u64..2 * n as u64 + 10).contains(&compared), "compared {compared}");
        assert_eq!(found["items"].as_array().map(Vec::len), Some(pairs), "pairs");
    })
    .await;
    println!(
        "API duplicates ({} contacts): {:>10} p50  ({} min)",
        2 * n,
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );

    // The combined book (a Mac's one book): everything above plus a label of 1,000 shared by a peer.
    let (s, body) = ctx
        .send(
            "POST",
            &format!("{api}/admin/users"),
            &[("content-type", "application/json")],
            r#"{"email":"peer@example.com"}"#.into(),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let made: serde_json::Value = serde_json::from_slice(&body).expect("user");
    let peer_password = made["password"].as_str().expect("password").to_string();
    let peer = Ctx {
        http: ctx.http.clone(),
        auth: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("peer@example.com:{peer_password}"))
        ),
        book: String::new(),
    };
    let (_, body) = peer
        .send("POST", &format!("{api}/labels"), &[("content-type", "application/json")], r#"{"name":"Shared"}"#.into())
        .await;
    let label: serde_json::Value = serde_json::from_slice(&body).expect("label");
    let label_id = label["id"].as_str().expect("id").to_string();
    let peer = Arc::new(Ctx { book: format!("{base}/dav/addressbooks/peer@example.com/{label_id}/"), ..peer });
    let shared = 1_000;
    let mut tasks = Vec::new();
    for w in 0..16 {
        let peer = peer.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..shared).step_by(16) {
                peer.put(5_000_000 + i).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("put task");
    }
    let grant = r#"{"grantee":"bench@example.com","level":"edit"}"#.to_string();
    let (s, body) = peer
        .send("POST", &format!("{api}/labels/{label_id}/grants"), &[("content-type", "application/json")], grant)
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let g: serde_json::Value = serde_json::from_slice(&body).expect("grant");
    let (s, _) = ctx.send("POST", &format!("{api}/invitations/{}/accept", g["id"]), &[], String::new()).await;
    assert_eq!(s, 200);
    let all = format!("{base}/dav/addressbooks/bench@example.com/all/");
    let total = 2 * n + 1 + shared;
    let d = timed(runs, || async {
        let (s, body) = ctx.send("REPORT", &all, &[("depth", "1")], sync("", false)).await;
        assert_eq!(s, 207);
        assert_eq!(
            String::from_utf8_lossy(&body).matches("<d:getetag>").count(),
            total + 1,
            "every card and the label's group"
        );
    })
    .await;
    println!(
        "combined book initial sync: {:>12} p50  ({} min, {total} cards + 1 group)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.0))
    );
    let (_, body) = ctx.send("REPORT", &all, &[("depth", "1")], sync("", false)).await;
    let body = String::from_utf8_lossy(&body);
    let token = body.split("<d:sync-token>").nth(1).and_then(|s| s.split('<').next()).expect("token").to_string();
    peer.put_as(5_000_000, 204).await;
    let d = timed(200, || async {
        let (s, body) = ctx.send("REPORT", &all, &[("depth", "1")], sync(&token, false)).await;
        assert_eq!(s, 207);
        // The shared card and its label's group card.
        assert_eq!(String::from_utf8_lossy(&body).matches("<d:getetag>").count(), 2);
    })
    .await;
    println!(
        "combined delta, 1 change:   {:>12} p50  ({} p99)",
        ms(percentile(d.clone(), 0.5)),
        ms(percentile(d, 0.99))
    );

    parse_throughput();

    println!(
        "server RSS now:             {:>9.1} MB  (peak {:.1} MB)",
        rss_kb(pid, "VmRSS:") as f64 / 1024.0,
        rss_kb(pid, "VmHWM:") as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The parsers' throughput on ordinary and adversarial input, in this process (no server): every parser is
/// linear, so hostile input runs at the speed of ordinary input. Fails below a floor far under what a linear
/// parser does here, and far above what a quadratic one did (a 2 MB card of soft breaks took 44 s).
fn parse_throughput() {
    const FLOOR_MB_S: f64 = 20.0;
    let ordinary: Vec<String> = (0..2_000)
        .map(|i| format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nEMAIL;TYPE=INTERNET:p{i}@example.com\r\nTEL;TYPE=CELL:+1 555 {i:04}\r\nORG:Example Ltd\r\nNOTE:a note that is long enough to be folded somewhere along its way across the line\r\n  and continued here\r\nEND:VCARD\r\n"))
        .collect();
    let soft_breaks = format!(
        "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:q\r\nFN:x\r\nNOTE;ENCODING=QUOTED-PRINTABLE{}:x\r\nEND:VCARD\r\n",
        "ab=\r\n".repeat(380_000)
    );
    let multiget = format!(
        "<C:addressbook-multiget xmlns:d=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:carddav\"><d:prop><d:getetag/><C:address-data/></d:prop>{}</C:addressbook-multiget>",
        (0..20_000)
            .map(|i| format!("<d:href>/dav/addressbooks/bench@example.com/contacts/card-{i}.vcf</d:href>"))
            .collect::<String>()
    );
    let rate = |name: &str, bytes: usize, run: &dyn Fn()| {
        let t = Instant::now();
        let mut rounds = 0;
        while rounds < 3 || t.elapsed() < Duration::from_millis(500) {
            run();
            rounds += 1;
        }
        let mb_s = (bytes * rounds) as f64 / 1e6 / t.elapsed().as_secs_f64();
        println!("parse {name:<22} {mb_s:>9.0} MB/s");
        assert!(mb_s >= FLOOR_MB_S, "{name}: {mb_s:.1} MB/s is under {FLOOR_MB_S} MB/s");
    };
    let total: usize = ordinary.iter().map(String::len).sum();
    rate("vCard, 2,000 cards:", total, &|| {
        for c in &ordinary {
            labelbook::vcard::validate(c.as_bytes(), 2_000).expect("a valid card");
        }
    });
    rate("vCard, soft breaks:", soft_breaks.len(), &|| {
        let _ = labelbook::vcard::validate(soft_breaks.as_bytes(), 2_000);
    });
    rate("XML, 20,000 hrefs:", multiget.len(), &|| {
        labelbook::dav::xml::parse(multiget.as_bytes()).expect("a valid body");
    });
}
