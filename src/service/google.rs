//! The Google bridge as people manage it: turn it on or off for an account, ask for a sync, see its state.
//! Each user manages their own; administrators manage anyone's (`access::may_manage_bridge`). The syncing
//! itself is `bridge/`, never on a request's path.

use super::access::{self, Credential};
use super::admin::require_admin;
use super::{Result, Service, ServiceError};
use crate::store::User;
use crate::store::google::GoogleAccount;

/// The setting holding an uploaded delegation key, sealed (read by `bridge::key`).
pub const GOOGLE_KEY_SETTING: &str = "google.service_account_key";

impl Service {
    /// The account `email` names (the actor's own when `None`), once the actor may act on its bridge.
    async fn bridge_user(
        &self,
        actor: &User,
        credential: Credential,
        email: Option<&str>,
        write: bool,
    ) -> Result<User> {
        let target = match email {
            None => actor.clone(),
            Some(e) => {
                let e = e.trim().to_lowercase();
                if e == actor.email {
                    actor.clone()
                } else {
                    require_admin(actor, credential)?;
                    self.store.user_by_email(&e).await?.ok_or_else(|| ServiceError::Missing(format!("account {e}")))?
                }
            }
        };
        let own = target.id == actor.id;
        let allowed = if write {
            access::may_manage_bridge(own, actor.is_admin, credential)
        } else {
            access::may_see_bridge(own, actor.is_admin, credential)
        };
        if allowed { Ok(target) } else { Err(ServiceError::Refused("a read-only token cannot change this".into())) }
    }

    /// The actor, when they may connect their own Google account (as the person or a writing credential).
    pub async fn google_may_connect(&self, actor: &User, credential: Credential) -> Result<User> {
        self.bridge_user(actor, credential, None, true).await
    }

    /// The bridge's state for an account (`None`: not mirrored), with the account.
    pub async fn google_state(
        &self,
        actor: &User,
        credential: Credential,
        email: Option<&str>,
    ) -> Result<(User, Option<GoogleAccount>)> {
        let user = self.bridge_user(actor, credential, email, false).await?;
        let account = self.store.google_account(user.id).await?;
        Ok((user, account))
    }

    /// Mirrors an account's labels into its Google Contacts (My contacts too when `my_contacts`); a sync starts
    /// at once.
    pub async fn google_connect(
        &self,
        actor: &User,
        credential: Credential,
        email: Option<&str>,
        my_contacts: bool,
    ) -> Result<GoogleAccount> {
        let user = self.bridge_user(actor, credential, email, true).await?;
        if user.disabled {
            return Err(ServiceError::Conflict(format!("{} is disabled", user.email)));
        }
        self.store.google_enable(user.id, my_contacts).await?;
        self.store.google_account(user.id).await?.ok_or(ServiceError::NotFound)
    }

    /// Stops mirroring an account: the bridge takes out of its Google what it made, then forgets it.
    pub async fn google_disconnect(&self, actor: &User, credential: Credential, email: Option<&str>) -> Result<()> {
        let user = self.bridge_user(actor, credential, email, true).await?;
        if !self.store.google_remove(user.id).await? {
            return Err(ServiceError::Missing(format!("Google mirror of {}", user.email)));
        }
        Ok(())
    }

    /// "Sync now": both ways, as soon as the worker can (also resumes a paused mirror and retries one whose
    /// permission was lost).
    pub async fn google_sync_now(
        &self,
        actor: &User,
        credential: Credential,
        email: Option<&str>,
    ) -> Result<GoogleAccount> {
        let user = self.bridge_user(actor, credential, email, true).await?;
        if self.store.google_account(user.id).await?.is_none() {
            return Err(ServiceError::Missing(format!("Google mirror of {}", user.email)));
        }
        self.store.google_want_sync(user.id).await?;
        self.store.google_account(user.id).await?.ok_or(ServiceError::NotFound)
    }

    /// Whether the actor may change the server's Google set-up (its delegation key): administrators, as the
    /// person.
    pub fn google_may_administer(&self, actor: &User, credential: Credential) -> Result<()> {
        require_admin(actor, credential)
    }

    /// Stores the delegation key an administrator uploaded (sealed by the bridge), or with `None` forgets it.
    pub async fn google_put_key(&self, actor: &User, credential: Credential, sealed: Option<String>) -> Result<()> {
        require_admin(actor, credential)?;
        let value = sealed.map(|s| serde_json::Value::String(s).to_string());
        self.store.put_settings(&[(GOOGLE_KEY_SETTING, value)], &actor.email).await?;
        Ok(())
    }

    /// Every mirrored account, for administrators.
    pub async fn google_accounts(&self, actor: &User, credential: Credential) -> Result<Vec<GoogleAccount>> {
        require_admin(actor, credential)?;
        Ok(self.store.google_accounts().await?)
    }
}
