//! HTTP: the listener (plain or rustls TLS with HTTP/1.1 and h2), graceful shutdown, routing, Basic
//! authentication, body limits and one log line per request.

pub mod auth;
pub mod body;
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

pub use body::{Body, empty, full};

pub fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(msg.into() + "\n"));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Accepts connections until `shutdown` resolves, then lets requests in flight finish (up to 30 s).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    // While it serves, a server hears the changes other servers on the same PostgreSQL database commit.
    app.store.spawn_listener();
    // And it sends the mail queued on any of them.
    let outbox = app.clone();
    tokio::spawn(async move { outbox.service.run_outbox(outbox.stopping.subscribe()).await });
    let builder = auto::Builder::new(TokioExecutor::new());
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
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(isolated(app, req, peer).await) }
        });
        match &tls {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
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

async fn handle(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let start = Instant::now();
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
    let body = match read_body(&parts, body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return (dav::too_large(limit, parts.method == Method::PUT), Some(email)),
        Err(BodyError::Broken) => {
            return (text(StatusCode::BAD_REQUEST, "could not read the request body"), Some(email));
        }
    };
    let resp = dav::handle(app, &principal, &parts, body).await;
    (resp, Some(email))
}

fn etag_list(headers: &http::HeaderMap, name: &str) -> Option<Vec<String>> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"').to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// If-Match and If-None-Match as entity tags (RFC 9110 §13.1.1–2), for DAV and the API alike.
pub fn precondition(headers: &http::HeaderMap) -> crate::store::Precondition {
    crate::store::Precondition {
        if_match: etag_list(headers, "if-match"),
        if_none_match: etag_list(headers, "if-none-match"),
    }
}

async fn api_route(app: &Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> (Response<Body>, Option<String>) {
    if !req.uri().path().starts_with("/api/v1/") {
        let p = api::Problem::new(StatusCode::NOT_FOUND, "the API lives under /api/v1/");
        return (p.into_response(), None);
    }
    let secure = app.config.tls_cert.is_some()
        || req.headers().get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if req.uri().path() == "/api/v1/session" && req.method() == Method::POST {
        // Signing in is the one API call made before there is anybody to authenticate.
        let (parts, body) = req.into_parts();
        let body = match api_body(&parts, body, app.config.max_request_body).await {
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
        let body = match api_body(&parts, body, app.config.max_request_body).await {
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
    let body = match api_body(&parts, body, limit).await {
        Ok(b) => b,
        Err(r) => return (r, Some(email)),
    };
    (api::handle(app, &principal, &parts, body, secure).await, Some(email))
}

/// An API request's body within `limit`, or the problem document that refuses it.
async fn api_body(parts: &http::request::Parts, body: Incoming, limit: usize) -> Result<Bytes, Response<Body>> {
    read_body(parts, body, limit).await.map_err(|e| {
        let p = match e {
            BodyError::TooLarge => {
                api::Problem::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {limit} bytes"))
            }
            BodyError::Broken => api::Problem::new(StatusCode::BAD_REQUEST, "could not read the request body"),
        };
        p.into_response()
    })
}

enum BodyError {
    TooLarge,
    Broken,
}

/// How much of an oversized body is read and thrown away so the client gets to see the 413 (a server that stops
/// reading mid-upload makes most clients report a reset connection instead).
const DRAIN_CAP: usize = 64 * 1024 * 1024;

async fn read_body(parts: &http::request::Parts, mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
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
    while let Some(frame) = body.frame().await {
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
