//! A small SMTP submission client (RFC 5321, STARTTLS RFC 3207, implicit TLS RFC 8314, AUTH PLAIN RFC 4616 and
//! LOGIN): one message to one recipient per connection, which is all invitations need. TLS is rustls with the
//! ring provider, trusting the system's certificate authorities and, when set, `ca_file`'s.

use super::{MailError, SmtpConfig, SmtpSecurity};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// RFC 5321 §4.5.3.2 suggests minutes per command; a submission server that is this slow is treated as down.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_LINE: usize = 4096;
const MAX_REPLY_LINES: usize = 200;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One SMTP conversation, and what was said in it (passwords never written down).
struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    log: Vec<String>,
}

fn transient(message: impl Into<String>) -> MailError {
    MailError { permanent: false, message: message.into() }
}

fn permanent(message: impl Into<String>) -> MailError {
    MailError { permanent: true, message: message.into() }
}

impl Conn {
    async fn line(&mut self) -> Result<String, MailError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                return Ok(text);
            }
            if self.buf.len() > MAX_LINE {
                return Err(permanent("the mail server sent a reply line longer than 4096 bytes"));
            }
            let mut chunk = [0u8; 2048];
            let n = tokio::time::timeout(REPLY_TIMEOUT, self.io.read(&mut chunk))
                .await
                .map_err(|_| transient("the mail server did not answer within 60 seconds"))?
                .map_err(|e| transient(format!("reading from the mail server: {e}")))?;
            if n == 0 {
                return Err(transient("the mail server closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A whole (possibly multi-line, RFC 5321 §4.2.1) reply: its code and its lines' text.
    async fn reply(&mut self) -> Result<(u16, Vec<String>), MailError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            self.log.push(format!("S: {line}"));
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else { return Err(permanent(format!("not an SMTP reply: {line}"))) };
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, lines));
            }
            if lines.len() > MAX_REPLY_LINES {
                return Err(permanent("the mail server sent an endless reply"));
            }
        }
    }

    async fn send_line(&mut self, line: &str, shown: &str) -> Result<(), MailError> {
        self.log.push(format!("C: {shown}"));
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.io.write_all(&bytes).await.map_err(|e| transient(format!("writing to the mail server: {e}")))?;
        self.io.flush().await.map_err(|e| transient(format!("writing to the mail server: {e}")))
    }

    /// Sends a command and wants a reply in `want` (its first digit class, e.g. 2 for 2xx).
    async fn command(&mut self, line: &str, shown: &str, want: u16, doing: &str) -> Result<Vec<String>, MailError> {
        self.send_line(line, shown).await?;
        let (code, text) = self.reply().await?;
        if code / 100 == want {
            return Ok(text);
        }
        let said = format!("{code} {}", text.join(" "));
        let message = format!("the mail server refused {doing}: {said}");
        Err(if code / 100 == 4 { transient(message) } else { permanent(message) })
    }
}

fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

