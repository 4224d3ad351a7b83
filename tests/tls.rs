//! TLS from PEM files with rustls: HTTP/1.1 and HTTP/2 (ALPN) on the same port, through the real binary.

mod common;

use common::*;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_and_h2_over_tls() {
    let db = TestDb::new().await;
    let (cert, key) = (db.dir.join("cert.pem"), db.dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labelbook"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&db.dir)
        .env("LABELBOOK_TLS_CERT", &cert)
        .env("LABELBOOK_TLS_KEY", &key)
        .env("LABELBOOK_ADMIN_EMAIL", "admin@example.com")
        .env("LABELBOOK_ADMIN_PASSWORD", PASSWORD)
        .env("LABELBOOK_LOG", "warn");
    match db.database_url() {
        Some(url) => cmd.env("LABELBOOK_DATABASE_URL", url),
        None => cmd.env_remove("LABELBOOK_DATABASE_URL"),
    };
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("Labelbook listening on ") {
            break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
        }
    };
    assert!(base.starts_with("https://"), "{base}");
    let probe = |version: &str| {
        let out = Command::new("curl")
            .args([
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                version,
                "-X",
                "PROPFIND",
                "-H",
                "Depth: 0",
                "-u",
            ])
            .arg(format!("admin@example.com:{PASSWORD}"))
            .arg(format!("{base}/dav/addressbooks/admin@example.com/contacts/"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let h1 = probe("--http1.1");
    let h2 = probe("--http2");
    let _ = child.kill();
    let _ = child.wait();
    db.drop_db().await;
    assert_eq!(h1, "1.1 207");
    assert_eq!(h2, "2 207");
}
