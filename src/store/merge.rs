//! Two contacts of one owner made one, in one write transaction, and undone the same way (migration 0014).
//! The service decides what the person merging may do (which labels move, whether the merged-away contact is
//! deleted); this writes exactly that, after checking that neither contact changed since it was decided on.

use super::cards::{TOUCH_MEMBERSHIPS, UPDATE_CONTACT};
use super::events::{Event, commit_publishing};
use super::{NewCard, Result, Store, StoreError, on_pool};

/// A merge as the service decided it.
pub struct MergeWrite<'a> {
    pub owner_id: i64,
    pub actor_id: i64,
    pub keep_id: i64,
    /// The survivor's ETag when it was read: the merge is refused (`Stale`) if it changed since.
    pub keep_etag: &'a str,
    /// The survivor as it was read, kept for the undo.
    pub keep_before: &'a [u8],
    /// The merged card.
    pub merged: &'a NewCard<'a>,
    pub drop_id: i64,
    pub drop_etag: &'a str,
    /// Labels the merged-away contact leaves; the survivor takes its place on each where it is not yet.
    pub labels: &'a [String],
    /// Whether the merged-away contact is deleted (to the trash), leaving every book it is in.
    pub delete_drop: bool,
}

/// What a merge did, as recorded for its undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    pub id: i64,
    pub owner_id: i64,
    pub actor_id: Option<i64>,
    pub keep_id: i64,
    pub drop_id: i64,
    pub keep_before: Vec<u8>,
    pub keep_after: String,
    pub drop_deleted: bool,
    pub at: i64,
    pub undone_at: Option<i64>,
}

type RecordRow = (i64, i64, Option<i64>, i64, i64, Vec<u8>, String, bool, i64, Option<i64>, String, String);

