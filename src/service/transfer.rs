//! Handing a label to another collaborator, and deleting an account.

use super::access::Action;
use super::{Result, Service, ServiceError};
use crate::store::User;

impl Service {
    /// The owner hands a label to `to`, who must already collaborate on it (an accepted grant, direct or through
    /// a group or domain). The label's contacts become the new owner's; the previous owner stays on at share
    /// level unless `keep_access` is false.
    pub async fn transfer_label(&self, owner: &User, label_id: &str, to: &str, keep_access: bool) -> Result<()> {
        let view = self.open_book_anywhere(owner, label_id).await?;
        if !view.allows(Action::Administer) {
            return Err(ServiceError::Forbidden(Action::Administer));
        }
        let target = self.existing_user(to).await?;
        if target.id == owner.id {
            return Err(ServiceError::Invalid("you already own this label".into()));
        }
        if target.disabled {
            return Err(ServiceError::Invalid(format!("{} is disabled", target.email)));
        }
        let label = self.store.label(label_id).await?.ok_or(ServiceError::NotFound)?;
        if self.level_on(&target, &label).await?.is_none() {
            return Err(ServiceError::Invalid(format!(
                "{} does not collaborate on this label: share it with them, and once they accept, transfer it",
                target.email
            )));
        }
        Ok(self.store.transfer_label(label_id, target.id, &target.email, keep_access, owner.id).await?)
    }

    /// Deletes an account, with its contacts. Refused while it owns labels: transfer or delete them first, so
    /// nobody loses a shared label by accident.
    pub async fn delete_user(&self, user: &User) -> Result<()> {
        let owned = self.store.owned_label_names(user.id).await?;
        if !owned.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "{} owns {} label(s) ({}): transfer or delete them first",
                user.email,
                owned.len(),
                owned.join(", ")
            )));
        }
        Ok(self.store.delete_user(user.id).await?)
    }
}
