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
