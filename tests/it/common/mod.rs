//! Test harness: a Labelbook server on an ephemeral port, in-process, on SQLite (default) or PostgreSQL
//! (`LABELBOOK_TEST_BACKEND=postgres`, database server from `LABELBOOK_TEST_PG`), plus a small HTTP client.
#![allow(dead_code)]

pub mod push_service;
pub mod smtp;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use labelbook::app::App;
use labelbook::config::Config;
pub use labelbook::service::admin::Admin;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const PASSWORD: &str = "password-123";

pub fn pg_admin_url() -> String {
    std::env::var("LABELBOOK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn use_postgres() -> bool {
    std::env::var("LABELBOOK_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// For tests marked `#[ignore = "PostgreSQL only …"]`: run on SQLite anyway, they fail instead of passing
/// without testing anything.
#[track_caller]
pub fn require_postgres() {
    assert!(use_postgres(), "this test needs PostgreSQL: LABELBOOK_TEST_BACKEND=postgres");
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{}", std::process::id(), nanos % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh place for one test's data: a temporary directory (SQLite) or a new PostgreSQL database.
pub struct TestDb {
    pub dir: PathBuf,
    pub pg_db: Option<String>,
    /// Set once `drop_db` removed everything, so dropping does not do it again.
    removed: std::sync::atomic::AtomicBool,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = std::env::temp_dir().join(unique("labelbook-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let pg_db = if use_postgres() {
            let name = unique("lbt");
            let pool = sqlx::PgPool::connect(&pg_admin_url()).await.expect("PostgreSQL for tests");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
            pool.close().await;
            Some(name)
        } else {
            None
        };
        TestDb { dir, pg_db, removed: Default::default() }
    }

    pub fn database_url(&self) -> Option<String> {
        self.pg_db.as_ref().map(|db| {
            let admin = pg_admin_url();
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
            format!("{base}/{db}")
        })
    }

    pub fn config(&self) -> Config {
        Config {
            data_dir: self.dir.clone(),
            database_url: self.database_url(),
            listen: "127.0.0.1:0".into(),
            ..Config::default()
        }
    }

    /// Removes the data directory and the PostgreSQL database now (dropping the `TestDb` does the same).
    pub async fn drop_db(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = &self.pg_db {
            drop_pg_database(name).await;
        }
        self.removed.store(true, Ordering::Relaxed);
    }
}

async fn drop_pg_database(name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(&pg_admin_url()).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

impl TestDb {
    /// Runs one statement on the test's database behind the server's back (over a connection of its own), with
    /// `bytes` bound to `$1` when given: what a hand edit, an old version or a bad migration leaves behind.
    pub async fn behind_the_back(&self, sql: &str, bytes: Option<&[u8]>) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let bytes = bytes.map(<[u8]>::to_vec);
        match self.database_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                let q = sqlx::query(sql);
                match bytes {
                    Some(b) => q.bind(b).execute(&pool).await.unwrap(),
                    None => q.execute(&pool).await.unwrap(),
                };
                pool.close().await;
            }
            None => {
                let url = format!("sqlite://{}", self.dir.join("labelbook.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let q = sqlx::query(sql);
                match bytes {
                    Some(b) => q.bind(b).execute(&pool).await.unwrap(),
                    None => q.execute(&pool).await.unwrap(),
                };
                pool.close().await;
            }
        }
    }
}

/// A test that fails (panics) before its cleanup still leaves nothing behind: no directory, no database.
impl Drop for TestDb {
    fn drop(&mut self) {
        if self.removed.load(Ordering::Relaxed) {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.pg_db.take() {
            // Drop cannot await, and may run inside the test's runtime: a thread with a runtime of its own can.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_pg_database(&name));
                }
            })
            .join();
        }
    }
}

pub struct Server {
    pub base: String,
    pub app: Arc<App>,
    pub db: TestDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
    pub bytes: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag header").to_string()
    }

    #[track_caller]
    pub fn assert(&self, status: u16) -> &Resp {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body:\n{}", self.body);
        self
    }

    #[track_caller]
    pub fn contains(&self, needle: &str) -> &Resp {
        assert!(self.body.contains(needle), "expected {needle:?} in:\n{}", self.body);
        self
    }

    #[track_caller]
    pub fn lacks(&self, needle: &str) -> &Resp {
        assert!(!self.body.contains(needle), "did not expect {needle:?} in:\n{}", self.body);
        self
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let db = TestDb::new().await;
        let mut config = db.config();
        tweak(&mut config);
        let app = Arc::new(App::open(config).await.expect("app opens"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(labelbook::http::serve(app.clone(), listener, None, async {
            let _ = rx.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Server { base, app, db, stop: Some(tx), task: Some(task), client }
    }

    /// Creates a user with the test password.
    pub async fn user(&self, email: &str) -> String {
        self.app.accounts.create_user(email, PASSWORD, false).await.unwrap();
        email.to_string()
    }

    /// Creates a user with the test password and returns the account's record.
    pub async fn new_user(&self, email: &str) -> labelbook::store::User {
        self.user(email).await;
        self.record(email).await
    }

    /// The record of an existing account.
    pub async fn record(&self, email: &str) -> labelbook::store::User {
        self.app.store.user_by_email(email).await.unwrap().unwrap_or_else(|| panic!("no account {email}"))
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        user: Option<(&str, &str)>,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{}", self.base, path) };
        let mut b = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(url);
        if let Some((u, p)) = user {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            b = b.header("authorization", format!("Basic {token}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.client.request(b.body(Full::new(body.into())).unwrap()).await.expect("request");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Resp { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes }
    }

    /// A GET whose body is read as it arrives (server-sent events).
    pub async fn open_stream(&self, path: &str, user: Option<&str>, headers: &[(&str, &str)]) -> Stream {
        let mut b = Request::builder().method(Method::GET).uri(format!("{}{}", self.base, path));
        if let Some(u) = user {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{PASSWORD}"));
            b = b.header("authorization", format!("Basic {token}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.client.request(b.body(Full::new(Bytes::new())).unwrap()).await.expect("request");
        let (parts, body) = resp.into_parts();
        Stream { status: parts.status, headers: parts.headers, body, text: String::new() }
    }

    /// A request as `user` (with the test password).
    pub async fn as_user(
        &self,
        user: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        self.request(method, path, Some((user, PASSWORD)), headers, body).await
    }

    pub async fn put_card(&self, user: &str, path: &str, card: &str) -> Resp {
        self.as_user(user, "PUT", path, &[("content-type", "text/vcard; charset=utf-8")], card.to_string()).await
    }

    pub async fn propfind(&self, user: &str, path: &str, depth: &str, body: &str) -> Resp {
        self.as_user(user, "PROPFIND", path, &[("depth", depth), ("content-type", "application/xml")], body.to_string())
            .await
    }

    pub async fn report(&self, user: &str, path: &str, body: &str) -> Resp {
        self.as_user(user, "REPORT", path, &[("depth", "1"), ("content-type", "application/xml")], body.to_string())
            .await
    }

    /// A REPORT with Depth 0 (the reports on principals are defined for no other, RFC 3744 §9.4).
    pub async fn report0(&self, user: &str, path: &str, body: &str) -> Resp {
        self.as_user(user, "REPORT", path, &[("depth", "0"), ("content-type", "application/xml")], body.to_string())
            .await
    }

    /// The collection's current sync-token, read through PROPFIND.
    pub async fn sync_token(&self, user: &str, book: &str) -> String {
        let r = self
            .propfind(user, book, "0", r#"<d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>"#)
            .await;
        r.assert(207);
        between(&r.body, "<d:sync-token>", "</d:sync-token>").expect("a sync-token").to_string()
    }

    /// Stops serving, waits for requests in flight, closes the database, and removes it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.app.store.close().await;
        self.db.drop_db().await;
    }
}

/// A test that panics before `stop` still stops its server (and `TestDb`'s drop then removes its data).
impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

pub struct Stream {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    body: hyper::body::Incoming,
    /// Everything read so far.
    pub text: String,
}

impl Stream {
    /// Reads until the text read so far, after `from`, contains `needle`, or `wait` passes; returns whether it
    /// does.
    pub async fn wait_for(&mut self, from: usize, needle: &str, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.text.get(from..).is_some_and(|t| t.contains(needle)) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Ok(Some(Ok(f))) => {
                    if let Ok(d) = f.into_data() {
                        self.text.push_str(&String::from_utf8_lossy(&d));
                    }
                }
                _ => return false,
            }
        }
    }
}

impl Stream {
    /// Whether the server ends the body within `wait` (what arrives meanwhile is kept).
    pub async fn ends_within(&mut self, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Ok(Some(Ok(f))) => {
                    if let Ok(d) = f.into_data() {
                        self.text.push_str(&String::from_utf8_lossy(&d));
                    }
                }
                Ok(None) | Ok(Some(Err(_))) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A JSON body, or a failure that shows the body.
pub fn parse(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

pub const JSON: (&str, &str) = ("content-type", "application/json");

/// An API call as `user` (test password) to `/api/v1{path}`, with a JSON body when given.
pub async fn api(s: &Server, user: &str, method: &str, path: &str, body: Option<serde_json::Value>) -> Resp {
    let path = format!("/api/v1{path}");
    match body {
        Some(b) => s.as_user(user, method, &path, &[JSON], b.to_string()).await,
        None => s.as_user(user, method, &path, &[], "").await,
    }
}

/// LISTEN takes effect asynchronously: publishes (labels of `user` named "warm-up") until `theirs`, a
/// subscription on another server of the same PostgreSQL database, hears one; fails after five seconds.
pub async fn until_heard(
    s: &Server,
    user: &labelbook::store::User,
    theirs: &mut tokio::sync::broadcast::Receiver<labelbook::store::events::Event>,
) {
    for _ in 0..50 {
        s.app.service.create_label(user, None, "warm-up", "").await.unwrap();
        if tokio::time::timeout(std::time::Duration::from_millis(100), theirs.recv()).await.is_ok() {
            return;
        }
    }
    panic!("the other server never heard a change");
}

pub fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

pub fn vcard3(uid: &str, name: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEMAIL;TYPE=INTERNET:{uid}@example.com\r\nEND:VCARD\r\n"
    )
}

pub fn home(user: &str) -> String {
    format!("/dav/addressbooks/{user}/")
}

pub fn contacts(user: &str) -> String {
    format!("/dav/addressbooks/{user}/contacts/")
}

pub const SYNC_ETAG: &str = r#"<d:prop><d:getetag/></d:prop>"#;

pub fn sync_body(token: &str, extra: &str) -> String {
    format!(
        r#"<d:sync-collection xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>{extra}<d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

/// The real `labelbook serve` binary on an ephemeral port, on `db`.
pub struct Binary {
    pub child: std::process::Child,
    pub base: String,
    /// What it printed at start (listening address, the administrator's password on first start).
    pub banner: Vec<String>,
}

impl Binary {
    pub fn start(db: &TestDb, env: &[(&str, &std::ffi::OsStr)]) -> Binary {
        Self::start_through(db, env, &[])
    }

    /// Starts the binary through `prefix` (a program and its arguments that end by running the rest of the
    /// command line, such as `unshare … sh -c '…; exec "$@"' sh`).
    pub fn start_through(db: &TestDb, env: &[(&str, &std::ffi::OsStr)], prefix: &[&str]) -> Binary {
        use std::io::BufRead;
        let mut cmd = match prefix.split_first() {
            Some((program, args)) => {
                let mut cmd = std::process::Command::new(program);
                cmd.args(args).arg(env!("CARGO_BIN_EXE_labelbook"));
                cmd
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_labelbook")),
        };
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&db.dir)
            .env("LABELBOOK_LOG", "warn")
            .env_remove("LABELBOOK_ADMIN_PASSWORD")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        match db.database_url() {
            Some(url) => cmd.env("LABELBOOK_DATABASE_URL", url),
            None => cmd.env_remove("LABELBOOK_DATABASE_URL"),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the labelbook binary starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let mut base = String::new();
        // The banner ends with the line telling clients where to connect.
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.strip_prefix("Labelbook listening on ") {
                base = rest.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
            }
            let last = line.starts_with("CardDAV clients:");
            banner.push(line);
            if last {
                break;
            }
        }
        assert!(!base.is_empty(), "the server did not say where it listens: {banner:?}");
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Binary { child, base, banner }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn sigkill(&mut self) {
        let _ = std::process::Command::new("kill").args(["-9", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// The level of a permission-matrix actor named by it ("view" … "owner"); `None` for pending, declined,
/// revoked and strangers, who cannot see the label.
pub fn level_of(who: &str) -> Option<labelbook::service::access::Level> {
    use labelbook::service::access::Level;
    match who {
        "view" => Some(Level::View),
        "edit" => Some(Level::Edit),
        "delete" => Some(Level::Delete),
        "share" => Some(Level::Share),
        "owner" => Some(Level::Owner),
        _ => None,
    }
}
