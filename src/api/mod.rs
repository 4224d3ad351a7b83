//! The JSON API under `/api/v1` (described by schema/openapi.yaml, served at `/api/v1/openapi.yaml`).
//! Like dav/, it parses, asks service/ and renders: no SQL and no permission decisions here. Errors are RFC 9457
//! problem documents.

mod admin;
mod contacts;
mod duplicates;
mod events;
mod google;
mod history;
mod imports;
mod invites;
mod labels;
mod problem;
mod session;
mod settings;

/// `/api/v1/invite-links/…`, answered with or without credentials.
pub async fn invite_link_route(
    app: &App,
    who: Option<&ApiPrincipal>,
    parts: &Parts,
    body: Bytes,
    ip: std::net::IpAddr,
    secure: bool,
) -> Response<Body> {
    invites::route(app, who, parts, body, ip, secure).await.unwrap_or_else(Problem::into_response)
}
pub use events::MAX_STREAMS_PER_USER;
pub use problem::Problem;
pub use session::{CSRF_HEADER, SESSION_COOKIE, login};

use crate::app::App;
use crate::response::{Body, full};
use crate::service::access::Credential;
use crate::service::accounts::ApiPrincipal;
use crate::store::{Session, User};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode, header};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The OpenAPI document, served as written.
pub const OPENAPI: &str = include_str!("../../schema/openapi.yaml");

pub type ApiResult = Result<Response<Body>, Problem>;

/// What a handler gets: who asks, what they sent.
pub struct Request<'a> {
    pub app: &'a Arc<App>,
    pub user: &'a User,
    /// How the request authenticated (some actions need the person, not a device or a script).
    pub credential: Credential,
    /// The dashboard session, when it came with the session cookie.
    pub session: Option<&'a Session>,
    /// Whether the client reached us over TLS (cookies are then Secure).
    pub secure: bool,
    pub parts: &'a Parts,
    pub body: Bytes,
    pub query: Vec<(String, String)>,
}

/// A JSON body as `T`: 415 unless it is declared JSON, 400 with serde's message (which names the field and
/// position) when it does not fit.
pub fn json_body<T: DeserializeOwned>(parts: &Parts, body: &[u8]) -> Result<T, Problem> {
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" && !(media.starts_with("application/") && media.ends_with("+json")) {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as application/json"));
    }
    serde_json::from_slice(body).map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

