//! Denial of service, bounded: what a client sends can cost the server only time and memory in proportion to
//! it, and never the other requests' answers. Each test is bounded in count and in time.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Two 1.9 MB vCard 2.1 cards whose parameters never reach a colon but are soft-broken (quoted-printable) a
/// third of a million times each: parsing is linear (these took minutes when each soft break rescanned the
/// line) and runs on the CPU pool, so /healthz answers at once throughout, and the cards get their answer
/// (refused: no value) within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_vcards_are_parsed_in_linear_time_while_the_server_answers() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let card = |uid: &str| {
        format!(
            "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:{uid}\r\nFN:x\r\nNOTE;ENCODING=QUOTED-PRINTABLE{}\r\nEND:VCARD\r\n",
            "ab=\r\n".repeat(380_000)
        )
    };
    let (card_a, card_b) = (card("a"), card("b"));
    let (path_a, path_b) = (format!("{book}a.vcf"), format!("{book}b.vcf"));
    let started = Instant::now();
    let puts = async {
        let (a, b) = tokio::join!(s.put_card(&ann, &path_a, &card_a), s.put_card(&ann, &path_b, &card_b));
        (a.status.as_u16(), b.status.as_u16(), started.elapsed())
    };
    let probes = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..40 {
            let t = Instant::now();
            s.request("GET", "/healthz", None, &[], "").await.assert(200);
            slowest = slowest.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        slowest
    };
    let ((a, b, took), slowest) =
        tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(puts, probes) }).await.expect("bounded");
    assert_eq!((a, b), (403, 403), "a property with no value is not a vCard line (RFC 6350 §3.3)");
    assert!(took < Duration::from_secs(20), "two 1.9 MB cards took {took:?}");
    assert!(slowest < Duration::from_secs(1), "/healthz waited {slowest:?} behind the parsing");
    s.stop().await;
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A hundred wrong passwords at once (the limiter set out of the way) run argon2 at most one per core at a
/// time, each 19 MiB: the server's peak memory grows by tens of megabytes, not by a hundred hashes' worth
/// (1.9 GB), and every guess is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_runs_argon2_a_few_at_a_time() {
    let db = TestDb::new().await;
    let env: Vec<(&str, &std::ffi::OsStr)> = vec![
        ("LABELBOOK_ADMIN_EMAIL", "admin@example.com".as_ref()),
        ("LABELBOOK_ADMIN_PASSWORD", PASSWORD.as_ref()),
        ("LABELBOOK_LOGIN_MAX_FAILURES", "1000".as_ref()),
    ];
    let mut p = Binary::start(&db, &env);
    let pid = p.child.id();
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let guess = |i: usize| {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin@example.com:guess-{i}"));
        let req = http::Request::builder()
            .method("PROPFIND")
            .uri(format!("{}/dav/", p.base))
            .header("authorization", format!("Basic {auth}"))
            .header("depth", "0")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let client = client.clone();
        tokio::spawn(async move { client.request(req).await.map(|r| r.status().as_u16()).unwrap_or(0) })
    };
    // One sign-in first, so what the server holds anyway is in the baseline.
    assert_eq!(guess(0).await.unwrap(), 401);
    let before = peak_rss_mb(pid);
    let started = Instant::now();
    let tasks: Vec<_> = (1..=100).map(guess).collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(tokio::time::timeout(Duration::from_secs(120), t).await.expect("bounded").unwrap());
    }
    let after = peak_rss_mb(pid);
    p.kill();
    db.drop_db().await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert!(
        after - before < 250.0,
        "peak memory grew {before:.0} → {after:.0} MB over 100 sign-ins ({:?})",
        started.elapsed()
    );
}

/// A sign-in to an address with no account takes as long as a wrong password for a real one (a dummy argon2
/// check), so timing does not tell which addresses have accounts. Compared as medians of several tries, with
/// room for a loaded machine: without the dummy check the unknown address answers in a fraction of the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_takes_as_long_to_refuse_as_a_real_one() {
    let s = Server::start_with(|c| c.login_max_failures = 1000).await;
    let ann = s.user("ann@example.com").await;
    let median = |who: String| {
        let s = &s;
        async move {
            let mut times = Vec::new();
            for i in 0..7 {
                let password = format!("guess-{i}");
                let t = Instant::now();
                s.request("PROPFIND", "/dav/", Some((&who, &password)), &[("depth", "0")], "").await.assert(401);
                times.push(t.elapsed());
            }
            times.sort();
            times[3]
        }
    };
    // Warm: the dummy hash is made on first use.
    median("nobody@example.com".into()).await;
    let real = median(ann.clone()).await;
    let unknown = median("nobody@example.com".into()).await;
    assert!(unknown * 2 >= real, "unknown address {unknown:?}, real account {real:?}");
    s.stop().await;
}
