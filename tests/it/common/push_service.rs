//! A Web Push service stand-in on 127.0.0.1 (RFC 8030), playing the phone's side too: it hands out
//! subscriptions restricted to one VAPID key, refuses what a real push service refuses (no TTL, another coding,
//! a bad or foreign VAPID token, an oversized body, a malformed Topic), and decrypts every message with the
//! subscription's private key (RFC 8291), written here independently of the server's code.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::elliptic_curve::sec1::ToEncodedPoint;

/// A subscription as the phone holds it: the push resource and the keys it registers with the server.
pub struct Subscription {
    pub resource: String,
    /// Base64url, as a push-register body carries them.
    pub p256dh: String,
    pub auth: String,
}

/// One message the service took (or refused), decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub status: u16,
    pub topic: Option<String>,
    pub ttl: u64,
    pub urgency: Option<String>,
    /// The decrypted push message.
    pub plaintext: String,
    pub aud: String,
    pub exp: i64,
    pub sub: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

struct Sub {
    secret: p256::SecretKey,
    auth: Vec<u8>,
}

#[derive(Default)]
struct State {
    subs: HashMap<String, Sub>,
    /// The VAPID key the subscriptions are restricted to (RFC 8292 §3.2: applicationServerKey).
    vapid: String,
    /// Statuses to answer with, in order; 201 once used up.
    script: VecDeque<u16>,
    /// Why requests were refused as malformed (a test reads these to fail loudly).
    refusals: Vec<String>,
    /// How many requests arrived per path, answered or not.
    hits: HashMap<String, usize>,
}

pub struct PushService {
    pub base: String,
    state: Arc<Mutex<State>>,
    rx: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Received>>,
    task: tokio::task::JoinHandle<()>,
    next: std::sync::atomic::AtomicU64,
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl PushService {
    /// A service whose subscriptions are restricted to `vapid_public_key` (base64url, as the server publishes it).
    pub async fn start(vapid_public_key: &str) -> PushService {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { vapid: vapid_public_key.to_string(), ..Default::default() }));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (st, origin) = (state.clone(), base.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (st, tx, origin) = (st.clone(), tx.clone(), origin.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (st, tx, origin) = (st.clone(), tx.clone(), origin.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &st, &tx, &origin).await) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        PushService { base, state, rx: tokio::sync::Mutex::new(rx), task, next: Default::default() }
    }

    /// A new subscription (as a phone's distributor makes one).
    pub fn subscribe(&self) -> Subscription {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut d = [0u8; 32];
        getrandom::fill(&mut d).unwrap();
        let secret = p256::SecretKey::from_slice(&d).unwrap();
        let public = secret.public_key().to_encoded_point(false);
        let mut auth = vec![0u8; 16];
        getrandom::fill(&mut auth).unwrap();
        let path = format!("/push/{n}-{}", B64.encode(&d[..6]));
        let sub = Subscription {
            resource: format!("{}{path}", self.base),
            p256dh: B64.encode(public.as_bytes()),
            auth: B64.encode(&auth),
        };
        lock(&self.state).subs.insert(path, Sub { secret, auth });
        sub
    }

    /// Forgets a subscription: later messages to it are answered 404, as an expired one is (RFC 8030 §7.3).
    pub fn unsubscribe(&self, sub: &Subscription) {
        let path = sub.resource.trim_start_matches(&self.base).to_string();
        lock(&self.state).subs.remove(&path);
    }

    /// The statuses the next requests are answered with (then 201 again).
    pub fn script(&self, statuses: &[u16]) {
        lock(&self.state).script.extend(statuses);
    }

    /// The next message, if one comes within `wait`.
    pub async fn next(&self, wait: Duration) -> Option<Received> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    }

    /// Every message that comes within `wait`.
    pub async fn all_within(&self, wait: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.rx.lock().await;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            out.push(m);
        }
        out
    }

    /// `n` messages (waiting up to `wait` for them), then any more that come within `extra`: a test asserting the
    /// count sees too few and too many alike, however slow the machine.
    pub async fn settle(&self, n: usize, wait: Duration, extra: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.rx.lock().await;
        while out.len() < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => out.push(m),
                _ => return out,
            }
        }
        while let Ok(Some(m)) = tokio::time::timeout(extra, rx.recv()).await {
            out.push(m);
        }
        out
    }

    pub fn refusals(&self) -> Vec<String> {
        lock(&self.state).refusals.clone()
    }

    pub fn hits(&self, sub: &Subscription) -> usize {
        let path = sub.resource.trim_start_matches(&self.base).to_string();
        lock(&self.state).hits.get(&path).copied().unwrap_or(0)
    }
}