fn connector(config: &SmtpConfig) -> Result<tokio_rustls::TlsConnector, MailError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in native_roots() {
        let _ = roots.add(c.clone());
    }
    if let Some(path) = &config.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| permanent(format!("cannot read ca_file {}: {e}", path.display())))?;
        for c in certs {
            let c = c.map_err(|e| permanent(format!("bad certificate in ca_file {}: {e}", path.display())))?;
            roots.add(c).map_err(|e| permanent(format!("bad certificate in ca_file {}: {e}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(permanent(
            "no trusted certificate authorities: install the system's CA certificates or set smtp.ca_file",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| permanent(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}

async fn handshake(config: &SmtpConfig, tcp: Box<dyn Io>) -> Result<Box<dyn Io>, MailError> {
    let name = ServerName::try_from(config.host.clone())
        .map_err(|_| permanent(format!("'{}' is not a host name for TLS", config.host)))?;
    let tls = tokio::time::timeout(REPLY_TIMEOUT, connector(config)?.connect(name, tcp))
        .await
        .map_err(|_| transient("the TLS handshake with the mail server timed out"))?
        // A certificate the server cannot prove is a setting to fix, not a moment to wait out.
        .map_err(|e| permanent(format!("TLS with {}: {e}", config.host)))?;
    Ok(Box::new(tls))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The EHLO keywords (RFC 5321 §4.1.1.1), upper-cased: `STARTTLS`, `AUTH PLAIN LOGIN`, …
fn extensions(lines: &[String]) -> Vec<String> {
    lines.iter().skip(1).map(|l| l.trim().to_ascii_uppercase()).collect()
}

/// Sends `data` (a rendered message) from `from` to `to`. Returns the conversation, for the settings page's
/// test; on failure the error says what the server said and whether trying again could help.
pub async fn send(config: &SmtpConfig, from: &str, to: &str, data: &str) -> (Result<(), MailError>, Vec<String>) {
    let mut log = Vec::new();
    let result = converse(config, from, to, data, &mut log).await;
    if let Err(e) = &result {
        log.push(format!("error: {}", e.message));
    }
    (result, log)
}

async fn converse(
    config: &SmtpConfig,
    from: &str,
    to: &str,
    data: &str,
    log: &mut Vec<String>,
) -> Result<(), MailError> {
    let port = config.port();
    log.push(format!("connecting to {}:{port} ({})", config.host, config.security.as_str()));
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((config.host.as_str(), port)))
        .await
        .map_err(|_| transient(format!("no connection to {}:{port} within 15 seconds", config.host)))?
        .map_err(|e| transient(format!("cannot connect to {}:{port}: {e}", config.host)))?;
    let _ = tcp.set_nodelay(true);
    let mut io: Box<dyn Io> = Box::new(tcp);
    if config.security == SmtpSecurity::Tls {
        io = handshake(config, io).await?;
    }
    let mut conn = Conn { io, buf: Vec::new(), log: std::mem::take(log) };
    let result = dialogue(&mut conn, config, from, to, data).await;
    *log = std::mem::take(&mut conn.log);
    result
}

async fn dialogue(conn: &mut Conn, config: &SmtpConfig, from: &str, to: &str, data: &str) -> Result<(), MailError> {
    let (code, text) = conn.reply().await?;
    if code != 220 {
        return Err(transient(format!("the mail server is not ready: {code} {}", text.join(" "))));
    }
    let helo_name = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost").to_string();
    let ehlo = format!("EHLO {helo_name}");
    let mut ext = extensions(&conn.command(&ehlo, &ehlo, 2, "EHLO").await?);
    if config.security == SmtpSecurity::Starttls {
        if !ext.iter().any(|e| e == "STARTTLS") {
            return Err(permanent(format!(
                "{} does not offer STARTTLS: set security to \"tls\" for port 465, or \"none\" for a local relay",
                config.host
            )));
        }
        conn.command("STARTTLS", "STARTTLS", 2, "STARTTLS").await?;
        if !conn.buf.is_empty() {
            // RFC 3207 §5: anything sent before the handshake could be an injected command.
            return Err(permanent("the mail server sent data before the TLS handshake"));
        }
        let plain = std::mem::replace(&mut conn.io, Box::new(tokio::io::empty()));
        conn.io = handshake(config, plain).await?;
        conn.log.push("TLS established".into());
        ext = extensions(&conn.command(&ehlo, &ehlo, 2, "EHLO").await?);
    }
    if let Some(user) = config.username.as_deref().filter(|u| !u.is_empty()) {
        if config.security == SmtpSecurity::None && !is_loopback(&config.host) {
            return Err(permanent("refusing to send the SMTP password unencrypted: use security starttls or tls"));
        }
        let password = config.password.as_deref().unwrap_or("");
        let auth = ext.iter().find_map(|e| e.strip_prefix("AUTH ")).unwrap_or("").to_string();
        let methods: Vec<&str> = auth.split_whitespace().collect();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let refused = |e: MailError| MailError {
            permanent: e.permanent,
            message: format!("{} (check the SMTP username and password)", e.message),
        };
        if methods.contains(&"PLAIN") {
            let token = b64(format!("\0{user}\0{password}").as_bytes());
            conn.command(&format!("AUTH PLAIN {token}"), "AUTH PLAIN ********", 2, "the login")
                .await
                .map_err(refused)?;
        } else if methods.contains(&"LOGIN") {
            conn.command("AUTH LOGIN", "AUTH LOGIN", 3, "the login").await.map_err(refused)?;
            conn.command(&b64(user.as_bytes()), "(username)", 3, "the login").await.map_err(refused)?;
            conn.command(&b64(password.as_bytes()), "********", 2, "the login").await.map_err(refused)?;
        } else {
            return Err(permanent(format!(
                "{} offers no password login this client speaks (PLAIN or LOGIN); it offers: {}",
                config.host,
                if auth.is_empty() { "none" } else { &auth }
            )));
        }
    }
    let mail_from = format!("MAIL FROM:<{from}>");
    conn.command(&mail_from, &mail_from, 2, "the sender").await?;
    let rcpt = format!("RCPT TO:<{to}>");
    conn.command(&rcpt, &rcpt, 2, "the recipient").await?;
    conn.command("DATA", "DATA", 3, "DATA").await?;
    let mut body = String::with_capacity(data.len() + 64);
    for line in data.split("\r\n") {
        // RFC 5321 §4.5.2: a line starting with a period gets one more.
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
        body.push_str("\r\n");
    }
    if body.ends_with("\r\n\r\n") {
        body.truncate(body.len() - 2);
    }
    body.push('.');
    let shown = format!("(message, {} bytes) .", data.len());
    conn.command(&body, &shown, 2, "the message").await?;
    let _ = conn.command("QUIT", "QUIT", 2, "QUIT").await;
    Ok(())
}
