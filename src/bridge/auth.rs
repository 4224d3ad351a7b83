//! Access tokens for a user's Google account, two ways: domain-wide delegation (Workspace: an RS256-signed JWT
//! assertion, RFC 7523 §2.1, naming the user as `sub`, exchanged at the key's `token_uri`), or the user's own
//! grant (Gmail and other domains: the authorization code flow with PKCE, RFC 7636, and a refresh token). One
//! access token is kept per user until shortly before it expires.

use super::http::{Http, Response};
use super::{GoogleError, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

pub const SCOPE: &str = "https://www.googleapis.com/auth/contacts";
/// Google refuses assertions valid for more than an hour.
const LIFETIME: i64 = 3600;
/// A cached token is renewed this long before it expires, so no request starts with one about to die.
const RENEW_BEFORE: i64 = 300;

/// The fields of a Google service-account JSON key the bridge uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    token_uri: String,
    /// The number a Workspace administrator authorises under Domain-wide delegation.
    #[serde(default)]
    client_id: String,
}

pub struct ServiceAccount {
    pub client_email: String,
    pub client_id: String,
    pub token_uri: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

impl ServiceAccount {
    pub fn from_json(bytes: &[u8]) -> std::result::Result<ServiceAccount, String> {
        let k: KeyFile = serde_json::from_slice(bytes).map_err(|e| format!("not a service-account key: {e}"))?;
        if k.kind != "service_account" {
            return Err(format!("the key's type is '{}', not 'service_account'", k.kind));
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(k.private_key.as_bytes())
            .map_err(|e| format!("the key's private_key is not a PKCS#8 PEM key: {e}"))?;
        let key =
            RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| format!("the key's RSA key is refused: {e}"))?;
        if !(k.token_uri.starts_with("https://") || k.token_uri.starts_with("http://")) {
            return Err(format!("the key's token_uri '{}' is not an http(s) address", k.token_uri));
        }
        Ok(ServiceAccount { client_email: k.client_email, client_id: k.client_id, token_uri: k.token_uri, key })
    }

    pub fn from_file(path: &std::path::Path) -> std::result::Result<ServiceAccount, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The signed assertion for `subject`, valid from `now` for an hour.
    pub fn assertion(&self, subject: &str, now: i64) -> std::result::Result<String, String> {
        let header = B64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": self.client_email,
            "sub": subject,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + LIFETIME,
        });
        let signed = format!("{header}.{}", B64.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut sig)
            .map_err(|_| "signing failed".to_string())?;
        Ok(format!("{signed}.{}", B64.encode(sig)))
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// What a token endpoint answered (RFC 6749 §5.1, §5.2).
async fn token_request(http: &Http, url: &str, body: Vec<u8>, user: &str) -> Result<TokenAnswer> {
    let r: Response =
        http.send(http::Method::POST, url, None, Some(("application/x-www-form-urlencoded", body))).await?;
    if r.status.is_success() {
        return serde_json::from_slice(&r.body)
            .map_err(|e| GoogleError::Transient(format!("the token endpoint's answer is unreadable: {e}"), None));
    }
    if r.status.is_server_error() || r.status.as_u16() == 429 {
        return Err(GoogleError::Transient(format!("the token endpoint answered {}", r.status), r.retry_after));
    }
    // unauthorized_client (no delegation for this user or scope), invalid_grant (revoked, expired, unknown
    // user, clock skew): nothing a retry fixes; the user (or an administrator) must reconnect.
    let e: Option<TokenError> = serde_json::from_slice(&r.body).ok();
    let why = e.map(|e| format!("{}: {}", e.error, e.error_description)).unwrap_or_else(|| r.status.to_string());
    Err(GoogleError::PermissionLost(format!("Google refused access to {user}'s contacts ({why})")))
}

/// An OAuth client registered with Google, for users who grant access themselves.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub auth_url: String,
    pub token_url: String,
    pub revoke_url: String,
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1–4.2).
pub fn pkce() -> std::result::Result<(String, String), String> {
    use sha2::Digest;
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness: {e}"))?;
    let verifier = B64.encode(raw);
    let challenge = B64.encode(sha2::Sha256::digest(verifier.as_bytes()));
    Ok((verifier, challenge))
}

