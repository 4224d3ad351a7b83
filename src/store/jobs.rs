//! Import jobs: what an import was asked to do and how far it got, so a page (on any server) can follow it.

use super::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub id: i64,
    pub user_id: i64,
    pub book: String,
    pub file_name: String,
    pub format: String,
    pub status: String,
    pub total: i64,
    pub done: i64,
    pub created: i64,
    pub updated: i64,
    pub failed: i64,
    pub failures: Vec<String>,
    pub unread_columns: Vec<String>,
    pub error: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// How far a job got.
pub struct JobCounts<'a> {
    pub total: i64,
    pub done: i64,
    pub created: i64,
    pub updated: i64,
    pub failed: i64,
    pub failures: &'a [String],
}

type JobRow =
    (i64, i64, String, String, String, String, i64, i64, i64, i64, i64, String, String, String, i64, Option<i64>);

const JOB_COLS: &str = "id, user_id, book, file_name, format, status, total, done, created, updated, failed, failures, unread_columns, error, created_at, finished_at";

fn job_of(r: JobRow) -> ImportJob {
    ImportJob {
        id: r.0,
        user_id: r.1,
        book: r.2,
        file_name: r.3,
        format: r.4,
        status: r.5,
        total: r.6,
        done: r.7,
        created: r.8,
        updated: r.9,
        failed: r.10,
        failures: serde_json::from_str(&r.11).unwrap_or_default(),
        unread_columns: serde_json::from_str(&r.12).unwrap_or_default(),
        error: r.13,
        created_at: r.14,
        finished_at: r.15,
    }
}

fn json(v: &[String]) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Unavailable(e.to_string()))
}

impl Store {
    pub async fn create_import_job(
        &self,
        user_id: i64,
        book: &str,
        file_name: &str,
        format: &str,
        total: i64,
        unread_columns: &[String],
    ) -> Result<ImportJob> {
        let cols = json(unread_columns)?;
        let id = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO import_jobs (user_id, book, file_name, format, status, total, unread_columns, created_at)
             VALUES ($1, $2, $3, $4, 'running', $5, $6, $7) RETURNING id")
            .bind(user_id).bind(book).bind(file_name).bind(format).bind(total).bind(&cols).bind(self.clock.now())
            .fetch_one(p).await?);
        self.import_job(user_id, id).await?.ok_or(StoreError::NotFound)
    }

    /// Records progress; `finished` with the final status ("done" or "failed") and why it failed.
    pub async fn update_import_job(&self, id: i64, c: &JobCounts<'_>, finished: Option<(&str, &str)>) -> Result<()> {
        let failures = json(c.failures)?;
        let (status, error, at) = match finished {
            Some((status, error)) => (status, error, Some(self.clock.now())),
            None => ("running", "", None),
        };
        on_pool!(self, p => sqlx::query(
            "UPDATE import_jobs SET total = $1, done = $2, created = $3, updated = $4, failed = $5, failures = $6,
             status = $7, error = $8, finished_at = $9 WHERE id = $10")
            .bind(c.total).bind(c.done).bind(c.created).bind(c.updated).bind(c.failed).bind(&failures)
            .bind(status).bind(error).bind(at).bind(id).execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn import_job(&self, user_id: i64, id: i64) -> Result<Option<ImportJob>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM import_jobs WHERE user_id = $1 AND id = $2")))
            .bind(user_id).bind(id).fetch_optional(p).await?);
        Ok(row.map(job_of))
    }

    /// A user's latest jobs, newest first.
    pub async fn import_jobs(&self, user_id: i64, limit: i64) -> Result<Vec<ImportJob>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM import_jobs WHERE user_id = $1 ORDER BY id DESC LIMIT $2")))
            .bind(user_id).bind(limit).fetch_all(p).await?);
        Ok(rows.into_iter().map(job_of).collect())
    }

    /// At start: jobs left running by a server that stopped are marked failed, saying so. On PostgreSQL only
    /// jobs this old are touched, since another server may still be running younger ones.
    pub async fn fail_abandoned_jobs(&self, older_than_secs: i64) -> Result<u64> {
        Ok(on_pool!(self, p => sqlx::query(
            "UPDATE import_jobs SET status = 'failed', finished_at = $1,
             error = 'the server stopped during this import; import the file again: what it brought in is updated, not doubled'
             WHERE status = 'running' AND created_at <= $2")
            .bind(self.clock.now()).bind(self.clock.now() - older_than_secs).execute(p).await?.rows_affected()))
    }
}
