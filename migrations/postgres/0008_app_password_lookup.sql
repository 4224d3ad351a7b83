-- postgres dialect; keep in step with migrations/sqlite/0008_app_password_lookup.sql.
-- An app password's first group, kept in clear, picks the one hash a sign-in checks: a wrong guess costs one
-- argon2 run for the account password and at most one for an app password, however many the account has. NULL
-- for app passwords made before; each gets its lookup the first time it is used.
ALTER TABLE app_passwords ADD COLUMN lookup TEXT;
CREATE INDEX app_passwords_lookup ON app_passwords (user_id, lookup);
