-- WebDAV-Push (draft-bitfire-webdav-push) registrations: one per user, collection and push resource (the draft's
-- subscription identifier). Made with an app password, a registration ends with it.
CREATE TABLE push_registrations (
    -- the registration URL's last segment: random, unguessable
    id              TEXT PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_password_id BIGINT REFERENCES app_passwords(id) ON DELETE CASCADE,
    -- the collection under the user's home: '' for the home itself, else the book's path segment
    collection      TEXT NOT NULL,
    push_resource   TEXT NOT NULL,
    -- the subscription's keys (RFC 8291), base64url
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    content_update  BOOLEAN NOT NULL,
    property_update BOOLEAN NOT NULL,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- the last message the push service took, and the last failure (cleared by a later success)
    last_push_at    BIGINT,
    last_error      TEXT,
    last_error_at   BIGINT,
    UNIQUE (user_id, collection, push_resource)
);
CREATE INDEX push_registrations_collection ON push_registrations (collection, user_id);
