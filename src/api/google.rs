//! The Google Contacts bridge: `/google` (your own mirror: state, connect, disconnect, sync now) and
//! `/admin/google` (every mirrored account, and the same actions for any of them).

use super::{ApiResult, Problem, Request, json_response, rfc3339};
use crate::bridge::key::{KeyRefusal, Source};
use crate::store::google::GoogleAccount;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct StateJson {
    user: String,
    /// Whether this server has the bridge set up (a service-account key, an OAuth client, or both).
    available: bool,
    /// The ways to connect this server offers: through the Workspace delegation (`PUT /google`), and with
    /// one's own Google account (`POST /google/oauth`).
    delegation: bool,
    own_account: bool,
    /// How this mirror reaches Google: `delegation`, `own_account`, or null when off.
    connected_with: Option<&'static str>,
    enabled: bool,
    /// `off`, `pending`, `ok`, `permission_lost`, `paused`, `error` or `removing`.
    status: String,
    my_contacts: bool,
    last_error: Option<String>,
    last_push: Option<String>,
    last_pull: Option<String>,
    sync_requested: bool,
    syncing: bool,
}

fn state(req: &Request<'_>, email: &str, a: Option<&GoogleAccount>) -> StateJson {
    let bridge = &req.app.bridge;
    StateJson {
        user: email.to_string(),
        available: bridge.available(),
        delegation: bridge.people.tokens.account().is_some(),
        own_account: bridge.people.tokens.oauth.is_some(),
        connected_with: a
            .filter(|a| a.status != "removing")
            .map(|a| if a.oauth_token.is_some() { "own_account" } else { "delegation" }),
        enabled: a.is_some_and(|a| a.status != "removing"),
        status: a.map(|a| a.status.clone()).unwrap_or_else(|| "off".into()),
        my_contacts: a.is_some_and(|a| a.my_contacts),
        last_error: a.and_then(|a| a.last_error.clone()),
        last_push: a.and_then(|a| a.pushed_at).map(rfc3339),
        last_pull: a.and_then(|a| a.pulled_at).map(rfc3339),
        sync_requested: a.is_some_and(|a| a.wanted_at > a.done_at),
        syncing: a.is_some_and(|a| a.lease_until > req.app.service.now()),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Connect {
    #[serde(default)]
    my_contacts: bool,
}

fn require_available(req: &Request<'_>) -> Result<(), Problem> {
    if req.app.bridge.available() {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::CONFLICT,
            "the Google bridge is off on this server: an administrator uploads a service-account key (People and domains) or sets up an OAuth client",
        ))
    }
}

/// Connecting through the Workspace delegation needs the service-account key.
fn require_delegation(req: &Request<'_>) -> Result<(), Problem> {
    require_available(req)?;
    match req.app.bridge.people.tokens.account() {
        Some(_) => Ok(()),
        None => Err(Problem::new(
            StatusCode::CONFLICT,
            "this server has no Workspace delegation (a service-account key): connect with your own Google account",
        )),
    }
}

/// One account's mirror: `/google` (yours) or `/admin/google/users/{email}`.
pub async fn account(req: &Request<'_>, email: Option<&str>) -> ApiResult {
    req.params(&[])?;
    let service = &req.app.service;
    match req.parts.method {
        Method::GET => {
            let (user, a) = service.google_state(req.user, req.credential, email).await?;
            json_response(StatusCode::OK, &state(req, &user.email, a.as_ref()))
        }
        Method::PUT => {
            // Who may, before the body is looked at.
            let (user, current) = service.google_state(req.user, req.credential, email).await?;
            let body: Connect = if req.body.is_empty() { Connect::default() } else { req.json()? };
            // A mirror through the user's own grant only changes its My-contacts choice here.
            if current.as_ref().is_none_or(|a| a.oauth_token.is_none()) {
                require_delegation(req)?;
            }
            let a = service.google_connect(req.user, req.credential, Some(&user.email), body.my_contacts).await?;
            json_response(StatusCode::OK, &state(req, &user.email, Some(&a)))
        }
        Method::DELETE => {
            service.google_disconnect(req.user, req.credential, email).await?;
            let (user, a) = service.google_state(req.user, req.credential, email).await?;
            json_response(StatusCode::ACCEPTED, &state(req, &user.email, a.as_ref()))
        }
        _ => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
    }
}

/// "Sync now" for one account.
pub async fn sync(req: &Request<'_>, email: Option<&str>) -> ApiResult {
    req.params(&[])?;
    if req.parts.method != Method::POST {
        return Err(Problem::method_not_allowed("POST"));
    }
    let service = &req.app.service;
    let (user, _) = service.google_state(req.user, req.credential, email).await?;
    require_available(req)?;
    let a = service.google_sync_now(req.user, req.credential, Some(&user.email)).await?;
    json_response(StatusCode::ACCEPTED, &state(req, &user.email, Some(&a)))
}

#[derive(Serialize)]
struct Authorize {
    url: String,
}

