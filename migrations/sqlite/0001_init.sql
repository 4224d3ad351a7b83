-- Labelbook schema, SQLite dialect. Keep in step with migrations/postgres/0001_init.sql.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The one change sequence (modseq) of the whole store. Every write transaction starts by taking the next value,
-- which also serialises writers so that modseq order is commit order.
CREATE TABLE change_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO change_seq (id, value) VALUES (1, 0);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    book_name     TEXT NOT NULL DEFAULT 'My contacts',
    book_description TEXT NOT NULL DEFAULT '',
    -- last change of My contacts (a card or its own properties): its sync-token and getctag
    book_modseq   BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE app_passwords (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    layout        TEXT NOT NULL DEFAULT 'books',
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    UNIQUE (user_id, name)
);

CREATE TABLE labels (
    id          TEXT PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    -- last change of the label itself or of its membership: the collection's sync-token and getctag
    modseq      BIGINT NOT NULL
);
CREATE INDEX labels_owner ON labels(owner_id);

CREATE TABLE contacts (
    id         INTEGER PRIMARY KEY,
    owner_id   BIGINT NOT NULL REFERENCES users(id),
    href       TEXT NOT NULL,
    uid        TEXT NOT NULL,
    vcard      BLOB NOT NULL,
    etag       TEXT NOT NULL,
    fn         TEXT NOT NULL DEFAULT '',
    sort_key   TEXT NOT NULL DEFAULT '',
    emails     TEXT NOT NULL DEFAULT '',
    tels       TEXT NOT NULL DEFAULT '',
    org        TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    modseq     BIGINT NOT NULL,
    -- set: the contact is in the trash, and the row is the tombstone sync-collection reports
    deleted_at BIGINT
);
CREATE UNIQUE INDEX contacts_live_href ON contacts(owner_id, href) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX contacts_live_uid ON contacts(owner_id, uid) WHERE deleted_at IS NULL;
CREATE INDEX contacts_sync ON contacts(owner_id, modseq);
-- Keyset pages over a book (PROPFIND Depth 1, initial sync) walk this index instead of sorting the book.
CREATE INDEX contacts_live_pages ON contacts(owner_id, id) WHERE deleted_at IS NULL;

-- A contact carrying a label, under the resource name the client chose in that label's collection.
-- Every change to the contact also bumps modseq here, so a label's delta is one index range.
CREATE TABLE memberships (
    id         INTEGER PRIMARY KEY,
    label_id   TEXT NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    href       TEXT NOT NULL,
    modseq     BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    -- set: removed from the label (a tombstone for sync, and restorable)
    removed_at BIGINT
);
CREATE UNIQUE INDEX memberships_live_href ON memberships(label_id, href) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX memberships_live_contact ON memberships(label_id, contact_id) WHERE removed_at IS NULL;
CREATE INDEX memberships_sync ON memberships(label_id, modseq);
CREATE INDEX memberships_live_pages ON memberships(label_id, id) WHERE removed_at IS NULL;
CREATE INDEX memberships_contact ON memberships(contact_id);

-- Sharing (levels, invitations, device toggle, hidden fields). Filled by the sharing issue.
CREATE TABLE grants (
    id            INTEGER PRIMARY KEY,
    label_id      TEXT NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    grantee_kind  TEXT NOT NULL CHECK (grantee_kind IN ('user', 'group', 'domain')),
    grantee       TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('view', 'edit', 'delete', 'share')),
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    sync_devices  BOOLEAN NOT NULL DEFAULT TRUE,
    hidden_fields TEXT NOT NULL DEFAULT '[]',
    invited_by    BIGINT REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    modseq        BIGINT NOT NULL,
    UNIQUE (label_id, grantee_kind, grantee)
);

-- WebDAV dead properties (RFC 4918 §4) set by PROPPATCH, kept verbatim as XML.
CREATE TABLE dead_props (
    collection TEXT NOT NULL,
    ns         TEXT NOT NULL,
    name       TEXT NOT NULL,
    xml        TEXT NOT NULL,
    PRIMARY KEY (collection, ns, name)
);
