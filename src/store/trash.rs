//! The trash: deleted contacts and contacts taken off labels stay restorable until purged.

use super::events::{Event, commit_publishing};
use super::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashedContact {
    pub contact_id: i64,
    pub href: String,
    pub fn_: String,
    pub deleted_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedMembership {
    pub membership_id: i64,
    pub label_id: String,
    pub contact_id: i64,
    pub href: String,
    pub fn_: String,
    pub removed_at: i64,
}

/// A removed membership: contact, name, removed_at, the contact's deleted_at, and whether the contact is the
/// label owner's.
type RemovedRow = (i64, String, Option<i64>, Option<i64>, bool);

impl Store {
    /// The owner's deleted contacts, newest first.
    pub async fn trashed_contacts(&self, owner_id: i64) -> Result<Vec<TrashedContact>> {
        let rows: Vec<(i64, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, href, fn, deleted_at FROM contacts WHERE owner_id = $1 AND deleted_at IS NOT NULL ORDER BY deleted_at DESC, id DESC")
            .bind(owner_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(|r| TrashedContact { contact_id: r.0, href: r.1, fn_: r.2, deleted_at: r.3 }).collect())
    }

    /// Contacts taken off a label and not back on it, whose contact still exists (a deleted contact comes back
    /// with its labels through `restore_contact`).
    pub async fn removed_memberships(&self, label_id: &str) -> Result<Vec<RemovedMembership>> {
        let rows: Vec<(i64, String, i64, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT m.id, m.label_id, m.contact_id, m.href, c.fn, m.removed_at FROM memberships m JOIN contacts c ON c.id = m.contact_id \
             WHERE m.label_id = $1 AND m.removed_at IS NOT NULL AND c.deleted_at IS NULL \
             AND c.owner_id = (SELECT owner_id FROM labels WHERE id = $1) \
             AND NOT EXISTS (SELECT 1 FROM memberships live WHERE live.label_id = m.label_id AND live.contact_id = m.contact_id AND live.removed_at IS NULL) \
             ORDER BY m.removed_at DESC, m.id DESC")
            .bind(label_id).fetch_all(p).await?);
        let mut seen = std::collections::HashSet::new();
        Ok(rows
            .into_iter()
            // A contact removed twice is restorable once, from its latest removal.
            .filter(|r| seen.insert(r.2))
            .map(|r| RemovedMembership {
                membership_id: r.0,
                label_id: r.1,
                contact_id: r.2,
                href: r.3,
                fn_: r.4,
                removed_at: r.5,
            })
            .collect())
    }

    /// Brings a deleted contact back into My contacts, with the labels it lost when it was deleted. Refused when
    /// its name or UID has been taken by another contact since.
    pub async fn restore_contact(&self, owner_id: i64, contact_id: i64) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let row: Option<(String, String, Option<i64>)> = sqlx::query_as("SELECT href, uid, deleted_at FROM contacts WHERE id = $1 AND owner_id = $2")
                .bind(contact_id).bind(owner_id).fetch_optional(&mut *tx).await?;
            let (href, uid, deleted_at) = row.ok_or(StoreError::NotFound)?;
            let deleted_at = deleted_at.ok_or_else(|| StoreError::Conflict("the contact is not in the trash".into()))?;
            let taken: Option<String> = sqlx::query_scalar("SELECT href FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND (href = $2 OR uid = $3) LIMIT 1")
                .bind(owner_id).bind(&href).bind(&uid).fetch_optional(&mut *tx).await?;
            if let Some(other) = taken {
                return Err(StoreError::Conflict(format!("another contact ({other}) now has this contact's name or UID")));
            }
            sqlx::query("UPDATE contacts SET deleted_at = NULL, modseq = $1, actor_id = $2 WHERE id = $3").bind(seq).bind(owner_id).bind(contact_id).execute(&mut *tx).await?;
            // The labels it lost with the delete (stamped with the same moment), where nothing took their place.
            // (Only on labels the contact's owner still owns: a label's contacts are its owner's.)
            sqlx::query("UPDATE memberships SET removed_at = NULL, modseq = $1, actor_id = $4 WHERE contact_id = $2 AND removed_at = $3 \
                         AND label_id IN (SELECT id FROM labels WHERE owner_id = $4) \
                         AND NOT EXISTS (SELECT 1 FROM memberships live WHERE live.label_id = memberships.label_id AND live.removed_at IS NULL \
                                         AND (live.href = memberships.href OR live.contact_id = memberships.contact_id))")
                .bind(seq).bind(contact_id).bind(deleted_at).bind(owner_id).execute(&mut *tx).await?;
            let mut labels: Vec<String> = sqlx::query_scalar("UPDATE labels SET modseq = $1 WHERE id IN (SELECT label_id FROM memberships WHERE contact_id = $2 AND modseq = $1) RETURNING id")
                .bind(seq).bind(contact_id).fetch_all(&mut *tx).await?;
            labels.sort_unstable();
            sqlx::query("UPDATE users SET book_modseq = $1 WHERE id = $2").bind(seq).bind(owner_id).execute(&mut *tx).await?;
            let events = vec![Event::Cards { modseq: seq, owners: vec![owner_id], labels }];
            commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// Puts a contact back on a label it was taken off; `actor_id` restores it.
    pub async fn restore_membership(&self, label_id: &str, membership_id: i64, actor_id: i64) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let row: Option<RemovedRow> = sqlx::query_as(
                "SELECT m.contact_id, m.href, m.removed_at, c.deleted_at, c.owner_id = l.owner_id FROM memberships m JOIN contacts c ON c.id = m.contact_id \
                 JOIN labels l ON l.id = m.label_id WHERE m.id = $1 AND m.label_id = $2")
                .bind(membership_id).bind(label_id).fetch_optional(&mut *tx).await?;
            let (contact_id, href, removed_at, deleted_at, owners) = row.ok_or(StoreError::NotFound)?;
            if !owners {
                return Err(StoreError::Conflict("the contact belongs to the label's previous owner: add it again instead".into()));
            }
            if removed_at.is_none() {
                return Err(StoreError::Conflict("the contact is on the label".into()));
            }
            if deleted_at.is_some() {
                return Err(StoreError::Conflict("the contact itself is in the trash: restore it first".into()));
            }
            let live: Option<i64> = sqlx::query_scalar("SELECT id FROM memberships WHERE label_id = $1 AND removed_at IS NULL AND (contact_id = $2 OR href = $3) LIMIT 1")
                .bind(label_id).bind(contact_id).bind(&href).fetch_optional(&mut *tx).await?;
            if live.is_some() {
                return Err(StoreError::Conflict("the label already holds this contact or this name".into()));
            }
            sqlx::query("UPDATE memberships SET removed_at = NULL, modseq = $1, actor_id = $2 WHERE id = $3").bind(seq).bind(actor_id).bind(membership_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE labels SET modseq = $1 WHERE id = $2").bind(seq).bind(label_id).execute(&mut *tx).await?;
            let events = vec![Event::Cards { modseq: seq, owners: Vec::new(), labels: vec![label_id.to_string()] }];
            commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// Deletes trash older than `days` for good. Sync tokens from before the newest purged tombstone can no longer
    /// be answered exactly, so they become invalid (clients resync from scratch, RFC 6578 §3.2).
    pub async fn purge_trash(&self, days: i64) -> Result<u64> {
        let cutoff = self.clock.now() - days * 86_400;
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            let newest: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(modseq) FROM (SELECT modseq FROM memberships WHERE removed_at < $1 UNION ALL SELECT modseq FROM contacts WHERE deleted_at < $1) gone")
                .bind(cutoff).fetch_one(&mut *tx).await?;
            let m = sqlx::query("DELETE FROM memberships WHERE removed_at < $1 OR contact_id IN (SELECT id FROM contacts WHERE deleted_at < $1)")
                .bind(cutoff).execute(&mut *tx).await?.rows_affected();
            let c = sqlx::query("DELETE FROM contacts WHERE deleted_at < $1").bind(cutoff).execute(&mut *tx).await?.rows_affected();
            if let Some(newest) = newest {
                sqlx::query("INSERT INTO meta (key, value) VALUES ('tokens_valid_from', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(newest.to_string()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(m + c)
        })
    }

    /// The sync tokens answerable exactly, in one query: from the newest purged tombstone (0 until something
    /// was purged) up to the newest change handed out.
    pub async fn token_window(&self) -> Result<(i64, i64)> {
        let (current, oldest): (i64, Option<String>) = on_pool!(self, p => sqlx::query_as(
            "SELECT value, (SELECT value FROM meta WHERE key = 'tokens_valid_from') FROM change_seq WHERE id = 1")
            .fetch_one(p).await?);
        Ok((oldest.and_then(|v| v.parse().ok()).unwrap_or(0), current))
    }
}
