//! Accounts: argon2id password and app-password checks, the verified-credential cache, and the failed-login
//! limiter. No HTTP here: the HTTP layer hands over what a Basic header carried.

use super::{ServiceError, field};
use crate::store::{AppPassword, Store, StoreError, User};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Who a request acts as, and through which credential.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub app_password: Option<AppPassword>,
}

#[derive(Debug)]
pub enum AuthError {
    Invalid,
    /// Too many failures for this account or address; retry after this long.
    RateLimited(Duration),
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::Store(e)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    pub cache_ttl: Duration,
    pub max_failures: usize,
    pub failure_window: Duration,
    /// A browser session ends after this long unused…
    pub session_idle: Duration,
    /// …and this long after login in any case.
    pub session_max: Duration,
}

struct Cached {
    principal: Principal,
    until: Instant,
}

pub struct Accounts {
    pub(super) store: Store,
    secret: Vec<u8>,
    pub(super) settings: AuthSettings,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

fn check_password(password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < 8 {
        return Err(field("password", "a password has at least 8 characters"));
    }
    if password.chars().count() > 1000 {
        return Err(field("password", "a password has at most 1000 characters"));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// `hash_password` on the CPU pool.
pub(super) async fn hash_off_workers(password: &str) -> Result<String, ServiceError> {
    let password = password.to_string();
    super::cpu::run(move || hash_password(&password)).await?.map_err(ServiceError::Invalid)
}

pub(super) fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A random secret readable aloud: four groups of five lowercase letters and digits (about 103 bits).
pub fn generate_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect();
    Ok(chars.chunks(5).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-"))
}

pub fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What the failed-login limiter counts against: the account and the address, for Basic and dashboard
/// sign-ins alike.
pub(super) fn limiter_keys(email: &str, ip: IpAddr) -> [String; 2] {
    [format!("account:{email}"), format!("ip:{ip}")]
}

/// An e-mail address as accounts use it: trimmed, lower-case, one `@` with text on both sides.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '"');
    ok.then_some(e)
}

impl Accounts {
    pub fn new(store: Store, secret: Vec<u8>, settings: AuthSettings) -> Accounts {
        Accounts { store, secret, settings, cache: Mutex::new(HashMap::new()), failures: Mutex::new(HashMap::new()) }
    }

    fn cache_key(&self, email: &str, password: &str) -> [u8; 32] {
        // A keyed digest, so the cache never holds anything a memory dump could turn back into a password.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        mac.update(email.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub(super) fn blocked_for(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let window = self.settings.failure_window;
        let mut failures = self.failures.lock().ok()?;
        let mut longest = None;
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                times.retain(|t| now.duration_since(*t) < window);
                if times.len() >= self.settings.max_failures
                    && let Some(oldest) = times.first()
                {
                    let wait = window.saturating_sub(now.duration_since(*oldest)).max(Duration::from_secs(1));
                    longest = Some(longest.map_or(wait, |l: Duration| l.max(wait)));
                }
            }
        }
        longest
    }

