//! Storage: one `Store` over SQLite (embedded default) or PostgreSQL (scale-out).
//!
//! Every query is written once in the SQL both dialects accept (`$N` placeholders, `RETURNING`, partial indexes)
//! and the `on_pool!` macro expands each method body once per backend, so the two can only differ where a
//! dialect forces it (the migrations). The store knows nothing of HTTP or permissions.

mod batch_sql;
mod cards;
pub mod combined;
mod directory;
pub mod events;
pub mod google;
mod grants;
mod history;
mod invite_links;
mod jobs;
mod mail;
mod merge;
mod migrate;
mod model;
mod outside;
pub mod push;
mod recall;
mod search;
mod sessions;
mod stats;
mod transfer;
mod trash;
mod write;

pub use cards::{CardWrite, CardWritten, Precondition, PutOutcome, WriteError};
pub use directory::{Domain, Group};
pub use grants::{Grant, GrantChange, NewGrant, domain_of};
pub use history::{Activity, ContactPlace, HistoryEntry};
pub use invite_links::InviteLink;
pub use jobs::{ImportJob, JobCounts};
pub use mail::{MailStatus, MailedLink, NewMail, QueuedMail};
pub use merge::{Candidate, MergeRecord, MergeWrite};
pub use model::*;
pub use search::{ContactOrder, PageCursor};
pub use sessions::{ApiToken, NewSession, Session};
pub use trash::{RemovedMembership, TrashedContact};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds; the body is type-checked once per backend.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The accounts a viewer may find, as SQL over `users` with $1 = everyone, $2 = the viewer's domain as a LIKE
/// pattern, $3 = the viewer's e-mail, $4 = the viewer's id: everyone, or (`UserScope::Near`) the viewer's own
/// domain and anyone a label is shared between them and the viewer, either way.
macro_rules! within_scope {
    () => {
        "($1 OR LOWER(email) LIKE $2 ESCAPE '\\'
           OR id IN (SELECT l.owner_id FROM grants g JOIN labels l ON l.id = g.label_id
                     WHERE g.grantee_kind = 'user' AND g.grantee = $3 AND g.status IN ('pending', 'accepted'))
           OR email IN (SELECT g.grantee FROM grants g JOIN labels l ON l.id = g.label_id
                        WHERE g.grantee_kind = 'user' AND l.owner_id = $4 AND g.status IN ('pending', 'accepted')))"
    };
}

#[derive(Debug)]
pub enum StoreError {
    Db(sqlx::Error),
    Conflict(String),
    NotFound,
    /// The row changed since the version the write was decided on.
    Stale,
    /// The database could not complete the work (a failed batch, a store shutting down).
    Unavailable(String),
    /// The database has no room left to store the change (SQLITE_FULL, PostgreSQL's disk_full); nothing of the
    /// failed transaction was kept.
    Full(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Conflict(m) => write!(f, "{m}"),
            StoreError::NotFound => write!(f, "not found"),
            StoreError::Stale => write!(f, "changed meanwhile"),
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::Full(m) => write!(f, "no room left to store the change: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// Whether the same request may succeed if tried again: the database unreachable, overloaded, shutting down
    /// or busy, or a transaction that lost a race. Clients are told 503 "try again" only for these; any other
    /// failure is a fault (a query the schema refuses, a value that cannot be decoded) and an internal error,
    /// since trying again would fail the same way.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Db(e) => is_transient_db(e),
            StoreError::Conflict(_) | StoreError::NotFound | StoreError::Stale | StoreError::Full(_) => false,
        }
    }

    /// The same failure told to another write that shared its transaction (a group commit's other writes).
    pub(crate) fn for_another(&self) -> StoreError {
        match self {
            StoreError::Full(m) => StoreError::Full(m.clone()),
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Stale => StoreError::Stale,
            StoreError::Db(_) | StoreError::Unavailable(_) => StoreError::Unavailable(self.to_string()),
        }
    }
}

/// Whether a database error says the disk (or the database's size limit) is full: SQLite's primary result code
/// SQLITE_FULL (13; sqlx reports the extended code, whose low byte is the primary one), or PostgreSQL's SQLSTATE
/// 53100 disk_full.
fn is_disk_full(db: &dyn sqlx::error::DatabaseError) -> bool {
    match db.code() {
        Some(code) if code == "53100" => true,
        Some(code) => {
            db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                && code.parse::<i32>().is_ok_and(|c| c & 0xff == 13)
        }
        None => false,
    }
}

