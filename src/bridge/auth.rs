//! Access tokens for a user's Google account through domain-wide delegation: an RS256-signed JWT assertion
//! (RFC 7523 §2.1) naming the user as `sub`, exchanged at the key's `token_uri`. One token is kept per user
//! until shortly before it expires.

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
}

pub struct ServiceAccount {
    pub client_email: String,
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
        Ok(ServiceAccount { client_email: k.client_email, token_uri: k.token_uri, key })
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
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Tokens per user, fetched on demand.
pub struct Tokens {
    account: ServiceAccount,
    cache: Mutex<HashMap<String, (String, i64)>>,
}

impl Tokens {
    pub fn new(account: ServiceAccount) -> Tokens {
        Tokens { account, cache: Mutex::default() }
    }

    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// Forgets a user's token (Google refused it: revoked, or the delegation changed).
    pub fn forget(&self, user: &str) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
    }

    pub async fn token(&self, http: &Http, user: &str) -> Result<String> {
        let now = crate::store::now();
        if let Some((t, until)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(user)
            && *until - RENEW_BEFORE > now
        {
            return Ok(t.clone());
        }
        let assertion = self.account.assertion(user, now).map_err(GoogleError::Refused)?;
        let form = format!(
            "grant_type={}&assertion={}",
            percent_encoding::utf8_percent_encode(
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                percent_encoding::NON_ALPHANUMERIC
            ),
            assertion
        );
        let r: Response = http
            .send(
                http::Method::POST,
                &self.account.token_uri,
                None,
                Some(("application/x-www-form-urlencoded", form.into_bytes())),
            )
            .await?;
        if r.status.is_success() {
            let a: TokenAnswer = serde_json::from_slice(&r.body)
                .map_err(|e| GoogleError::Transient(format!("the token endpoint's answer is unreadable: {e}"), None))?;
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(user.to_string(), (a.access_token.clone(), now + a.expires_in));
            return Ok(a.access_token);
        }
        if r.status.is_server_error() || r.status.as_u16() == 429 {
            return Err(GoogleError::Transient(format!("the token endpoint answered {}", r.status), r.retry_after));
        }
        // RFC 6749 §5.2: unauthorized_client (no delegation for this user or scope), invalid_grant (revoked,
        // unknown user, clock skew): nothing a retry fixes; the user's bridge waits for an administrator.
        let e: Option<TokenError> = serde_json::from_slice(&r.body).ok();
        let why = e.map(|e| format!("{}: {}", e.error, e.error_description)).unwrap_or_else(|| r.status.to_string());
        Err(GoogleError::PermissionLost(format!("Google refused access to {user}'s contacts ({why})")))
    }
}
