//! Building a 207 Multi-Status body (RFC 4918 §13).

use super::xml::{self, NS_DECLS};
use crate::response::Body;
use http::{HeaderValue, Response, StatusCode, header};

pub struct Multistatus {
    out: String,
    /// `Prefer: return=minimal` (RFC 7240 §4.2, RFC 8144): leave out the 404 propstats.
    minimal: bool,
}

fn status_line(status: StatusCode) -> String {
    format!("HTTP/1.1 {} {}", status.as_u16(), status.canonical_reason().unwrap_or(""))
}

/// The outcome of asking a resource for its properties: each property's XML, grouped by status.
#[derive(Default)]
pub struct PropStats {
    pub ok: Vec<String>,
    pub not_found: Vec<String>,
    pub forbidden: Vec<String>,
    pub other: Vec<(StatusCode, String)>,
}

impl Multistatus {
    pub fn new(minimal: bool) -> Multistatus {
        let mut out = String::with_capacity(4096);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus ");
        out.push_str(NS_DECLS);
        out.push('>');
        Multistatus { out, minimal }
    }

    pub fn propstats(&mut self, href: &str, stats: &PropStats) {
        self.out.push_str("<d:response><d:href>");
        self.out.push_str(&xml::escape(href));
        self.out.push_str("</d:href>");
        let mut groups: Vec<(StatusCode, &[String])> =
            vec![(StatusCode::OK, &stats.ok), (StatusCode::FORBIDDEN, &stats.forbidden)];
        if !self.minimal {
            groups.push((StatusCode::NOT_FOUND, &stats.not_found));
        }
        let mut wrote = false;
        for (status, props) in groups {
            if props.is_empty() {
                continue;
            }
            wrote = true;
            self.out.push_str("<d:propstat><d:prop>");
            for p in props {
                self.out.push_str(p);
            }
            self.out.push_str("</d:prop><d:status>");
            self.out.push_str(&status_line(status));
            self.out.push_str("</d:status></d:propstat>");
        }
        for (status, p) in &stats.other {
            wrote = true;
            self.out.push_str("<d:propstat><d:prop>");
            self.out.push_str(p);
            self.out.push_str("</d:prop><d:status>");
            self.out.push_str(&status_line(*status));
            self.out.push_str("</d:status></d:propstat>");
        }
        if !wrote {
            // RFC 4918 §14.22 requires at least one propstat; an empty 200 one says "nothing asked for is here".
            self.out.push_str("<d:propstat><d:prop/><d:status>HTTP/1.1 200 OK</d:status></d:propstat>");
        }
        self.out.push_str("</d:response>");
    }

    pub fn status(&mut self, href: &str, status: StatusCode, error: Option<&str>) {
        self.out.push_str("<d:response><d:href>");
        self.out.push_str(&xml::escape(href));
        self.out.push_str("</d:href><d:status>");
        self.out.push_str(&status_line(status));
        self.out.push_str("</d:status>");
        if let Some(e) = error {
            self.out.push_str("<d:error>");
            self.out.push_str(e);
            self.out.push_str("</d:error>");
        }
        self.out.push_str("</d:response>");
    }

    /// Raw XML inside the multistatus (e.g. sync-token, or a nested response in expand-property).
    pub fn raw(&mut self, xml: &str) {
        self.out.push_str(xml);
    }

    pub fn into_inner(self) -> String {
        self.out
    }

    /// Bytes written and not yet taken.
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// Hands over what is written so far (for streaming) and starts an empty buffer.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    pub fn finish_text(mut self) -> String {
        self.out.push_str("</d:multistatus>\n");
        self.out
    }

    pub fn finish(self) -> Response<Body> {
        respond(crate::response::full(self.finish_text()))
    }
}

/// A 207 with the given (possibly streamed) body.
pub fn respond(body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::MULTI_STATUS;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    r
}

impl Multistatus {}
