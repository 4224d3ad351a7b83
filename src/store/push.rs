//! WebDAV-Push registrations: who asked to be told of changes to which collection, where to send it, and how the
//! last attempts went.

use super::{Result, Store, StoreError, on_pool};
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRegistration {
    pub id: String,
    pub user_id: i64,
    /// The app password it was made with: revoking that password ends it.
    pub app_password_id: Option<i64>,
    /// The collection under the user's home: `""` for the home, else a book's path segment.
    pub collection: String,
    pub push_resource: String,
    pub p256dh: String,
    pub auth: String,
    pub content_update: bool,
    pub property_update: bool,
    pub expires_at: i64,
    pub created_at: i64,
    pub last_push_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

type Row = (
    String,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    bool,
    bool,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const COLUMNS: &str = "r.id, r.user_id, r.app_password_id, r.collection, r.push_resource, r.p256dh, r.auth, \
     r.content_update, r.property_update, r.expires_at, r.created_at, r.last_push_at, r.last_error, r.last_error_at";

fn registration(r: Row) -> PushRegistration {
    PushRegistration {
        id: r.0,
        user_id: r.1,
        app_password_id: r.2,
        collection: r.3,
        push_resource: r.4,
        p256dh: r.5,
        auth: r.6,
        content_update: r.7,
        property_update: r.8,
        expires_at: r.9,
        created_at: r.10,
        last_push_at: r.11,
        last_error: r.12,
        last_error_at: r.13,
    }
}

/// Why a registration was not stored.
#[derive(Debug)]
pub enum RegisterError {
    /// The user already holds this many live registrations.
    TooMany(usize),
    Store(StoreError),
}

impl From<sqlx::Error> for RegisterError {
    fn from(e: sqlx::Error) -> Self {
        RegisterError::Store(e.into())
    }
}

/// Which registrations a change concerns: those on any of `collections` (label books, whoever holds them), and
/// those of `users` on any of `own` (their My contacts, combined book or home).
pub struct Concerned<'a> {
    pub collections: &'a [String],
    pub users: &'a [i64],
    pub own: &'a [&'a str],
}

impl Store {
    /// Stores `reg`, or updates the registration of the same push resource on the same collection (the draft's
    /// "subscription updates": its id, and so its URL, stay). Answers the stored registration and whether it is new.
    pub async fn register_push(
        &self,
        reg: &PushRegistration,
        max_per_user: usize,
    ) -> std::result::Result<(PushRegistration, bool), RegisterError> {
        let now = self.clock.now();
        let stored = on_pool!(self, p => {
            // The count and the insert in one write transaction: two devices registering at once stay within
            // the limit.
            let mut tx = self.write(p, 0).await.map_err(RegisterError::Store)?;
            // Counted up to the limit only: the cost of the check does not grow with what an account holds.
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM push_registrations WHERE user_id = $1 AND expires_at > $2 \
                 AND NOT (collection = $3 AND push_resource = $4) LIMIT $5) AS live")
                .bind(reg.user_id).bind(now).bind(&reg.collection).bind(&reg.push_resource)
                .bind(max_per_user.min(i64::MAX as usize) as i64)
                .fetch_one(&mut *tx).await?;
            if others as usize >= max_per_user {
                return Err(RegisterError::TooMany(max_per_user));
            }
            // An expired registration of the same resource is renewed in place: its URL may still be known.
            let id: String = sqlx::query_scalar(
                "INSERT INTO push_registrations (id, user_id, app_password_id, collection, push_resource, p256dh, auth, \
                 content_update, property_update, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (user_id, collection, push_resource) DO UPDATE SET app_password_id = excluded.app_password_id, \
                 p256dh = excluded.p256dh, auth = excluded.auth, content_update = excluded.content_update, \
                 property_update = excluded.property_update, expires_at = excluded.expires_at RETURNING id")
                .bind(&reg.id).bind(reg.user_id).bind(reg.app_password_id).bind(&reg.collection).bind(&reg.push_resource)
                .bind(&reg.p256dh).bind(&reg.auth).bind(reg.content_update).bind(reg.property_update)
                .bind(reg.expires_at).bind(now)
                .fetch_one(&mut *tx).await?;
            let row: Row = sqlx::query_as(AssertSqlSafe(format!("SELECT {COLUMNS} FROM push_registrations r WHERE r.id = $1")))
                .bind(&id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            row
        });
        let stored = registration(stored);
        let created = stored.id == reg.id;
        Ok((stored, created))
    }

    pub async fn push_registration(&self, id: &str) -> Result<Option<PushRegistration>> {
        let sql = format!("SELECT {COLUMNS} FROM push_registrations r WHERE r.id = $1");
        let row: Option<Row> =
            on_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        Ok(row.map(registration))
    }