    pub(super) fn record_failure(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > 100_000 {
                // Bounded memory under a spray of random names: forget the oldest state wholesale.
                failures.clear();
            }
            for key in keys {
                failures.entry(key.clone()).or_default().push(Instant::now());
            }
        }
    }

    /// Checks an e-mail and password (the account password or one of its app passwords).
    pub async fn authenticate(&self, email: &str, password: &str, ip: IpAddr) -> Result<Principal, AuthError> {
        let email = email.trim().to_lowercase();
        let keys = limiter_keys(&email, ip);
        if let Some(wait) = self.blocked_for(&keys) {
            return Err(AuthError::RateLimited(wait));
        }
        let key = self.cache_key(&email, password);
        let hit = match self.cache.lock() {
            Ok(cache) => cache.get(&key).filter(|c| c.until > Instant::now()).map(|c| c.principal.clone()),
            Err(_) => None,
        };
        if let Some(hit) = hit {
            // The cache spares argon2, not the database: the credential is checked against the stored account
            // each time, so a password changed, an app password revoked or an account disabled by another
            // process (the CLI, another server) takes effect on the next request.
            let app_id = hit.app_password.as_ref().map(|a| a.id);
            if let Some((user, app_hash)) = self.store.credential_state(hit.user.id, app_id).await? {
                let same = match &hit.app_password {
                    None => user.password_hash == hit.user.password_hash,
                    Some(app) => app_hash.as_deref() == Some(app.password_hash.as_str()),
                };
                if same && !user.disabled && user.email == email {
                    return Ok(Principal { user, app_password: hit.app_password });
                }
            }
            self.forget_user(hit.user.id);
        }
        let user = self.store.user_by_email(&email).await?;
        let principal = match user {
            Some(user) if !user.disabled => {
                let app_passwords = self.store.app_passwords(user.id).await?;
                let password = password.to_string();
                let hash = user.password_hash.clone();
                let candidates: Vec<(Option<AppPassword>, String)> = std::iter::once((None, hash))
                    .chain(app_passwords.into_iter().map(|a| {
                        let h = a.password_hash.clone();
                        (Some(a), h)
                    }))
                    .collect();
                let found =
                    super::cpu::run(move || candidates.into_iter().find(|(_, h)| verify(&password, h)).map(|(a, _)| a))
                        .await
                        .map_err(|_| AuthError::Invalid)?;
                found.map(|app_password| Principal { user, app_password })
            }
            _ => None,
        };
        match principal {
            Some(p) => {
                if let Some(app) = &p.app_password {
                    self.store.touch_app_password(app.id).await?;
                }
                if let Ok(mut cache) = self.cache.lock() {
                    let now = Instant::now();
                    if cache.len() > 10_000 {
                        cache.retain(|_, c| c.until > now);
                    }
                    cache.insert(key, Cached { principal: p.clone(), until: now + self.settings.cache_ttl });
                }
                Ok(p)
            }
            None => {
                self.record_failure(&keys);
                Err(AuthError::Invalid)
            }
        }
    }

    /// Forgets cached credentials of a user: after a password change, an app password revoked, an account disabled.
    pub fn forget_user(&self, user_id: i64) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.user.id != user_id);
        }
    }

    pub async fn create_user(&self, email: &str, password: &str, is_admin: bool) -> Result<User, ServiceError> {
        self.create_account(email, password, is_admin, false).await
    }

    /// `any_domain`: an invitation the server allows to any address (`invite_any_domain`) makes its account
    /// outside the server's domains.
    pub(super) async fn create_account(
        &self,
        email: &str,
        password: &str,
        is_admin: bool,
        any_domain: bool,
    ) -> Result<User, ServiceError> {
        let email =
            normalize_email(email).ok_or_else(|| field("email", format!("'{email}' is not an e-mail address")))?;
        check_password(password)?;
        // With no domain listed the server takes any address (a fresh install); once one is, accounts live in
        // the server's domains (issue 3 §3).
        let domains = self.store.domains().await?;
        let domain = crate::store::domain_of(&email);
        if !any_domain && !domains.is_empty() && !domains.iter().any(|d| d.name == domain) {
            let list: Vec<&str> = domains.iter().map(|d| d.name.as_str()).collect();
            return Err(field("email", format!("{domain} is not one of this server's domains ({})", list.join(", "))));
        }
        let hash = hash_off_workers(password).await?;
        self.store.create_user(&email, &hash, is_admin).await.map_err(|e| match e {
            StoreError::Conflict(_) => ServiceError::Conflict(format!("a user {email} already exists")),
            e => e.into(),
        })
    }

    /// An administrator's new password for an account, which assumes the account was compromised: whoever knew
    /// the old password may hold a browser session, and may have made app passwords or API tokens with it, so
    /// all of them end, unless `keep_devices` keeps the app passwords and API tokens (a forgotten password, the
    /// devices still in the owner's hands). Sessions always end.
    pub async fn set_password(&self, user: &User, password: &str, keep_devices: bool) -> Result<(), ServiceError> {
        check_password(password)?;
        let hash = hash_off_workers(password).await?;
        self.store.set_password(user.id, &hash, !keep_devices).await?;
        self.forget_user(user.id);
        Ok(())
    }

    pub async fn set_disabled(&self, user: &User, disabled: bool) -> Result<(), ServiceError> {
        self.store.set_disabled(user.id, disabled).await?;
        if disabled {
            self.store.delete_sessions_of(user.id, None).await?;
        }
        self.forget_user(user.id);
        Ok(())
    }

    /// Creates a named app password for a device and returns it in clear: the only time it is shown.
    pub async fn add_app_password(
        &self,
        user: &User,
        name: &str,
        layout: &str,
    ) -> Result<(AppPassword, String), ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(field("name", "an app password's name is 1 to 100 characters"));
        }
        // "single": one combined book with labels as groups, for macOS, which reads one book (issue 3 §6).
        if layout != "books" && layout != "single" {
            return Err(field("layout", "books (My contacts and each label) or single (one book, labels as groups)"));
        }
        let secret = generate_password().map_err(ServiceError::Invalid)?;
        let hash = hash_off_workers(&secret).await?;
        let app = self.store.create_app_password(user.id, name, &hash, layout).await.map_err(|e| match e {
            StoreError::Conflict(_) => field("name", format!("an app password named '{name}' already exists")),
            e => e.into(),
        })?;
        Ok((app, secret))
    }

    pub async fn revoke_app_password(&self, user: &User, name: &str) -> Result<(), String> {
        self.store.revoke_app_password(user.id, name).await.map_err(|e| match e {
            StoreError::NotFound => format!("no app password named '{name}'"),
            e => e.to_string(),
        })?;
        self.forget_user(user.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalize_email(" Ann@Example.COM "), Some("ann@example.com".into()));
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a@b@c"), None);
        assert_eq!(normalize_email("@x"), None);
        assert_eq!(normalize_email("a b@x"), None);
        assert_eq!(normalize_email("a/b@x"), None);
    }

    #[test]
    fn hashes_verify_and_generated_passwords_differ() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        let a = generate_password().unwrap();
        assert_eq!(a.len(), 23);
        assert_ne!(a, generate_password().unwrap());
    }
}
