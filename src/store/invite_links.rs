//! Invitation links: a secret that stands for one pending user grant, used once.

use super::{Grant, Result, Store, StoreError, on_pool};

/// A link found by its secret's digest.
#[derive(Debug, Clone)]
pub struct InviteLink {
    pub id: i64,
    pub grant: Grant,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// Whether the server mailed it to the invited address (rather than showing it to the inviter to pass on).
    pub mailed: bool,
}

impl Store {
    /// A fresh link for the inviter to pass on; earlier such links of the grant stop working. Links the server
    /// mailed are replaced only by a new mail (`queue_mail`), so the two ways never break each other.
    pub async fn replace_invite_link(&self, grant_id: i64, token_hash: &str, by: i64, expires_at: i64) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            sqlx::query("DELETE FROM invite_links WHERE grant_id = $1 AND via = 'copy'").bind(grant_id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO invite_links (grant_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(grant_id).bind(token_hash).bind(by).bind(self.clock.now()).bind(expires_at).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn invite_link(&self, token_hash: &str) -> Result<Option<InviteLink>> {
        let row: Option<(i64, i64, i64, Option<i64>, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, grant_id, expires_at, used_at, via FROM invite_links WHERE token_hash = $1")
            .bind(token_hash).fetch_optional(p).await?);
        let Some((id, grant_id, expires_at, used_at, via)) = row else { return Ok(None) };
        let Some(grant) = self.grant(grant_id).await? else { return Ok(None) };
        Ok(Some(InviteLink { id, grant, expires_at, used_at, mailed: via == "mail" }))
    }

    /// Marks a link used; only the first of two racing uses succeeds.
    pub async fn use_invite_link(&self, id: i64) -> Result<()> {
        let n = on_pool!(self, p => sqlx::query("UPDATE invite_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(self.clock.now()).bind(id).execute(p).await?.rows_affected());
        if n == 1 { Ok(()) } else { Err(StoreError::Conflict("this invitation link was used already".into())) }
    }
}
