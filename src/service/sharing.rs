//! Sharing a label with users: invitations, accepting and declining, levels, the device toggle, leaving.

use super::access::{self, Action, Level};
use super::{BookView, Result, Service, ServiceError};
use crate::service::accounts::normalize_email;
use crate::store::{Grant, GrantChange, User};

fn level_of(grant: &Grant) -> Result<Level> {
    Level::parse(&grant.level).ok_or_else(|| ServiceError::Invalid(format!("grant {} has an unknown level", grant.id)))
}

impl Service {
    /// The user's level on a label through its owner or an accepted grant; `None` when they may not see it.
    pub(super) async fn level_on(&self, user: &User, label: &crate::store::Label) -> Result<Option<(Level, bool)>> {
        if label.owner_id == user.id {
            return Ok(Some((Level::Owner, true)));
        }
        match self.store.user_grant(&label.id, &user.email).await? {
            Some(g) if g.status == "accepted" => Ok(Some((level_of(&g)?, g.sync_devices))),
            _ => Ok(None),
        }
    }

    /// The actor's view of a label for managing its collaborators (404 when they cannot see it).
    async fn managed(&self, actor: &User, label_id: &str) -> Result<BookView> {
        let view = self.open_book_anywhere(actor, label_id).await?;
        if !view.allows(Action::Share) {
            return Err(ServiceError::Forbidden(Action::Share));
        }
        Ok(view)
    }

    /// Invites `email` to a label at `level`. The actor needs share level and may grant at most their own level.
    pub async fn share(
        &self,
        actor: &User,
        label_id: &str,
        email: &str,
        level: Level,
        sync_devices: bool,
    ) -> Result<Grant> {
        let view = self.managed(actor, label_id).await?;
        if !access::may_manage_grant(view.level, level) {
            return Err(ServiceError::Invalid(format!(
                "you can share at most at your own level ({}), and never as owner",
                view.level
            )));
        }
        let email = normalize_email(email)
            .ok_or_else(|| ServiceError::Invalid(format!("'{email}' is not an e-mail address")))?;
        let grantee = self
            .store
            .user_by_email(&email)
            .await?
            .ok_or_else(|| ServiceError::Invalid(format!("no user {email} on this server")))?;
        if grantee.id == view.owner.id {
            return Err(ServiceError::Invalid(format!("{email} owns this label")));
        }
        Ok(self.store.invite(label_id, &email, level.as_str(), sync_devices, actor.id).await?)
    }

    /// The collaborators of a label, for someone who may manage them.
    pub async fn grants(&self, actor: &User, label_id: &str) -> Result<Vec<Grant>> {
        self.managed(actor, label_id).await?;
        Ok(self.store.grants_of_label(label_id).await?)
    }

    /// The invitations waiting for the user.
    pub async fn invitations(&self, user: &User) -> Result<Vec<Grant>> {
        Ok(self.store.grants_of_user(&user.email).await?.into_iter().filter(|g| g.status == "pending").collect())
    }

    /// Accepts or declines one of the user's own pending invitations.
    pub async fn respond(&self, user: &User, grant_id: i64, accept: bool) -> Result<Grant> {
        let grant = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
        if grant.grantee_kind != "user" || grant.grantee != user.email {
            return Err(ServiceError::NotFound);
        }
        let status = if accept { "accepted" } else { "declined" };
        let change = GrantChange { status: Some(status), ..Default::default() };
        // Accepting needs a pending invitation; declining also works on an accepted share (leaving).
        let from: &[&str] = if accept { &["pending"] } else { &["pending", "accepted"] };
        self.store.change_grant(grant_id, Some(from), &change).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => {
                ServiceError::Conflict(format!("cannot {}: {m}", if accept { "accept" } else { "decline" }))
            }
            e => e.into(),
        })
    }

    /// The collaborator's own "sync these contacts with my devices" switch.
    pub async fn set_devices(&self, user: &User, grant_id: i64, on: bool) -> Result<Grant> {
        let grant = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
        if grant.grantee_kind != "user" || grant.grantee != user.email {
            return Err(ServiceError::NotFound);
        }
        Ok(self
            .store
            .change_grant(grant_id, None, &GrantChange { sync_devices: Some(on), ..Default::default() })
            .await?)
    }

    /// Changes a collaborator's level, within the actor's own level.
    pub async fn set_grant_level(&self, actor: &User, grant_id: i64, level: Level) -> Result<Grant> {
        let grant = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
        let view = self.managed(actor, &grant.label_id).await?;
        if !access::may_manage_grant(view.level, level_of(&grant)?) || !access::may_manage_grant(view.level, level) {
            return Err(ServiceError::Forbidden(Action::Share));
        }
        if grant.grantee == actor.email {
            return Err(ServiceError::Invalid("you cannot change your own level".into()));
        }
        let change = GrantChange { level: Some(level.as_str()), ..Default::default() };
        Ok(self.store.change_grant(grant_id, Some(&["pending", "accepted"]), &change).await?)
    }

    /// Revokes a collaborator (kept as status "revoked").
    pub async fn revoke(&self, actor: &User, grant_id: i64) -> Result<Grant> {
        let grant = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
        let view = self.managed(actor, &grant.label_id).await?;
        if !access::may_manage_grant(view.level, level_of(&grant)?) {
            return Err(ServiceError::Forbidden(Action::Share));
        }
        let change = GrantChange { status: Some("revoked"), ..Default::default() };
        Ok(self.store.change_grant(grant_id, Some(&["pending", "accepted"]), &change).await?)
    }

    /// A collaborator leaves a shared label (their grant becomes declined); the label and its contacts stay.
    pub async fn leave(&self, user: &User, label_id: &str) -> Result<()> {
        let grant = self.store.user_grant(label_id, &user.email).await?.ok_or(ServiceError::NotFound)?;
        self.respond(user, grant.id, false).await.map(|_| ())
    }
}