impl OAuthClient {
    /// Where to send the user's browser to grant access (RFC 6749 §4.1.1, with PKCE, and offline access so a
    /// refresh token comes back; `prompt=consent` so one comes back on a reconnect too).
    pub fn authorize_url(&self, redirect_uri: &str, state: &str, challenge: &str, login_hint: &str) -> String {
        let q = String::from_utf8(form(&[
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", SCOPE),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", login_hint),
        ]))
        .unwrap_or_default();
        let sep = if self.auth_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{q}", self.auth_url)
    }

    /// RFC 6749 §4.1.3: the code (with the PKCE verifier) for tokens. Answers the refresh token; a grant
    /// without one is refused (the bridge works while the user is away).
    pub async fn exchange(
        &self,
        http: &Http,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        user: &str,
    ) -> Result<String> {
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("code_verifier", verifier),
        ]);
        let a = token_request(http, &self.token_url, body, user).await?;
        match a.refresh_token {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(GoogleError::PermissionLost("Google granted no offline access (no refresh token)".into())),
        }
    }

    /// RFC 7009 §2: gives a grant back. A token Google no longer knows (revoked by the user, expired) is as good
    /// as revoked; only an unavailable Google is an error, to be tried again.
    pub async fn revoke(&self, http: &Http, refresh_token: &str) -> Result<()> {
        let body = form(&[("token", refresh_token)]);
        let r = http
            .send(http::Method::POST, &self.revoke_url, None, Some(("application/x-www-form-urlencoded", body)))
            .await?;
        if r.status.is_server_error() || r.status.as_u16() == 429 {
            return Err(GoogleError::Transient(
                format!("the revocation endpoint answered {}", r.status),
                r.retry_after,
            ));
        }
        if !r.status.is_success() {
            let e: Option<TokenError> = serde_json::from_slice(&r.body).ok();
            tracing::info!(status = %r.status, error = ?e.map(|e| e.error), "google: the grant was already gone");
        }
        Ok(())
    }

    async fn refresh(&self, http: &Http, refresh_token: &str, user: &str) -> Result<TokenAnswer> {
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ]);
        token_request(http, &self.token_url, body, user).await
    }
}

/// Tokens per user, fetched on demand: through the user's own grant when they connected one, else through the
/// Workspace delegation.
pub struct Tokens {
    /// The Workspace delegation's key: from the configuration, or uploaded by an administrator (and then
    /// changed while the server runs).
    account: std::sync::RwLock<Option<std::sync::Arc<ServiceAccount>>>,
    pub oauth: Option<OAuthClient>,
    cache: Mutex<HashMap<String, (String, i64)>>,
    /// Users' refresh tokens, opened from the database by the sync that needs them.
    grants: Mutex<HashMap<String, String>>,
}

impl Tokens {
    pub fn new(account: Option<ServiceAccount>, oauth: Option<OAuthClient>) -> Tokens {
        let account = std::sync::RwLock::new(account.map(std::sync::Arc::new));
        Tokens { account, oauth, cache: Mutex::default(), grants: Mutex::default() }
    }

    pub fn account(&self) -> Option<std::sync::Arc<ServiceAccount>> {
        self.account.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Uses another delegation key (or none): every access token it gave is forgotten.
    pub fn set_account(&self, account: Option<ServiceAccount>) {
        *self.account.write().unwrap_or_else(|e| e.into_inner()) = account.map(std::sync::Arc::new);
        let grants = self.grants.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Tokens of people's own grants stay good; the delegation's are the key's.
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).retain(|user, _| grants.contains_key(user));
    }

    /// Forgets a user's access token (Google refused it: revoked, or the delegation changed).
    pub fn forget(&self, user: &str) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
    }

    /// The user's own grant in use, if they connected one.
    pub fn grant(&self, user: &str) -> Option<String> {
        self.grants.lock().unwrap_or_else(|e| e.into_inner()).get(user).cloned()
    }

    /// The user's own grant to use (none: the delegation), as the database holds it now.
    pub fn set_grant(&self, user: &str, refresh_token: Option<String>) {
        let changed = {
            let mut g = self.grants.lock().unwrap_or_else(|e| e.into_inner());
            let changed = g.get(user) != refresh_token.as_ref();
            match refresh_token {
                Some(t) => g.insert(user.to_string(), t),
                None => g.remove(user),
            };
            changed
        };
        if changed {
            self.forget(user);
        }
    }

    pub async fn token(&self, http: &Http, user: &str) -> Result<String> {
        let now = crate::clock::system_now();
        if let Some((t, until)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(user)
            && *until - RENEW_BEFORE > now
        {
            return Ok(t.clone());
        }
        let grant = self.grants.lock().unwrap_or_else(|e| e.into_inner()).get(user).cloned();
        let answer = match (grant, &self.oauth, self.account()) {
            (Some(refresh), Some(client), _) => client.refresh(http, &refresh, user).await?,
            (_, _, Some(account)) => {
                let assertion = account.assertion(user, now).map_err(GoogleError::Refused)?;
                let body =
                    form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)]);
                token_request(http, &account.token_uri, body, user).await?
            }
            _ => {
                return Err(GoogleError::PermissionLost(format!(
                    "{user} has not connected a Google account (Devices, Google Contacts, Connect)"
                )));
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_string(), (answer.access_token.clone(), now + answer.expires_in));
        Ok(answer.access_token)
    }
}
