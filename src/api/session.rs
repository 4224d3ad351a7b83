//! Signing in and out of the dashboard (a session cookie plus a CSRF token), and the credentials a person hands
//! out: app passwords for devices, API tokens for scripts.

use super::{ApiResult, Items, Problem, Request, json_response, no_content, rfc3339};
use crate::app::App;
use crate::response::Body;
use crate::service::accounts::AuthError;
use crate::service::push::PushSummary;
use crate::store::{ApiToken, AppPassword, Session, User};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The cookie that carries a dashboard session.
pub const SESSION_COOKIE: &str = "labelbook_session";
/// The header a page sends its session's CSRF token in, on every unsafe request.
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Serialize)]
struct UserJson<'a> {
    email: &'a str,
    display_name: &'a str,
    is_admin: bool,
}

#[derive(Serialize)]
struct SessionJson<'a> {
    user: UserJson<'a>,
    /// basic, app_password, session or token.
    credential: &'static str,
    /// Sent back in X-CSRF-Token on every unsafe request made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

fn session_json<'a>(user: &'a User, credential: &'static str, session: Option<&'a Session>) -> SessionJson<'a> {
    SessionJson {
        user: UserJson { email: &user.email, display_name: &user.display_name, is_admin: user.is_admin },
        credential,
        csrf_token: session.map(|s| s.csrf_token.as_str()),
        expires_at: session.map(|s| rfc3339(s.expires_at)),
    }
}

/// A cookie the page can read that says a session cookie was set (it holds no secret: the session cookie itself
/// is HttpOnly). A page loaded without it signs in without first asking `GET /session`, whose 401 every browser
/// logs as an error.
pub(super) const SIGNED_IN_COOKIE: &str = "lb_signed_in";

/// Sets (or, with `max_age` 0, clears) the session cookie and its readable marker.
pub(super) fn set_session_cookies(
    headers: &mut http::HeaderMap,
    secret: &str,
    max_age: i64,
    secure: bool,
) -> Result<(), Problem> {
    headers.append(header::SET_COOKIE, cookie(secret, max_age, secure)?);
    let flag = if secure { "; Secure" } else { "" };
    let value = if max_age > 0 { "1" } else { "" };
    let marker =
        HeaderValue::from_str(&format!("{SIGNED_IN_COOKIE}={value}; Path=/; SameSite=Lax; Max-Age={max_age}{flag}"))
            .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "could not set the session cookie"))?;
    headers.append(header::SET_COOKIE, marker);
    Ok(())
}

pub(super) fn cookie(value: &str, max_age: i64, secure: bool) -> Result<HeaderValue, Problem> {
    // Lax keeps the cookie off cross-site subrequests and form posts; the CSRF header covers the rest.
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "could not set the session cookie"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

/// POST /api/v1/session: the only API call without credentials.
pub async fn login(
    app: &App,
    parts: &Parts,
    body: Bytes,
    ip: IpAddr,
    secure: bool,
) -> (Response<Body>, Option<String>) {
    match login_inner(app, parts, body, ip, secure).await {
        Ok((r, email)) => (r, Some(email)),
        Err(p) => (p.into_response(), None),
    }
}

async fn login_inner(
    app: &App,
    parts: &Parts,
    body: Bytes,
    ip: IpAddr,
    secure: bool,
) -> Result<(Response<Body>, String), Problem> {
    let form: Login = super::json_body(parts, &body)?;
    if form.email.trim().is_empty() {
        return Err(Problem::unprocessable("email", "enter your e-mail address"));
    }
    if form.password.is_empty() {
        return Err(Problem::unprocessable("password", "enter your password"));
    }
    let ua = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (session, user, secret) = match app.accounts.login(&form.email, &form.password, ip, ua).await {
        Ok(s) => s,
        Err(AuthError::Invalid) => {
            crate::service::login_log::log_failed_login(form.email.trim(), ip);
            let mut p = Problem::new(StatusCode::UNAUTHORIZED, "wrong e-mail or password");
            p.errors.push(super::problem::FieldProblem {
                field: "password".into(),
                message: "wrong e-mail or password".into(),
            });
            return Err(p);
        }
        Err(AuthError::RateLimited(wait)) => {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed logins; try again in {} s", wait.as_secs().max(1)),
            );
            p.retry_after = Some(u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX));
            return Err(p);
        }
        Err(AuthError::Store(e)) => return Err(crate::service::ServiceError::from(e).into()),
    };
    let max_age = session.expires_at - app.service.now();
    let mut r = json_response(StatusCode::CREATED, &session_json(&user, "session", Some(&session)))?;
    set_session_cookies(r.headers_mut(), &secret, max_age, secure)?;
    Ok((r, user.email))
}

