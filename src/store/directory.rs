//! The server's domains and its groups of users.

use super::events::{Event, commit_publishing};
use super::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub is_primary: bool,
    pub auto_accept: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    /// Members' e-mails, sorted.
    pub members: Vec<String>,
}

/// Group rows joined with their members (one row per member, or one with none), ordered by group.
fn groups_of(rows: Vec<(i64, String, i64, Option<String>)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (id, name, created_at, email) in rows {
        if groups.last().is_none_or(|g| g.id != id) {
            groups.push(Group { id, name, created_at, members: Vec::new() });
        }
        if let Some(g) = groups.last_mut() {
            g.members.extend(email);
        }
    }
    groups
}

impl Store {
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, (String, bool, bool, i64)>(
            "SELECT name, is_primary, auto_accept, created_at FROM domains ORDER BY is_primary DESC, name")
            .fetch_all(p).await?);
        Ok(rows.into_iter().map(|r| Domain { name: r.0, is_primary: r.1, auto_accept: r.2, created_at: r.3 }).collect())
    }

    pub async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        Ok(self.domains().await?.into_iter().find(|d| d.name == name))
    }

    /// Adds a domain; the first one, or one added with `primary`, becomes the primary domain.
    pub async fn add_domain(&self, name: &str, primary: bool, auto_accept: bool) -> Result<Domain> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM domains").fetch_one(&mut *tx).await?;
            let primary = primary || count == 0;
            if primary {
                sqlx::query("UPDATE domains SET is_primary = FALSE").execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO domains (name, is_primary, auto_accept, created_at) VALUES ($1, $2, $3, $4)")
                .bind(name).bind(primary).bind(auto_accept).bind(self.clock.now()).execute(&mut *tx).await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("domain {name} already exists")),
                    e => e,
                })?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        self.domain(name).await?.ok_or(StoreError::NotFound)
    }

    /// Makes a domain primary and/or sets its auto-accept switch.
    pub async fn set_domain(&self, name: &str, primary: bool, auto_accept: Option<bool>) -> Result<Domain> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            let n = sqlx::query("UPDATE domains SET auto_accept = COALESCE($1, auto_accept) WHERE name = $2")
                .bind(auto_accept).bind(name).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if primary {
                sqlx::query("UPDATE domains SET is_primary = (name = $1)").bind(name).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        self.domain(name).await?.ok_or(StoreError::NotFound)
    }

    /// Removes a domain no account uses any more; its domain grants are revoked in the same transaction.
    pub async fn remove_domain(&self, name: &str) -> Result<()> {
        let pattern = format!("%@{}", name.replace(['%', '_'], ""));
        let now = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let primary: Option<bool> = sqlx::query_scalar("SELECT is_primary FROM domains WHERE name = $1")
                .bind(name).fetch_optional(&mut *tx).await?;
            let primary = primary.ok_or(StoreError::NotFound)?;
            let users = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE email LIKE $1")
                .bind(&pattern).fetch_one(&mut *tx).await?;
            if users > 0 {
                return Err(StoreError::Conflict(format!("{users} account(s) still use {name}; delete or move them first")));
            }
            let others = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM domains WHERE name <> $1")
                .bind(name).fetch_one(&mut *tx).await?;
            if primary && others > 0 {
                return Err(StoreError::Conflict(format!("{name} is the primary domain; make another one primary first")));
            }
            let seq = tx.seq();
            sqlx::query("UPDATE grants SET status = 'revoked', updated_at = $1, modseq = $2 WHERE grantee_kind = 'domain' AND grantee = $3 AND status <> 'revoked'")
                .bind(now).bind(seq).bind(name).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM domains WHERE name = $1").bind(name).execute(&mut *tx).await?;
            commit_publishing!(self, tx, vec![Event::Directory]);
            Ok(())
        })
    }

    pub async fn groups(&self) -> Result<Vec<Group>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, (i64, String, i64, Option<String>)>(
            "SELECT g.id, g.name, g.created_at, u.email FROM user_groups g LEFT JOIN user_group_members m ON m.group_id = g.id LEFT JOIN users u ON u.id = m.user_id ORDER BY g.name, u.email")
            .fetch_all(p).await?);
        Ok(groups_of(rows))
    }

    pub async fn group(&self, name: &str) -> Result<Option<Group>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, (i64, String, i64, Option<String>)>(
            "SELECT g.id, g.name, g.created_at, u.email FROM user_groups g LEFT JOIN user_group_members m ON m.group_id = g.id LEFT JOIN users u ON u.id = m.user_id WHERE g.name = $1 ORDER BY u.email")
            .bind(name).fetch_all(p).await?);
        Ok(groups_of(rows).into_iter().next())
    }

    pub async fn add_group(&self, name: &str) -> Result<Group> {
        on_pool!(self, p => sqlx::query("INSERT INTO user_groups (name, created_at) VALUES ($1, $2)")
            .bind(name).bind(self.clock.now()).execute(p).await.map(|_| ())
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("group {name} already exists")),
                e => e,
            })?);
        self.group(name).await?.ok_or(StoreError::NotFound)
    }

    /// Removes a group; its grants are revoked (kept, as every grant is, for the record).
    pub async fn remove_group(&self, name: &str) -> Result<()> {
        let now = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let n = sqlx::query("DELETE FROM user_groups WHERE name = $1").bind(name).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("UPDATE grants SET status = 'revoked', updated_at = $1, modseq = $2 WHERE grantee_kind = 'group' AND grantee = $3 AND status <> 'revoked'")
                .bind(now).bind(seq).bind(name).execute(&mut *tx).await?;
            commit_publishing!(self, tx, vec![Event::Directory]);
            Ok(())
        })
    }

    /// Adds (`add`) or removes a member; `Conflict` when that is already the case.
    pub async fn set_group_member(&self, group: &str, user_id: i64, add: bool) -> Result<()> {
        let n = on_pool!(self, p => {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1").bind(group).fetch_optional(p).await?;
            let id = id.ok_or(StoreError::NotFound)?;
            if add {
                sqlx::query("INSERT INTO user_group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id).bind(user_id).execute(p).await?.rows_affected()
            } else {
                sqlx::query("DELETE FROM user_group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(id).bind(user_id).execute(p).await?.rows_affected()
            }
        });
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "that user is {} a member of {group}",
                if add { "already" } else { "not" }
            )));
        }
        self.publish(vec![Event::Directory]).await;
        Ok(())
    }
}
