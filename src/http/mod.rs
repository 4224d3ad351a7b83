//! HTTP: the listener (plain or rustls TLS with HTTP/1.1 and h2), graceful shutdown, routing, Basic
//! authentication, body limits and one log line per request.

pub mod auth;
pub mod limits;
mod tls;

use crate::app::App;
use crate::{api, dav, web};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub use tls::load_tls;

pub use crate::response::{Body, empty, full, text};

/// Accepts connections until `shutdown` resolves, then lets requests in flight finish (up to 30 s).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    app.start_background().await;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let header_timeout = Duration::from_secs(app.config.header_timeout_secs.max(1));
    // A request head must arrive in time; hyper also applies this while an HTTP/1.1 connection waits idle for
    // its next request, so it is the keep-alive timeout too (slowloris and idle connections both end).
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
    // HTTP/2 peers are pinged; one that does not answer is dropped.
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(100);
    let fits = limits::raise_fd_limit().unwrap_or(app.config.max_connections);
    let admission = limits::Admission::new(
        app.config.max_connections.min(fits),
        app.config.max_connections_per_address,
        app.config.trusted_proxies.clone(),
    );
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(place) = admission.admit(peer.ip()) else {
            // Closed at once: a client holding its share of connections (or a full server) gets no more.
            tracing::debug!(peer = %peer.ip(), open = admission.open(), "connection refused: at the cap");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut stopping = app.stopping.subscribe();
        let app = app.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(isolated(app, req, peer).await) }
        });
        match &tls {
            None => {
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _place = place;
                    // A connection that never sends its first byte would wait in protocol detection for ever:
                    // it gets the header timeout too (and a server shutting down does not wait for it).
                    let mut first = [0u8; 1];
                    let first_byte = tokio::select! {
                        r = tokio::time::timeout(header_timeout, stream.peek(&mut first)) => matches!(r, Ok(Ok(1))),
                        _ = stopping.wait_for(|stop| *stop) => false,
                    };
                    if !first_byte {
                        return;
                    }
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _place = place;
                    let accepted = tokio::select! {
                        r = tokio::time::timeout(header_timeout, acceptor.accept(stream)) => r,
                        _ = stopping.wait_for(|stop| *stop) => return,
                    };
                    let Ok(Ok(stream)) = accepted else { return };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    app.stopping.send_replace(true);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after 30 s; closing them");
    }
}

/// Runs a request in its own task, so that a bug that panics answers 500 and is logged, instead of dropping the
/// connection (and, on HTTP/2, every other request on it).
async fn isolated(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    match tokio::spawn(handle(app, req, peer)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(%method, %path, status = 500, error = %e, "request failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error; it has been logged")
        }
    }
}

/// Set on a request a trusted proxy says came to it over HTTPS (X-Forwarded-Proto).
#[derive(Clone, Copy)]
struct ForwardedHttps;

/// The client's address: the connection's, or, from a trusted proxy, the last address in X-Forwarded-For that
/// is not one of the trusted proxies (the ones before it are the client's own say, and can be anything).
fn client_address(trusted: &[std::net::IpAddr], req: &Request<Incoming>, peer: SocketAddr) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .find(|a| !trusted.contains(a))
        .map_or(peer, |ip| SocketAddr::new(ip, peer.port()))
}

async fn handle(app: Arc<App>, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let start = Instant::now();
    let trusted = &app.config.trusted_proxies;
    if trusted.contains(&peer.ip())
        && req.headers().get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    {
        req.extensions_mut().insert(ForwardedHttps);
    }
    let peer = client_address(trusted, &req, peer);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (mut resp, user) = route(&app, req, peer).await;
    resp.headers_mut().insert(header::SERVER, HeaderValue::from_static("Labelbook"));
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let user = user.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::error!(%method, %path, status, ms = format!("{ms:.2}"), user, "request");
    } else {
        tracing::info!(%method, %path, status, ms = format!("{ms:.2}"), user, "request");
    }
    resp
}

async fn route(app: &Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> (Response<Body>, Option<String>) {
    let path = req.uri().path();
    if path == "/.well-known/carddav" || path == "/.well-known/carddav/" {
        let mut r = text(StatusCode::MOVED_PERMANENTLY, "CardDAV lives at /dav/");
        r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/dav/"));
        return (r, None);
    }
    if path == "/healthz" {
        return (text(StatusCode::OK, "ok"), None);
    }
    if path == "/" || path.starts_with("/assets/") || path == "/favicon.ico" {
        return (web::serve(&req), None);
    }
    if path == "/api/v1/openapi.yaml" && (req.method() == Method::GET || req.method() == Method::HEAD) {
        return (api::openapi(), None);
    }
    if path == "/api" || path.starts_with("/api/") {
        return api_route(app, req, peer).await;
    }
    if path != "/dav" && !path.starts_with("/dav/") {
        return (text(StatusCode::NOT_FOUND, format!("nothing at {path}")), None);
    }
    if req.method() == Method::OPTIONS {
        // Clients probe capabilities before they authenticate (RFC 6352 §6.1).
        return (dav::options(), None);
    }
    let principal = match auth::authenticate(app, &req, peer).await {
        Ok(p) => p,
        Err(refusal) => return (refusal.into_text(), None),
    };
    let email = principal.user.email.clone();
    let (parts, body) = req.into_parts();
    let limit = if parts.method == Method::PUT { app.config.max_resource_size } else { app.config.max_request_body };
    let body = match read_body(&parts, body, limit, body_times(app)).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return (dav::too_large(limit, parts.method == Method::PUT), Some(email)),
        Err(BodyError::Broken) => {
            return (text(StatusCode::BAD_REQUEST, "could not read the request body"), Some(email));
        }
        Err(BodyError::TooSlow) => return (too_slow(), Some(email)),
    };
    let resp = dav::handle(app, &principal, &parts, body).await;
    (resp, Some(email))
}

