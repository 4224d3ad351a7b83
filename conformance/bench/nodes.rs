//! Several nodes on one PostgreSQL: 1, 2 and 3 `serve` processes of the release binary on a fresh database each
//! time, with a client-side round robin in front (no load balancer to install).
//!
//!   cargo run --release --example bench-nodes -- [--bin target/release/labelbook]
//!       [--database-url postgres://postgres@127.0.0.1:5432/test] [--cards 4000] [--nodes 1,2,3]
//!
//! For each count: PUT throughput with 16 clients and its p50/p99 (errors fail the run), CPU time per PUT on the
//! nodes and on PostgreSQL, a delta sync-collection after one change p50/p99, and how long a change written on
//! one node takes to reach a live page (`/api/v1/events`) open on another, p50/p99. The database named by
//! `--database-url` is only used to create and drop `lbbench_nodes`.

#[path = "util.rs"]
mod util;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use util::{arg, cpu_ticks, ms, percentile, postgres_ticks};

type Http = Client<HttpConnector, Full<Bytes>>;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench-password";
const DB: &str = "lbbench_nodes";

/// The servers, stopped however the benchmark ends.
struct Nodes(Vec<std::process::Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Ctx {
    http: Http,
    auth: String,
    bases: Vec<String>,
}

impl Ctx {
    async fn send(
        &self,
        node: usize,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> (u16, Bytes) {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.bases[node % self.bases.len()]))
            .header("authorization", &self.auth);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.http.request(b.body(Full::new(Bytes::from(body))).expect("request")).await.expect("response");
        let status = resp.status().as_u16();
        (status, resp.into_body().collect().await.expect("body").to_bytes())
    }

    async fn put(&self, node: usize, i: usize) -> u16 {
        let uid = format!("n-{i:07}");
        let card = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Contact {i}\r\nN:Contact;{i};;;\r\nEMAIL;TYPE=INTERNET:{uid}@example.com\r\nTEL;TYPE=CELL:+1 555 {i:07}\r\nEND:VCARD\r\n"
        );
        let path = format!("/dav/addressbooks/{EMAIL}/contacts/{uid}.vcf");
        self.send(node, "PUT", &path, &[("content-type", "text/vcard")], card).await.0
    }
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

fn psql(admin_url: &str, sql: &str) {
    let ok = Command::new("psql").args([admin_url, "-qc", sql]).status().is_ok_and(|s| s.success());
    assert!(ok, "psql {sql}");
}

