//! The dashboard: static files under `web/`, embedded in the binary (read from disk in debug builds, so a page
//! reloads with its edits). The page talks only to `/api/v1`; nothing here knows about users or data.

use crate::response::{Body, empty, full, text};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// Scripts and styles only from this server, no inline script, no framing: a contact's fields (which anyone the
/// label is shared with may write) can never run as code in another collaborator's browser.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// GET or HEAD of `/` (the page) or `/assets/…`.
pub fn serve<B>(req: &Request<B>) -> Response<Body> {
    let (method, path) = (req.method(), req.uri().path());
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "the dashboard's files are read with GET");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let file = match path {
        "/" => "index.html",
        "/favicon.ico" => "assets/icon.svg",
        p => p.trim_start_matches('/'),
    };
    let found = if file.split('/').any(|seg| seg == ".." || seg.is_empty()) { None } else { Assets::get(file) };
    let Some(asset) = found else {
        return text(StatusCode::NOT_FOUND, format!("nothing at {path}"));
    };
    let hash = asset.metadata.sha256_hash();
    let etag = format!("\"{}\"", hash[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if unchanged {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if method == Method::HEAD {
        Response::new(empty())
    } else {
        Response::new(full(asset.data.into_owned()))
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(file)));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Names carry no hash, so the browser revalidates every time (a 304 is cheap).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}
