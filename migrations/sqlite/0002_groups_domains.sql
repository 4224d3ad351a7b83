-- Domains, groups, and members' own answers to group and domain grants (issue 3 §1–3). SQLite dialect; keep in
-- step with migrations/postgres/0002_groups_domains.sql.

-- The server's domains. With none listed the server takes any address (a fresh install); once one is listed,
-- accounts must be in a listed domain.
CREATE TABLE domains (
    name        TEXT PRIMARY KEY,
    is_primary  BOOLEAN NOT NULL DEFAULT FALSE,
    -- invitations to users of this domain are accepted at once
    auto_accept BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE user_groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_group_members (
    group_id BIGINT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user ON user_group_members(user_id);

-- A group or domain grant has no single grantee to accept it; each member's own device toggle, and whether they
-- left it, live here.
CREATE TABLE grant_members (
    grant_id     BIGINT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sync_devices BOOLEAN NOT NULL,
    declined     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (grant_id, user_id)
);

-- Which labels reach a user is asked on every request to a shared label.
CREATE INDEX grants_grantee ON grants(grantee_kind, grantee);
