-- Invitation links (issue 3 §2, the seed product's "copy link"): one live link per pending user grant,
-- single-use, kept as the SHA-256 of its secret. SQLite dialect; keep in step with migrations/postgres/0006_invite_links.sql.
CREATE TABLE invite_links (
    id         INTEGER PRIMARY KEY,
    grant_id   BIGINT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX invite_links_grant ON invite_links(grant_id);
