//! HTTP Basic authentication (RFC 7617) on top of service/accounts.

use super::{Body, text};
use crate::app::App;
use crate::service::accounts::{AuthError, Principal};
use base64::Engine;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::net::SocketAddr;

fn challenge(msg: &str) -> Response<Body> {
    let mut r = text(StatusCode::UNAUTHORIZED, msg);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Labelbook\", charset=\"UTF-8\""));
    r
}

pub async fn authenticate<B>(app: &App, req: &Request<B>, peer: SocketAddr) -> Result<Principal, Response<Body>> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(challenge("authentication required"));
    };
    let creds = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some(creds) = creds else {
        return Err(challenge("malformed Authorization header: Basic credentials expected"));
    };
    let Some((email, password)) = creds.split_once(':') else {
        return Err(challenge("malformed Basic credentials"));
    };
    match app.accounts.authenticate(email, password, peer.ip()).await {
        Ok(p) => Ok(p),
        Err(AuthError::Invalid) => {
            tracing::info!(user = email, ip = %peer.ip(), "login failed");
            Err(challenge("wrong e-mail or password"))
        }
        Err(AuthError::RateLimited(wait)) => {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, "too many failed logins; try again later");
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Err(r)
        }
        Err(AuthError::Store(e)) => {
            tracing::error!(error = %e, "authentication failed on the database");
            Err(text(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable"))
        }
    }
}