    /// Every registration of `user_id`, live or expired, newest first.
    pub async fn push_registrations_of(&self, user_id: i64) -> Result<Vec<PushRegistration>> {
        let sql =
            format!("SELECT {COLUMNS} FROM push_registrations r WHERE r.user_id = $1 ORDER BY r.created_at DESC, r.id");
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(user_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(registration).collect())
    }

    /// Removes registration `id` of `user_id`; false when there was none.
    pub async fn unregister_push(&self, id: &str, user_id: i64) -> Result<bool> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM push_registrations WHERE id = $1 AND user_id = $2")
            .bind(id).bind(user_id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Ends a registration the push service no longer knows (RFC 8030 §7.3: 404 or 410).
    pub async fn end_push_registration(&self, id: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM push_registrations WHERE id = $1").bind(id).execute(p).await?.rows_affected());
        Ok(())
    }

    /// The live registrations of enabled users that `which` concerns.
    pub async fn push_registrations_concerned(&self, which: &Concerned<'_>) -> Result<Vec<PushRegistration>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for chunk in which.collections.chunks(500) {
            let list: Vec<String> = (0..chunk.len()).map(|k| format!("${}", k + 2)).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM push_registrations r JOIN users u ON u.id = r.user_id \
                 WHERE r.expires_at > $1 AND NOT u.disabled AND r.collection IN ({})",
                list.join(", ")
            );
            let rows: Vec<Row> = on_pool!(self, p => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(now);
                for c in chunk {
                    q = q.bind(c);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows.into_iter().map(registration));
        }
        if which.own.is_empty() {
            return Ok(out);
        }
        for chunk in which.users.chunks(500) {
            let own: Vec<String> = (0..which.own.len()).map(|k| format!("${}", k + 2)).collect();
            let users: Vec<String> = (0..chunk.len()).map(|k| format!("${}", k + 2 + which.own.len())).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM push_registrations r JOIN users u ON u.id = r.user_id \
                 WHERE r.expires_at > $1 AND NOT u.disabled AND r.collection IN ({}) AND r.user_id IN ({})",
                own.join(", "),
                users.join(", ")
            );
            let rows: Vec<Row> = on_pool!(self, p => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(now);
                for c in which.own {
                    q = q.bind(*c);
                }
                for u in chunk {
                    q = q.bind(*u);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows.into_iter().map(registration));
        }
        Ok(out)
    }

    /// Records that the push service took a message for each of `ids` (and clears failures they had).
    pub async fn push_delivered(&self, ids: &[String]) -> Result<()> {
        let now = self.clock.now();
        for chunk in ids.chunks(500) {
            let list: Vec<String> = (0..chunk.len()).map(|k| format!("${}", k + 2)).collect();
            let sql = format!(
                "UPDATE push_registrations SET last_push_at = $1, last_error = NULL, last_error_at = NULL WHERE id IN ({})",
                list.join(", ")
            );
            on_pool!(self, p => {
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(p).await?.rows_affected()
            });
        }
        Ok(())
    }

    /// Every live registration of an enabled user.
    pub async fn push_registrations_live(&self) -> Result<Vec<PushRegistration>> {
        let now = self.clock.now();
        let sql = format!(
            "SELECT {COLUMNS} FROM push_registrations r JOIN users u ON u.id = r.user_id WHERE r.expires_at > $1 AND NOT u.disabled"
        );
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(now).fetch_all(p).await?);
        Ok(rows.into_iter().map(registration).collect())
    }

    /// The users holding live registrations.
    pub async fn push_users(&self) -> Result<Vec<i64>> {
        let now = self.clock.now();
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "SELECT DISTINCT user_id FROM push_registrations WHERE expires_at > $1").bind(now).fetch_all(p).await?))
    }

    /// The address of the first administrator, the VAPID contact when none is configured.
    pub async fn first_admin_email(&self) -> Result<Option<String>> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, String>(
            "SELECT email FROM users WHERE is_admin AND NOT disabled ORDER BY id LIMIT 1").fetch_optional(p).await?))
    }

    /// Records why a message could not be delivered, for the Devices page.
    pub async fn push_failed(&self, id: &str, why: &str) -> Result<()> {
        let now = self.clock.now();
        on_pool!(self, p => sqlx::query("UPDATE push_registrations SET last_error = $1, last_error_at = $2 WHERE id = $3")
            .bind(why).bind(now).bind(id).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Drops registrations that expired more than `grace_secs` ago (kept a while so the Devices page can say
    /// a device stopped renewing).
    pub async fn purge_expired_push(&self, grace_secs: i64) -> Result<u64> {
        let before = self.clock.now() - grace_secs;
        Ok(on_pool!(self, p => sqlx::query("DELETE FROM push_registrations WHERE expires_at < $1")
            .bind(before).execute(p).await?.rows_affected()))
    }
}
