//! DESIGN §5: a write answered 2xx survives `kill -9` of the server. Runs the real binary, streams PUTs from
//! several clients, kills the process mid-stream, restarts it on the same data, and checks every acknowledged card.

mod common;

use common::*;
use std::sync::{Arc, Mutex};

fn start(db: &TestDb) -> Binary {
    let email = std::ffi::OsStr::new("admin@example.com");
    let password = std::ffi::OsStr::new(PASSWORD);
    Binary::start(db, &[("LABELBOOK_ADMIN_EMAIL", email), ("LABELBOOK_ADMIN_PASSWORD", password)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_puts_survive_sigkill() {
    let db = TestDb::new().await;
    let mut p = start(&db);
    let client = Arc::new(Client::new());
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let book = format!("{}/dav/addressbooks/admin@example.com/contacts/", p.base);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (client, acked, book) = (client.clone(), acked.clone(), book.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}-{i}");
                match client.put(&format!("{book}{name}.vcf"), &vcard3(&name, "Durable")).await {
                    Some(201) => acked.lock().unwrap().push(name),
                    Some(s) => panic!("PUT answered {s}"),
                    None => return,
                }
            }
        }));
    }
    // Kill once a good number of writes were acknowledged, while the stream is still running.
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    p.sigkill();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let p2 = start(&db);
    let book = format!("{}/dav/addressbooks/admin@example.com/contacts/", p2.base);
    let mut missing = Vec::new();
    for name in &acked {
        if client.get_status(&format!("{book}{name}.vcf")).await != Some(200) {
            missing.push(name.clone());
        }
    }
    let mut p2 = p2;
    p2.kill();
    db.drop_db().await;
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged cards lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
}

/// A minimal HTTP/1.1 client whose failures (the server died) are `None` rather than panics.
struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

impl Client {
    fn new() -> Client {
        Client { inner: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http() }
    }

    async fn send(&self, method: &str, url: &str, body: String) -> Option<u16> {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin@example.com:{PASSWORD}"));
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Basic {auth}"))
            .header("content-type", "text/vcard")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .ok()?;
        let resp = self.inner.request(req).await.ok()?;
        let status = resp.status().as_u16();
        use http_body_util::BodyExt;
        resp.into_body().collect().await.ok()?;
        Some(status)
    }

    async fn put(&self, url: &str, card: &str) -> Option<u16> {
        self.send("PUT", url, card.to_string()).await
    }

    async fn get_status(&self, url: &str) -> Option<u16> {
        self.send("GET", url, String::new()).await
    }
}
