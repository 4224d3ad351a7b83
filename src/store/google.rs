//! What the Google bridge remembers per mirrored user: its state, the lease of the server working it, and the
//! groups and contacts it made in their Google Contacts.

use super::events::Event;
use super::{Result, Store, on_pool};
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleAccount {
    pub user_id: i64,
    pub email: String,
    pub my_contacts: bool,
    /// `pending` (never synced), `ok`, `permission_lost`, `paused` (too many deletes at once), `error`.
    pub status: String,
    pub last_error: Option<String>,
    pub push_cursor: String,
    pub pull_token: String,
    pub unsure: bool,
    pub pushed_at: Option<i64>,
    pub pulled_at: Option<i64>,
    pub wanted_at: i64,
    pub done_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    /// The user's own grant (a sealed refresh token), when they connected one.
    pub oauth_token: Option<String>,
}

/// A contact group the bridge made for a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLink {
    pub label_id: String,
    pub resource_name: String,
    pub name: String,
}

/// A Google contact the bridge made for one of our contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonLink {
    pub contact_id: i64,
    /// The contact's name in the user's combined book, to read it back.
    pub href: String,
    pub resource_name: String,
    pub etag: String,
    /// The mapped fields as both sides last agreed (JSON of a Person without its names and tags).
    pub sent: String,
}

type AccountRow = (
    i64,
    String,
    i64,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    i64,
    Option<String>,
);

const ACCOUNT_COLS: &str = "g.user_id, u.email, g.my_contacts, g.status, g.last_error, g.push_cursor, g.pull_token, g.unsure, \
     g.pushed_at, g.pulled_at, g.wanted_at, g.done_at, g.lease_owner, g.lease_until, g.oauth_token";

fn account_of(r: AccountRow) -> GoogleAccount {
    GoogleAccount {
        user_id: r.0,
        email: r.1,
        my_contacts: r.2 != 0,
        status: r.3,
        last_error: r.4,
        push_cursor: r.5,
        pull_token: r.6,
        unsure: r.7 != 0,
        pushed_at: r.8,
        pulled_at: r.9,
        wanted_at: r.10,
        done_at: r.11,
        lease_owner: r.12,
        lease_until: r.13,
        oauth_token: r.14,
    }
}

