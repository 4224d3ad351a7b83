//! Contact history and label activity, as the triggers of migration 0003 record them.

use super::{Result, Store, on_pool};

/// One thing that happened to a contact: in a label (added, edited, removed, deleted, restored) or in its owner's
/// My contacts (created, edited, deleted, restored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: i64,
    pub label_id: Option<String>,
    pub contact_id: i64,
    pub action: String,
    /// The e-mail of who did it ("" when not known).
    pub actor: String,
    pub at: i64,
    pub modseq: i64,
    /// The contact's name at the time.
    pub fn_: String,
}

/// A change in a contact's history, with the version it replaced (for an edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub activity: Activity,
    /// The bytes and ETag the contact had before this edit.
    pub previous: Option<(Vec<u8>, String)>,
}

/// A contact's owner, whether it is in the trash, and the labels it carries now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPlace {
    pub owner_id: i64,
    pub deleted: bool,
    pub label_ids: Vec<String>,
}

type ActivityRow = (i64, Option<String>, i64, String, String, i64, i64, String);
/// An activity row with the version an edit replaced.
type HistoryRow = (i64, Option<String>, i64, String, String, i64, i64, String, Option<Vec<u8>>, Option<String>);

fn activity(r: ActivityRow) -> Activity {
    Activity { id: r.0, label_id: r.1, contact_id: r.2, action: r.3, actor: r.4, at: r.5, modseq: r.6, fn_: r.7 }
}

impl Store {
    /// Where a contact is, in one query: `None` when no such contact exists (or it was purged).
    pub async fn contact_place(&self, contact_id: i64) -> Result<Option<ContactPlace>> {
        let rows: Vec<(i64, Option<i64>, Option<String>)> = on_pool!(self, p => sqlx::query_as(
            "SELECT c.owner_id, c.deleted_at, m.label_id FROM contacts c \
             LEFT JOIN memberships m ON m.contact_id = c.id AND m.removed_at IS NULL WHERE c.id = $1")
            .bind(contact_id).fetch_all(p).await?);
        let Some(first) = rows.first() else { return Ok(None) };
        Ok(Some(ContactPlace {
            owner_id: first.0,
            deleted: first.1.is_some(),
            label_ids: rows.iter().filter_map(|r| r.2.clone()).collect(),
        }))
    }

    /// Everything that happened to a contact as a whole, newest first, each edit with the version it replaced:
    /// one query.
    pub async fn contact_history(&self, contact_id: i64) -> Result<Vec<HistoryEntry>> {
        let rows: Vec<HistoryRow> = on_pool!(self, p => sqlx::query_as(
                "SELECT a.id, a.label_id, a.contact_id, a.action, a.actor, a.at, a.modseq, a.fn, v.vcard, v.etag FROM activity a \
                 LEFT JOIN contact_versions v ON a.action = 'edited' AND v.contact_id = a.contact_id AND v.modseq = a.modseq \
                 WHERE a.contact_id = $1 AND a.label_id IS NULL ORDER BY a.modseq DESC, a.id DESC")
                .bind(contact_id).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|r| HistoryEntry {
                previous: r.8.zip(r.9),
                activity: activity((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7)),
            })
            .collect())
    }

    /// A label's activity, newest first: up to `limit` entries older than `before` (an entry id; `None` for the
    /// newest).
    pub async fn label_activity(&self, label_id: &str, before: Option<i64>, limit: i64) -> Result<Vec<Activity>> {
        let rows: Vec<ActivityRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, label_id, contact_id, action, actor, at, modseq, fn FROM activity \
             WHERE label_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
            .bind(label_id).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(p).await?);
        Ok(rows.into_iter().map(activity).collect())
    }

    /// Forgets versions and activity older than `days`.
    pub async fn purge_history(&self, days: i64) -> Result<u64> {
        let cutoff = self.clock.now() - days * 86_400;
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            let v = sqlx::query("DELETE FROM contact_versions WHERE replaced_at < $1").bind(cutoff).execute(&mut *tx).await?.rows_affected();
            let a = sqlx::query("DELETE FROM activity WHERE at < $1").bind(cutoff).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(v + a)
        })
    }
}
