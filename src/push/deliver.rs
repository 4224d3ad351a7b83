//! One push message to one push resource (RFC 8030 §5): a POST over its own connection to the address that was
//! checked, with a deadline and a bounded answer.

use super::endpoint::{self, Endpoint};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(15);
/// Push services answer with an empty body or a short error; more is not read.
const MAX_ANSWER: usize = 64 * 1024;

/// What the push service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: taken (RFC 8030 §5: 201; ntfy and others answer 200).
    Taken,
    /// 404 or 410: the subscription is gone (RFC 8030 §7.3).
    Gone(StatusCode),
    /// 429, 5xx or the network: worth another try, after the wait asked for if any.
    Later(String, Option<Duration>),
    /// Anything else (413 and other 4xx): not retried.
    Refused(String),
}

/// The message as it goes out: encrypted body and headers decided by the caller.
pub struct Message<'a> {
    pub body: Vec<u8>,
    pub authorization: &'a str,
    pub topic: &'a str,
    pub ttl: u64,
}

#[derive(Clone, Default)]
pub struct Sender {
    tls: Arc<OnceLock<Result<tokio_rustls::TlsConnector, String>>>,
}

impl Sender {
    pub async fn send(&self, ep: &Endpoint, allow_local: bool, msg: Message<'_>) -> Outcome {
        match tokio::time::timeout(DEADLINE, self.exchange(ep, allow_local, msg)).await {
            Ok(o) => o,
            Err(_) => Outcome::Later(format!("{} did not answer within {} s", ep.origin, DEADLINE.as_secs()), None),
        }
    }

    async fn exchange(&self, ep: &Endpoint, allow_local: bool, msg: Message<'_>) -> Outcome {
        // Resolved and checked now, and the connection goes to exactly what was checked (no second lookup
        // that a rebinding name could answer differently).
        let addrs = match endpoint::resolve(ep, allow_local).await {
            Ok(a) => a,
            Err(e) => return Outcome::Later(e, None),
        };
        let mut last = String::new();
        let mut tcp = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot reach {addr}: {e}"),
            }
        }
        let Some(tcp) = tcp else { return Outcome::Later(last, None) };
        let _ = tcp.set_nodelay(true);
        let req = Request::post(ep.path.as_str())
            .header(http::header::HOST, ep.authority.as_str())
            .header(http::header::AUTHORIZATION, msg.authorization)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::CONTENT_ENCODING, "aes128gcm")
            .header("ttl", msg.ttl.to_string())
            .header("topic", msg.topic)
            .header("urgency", "normal")
            .body(Full::new(Bytes::from(msg.body)));
        let req = match req {
            Ok(r) => r,
            Err(e) => return Outcome::Refused(format!("cannot build the request: {e}")),
        };
        let answer = if ep.https {
            let tls = match self.tls.get_or_init(crate::bridge::http::connector).clone() {
                Ok(t) => t,
                Err(e) => return Outcome::Later(e, None),
            };
            let Ok(name) = ServerName::try_from(ep.host.clone()) else {
                return Outcome::Refused(format!("{} is not a host name", ep.host));
            };
            match tls.connect(name, tcp).await {
                Ok(stream) => round_trip(TokioIo::new(stream), req).await,
                Err(e) => Err(format!("TLS with {}: {e}", ep.host)),
            }
        } else {
            round_trip(TokioIo::new(tcp), req).await
        };
        let resp = match answer {
            Ok(r) => r,
            Err(e) => return Outcome::Later(e, None),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The answer is read (bounded) so the service sees a clean exchange; its text explains a refusal.
        let text = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).chars().take(200).collect::<String>())
            .unwrap_or_default();
        let why = || {
            let t = text.trim();
            if t.is_empty() {
                format!("the push service answered {status}")
            } else {
                format!("the push service answered {status}: {t}")
            }
        };
        match status.as_u16() {
            200..=299 => Outcome::Taken,
            404 | 410 => Outcome::Gone(status),
            429 | 500..=599 => Outcome::Later(why(), retry_after),
            _ => Outcome::Refused(why()),
        }
    }
}

async fn round_trip<T>(
    io: TokioIo<T>,
    req: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}
