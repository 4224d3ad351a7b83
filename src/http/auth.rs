//! HTTP Basic authentication (RFC 7617) on top of service/accounts, for CardDAV and the API alike; each renders
//! a refusal its own way (plain text for DAV clients, problem+json for the API).

use super::{Body, text};
use crate::app::App;
use crate::service::accounts::{AuthError, Principal};
use base64::Engine;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::net::SocketAddr;
use std::time::Duration;

/// Why a request is not authenticated.
pub enum Refusal {
    /// 401 with a Basic challenge, and why.
    Challenge(&'static str),
    RateLimited(Duration),
    Unavailable,
}

const CHALLENGE: &str = "Basic realm=\"Labelbook\", charset=\"UTF-8\"";

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Challenge(_) => StatusCode::UNAUTHORIZED,
            Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refusal::Challenge(m) => m,
            Refusal::RateLimited(_) => "too many failed logins; try again later",
            Refusal::Unavailable => "the database is unavailable",
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
            Refusal::Unavailable => {}
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
            tracing::info!(user = email, ip = %peer.ip(), "login failed");
            Err(Refusal::Challenge("wrong e-mail or password"))
        }
        Err(AuthError::RateLimited(wait)) => Err(Refusal::RateLimited(wait)),
        Err(AuthError::Store(e)) => {
            tracing::error!(error = %e, "authentication failed on the database");
            Err(Refusal::Unavailable)
        }
    }
}
