-- Mail (issue 3 §2): invitations e-mailed through SMTP from an outbox, and settings an administrator changes in
-- the dashboard (over the config file's). sqlite dialect; keep in step with migrations/postgres/0007_mail_settings.sql.

-- A link is handed over either by the inviter (copy) or by mail; a new link replaces only earlier ones of its way,
-- so mailing an invitation never breaks a link the inviter already passed on.
ALTER TABLE invite_links ADD COLUMN via TEXT NOT NULL DEFAULT 'copy';

-- Messages waiting to go out, and what became of them. The body (which carries the link's secret) is cleared
-- once the message is sent or given up on.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    grant_id        BIGINT REFERENCES grants(id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT,
    reply_to        TEXT,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_by      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_grant ON outbox(grant_id);

CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);
