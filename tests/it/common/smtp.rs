//! A mail server for tests, on 127.0.0.1: ESMTP with optional STARTTLS (a certificate openssl makes) and
//! AUTH PLAIN/LOGIN, keeping every message it accepts. It can be told to answer recipients with 451 (try
//! later) or 550 (refused).

use base64::Engine;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub tls: bool,
    pub user: Option<String>,
}

impl Received {
    /// The body with quoted-printable soft breaks and escapes undone (enough for ASCII text and links).
    pub fn text(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let joined = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(h) = joined.get(i + 1..i + 3)
                && let Ok(b) = u8::from_str_radix(h, 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split_once("\r\n\r\n").map(|(h, _)| h).unwrap_or("");
        head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
    }
}

#[derive(Default)]
pub struct Behaviour {
    /// Answer this many upcoming recipients with 451.
    pub defer: AtomicUsize,
    /// Answer every recipient with 550.
    pub reject: AtomicBool,
}

pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Behaviour>,
    /// The certificate clients must trust (STARTTLS sinks only).
    pub ca_file: Option<PathBuf>,
}

/// Whether the sink offers STARTTLS, and the login it accepts.
pub struct SinkOptions {
    pub starttls_in: Option<PathBuf>,
    pub login: Option<(String, String)>,
}

/// A private CA (what `ca_file` trusts) and a server certificate for localhost signed by it: webpki refuses a
/// self-signed CA certificate as a server's own.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(ok.success(), "openssl {args:?}");
    };
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Test CA"]
        .into_iter()
        .chain(["-keyout", "ca-key.pem", "-out", "ca.pem"])
        .collect::<Vec<_>>());
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "smtp-key.pem",
        "-out",
        "smtp.csr",
    ]);
    std::fs::write(p("smtp.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "smtp.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "smtp.ext",
        "-out",
        "smtp-cert.pem",
    ]);
    (p("ca.pem"), p("smtp-cert.pem"), p("smtp-key.pem"))
}

fn acceptor(cert: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    labelbook::http::load_tls(cert, key).expect("sink TLS")
}

impl SmtpSink {
    pub async fn start(options: SinkOptions) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Default::default();
        let behaviour: Arc<Behaviour> = Default::default();
        let (tls, ca_file) = match &options.starttls_in {
            Some(dir) => {
                let (ca, cert, key) = certificate(dir);
                (Some(acceptor(&cert, &key)), Some(ca))
            }
            None => (None, None),
        };
        let login = options.login.clone();
        let (m, b) = (messages.clone(), behaviour.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (m, b, tls, login) = (m.clone(), b.clone(), tls.clone(), login.clone());
                tokio::spawn(async move {
                    let _ = session(stream, tls, login, m, b).await;
                });
            }
        });
        SmtpSink { port, messages, behaviour, ca_file }
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn session(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    login: Option<(String, String)>,
    messages: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Behaviour>,
) -> std::io::Result<()> {
    let mut io: BufReader<Box<dyn Io>> = BufReader::new(Box::new(stream));
    let mut secure = false;
    let mut user: Option<String> = None;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    io.get_mut().write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let mut r = String::from("250-sink.test\r\n250-8BITMIME\r\n");
            if tls.is_some() && !secure {
                r.push_str("250-STARTTLS\r\n");
            }
            if login.is_some() && (secure || tls.is_none()) {
                r.push_str("250-AUTH PLAIN\r\n");
            }
            r.push_str("250 SIZE 10485760\r\n");
            r
        } else if upper == "STARTTLS" && tls.is_some() && !secure {
            io.get_mut().write_all(b"220 go ahead\r\n").await?;
            let plain = io.into_inner();
            let acceptor = tls.clone().unwrap();
            let upgraded = acceptor.accept(plain).await?;
            io = BufReader::new(Box::new(upgraded));
            secure = true;
            continue;
        } else if let Some(token) = line.strip_prefix("AUTH PLAIN ") {
            let decoded = b64.decode(token.trim()).unwrap_or_default();
            let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
            let given = (parts.len() == 3).then(|| {
                (String::from_utf8_lossy(parts[1]).into_owned(), String::from_utf8_lossy(parts[2]).into_owned())
            });
            if given.is_some() && given == login {
                user = given.map(|g| g.0);
                "235 welcome\r\n".into()
            } else {
                "535 5.7.8 authentication credentials invalid\r\n".into()
            }
        } else if upper.starts_with("MAIL FROM:") {
            if login.is_some() && user.is_none() {
                "530 5.7.0 authentication required\r\n".into()
            } else {
                from = line[10..].trim().trim_matches(['<', '>']).to_string();
                to.clear();
                "250 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            if behaviour.reject.load(Ordering::SeqCst) {
                "550 5.1.1 no such mailbox\r\n".into()
            } else if behaviour.defer.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                "451 4.3.0 try again later\r\n".into()
            } else {
                to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                "250 ok\r\n".into()
            }
        } else if upper == "DATA" {
            io.get_mut().write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if io.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            messages.lock().unwrap().push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
                tls: secure,
                user: user.clone(),
            });
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            io.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.1 command not recognized\r\n".into()
        };
        io.get_mut().write_all(reply.as_bytes()).await?;
    }
}
