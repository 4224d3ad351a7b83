//! The one way to start a write transaction (`Store::write`), so the rules every write rests on are kept by
//! construction rather than by each caller remembering them:
//!
//! 1. It takes the writer turn (`Store::writer`) before anything else, and holds it until the transaction ends.
//!    Writes queue on the turn rather than on SQLite's busy-wait backoff or on PostgreSQL's row lock. A write
//!    waiting for the turn holds no pooled connection, so the holder can always get one.
//! 2. It begins so that what it reads stays true until it writes: BEGIN IMMEDIATE on SQLite (a deferred BEGIN
//!    takes its snapshot at the first read, and a write committed meanwhile by another connection, such as a
//!    single-statement update outside any turn, makes its own first write fail at once with "database is
//!    locked", whatever the busy timeout); a plain BEGIN on PostgreSQL, whose row locks do that.
//! 3. When it changes what clients sync, its first statement reserves the change sequence values it stamps
//!    (DESIGN.md §1). The `change_seq` row stays locked until commit, so across servers too a modseq is never
//!    committed after a higher one: a sync token never skips a change. The group commit instead takes the
//!    row's lock first and reads its value (`Store::write_claiming`), then decides how many values it needs
//!    (the writes that arrived while it waited for the lock join the batch: with several servers contending for
//!    the row, each one's batches grow instead of shrinking), and the new value is written before it commits.