fn start(bin: &str, url: &str, n: usize) -> (Nodes, Vec<String>) {
    let mut nodes = Nodes(Vec::new());
    let mut bases = Vec::new();
    for i in 0..n {
        let dir = std::env::temp_dir().join(format!("labelbook-nodes-{}-{i}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&dir)
            .env("LABELBOOK_DATABASE_URL", url)
            .env("LABELBOOK_ADMIN_EMAIL", EMAIL)
            .env("LABELBOOK_ADMIN_PASSWORD", PASSWORD)
            .env("LABELBOOK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let (child, base) = util::spawn_server(&mut cmd);
        nodes.0.push(child);
        bases.push(base);
    }
    (nodes, bases)
}

/// Opens the live page's event stream on `node` and sends the time each `contacts` event arrives.
async fn listen(ctx: &Ctx, node: usize) -> tokio::sync::mpsc::UnboundedReceiver<Instant> {
    let req = http::Request::builder()
        .uri(format!("{}/api/v1/events", ctx.bases[node]))
        .header("authorization", &ctx.auth)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = ctx.http.request(req).await.expect("events");
    assert_eq!(resp.status(), 200);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut body = resp.into_body();
    tokio::spawn(async move {
        let mut pending = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else { continue };
            let at = Instant::now();
            pending.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = pending.find("\n\n") {
                if pending[..end].contains("event: contacts") && tx.send(at).is_err() {
                    return;
                }
                pending.drain(..end + 2);
            }
        }
    });
    rx
}

async fn run(bin: &str, admin_url: &str, url: &str, n: usize, cards: usize) {
    psql(admin_url, &format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"));
    psql(admin_url, &format!("CREATE DATABASE {DB}"));
    let (nodes, bases) = start(bin, url, n);
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{PASSWORD}")));
    let http: Http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(32).build_http();
    let ctx = Arc::new(Ctx { http, auth, bases });
    for i in 0..50 {
        assert_eq!(ctx.put(i, 1_000_000 + i).await, 201, "warm-up PUT");
    }

    let pids: Vec<u32> = nodes.0.iter().map(|c| c.id()).collect();
    let (nodes_before, pg_before) = (pids.iter().map(|p| cpu_ticks(*p)).sum::<u64>(), postgres_ticks());
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (ctx, next, errors) = (ctx.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cards {
                    return times;
                }
                let t = Instant::now();
                if ctx.put(i, i).await != 201 {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                times.push(t.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.expect("writer"));
    }
    let wall = started.elapsed();
    let nodes_cpu = (pids.iter().map(|p| cpu_ticks(*p)).sum::<u64>() - nodes_before) as f64 * 10.0 / cards as f64;
    let pg_cpu = (postgres_ticks().saturating_sub(pg_before)) as f64 * 10.0 / cards as f64;
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "{n} node(s)  PUT 16 clients: {:>6.0} /s  p50 {} p99 {}  errors {errors}  CPU per PUT: nodes {nodes_cpu:.2} ms, PostgreSQL {pg_cpu:.2} ms",
        cards as f64 / wall.as_secs_f64(),
        ms(percentile(times.clone(), 0.5)),
        ms(percentile(times, 0.99)),
    );
    assert_eq!(errors, 0, "every PUT must succeed");

    let book = format!("/dav/addressbooks/{EMAIL}/contacts/");
    let (_, body) = ctx.send(0, "REPORT", &book, &[("depth", "1")], sync_body("")).await;
    let body = String::from_utf8_lossy(&body);
    let token = body.split("<d:sync-token>").nth(1).and_then(|s| s.split('<').next()).expect("token").to_string();
    assert_eq!(ctx.put(0, 2_000_000).await, 201);
    let mut deltas = Vec::new();
    for k in 0..100 {
        let t = Instant::now();
        let (s, body) = ctx.send(k, "REPORT", &book, &[("depth", "1")], sync_body(&token)).await;
        deltas.push(t.elapsed());
        assert_eq!(s, 207);
        assert_eq!(String::from_utf8_lossy(&body).matches("<d:getetag>").count(), 1, "one change on every node");
    }

    let mut heard = Vec::new();
    for node in 0..n {
        heard.push(listen(&ctx, node).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut reach = Vec::new();
    for j in 0..60 {
        let (writer, reader) = (j % n, (j + 1) % n);
        while heard[reader].try_recv().is_ok() {}
        let t = Instant::now();
        assert_eq!(ctx.put(writer, 3_000_000 + j).await, 201);
        let at = tokio::time::timeout(Duration::from_secs(5), heard[reader].recv())
            .await
            .expect("the other node's live page hears the change within 5 s")
            .expect("stream open");
        reach.push(at.saturating_duration_since(t));
    }
    println!(
        "{n} node(s)  delta sync: p50 {} p99 {}   written on one node → live page on {}: p50 {} p99 {}",
        ms(percentile(deltas.clone(), 0.5)),
        ms(percentile(deltas, 0.99)),
        if n > 1 { "another" } else { "the same" },
        ms(percentile(reach.clone(), 0.5)),
        ms(percentile(reach, 0.99)),
    );
    drop(nodes);
    for i in 0..n {
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("labelbook-nodes-{}-{i}", std::process::id())));
    }
    psql(admin_url, &format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"));
}

#[tokio::main]
async fn main() {
    let bin = arg("--bin").unwrap_or_else(|| "target/release/labelbook".into());
    let admin_url = arg("--database-url").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let cards: usize = arg("--cards").and_then(|v| v.parse().ok()).unwrap_or(4_000);
    let counts: Vec<usize> =
        arg("--nodes").unwrap_or_else(|| "1,2,3".into()).split(',').filter_map(|c| c.trim().parse().ok()).collect();
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{DB}"),
        None => panic!("--database-url must end in a database name"),
    };
    println!("Labelbook on several nodes: {cards} PUTs per run, one PostgreSQL, client-side round robin");
    for n in counts {
        run(&bin, &admin_url, &url, n, cards).await;
    }
}
