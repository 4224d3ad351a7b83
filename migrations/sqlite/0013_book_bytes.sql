-- Book sizes (RFC 4331 quota-used-bytes) as running totals, kept by triggers so that no write path can forget
-- them: My contacts counts the vCards of its owner's live contacts, a label those of its live members.
ALTER TABLE users ADD COLUMN book_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE labels ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE users SET book_bytes = COALESCE(
    (SELECT SUM(length(vcard)) FROM contacts c WHERE c.owner_id = users.id AND c.deleted_at IS NULL), 0);
UPDATE labels SET bytes = COALESCE(
    (SELECT SUM(length(c.vcard)) FROM memberships m JOIN contacts c ON c.id = m.contact_id
     WHERE m.label_id = labels.id AND m.removed_at IS NULL), 0);

CREATE TRIGGER contacts_bytes_insert AFTER INSERT ON contacts WHEN NEW.deleted_at IS NULL
BEGIN
    UPDATE users SET book_bytes = book_bytes + length(NEW.vcard) WHERE id = NEW.owner_id;
END;

CREATE TRIGGER contacts_bytes_delete AFTER DELETE ON contacts WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE users SET book_bytes = book_bytes - length(OLD.vcard) WHERE id = OLD.owner_id;
END;

-- Edited, trashed or restored in the same book: one update by the difference (none when there is none).
CREATE TRIGGER contacts_bytes_update AFTER UPDATE OF vcard, deleted_at ON contacts
WHEN OLD.owner_id = NEW.owner_id
    AND (CASE WHEN NEW.deleted_at IS NULL THEN length(NEW.vcard) ELSE 0 END)
        <> (CASE WHEN OLD.deleted_at IS NULL THEN length(OLD.vcard) ELSE 0 END)
BEGIN
    UPDATE users SET book_bytes = book_bytes
        + (CASE WHEN NEW.deleted_at IS NULL THEN length(NEW.vcard) ELSE 0 END)
        - (CASE WHEN OLD.deleted_at IS NULL THEN length(OLD.vcard) ELSE 0 END)
    WHERE id = NEW.owner_id;
END;

-- Given to another owner (an account's contacts taken over).
CREATE TRIGGER contacts_bytes_move AFTER UPDATE OF owner_id, vcard, deleted_at ON contacts
WHEN OLD.owner_id <> NEW.owner_id
BEGIN
    UPDATE users SET book_bytes = book_bytes - length(OLD.vcard) WHERE id = OLD.owner_id AND OLD.deleted_at IS NULL;
    UPDATE users SET book_bytes = book_bytes + length(NEW.vcard) WHERE id = NEW.owner_id AND NEW.deleted_at IS NULL;
END;

-- A member's vCard changed size: every label it is live in.
CREATE TRIGGER contacts_bytes_labels AFTER UPDATE OF vcard ON contacts
WHEN length(NEW.vcard) <> length(OLD.vcard)
BEGIN
    UPDATE labels SET bytes = bytes + length(NEW.vcard) - length(OLD.vcard)
    WHERE id IN (SELECT label_id FROM memberships WHERE contact_id = NEW.id AND removed_at IS NULL);
END;

CREATE TRIGGER memberships_bytes_insert AFTER INSERT ON memberships WHEN NEW.removed_at IS NULL
BEGIN
    UPDATE labels SET bytes = bytes + COALESCE((SELECT length(vcard) FROM contacts WHERE id = NEW.contact_id), 0)
    WHERE id = NEW.label_id;
END;

CREATE TRIGGER memberships_bytes_delete AFTER DELETE ON memberships WHEN OLD.removed_at IS NULL
BEGIN
    UPDATE labels SET bytes = bytes - COALESCE((SELECT length(vcard) FROM contacts WHERE id = OLD.contact_id), 0)
    WHERE id = OLD.label_id;
END;

-- Taken off, or put back (restored).
CREATE TRIGGER memberships_bytes_update AFTER UPDATE OF removed_at, contact_id, label_id ON memberships
WHEN (OLD.removed_at IS NULL) <> (NEW.removed_at IS NULL) OR OLD.contact_id <> NEW.contact_id
    OR OLD.label_id <> NEW.label_id
BEGIN
    UPDATE labels SET bytes = bytes - COALESCE((SELECT length(vcard) FROM contacts WHERE id = OLD.contact_id), 0)
    WHERE id = OLD.label_id AND OLD.removed_at IS NULL;
    UPDATE labels SET bytes = bytes + COALESCE((SELECT length(vcard) FROM contacts WHERE id = NEW.contact_id), 0)
    WHERE id = NEW.label_id AND NEW.removed_at IS NULL;
END;
