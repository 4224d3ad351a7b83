//! What every protocol answers with, at the bottom of the layers (it imports no module of ours but `store`'s
//! request types): response bodies, whole (`full`) or produced piece by piece by a task (`channel`) so a
//! multistatus over 100,000 cards never sits in memory at once; plain-text answers; the preconditions a
//! request states.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub enum Body {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Result<Bytes, BoxError>>),
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    let b: Bytes = bytes.into();
    Body::Full(if b.is_empty() { None } else { Some(b) })
}

pub fn empty() -> Body {
    Body::Full(None)
}

/// A body fed by the returned sender; sending an error aborts the response (the client sees a broken
/// transfer rather than a silently truncated document).
pub fn channel() -> (mpsc::Sender<Result<Bytes, BoxError>>, Body) {
    let (tx, rx) = mpsc::channel(4);
    (tx, Body::Channel(rx))
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Channel(_) => SizeHint::default(),
        }
    }
}

/// Seconds a client is asked to wait (Retry-After) when the database cannot answer now.
pub const RETRY_AFTER_UNAVAILABLE: &str = "5";

pub fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(msg.into() + "\n"));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
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