/// See `StoreError::is_transient`. SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_NOMEM (7), SQLITE_IOERR (10),
/// SQLITE_CANTOPEN (14) by their primary code. PostgreSQL (Appendix A, "PostgreSQL Error Codes"): class 08
/// connection exception, 40001 serialization_failure, 40P01 deadlock_detected, 53200 out_of_memory, 53300
/// too_many_connections, 55P03 lock_not_available, class 57 operator intervention (57014 query_canceled by a
/// statement timeout, 57P01-57P05 shutdowns and idle timeouts).
fn is_transient_db(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
                code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 10 | 14))
            }
            Some(code) => {
                code.starts_with("08")
                    || code.starts_with("57")
                    || matches!(code.as_ref(), "40001" | "40P01" | "53200" | "53300" | "55P03")
            }
            None => false,
        },
        _ => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_string());
            }
            if is_disk_full(db.as_ref()) {
                return StoreError::Full(db.message().to_string());
            }
        }
        StoreError::Db(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// The writer turn every write transaction holds from before it begins to its end (`Store::write`, the only
    /// way to begin one). Most also take the change_seq row first, so writes are serialised anyway; queueing them
    /// here keeps SQLite off its busy-wait backoff (which under contention sleeps for whole seconds) and
    /// PostgreSQL backends from piling up on one hot row (16 writers: 387/s without, 664/s with).
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The wall clock every stored time and expiry is read from (tests move it forward).
    pub clock: crate::clock::Clock,
    /// Card writes go to one task that commits them in groups (see `cards::spawn_writer`).
    batcher: Option<tokio::sync::mpsc::Sender<cards::Job>>,
    bus: events::Bus,
    /// How many cards this server wrote towards the next refresh of PostgreSQL's statistics.
    freshness: Arc<stats::Freshness>,
    /// Book states as last read, for polls (see recall.rs).
    recall: Arc<recall::Recall>,
    /// On SQLite, where other processes announce their changes (see outside.rs).
    outside: Option<Arc<outside::OutsideWrites>>,
}

unsafe extern "C" {
    /// SQLite's own answer to "is this connection inside a transaction" (0: yes); part of the SQLite library
    /// sqlx links.
    fn sqlite3_get_autocommit(db: *mut std::ffi::c_void) -> std::ffi::c_int;
}

/// Whether SQLite itself holds the connection inside a transaction. After SQLITE_FULL, SQLITE_IOERR or
/// SQLITE_NOMEM SQLite may roll a transaction back by itself (sqlite.org/lang_transaction.html, "Response To
/// Errors Within A Transaction"); sqlx's ROLLBACK then fails and its count of open transactions stays at one,
/// so the connection's next BEGIN would become a SAVEPOINT inside a transaction that never commits, and every
/// write on it would be acknowledged and lost. The pool therefore takes a connection back only when neither
/// sqlx nor SQLite thinks it is inside a transaction, and closes it otherwise (which rolls back what is open).
async fn sqlite_in_transaction(conn: &mut sqlx::SqliteConnection) -> std::result::Result<bool, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr().cast::<std::ffi::c_void>();
    // SAFETY: the handle is locked out of sqlx's worker for this call, and the pointer is its open `sqlite3`.
    Ok(unsafe { sqlite3_get_autocommit(db) } == 0)
}

/// How hard SQLite flushes. `Normal` in WAL mode survives a killed process (the WAL is in the OS page cache);
/// `Full` also survives power loss at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Normal,
    Full,
}