fn ids(list: &str) -> Vec<i64> {
    list.split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

fn joined(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

const INSERT_MEMBERSHIP_ID: &str = "INSERT INTO memberships (label_id, contact_id, href, modseq, added_at, actor_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
/// Every label one of the two contacts' memberships changed in, by the change number this write took.
const TOUCH_CHANGED_LABELS: &str = "UPDATE labels SET modseq = $1 WHERE id IN (SELECT label_id FROM memberships WHERE contact_id IN ($2, $3) AND modseq = $1) RETURNING id";

impl Store {
    /// Writes a merge (see `MergeWrite`) and records it; answers the record's id.
    pub async fn merge_contacts(&self, m: &MergeWrite<'_>, now: i64) -> Result<i64> {
        let ix = m.merged.indexed;
        let (emails, tels) = (ix.emails.join("\n"), ix.tels.join("\n"));
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            for (id, etag) in [(m.keep_id, m.keep_etag), (m.drop_id, m.drop_etag)] {
                let now_etag: Option<String> = sqlx::query_scalar("SELECT etag FROM contacts WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL")
                    .bind(id).bind(m.owner_id).fetch_optional(&mut *tx).await?;
                match now_etag {
                    None => return Err(StoreError::NotFound),
                    Some(e) if e != etag => return Err(StoreError::Stale),
                    Some(_) => {}
                }
            }
            sqlx::query(UPDATE_CONTACT)
                .bind(&ix.uid).bind(m.merged.vcard).bind(&m.merged.etag).bind(&ix.fn_).bind(&ix.sort_key).bind(&emails).bind(&tels)
                .bind(&ix.org).bind(&ix.kind).bind(now).bind(seq).bind(m.actor_id).bind(m.keep_id).bind(&ix.search)
                .execute(&mut *tx).await?;
            sqlx::query(TOUCH_MEMBERSHIPS).bind(seq).bind(m.keep_id).execute(&mut *tx).await?;
            let keep_href: String = sqlx::query_scalar("SELECT href FROM contacts WHERE id = $1").bind(m.keep_id).fetch_one(&mut *tx).await?;
            let mut added = Vec::new();
            let mut removed = Vec::new();
            for label in m.labels {
                let gone: Option<i64> = sqlx::query_scalar("UPDATE memberships SET removed_at = $1, modseq = $2, actor_id = $3 WHERE label_id = $4 AND contact_id = $5 AND removed_at IS NULL RETURNING id")
                    .bind(now).bind(seq).bind(m.actor_id).bind(label).bind(m.drop_id).fetch_optional(&mut *tx).await?;
                let Some(gone) = gone else { continue };
                removed.push(gone);
                let there: Option<i64> = sqlx::query_scalar("SELECT id FROM memberships WHERE label_id = $1 AND contact_id = $2 AND removed_at IS NULL")
                    .bind(label).bind(m.keep_id).fetch_optional(&mut *tx).await?;
                if there.is_some() {
                    continue;
                }
                // The survivor's own name when the label has no card by it, so a device sees the name it knows.
                let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM memberships WHERE label_id = $1 AND href = $2 AND removed_at IS NULL")
                    .bind(label).bind(&keep_href).fetch_optional(&mut *tx).await?;
                let href = if taken.is_some() { format!("{}.vcf", uuid::Uuid::new_v4()) } else { keep_href.clone() };
                let id: i64 = sqlx::query_scalar(INSERT_MEMBERSHIP_ID).bind(label).bind(m.keep_id).bind(&href).bind(seq).bind(now).bind(m.actor_id)
                    .fetch_one(&mut *tx).await?;
                added.push(id);
            }
            if m.delete_drop {
                let rest: Vec<i64> = sqlx::query_scalar("SELECT id FROM memberships WHERE contact_id = $1 AND removed_at IS NULL")
                    .bind(m.drop_id).fetch_all(&mut *tx).await?;
                removed.extend(rest);
                // Deleted before it leaves its labels, so the activity log says "deleted" there (migration 0003).
                sqlx::query(super::cards::DELETE_CONTACT).bind(now).bind(seq).bind(m.actor_id).bind(m.drop_id).execute(&mut *tx).await?;
                sqlx::query(super::cards::REMOVE_ALL_MEMBERSHIPS).bind(now).bind(seq).bind(m.actor_id).bind(m.drop_id).execute(&mut *tx).await?;
            }
            let mut labels: Vec<String> = sqlx::query_scalar(TOUCH_CHANGED_LABELS).bind(seq).bind(m.keep_id).bind(m.drop_id).fetch_all(&mut *tx).await?;
            labels.sort_unstable();
            labels.dedup();
            sqlx::query("UPDATE users SET book_modseq = $1 WHERE id = $2").bind(seq).bind(m.owner_id).execute(&mut *tx).await?;
            let drop_fn: String = sqlx::query_scalar("SELECT fn FROM contacts WHERE id = $1").bind(m.drop_id).fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn) \
                         SELECT NULL, $1, 'merged', COALESCE((SELECT email FROM users WHERE id = $2), ''), $3, $4, $5")
                .bind(m.keep_id).bind(m.actor_id).bind(now).bind(seq).bind(&drop_fn).execute(&mut *tx).await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO merges (owner_id, actor_id, keep_id, drop_id, keep_before, keep_after, added, removed, drop_deleted, at, modseq) \
                                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id")
                .bind(m.owner_id).bind(m.actor_id).bind(m.keep_id).bind(m.drop_id).bind(m.keep_before).bind(&m.merged.etag)
                .bind(joined(&added)).bind(joined(&removed)).bind(m.delete_drop).bind(now).bind(seq)
                .fetch_one(&mut *tx).await?;
            let events = vec![Event::Cards { modseq: seq, owners: vec![m.owner_id], labels }];
            commit_publishing!(self, tx, events);
            Ok(id)
        })
    }

    /// A merge as recorded.
    pub async fn merge_record(&self, id: i64) -> Result<Option<MergeRecord>> {
        let row: Option<RecordRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, owner_id, actor_id, keep_id, drop_id, keep_before, keep_after, drop_deleted, at, undone_at, added, removed FROM merges WHERE id = $1")
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(|r| MergeRecord {
            id: r.0,
            owner_id: r.1,
            actor_id: r.2,
            keep_id: r.3,
            drop_id: r.4,
            keep_before: r.5,
            keep_after: r.6,
            drop_deleted: r.7,
            at: r.8,
            undone_at: r.9,
        }))
    }

    /// Puts back what merge `id` changed: the survivor as it was (`before` is its recorded card, indexed), its
    /// new labels taken off, the merged-away contact back from the trash and on the labels it left. Refused
    /// (`Conflict`) when the survivor changed since, or the merged-away contact's name or UID was taken.
    pub async fn undo_merge(&self, id: i64, before: &NewCard<'_>, now: i64) -> Result<()> {
        let ix = before.indexed;
        let (emails, tels) = (ix.emails.join("\n"), ix.tels.join("\n"));
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let row: Option<RecordRow> = sqlx::query_as(
                "SELECT id, owner_id, actor_id, keep_id, drop_id, keep_before, keep_after, drop_deleted, at, undone_at, added, removed FROM merges WHERE id = $1")
                .bind(id).fetch_optional(&mut *tx).await?;
            let r = row.ok_or(StoreError::NotFound)?;
            let (owner_id, keep_id, drop_id, keep_after, drop_deleted, undone_at) = (r.1, r.3, r.4, r.6, r.7, r.9);
            if undone_at.is_some() {
                return Err(StoreError::Conflict("this merge was undone already".into()));
            }
            let keep: Option<(String, Option<i64>)> = sqlx::query_as("SELECT etag, deleted_at FROM contacts WHERE id = $1")
                .bind(keep_id).fetch_optional(&mut *tx).await?;
            match keep {
                Some((etag, None)) if etag == keep_after => {}
                _ => return Err(StoreError::Conflict(
                    "the merged contact changed or was deleted since the merge; its history keeps both versions".into())),
            }
            let dropped: Option<(String, String, Option<i64>)> = sqlx::query_as("SELECT href, uid, deleted_at FROM contacts WHERE id = $1")
                .bind(drop_id).fetch_optional(&mut *tx).await?;
            let (href, uid, deleted_at) = dropped.ok_or(StoreError::NotFound)?;
            if drop_deleted && deleted_at.is_some() {
                let taken: Option<String> = sqlx::query_scalar("SELECT href FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND id <> $4 AND (href = $2 OR uid = $3) LIMIT 1")
                    .bind(owner_id).bind(&href).bind(&uid).bind(keep_id).fetch_optional(&mut *tx).await?;
                if let Some(other) = taken {
                    return Err(StoreError::Conflict(format!("another contact ({other}) now has the merged-away contact's name or UID")));
                }
                sqlx::query("UPDATE contacts SET deleted_at = NULL, modseq = $1, actor_id = $2 WHERE id = $3")
                    .bind(seq).bind(before.actor_id).bind(drop_id).execute(&mut *tx).await?;
            }
            sqlx::query(UPDATE_CONTACT)
                .bind(&ix.uid).bind(before.vcard).bind(&before.etag).bind(&ix.fn_).bind(&ix.sort_key).bind(&emails).bind(&tels)
                .bind(&ix.org).bind(&ix.kind).bind(now).bind(seq).bind(before.actor_id).bind(keep_id).bind(&ix.search)
                .execute(&mut *tx).await?;
            sqlx::query(TOUCH_MEMBERSHIPS).bind(seq).bind(keep_id).execute(&mut *tx).await?;
            for m in ids(&r.10) {
                sqlx::query("UPDATE memberships SET removed_at = $1, modseq = $2, actor_id = $3 WHERE id = $4 AND removed_at IS NULL")
                    .bind(now).bind(seq).bind(before.actor_id).bind(m).execute(&mut *tx).await?;
            }
            for m in ids(&r.11) {
                // Back where nothing took its place since.
                sqlx::query("UPDATE memberships SET removed_at = NULL, modseq = $1, actor_id = $2 WHERE id = $3 AND removed_at IS NOT NULL \
                             AND NOT EXISTS (SELECT 1 FROM memberships live WHERE live.label_id = memberships.label_id AND live.removed_at IS NULL \
                                             AND (live.href = memberships.href OR live.contact_id = memberships.contact_id))")
                    .bind(seq).bind(before.actor_id).bind(m).execute(&mut *tx).await?;
            }
            let mut labels: Vec<String> = sqlx::query_scalar(TOUCH_CHANGED_LABELS).bind(seq).bind(keep_id).bind(drop_id).fetch_all(&mut *tx).await?;
            labels.sort_unstable();
            labels.dedup();
            sqlx::query("UPDATE users SET book_modseq = $1 WHERE id = $2").bind(seq).bind(owner_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE merges SET undone_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut *tx).await?;
            let events = vec![Event::Cards { modseq: seq, owners: vec![owner_id], labels }];
            commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// The live labels a contact carries (label ids).
    pub async fn contact_labels(&self, contact_id: i64) -> Result<Vec<String>> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT label_id FROM memberships WHERE contact_id = $1 AND removed_at IS NULL ORDER BY label_id")
            .bind(contact_id).fetch_all(p).await?),
        )
    }
}

