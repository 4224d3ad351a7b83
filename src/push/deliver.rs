//! One push message to one push resource (RFC 8030 §5): a POST to the address that was checked, with a deadline
//! and a bounded answer, over a connection kept per push service.

use super::endpoint::{self, Endpoint};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// A connection kept for the next message to the same push service (most devices share one or two: their
/// distributor's ntfy server, or Google's): no TCP and TLS handshake per message.
struct Idle {
    sender: http1::SendRequest<Full<Bytes>>,
    since: Instant,
}

/// How long an unused connection is kept, and how many per push service.
const IDLE_FOR: Duration = Duration::from_secs(60);
const IDLE_PER_ORIGIN: usize = 64;

#[derive(Clone, Default)]
pub struct Sender {
    tls: Arc<OnceLock<Result<tokio_rustls::TlsConnector, String>>>,
    idle: Arc<Mutex<HashMap<String, Vec<Idle>>>>,
}

fn request(ep: &Endpoint, msg: &Message<'_>) -> Result<Request<Full<Bytes>>, String> {
    Request::post(ep.path.as_str())
        .header(http::header::HOST, ep.authority.as_str())
        .header(http::header::AUTHORIZATION, msg.authorization)
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .header(http::header::CONTENT_ENCODING, "aes128gcm")
        .header("ttl", msg.ttl.to_string())
        .header("topic", msg.topic)
        .header("urgency", "normal")
        .body(Full::new(Bytes::from(msg.body.clone())))
        .map_err(|e| format!("cannot build the request: {e}"))
}

impl Sender {
    pub async fn send(&self, ep: &Endpoint, allow_local: bool, msg: Message<'_>) -> Outcome {
        match tokio::time::timeout(DEADLINE, self.exchange(ep, allow_local, msg)).await {
            Ok(o) => o,
            Err(_) => Outcome::Later(format!("{} did not answer within {} s", ep.origin, DEADLINE.as_secs()), None),
        }
    }

    fn take_idle(&self, origin: &str) -> Option<http1::SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(origin)?;
        while let Some(i) = list.pop() {
            if i.since.elapsed() < IDLE_FOR && !i.sender.is_closed() {
                return Some(i.sender);
            }
        }
        None
    }

    fn keep(&self, origin: &str, sender: http1::SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, l| {
            l.retain(|i| i.since.elapsed() < IDLE_FOR && !i.sender.is_closed());
            !l.is_empty()
        });
        let list = idle.entry(origin.to_string()).or_default();
        if list.len() < IDLE_PER_ORIGIN {
            list.push(Idle { sender, since: Instant::now() });
        }
    }

    async fn exchange(&self, ep: &Endpoint, allow_local: bool, msg: Message<'_>) -> Outcome {
        let req = match request(ep, &msg) {
            Ok(r) => r,
            Err(e) => return Outcome::Refused(e),
        };
        // A kept connection the service may have closed meanwhile: if the request did not go out on it, it goes
        // on a new one.
        let mut pending = Some(req);
        let mut answer = None;
        if let Some(mut sender) = self.take_idle(&ep.origin) {
            if sender.ready().await.is_ok()
                && let Some(req) = pending.take()
            {
                match sender.try_send_request(req).await {
                    Ok(resp) => answer = Some((sender, resp)),
                    Err(mut e) => pending = e.take_message(),
                }
            }
            if answer.is_none() && pending.is_none() {
                return Outcome::Later(format!("{} closed the connection mid-request", ep.origin), None);
            }
        }
        let (sender, resp) = match (answer, pending) {
            (Some(a), _) => a,
            (None, Some(req)) => {
                let mut sender = match self.connect(ep, allow_local).await {
                    Ok(s) => s,
                    Err(e) => return Outcome::Later(e, None),
                };
                match sender.send_request(req).await {
                    Ok(resp) => (sender, resp),
                    Err(e) => return Outcome::Later(e.to_string(), None),
                }
            }
            (None, None) => return Outcome::Later(format!("{}: nothing was sent", ep.origin), None),
        };
        let status = resp.status();
        let retry_after = crate::bridge::http::retry_after(resp.headers());
        // The answer is read whole (bounded) so the connection can carry the next message; its text explains a
        // refusal.
        let text = match Limited::new(resp.into_body(), MAX_ANSWER).collect().await {
            Ok(b) => {
                self.keep(&ep.origin, sender);
                String::from_utf8_lossy(&b.to_bytes()).chars().take(200).collect::<String>()
            }
            Err(_) => String::new(),
        };
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

    /// A new connection to `ep`, resolved and checked now, to exactly the address checked (no second lookup that
    /// a rebinding name could answer differently).
    async fn connect(&self, ep: &Endpoint, allow_local: bool) -> Result<http1::SendRequest<Full<Bytes>>, String> {
        let addrs = endpoint::resolve(ep, allow_local).await?;
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
        let tcp = tcp.ok_or(last)?;
        let _ = tcp.set_nodelay(true);
        if ep.https {
            let tls = self.tls.get_or_init(crate::bridge::http::connector).clone()?;
            let name = ServerName::try_from(ep.host.clone()).map_err(|_| format!("{} is not a host name", ep.host))?;
            let stream = tls.connect(name, tcp).await.map_err(|e| format!("TLS with {}: {e}", ep.host))?;
            handshake(TokioIo::new(stream)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
    }
}

async fn handshake<T>(io: TokioIo<T>) -> Result<http1::SendRequest<Full<Bytes>>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
