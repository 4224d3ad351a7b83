-- Book sizes (RFC 4331 quota-used-bytes) as running totals, kept by triggers so that no write path can forget
-- them: My contacts counts the vCards of its owner's live contacts, a label those of its live members.
ALTER TABLE users ADD COLUMN book_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE labels ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE users u SET book_bytes = t.n
FROM (SELECT owner_id, SUM(length(vcard)) AS n FROM contacts WHERE deleted_at IS NULL GROUP BY owner_id) t
WHERE u.id = t.owner_id;
UPDATE labels l SET bytes = t.n
FROM (SELECT m.label_id, SUM(length(c.vcard)) AS n FROM memberships m JOIN contacts c ON c.id = m.contact_id
      WHERE m.removed_at IS NULL GROUP BY m.label_id) t
WHERE l.id = t.label_id;

CREATE FUNCTION contacts_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was BIGINT := 0;
    now_ BIGINT := 0;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL THEN was := length(OLD.vcard); END IF;
    IF TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL THEN now_ := length(NEW.vcard); END IF;
    IF TG_OP = 'UPDATE' AND OLD.owner_id = NEW.owner_id THEN
        -- Edited, trashed or restored in the same book: one update by the difference, none when there is none.
        IF now_ <> was THEN
            UPDATE users SET book_bytes = book_bytes + now_ - was WHERE id = NEW.owner_id;
        END IF;
    ELSE
        IF was <> 0 THEN UPDATE users SET book_bytes = book_bytes - was WHERE id = OLD.owner_id; END IF;
        IF now_ <> 0 THEN UPDATE users SET book_bytes = book_bytes + now_ WHERE id = NEW.owner_id; END IF;
    END IF;
    -- A member's vCard changed size: every label it is live in.
    IF TG_OP = 'UPDATE' AND length(NEW.vcard) <> length(OLD.vcard) THEN
        UPDATE labels SET bytes = bytes + length(NEW.vcard) - length(OLD.vcard)
        WHERE id IN (SELECT label_id FROM memberships WHERE contact_id = NEW.id AND removed_at IS NULL);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_bytes AFTER INSERT OR DELETE OR UPDATE OF vcard, deleted_at, owner_id ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_bytes();

CREATE FUNCTION memberships_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.removed_at IS NULL) = (NEW.removed_at IS NULL)
        AND OLD.contact_id = NEW.contact_id AND OLD.label_id = NEW.label_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.removed_at IS NULL THEN
        UPDATE labels SET bytes = bytes - COALESCE((SELECT length(vcard) FROM contacts WHERE id = OLD.contact_id), 0)
        WHERE id = OLD.label_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.removed_at IS NULL THEN
        UPDATE labels SET bytes = bytes + COALESCE((SELECT length(vcard) FROM contacts WHERE id = NEW.contact_id), 0)
        WHERE id = NEW.label_id;
    END IF;
    RETURN NULL;
END $$;
-- Added, taken off, put back (restored) or deleted with the label or the contact.
CREATE TRIGGER memberships_bytes AFTER INSERT OR DELETE OR UPDATE OF removed_at, contact_id, label_id ON memberships
    FOR EACH ROW EXECUTE FUNCTION memberships_bytes();
