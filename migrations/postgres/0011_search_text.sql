-- What a contact search compares: the name, organization, e-mail addresses and phone numbers, each folded as
-- i;unicode-casemap does (RFC 5051: case mapped, then NFKD), which SQL's lower() cannot (SQLite's is ASCII-only).
-- Filled for existing contacts by the migration step that follows this one (store/migrate.rs), in Rust.
ALTER TABLE contacts ADD COLUMN search TEXT;
