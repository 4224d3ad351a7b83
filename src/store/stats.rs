//! Planner statistics kept fresh on PostgreSQL, by the server itself.
//!
//! The write and sync queries are meant for the unique (owner, href), (owner, uid) and (label, href) indexes. A
//! planner without statistics on a table estimates every equality alike, and then prefers the smaller
//! (owner, id) index with a filter: a card write's lookup reads the whole book (22 ms at 20k cards, growing with
//! it). Once a table has been analyzed with some rows in it, PostgreSQL knows href and uid as unique (it keeps
//! their distinct count as a fraction of the rows, so that stays true as the table grows) and the unique indexes
//! are the only sensible plan from then on. Autovacuum cannot be relied on for this (it may be off, as on this
//! project's machines, and its analyze comes when it comes), so the store analyzes:
//! - at start, every table never analyzed that has rows, and every table changed by more than a tenth since;
//! - as this server writes cards: after 100, 1,000, 10,000 … of them, the card tables (imports included);
//! - hourly, as at start (other servers' writes are counted there too).
//!
//! SQLite needs none of this: without statistics its planner ranks an index by how many of its columns the
//! query's equalities cover, which already picks the unique ones.

use super::{Pool, Result, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The first count of written cards that analyzes the card tables; each later one is ten times the last.
const FIRST_ANALYZE_AT: u64 = 100;

/// Tables with too few statistics: never analyzed though they hold rows, or changed by more than a tenth of
/// their rows (plus 50, the same rule autovacuum applies by default) since they were.
const STALE_TABLES: &str = "SELECT relname::text FROM pg_stat_user_tables WHERE schemaname = current_schema()
    AND ((last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup + n_mod_since_analyze > 0)
         OR n_mod_since_analyze > 50 + n_live_tup / 10)
    ORDER BY relname";

/// What the card writer counts towards the next analyze.
#[derive(Default)]
pub(crate) struct Freshness {
    written: AtomicU64,
    /// The written count at which the card tables are next analyzed (0: not yet set, read as the first).
    next_at: AtomicU64,
    running: AtomicBool,
}

impl Store {
    /// Analyzes every table whose statistics are missing or stale (see the module comment) and answers their
    /// names; nothing on SQLite.
    pub async fn refresh_statistics(&self) -> Result<Vec<String>> {
        let Pool::Postgres(p) = &self.pool else { return Ok(Vec::new()) };
        let stale: Vec<String> = sqlx::query_scalar(STALE_TABLES).fetch_all(p).await?;
        for table in &stale {
            analyze(p, table).await?;
        }
        Ok(stale)
    }

    /// Called by the card writer after a commit of `n` card writes: on PostgreSQL, analyzes the card tables in
    /// the background when the count of written cards reaches the next step.
    pub(crate) fn wrote_cards(&self, n: usize) {
        let Pool::Postgres(p) = &self.pool else { return };
        let fresh: &Arc<Freshness> = &self.freshness;
        let written = fresh.written.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let next = match fresh.next_at.load(Ordering::Relaxed) {
            0 => FIRST_ANALYZE_AT,
            at => at,
        };
        if written < next || fresh.running.swap(true, Ordering::AcqRel) {
            return;
        }
        fresh.next_at.store(next.saturating_mul(10), Ordering::Relaxed);
        let (p, fresh) = (p.clone(), fresh.clone());
        tokio::spawn(async move {
            for table in ["contacts", "memberships"] {
                if let Err(e) = analyze(&p, table).await {
                    tracing::warn!(error = %e, table, "could not refresh the planner's statistics");
                }
            }
            fresh.running.store(false, Ordering::Release);
        });
    }
}

async fn analyze(p: &sqlx::PgPool, table: &str) -> std::result::Result<(), sqlx::Error> {
    // Table names come from the catalogue or from this file; quoted as identifiers all the same.
    let sql = format!("ANALYZE \"{}\"", table.replace('"', "\"\""));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(p).await?;
    tracing::debug!(table, "analyzed");
    Ok(())
}