/// A contact as the duplicates finder compares it (see `Store::duplicate_candidates`).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub contact_id: i64,
    pub owner_id: i64,
    /// The label it was read through; `None` for the user's own contacts.
    pub via: Option<String>,
    pub fn_: String,
    pub org: String,
    /// One per line, as indexed.
    pub emails: String,
    pub tels: String,
    pub kind: String,
    /// The stored card, read only for labels that hide fields from the user (what they can read must be
    /// worked out from it).
    pub vcard: Option<Vec<u8>>,
}

type CandidateRow = (i64, i64, Option<String>, String, String, String, String, String);
type CandidateCardRow = (i64, i64, Option<String>, String, String, String, String, String, Vec<u8>);

impl Store {
    /// Every live contact of `user_id`'s My contacts, then of each of `labels` (shared with them), with the
    /// fields duplicates are found by: one query for My contacts and one per label. A label paired
    /// with `true` comes with its cards.
    pub async fn duplicate_candidates(&self, user_id: i64, labels: &[(String, bool)]) -> Result<Vec<Candidate>> {
        let cand = |r: CandidateRow, vcard: Option<Vec<u8>>| Candidate {
            contact_id: r.0,
            owner_id: r.1,
            via: r.2,
            fn_: r.3,
            org: r.4,
            emails: r.5,
            tels: r.6,
            kind: r.7,
            vcard,
        };
        let own: Vec<CandidateRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, owner_id, CAST(NULL AS TEXT), fn, org, emails, tels, kind FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL")
            .bind(user_id).fetch_all(p).await?);
        let mut out: Vec<Candidate> = own.into_iter().map(|r| cand(r, None)).collect();
        for (label, with_card) in labels {
            if *with_card {
                let rows: Vec<CandidateCardRow> = on_pool!(self, p => sqlx::query_as(
                    "SELECT c.id, c.owner_id, m.label_id, c.fn, c.org, c.emails, c.tels, c.kind, c.vcard FROM memberships m JOIN contacts c ON c.id = m.contact_id \
                     WHERE m.label_id = $1 AND m.removed_at IS NULL")
                    .bind(label).fetch_all(p).await?);
                out.extend(rows.into_iter().map(|r| cand((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7), Some(r.8))));
            } else {
                let rows: Vec<CandidateRow> = on_pool!(self, p => sqlx::query_as(
                    "SELECT c.id, c.owner_id, m.label_id, c.fn, c.org, c.emails, c.tels, c.kind FROM memberships m JOIN contacts c ON c.id = m.contact_id \
                     WHERE m.label_id = $1 AND m.removed_at IS NULL")
                    .bind(label).fetch_all(p).await?);
                out.extend(rows.into_iter().map(|r| cand(r, None)));
            }
        }
        Ok(out)
    }
}