impl Store {
    /// Opens (creating if needed) `dir/labelbook.db` in WAL mode with foreign keys on.
    pub async fn open_sqlite(path: &Path, sync: SqliteSync) -> Result<Store> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SqliteSync::Normal => SqliteSynchronous::Normal,
                SqliteSync::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // 2 MB of page cache per connection: memory stays small at 100k contacts (the OS caches the file).
            .pragma("cache_size", "-2000");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_release(|conn, _| {
                Box::pin(async move {
                    // The ping is answered after any rollback a dropped transaction queued, so what is read
                    // next is the connection's final state.
                    sqlx::Connection::ping(&mut *conn).await?;
                    let real = sqlite_in_transaction(conn).await?;
                    Ok(!sqlx::Connection::is_in_transaction(conn) && !real)
                })
            })
            // An embedded file cannot drop a connection: no ping on every checkout.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        let outside = Some(Arc::new(outside::OutsideWrites::beside(path)));
        Ok(Store { outside, ..Store::with_writer(Pool::Sqlite(pool)) })
    }

    pub async fn open_postgres(url: &str) -> Result<Store> {
        let opts = PgConnectOptions::from_str(url)?;
        // A ping is a round trip to another process: paid on every checkout and every return, it doubled what
        // a one-statement read cost. A connection used in the last second is taken as it is (if the database
        // went away since, that one use fails as unavailable, 503 "try again"); one idle longer is pinged first.
        // One returned inside a transaction (sqlx's own count: a dropped `Transaction` has queued its
        // ROLLBACK, sent before the connection's next statement) is closed rather than reused.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= Duration::from_secs(1) {
                        sqlx::Connection::ping(&mut *conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_release(|conn, _| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) }))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        Ok(Store::with_writer(Pool::Postgres(pool)))
    }

    fn with_writer(pool: Pool) -> Store {
        let inner = Store {
            pool,
            writer: Some(Arc::new(tokio::sync::Mutex::new(()))),
            batcher: None,
            bus: events::Bus::new(),
            clock: Default::default(),
            freshness: Default::default(),
            recall: Default::default(),
            outside: None,
        };
        let recall = inner.recall.clone();
        inner.bus.observe(Arc::new(move |e| recall.forget(e)));
        let batcher = Some(cards::spawn_writer(inner.clone()));
        Store { batcher, ..inner }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// The newest change sequence value handed out; a sync token above it was never issued.
    pub async fn current_seq(&self) -> Result<i64> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar::<_, i64>("SELECT value FROM change_seq WHERE id = 1").fetch_one(p).await?),
        )
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(p).await?),
        )
    }

    /// Sets `key` only if it is unset and returns the value that holds afterwards (several processes may race).
    pub async fn meta_init(&self, key: &str, value: &str) -> Result<String> {
        on_pool!(self, p => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key).bind(value).execute(p).await?;
            Ok(sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1").bind(key).fetch_one(p).await?)
        })
    }

    // ---- users -------------------------------------------------------------------------------------------

    pub async fn count_users(&self) -> Result<i64> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(p).await?))
    }

    pub async fn create_user(&self, email: &str, password_hash: &str, is_admin: bool) -> Result<User> {
        let now = self.clock.now();
        let id = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(email).bind(password_hash).bind(is_admin).bind(now).fetch_one(p).await?);
        self.publish(vec![events::Event::Account { user_id: id }]).await;
        self.user_by_id(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1"))
            .bind(email).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    /// A user as stored now, with the current hash of one of their app passwords (`None` when it is gone): what
    /// a cached login is checked against, in one query.
    pub async fn credential_state(
        &self,
        user_id: i64,
        app_password_id: Option<i64>,
    ) -> Result<Option<(User, Option<String>)>> {
        type Row = (i64, String, String, String, bool, bool, String, String, i64, i64, Option<String>);
        let row = on_pool!(self, p => sqlx::query_as::<_, Row>(concat!("SELECT ", user_cols!(),
            ", (SELECT password_hash FROM app_passwords a WHERE a.id = $2 AND a.user_id = users.id) FROM users WHERE id = $1"))
            .bind(user_id).bind(app_password_id.unwrap_or(-1)).fetch_optional(p).await?);
        Ok(row.map(|r| (User::from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9)), r.10)))
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_cols!(), " FROM users ORDER BY email"))
            .fetch_all(p).await?);
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// Users whose e-mail or display name contains `needle` (case-insensitive), among those `within` allows.
    pub async fn search_users(&self, needle: &str, limit: i64, within: &UserScope) -> Result<Vec<User>> {
        let pattern = format!("%{}%", escape_like(&needle.to_lowercase()));
        let (everyone, domain, viewer_email, viewer_id) = scope_binds(within);
        let rows = on_pool!(self, p => sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_cols!(),
            " FROM users WHERE NOT disabled AND (LOWER(email) LIKE $5 ESCAPE '\\' OR LOWER(display_name) LIKE $5 ESCAPE '\\')
              AND ", within_scope!(), " ORDER BY email LIMIT $6"))
            .bind(everyone).bind(&domain).bind(&viewer_email).bind(viewer_id).bind(&pattern).bind(limit).fetch_all(p).await?);
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// The enabled account with this e-mail address, if `within` allows the viewer to find it.
    pub async fn find_user_within(&self, email: &str, within: &UserScope) -> Result<Option<User>> {
        let (everyone, domain, viewer_email, viewer_id) = scope_binds(within);
        let row = on_pool!(self, p => sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_cols!(),
            " FROM users WHERE NOT disabled AND email = $5 AND ", within_scope!()))
            .bind(everyone).bind(&domain).bind(&viewer_email).bind(viewer_id).bind(email).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    /// A new password, and in the same transaction the end of every dashboard session of the account and, with
    /// `revoke_devices`, of its app passwords and API tokens. Every server checks these rows on each request, so
    /// the change holds on all of them at once.
    pub async fn set_password(&self, user_id: i64, password_hash: &str, revoke_devices: bool) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            if revoke_devices {
                sqlx::query("DELETE FROM app_passwords WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM api_tokens WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        self.publish(vec![events::Event::Account { user_id }]).await;
        Ok(())
    }

    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<()> {
        let n = on_pool!(self, p => sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(disabled).bind(user_id).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.publish(vec![events::Event::Account { user_id }]).await;
        Ok(())
    }

    // ---- app passwords -----------------------------------------------------------------------------------

    /// `lookup`: the secret's public first group, which picks this hash out at sign-in.
    pub async fn create_app_password(
        &self,
        user_id: i64,
        name: &str,
        hash: &str,
        layout: &str,
        lookup: &str,
    ) -> Result<AppPassword> {
        let now = self.clock.now();
        let id = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO app_passwords (user_id, name, password_hash, layout, created_at, lookup) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(user_id).bind(name).bind(hash).bind(layout).bind(now).bind(lookup).fetch_one(p).await?);
        self.publish(vec![events::Event::Account { user_id }]).await;
        Ok(AppPassword {
            id,
            user_id,
            name: name.into(),
            password_hash: hash.into(),
            layout: layout.into(),
            created_at: now,
            last_used_at: None,
        })
    }

    /// The app passwords a sign-in with a secret starting `lookup` may be: the one with that lookup, and those
    /// made before lookups existed. `None` (a secret not shaped like an app password): only the latter.
    pub async fn app_passwords_for(&self, user_id: i64, lookup: Option<&str>) -> Result<Vec<AppPassword>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, AppPasswordRow>(
            "SELECT id, user_id, name, password_hash, layout, created_at, last_used_at FROM app_passwords WHERE user_id = $1 AND (lookup IS NULL OR lookup = $2)")
            .bind(user_id).bind(lookup.unwrap_or("")).fetch_all(p).await?);
        Ok(rows.into_iter().map(app_password).collect())
    }

    /// Gives an app password made before lookups its lookup, once its secret is known to be right.
    pub async fn set_app_password_lookup(&self, id: i64, lookup: &str) -> Result<()> {
        on_pool!(self, p => {
            sqlx::query("UPDATE app_passwords SET lookup = $1 WHERE id = $2 AND lookup IS NULL")
                .bind(lookup).bind(id).execute(p).await?;
        });
        Ok(())
    }

    pub async fn app_passwords(&self, user_id: i64) -> Result<Vec<AppPassword>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, AppPasswordRow>(
            "SELECT id, user_id, name, password_hash, layout, created_at, last_used_at FROM app_passwords WHERE user_id = $1 ORDER BY name")
            .bind(user_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(app_password).collect())
    }

    pub async fn revoke_app_password(&self, user_id: i64, name: &str) -> Result<()> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM app_passwords WHERE user_id = $1 AND name = $2")
            .bind(user_id).bind(name).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.publish(vec![events::Event::Account { user_id }]).await;
        Ok(())
    }

    pub async fn touch_app_password(&self, id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE app_passwords SET last_used_at = $1 WHERE id = $2")
            .bind(self.clock.now()).bind(id).execute(p).await.map(|_| ())?);
        Ok(())
    }

    // ---- labels ------------------------------------------------------------------------------------------

    /// Creates a label; `id` is the client's choice (a UUID, from MKCOL) or a fresh one.
    pub async fn create_label(&self, owner_id: i64, id: Option<&str>, name: &str, description: &str) -> Result<Label> {
        let id = id.map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            sqlx::query("INSERT INTO labels (id, owner_id, name, description, created_at, modseq) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&id).bind(owner_id).bind(name).bind(description).bind(now).bind(seq).execute(&mut *tx).await?;
            let events = vec![events::Event::Label { label_id: id.clone(), owner_id }];
            events::commit_publishing!(self, tx, events);
            Ok(Label { id, owner_id, name: name.into(), description: description.into(), created_at: now, modseq: seq })
        })
    }

    pub async fn label(&self, id: &str) -> Result<Option<Label>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, LabelRow>(concat!("SELECT ", label_cols!(), " FROM labels WHERE id = $1"))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(Label::from))
    }

    pub async fn labels_owned(&self, owner_id: i64) -> Result<Vec<Label>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, LabelRow>(concat!("SELECT ", label_cols!(), " FROM labels WHERE owner_id = $1 ORDER BY name, id"))
            .bind(owner_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(Label::from).collect())
    }

    /// Changes a label's name and/or description; both advance its sync-token (clients refresh the displayname).
    pub async fn update_label(&self, id: &str, name: Option<&str>, description: Option<&str>) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let owner: Option<i64> = sqlx::query_scalar("UPDATE labels SET name = COALESCE($1, name), description = COALESCE($2, description), modseq = $3 WHERE id = $4 RETURNING owner_id")
                .bind(name).bind(description).bind(seq).bind(id).fetch_optional(&mut *tx).await?;
            let owner_id = owner.ok_or(StoreError::NotFound)?;
            let events = vec![events::Event::Label { label_id: id.to_string(), owner_id }];
            events::commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// Deletes a label and its memberships; the contacts stay in their owners' My contacts.
    pub async fn delete_label(&self, id: &str) -> Result<()> {
        let key = format!("label:{id}");
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            sqlx::query("DELETE FROM dead_props WHERE collection = $1").bind(&key).execute(&mut *tx).await?;
            let owner: Option<i64> = sqlx::query_scalar("DELETE FROM labels WHERE id = $1 RETURNING owner_id").bind(id).fetch_optional(&mut *tx).await?;
            let owner_id = owner.ok_or(StoreError::NotFound)?;
            let events = vec![events::Event::Label { label_id: id.to_string(), owner_id }];
            events::commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// My contacts' own properties (displayname, description).
    pub async fn update_book(&self, owner_id: i64, name: Option<&str>, description: Option<&str>) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            sqlx::query("UPDATE users SET book_name = COALESCE($1, book_name), book_description = COALESCE($2, book_description), book_modseq = $3 WHERE id = $4")
                .bind(name).bind(description).bind(seq).bind(owner_id).execute(&mut *tx).await?;
            let events = vec![events::Event::Book { owner_id }];
            events::commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    // ---- dead properties ---------------------------------------------------------------------------------

    pub async fn dead_props(&self, collection: &str) -> Result<Vec<DeadProp>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, (String, String, String)>(
            "SELECT ns, name, xml FROM dead_props WHERE collection = $1 ORDER BY ns, name")
            .bind(collection).fetch_all(p).await?);
        Ok(rows.into_iter().map(|(ns, name, xml)| DeadProp { ns, name, xml }).collect())
    }

    /// Applies a PROPPATCH's dead-property sets (`Some(xml)`) and removes (`None`) atomically (RFC 4918 §9.2).
    pub async fn patch_dead_props(&self, collection: &str, changes: &[(String, String, Option<String>)]) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            for (ns, name, xml) in changes {
                match xml {
                    Some(xml) => sqlx::query("INSERT INTO dead_props (collection, ns, name, xml) VALUES ($1, $2, $3, $4) ON CONFLICT (collection, ns, name) DO UPDATE SET xml = excluded.xml")
                        .bind(collection).bind(ns).bind(name).bind(xml).execute(&mut *tx).await?,
                    None => sqlx::query("DELETE FROM dead_props WHERE collection = $1 AND ns = $2 AND name = $3")
                        .bind(collection).bind(ns).bind(name).execute(&mut *tx).await?,
                };
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

/// The binds `within_scope!` reads ($1 to $4).
fn scope_binds(within: &UserScope) -> (bool, String, String, i64) {
    match within {
        UserScope::Everyone => (true, String::new(), String::new(), 0),
        UserScope::Near { viewer_id, viewer_email } => {
            (false, format!("%@{}", escape_like(domain_of(viewer_email))), viewer_email.clone(), *viewer_id)
        }
    }
}

/// `s` matched literally inside a LIKE pattern written with `ESCAPE '\'` (an address may hold `_`).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

type AppPasswordRow = (i64, i64, String, String, String, i64, Option<i64>);

fn app_password((id, user_id, name, password_hash, layout, created_at, last_used_at): AppPasswordRow) -> AppPassword {
    AppPassword { id, user_id, name, password_hash, layout, created_at, last_used_at }
}
