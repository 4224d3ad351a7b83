//! A small HTTPS client for Google's endpoints over hyper and rustls (ring): one request per connection, a
//! bounded answer, a deadline. Plain `http://` is allowed so tests and private deployments can point the bridge
//! at a stand-in.

use super::{GoogleError, Result};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The largest answer read: a page of 1,000 contacts with every field is far below it.
const MAX_ANSWER: usize = 64 * 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(120);

pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
    /// Retry-After (RFC 9110 §10.2.3) in seconds, when the server said how long to wait.
    pub retry_after: Option<Duration>,
}

#[derive(Clone, Default)]
pub struct Http {
    tls: Arc<OnceLock<std::result::Result<tokio_rustls::TlsConnector, String>>>,
}

/// A TLS client trusting the system's certificate authorities (also what WebDAV-Push messages go out with).
pub(crate) fn connector() -> std::result::Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err("no trusted certificate authorities: install the system's CA certificates".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn transient(e: impl std::fmt::Display) -> GoogleError {
    GoogleError::Transient(e.to_string(), None)
}

impl Http {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Response> {
        match tokio::time::timeout(DEADLINE, self.exchange(method, url, bearer, body)).await {
            Ok(r) => r,
            Err(_) => Err(transient(format!("{url} did not answer within {} s", DEADLINE.as_secs()))),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Response> {
        let uri: http::Uri = url.parse().map_err(|e| GoogleError::Refused(format!("bad address {url}: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(GoogleError::Refused(format!("{url} is not an http(s) address"))),
        };
        let host = uri.host().ok_or_else(|| GoogleError::Refused(format!("{url} names no host")))?.to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| transient(format!("cannot reach {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_else(|| host.clone());
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        let mut req = Request::builder().method(method).uri(path).header(http::header::HOST, authority);
        if let Some(t) = bearer {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let payload = match body {
            Some((ctype, bytes)) => {
                req = req.header(http::header::CONTENT_TYPE, ctype);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| GoogleError::Refused(e.to_string()))?;
        let resp = if https {
            let tls = self.tls.get_or_init(connector).clone().map_err(GoogleError::Refused)?;
            let name = ServerName::try_from(host.clone()).map_err(|e| GoogleError::Refused(format!("{host}: {e}")))?;
            let stream = tls.connect(name, tcp).await.map_err(|e| transient(format!("TLS with {host}: {e}")))?;
            round_trip(TokioIo::new(stream), req).await?
        } else {
            round_trip(TokioIo::new(tcp), req).await?
        };
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| transient(format!("reading the answer of {url}: {e}")))?
            .to_bytes();
        Ok(Response { status, body, retry_after })
    }
}

/// Retry-After in seconds (RFC 9110 §10.2.3), when an answer says how long to wait.
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

async fn round_trip<T>(io: TokioIo<T>, req: Request<Full<Bytes>>) -> Result<http::Response<hyper::body::Incoming>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(transient)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(transient)
}
