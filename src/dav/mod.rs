//! WebDAV + CardDAV: map paths to resources, parse request XML, call service/, build responses.
//! No SQL and no permission decisions here (service/ makes them); one file per method family.

mod card;
mod collection;
pub mod filter;
mod multistatus;
pub mod props;
mod push;
mod report;
mod stream;
pub mod xml;

use crate::app::App;
use crate::response::{Body, text};
use crate::service::accounts::Principal;
use crate::service::{ServiceError, access::Action};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::sync::Arc;
use xml::{CARDDAV, DAV};

pub const ALLOW: &str = "OPTIONS, GET, HEAD, POST, PUT, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, REPORT, MKCOL, ACL";
/// What a collection (or the paths above the books) answers to once it exists: no PUT onto it, no MKCOL over it.
/// POST is WebDAV-Push registration.
pub const COLLECTION_ALLOW: &str = "OPTIONS, GET, HEAD, POST, DELETE, PROPFIND, PROPPATCH, REPORT, ACL";

/// Characters a path segment keeps unescaped (RFC 3986 pchar minus what clients mishandle).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

pub fn enc(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

pub fn principal_href(email: &str) -> String {
    format!("/dav/principals/{}/", enc(email))
}

pub fn home_href(email: &str) -> String {
    format!("/dav/addressbooks/{}/", enc(email))
}

pub fn book_href(email: &str, segment: &str) -> String {
    format!("/dav/addressbooks/{}/{}/", enc(email), enc(segment))
}

pub fn card_href(email: &str, segment: &str, name: &str) -> String {
    format!("/dav/addressbooks/{}/{}/{}", enc(email), enc(segment), enc(name))
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Root,
    Principals,
    Principal(String),
    Homes,
    Home(String),
    Book(String, String),
    Card(String, String, String),
}

/// Maps a path (or an absolute URL, as multiget hrefs may be) to a target; `None` when it names nothing we serve.
pub fn parse_target(path: &str) -> Option<Target> {
    let path = match path.find("://") {
        Some(i) => {
            let rest = &path[i + 3..];
            &rest[rest.find('/')?..]
        }
        None => path,
    };
    let rest = path.strip_prefix("/dav")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let mut segs = Vec::new();
    for s in rest.split('/').filter(|s| !s.is_empty()) {
        segs.push(percent_decode_str(s).decode_utf8().ok()?.into_owned());
    }
    let lower = |s: &String| s.to_lowercase();
    Some(match segs.as_slice() {
        [] => Target::Root,
        [p] if p == "principals" => Target::Principals,
        [p, e] if p == "principals" => Target::Principal(lower(e)),
        [a] if a == "addressbooks" => Target::Homes,
        [a, e] if a == "addressbooks" => Target::Home(lower(e)),
        [a, e, b] if a == "addressbooks" => Target::Book(lower(e), b.clone()),
        [a, e, b, c] if a == "addressbooks" => Target::Card(lower(e), b.clone(), c.clone()),
        _ => return None,
    })
}

/// An error answer: status, the RFC precondition element if one applies, and a message for people.
#[derive(Debug)]
pub struct DavError {
    pub status: StatusCode,
    /// (namespace, element name, inner XML)
    pub condition: Option<(&'static str, &'static str, String)>,
    pub message: String,
    /// For a 405: the methods the target supports (RFC 9110 §15.5.6); `ALLOW` when not set.
    pub allow: Option<&'static str>,
}

impl DavError {
    /// 405 for a method the target does not support, with the methods it does.
    pub fn method_not_allowed(allow: &'static str, message: impl Into<String>) -> DavError {
        DavError { allow: Some(allow), ..DavError::new(StatusCode::METHOD_NOT_ALLOWED, message) }
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> DavError {
        DavError { status, condition: None, message: message.into(), allow: None }
    }

    pub fn cond(status: StatusCode, ns: &'static str, name: &'static str, message: impl Into<String>) -> DavError {
        DavError { status, condition: Some((ns, name, String::new())), message: message.into(), allow: None }
    }

    pub fn bad_request(message: impl Into<String>) -> DavError {
        DavError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> DavError {
        DavError::new(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn forbidden_action(action: Action) -> DavError {
        // RFC 3744 §7.1.1: the privilege that was missing.
        let inner =
            format!("<d:resource><d:href/><d:privilege><d:{}/></d:privilege></d:resource>", action.dav_privilege());
        DavError {
            status: StatusCode::FORBIDDEN,
            condition: Some((DAV, "need-privileges", inner)),
            message: format!("your access level does not allow this ({})", action.dav_privilege()),
            allow: None,
        }
    }

    pub fn response(&self) -> Response<Body> {
        let mut r = self.body();
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(self.allow.unwrap_or(ALLOW)));
        }
        r
    }

    fn body(&self) -> Response<Body> {
        let Some((ns, name, inner)) = &self.condition else {
            let mut r = text(self.status, &self.message);
            if self.status == StatusCode::SERVICE_UNAVAILABLE {
                // RFC 9110 §10.2.3: how long the client should wait before it tries again.
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static(crate::response::RETRY_AFTER_UNAVAILABLE));
            }
            return r;
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error {}>{}<lb:message xmlns:lb=\"urn:labelbook\">{}</lb:message></d:error>\n",
            xml::NS_DECLS,
            xml::element(ns, name, Some(inner)),
            xml::escape(&self.message)
        );
        let mut r = Response::new(crate::response::full(body));
        *r.status_mut() = self.status;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
        r
    }
}

impl From<ServiceError> for DavError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => DavError::not_found(),
            ServiceError::Forbidden(a) => DavError::forbidden_action(a),
            ServiceError::PreconditionFailed => {
                DavError::new(StatusCode::PRECONDITION_FAILED, "the resource changed (If-Match / If-None-Match)")
            }
            ServiceError::UidConflict(href) => DavError {
                status: StatusCode::CONFLICT,
                // Empty when the caller may not know where the other card is.
                condition: Some((
                    CARDDAV,
                    "no-uid-conflict",
                    if href.is_empty() { String::new() } else { format!("<d:href>{}</d:href>", xml::escape(&href)) },
                )),
                message: "another card in this address book has the same UID (RFC 6352 §6.3.2.1)".into(),
                allow: None,
            },
            // The card at the request's name is the one in conflict; the PUT handler names it (`card.rs`).
            ServiceError::UidChanged => DavError::cond(
                StatusCode::FORBIDDEN,
                CARDDAV,
                "no-uid-conflict",
                "a card's UID cannot change (RFC 6352 §6.3.2.1): store a card with a new UID at a new name",
            ),
            ServiceError::InvalidCard(e) => {
                DavError::cond(StatusCode::FORBIDDEN, CARDDAV, "valid-address-data", e.to_string())
            }
            ServiceError::TooLarge(n) => DavError::cond(
                StatusCode::PAYLOAD_TOO_LARGE,
                CARDDAV,
                "max-resource-size",
                format!("larger than {n} bytes"),
            ),
            ServiceError::Invalid(m) => DavError::new(StatusCode::FORBIDDEN, m),
            ServiceError::Field(e) => DavError::new(StatusCode::FORBIDDEN, format!("{}: {}", e.field, e.message)),
            ServiceError::Conflict(m) => DavError::new(StatusCode::CONFLICT, m),
            ServiceError::Refused(m) => DavError::new(StatusCode::FORBIDDEN, m),
            ServiceError::Missing(what) => DavError::new(StatusCode::NOT_FOUND, format!("no {what}")),
            ServiceError::TooSoon(_, m) => DavError::new(StatusCode::TOO_MANY_REQUESTS, m),
            ServiceError::Quota(m) => DavError::new(StatusCode::INSUFFICIENT_STORAGE, m),
            // RFC 4918 §11.5: the server cannot store the representation.
            ServiceError::Full(m) => {
                tracing::error!(error = %m, "the database is full");
                DavError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the server has no room left to store this; nothing was changed",
                )
            }
            ServiceError::Store(e) if e.is_transient() => {
                tracing::error!(error = %e, "the database cannot answer now");
                DavError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable; try again")
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                DavError::new(StatusCode::INTERNAL_SERVER_ERROR, "an internal error; it has been logged")
            }
        }
    }
}