/// `POST /google/oauth`: where to send your browser to connect your own Google account.
pub async fn authorize(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    if req.parts.method != Method::POST {
        return Err(Problem::method_not_allowed("POST"));
    }
    let user = req.app.service.google_may_connect(req.user, req.credential).await?;
    let body: Connect = if req.body.is_empty() { Connect::default() } else { req.json()? };
    let bridge = Some(&*req.app.bridge).filter(|b| b.people.tokens.oauth.is_some()).ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "connecting your own Google account is not set up on this server (google.oauth_client_id)",
        )
    })?;
    let settings = req.app.service.settings().await?;
    let base =
        settings.public_url.clone().or_else(|| req.origin()).unwrap_or_else(|| req.app.service.local_url.clone());
    let redirect = format!("{}/api/v1/google/oauth/callback", base.trim_end_matches('/'));
    let url = crate::bridge::oauth::begin(bridge, &req.app.service, &user, body.my_contacts, &redirect)
        .await
        .map_err(|e| Problem::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    json_response(StatusCode::OK, &Authorize { url })
}

/// `GET /google/oauth/callback`: Google sends the browser back here; on to the Devices page, which shows how it
/// went (`#/devices/google-refused` when it did not).
pub async fn callback(req: &Request<'_>) -> ApiResult {
    req.params(&["state", "code", "error", "scope", "authuser", "prompt", "hd", "iss"])?;
    if req.parts.method != Method::GET {
        return Err(Problem::method_not_allowed("GET"));
    }
    let user = req.app.service.google_may_connect(req.user, req.credential).await?;
    let bridge = &req.app.bridge;
    let state = req.param("state").unwrap_or("");
    let outcome = match (req.param("code"), req.param("error")) {
        (Some(code), None) => crate::bridge::oauth::finish(bridge, &req.app.service, &user, state, code).await,
        (_, error) => {
            // Used up either way, so a refused state cannot be replayed with a code later.
            crate::bridge::oauth::abandon(&req.app.service, state).await;
            Err(crate::bridge::oauth::Refusal::Google(error.unwrap_or("no code").to_string()))
        }
    };
    let to = match outcome {
        Ok(()) => "/#/devices",
        Err(crate::bridge::oauth::Refusal::BadState) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "this sign-in with Google is unknown, used or expired: start again",
            ));
        }
        Err(e) => {
            tracing::info!(user = %user.email, why = ?e, "google: connection not completed");
            "/#/devices/google-refused"
        }
    };
    let mut r = http::Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(http::header::LOCATION, http::HeaderValue::from_static(to));
    Ok(r)
}

#[derive(Serialize)]
struct Overview {
    available: bool,
    /// The Workspace delegation's service account, when there is one.
    delegation: Option<Delegation>,
    items: Vec<StateJson>,
}

#[derive(Serialize)]
struct Delegation {
    /// The service account's e-mail.
    service_account: String,
    /// What a Workspace administrator authorises under Security › API controls › Domain-wide delegation, with
    /// `scope`.
    client_id: String,
    scope: &'static str,
    /// `config` (a file the configuration names; not replaceable here) or `uploaded`.
    source: &'static str,
}

fn overview_json(req: &Request<'_>, items: Vec<StateJson>) -> Overview {
    let bridge = &req.app.bridge;
    let delegation = bridge.people.tokens.account().map(|a| Delegation {
        service_account: a.client_email.clone(),
        client_id: a.client_id.clone(),
        scope: crate::bridge::auth::SCOPE,
        source: bridge.key_source().as_str().unwrap_or("uploaded"),
    });
    Overview { available: bridge.available(), delegation, items }
}

/// `GET /admin/google`: every mirrored account.
pub async fn overview(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    if req.parts.method != Method::GET {
        return Err(Problem::method_not_allowed("GET"));
    }
    let accounts = req.app.service.google_accounts(req.user, req.credential).await?;
    let items = accounts.iter().map(|a| state(req, &a.email, Some(a))).collect();
    json_response(StatusCode::OK, &overview_json(req, items))
}

/// `PUT /admin/google/key` (the service-account JSON key file as the body) and `DELETE /admin/google/key`.
pub async fn key(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let service = &req.app.service;
    let bridge = &req.app.bridge;
    let refused = |e: KeyRefusal| match e {
        KeyRefusal::Configured => Problem::new(
            StatusCode::CONFLICT,
            "this server's key is the file google.service_account_key names in its configuration: change it there",
        ),
        KeyRefusal::NoSealKey => Problem::new(
            StatusCode::CONFLICT,
            "set google.token_key (the same on every server) to keep an uploaded key in the database",
        ),
        KeyRefusal::Invalid(why) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, why),
    };
    match req.parts.method {
        Method::PUT => {
            // Who may, before the body is looked at.
            service.google_may_administer(req.user, req.credential)?;
            // JSON at all (400, or 415 for another media type) before it is read as a key (422).
            let _: serde_json::Value = req.json()?;
            let (account, sealed) = bridge.seal_key(&req.body).map_err(refused)?;
            service.google_put_key(req.user, req.credential, Some(sealed.clone())).await?;
            tracing::info!(by = %req.user.email, service_account = %account.client_email, "google: service-account key uploaded");
            bridge.use_uploaded(Some((account, sealed)));
        }
        Method::DELETE => {
            service.google_may_administer(req.user, req.credential)?;
            if bridge.key_source() == Source::Config {
                return Err(refused(KeyRefusal::Configured));
            }
            service.google_put_key(req.user, req.credential, None).await?;
            tracing::info!(by = %req.user.email, "google: service-account key removed");
            bridge.use_uploaded(None);
        }
        _ => return Err(Problem::method_not_allowed("PUT, DELETE")),
    }
    let accounts = service.google_accounts(req.user, req.credential).await?;
    let items = accounts.iter().map(|a| state(req, &a.email, Some(a))).collect();
    json_response(StatusCode::OK, &overview_json(req, items))
}
