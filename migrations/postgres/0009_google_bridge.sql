-- The Google Contacts bridge: which users are mirrored into their Google Contacts, how far each direction got,
-- and what the bridge made there. postgres dialect; keep in step with migrations/sqlite/0009_google_bridge.sql.

-- One row per user with the bridge on. push_cursor is the sync token of the user's combined book last mirrored
-- out; pull_token Google's sync token of their connections. A worker holds a user while lease_until is ahead
-- (one server per user at a time); wanted_at > done_at asks for a sync now.
CREATE TABLE google_accounts (
    user_id      BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    my_contacts  BIGINT NOT NULL DEFAULT 0,
    status       TEXT NOT NULL DEFAULT 'pending',
    last_error   TEXT,
    push_cursor  TEXT NOT NULL DEFAULT '',
    pull_token   TEXT NOT NULL DEFAULT '',
    -- Set before creations are sent and cleared once their names are recorded: after a crash in between, the
    -- next sync adopts what Google holds with our tags instead of creating it twice.
    unsure       BIGINT NOT NULL DEFAULT 1,
    pushed_at    BIGINT,
    pulled_at    BIGINT,
    wanted_at    BIGINT NOT NULL DEFAULT 0,
    done_at      BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

-- The contact group made for each label in a user's Google Contacts.
CREATE TABLE google_groups (
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label_id      TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    name          TEXT NOT NULL,
    PRIMARY KEY (user_id, label_id)
);

-- The Google contact made for each contact a user sees; etag is Google's after our last write or read, sent
-- the mapped fields both sides last agreed on: an unchanged contact is not sent again, and an edit made in Google
-- is merged field by field (what Google changed since, over ours).
CREATE TABLE google_people (
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_id    BIGINT NOT NULL,
    href          TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    etag          TEXT NOT NULL,
    sent          TEXT NOT NULL,
    PRIMARY KEY (user_id, contact_id)
);
CREATE UNIQUE INDEX google_people_name ON google_people(user_id, resource_name);