async fn api_route(app: &Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> (Response<Body>, Option<String>) {
    if !req.uri().path().starts_with("/api/v1/") {
        let p = api::Problem::new(StatusCode::NOT_FOUND, "the API lives under /api/v1/");
        return (p.into_response(), None);
    }
    let secure = app.config.tls_cert.is_some() || req.extensions().get::<ForwardedHttps>().is_some();
    if req.uri().path() == "/api/v1/session" && req.method() == Method::POST {
        // Signing in is the one API call made before there is anybody to authenticate.
        let (parts, body) = req.into_parts();
        let body = match api_body(&parts, body, app.config.max_request_body, body_times(app)).await {
            Ok(b) => b,
            Err(r) => return (r, None),
        };
        return api::login(app, &parts, body, peer.ip(), secure).await;
    }
    if req.uri().path().starts_with("/api/v1/invite-links/") {
        // The link's secret is the permission; credentials, when sent, say who answers it.
        let who = match auth::authenticate_api(app, &req, peer).await {
            Ok(p) => Some(p),
            Err(auth::Refusal::Challenge(_) | auth::Refusal::Unauthorized(..)) => None,
            Err(refusal) => return (refusal.into_problem(), None),
        };
        let email = who.as_ref().map(|w| w.principal.user.email.clone());
        let (parts, body) = req.into_parts();
        let body = match api_body(&parts, body, app.config.max_request_body, body_times(app)).await {
            Ok(b) => b,
            Err(r) => return (r, email),
        };
        return (api::invite_link_route(app, who.as_ref(), &parts, body, peer.ip(), secure).await, email);
    }
    let principal = match auth::authenticate_api(app, &req, peer).await {
        Ok(p) => p,
        Err(refusal) => return (refusal.into_problem(), None),
    };
    let email = principal.principal.user.email.clone();
    let (parts, body) = req.into_parts();
    let limit = if parts.uri.path() == "/api/v1/imports" && parts.method == Method::POST {
        app.config.max_import_size
    } else {
        app.config.max_request_body
    };
    let body = match api_body(&parts, body, limit, body_times(app)).await {
        Ok(b) => b,
        Err(r) => return (r, Some(email)),
    };
    (api::handle(app, &principal, &parts, body, secure).await, Some(email))
}

/// An API request's body within `limit`, or the problem document that refuses it.
async fn api_body(
    parts: &http::request::Parts,
    body: Incoming,
    limit: usize,
    times: BodyTimes,
) -> Result<Bytes, Response<Body>> {
    read_body(parts, body, limit, times).await.map_err(|e| {
        let slow = matches!(e, BodyError::TooSlow);
        let p = match e {
            BodyError::TooLarge => {
                api::Problem::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {limit} bytes"))
            }
            BodyError::Broken => api::Problem::new(StatusCode::BAD_REQUEST, "could not read the request body"),
            BodyError::TooSlow => api::Problem::new(StatusCode::REQUEST_TIMEOUT, "the request body came too slowly"),
        };
        let mut r = p.into_response();
        if slow {
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    })
}

/// 408 for a body that came too slowly; the connection closes with it, since the rest of the body is unread.
fn too_slow() -> Response<Body> {
    let mut r = text(StatusCode::REQUEST_TIMEOUT, "the request body came too slowly");
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

enum BodyError {
    TooLarge,
    Broken,
    /// The body paused too long, or took too long in all (RFC 9110 §15.5.9: 408).
    TooSlow,
}

/// How much of an oversized body is read and thrown away so the client gets to see the 413 (a server that stops
/// reading mid-upload makes most clients report a reset connection instead).
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// How long a request body may pause between pieces, and take in all.
#[derive(Clone, Copy)]
struct BodyTimes {
    idle: Duration,
    total: Duration,
}

fn body_times(app: &App) -> BodyTimes {
    BodyTimes {
        idle: Duration::from_secs(app.config.body_idle_secs.max(1)),
        total: Duration::from_secs(app.config.body_timeout_secs.max(1)),
    }
}

async fn read_body(
    parts: &http::request::Parts,
    body: Incoming,
    limit: usize,
    times: BodyTimes,
) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(times.total, read_body_paced(parts, body, limit, times.idle)).await {
        Ok(r) => r,
        Err(_) => Err(BodyError::TooSlow),
    }
}

async fn read_body_paced(
    parts: &http::request::Parts,
    mut body: Incoming,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, BodyError> {
    let declared =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let expects_continue =
        parts.headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if declared.is_some_and(|n| n > limit as u64)
        && (expects_continue || declared.is_some_and(|n| n > DRAIN_CAP as u64))
    {
        // The client waits for 100 Continue (or the body is beyond draining): refuse before it sends anything.
        return Err(BodyError::TooLarge);
    }
    let mut buf = bytes::BytesMut::with_capacity(declared.map_or(8192, |n| (n as usize).min(limit)));
    let mut seen = 0usize;
    while let Some(frame) = tokio::time::timeout(idle, body.frame()).await.map_err(|_| BodyError::TooSlow)? {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_CAP {
                return Err(BodyError::TooLarge);
            }
        }
    }
    if seen > limit { Err(BodyError::TooLarge) } else { Ok(buf.freeze()) }
}
