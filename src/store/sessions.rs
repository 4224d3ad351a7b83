//! Browser sessions and API tokens, found by the digest of their secret.

use super::model::{UserRow, user_cols};
use super::{Result, Store, StoreError, User, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// "read" or "write".
    pub scope: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

pub struct NewSession<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub csrf_token: &'a str,
    pub expires_at: i64,
    pub user_agent: &'a str,
    pub ip: &'a str,
}

type SessionRow = (i64, String, String, String, bool, bool, String, String, i64, i64, i64, String, i64, i64, i64);
type TokenRow = (
    i64,
    String,
    String,
    String,
    bool,
    bool,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);
type TokenOnly = (i64, i64, String, String, i64, Option<i64>, Option<i64>);

fn token_of(r: TokenOnly) -> ApiToken {
    ApiToken { id: r.0, user_id: r.1, name: r.2, scope: r.3, created_at: r.4, last_used_at: r.5, expires_at: r.6 }
}

impl Store {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<Session> {
        let now = self.clock.now();
        let id = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO sessions (user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at, user_agent, ip)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7) RETURNING id")
            .bind(s.user_id).bind(s.token_hash).bind(s.csrf_token).bind(now).bind(s.expires_at)
            .bind(s.user_agent).bind(s.ip).fetch_one(p).await?);
        Ok(Session {
            id,
            user_id: s.user_id,
            csrf_token: s.csrf_token.into(),
            created_at: now,
            last_seen_at: now,
            expires_at: s.expires_at,
        })
    }

    /// The live session with this digest and its (enabled) user, in one query.
    pub async fn session_by_hash(&self, token_hash: &str) -> Result<Option<(Session, User)>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, SessionRow>(concat!("SELECT ", user_cols!(qualified),
            ", s.id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at
             FROM sessions s JOIN users ON users.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT users.disabled"))
            .bind(token_hash).bind(self.clock.now()).fetch_optional(p).await?);
        Ok(row.map(|r| {
            let user = User::from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9) as UserRow);
            let session = Session {
                id: r.10,
                user_id: user.id,
                csrf_token: r.11,
                created_at: r.12,
                last_seen_at: r.13,
                expires_at: r.14,
            };
            (session, user)
        }))
    }

    pub async fn touch_session(&self, id: i64, expires_at: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
            .bind(self.clock.now()).bind(expires_at).bind(id).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// When the session ends now (it moves as the session is used), or `None` once it has ended or its user
    /// is disabled.
    pub async fn session_expiry(&self, id: i64) -> Result<Option<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "SELECT s.expires_at FROM sessions s JOIN users ON users.id = s.user_id
             WHERE s.id = $1 AND s.expires_at > $2 AND NOT users.disabled")
            .bind(id).bind(self.clock.now()).fetch_optional(p).await?))
    }

    pub async fn delete_session(&self, id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Ends every session of a user (a new password, a disabled account), except `keep` (the browser that made
    /// the change).
    pub async fn delete_sessions_of(&self, user_id: i64, keep: Option<i64>) -> Result<u64> {
        Ok(on_pool!(self, p => sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id).bind(keep.unwrap_or(-1)).execute(p).await?.rows_affected()))
    }

    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        Ok(on_pool!(self, p => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(self.clock.now()).execute(p).await?.rows_affected()))
    }

    pub async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scope: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiToken> {
        let now = self.clock.now();
        let id = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO api_tokens (user_id, name, token_hash, scope, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(user_id).bind(name).bind(token_hash).bind(scope).bind(now).bind(expires_at).fetch_one(p).await?);
        Ok(ApiToken {
            id,
            user_id,
            name: name.into(),
            scope: scope.into(),
            created_at: now,
            last_used_at: None,
            expires_at,
        })
    }

    pub async fn api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, TokenOnly>(
            "SELECT id, user_id, name, scope, created_at, last_used_at, expires_at FROM api_tokens
             WHERE user_id = $1 ORDER BY name")
            .bind(user_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(token_of).collect())
    }

    pub async fn revoke_api_token(&self, user_id: i64, id: i64) -> Result<()> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
            .bind(user_id).bind(id).execute(p).await?.rows_affected());
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// The unexpired token with this digest and its (enabled) user, in one query.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<(ApiToken, User)>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, TokenRow>(concat!("SELECT ", user_cols!(qualified),
            ", t.id, t.name, t.scope, t.created_at, t.last_used_at, t.expires_at
             FROM api_tokens t JOIN users ON users.id = t.user_id
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND NOT users.disabled"))
            .bind(token_hash).bind(self.clock.now()).fetch_optional(p).await?);
        Ok(row.map(|r| {
            let user = User::from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9) as UserRow);
            let token = token_of((r.10, user.id, r.11, r.12, r.13, r.14, r.15));
            (token, user)
        }))
    }

    pub async fn touch_api_token(&self, id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(self.clock.now()).bind(id).execute(p).await.map(|_| ())?);
        Ok(())
    }
}
