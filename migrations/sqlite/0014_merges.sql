-- Merged duplicates, kept so a merge can be undone. SQLite dialect; keep in step with
-- migrations/postgres/0014_merges.sql.
--
-- A merge writes the survivor's union of both cards, moves the merged-away contact's labels to the survivor
-- where the person merging may, and deletes the merged-away contact (or, for someone else's contacts, takes it
-- off the labels they may change). What it did is recorded here, in the same transaction, so the undo puts
-- exactly that back; a purged contact takes its merges with it.
CREATE TABLE merges (
    id            INTEGER PRIMARY KEY,
    owner_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    actor_id      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    keep_id       BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    drop_id       BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    -- the survivor before the merge, and its ETag after: an undo needs it unchanged since
    keep_before   BLOB NOT NULL,
    keep_after    TEXT NOT NULL,
    -- membership ids, comma-separated: the survivor's new ones, and the merged-away contact's removed ones
    added         TEXT NOT NULL DEFAULT '',
    removed       TEXT NOT NULL DEFAULT '',
    drop_deleted  BOOLEAN NOT NULL,
    at            BIGINT NOT NULL,
    modseq        BIGINT NOT NULL,
    undone_at     BIGINT
);
CREATE INDEX merges_keep ON merges(keep_id);
CREATE INDEX merges_drop ON merges(drop_id);
