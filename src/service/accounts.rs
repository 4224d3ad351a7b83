//! Accounts: argon2id password and app-password checks, the verified-credential cache, and the failed-login
//! limiter. No HTTP here: the HTTP layer hands over what a Basic header carried.

use super::limiter::{Attempt, Limiter};
use super::passwords::{self, Cost};
use super::{ServiceError, field};
use crate::store::events::Event;
use crate::store::{AppPassword, Store, StoreError, User};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    /// The argon2 cost of new password hashes.
    pub cost: Cost,
}

struct Cached {
    principal: Principal,
    /// Unused until then, the credential is checked with argon2 again; each use moves it on, so a device that
    /// polls pays argon2 once, not once per `cache_ttl`.
    until: Instant,
    /// When the stored account was last read for it. The change bus forgets a credential the moment its account
    /// changes, here or on another server (`Accounts::new`), so within `TRUSTED_FOR` of that read it is taken
    /// from memory; after, it is checked against the database again, which bounds what no event could tell.
    checked: Instant,
}

/// How long a credential checked against the stored account is trusted from memory.
const TRUSTED_FOR: Duration = Duration::from_secs(300);

/// Verified credentials by keyed digest, and a count of forgettings: a credential verified from account data
/// read before an account changed is not kept.
#[derive(Default)]
struct Credentials {
    entries: HashMap<[u8; 32], Cached>,
    generation: u64,
}

impl Credentials {
    fn forget(&mut self, user_id: Option<i64>) {
        self.generation += 1;
        match user_id {
            Some(id) => self.entries.retain(|_, c| c.principal.user.id != id),
            None => self.entries.clear(),
        }
    }
}