// Single statements here take no writer turn: each is its own transaction, which SQLite's busy timeout and
// PostgreSQL's row locks order against the turn's holder.
impl Store {
    /// Turns the bridge on for a user (or changes whether My contacts go too), and asks for a sync; a user
    /// already mirrored keeps what was mirrored, and one being removed is kept after all.
    pub async fn google_enable(&self, user_id: i64, my_contacts: bool) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO google_accounts (user_id, my_contacts, created_at, wanted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO UPDATE SET my_contacts = excluded.my_contacts, wanted_at = excluded.wanted_at,
               status = CASE WHEN google_accounts.status = 'removing' THEN 'pending' ELSE google_accounts.status END,
               push_cursor = CASE WHEN google_accounts.my_contacts = excluded.my_contacts THEN google_accounts.push_cursor ELSE '' END")
            .bind(user_id).bind(my_contacts as i64).bind(self.clock.now()).bind(self.clock.now_ms()).execute(p).await?.rows_affected());
        self.publish(vec![Event::Google { user_id }]).await;
        Ok(())
    }

    /// Mirrors a user through their own Google grant (`sealed`: their refresh token, sealed), and asks for a
    /// sync; a mirror whose permission was lost or that was being removed starts again.
    pub async fn google_connect_grant(&self, user_id: i64, sealed: &str, my_contacts: bool) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO google_accounts (user_id, my_contacts, created_at, wanted_at, oauth_token) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET my_contacts = excluded.my_contacts, wanted_at = excluded.wanted_at,
               oauth_token = excluded.oauth_token, status = 'pending', last_error = NULL,
               push_cursor = CASE WHEN google_accounts.my_contacts = excluded.my_contacts THEN google_accounts.push_cursor ELSE '' END")
            .bind(user_id).bind(my_contacts as i64).bind(self.clock.now()).bind(self.clock.now_ms()).bind(sealed).execute(p).await?.rows_affected());
        self.publish(vec![Event::Google { user_id }]).await;
        Ok(())
    }

    /// Remembers a connection under way for ten minutes (and forgets the ones that ran out).
    pub async fn google_oauth_begin(
        &self,
        state_hash: &str,
        user_id: i64,
        verifier: &str,
        my_contacts: bool,
        redirect_uri: &str,
    ) -> Result<()> {
        let t = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            sqlx::query("DELETE FROM google_oauth_states WHERE expires_at <= $1").bind(t).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO google_oauth_states (state_hash, user_id, verifier, my_contacts, redirect_uri, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(state_hash).bind(user_id).bind(verifier).bind(my_contacts as i64).bind(redirect_uri).bind(t + 600)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Takes a connection under way (once): its user, PKCE verifier, My-contacts choice and redirect URI.
    pub async fn google_oauth_take(&self, state_hash: &str) -> Result<Option<(i64, String, bool, String)>> {
        let row: Option<(i64, String, i64, String)> = on_pool!(self, p => sqlx::query_as(
            "DELETE FROM google_oauth_states WHERE state_hash = $1 AND expires_at > $2
             RETURNING user_id, verifier, my_contacts, redirect_uri")
            .bind(state_hash).bind(self.clock.now()).fetch_optional(p).await?);
        Ok(row.map(|r| (r.0, r.1, r.2 != 0, r.3)))
    }

    /// Asks for the bridge's removal from a user's Google (done by the worker, which then forgets them).
    pub async fn google_remove(&self, user_id: i64) -> Result<bool> {
        let n = {
            on_pool!(self, p => sqlx::query("UPDATE google_accounts SET status = 'removing', last_error = NULL, wanted_at = $1 WHERE user_id = $2")
                .bind(self.clock.now_ms()).bind(user_id).execute(p).await?.rows_affected())
        };
        self.publish(vec![Event::Google { user_id }]).await;
        Ok(n == 1)
    }

    /// Forgets a user's bridge and what it made (once that is removed from their Google, or given up).
    pub async fn google_forget(&self, user_id: i64) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            for table in ["google_people", "google_groups", "google_accounts"] {
                sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE user_id = $1"))).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        self.publish(vec![Event::Google { user_id }]).await;
        Ok(())
    }

    pub async fn google_account(&self, user_id: i64) -> Result<Option<GoogleAccount>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLS} FROM google_accounts g JOIN users u ON u.id = g.user_id WHERE g.user_id = $1"
        );
        let row: Option<AccountRow> =
            on_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql.clone())).bind(user_id).fetch_optional(p).await?);
        Ok(row.map(account_of))
    }

    pub async fn google_accounts(&self) -> Result<Vec<GoogleAccount>> {
        let sql =
            format!("SELECT {ACCOUNT_COLS} FROM google_accounts g JOIN users u ON u.id = g.user_id ORDER BY u.email");
        let rows: Vec<AccountRow> = on_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql.clone())).fetch_all(p).await?);
        Ok(rows.into_iter().map(account_of).collect())
    }

    /// Takes a user for `lease` seconds unless another worker holds them; true when taken (or renewed).
    pub async fn google_claim(&self, user_id: i64, owner: &str, lease: i64) -> Result<bool> {
        let t = self.clock.now();
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE google_accounts SET lease_owner = $1, lease_until = $2
             WHERE user_id = $3 AND (lease_until <= $4 OR lease_owner = $1)")
            .bind(owner).bind(t + lease).bind(user_id).bind(t).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    pub async fn google_release(&self, user_id: i64, owner: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE google_accounts SET lease_owner = NULL, lease_until = 0 WHERE user_id = $1 AND lease_owner = $2")
            .bind(user_id).bind(owner).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Asks for a sync of the user now (by whichever server holds them); returns the time asked, which
    /// `done_at` reaches once a sync that started after it has finished.
    pub async fn google_want_sync(&self, user_id: i64) -> Result<i64> {
        let t = self.clock.now_ms();
        on_pool!(self, p => sqlx::query("UPDATE google_accounts SET wanted_at = $1 WHERE user_id = $2")
            .bind(t).bind(user_id).execute(p).await?.rows_affected());
        self.publish(vec![Event::Google { user_id }]).await;
        Ok(t)
    }

    /// Records how a sync that started at `started` (milliseconds) ended.
    /// Records how a sync that started at `started` (milliseconds) ended. A user being removed meanwhile stays
    /// being removed.
    pub async fn google_synced(&self, user_id: i64, started: i64, status: &str, error: Option<&str>) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE google_accounts SET status = CASE WHEN status = 'removing' THEN status ELSE $1 END, last_error = $2,
               done_at = CASE WHEN done_at < $3 THEN $3 ELSE done_at END
             WHERE user_id = $4")
            .bind(status).bind(error).bind(started).bind(user_id).execute(p).await?.rows_affected());
        self.publish(vec![Event::Google { user_id }]).await;
        Ok(())
    }

    pub async fn google_set_unsure(&self, user_id: i64, unsure: bool) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE google_accounts SET unsure = $1 WHERE user_id = $2")
            .bind(unsure as i64).bind(user_id).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn google_pushed(&self, user_id: i64, cursor: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE google_accounts SET push_cursor = $1, pushed_at = $2 WHERE user_id = $3")
            .bind(cursor).bind(self.clock.now()).bind(user_id).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn google_pulled(&self, user_id: i64, token: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE google_accounts SET pull_token = $1, pulled_at = $2 WHERE user_id = $3")
            .bind(token).bind(self.clock.now()).bind(user_id).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn google_groups(&self, user_id: i64) -> Result<Vec<GroupLink>> {
        let rows: Vec<(String, String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT label_id, resource_name, name FROM google_groups WHERE user_id = $1 ORDER BY label_id")
            .bind(user_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(|r| GroupLink { label_id: r.0, resource_name: r.1, name: r.2 }).collect())
    }

    pub async fn google_link_group(&self, user_id: i64, link: &GroupLink) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO google_groups (user_id, label_id, resource_name, name) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, label_id) DO UPDATE SET resource_name = excluded.resource_name, name = excluded.name")
            .bind(user_id).bind(&link.label_id).bind(&link.resource_name).bind(&link.name).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn google_unlink_group(&self, user_id: i64, label_id: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM google_groups WHERE user_id = $1 AND label_id = $2")
            .bind(user_id).bind(label_id).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn google_people(&self, user_id: i64) -> Result<Vec<PersonLink>> {
        let rows: Vec<LinkRow> = on_pool!(self, p => sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {LINK_COLS} FROM google_people WHERE user_id = $1 ORDER BY contact_id")))
            .bind(user_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(link_of).collect())
    }

    /// The links of these contacts, and of the contacts linked under these hrefs (a card removed from a book is
    /// known by its name only): what a sync of a few changes needs, not every link of the user.
    pub async fn google_people_of(
        &self,
        user_id: i64,
        contact_ids: &[i64],
        hrefs: &[String],
    ) -> Result<Vec<PersonLink>> {
        let mut rows: Vec<LinkRow> = Vec::new();
        for chunk in contact_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {LINK_COLS} FROM google_people WHERE user_id = $1 AND contact_id IN ({})",
                marks(2, chunk.len())
            );
            rows.extend(on_pool!(self, p => {
                let mut q = sqlx::query_as::<_, LinkRow>(AssertSqlSafe(sql.clone())).bind(user_id);
                for id in chunk { q = q.bind(*id); }
                q.fetch_all(p).await?
            }));
        }
        rows.extend(self.links_by(user_id, "href", hrefs).await?);
        rows.sort_by_key(|r| r.0);
        rows.dedup_by_key(|r| r.0);
        Ok(rows.into_iter().map(link_of).collect())
    }

    /// The links of these Google contacts (`people/c…`).
    pub async fn google_people_named(&self, user_id: i64, names: &[String]) -> Result<Vec<PersonLink>> {
        Ok(self.links_by(user_id, "resource_name", names).await?.into_iter().map(link_of).collect())
    }

    async fn links_by(&self, user_id: i64, column: &'static str, values: &[String]) -> Result<Vec<LinkRow>> {
        let mut rows = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let sql = format!(
                "SELECT {LINK_COLS} FROM google_people WHERE user_id = $1 AND {column} IN ({})",
                marks(2, chunk.len())
            );
            rows.extend(on_pool!(self, p => {
                let mut q = sqlx::query_as::<_, LinkRow>(AssertSqlSafe(sql.clone())).bind(user_id);
                for v in chunk { q = q.bind(v.clone()); }
                q.fetch_all(p).await?
            }));
        }
        Ok(rows)
    }

    /// Records (or updates) what the bridge made for contacts, in one transaction.
    pub async fn google_link_people(&self, user_id: i64, links: &[PersonLink]) -> Result<()> {
        if links.is_empty() {
            return Ok(());
        }
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            for l in links {
                // A Google contact adopted for another of our contacts (after a crash) moves with its name.
                sqlx::query("DELETE FROM google_people WHERE user_id = $1 AND resource_name = $2 AND contact_id <> $3")
                    .bind(user_id).bind(&l.resource_name).bind(l.contact_id).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO google_people (user_id, contact_id, href, resource_name, etag, sent) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (user_id, contact_id) DO UPDATE SET href = excluded.href, resource_name = excluded.resource_name,
                       etag = excluded.etag, sent = excluded.sent")
                    .bind(user_id).bind(l.contact_id).bind(&l.href).bind(&l.resource_name).bind(&l.etag).bind(&l.sent)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn google_unlink_people(&self, user_id: i64, contact_ids: &[i64]) -> Result<()> {
        if contact_ids.is_empty() {
            return Ok(());
        }
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            for id in contact_ids {
                sqlx::query("DELETE FROM google_people WHERE user_id = $1 AND contact_id = $2")
                    .bind(user_id).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

type LinkRow = (i64, String, String, String, String);
const LINK_COLS: &str = "contact_id, href, resource_name, etag, sent";
/// Values bound per statement (SQLite allows 32,766; PostgreSQL 65,535).
const CHUNK: usize = 500;

fn link_of(r: LinkRow) -> PersonLink {
    PersonLink { contact_id: r.0, href: r.1, resource_name: r.2, etag: r.3, sent: r.4 }
}

fn marks(from: usize, n: usize) -> String {
    (0..n).map(|i| format!("${}", from + i)).collect::<Vec<_>>().join(", ")
}
