//! Invitation links: the inviter makes one (`POST /grants/{id}/link`); whoever holds it reads what it invites
//! to and answers it (`/invite-links/{secret}…`), signed in as the invitee or, for an address with no account
//! yet, by choosing a password (which creates the account and signs it in).

use super::{ApiResult, Problem, json_response, no_content, rfc3339};
use crate::app::App;
use crate::service::accounts::ApiPrincipal;
use crate::store::User;
use bytes::Bytes;
use http::request::Parts;
use http::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// POST /grants/{id}/link (authenticated, through the normal route).
pub async fn make(req: &super::Request<'_>, gid: &str) -> ApiResult {
    req.params(&[])?;
    let gid = gid.parse::<i64>().map_err(|_| Problem::new(StatusCode::NOT_FOUND, "no such grant"))?;
    let (secret, expires) = req.app.service.invite_link(req.user, gid).await?;
    #[derive(Serialize)]
    struct Link {
        /// Where the invitee opens it, on this server (prepend its address).
        path: String,
        secret: String,
        expires_at: String,
    }
    json_response(
        StatusCode::CREATED,
        &Link { path: format!("/#/invite/{secret}"), secret: secret.clone(), expires_at: rfc3339(expires) },
    )
}

/// POST /grants/{id}/resend: mails a pending invitation again.
pub async fn resend(req: &super::Request<'_>, gid: &str) -> ApiResult {
    req.params(&[])?;
    let gid = gid.parse::<i64>().map_err(|_| Problem::new(StatusCode::NOT_FOUND, "no such grant"))?;
    let origin = req.origin();
    let status = req.app.service.resend_invitation(req.user, gid, origin.as_deref()).await?;
    json_response(StatusCode::ACCEPTED, &super::labels::mail_json(&status))
}

/// `/api/v1/invite-links/{secret}[/accept|/decline]`, with or without credentials.
pub async fn route(
    app: &App,
    who: Option<&ApiPrincipal>,
    parts: &Parts,
    body: Bytes,
    ip: IpAddr,
    secure: bool,
) -> ApiResult {
    if parts.uri.query().is_some_and(|q| !q.is_empty()) {
        return Err(Problem::invalid("query", "this resource takes no query parameters"));
    }
    let rest = parts.uri.path().strip_prefix("/api/v1/invite-links/").unwrap_or("");
    let (secret, action) = match rest.split_once('/') {
        Some((s, a)) => (s, Some(a)),
        None => (rest, None),
    };
    let me: Option<&User> = who.map(|w| &w.principal.user);
    match (action, &parts.method) {
        (None, &Method::GET) => {
            let info = app.service.link_info(secret).await?;
            #[derive(Serialize)]
            struct Info<'a> {
                email: &'a str,
                label_id: &'a str,
                label_name: &'a str,
                owner: &'a str,
                invited_by: Option<&'a str>,
                level: &'a str,
                account_exists: bool,
                can_create_account: bool,
                expires_at: String,
            }
            json_response(
                StatusCode::OK,
                &Info {
                    email: &info.grant.grantee,
                    label_id: &info.grant.label_id,
                    label_name: &info.label_name,
                    owner: &info.owner_email,
                    invited_by: info.invited_by.as_deref(),
                    level: &info.grant.level,
                    account_exists: info.account_exists,
                    can_create_account: info.may_create_account,
                    expires_at: rfc3339(info.expires_at),
                },
            )
        }
        (Some("accept"), &Method::POST) => {
            #[derive(Deserialize, Default)]
            #[serde(deny_unknown_fields)]
            struct Accept {
                #[serde(default)]
                password: Option<String>,
            }
            let form: Accept = if body.is_empty() { Accept::default() } else { super::json_body(parts, &body)? };
            let (user, made, label_id) =
                app.service.answer_link(&app.accounts, secret, me, form.password.as_deref(), true).await?;
            let Some(user) = user else {
                return Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "accepted without an account"));
            };
            #[derive(Serialize)]
            struct Accepted<'a> {
                label_id: &'a str,
                email: &'a str,
                account_created: bool,
                /// With a new account: its dashboard session is open (the cookie is set); send this as
                /// X-CSRF-Token.
                #[serde(skip_serializing_if = "Option::is_none")]
                csrf_token: Option<String>,
            }
            let mut cookie = None;
            let mut csrf = None;
            if made && let Some(password) = &form.password {
                let ua = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
                if let Ok((session, _, secret)) = app.accounts.login(&user.email, password, ip, ua).await {
                    cookie = Some((secret, session.expires_at - app.service.now()));
                    csrf = Some(session.csrf_token);
                }
            }
            let mut r = json_response(
                StatusCode::OK,
                &Accepted { label_id: &label_id, email: &user.email, account_created: made, csrf_token: csrf },
            )?;
            if let Some((secret, max_age)) = cookie {
                super::session::set_session_cookies(r.headers_mut(), &secret, max_age, secure)?;
            }
            Ok(r)
        }
        (Some("decline"), &Method::POST) => {
            app.service.answer_link(&app.accounts, secret, me, None, false).await?;
            no_content()
        }
        (None, _) => Err(Problem::method_not_allowed("GET")),
        (Some("accept" | "decline"), _) => Err(Problem::method_not_allowed("POST")),
        _ => Err(Problem::new(StatusCode::NOT_FOUND, format!("nothing at {}", parts.uri.path()))),
    }
}
