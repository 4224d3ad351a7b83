//! Browser sessions (the dashboard's login) and API tokens (scripts): bearer secrets of 256 random bits, of which
//! the database keeps only a digest. Logins count against the same failed-login limiter as HTTP Basic.

use super::access::{self, Credential, Scope};
use super::accounts::{Accounts, AuthError};
use super::{Result, ServiceError, field};
use crate::store::{ApiToken, AppPassword, NewSession, Session, StoreError, User};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// A fresh secret: 32 random bytes, base64url, behind a prefix that says what it is (and that secret scanners
/// can match).
pub(super) fn secret(prefix: &str) -> std::result::Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub const SESSION_PREFIX: &str = "lbs_";
pub const TOKEN_PREFIX: &str = "lbt_";
/// A session's expiry moves forward at most this often, so a busy page does not write on every request.
const TOUCH_EVERY: i64 = 60;

impl Accounts {
    /// Signs a person in with their account password (app passwords are for devices, not the dashboard) and
    /// opens a session; the secret returned goes into the cookie and is never stored.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> std::result::Result<(Session, User, String), AuthError> {
        let email = email.trim().to_lowercase();
        let key = self.credential_key(&email, password);
        let attempt = self.begin_attempt(&email, ip, &key)?;
        let user = self.store.user_by_email(&email).await?.filter(|u| !u.disabled);
        let ok = match &user {
            Some(u) => self.verify(password, &u.password_hash).await,
            None => {
                self.verify_nothing(password).await;
                false
            }
        };
        let Some(user) = user.filter(|_| ok) else {
            self.attempt_failed(&key);
            return Err(AuthError::Invalid);
        };
        self.attempt_succeeded(attempt, &key);
        // Expired sessions go as new ones come, so the table holds only live ones and a few stale.
        self.store.purge_expired_sessions().await?;
        let token = secret(SESSION_PREFIX)?;
        let csrf = secret("")?;
        let ua: String = user_agent.chars().take(300).collect();
        let session = self
            .store
            .create_session(&NewSession {
                user_id: user.id,
                token_hash: &digest(&token),
                csrf_token: &csrf,
                expires_at: self.store.clock.now() + self.idle_secs(),
                user_agent: &ua,
                ip: &ip.to_string(),
            })
            .await?;
        Ok((session, user, token))
    }

    fn idle_secs(&self) -> i64 {
        self.settings.session_idle.as_secs() as i64
    }

    /// The live session a cookie holds, its expiry moved forward (within the absolute lifetime).
    pub async fn session(&self, token: &str) -> std::result::Result<Option<(Session, User)>, StoreError> {
        if !token.starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let Some((mut session, user)) = self.store.session_by_hash(&digest(token)).await? else {
            return Ok(None);
        };
        let now = self.store.clock.now();
        if now - session.last_seen_at >= TOUCH_EVERY {
            let cap = session.created_at + self.settings.session_max.as_secs() as i64;
            let expires = (now + self.idle_secs()).min(cap);
            self.store.touch_session(session.id, expires).await?;
            session.last_seen_at = now;
            session.expires_at = expires;
        }
        Ok(Some((session, user)))
    }

    /// Whether a session is still live (not ended, expired, or its account disabled).
    pub async fn session_alive(&self, id: i64) -> std::result::Result<bool, StoreError> {
        Ok(self.store.session_expiry(id).await?.is_some())
    }

    pub async fn logout(&self, session: &Session) -> std::result::Result<(), StoreError> {
        self.store.delete_session(session.id).await
    }

    /// The user and token a Bearer secret stands for.
    pub async fn bearer(&self, token: &str) -> std::result::Result<Option<(ApiToken, User)>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let found = self.store.api_token_by_hash(&digest(token)).await?;
        if let Some((t, _)) = &found
            && t.last_used_at.is_none_or(|at| self.store.clock.now() - at >= TOUCH_EVERY)
        {
            self.store.touch_api_token(t.id).await?;
        }
        Ok(found)
    }

    /// Creates an API token and returns it in clear: the only time it is shown.
    pub async fn create_token(
        &self,
        user: &User,
        credential: Credential,
        name: &str,
        scope: &str,
        expires_in_days: Option<i64>,
    ) -> Result<(ApiToken, String)> {
        require_person(credential)?;
        let name = name.trim();
        super::check_name(name, 100, "a token's name is 1 to 100 characters")?;
        let scope = Scope::parse(scope).ok_or_else(|| field("scope", "read or write"))?;
        let expires_at = match expires_in_days {
            None => None,
            Some(d) if (1..=3650).contains(&d) => Some(self.store.clock.now() + d * 86_400),
            Some(_) => return Err(field("expires_in_days", "between 1 and 3650 days")),
        };
        let token = secret(TOKEN_PREFIX)?;
        let created =
            self.store.create_api_token(user.id, name, &digest(&token), scope.as_str(), expires_at).await.map_err(
                |e| match e {
                    StoreError::Conflict(_) => field("name", format!("you already have a token named '{name}'")),
                    e => e.into(),
                },
            )?;
        Ok((created, token))
    }

    pub async fn tokens(&self, user: &User) -> Result<Vec<ApiToken>> {
        Ok(self.store.api_tokens(user.id).await?)
    }

    pub async fn revoke_token(&self, user: &User, credential: Credential, id: i64) -> Result<()> {
        require_person(credential)?;
        self.store.revoke_api_token(user.id, id).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound,
            e => e.into(),
        })
    }

    pub async fn app_passwords_of(&self, user: &User) -> Result<Vec<AppPassword>> {
        Ok(self.store.app_passwords(user.id).await?)
    }

    /// A new app password for a device, in clear once; `layout` is "books" (see `add_app_password`).
    pub async fn create_app_password(
        &self,
        user: &User,
        credential: Credential,
        name: &str,
        layout: &str,
    ) -> Result<(AppPassword, String)> {
        require_person(credential)?;
        self.add_app_password(user, name, layout).await
    }

    pub async fn revoke_app_password_by_id(&self, user: &User, credential: Credential, id: i64) -> Result<()> {
        require_person(credential)?;
        let all = self.store.app_passwords(user.id).await?;
        let app = all.into_iter().find(|a| a.id == id).ok_or(ServiceError::NotFound)?;
        self.revoke_app_password(user, &app.name).await.map_err(ServiceError::Invalid)
    }
}

fn require_person(credential: Credential) -> Result<()> {
    if access::may_manage_credentials(credential) {
        Ok(())
    } else {
        Err(ServiceError::Refused(
            "app passwords and API tokens are managed with your account password or in the dashboard".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_digested() {
        let a = secret(TOKEN_PREFIX).unwrap();
        let b = secret(TOKEN_PREFIX).unwrap();
        assert!(a.starts_with("lbt_") && a.len() == 4 + 43, "{a}");
        assert_ne!(a, b);
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