pub struct Accounts {
    pub(super) store: Store,
    secret: Vec<u8>,
    pub(super) settings: AuthSettings,
    cache: Arc<Mutex<Credentials>>,
    limiter: Mutex<Limiter>,
    /// A hash checked for sign-ins to accounts that do not exist, so they take as long as real ones.
    dummy: tokio::sync::OnceCell<String>,
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

/// The public first group of a secret shaped like an app password (`abcde-fghij-klmno-pqrst`), which picks
/// out the one app password hash it can match.
pub(super) fn app_password_lookup(secret: &str) -> Option<&str> {
    let groups: Vec<&str> = secret.split('-').collect();
    (groups.len() == 4 && groups.iter().all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_alphanumeric())))
        .then(|| groups[0])
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
        let cache: Arc<Mutex<Credentials>> = Default::default();
        let forget = cache.clone();
        // A password, an app password, the account's state or the user record it carries (My contacts' name)
        // changed: its credentials are checked again on next use.
        store.observe(move |event| {
            let user = match event {
                Event::Account { user_id } | Event::Book { owner_id: user_id } => Some(*user_id),
                Event::Resync => None,
                _ => return,
            };
            forget.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).forget(user);
        });
        Accounts {
            store,
            secret,
            limiter: Mutex::new(Limiter::new(settings.max_failures, settings.failure_window)),
            settings,
            cache,
            dummy: tokio::sync::OnceCell::new(),
        }
    }

    /// A password hashed at the configured cost, on the CPU pool.
    pub(super) async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        let (password, cost) = (password.to_string(), self.settings.cost);
        super::cpu::run(move || passwords::hash(&password, cost)).await?.map_err(ServiceError::Invalid)
    }

    /// Whether `password` matches `hash`, on the CPU pool.
    pub(super) async fn verify(&self, password: &str, hash: &str) -> bool {
        let (password, hash) = (password.to_string(), hash.to_string());
        super::cpu::run(move || passwords::verify(&password, &hash)).await.unwrap_or(false)
    }

    /// Spends what checking a real password would, for a sign-in to an account that does not exist or is
    /// disabled: the answer's timing must not tell which addresses have accounts.
    pub(super) async fn verify_nothing(&self, password: &str) {
        let dummy = self.dummy.get_or_try_init(|| self.hash("no account has this password")).await;
        if let Ok(dummy) = dummy {
            let _ = self.verify(password, dummy).await;
        }
    }

    /// Counts a sign-in attempt before its password is checked (see `limiter`), or says how long to wait.
    pub(super) fn begin_attempt(&self, email: &str, ip: IpAddr, credential: &[u8; 32]) -> Result<Attempt, AuthError> {
        let mut limiter = self.limiter.lock().map_err(|_| AuthError::Invalid)?;
        limiter.begin(email, ip, credential, Instant::now()).map_err(AuthError::RateLimited)
    }

    pub(super) fn attempt_succeeded(&self, attempt: Attempt, credential: &[u8; 32]) {
        if let Ok(mut limiter) = self.limiter.lock() {
            limiter.succeeded(attempt, credential);
        }
    }

    pub(super) fn attempt_failed(&self, credential: &[u8; 32]) {
        if let Ok(mut limiter) = self.limiter.lock() {
            limiter.forget_good(credential);
        }
    }

    /// The keyed digest a credential is known by (the cache's key and the limiter's known-good set): keyed, so
    /// nothing kept in memory can be turned back into a password.
    pub(super) fn credential_key(&self, email: &str, password: &str) -> [u8; 32] {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        mac.update(email.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Checks an e-mail and password (the account password or one of its app passwords). The attempt is
    /// counted before anything is checked; a wrong guess costs one argon2 run for the account password and at
    /// most one for the app password its first group names (plus any made before app passwords had lookups).
    pub async fn authenticate(&self, email: &str, password: &str, ip: IpAddr) -> Result<Principal, AuthError> {
        let email = email.trim().to_lowercase();
        let key = self.credential_key(&email, password);
        let attempt = self.begin_attempt(&email, ip, &key)?;
        self.store.hear_outside_writes();
        let now = Instant::now();
        let (hit, generation) = {
            let mut cache = self.credentials();
            let generation = cache.generation;
            let hit = cache.entries.get_mut(&key).filter(|c| c.until > now).map(|c| {
                c.until = now + self.settings.cache_ttl;
                (c.principal.clone(), c.checked)
            });
            (hit, generation)
        };
        if let Some((hit, checked)) = hit {
            if now.duration_since(checked) < TRUSTED_FOR {
                self.attempt_succeeded(attempt, &key);
                return Ok(hit);
            }
            let app_id = hit.app_password.as_ref().map(|a| a.id);
            if let Some((user, app_hash)) = self.store.credential_state(hit.user.id, app_id).await? {
                let same = match &hit.app_password {
                    None => user.password_hash == hit.user.password_hash,
                    Some(app) => app_hash.as_deref() == Some(app.password_hash.as_str()),
                };
                if same && !user.disabled && user.email == email {
                    let principal = Principal { user, app_password: hit.app_password };
                    self.remember(key, &principal, generation, now);
                    self.attempt_succeeded(attempt, &key);
                    return Ok(principal);
                }
            }
            self.forget_user(hit.user.id);
        }
        let user = self.store.user_by_email(&email).await?;
        let principal = match user {
            Some(user) if !user.disabled => {
                let lookup = app_password_lookup(password);
                let app_passwords = self.store.app_passwords_for(user.id, lookup).await?;
                let (guess, hash) = (password.to_string(), user.password_hash.clone());
                let candidates: Vec<(Option<AppPassword>, String)> = std::iter::once((None, hash))
                    .chain(app_passwords.into_iter().map(|a| {
                        let h = a.password_hash.clone();
                        (Some(a), h)
                    }))
                    .collect();
                let found = super::cpu::run(move || {
                    candidates.into_iter().find(|(_, h)| passwords::verify(&guess, h)).map(|(a, _)| a)
                })
                .await
                .map_err(|_| AuthError::Invalid)?;
                found.map(|app_password| Principal { user, app_password })
            }
            _ => {
                self.verify_nothing(password).await;
                None
            }
        };
        match principal {
            Some(p) => {
                if let Some(app) = &p.app_password {
                    self.store.touch_app_password(app.id).await?;
                    if let Some(lookup) = app_password_lookup(password) {
                        self.store.set_app_password_lookup(app.id, lookup).await?;
                    }
                }
                self.remember(key, &p, generation, now);
                self.attempt_succeeded(attempt, &key);
                Ok(p)
            }
            None => {
                self.attempt_failed(&key);
                Err(AuthError::Invalid)
            }
        }
    }

    /// Forgets cached credentials of a user: after a password change, an app password revoked, an account disabled.
    pub fn forget_user(&self, user_id: i64) {
        self.credentials().forget(Some(user_id));
    }

    fn credentials(&self) -> std::sync::MutexGuard<'_, Credentials> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps a credential verified against account data read at `generation`, unless an account changed since.
    fn remember(&self, key: [u8; 32], principal: &Principal, generation: u64, checked: Instant) {
        let mut cache = self.credentials();
        if cache.generation != generation {
            return;
        }
        let now = Instant::now();
        if cache.entries.len() > 10_000 {
            cache.entries.retain(|_, c| c.until > now);
        }
        let until = now + self.settings.cache_ttl;
        cache.entries.insert(key, Cached { principal: principal.clone(), until, checked });
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
        // the server's domains.
        let domains = self.store.domains().await?;
        let domain = crate::store::domain_of(&email);
        if !any_domain && !domains.is_empty() && !domains.iter().any(|d| d.name == domain) {
            let list: Vec<&str> = domains.iter().map(|d| d.name.as_str()).collect();
            return Err(field("email", format!("{domain} is not one of this server's domains ({})", list.join(", "))));
        }
        let hash = self.hash(password).await?;
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
        let hash = self.hash(password).await?;
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
        super::check_name(name, 100, "an app password's name is 1 to 100 characters")?;
        // "single": one combined book with labels as groups, for macOS, which reads one book.
        if layout != "books" && layout != "single" {
            return Err(field("layout", "books (My contacts and each label) or single (one book, labels as groups)"));
        }
        let secret = generate_password().map_err(ServiceError::Invalid)?;
        let hash = self.hash(&secret).await?;
        let lookup = app_password_lookup(&secret).unwrap_or_default();
        let app = self.store.create_app_password(user.id, name, &hash, layout, lookup).await.map_err(|e| match e {
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

/// Who an API request acts as, and how it proved it.
pub struct ApiPrincipal {
    pub principal: Principal,
    pub credential: super::access::Credential,
    /// The dashboard session, when the request came with one.
    pub session: Option<crate::store::Session>,
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
    fn hashes_verify_and_generated_passwords_differ_and_carry_their_lookup() {
        let h = passwords::hash("correct horse", Cost::default()).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let a = generate_password().unwrap();
        assert_eq!(a.len(), 23);
        assert_ne!(a, generate_password().unwrap());
        assert_eq!(app_password_lookup(&a), Some(&a[..5]));
        assert_eq!(app_password_lookup("password-123"), None);
        assert_eq!(app_password_lookup("abcde-fghij-klmno-pqrs!"), None);
    }
}
