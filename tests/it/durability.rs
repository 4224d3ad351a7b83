//! DESIGN §5: a write answered 2xx survives `kill -9` of the server. Runs the real binary, streams PUTs from
//! several clients, kills the process mid-stream, restarts it on the same data, and checks every acknowledged card.

use crate::common::*;
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

    async fn send_json(&self, method: &str, url: &str, body: &str) -> Option<u16> {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin@example.com:{PASSWORD}"));
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Basic {auth}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
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

/// RFC 4918 §11.5 and DESIGN §5: a write the disk has no room for is answered 507 and keeps nothing; once there
/// is room again the next writes commit, and every write ever acknowledged is in the database as a new
/// connection (or a restarted server) reads it. SQLite runs on a real full file system; PostgreSQL gets its
/// disk_full error (SQLSTATE 53100) from a trigger, since its data directory is not the test's to shrink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_507_and_loses_nothing_once_there_is_room() {
    if use_postgres() {
        postgres_disk_full().await;
    } else {
        sqlite_disk_full().await;
    }
}

/// Text that does not compress, so the cards really take their size on disk.
fn noise(len: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(x % 62) as usize] as char
        })
        .collect()
}

fn big_card(name: &str, seed: u64) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{name}\r\nFN:{name}\r\nNOTE:{}\r\nEND:VCARD\r\n", noise(40_000, seed))
}

async fn sqlite_disk_full() {
    let db = TestDb::new().await;
    let dir = db.dir.to_str().unwrap().to_string();
    // The server gets a mount namespace of its own with a 12 MB file system over its data directory; it is gone
    // with the process. (`--map-root-user` lets an unprivileged user mount it too.)
    let mount = r#"mount -t tmpfs -o size=12m labelbook-full "$0" && exec "$@""#;
    let prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, dir.as_str()];
    let email = std::ffi::OsStr::new("admin@example.com");
    let password = std::ffi::OsStr::new(PASSWORD);
    let mut p = Binary::start_through(
        &db,
        &[("LABELBOOK_ADMIN_EMAIL", email), ("LABELBOOK_ADMIN_PASSWORD", password)],
        &prefix,
    );
    // The server's view of its data directory, from outside its namespace.
    let seen = format!("/proc/{}/root{dir}", p.child.id());
    let filler = format!("{seen}/filler");
    std::fs::write(&filler, vec![0u8; 7 << 20]).expect("room for the filler on the server's file system");

    let client = Arc::new(Client::new());
    let book = format!("{}/dav/addressbooks/admin@example.com/contacts/", p.base);
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let statuses: Arc<Mutex<std::collections::BTreeMap<u16, usize>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (client, book, acked, statuses) = (client.clone(), book.clone(), acked.clone(), statuses.clone());
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for i in 0..150u64 {
                let name = format!("full-{w}-{i}");
                let status = client.put(&format!("{book}{name}.vcf"), &big_card(&name, w * 1000 + i)).await;
                let status = status.expect("the server answers while its disk is full");
                *statuses.lock().unwrap().entry(status).or_default() += 1;
                match status {
                    201 => acked.lock().unwrap().push(name),
                    _ => refused += 1,
                }
                if refused == 3 {
                    return;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let while_full = statuses.lock().unwrap().clone();
    assert!(while_full.get(&507).is_some_and(|n| *n >= 8), "every writer should have met a full disk: {while_full:?}");
    assert!(
        while_full.keys().all(|s| *s == 201 || *s == 507),
        "a write the disk had no room for is 507 (RFC 4918 §11.5), nothing else: {while_full:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (client, book, acked) = (client.clone(), book.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..8 {
                let name = format!("room-{w}-{i}");
                let status = client.put(&format!("{book}{name}.vcf"), &vcard3(&name, "Room again")).await;
                assert_eq!(status, Some(201), "a write once there is room again");
                acked.lock().unwrap().push(name);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A write outside the card writer: no connection is left holding the database's write lock.
    let label =
        client.send_json("POST", &format!("{}/api/v1/labels", p.base), r#"{"name":"After the full disk"}"#).await;
    assert_eq!(label, Some(201), "a label made once there is room again");

    // The database as a restarted server would find it: its file and write-ahead log copied out while the server
    // is idle (SQLite resolves symbolic links in a path, so it cannot open them through /proc/PID/root itself).
    let copy = db.dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["labelbook.db", "labelbook.db-wal"] {
        let _ = std::fs::copy(format!("{seen}/{file}"), copy.join(file));
    }
    let mut conn = {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new().filename(copy.join("labelbook.db")).connect().await.unwrap()
    };
    let stored: std::collections::HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT href FROM contacts WHERE deleted_at IS NULL")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let labels: Vec<String> = sqlx::query_scalar("SELECT name FROM labels").fetch_all(&mut conn).await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let lost: Vec<&String> = acked.iter().filter(|n| !stored.contains(&format!("{n}.vcf"))).collect();
    p.kill();
    db.drop_db().await;
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged cards are not in the database: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
    assert_eq!(labels, vec!["After the full disk".to_string()]);
}

async fn postgres_disk_full() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}before.vcf"), &vcard3("before", "Before")).await.assert(201);
    let token = s.sync_token(&ann, &book).await;

    let url = s.db.database_url().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE lbt_disk_full (full_ BOOLEAN NOT NULL)",
        "CREATE FUNCTION lbt_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF EXISTS (SELECT 1 FROM lbt_disk_full) THEN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER lbt_disk_full BEFORE INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION lbt_disk_full()",
        "INSERT INTO lbt_disk_full VALUES (TRUE)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    // Several at once, so some share a group commit.
    let put = |i: usize| {
        let (s, ann, book) = (&s, &ann, &book);
        async move { s.put_card(ann, &format!("{book}full-{i}.vcf"), &vcard3(&format!("full-{i}"), "Full")).await }
    };
    let (a, b, c, d) = tokio::join!(put(0), put(1), put(2), put(3));
    for r in [a, b, c, d] {
        r.assert(507).contains("no room");
    }
    s.put_card(&ann, &format!("{book}before.vcf"), &vcard3("before", "Changed")).await.assert(507);
    let r = api(&s, &ann, "POST", "/contacts", Some(serde_json::json!({"full_name": "Api Full"}))).await;
    r.assert(507);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(s.sync_token(&ann, &book).await, token, "a refused write changes nothing");
    s.as_user(&ann, "GET", &format!("{book}before.vcf"), &[], "").await.assert(200).contains("FN:Before");

    sqlx::query("DELETE FROM lbt_disk_full").execute(&pool).await.unwrap();
    for i in 0..6 {
        s.put_card(&ann, &format!("{book}room-{i}.vcf"), &vcard3(&format!("room-{i}"), "Room")).await.assert(201);
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE deleted_at IS NULL AND href LIKE 'room-%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(stored, 6, "every write acknowledged once there is room is committed");
    s.stop().await;
}
