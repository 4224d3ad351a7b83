//! TLS from PEM files with rustls: HTTP/1.1 and HTTP/2 (ALPN) on the same port, through the real binary.

use crate::common::*;
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
    let admin = std::ffi::OsStr::new("admin@example.com");
    let password = std::ffi::OsStr::new(PASSWORD);
    let mut server = Binary::start(
        &db,
        &[
            ("LABELBOOK_TLS_CERT", cert.as_os_str()),
            ("LABELBOOK_TLS_KEY", key.as_os_str()),
            ("LABELBOOK_ADMIN_EMAIL", admin),
            ("LABELBOOK_ADMIN_PASSWORD", password),
        ],
    );
    let base = server.base.clone();
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
    server.kill();
    db.drop_db().await;
    assert_eq!(h1, "1.1 207");
    assert_eq!(h2, "2 207");
}
