//! Embedded migrations, applied in order at start and by `labelbook migrate`.

use super::{Pool, Result, Store, StoreError, on_pool};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_groups_domains.sql")),
    (3, include_str!("../../migrations/sqlite/0003_history.sql")),
    (4, include_str!("../../migrations/sqlite/0004_sessions_tokens.sql")),
    (5, include_str!("../../migrations/sqlite/0005_import_jobs.sql")),
    (6, include_str!("../../migrations/sqlite/0006_invite_links.sql")),
    (7, include_str!("../../migrations/sqlite/0007_mail_settings.sql")),
    (8, include_str!("../../migrations/sqlite/0008_app_password_lookup.sql")),
    (9, include_str!("../../migrations/sqlite/0009_google_bridge.sql")),
    (10, include_str!("../../migrations/sqlite/0010_google_oauth.sql")),
    (11, include_str!("../../migrations/sqlite/0011_search_text.sql")),
    (12, include_str!("../../migrations/sqlite/0012_push.sql")),
    (13, include_str!("../../migrations/sqlite/0013_book_bytes.sql")),
    (14, include_str!("../../migrations/sqlite/0014_merges.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_groups_domains.sql")),
    (3, include_str!("../../migrations/postgres/0003_history.sql")),
    (4, include_str!("../../migrations/postgres/0004_sessions_tokens.sql")),
    (5, include_str!("../../migrations/postgres/0005_import_jobs.sql")),
    (6, include_str!("../../migrations/postgres/0006_invite_links.sql")),
    (7, include_str!("../../migrations/postgres/0007_mail_settings.sql")),
    (8, include_str!("../../migrations/postgres/0008_app_password_lookup.sql")),
    (9, include_str!("../../migrations/postgres/0009_google_bridge.sql")),
    (10, include_str!("../../migrations/postgres/0010_google_oauth.sql")),
    (11, include_str!("../../migrations/postgres/0011_search_text.sql")),
    (12, include_str!("../../migrations/postgres/0012_push.sql")),
    (13, include_str!("../../migrations/postgres/0013_book_bytes.sql")),
    (14, include_str!("../../migrations/postgres/0014_merges.sql")),
];

pub async fn run(store: &Store) -> Result<()> {
    let steps = match store.pool {
        Pool::Sqlite(_) => SQLITE,
        Pool::Postgres(_) => POSTGRES,
    };
    on_pool!(store, p => {
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .execute(p).await?;
        for (version, sql) in steps {
            let mut tx = store.write(p, 0).await?;
            if matches!(store.pool, Pool::Postgres(_)) {
                // Several servers may start at once against one database: the first migrates, the others wait.
                sqlx::raw_sql("LOCK TABLE schema_migrations IN EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let done = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM schema_migrations WHERE version = $1")
                .bind(version).fetch_one(&mut *tx).await?;
            if done == 0 {
                sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(|e| {
                    StoreError::Conflict(format!("migration {version} failed: {e}"))
                })?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version).bind(store.clock.now()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok::<(), StoreError>(())
    })?;
    fill_search_text(store).await?;
    // Plans must not wait for autovacuum (see store/stats.rs).
    store.refresh_statistics().await?;
    Ok(())
}

/// Contacts stored before the search column existed get it, a batch per transaction (an interrupted start
/// resumes where it stopped: the rows still without one).
async fn fill_search_text(store: &Store) -> Result<()> {
    loop {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(store, p => sqlx::query_as(
            "SELECT id, vcard FROM contacts WHERE search IS NULL ORDER BY id LIMIT 500").fetch_all(p).await?);
        if rows.is_empty() {
            return Ok(());
        }
        on_pool!(store, p => {
            let mut tx = store.write(p, 0).await?;
            for (id, vcard) in &rows {
                // A card that no longer parses (stored by an older, laxer version) is found by nothing but stays.
                let search = crate::vcard::parse(vcard).map(|c| c.indexed().search).unwrap_or_default();
                sqlx::query("UPDATE contacts SET search = $1 WHERE id = $2").bind(search).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
    }
}
