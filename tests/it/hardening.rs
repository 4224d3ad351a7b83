//! Denial of service, bounded: what a client sends can cost the server only time and memory in proportion to
//! it, and never the other requests' answers. Each test is bounded in count and in time.

use crate::common::*;
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

/// Whether the server closed this connection within `within` (a read sees the end, or a reset).
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Slowloris, idle and slow-body connections, bounded (RFC 9110 §15.5.9): a head that never ends and an idle
/// keep-alive connection are closed after the header timeout, a body that stalls gets 408, one address holds
/// at most its share of connections (the next is closed at once), and a normal request is answered throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_bounded_in_time_and_number() {
    use tokio::io::AsyncWriteExt;
    let s = Server::start_with(|c| {
        c.header_timeout_secs = 1;
        c.body_idle_secs = 1;
        c.max_connections_per_address = 20;
    })
    .await;
    let ann = s.user("ann@example.com").await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // Fifteen slowloris heads that never end.
    let mut slow = Vec::new();
    for _ in 0..15 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        slow.push(c);
    }
    // A sign-in body that stalls after a few bytes.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
        .await
        .unwrap();
    // The address is near its cap: four more fit (the test client holds at most one), the next is refused.
    let mut extra = Vec::new();
    for _ in 0..3 {
        extra.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    s.request("GET", "/healthz", None, &[], "").await.assert(200);
    let mut refused = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut refused_again = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let over_cap = closed_within(&mut refused, Duration::from_millis(500)).await
        || closed_within(&mut refused_again, Duration::from_millis(500)).await;
    assert!(over_cap, "a connection past the address's cap is closed at once");

    // The stalled body: 408, then the connection closes.
    let mut answer = Vec::new();
    {
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut answer)).await;
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
    // Slowloris heads and idle connections end after the header timeout.
    for (i, c) in slow.iter_mut().chain(extra.iter_mut()).enumerate() {
        assert!(closed_within(c, Duration::from_secs(4)).await, "connection {i} outlived the header timeout");
    }
    drop((slow, extra, refused, refused_again));
    // A keep-alive connection left idle after its answer ends too.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut kept, Duration::from_secs(4)).await, "an idle keep-alive connection stayed open");
    // Places came back: normal requests go on.
    s.as_user(&ann, "PROPFIND", &contacts(&ann), &[("depth", "0")], "").await.assert(207);
    s.stop().await;
}

/// A dashboard sign-in as a proxy would pass it on: over HTTPS, for a client at `from`.
async fn forwarded_sign_in(s: &Server, who: &str, password: &str, from: &str) -> Resp {
    let body = serde_json::json!({"email": who, "password": password}).to_string();
    let headers = [
        ("content-type", "application/json"),
        ("sec-fetch-mode", "cors"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", from),
    ];
    s.request("POST", "/api/v1/session", None, &headers, body).await
}

/// X-Forwarded-Proto and X-Forwarded-For are believed only from a configured proxy: anyone else can neither
/// make the session cookie claim HTTPS nor dodge the sign-in limits by naming other addresses; behind the
/// proxy, each client's own address is what the limits count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    for trusted in [false, true] {
        let s = Server::start_with(|c| {
            c.login_max_failures = 3;
            if trusted {
                c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        })
        .await;
        let ann = s.user("ann@example.com").await;
        let r = forwarded_sign_in(&s, &ann, PASSWORD, "203.0.113.1").await;
        let cookie = r.assert(201).header("set-cookie").unwrap().to_string();
        assert_eq!(cookie.contains("; Secure"), trusted, "{cookie}");
        for _ in 0..3 {
            forwarded_sign_in(&s, &ann, "wrong", "203.0.113.10").await.assert(401);
        }
        // A fourth try "from" another address: behind the proxy it is another client; without the proxy the
        // header is the client's own say and changes nothing.
        let r = forwarded_sign_in(&s, &ann, "still-wrong", "198.51.100.99").await;
        r.assert(if trusted { 401 } else { 429 });
        s.stop().await;
    }
}
