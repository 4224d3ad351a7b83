-- Browser sessions and API tokens (issue 4). SQLite dialect; keep in step with
-- migrations/postgres/0004_sessions_tokens.sql.
--
-- Both keep only the SHA-256 of their secret: a copy of the database logs nobody in. The secrets are 256 random
-- bits, so a plain digest is enough (no salt or slow hash is needed against guessing).

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    -- sent back by the page on every unsafe request (X-CSRF-Token); readable by the page, unlike the cookie
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- idle expiry: moved forward as the session is used, never past created_at + the absolute lifetime
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    -- read: safe methods only; write: everything the user may do
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT,
    UNIQUE (user_id, name)
);

-- Contact pages by name (api/contacts, search): the keyset order without a sort.
CREATE INDEX contacts_live_names ON contacts(owner_id, sort_key, id) WHERE deleted_at IS NULL;