use super::{Result, Store};
use sqlx::{Database, PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::ops::{Deref, DerefMut};

/// Reserves `n` change sequence values and returns the last; the others are the `n - 1` before it.
const RESERVE_SEQ: &str = "UPDATE change_seq SET value = value + $1 WHERE id = 1 RETURNING value";
/// Writes the last value a claiming transaction took (it holds the row's lock since it read it).
const SET_SEQ: &str = "UPDATE change_seq SET value = $1 WHERE id = 1";

/// `SET_SEQ` as part of a caller's own statement (a data-modifying WITH on PostgreSQL), with the value in
/// parameter `$n` and nothing written when it is NULL: `WriteTx::seq_to_write` gives the value.
macro_rules! set_claimed_seq {
    ($n:literal) => {
        concat!("UPDATE change_seq SET value = $", $n, "::bigint WHERE id = 1 AND $", $n, "::bigint IS NOT NULL")
    };
}
pub(crate) use set_claimed_seq;

/// A write transaction begun by `Store::write`. Statements run on `&mut *tx`; `commit` ends it and gives the
/// writer turn to the next write. Dropped without a commit, it rolls back (and also gives the turn back).
pub(crate) struct WriteTx<DB: Database> {
    // Declared before the turn: dropped first, so a rollback is queued before the next writer may begin.
    tx: Transaction<'static, DB>,
    /// The last change sequence value reserved at the start (0 when none was asked for); for a claiming
    /// transaction, the row's value when it locked it, then the last value claimed.
    last_seq: i64,
    /// A claiming transaction's last value while the row does not hold it yet (written at the latest by `commit`).
    unwritten_seq: Option<i64>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: Database> WriteTx<DB> {
    /// The change sequence value reserved for a transaction that asked for one; with several, the last.
    pub(crate) fn seq(&self) -> i64 {
        self.last_seq
    }

    /// For a transaction begun by `Store::write_claiming`: takes the next `n` change sequence values and
    /// answers the last. The row holds them once `seq_written` is called or the transaction commits.
    pub(crate) fn claim(&mut self, n: i64) -> i64 {
        self.last_seq += n;
        self.unwritten_seq = Some(self.last_seq);
        self.last_seq
    }

    /// The value a statement of the caller's own must write to the row before commit (`None`: nothing to
    /// write); taking it leaves `commit` nothing to do for it.
    pub(crate) fn seq_to_write(&mut self) -> Option<i64> {
        self.unwritten_seq.take()
    }
}

impl<DB: Database> WriteTx<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as Database>::Arguments: sqlx::IntoArguments<DB>,
{
    pub(crate) async fn commit(mut self) -> std::result::Result<(), sqlx::Error> {
        if let Some(last) = self.unwritten_seq.take() {
            sqlx::query::<DB>(SET_SEQ).bind(last).execute(&mut *self.tx).await?;
        }
        let WriteTx { tx, _turn, .. } = self;
        tx.commit().await
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// The pools a write can begin on, each with its dialect's BEGIN (see the module comment, rule 2).
pub(crate) trait WritePool: Sync {
    type DB: Database;

    fn begin_write(
        &self,
        reserve: i64,
    ) -> impl std::future::Future<Output = std::result::Result<(Transaction<'static, Self::DB>, i64), sqlx::Error>> + Send;

    /// BEGIN, then lock the change sequence row and read its value.
    fn begin_claiming(
        &self,
    ) -> impl std::future::Future<Output = std::result::Result<(Transaction<'static, Self::DB>, i64), sqlx::Error>> + Send;
}

/// The same body for both pools: BEGIN with `$begin`, then reserve when asked (rule 3); a claiming transaction
/// reads the row with `$lock` (SQLite's BEGIN IMMEDIATE already excludes every other writer).
macro_rules! write_pool {
    ($pool:ty, $db:ty, $lock:expr, $p:ident => $begin:expr) => {
        impl WritePool for $pool {
            type DB = $db;

            async fn begin_write(
                &self,
                reserve: i64,
            ) -> std::result::Result<(Transaction<'static, $db>, i64), sqlx::Error> {
                let $p = self;
                let mut tx = $begin.await?;
                let last = if reserve > 0 {
                    sqlx::query_scalar::<_, i64>(RESERVE_SEQ).bind(reserve).fetch_one(&mut *tx).await?
                } else {
                    0
                };
                Ok((tx, last))
            }

            async fn begin_claiming(&self) -> std::result::Result<(Transaction<'static, $db>, i64), sqlx::Error> {
                let $p = self;
                let mut tx = $begin.await?;
                let value = sqlx::query_scalar::<_, i64>($lock).fetch_one(&mut *tx).await?;
                Ok((tx, value))
            }
        }
    };
}

write_pool!(SqlitePool, Sqlite, "SELECT value FROM change_seq WHERE id = 1", p => p.begin_with("BEGIN IMMEDIATE"));
write_pool!(PgPool, Postgres, "SELECT value FROM change_seq WHERE id = 1 FOR UPDATE", p => p.begin());

impl Store {
    /// Begins a write transaction on `p` (the pool `on_pool!` hands out): the writer turn, BEGIN, and, when
    /// `reserve` is above 0, that many change sequence values (`WriteTx::seq` is the last).
    pub(crate) async fn write<P: WritePool>(&self, p: &P, reserve: i64) -> Result<WriteTx<P::DB>> {
        let turn = match &self.writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        };
        let (tx, last_seq) = p.begin_write(reserve).await?;
        Ok(WriteTx { tx, last_seq, unwritten_seq: None, _turn: turn })
    }

    /// Begins a write transaction on `p` that holds the change sequence row from its first statement and takes
    /// its values later, with `WriteTx::claim` (rule 3).
    pub(crate) async fn write_claiming<P: WritePool>(&self, p: &P) -> Result<WriteTx<P::DB>> {
        let turn = match &self.writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        };
        let (tx, value) = p.begin_claiming().await?;
        Ok(WriteTx { tx, last_seq: value, unwritten_seq: None, _turn: turn })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Pool, SqliteSync, Store};
    use std::time::Duration;

    async fn sqlite_store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("labelbook-write-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open_sqlite(&dir.join("labelbook.db"), SqliteSync::Normal).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    /// Rule 2: what a write transaction read is still true when it writes. A single-statement write from another
    /// connection (it takes no turn) lands between the read and the write; with a deferred BEGIN, SQLite refuses
    /// the transaction's write at once ("database is locked", SQLITE_BUSY_SNAPSHOT), whatever the busy timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_stays_true_until_the_write_on_sqlite() {
        let (store, dir) = sqlite_store().await;
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        let mut tx = store.write(p, 0).await.unwrap();
        let before: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'probe'").fetch_optional(&mut *tx).await.unwrap();
        assert_eq!(before, None);
        let other = {
            let p = p.clone();
            tokio::spawn(async move {
                sqlx::query("INSERT INTO meta (key, value) VALUES ('other', 'x')").execute(&p).await.map(|_| ())
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("INSERT INTO meta (key, value) VALUES ('probe', 'mine')").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        other.await.unwrap().unwrap();
        assert_eq!(store.meta("probe").await.unwrap().as_deref(), Some("mine"));
        assert_eq!(store.meta("other").await.unwrap().as_deref(), Some("x"));
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Rule 3: concurrent writes get disjoint, consecutive ranges, committed in the order they were reserved.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reserved_change_numbers_are_disjoint_and_in_commit_order() {
        let (store, dir) = sqlite_store().await;
        let start = store.current_seq().await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let Pool::Sqlite(p) = &store.pool else { unreachable!() };
                let mut tx = store.write(p, 3).await.unwrap();
                let last = tx.seq();
                tokio::time::sleep(Duration::from_millis(5)).await;
                // How many transactions committed before this one, as this one sees it.
                sqlx::query(
                    "INSERT INTO meta (key, value) SELECT $1, CAST(COUNT(*) AS TEXT) FROM meta WHERE key LIKE 'seq-%'",
                )
                .bind(format!("seq-{last}"))
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for i in 1..=8 {
            let before = store.meta(&format!("seq-{}", start + 3 * i)).await.unwrap();
            assert_eq!(
                before,
                Some((i - 1).to_string()),
                "the write that reserved up to {} committed in turn",
                start + 3 * i
            );
        }
        assert_eq!(store.current_seq().await.unwrap(), start + 24);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Rule 3, claiming: the values a claiming transaction takes follow the row's value it locked, the row holds
    /// the last once it commits, and a transaction that never commits gives its values back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claimed_change_numbers_follow_the_row_and_reach_it_at_commit() {
        let (store, dir) = sqlite_store().await;
        let start = store.current_seq().await.unwrap();
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        let mut tx = store.write_claiming(p).await.unwrap();
        assert_eq!(tx.claim(2), start + 2);
        assert_eq!(tx.claim(3), start + 5);
        drop(tx);
        assert_eq!(store.current_seq().await.unwrap(), start, "nothing committed, nothing taken");
        let mut tx = store.write_claiming(p).await.unwrap();
        assert_eq!(tx.claim(4), start + 4);
        tx.commit().await.unwrap();
        assert_eq!(store.current_seq().await.unwrap(), start + 4);
        let tx = store.write(p, 1).await.unwrap();
        assert_eq!(tx.seq(), start + 5, "the next write reserves after the claimed values");
        tx.commit().await.unwrap();
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