pub type DavResult = Result<Response<Body>, DavError>;

pub fn options() -> Response<Body> {
    let mut r = Response::new(crate::response::empty());
    let h = r.headers_mut();
    h.insert("DAV", HeaderValue::from_static("1, 3, access-control, addressbook, extended-mkcol, webdav-push"));
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

pub fn too_large(limit: usize, is_card: bool) -> Response<Body> {
    if is_card {
        DavError::cond(
            StatusCode::PAYLOAD_TOO_LARGE,
            CARDDAV,
            "max-resource-size",
            format!("a vCard may be at most {limit} bytes"),
        )
        .response()
    } else {
        text(StatusCode::PAYLOAD_TOO_LARGE, format!("request bodies may be at most {limit} bytes"))
    }
}

/// What every handler gets: the app, who asks, and the request head.
pub struct Ctx<'a> {
    pub app: Arc<App>,
    pub who: &'a Principal,
    pub headers: &'a HeaderMap,
}

impl Ctx<'_> {
    pub fn email(&self) -> &str {
        &self.who.user.email
    }

    /// A home or book path must be the caller's own: anything else is reported as absent.
    pub fn own_home(&self, email: &str) -> Result<(), DavError> {
        if email == self.who.user.email { Ok(()) } else { Err(DavError::not_found()) }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn handle(app: &Arc<App>, who: &Principal, parts: &Parts, body: Bytes) -> Response<Body> {
    let ctx = Ctx { app: app.clone(), who, headers: &parts.headers };
    if let Some(id) = parts.uri.path().strip_prefix(crate::push::PATH) {
        return push::registration(&ctx, parts.method.as_str(), id).await.unwrap_or_else(|e| e.response());
    }
    let Some(target) = parse_target(parts.uri.path()) else {
        return DavError::not_found().response();
    };
    // Everything a user syncs lives in their own home (shared labels included), so another user's home is
    // simply absent, whatever the method: ids and names do not leak.
    if let Target::Home(e) | Target::Book(e, _) | Target::Card(e, _, _) = &target
        && *e != who.user.email
    {
        return DavError::not_found().response();
    }
    let result = match parts.method.as_str() {
        "PROPFIND" => collection::propfind(&ctx, &target, &body).await,
        "PROPPATCH" => collection::proppatch(&ctx, &target, &body).await,
        "MKCOL" => collection::mkcol(&ctx, &target, &body).await,
        "REPORT" => report::report(&ctx, &target, &body).await,
        "GET" | "HEAD" => card::get(&ctx, &target, parts.method == Method::HEAD).await,
        "PUT" => card::put(&ctx, &target, &body).await,
        "COPY" | "MOVE" => card::copy_or_move(&ctx, &target, parts.method.as_str() == "MOVE").await,
        "ACL" => collection::acl(&ctx, &target).await,
        "POST" => push::register(&ctx, &target, &body).await,
        "DELETE" => match target {
            Target::Card(..) => card::delete(&ctx, &target).await,
            _ => collection::delete(&ctx, &target).await,
        },
        _ => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, format!("{} is not supported here", parts.method));
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            Ok(r)
        }
    };
    result.unwrap_or_else(|e| e.response())
}

