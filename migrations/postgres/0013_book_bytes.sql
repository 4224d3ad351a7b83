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

-- Statement-level, over the statement's rows: a group commit or an import of hundreds of cards updates each book's
-- row once, not once per card (updating one row many times in a transaction gets slower with each version).
CREATE FUNCTION contacts_bytes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET book_bytes = u.book_bytes + d.n
    FROM (SELECT owner_id, SUM(length(vcard)) AS n FROM new_rows WHERE deleted_at IS NULL GROUP BY owner_id) d
    WHERE u.id = d.owner_id;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_bytes_inserted AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_bytes_inserted();

CREATE FUNCTION contacts_bytes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET book_bytes = u.book_bytes - d.n
    FROM (SELECT owner_id, SUM(length(vcard)) AS n FROM old_rows WHERE deleted_at IS NULL GROUP BY owner_id) d
    WHERE u.id = d.owner_id;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_bytes_deleted AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_bytes_deleted();

-- Edited, trashed, restored or given to another owner; and a member whose vCard changed size changes every
-- label it is live in.
CREATE FUNCTION contacts_bytes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET book_bytes = u.book_bytes + d.n
    FROM (SELECT owner_id, SUM(n) AS n FROM (
            SELECT owner_id, CASE WHEN deleted_at IS NULL THEN length(vcard) ELSE 0 END AS n FROM new_rows
            UNION ALL
            SELECT owner_id, CASE WHEN deleted_at IS NULL THEN -length(vcard) ELSE 0 END FROM old_rows) t
          GROUP BY owner_id HAVING SUM(n) <> 0) d
    WHERE u.id = d.owner_id;
    UPDATE labels l SET bytes = l.bytes + d.n
    FROM (SELECT m.label_id, SUM(length(n.vcard) - length(o.vcard)) AS n
          FROM new_rows n JOIN old_rows o ON o.id = n.id
          JOIN memberships m ON m.contact_id = n.id AND m.removed_at IS NULL
          WHERE length(n.vcard) <> length(o.vcard)
          GROUP BY m.label_id) d
    WHERE l.id = d.label_id;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_bytes_updated AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_bytes_updated();

CREATE FUNCTION memberships_bytes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE labels l SET bytes = l.bytes + d.n
    FROM (SELECT r.label_id, SUM(length(c.vcard)) AS n FROM new_rows r JOIN contacts c ON c.id = r.contact_id
          WHERE r.removed_at IS NULL GROUP BY r.label_id) d
    WHERE l.id = d.label_id;
    RETURN NULL;
END $$;
CREATE TRIGGER memberships_bytes_inserted AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_bytes_inserted();

CREATE FUNCTION memberships_bytes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE labels l SET bytes = l.bytes - d.n
    FROM (SELECT r.label_id, SUM(length(c.vcard)) AS n FROM old_rows r JOIN contacts c ON c.id = r.contact_id
          WHERE r.removed_at IS NULL GROUP BY r.label_id) d
    WHERE l.id = d.label_id;
    RETURN NULL;
END $$;
CREATE TRIGGER memberships_bytes_deleted AFTER DELETE ON memberships
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_bytes_deleted();

-- Taken off, or put back (restored).
CREATE FUNCTION memberships_bytes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE labels l SET bytes = l.bytes + d.n
    FROM (SELECT label_id, SUM(n) AS n FROM (
            SELECT r.label_id, length(c.vcard) AS n FROM new_rows r JOIN contacts c ON c.id = r.contact_id
            WHERE r.removed_at IS NULL
            UNION ALL
            SELECT r.label_id, -length(c.vcard) FROM old_rows r JOIN contacts c ON c.id = r.contact_id
            WHERE r.removed_at IS NULL) t
          GROUP BY label_id HAVING SUM(n) <> 0) d
    WHERE l.id = d.label_id;
    RETURN NULL;
END $$;
CREATE TRIGGER memberships_bytes_updated AFTER UPDATE ON memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_bytes_updated();