impl Request<'_> {
    /// Where the request came to (`https://host:port`), from its Host (or HTTP/2 :authority); `None` when that
    /// is missing or not a plain host name. Only used for links when no public address is configured.
    pub fn origin(&self) -> Option<String> {
        let host = self
            .parts
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| self.parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string))?;
        let plain = !host.is_empty()
            && host.len() <= 255
            && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
        plain.then(|| format!("{}://{host}", if self.secure { "https" } else { "http" }))
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        json_body(self.parts, &self.body)
    }

    /// A query parameter; every parameter must be one the endpoint knows (`allowed`), so a typo is an error
    /// rather than silently ignored.
    pub fn params(&self, allowed: &[&str]) -> Result<(), Problem> {
        for (k, _) in &self.query {
            if !allowed.contains(&k.as_str()) {
                return Err(Problem::invalid(k, "unknown query parameter"));
            }
        }
        Ok(())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A list answer: `{"items": [...]}`.
#[derive(Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> ApiResult {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, format!("could not encode the answer: {e}")))?;
    let mut r = Response::new(full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `r` with the strong entity tag `etag` (given without quotes).
pub fn with_etag(mut r: Response<Body>, etag: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

pub fn no_content() -> ApiResult {
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

fn parse_query(q: Option<&str>) -> Result<Vec<(String, String)>, Problem> {
    let mut out = Vec::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is not UTF-8"))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        if out.iter().any(|(seen, _): &(String, String)| *seen == k) {
            return Err(Problem::invalid(&k, "given more than once"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// The OpenAPI document, for anyone (it describes the API, not anybody's data).
pub fn openapi() -> Response<Body> {
    let mut r = Response::new(full(OPENAPI));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml; charset=utf-8"));
    r
}

/// Routes an authenticated request under `/api/v1/`.
pub async fn handle(app: &Arc<App>, who: &ApiPrincipal, parts: &Parts, body: Bytes, secure: bool) -> Response<Body> {
    let result = match parse_query(parts.uri.query()) {
        Ok(query) => {
            let req = Request {
                app,
                user: &who.principal.user,
                credential: who.credential,
                session: who.session.as_ref(),
                secure,
                parts,
                body,
                query,
            };
            route(&req).await
        }
        Err(p) => Err(p),
    };
    result.unwrap_or_else(Problem::into_response)
}

async fn route(req: &Request<'_>) -> ApiResult {
    let path = req.parts.uri.path().strip_prefix("/api/v1").unwrap_or("");
    let raw: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let mut segs = Vec::with_capacity(raw.len());
    for s in raw {
        segs.push(
            percent_decode_str(s)
                .decode_utf8()
                .map_err(|_| Problem::new(StatusCode::NOT_FOUND, "no such resource"))?
                .into_owned(),
        );
    }
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.parts.method.clone();
    let allow = |methods: &'static str| Problem::method_not_allowed(methods);
    match segs.as_slice() {
        ["me"] => match m {
            Method::GET => labels::me(req).await,
            _ => Err(allow("GET")),
        },
        ["events"] => match m {
            Method::GET => events::stream(req).await,
            _ => Err(allow("GET")),
        },
        ["session"] => match m {
            Method::GET => session::current(req).await,
            Method::DELETE => session::logout(req).await,
            _ => Err(allow("GET, POST, DELETE")),
        },
        ["tokens"] => match m {
            Method::GET => session::tokens(req).await,
            Method::POST => session::create_token(req).await,
            _ => Err(allow("GET, POST")),
        },
        ["tokens", id] => match m {
            Method::DELETE => session::revoke_token(req, id).await,
            _ => Err(allow("DELETE")),
        },
        ["app-passwords"] => match m {
            Method::GET => session::app_passwords(req).await,
            Method::POST => session::create_app_password(req).await,
            _ => Err(allow("GET, POST")),
        },
        ["app-passwords", id] => match m {
            Method::DELETE => session::revoke_app_password(req, id).await,
            _ => Err(allow("DELETE")),
        },
        ["labels"] => match m {
            Method::GET => labels::list(req).await,
            Method::POST => labels::create(req).await,
            _ => Err(allow("GET, POST")),
        },
        ["labels", id] => match m {
            Method::GET => labels::get(req, id).await,
            Method::PATCH => labels::update(req, id).await,
            Method::DELETE => labels::delete(req, id).await,
            _ => Err(allow("GET, PATCH, DELETE")),
        },
        ["labels", id, "grants"] => match m {
            Method::GET => labels::grants(req, id).await,
            Method::POST => labels::share(req, id).await,
            _ => Err(allow("GET, POST")),
        },
        ["grantees", "check"] => match m {
            Method::POST => labels::check_grantee(req).await,
            _ => Err(allow("POST")),
        },
        ["grants", gid, "link"] => match m {
            Method::POST => invites::make(req, gid).await,
            _ => Err(allow("POST")),
        },
        ["grants", gid, "resend"] => match m {
            Method::POST => invites::resend(req, gid).await,
            _ => Err(allow("POST")),
        },
        ["grants", gid] => match m {
            Method::PATCH => labels::change_grant(req, gid).await,
            Method::DELETE => labels::revoke(req, gid).await,
            _ => Err(allow("PATCH, DELETE")),
        },
        ["invitations"] => match m {
            Method::GET => labels::invitations(req).await,
            _ => Err(allow("GET")),
        },
        ["invitations", gid, answer @ ("accept" | "decline")] => match m {
            Method::POST => labels::answer(req, gid, *answer == "accept").await,
            _ => Err(allow("POST")),
        },
        ["google"] => google::account(req, None).await,
        ["google", "sync"] => google::sync(req, None).await,
        ["google", "oauth"] => google::authorize(req).await,
        ["google", "oauth", "callback"] => google::callback(req).await,
        ["admin", "google"] => google::overview(req).await,
        ["admin", "google", "key"] => google::key(req).await,
        ["admin", "google", "users", email] => google::account(req, Some(email)).await,
        ["admin", "google", "users", email, "sync"] => google::sync(req, Some(email)).await,
        ["directory"] => match m {
            Method::GET => admin::directory(req).await,
            _ => Err(allow("GET")),
        },
        ["admin", "users"] => admin::users(req).await,
        ["admin", "users", email] => admin::user(req, email).await,
        ["admin", "groups"] => admin::groups(req).await,
        ["admin", "groups", name] => admin::group(req, name).await,
        ["admin", "groups", name, "members", email] => admin::member(req, name, email).await,
        ["admin", "domains"] => admin::domains(req).await,
        ["admin", "domains", name] => admin::domain(req, name).await,
        ["admin", "settings"] => match m {
            Method::GET => settings::get(req).await,
            Method::PATCH => settings::change(req).await,
            _ => Err(allow("GET, PATCH")),
        },
        ["admin", "settings", "smtp-test"] => match m {
            Method::POST => settings::test_smtp(req).await,
            _ => Err(allow("POST")),
        },
        ["imports"] => match m {
            Method::GET => imports::list(req).await,
            Method::POST => imports::start(req).await,
            _ => Err(allow("GET, POST")),
        },
        ["imports", id] => match m {
            Method::GET => imports::get(req, id).await,
            _ => Err(allow("GET")),
        },
        ["export"] => match m {
            Method::GET => imports::export(req).await,
            Method::POST => imports::export_chosen(req).await,
            _ => Err(allow("GET, POST")),
        },
        ["duplicates"] => match m {
            Method::GET => duplicates::list(req).await,
            _ => Err(allow("GET")),
        },
        ["duplicates", "merge"] => match m {
            Method::POST => duplicates::merge(req).await,
            _ => Err(allow("POST")),
        },
        ["merges", id, "undo"] => match m {
            Method::POST => duplicates::undo(req, id).await,
            _ => Err(allow("POST")),
        },
        ["trash"] => match m {
            Method::GET => history::trash(req).await,
            _ => Err(allow("GET")),
        },
        ["trash", "contacts", cid, "restore"] => match m {
            Method::POST => history::restore_contact(req, cid).await,
            _ => Err(allow("POST")),
        },
        ["labels", id, "removals", rid, "restore"] => match m {
            Method::POST => history::restore_removal(req, id, rid).await,
            _ => Err(allow("POST")),
        },
        ["labels", id, "activity"] => match m {
            Method::GET => history::label_activity(req, id).await,
            _ => Err(allow("GET")),
        },
        ["contacts", cid, "history"] => match m {
            Method::GET => history::contact_history(req, cid).await,
            _ => Err(allow("GET")),
        },
        ["contacts"] => contacts::collection(req, crate::service::MY_CONTACTS).await,
        ["contacts", cid] => contacts::item(req, crate::service::MY_CONTACTS, cid).await,
        ["labels", id, "contacts"] => contacts::collection(req, id).await,
        ["labels", id, "transfer"] => match m {
            Method::POST => labels::transfer(req, id).await,
            _ => Err(allow("POST")),
        },
        ["contacts", cid, "labels"] => match m {
            Method::GET => contacts::labels(req, crate::service::MY_CONTACTS, cid).await,
            _ => Err(allow("GET")),
        },
        ["labels", id, "contacts", cid, "labels"] => match m {
            Method::GET => contacts::labels(req, id, cid).await,
            _ => Err(allow("GET")),
        },
        ["contacts", cid, "photo"] => match m {
            Method::GET => contacts::photo(req, crate::service::MY_CONTACTS, cid).await,
            _ => Err(allow("GET")),
        },
        ["labels", id, "contacts", cid, "photo"] => match m {
            Method::GET => contacts::photo(req, id, cid).await,
            _ => Err(allow("GET")),
        },
        ["labels", id, "members"] => match m {
            Method::POST => contacts::add_members(req, id).await,
            _ => Err(allow("POST")),
        },
        ["labels", id, "contacts", cid] => contacts::item(req, id, cid).await,
        _ => Err(Problem::new(StatusCode::NOT_FOUND, format!("nothing at {}", req.parts.uri.path()))),
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-25T09:30:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc_3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_602_645), "2026-11-25T10:30:45Z");
    }

    #[test]
    fn queries_decode_and_refuse_repeats() {
        let q = parse_query(Some("q=ann+lee&limit=5&cursor=a%2Bb")).unwrap();
        assert_eq!(
            q,
            vec![("q".into(), "ann lee".into()), ("limit".into(), "5".into()), ("cursor".into(), "a+b".into())]
        );
        assert!(parse_query(Some("q=a&q=b")).is_err());
    }
}
