//! Connecting one's own Google account (for people the Workspace delegation does not cover): the browser is
//! sent to Google with a one-time `state` and a PKCE challenge, comes back with a code, and the refresh token it
//! is exchanged for is sealed into the database.

use super::Bridge;
use crate::service::Service;
use crate::store::User;
use sha2::{Digest, Sha256};

fn digest(state: &str) -> String {
    Sha256::digest(state.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where to send `user`'s browser to grant access; the grant comes back to `redirect_uri`.
pub async fn begin(
    bridge: &Bridge,
    service: &Service,
    user: &User,
    my_contacts: bool,
    redirect_uri: &str,
) -> Result<String, String> {
    let client = bridge.people.tokens.oauth.as_ref().ok_or("connecting one's own Google account is not set up here")?;
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness: {e}"))?;
    let state: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let (verifier, challenge) = super::auth::pkce()?;
    service
        .store
        .google_oauth_begin(&digest(&state), user.id, &verifier, my_contacts, redirect_uri)
        .await
        .map_err(|e| e.to_string())?;
    Ok(client.authorize_url(redirect_uri, &state, &challenge, &user.email))
}

/// Forgets a connection Google did not grant.
pub async fn abandon(service: &Service, state: &str) {
    let _ = service.store.google_oauth_take(&digest(state)).await;
}

/// Why a connection did not complete.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The state is unknown, used, expired, or another user's.
    BadState,
    /// Google refused (the user said no, or the code is bad).
    Google(String),
    /// This server could not record it.
    Server(String),
}

/// Completes a connection: redeems the code Google sent back with `state` for a refresh token, seals it and
/// mirrors `user` through it.
pub async fn finish(bridge: &Bridge, service: &Service, user: &User, state: &str, code: &str) -> Result<(), Refusal> {
    let store = &service.store;
    let (owner, verifier, my_contacts, redirect_uri) = store
        .google_oauth_take(&digest(state))
        .await
        .map_err(|e| Refusal::Server(e.to_string()))?
        .ok_or(Refusal::BadState)?;
    if owner != user.id {
        return Err(Refusal::BadState);
    }
    let client = bridge.people.tokens.oauth.as_ref().ok_or(Refusal::Server("no OAuth client".into()))?;
    let key = bridge.seal.as_ref().ok_or(Refusal::Server("no token key".into()))?;
    let refresh = client
        .exchange(&bridge.people.http, code, &verifier, &redirect_uri, &user.email)
        .await
        .map_err(|e| Refusal::Google(e.to_string()))?;
    let sealed = key.seal(user.id, &refresh).map_err(Refusal::Server)?;
    store.google_connect_grant(user.id, &sealed, my_contacts).await.map_err(|e| Refusal::Server(e.to_string()))?;
    tracing::info!(user = %user.email, "google: connected through the user's own grant");
    Ok(())
}
