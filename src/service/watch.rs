//! What of the change bus one user may hear about: the live dashboard's view of the bus. Events name books
//! and labels; a user hears of those they can open (My contacts, own labels, accepted shares) and of
//! invitations to them, and nothing of anybody else's, so a stream never leaks that a label exists.

use super::{Result, Service};
use crate::store::User;
use crate::store::events::{Event, Numbered};
use std::collections::HashSet;

/// What a user is told, in the words of the API's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Contacts changed in My contacts (`my_contacts`) and/or these labels the user can open.
    Contacts { my_contacts: bool, labels: Vec<String> },
    /// The labels the user can open changed (made, renamed, deleted, shared, accepted, left, revoked).
    Labels,
    /// Invitations waiting for the user: how many now.
    Invitations(usize),
    /// The user's own account changed (password, app passwords, disabled).
    Account,
    /// The user's Google bridge changed state.
    Google,
    /// Something may have been missed: re-read everything shown.
    Resync,
}

/// One user's reach, kept up to date as sharing changes.
pub struct Watch {
    user: User,
    labels: HashSet<String>,
    invitations: usize,
}

impl Service {
    /// The bus from just after event `since` (an event stream's Last-Event-ID) or from now, and the user's reach
    /// read after subscribing, so nothing committed in between is missed.
    pub async fn watch(&self, user: &User, since: Option<&str>) -> Result<(Numbered, Watch)> {
        let sub = self.store.subscribe_since(since);
        let (labels, invitations) = self.reach_of(user).await?;
        Ok((sub, Watch { user: user.clone(), labels, invitations }))
    }

    async fn reach_of(&self, user: &User) -> Result<(HashSet<String>, usize)> {
        let labels = self.label_views(user, false).await?.into_iter().map(|v| v.segment).collect();
        Ok((labels, self.invitations(user).await?.len()))
    }

    /// What `event` tells this user, if anything. Card events are decided from what is known; events that may
    /// change the user's reach re-read it (one or two queries, and those events are rare).
    pub async fn notices(&self, watch: &mut Watch, event: &Event) -> Result<Vec<Notice>> {
        Ok(match event {
            Event::Cards { owners, labels, .. } => {
                let my_contacts = owners.contains(&watch.user.id);
                let labels: Vec<String> = labels.iter().filter(|l| watch.labels.contains(*l)).cloned().collect();
                if my_contacts || !labels.is_empty() {
                    vec![Notice::Contacts { my_contacts, labels }]
                } else {
                    Vec::new()
                }
            }
            Event::Label { label_id, owner_id } => {
                if *owner_id == watch.user.id || watch.labels.contains(label_id) {
                    self.rewatch(watch).await?;
                    vec![Notice::Labels]
                } else {
                    Vec::new()
                }
            }
            Event::Sharing { .. } | Event::Directory => {
                let before = (watch.labels.clone(), watch.invitations);
                self.rewatch(watch).await?;
                let mut out = Vec::new();
                if watch.labels != before.0
                    || matches!(event, Event::Sharing { label_id } if watch.labels.contains(label_id))
                {
                    out.push(Notice::Labels);
                }
                if watch.invitations != before.1 {
                    out.push(Notice::Invitations(watch.invitations));
                }
                out
            }
            Event::Book { owner_id } if *owner_id == watch.user.id => vec![Notice::Labels],
            Event::Book { .. } => Vec::new(),
            Event::Account { user_id } if *user_id == watch.user.id => vec![Notice::Account],
            Event::Account { .. } => Vec::new(),
            Event::Google { user_id } if *user_id == watch.user.id => vec![Notice::Google],
            Event::Google { .. } => Vec::new(),
            Event::Resync => {
                self.rewatch(watch).await?;
                vec![Notice::Resync]
            }
        })
    }

    async fn rewatch(&self, watch: &mut Watch) -> Result<()> {
        let (labels, invitations) = self.reach_of(&watch.user).await?;
        watch.labels = labels;
        watch.invitations = invitations;
        Ok(())
    }
}