fn answer(status: u16, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

async fn handle(
    req: Request<Incoming>,
    st: &Mutex<State>,
    tx: &tokio::sync::mpsc::UnboundedSender<Received>,
    origin: &str,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    *lock(st).hits.entry(path.clone()).or_default() += 1;
    let refuse = |status: u16, why: String| {
        lock(st).refusals.push(format!("{path}: {why}"));
        answer(status, &why)
    };
    if parts.method != http::Method::POST {
        return refuse(405, format!("{} is not POST", parts.method));
    }
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else { return refuse(400, "unreadable body".into()) };
    // RFC 8030 §7.2: at least 4,096 bytes of payload must be taken; more is 413.
    if body.len() > 4096 {
        return refuse(413, format!("a {} byte body", body.len()));
    }
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    // RFC 8030 §5.2: TTL is required.
    let Some(ttl) = header("ttl").and_then(|t| t.trim().parse::<u64>().ok()) else {
        return refuse(400, "no TTL header".into());
    };
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        return refuse(415, format!("content-encoding {:?}", header("content-encoding")));
    }
    // RFC 8030 §5.4: at most 32 characters of the URL- and filename-safe base64 alphabet.
    let topic = header("topic");
    if let Some(t) = &topic
        && (t.len() > 32 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return refuse(400, format!("topic {t:?}"));
    }
    let urgency = header("urgency");
    if let Some(u) = &urgency
        && !["very-low", "low", "normal", "high"].contains(&u.as_str())
    {
        return refuse(400, format!("urgency {u:?}"));
    }
    let (aud, exp, sub) = match check_vapid(header("authorization"), &lock(st).vapid, origin) {
        Ok(c) => c,
        Err((status, why)) => return refuse(status, why),
    };
    let keys = {
        let s = lock(st);
        s.subs.get(&path).map(|k| (k.secret.clone(), k.auth.clone()))
    };
    let Some((secret, auth)) = keys else { return answer(404, "no such subscription") };
    let plaintext = match decrypt(&body, &secret, &auth) {
        Ok(p) => p,
        Err(why) => return refuse(400, format!("cannot decrypt: {why}")),
    };
    let status = lock(st).script.pop_front().unwrap_or(201);
    let _ = tx.send(Received {
        path,
        status,
        topic,
        ttl,
        urgency,
        plaintext,
        aud,
        exp,
        sub,
        at: std::time::Instant::now(),
    });
    answer(status, "")
}

/// RFC 8292 §3: `vapid t=<JWT>, k=<key>`; the key must be the one the subscription is restricted to (else 403,
/// §4.2), the token signed by it (ES256), for this origin, expiring within 24 hours (else 401).
fn check_vapid(h: Option<String>, restricted: &str, origin: &str) -> Result<(String, i64, String), (u16, String)> {
    let h = h.ok_or((401, "no Authorization".to_string()))?;
    let rest = h.strip_prefix("vapid ").ok_or((401, format!("not a vapid scheme: {h}")))?;
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = Some(v.to_string());
        } else if let Some(v) = part.strip_prefix("k=") {
            k = Some(v.to_string());
        }
    }
    let (t, k) = (t.ok_or((401, "no t=".to_string()))?, k.ok_or((401, "no k=".to_string()))?);
    if k != restricted {
        return Err((403, "the VAPID key is not the one this subscription is restricted to".into()));
    }
    let (input, sig) = t.rsplit_once('.').ok_or((401, "token is not a JWS".to_string()))?;
    let key_bytes = B64.decode(&k).map_err(|_| (401, "k is not base64url".to_string()))?;
    let sig = B64.decode(sig).map_err(|_| (401, "signature is not base64url".to_string()))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, key_bytes)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| (401, "the token's signature does not verify".to_string()))?;
    let mut pieces = input.split('.');
    let head: serde_json::Value =
        serde_json::from_slice(&B64.decode(pieces.next().unwrap_or("")).unwrap_or_default()).unwrap_or_default();
    if head["alg"] != "ES256" {
        return Err((401, format!("alg {}", head["alg"])));
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(pieces.next().unwrap_or("")).unwrap_or_default()).unwrap_or_default();
    let aud = claims["aud"].as_str().unwrap_or_default().to_string();
    if aud != origin {
        return Err((401, format!("aud {aud} is not {origin}")));
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    if exp <= now || exp > now + 86_400 {
        return Err((401, format!("exp {exp} is not within 24 hours of {now}")));
    }
    let sub = claims["sub"].as_str().unwrap_or_default().to_string();
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err((401, format!("sub {sub:?} is neither mailto: nor https:")));
    }
    Ok((aud, exp, sub))
}

struct Len(usize);

impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &ring::hkdf::Prk, info: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    prk.expand(info, Len(len)).unwrap().fill(&mut out).unwrap();
    out
}

/// The user agent's side of RFC 8291 §3.4 and RFC 8188 §2.
fn decrypt(body: &[u8], secret: &p256::SecretKey, auth: &[u8]) -> Result<String, String> {
    if body.len() < 21 {
        return Err("shorter than the header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen + 17 {
        return Err(format!("keyid of {idlen} bytes"));
    }
    let as_public = &body[21..21 + idlen];
    let record = &body[21 + idlen..];
    if rs < 18 || record.len() > rs as usize {
        return Err(format!("a {}-byte record with rs {rs}", record.len()));
    }
    let peer = p256::PublicKey::from_sec1_bytes(as_public).map_err(|_| "the sender's key is not on P-256")?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    let ua_public = secret.public_key().to_encoded_point(false);
    let prk_key = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, auth).extract(shared.raw_secret_bytes());
    let ikm = expand(&prk_key, &[b"WebPush: info\0", ua_public.as_bytes(), as_public], 32);
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(&ikm);
    let cek = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16);
    let nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"], 12).try_into().unwrap();
    let key = ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &cek).unwrap());
    let mut data = record.to_vec();
    let plain = key
        .open_in_place(ring::aead::Nonce::assume_unique_for_key(nonce), ring::aead::Aad::empty(), &mut data)
        .map_err(|_| "the record does not decrypt")?;
    // The last record: the text, the delimiter 2, then zero padding.
    let end = plain.iter().rposition(|b| *b != 0).ok_or("no delimiter")?;
    if plain[end] != 2 {
        return Err(format!("delimiter {} is not that of a last record", plain[end]));
    }
    String::from_utf8(plain[..end].to_vec()).map_err(|_| "not UTF-8".into())
}
