//! Grants: a label shared with a user at a level, with an invitation status and the device toggle.

use super::{Label, Result, Store, StoreError, now, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub label_id: String,
    /// "user" (groups and domains come with their issue slice)
    pub grantee_kind: String,
    /// The grantee's e-mail for a user grant.
    pub grantee: String,
    /// view, edit, delete or share (the owner holds no grant)
    pub level: String,
    /// pending, accepted, declined or revoked
    pub status: String,
    pub sync_devices: bool,
    pub invited_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

macro_rules! grant_cols {
    () => {
        "id, label_id, grantee_kind, grantee, level, status, sync_devices, invited_by, created_at, updated_at"
    };
}

type GrantRow = (i64, String, String, String, String, String, bool, Option<i64>, i64, i64);

fn grant(r: GrantRow) -> Grant {
    Grant {
        id: r.0,
        label_id: r.1,
        grantee_kind: r.2,
        grantee: r.3,
        level: r.4,
        status: r.5,
        sync_devices: r.6,
        invited_by: r.7,
        created_at: r.8,
        updated_at: r.9,
    }
}

/// A change to a grant, applied only if the grant is still in the expected status (two managers racing on one
/// grant: the second finds it changed).
#[derive(Debug, Clone, Default)]
pub struct GrantChange<'a> {
    pub level: Option<&'a str>,
    pub status: Option<&'a str>,
    pub sync_devices: Option<bool>,
}

impl Store {
    /// A new user grant, pending, or re-inviting a grant that was declined or revoked.
    pub async fn invite(
        &self,
        label_id: &str,
        email: &str,
        level: &str,
        sync_devices: bool,
        invited_by: i64,
    ) -> Result<Grant> {
        let now = now();
        let id = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let _turn = self.write_turn().await;
            let seq = sqlx::query_scalar::<_, i64>("UPDATE change_seq SET value = value + 1 WHERE id = 1 RETURNING value").fetch_one(&mut *tx).await?;
            let existing: Option<(i64, String)> = sqlx::query_as("SELECT id, status FROM grants WHERE label_id = $1 AND grantee_kind = 'user' AND grantee = $2")
                .bind(label_id).bind(email).fetch_optional(&mut *tx).await?;
            let id = match existing {
                Some((_, status)) if status == "pending" || status == "accepted" => {
                    return Err(StoreError::Conflict(format!("{email} already has this label ({status})")));
                }
                Some((id, _)) => {
                    sqlx::query("UPDATE grants SET level = $1, status = 'pending', sync_devices = $2, invited_by = $3, updated_at = $4, modseq = $5 WHERE id = $6")
                        .bind(level).bind(sync_devices).bind(invited_by).bind(now).bind(seq).bind(id).execute(&mut *tx).await?;
                    id
                }
                None => sqlx::query_scalar::<_, i64>("INSERT INTO grants (label_id, grantee_kind, grantee, level, status, sync_devices, invited_by, created_at, updated_at, modseq) VALUES ($1, 'user', $2, $3, 'pending', $4, $5, $6, $6, $7) RETURNING id")
                    .bind(label_id).bind(email).bind(level).bind(sync_devices).bind(invited_by).bind(now).bind(seq).fetch_one(&mut *tx).await?,
            };
            tx.commit().await?;
            id
        });
        self.grant(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn grant(&self, id: i64) -> Result<Option<Grant>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants WHERE id = $1"))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(grant))
    }

    pub async fn grants_of_label(&self, label_id: &str) -> Result<Vec<Grant>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants WHERE label_id = $1 ORDER BY grantee"))
            .bind(label_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(grant).collect())
    }

    /// The user's own grants (their invitations and accepted shares).
    pub async fn grants_of_user(&self, email: &str) -> Result<Vec<Grant>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants WHERE grantee_kind = 'user' AND grantee = $1 ORDER BY created_at, id"))
            .bind(email).fetch_all(p).await?);
        Ok(rows.into_iter().map(grant).collect())
    }

    pub async fn user_grant(&self, label_id: &str, email: &str) -> Result<Option<Grant>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants WHERE label_id = $1 AND grantee_kind = 'user' AND grantee = $2"))
            .bind(label_id).bind(email).fetch_optional(p).await?);
        Ok(row.map(grant))
    }

    /// Labels shared with the user and accepted, with the grant, in one query.
    pub async fn accepted_labels(&self, email: &str) -> Result<Vec<(Label, Grant)>> {
        type Row = (
            String,
            i64,
            String,
            String,
            i64,
            i64,
            i64,
            String,
            String,
            String,
            String,
            String,
            bool,
            Option<i64>,
            i64,
            i64,
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, Row>("SELECT l.id, l.owner_id, l.name, l.description, l.created_at, l.modseq, g.id, g.label_id, g.grantee_kind, g.grantee, g.level, g.status, g.sync_devices, g.invited_by, g.created_at, g.updated_at FROM grants g JOIN labels l ON l.id = g.label_id WHERE g.grantee_kind = 'user' AND g.grantee = $1 AND g.status = 'accepted' ORDER BY l.name, l.id")
            .bind(email).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|r| {
                let label = Label { id: r.0, owner_id: r.1, name: r.2, description: r.3, created_at: r.4, modseq: r.5 };
                (label, grant((r.6, r.7, r.8, r.9, r.10, r.11, r.12, r.13, r.14, r.15)))
            })
            .collect())
    }

    /// Applies `change` if the grant is in `expected_status` (any status when `None`); `NotFound` otherwise.
    pub async fn change_grant(
        &self,
        id: i64,
        expected_status: Option<&[&str]>,
        change: &GrantChange<'_>,
    ) -> Result<Grant> {
        let now = now();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let _turn = self.write_turn().await;
            let seq = sqlx::query_scalar::<_, i64>("UPDATE change_seq SET value = value + 1 WHERE id = 1 RETURNING value").fetch_one(&mut *tx).await?;
            let status: Option<String> = sqlx::query_scalar("SELECT status FROM grants WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            let status = status.ok_or(StoreError::NotFound)?;
            if let Some(allowed) = expected_status
                && !allowed.contains(&status.as_str())
            {
                return Err(StoreError::Conflict(format!("the grant is {status}")));
            }
            sqlx::query("UPDATE grants SET level = COALESCE($1, level), status = COALESCE($2, status), sync_devices = COALESCE($3, sync_devices), updated_at = $4, modseq = $5 WHERE id = $6")
                .bind(change.level).bind(change.status).bind(change.sync_devices).bind(now).bind(seq).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        self.grant(id).await?.ok_or(StoreError::NotFound)
    }
}
