//! The trash: what was deleted or taken off a label, and putting it back.

use super::access::{self, Action};
use super::{Result, Service, ServiceError};
use crate::store::{RemovedMembership, StoreError, TrashedContact, User};

/// What a user may restore.
#[derive(Debug, Clone, Default)]
pub struct Trash {
    /// Their own deleted contacts.
    pub contacts: Vec<TrashedContact>,
    /// Contacts taken off the labels they own or manage (share level).
    pub memberships: Vec<RemovedMembership>,
    /// The names of those labels, by id.
    pub label_names: std::collections::HashMap<String, String>,
}

fn conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(m) => ServiceError::Conflict(m),
        e => e.into(),
    }
}

impl Service {
    /// The sync tokens answerable exactly (RFC 6578 §3.2): from the newest purged tombstone up to the newest
    /// change handed out; a token outside them is refused as invalid.
    pub async fn token_window(&self) -> Result<(i64, i64)> {
        Ok(self.store.token_window().await?)
    }

    pub async fn trash(&self, user: &User) -> Result<Trash> {
        let contacts = self.store.trashed_contacts(user.id).await?;
        let mut labels = self.store.labels_owned(user.id).await?;
        for (label, reach) in self.shared_with(user).await? {
            if access::allows(reach.level, Action::Restore) {
                labels.push(label);
            }
        }
        let mut memberships = Vec::new();
        for label in &labels {
            memberships.extend(self.store.removed_memberships(&label.id).await?);
        }
        let label_names = labels.into_iter().map(|l| (l.id, l.name)).collect();
        Ok(Trash { contacts, memberships, label_names })
    }

    /// Only a contact's owner restores it (collaborators cannot delete contacts, only take them off labels).
    pub async fn restore_contact(&self, user: &User, contact_id: i64) -> Result<()> {
        self.store.restore_contact(user.id, contact_id).await.map_err(conflict)
    }

    /// The owner and share-level collaborators put back what was taken off a label.
    pub async fn restore_membership(&self, user: &User, label_id: &str, membership_id: i64) -> Result<()> {
        let view = self.open_book_anywhere(user, label_id).await?;
        if !view.allows(Action::Restore) {
            return Err(ServiceError::Forbidden(Action::Restore));
        }
        self.store.restore_membership(label_id, membership_id, user.id).await.map_err(conflict)
    }
}
