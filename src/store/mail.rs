//! The outbox (messages waiting for the mail server, and what became of them) and the settings administrators
//! change in the dashboard.

use super::{Result, Store, on_pool};

/// A message to queue.
pub struct NewMail<'a> {
    pub kind: &'a str,
    pub grant_id: Option<i64>,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub reply_to: Option<&'a str>,
    pub created_by: Option<i64>,
}

/// A queued message, claimed for sending.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub kind: String,
    pub grant_id: Option<i64>,
    pub recipient: String,
    pub subject: String,
    pub body: Option<String>,
    pub reply_to: Option<String>,
    pub attempts: i64,
}

/// The last message about a grant: queued, sent, failed or cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailStatus {
    pub id: i64,
    pub grant_id: i64,
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A new invitation link to put in a message; replaces earlier mailed links of the grant.
pub struct MailedLink<'a> {
    pub token_hash: &'a str,
    pub expires_at: i64,
}

type QueuedRow = (i64, String, Option<i64>, String, String, Option<String>, Option<String>, i64);
type StatusRow = (i64, Option<i64>, String, String, i64, Option<String>, i64, Option<i64>);

impl Store {
    /// Queues a message (and, for an invitation, the link it carries) in one transaction, so a message is never
    /// queued with a link that does not work, nor a link made that nobody receives.
    pub async fn queue_mail(&self, mail: &NewMail<'_>, link: Option<&MailedLink<'_>>) -> Result<i64> {
        let t = self.clock.now();
        let id = on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            if let (Some(link), Some(grant_id)) = (link, mail.grant_id) {
                sqlx::query("DELETE FROM invite_links WHERE grant_id = $1 AND via = 'mail'")
                    .bind(grant_id).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO invite_links (grant_id, token_hash, created_by, created_at, expires_at, via) VALUES ($1, $2, $3, $4, $5, 'mail')")
                    .bind(grant_id).bind(link.token_hash).bind(mail.created_by).bind(t).bind(link.expires_at)
                    .execute(&mut *tx).await?;
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO outbox (kind, grant_id, recipient, subject, body, reply_to, status, created_by, created_at, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $8) RETURNING id")
                .bind(mail.kind).bind(mail.grant_id).bind(mail.recipient).bind(mail.subject).bind(mail.body)
                .bind(mail.reply_to).bind(mail.created_by).bind(t)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// Takes up to `limit` due messages for `lease` seconds; another server (or this one after a crash) takes a
    /// message again only once its lease has run out. The outer condition is re-checked on a row another
    /// claimer changed meanwhile, so two servers never both take one message.
    pub async fn claim_due_mail(&self, lease: i64, limit: i64) -> Result<Vec<QueuedMail>> {
        let t = self.clock.now();
        let rows: Vec<QueuedRow> = on_pool!(self, p => sqlx::query_as(
            "UPDATE outbox SET claimed_until = $1
             WHERE status = 'queued' AND next_attempt_at <= $2 AND claimed_until <= $2
               AND id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $2 AND claimed_until <= $2
                          ORDER BY id LIMIT $3)
             RETURNING id, kind, grant_id, recipient, subject, body, reply_to, attempts")
            .bind(t + lease).bind(t).bind(limit).fetch_all(p).await?);
        let mut mails: Vec<QueuedMail> = rows
            .into_iter()
            .map(|r| QueuedMail {
                id: r.0,
                kind: r.1,
                grant_id: r.2,
                recipient: r.3,
                subject: r.4,
                body: r.5,
                reply_to: r.6,
                attempts: r.7,
            })
            .collect();
        mails.sort_by_key(|m| m.id);
        Ok(mails)
    }

    /// The message went out: its body (and the secret in it) is dropped.
    pub async fn mail_sent(&self, id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET status = 'sent', body = NULL, sent_at = $1, attempts = attempts + 1, last_error = NULL, claimed_until = 0 WHERE id = $2")
            .bind(self.clock.now()).bind(id).execute(p).await?.rows_affected());
        Ok(())
    }

    /// The message did not go out: tried again at `retry_at`, or given up (its body dropped).
    pub async fn mail_failed(&self, id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
        on_pool!(self, p => match retry_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, claimed_until = 0 WHERE id = $3")
                .bind(error).bind(at).bind(id).execute(p).await?.rows_affected(),
            None => sqlx::query(
                "UPDATE outbox SET status = 'failed', body = NULL, attempts = attempts + 1, last_error = $1, claimed_until = 0 WHERE id = $2")
                .bind(error).bind(id).execute(p).await?.rows_affected(),
        });
        Ok(())
    }

    /// The message is no longer wanted (its invitation was withdrawn or answered): dropped unsent.
    pub async fn mail_cancelled(&self, id: i64, why: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET status = 'cancelled', body = NULL, last_error = $1, claimed_until = 0 WHERE id = $2")
            .bind(why).bind(id).execute(p).await?.rows_affected());
        Ok(())
    }

    /// When the next queued message is due (for the sender to sleep until then).
    pub async fn next_mail_due(&self) -> Result<Option<i64>> {
        let row: (Option<i64>,) = on_pool!(self, p => sqlx::query_as(
            "SELECT MIN(CASE WHEN claimed_until > next_attempt_at THEN claimed_until ELSE next_attempt_at END) FROM outbox WHERE status = 'queued'")
            .fetch_one(p).await?);
        Ok(row.0)
    }

    /// The last message about each grant of a label, in one query.
    pub async fn mail_of_label(&self, label_id: &str) -> Result<Vec<MailStatus>> {
        let rows: Vec<StatusRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT o.id, o.grant_id, o.recipient, o.status, o.attempts, o.last_error, o.created_at, o.sent_at
             FROM outbox o JOIN grants g ON g.id = o.grant_id
             WHERE g.label_id = $1 AND o.id = (SELECT MAX(id) FROM outbox WHERE grant_id = o.grant_id)")
            .bind(label_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(status_of).collect())
    }

    /// The last message about one grant.
    pub async fn mail_of_grant(&self, grant_id: i64) -> Result<Option<MailStatus>> {
        let row: Option<StatusRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, grant_id, recipient, status, attempts, last_error, created_at, sent_at
             FROM outbox WHERE grant_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(grant_id).fetch_optional(p).await?);
        Ok(row.map(status_of))
    }

    /// Forgets what was sent before `before` (the outbox is a queue and a recent record, not an archive).
    pub async fn purge_mail(&self, before: i64) -> Result<u64> {
        Ok(on_pool!(self, p => sqlx::query("DELETE FROM outbox WHERE status <> 'queued' AND created_at < $1")
            .bind(before).execute(p).await?.rows_affected()))
    }

    /// Every setting an administrator stored, as (name, JSON value).
    pub async fn settings(&self) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, p => sqlx::query_as("SELECT name, value FROM settings ORDER BY name").fetch_all(p).await?))
    }

    /// Stores (`Some`) or forgets (`None`, back to the config file's value) each named setting, together.
    pub async fn put_settings(&self, changes: &[(&str, Option<String>)], by: &str) -> Result<()> {
        let t = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            for (name, value) in changes {
                sqlx::query("DELETE FROM settings WHERE name = $1").bind(name).execute(&mut *tx).await?;
                if let Some(v) = value {
                    sqlx::query("INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)")
                        .bind(name).bind(v).bind(t).bind(by).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

fn status_of(r: StatusRow) -> MailStatus {
    MailStatus {
        id: r.0,
        grant_id: r.1.unwrap_or(0),
        recipient: r.2,
        status: r.3,
        attempts: r.4,
        last_error: r.5,
        created_at: r.6,
        sent_at: r.7,
    }
}
