//! The group commit's statements where the two dialects are best written apart (store/cards.rs `run_batch`).
//!
//! On PostgreSQL every statement is a round trip to another process, and planning is paid per distinct
//! statement text: the lookup takes its names and UIDs as arrays, so it is one prepared statement whatever the
//! batch's size (planned once, then reused), and the batch ends with one statement that stamps every book's
//! token and sends the change notification. SQLite runs in this process, has no arrays and no data-modifying
//! WITH, and plans a statement in microseconds: it keeps the plain forms.

use super::write::{WriteTx, set_claimed_seq};
use sqlx::{AssertSqlSafe, Postgres, Sqlite};

/// A live contact: (id, etag, href, uid).
pub(super) type LiveRow = (i64, String, String, String);

/// What a batch stamps at its end: My contacts of these owners and these labels, each with the last change
/// number it took in the batch.
pub(super) struct Stamps<'a> {
    pub books: &'a [(i64, i64)],
    pub labels: &'a [(String, i64)],
}

const TOUCH_BOOK: &str = "UPDATE users SET book_modseq = $1 WHERE id = $2 AND book_modseq < $1";
const TOUCH_LABEL: &str = "UPDATE labels SET modseq = $1 WHERE id = $2 AND modseq < $1";

/// The owner's live contacts at these names and with these UIDs, by the unique (owner, href) and (owner, uid)
/// indexes: two index lookups in one round trip (an `OR` would scan every contact of the owner).
const LIVE_BY_NAME_OR_UID_PG: &str =
    "SELECT id, etag, href, uid FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND href = ANY($2)
    UNION ALL SELECT id, etag, href, uid FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND uid = ANY($3)";

/// Stamps the books' tokens and notifies the other servers (after the data-modifying WITH parts, which always
/// run to completion; the NOTIFY is delivered at commit, never on a rollback).
/// The rows are found by their primary keys (`= ANY`), so the plan is index lookups whatever the statistics. $7:
/// the last change sequence value the batch claimed, when the row does not hold it yet.
const FINISH_PG: &str = concat!(
    "WITH b AS (UPDATE users u SET book_modseq = v.seq FROM unnest($1::bigint[], $2::bigint[]) AS v(id, seq)
                 WHERE u.id = ANY($1) AND u.id = v.id AND u.book_modseq < v.seq),
     l AS (UPDATE labels t SET modseq = v.seq FROM unnest($3::text[], $4::bigint[]) AS v(id, seq)
                 WHERE t.id = ANY($3) AND t.id = v.id AND t.modseq < v.seq),
     s AS (",
    set_claimed_seq!("7"),
    ")
SELECT pg_notify($5, p) FROM unnest($6::text[]) AS p"
);

impl WriteTx<Postgres> {
    pub(super) async fn live_contacts(
        &mut self,
        owner: i64,
        hrefs: &[&str],
        uids: &[&str],
    ) -> Result<Vec<LiveRow>, sqlx::Error> {
        sqlx::query_as(LIVE_BY_NAME_OR_UID_PG).bind(owner).bind(hrefs).bind(uids).fetch_all(&mut **self).await
    }

    /// Stamps, the claimed change sequence and NOTIFY `payloads` in one statement.
    pub(super) async fn finish_batch(&mut self, stamps: Stamps<'_>, payloads: Vec<String>) -> Result<(), sqlx::Error> {
        let seq = self.seq_to_write();
        if stamps.books.is_empty() && stamps.labels.is_empty() && payloads.is_empty() && seq.is_none() {
            return Ok(());
        }
        let (owners, owner_seqs): (Vec<i64>, Vec<i64>) = stamps.books.iter().copied().unzip();
        let (labels, label_seqs): (Vec<String>, Vec<i64>) = stamps.labels.iter().cloned().unzip();
        sqlx::query(FINISH_PG)
            .bind(owners)
            .bind(owner_seqs)
            .bind(labels)
            .bind(label_seqs)
            .bind(super::events::CHANNEL)
            .bind(payloads)
            .bind(seq)
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

impl WriteTx<Sqlite> {
    pub(super) async fn live_contacts(
        &mut self,
        owner: i64,
        hrefs: &[&str],
        uids: &[&str],
    ) -> Result<Vec<LiveRow>, sqlx::Error> {
        let href_list: Vec<String> = (0..hrefs.len()).map(|k| format!("${}", k + 2)).collect();
        let uid_list: Vec<String> = (0..uids.len()).map(|k| format!("${}", k + 2 + hrefs.len())).collect();
        let mut sql = format!(
            "SELECT id, etag, href, uid FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND href IN ({})",
            href_list.join(", ")
        );
        if !uids.is_empty() {
            sql.push_str(&format!(
                " UNION ALL SELECT id, etag, href, uid FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND uid IN ({})",
                uid_list.join(", ")
            ));
        }
        let mut q = sqlx::query_as::<_, LiveRow>(AssertSqlSafe(sql)).bind(owner);
        for h in hrefs {
            q = q.bind(*h);
        }
        for u in uids {
            q = q.bind(*u);
        }
        q.fetch_all(&mut **self).await
    }

    /// Stamps; SQLite's one server has nobody to notify (the claimed change sequence is written at commit).
    pub(super) async fn finish_batch(&mut self, stamps: Stamps<'_>, _payloads: Vec<String>) -> Result<(), sqlx::Error> {
        for (owner_id, seq) in stamps.books {
            sqlx::query(TOUCH_BOOK).bind(seq).bind(owner_id).execute(&mut **self).await?;
        }
        for (label_id, seq) in stamps.labels {
            sqlx::query(TOUCH_LABEL).bind(seq).bind(label_id).execute(&mut **self).await?;
        }
        Ok(())
    }
}
