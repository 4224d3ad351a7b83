-- Imports run as jobs (issue 4): the API answers at once and the page follows the progress. SQLite dialect;
-- keep in step with migrations/postgres/0005_import_jobs.sql.
CREATE TABLE import_jobs (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- the book imported into: 'contacts' or a label id (kept as text: the label may be deleted meanwhile)
    book        TEXT NOT NULL,
    file_name   TEXT NOT NULL DEFAULT '',
    format      TEXT NOT NULL,
    -- running, done, failed (the whole import: unreadable file, or the server stopped during it)
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    total       BIGINT NOT NULL DEFAULT 0,
    done        BIGINT NOT NULL DEFAULT 0,
    created     BIGINT NOT NULL DEFAULT 0,
    updated     BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    -- JSON arrays: the first failures (where in the file, and why), and CSV columns no contact field takes
    failures    TEXT NOT NULL DEFAULT '[]',
    unread_columns TEXT NOT NULL DEFAULT '[]',
    error       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX import_jobs_user ON import_jobs(user_id, id);
