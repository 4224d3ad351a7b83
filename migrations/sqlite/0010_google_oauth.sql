-- The Google bridge for people who connect their own Google account (OAuth, RFC 6749 with PKCE, RFC 7636).
-- sqlite dialect; keep in step with migrations/postgres/0010_google_oauth.sql.

-- The user's refresh token, sealed with the server's token key (never stored in the clear); NULL: the
-- Workspace delegation is used.
ALTER TABLE google_accounts ADD COLUMN oauth_token TEXT;

-- A connection under way: the browser went to Google with `state` (kept as its digest) and comes back with it
-- once; the PKCE verifier proves the code is redeemed by the server that asked.
CREATE TABLE google_oauth_states (
    state_hash   TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    verifier     TEXT NOT NULL,
    my_contacts  BIGINT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);
