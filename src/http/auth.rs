//! Authentication on top of service/accounts: HTTP Basic (RFC 7617) for CardDAV and the API alike, and for the
//! API also Bearer API tokens (RFC 6750) and the dashboard's session cookie with its CSRF header. Each protocol
//! renders a refusal its own way (plain text for DAV clients, problem+json for the API).

use super::{Body, text};
use crate::api::{CSRF_HEADER, SESSION_COOKIE};
use crate::app::App;
use crate::service::access::{self, Credential, Scope};
use crate::service::accounts::{ApiPrincipal, AuthError, Principal};
use base64::Engine;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::net::SocketAddr;
use std::time::Duration;

/// Why a request is not authenticated.
pub enum Refusal {
    /// 401 with a Basic challenge, and why.
    Challenge(&'static str),
    /// 401 without a Basic challenge: a page's own fetch (a challenge would pop up the browser's password
    /// dialog over the dashboard's login form), or a Bearer token that is not (or no longer) valid.
    Unauthorized(&'static str, Option<&'static str>),
    /// 403: authenticated, but this credential may not make this request.
    Forbidden(&'static str),
    RateLimited(Duration),
    /// 503: the database cannot answer now; trying again may work.
    Unavailable,
    /// 500: the database failed in a way trying again will not fix.
    Internal,
}

impl Refusal {
    /// A failed credential check: 503 when trying again may work, else 500 (logged here, once).
    fn store(what: &str, e: &crate::store::StoreError) -> Refusal {
        tracing::error!(error = %e, "{what} failed on the database");
        if e.is_transient() { Refusal::Unavailable } else { Refusal::Internal }
    }
}

const CHALLENGE: &str = "Basic realm=\"Labelbook\", charset=\"UTF-8\"";

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Challenge(_) | Refusal::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refusal::Challenge(m) | Refusal::Unauthorized(m, _) | Refusal::Forbidden(m) => m,
            Refusal::RateLimited(_) => "too many failed logins; try again later",
            Refusal::Unavailable => "the database is unavailable; try again",
            Refusal::Internal => "an internal error; it has been logged",
        }
    }

    fn headers(&self, r: &mut Response<Body>) {
        match self {
            Refusal::Challenge(_) => {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
            }
            Refusal::RateLimited(wait) => {
                if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Refusal::Unauthorized(_, Some(challenge)) => {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            Refusal::Unavailable => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static(crate::response::RETRY_AFTER_UNAVAILABLE));
            }
            Refusal::Unauthorized(_, None) | Refusal::Forbidden(_) | Refusal::Internal => {}
        }
    }

    pub fn into_text(self) -> Response<Body> {
        let mut r = text(self.status(), self.message());
        self.headers(&mut r);
        r
    }

    pub fn into_problem(self) -> Response<Body> {
        let mut r = crate::api::Problem::new(self.status(), self.message()).into_response();
        self.headers(&mut r);
        r
    }
}

pub async fn authenticate<B>(app: &App, req: &Request<B>, peer: SocketAddr) -> Result<Principal, Refusal> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(Refusal::Challenge("authentication required"));
    };
    basic(app, value, peer).await
}

const BEARER_INVALID: &str = "Bearer realm=\"Labelbook\", error=\"invalid_token\"";

/// A request from a page's script (fetch): browsers mark those with Sec-Fetch-Mode, which curl and scripts do
/// not send.
pub fn from_page<B>(req: &Request<B>) -> bool {
    req.headers().get("sec-fetch-mode").is_some_and(|m| m.as_bytes() != b"navigate")
}

pub fn cookie<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Authenticates an API request: an Authorization header (Basic or Bearer) when there is one, else the session
/// cookie. Unsafe methods with a cookie need the session's CSRF token, and a read-scoped token only reads.
pub async fn authenticate_api<B>(app: &App, req: &Request<B>, peer: SocketAddr) -> Result<ApiPrincipal, Refusal> {
    let safe = req.method().is_safe();
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let bearer = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        if let Some(token) = bearer {
            let found = app.accounts.bearer(token.trim()).await.map_err(|e| Refusal::store("token check", &e))?;
            let Some((token, user)) = found else {
                return Err(Refusal::Unauthorized("unknown, expired or revoked API token", Some(BEARER_INVALID)));
            };
            let scope = Scope::parse(&token.scope).unwrap_or(Scope::Read);
            let credential = Credential::Token(scope);
            if !access::credential_allows(credential, safe) {
                return Err(Refusal::Forbidden("this API token is read-only: it may only GET"));
            }
            return Ok(ApiPrincipal { principal: Principal { user, app_password: None }, credential, session: None });
        }
        let principal = basic(app, value, peer).await.map_err(|r| match r {
            Refusal::Challenge(m) if from_page(req) => Refusal::Unauthorized(m, None),
            r => r,
        })?;
        let credential = if principal.app_password.is_some() { Credential::AppPassword } else { Credential::Password };
        return Ok(ApiPrincipal { principal, credential, session: None });
    }
    let Some(secret) = cookie(req, SESSION_COOKIE) else {
        return Err(if from_page(req) {
            Refusal::Unauthorized("sign in first", None)
        } else {
            Refusal::Challenge("authentication required")
        });
    };
    let found = app.accounts.session(secret).await.map_err(|e| Refusal::store("session check", &e))?;
    let Some((session, user)) = found else {
        return Err(Refusal::Unauthorized("your session has ended; sign in again", None));
    };
    if !safe {
        let sent = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
        if !constant_time_eq(sent, session.csrf_token.as_bytes()) {
            return Err(Refusal::Forbidden("missing or wrong X-CSRF-Token header for this session"));
        }
    }
    Ok(ApiPrincipal {
        principal: Principal { user, app_password: None },
        credential: Credential::Session,
        session: Some(session),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn basic(app: &App, value: &HeaderValue, peer: SocketAddr) -> Result<Principal, Refusal> {
    let creds = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some(creds) = creds else {
        return Err(Refusal::Challenge("malformed Authorization header: Basic credentials expected"));
    };
    let Some((email, password)) = creds.split_once(':') else {
        return Err(Refusal::Challenge("malformed Basic credentials"));
    };
    match app.accounts.authenticate(email, password, peer.ip()).await {
        Ok(p) => Ok(p),
        Err(AuthError::Invalid) => {
            crate::service::login_log::log_failed_login(email, peer.ip());
            Err(Refusal::Challenge("wrong e-mail or password"))
        }
        Err(AuthError::RateLimited(wait)) => Err(Refusal::RateLimited(wait)),
        Err(AuthError::Store(e)) => Err(Refusal::store("authentication", &e)),
    }
}