fn credential_name(req: &Request<'_>) -> &'static str {
    use crate::service::access::Credential;
    match req.credential {
        Credential::Password => "basic",
        Credential::AppPassword => "app_password",
        Credential::Session => "session",
        Credential::Token(_) => "token",
    }
}

/// GET /api/v1/session: who this is, and the CSRF token a page needs after a reload.
pub async fn current(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    json_response(StatusCode::OK, &session_json(req.user, credential_name(req), req.session))
}

/// DELETE /api/v1/session: signs this browser out (the session ends on the server, the cookie is cleared).
pub async fn logout(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let Some(session) = req.session else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "this request has no dashboard session to end"));
    };
    req.app.accounts.logout(session).await.map_err(crate::service::ServiceError::Store)?;
    let mut r = no_content()?;
    set_session_cookies(r.headers_mut(), "", 0, req.secure)?;
    Ok(r)
}

#[derive(Serialize)]
struct TokenJson<'a> {
    id: i64,
    name: &'a str,
    scope: &'a str,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
}

fn token_json(t: &ApiToken) -> TokenJson<'_> {
    TokenJson {
        id: t.id,
        name: &t.name,
        scope: &t.scope,
        created_at: rfc3339(t.created_at),
        last_used_at: t.last_used_at.map(rfc3339),
        expires_at: t.expires_at.map(rfc3339),
    }
}

pub async fn tokens(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let tokens = req.app.accounts.tokens(req.user).await?;
    json_response(StatusCode::OK, &Items { items: tokens.iter().map(token_json).collect() })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    scope: String,
    #[serde(default)]
    expires_in_days: Option<i64>,
}

pub async fn create_token(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let body: NewToken = req.json()?;
    let (token, secret) =
        req.app.accounts.create_token(req.user, req.credential, &body.name, &body.scope, body.expires_in_days).await?;
    #[derive(Serialize)]
    struct Created<'a> {
        token: TokenJson<'a>,
        /// Shown once: send it as `Authorization: Bearer …`.
        secret: &'a str,
    }
    json_response(StatusCode::CREATED, &Created { token: token_json(&token), secret: &secret })
}

fn id_of(s: &str) -> Result<i64, Problem> {
    s.parse().map_err(|_| Problem::new(StatusCode::NOT_FOUND, "no such resource"))
}

pub async fn revoke_token(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    req.app.accounts.revoke_token(req.user, req.credential, id_of(id)?).await?;
    no_content()
}

#[derive(Serialize)]
struct AppPasswordJson<'a> {
    id: i64,
    name: &'a str,
    layout: &'a str,
    created_at: String,
    last_used_at: Option<String>,
    push: PushJson,
}

/// What the device registered for WebDAV-Push.
#[derive(Serialize)]
struct PushJson {
    registrations: usize,
    last_push_at: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<String>,
}

fn app_password_json<'a>(a: &'a AppPassword, push: Option<&PushSummary>) -> AppPasswordJson<'a> {
    let push = push.cloned().unwrap_or_default();
    AppPasswordJson {
        id: a.id,
        name: &a.name,
        layout: &a.layout,
        created_at: rfc3339(a.created_at),
        last_used_at: a.last_used_at.map(rfc3339),
        push: PushJson {
            registrations: push.registrations,
            last_push_at: push.last_push_at.map(rfc3339),
            last_error: push.last_error,
            last_error_at: push.last_error_at.map(rfc3339),
        },
    }
}

pub async fn app_passwords(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let all = req.app.accounts.app_passwords_of(req.user).await?;
    let push = req.app.service.push_summary(req.user).await?;
    json_response(
        StatusCode::OK,
        &Items { items: all.iter().map(|a| app_password_json(a, push.get(&Some(a.id)))).collect() },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAppPassword {
    name: String,
    #[serde(default = "books")]
    layout: String,
}

fn books() -> String {
    "books".into()
}

pub async fn create_app_password(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let body: NewAppPassword = req.json()?;
    let (app, password) =
        req.app.accounts.create_app_password(req.user, req.credential, &body.name, &body.layout).await?;
    #[derive(Serialize)]
    struct Created<'a> {
        app_password: AppPasswordJson<'a>,
        /// Shown once: the device's password, with the account's e-mail as user name.
        password: &'a str,
        /// What to enter as the server in a CardDAV client.
        server_path: &'static str,
    }
    json_response(
        StatusCode::CREATED,
        &Created { app_password: app_password_json(&app, None), password: &password, server_path: "/dav/" },
    )
}

pub async fn revoke_app_password(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    req.app.accounts.revoke_app_password_by_id(req.user, req.credential, id_of(id)?).await?;
    no_content()
}
