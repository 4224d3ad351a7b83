-- Contact history and label activity (issue 3 §10). SQLite dialect; keep in step with
-- migrations/postgres/0003_history.sql.
--
-- Triggers write both, so every path that changes a contact or a membership (CardDAV, API, import, restore)
-- records it in the same transaction, and the group-commit writer pays no extra round trip. Writers only have to
-- say who acts, in actor_id.

-- Who made the row's last change (created, edited, deleted or restored it; added, removed or restored it).
ALTER TABLE contacts ADD COLUMN actor_id BIGINT;
ALTER TABLE memberships ADD COLUMN actor_id BIGINT;

-- Every version a contact had before its current one. Actors are kept by e-mail as well, so the history still
-- says who when an account is gone.
CREATE TABLE contact_versions (
    id          INTEGER PRIMARY KEY,
    contact_id  BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    vcard       BLOB NOT NULL,
    etag        TEXT NOT NULL,
    -- the change that replaced this version: when, by whom, and its change sequence value
    replaced_at BIGINT NOT NULL,
    replaced_by TEXT NOT NULL DEFAULT '',
    modseq      BIGINT NOT NULL
);
CREATE INDEX contact_versions_contact ON contact_versions(contact_id, modseq);
CREATE INDEX contact_versions_age ON contact_versions(replaced_at);

-- What happened to contacts: in a label (label_id set: added, edited, removed, deleted, restored) and in the
-- owner's My contacts (label_id NULL: created, edited, deleted, restored). Rows outlive a purged contact so the
-- log still says what became of it.
CREATE TABLE activity (
    id         INTEGER PRIMARY KEY,
    label_id   TEXT REFERENCES labels(id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    at         BIGINT NOT NULL,
    modseq     BIGINT NOT NULL,
    -- the contact's name when it happened
    fn         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX activity_label ON activity(label_id, id);
CREATE INDEX activity_contact ON activity(contact_id, id);
CREATE INDEX activity_age ON activity(at);

CREATE TRIGGER contact_created AFTER INSERT ON contacts BEGIN
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    VALUES (NULL, NEW.id, 'created', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.updated_at, NEW.modseq, NEW.fn);
END;

CREATE TRIGGER contact_edited AFTER UPDATE OF etag ON contacts WHEN OLD.etag <> NEW.etag BEGIN
    INSERT INTO contact_versions (contact_id, vcard, etag, replaced_at, replaced_by, modseq)
    VALUES (OLD.id, OLD.vcard, OLD.etag, NEW.updated_at, COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.modseq);
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    SELECT NULL, NEW.id, 'edited', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.updated_at, NEW.modseq, NEW.fn
    UNION ALL
    SELECT label_id, NEW.id, 'edited', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.updated_at, NEW.modseq, NEW.fn
    FROM memberships WHERE contact_id = NEW.id AND removed_at IS NULL;
END;

CREATE TRIGGER contact_deleted AFTER UPDATE OF deleted_at ON contacts
WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL BEGIN
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    VALUES (NULL, NEW.id, 'deleted', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.deleted_at, NEW.modseq, NEW.fn);
END;

CREATE TRIGGER contact_restored AFTER UPDATE OF deleted_at ON contacts
WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL BEGIN
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    VALUES (NULL, NEW.id, 'restored', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), CAST(strftime('%s', 'now') AS INTEGER), NEW.modseq, NEW.fn);
END;

CREATE TRIGGER membership_added AFTER INSERT ON memberships BEGIN
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    SELECT NEW.label_id, NEW.contact_id, 'added', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.added_at, NEW.modseq, c.fn
    FROM contacts c WHERE c.id = NEW.contact_id;
END;

-- Writers mark the contact deleted before taking it off its labels, so a removal that comes with a delete says so.
CREATE TRIGGER membership_removed AFTER UPDATE OF removed_at ON memberships
WHEN OLD.removed_at IS NULL AND NEW.removed_at IS NOT NULL BEGIN
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    SELECT NEW.label_id, NEW.contact_id, CASE WHEN c.deleted_at IS NULL THEN 'removed' ELSE 'deleted' END,
           COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''), NEW.removed_at, NEW.modseq, c.fn
    FROM contacts c WHERE c.id = NEW.contact_id;
END;

CREATE TRIGGER membership_restored AFTER UPDATE OF removed_at ON memberships
WHEN OLD.removed_at IS NOT NULL AND NEW.removed_at IS NULL BEGIN
    INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn)
    SELECT NEW.label_id, NEW.contact_id, 'restored', COALESCE((SELECT email FROM users WHERE id = NEW.actor_id), ''),
           CAST(strftime('%s', 'now') AS INTEGER), NEW.modseq, c.fn
    FROM contacts c WHERE c.id = NEW.contact_id;
END;