/// `Depth` as RFC 4918 §10.2 defines it; an absent header means infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

pub fn depth(ctx: &Ctx<'_>, default: Depth) -> Result<Depth, DavError> {
    match ctx.header("depth").map(str::trim) {
        None => Ok(default),
        Some("0") => Ok(Depth::Zero),
        Some("1") => Ok(Depth::One),
        Some(v) if v.eq_ignore_ascii_case("infinity") => Ok(Depth::Infinity),
        Some(v) => Err(DavError::bad_request(format!("Depth: '{v}' is not 0, 1 or infinity"))),
    }
}

pub fn parse_xml(body: &[u8]) -> Result<xml::Element, DavError> {
    xml::parse(body).map_err(|e| DavError::bad_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_paths_and_urls() {
        assert_eq!(parse_target("/dav"), Some(Target::Root));
        assert_eq!(parse_target("/dav/"), Some(Target::Root));
        assert_eq!(parse_target("/dav/principals/Ann%40x.org/"), Some(Target::Principal("ann@x.org".into())));
        assert_eq!(parse_target("/dav/addressbooks/a@x/contacts"), Some(Target::Book("a@x".into(), "contacts".into())));
        assert_eq!(
            parse_target("https://h:8080/dav/addressbooks/a@x/contacts/a%20b.vcf"),
            Some(Target::Card("a@x".into(), "contacts".into(), "a b.vcf".into()))
        );
        assert_eq!(parse_target("/davx"), None);
        assert_eq!(parse_target("/dav/addressbooks/a/b/c/d"), None);
        assert_eq!(parse_target("/dav/addressbooks/a/b/%ff"), None);
        assert_eq!(card_href("a@x", "contacts", "a b/c.vcf"), "/dav/addressbooks/a@x/contacts/a%20b%2Fc.vcf");
    }
}
