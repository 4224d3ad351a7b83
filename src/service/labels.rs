//! Labels as the dashboard lists them: every label a user can open (their own, and those shared with them and
//! accepted, whether or not they sync to devices), with the user's level and the contact counts.

use super::access::{Action, Level};
use super::{BookView, Result, Service, ServiceError, field};
use crate::store::{Book, Grant, GrantChange, User};

/// An invitation waiting for a user, with what they need to decide.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub grant: Grant,
    pub label_name: String,
    pub owner_email: String,
    /// Who invited them, when that account still exists.
    pub invited_by: Option<String>,
}

/// A label as one user sees it.
#[derive(Debug, Clone)]
pub struct LabelSummary {
    pub view: BookView,
    pub count: i64,
    /// Shared with someone: the user's own label with a collaborator (invited or accepted), or anyone else's.
    pub shared: bool,
}

impl Service {
    /// My contacts and every label the user can open, own labels first, each by name; counts and whether each
    /// is shared in three queries.
    pub async fn labels_for(&self, user: &User) -> Result<(LabelSummary, Vec<LabelSummary>)> {
        let views = self.label_views(user, false).await?;
        let ids: Vec<String> = views.iter().map(|v| v.segment.clone()).collect();
        let (mine, counts) = self.store.count_cards(user.id, &ids).await?;
        let own: Vec<String> = views.iter().filter(|v| v.owner.id == user.id).map(|v| v.segment.clone()).collect();
        let shared = self.store.shared_labels(&own).await?;
        let my = LabelSummary { view: Self::my_contacts(user), count: mine, shared: false };
        let labels = views
            .into_iter()
            .map(|view| {
                let count = counts.get(&view.segment).copied().unwrap_or(0);
                let shared = view.owner.id != user.id || shared.contains(&view.segment);
                LabelSummary { view, count, shared }
            })
            .collect();
        Ok((my, labels))
    }

    /// One label (or My contacts) as the user sees it, with its count.
    pub async fn label_summary(&self, user: &User, segment: &str) -> Result<LabelSummary> {
        let view = self.open_book_anywhere(user, segment).await?;
        let ids: Vec<String> = match &view.book {
            Book::Label { label_id } => vec![label_id.clone()],
            Book::MyContacts { .. } | Book::Combined { .. } => Vec::new(),
        };
        let (mine, counts) = self.store.count_cards(user.id, &ids).await?;
        let count = match &view.book {
            Book::Label { label_id } => counts.get(label_id).copied().unwrap_or(0),
            Book::MyContacts { .. } | Book::Combined { .. } => mine,
        };
        let shared = match &view.book {
            Book::Label { .. } => view.owner.id != user.id || !self.store.shared_labels(&ids).await?.is_empty(),
            Book::MyContacts { .. } | Book::Combined { .. } => false,
        };
        Ok(LabelSummary { view, count, shared })
    }

    /// The user's pending invitations, each with its label's name, owner and inviter.
    pub async fn pending_invitations(&self, user: &User) -> Result<Vec<Invitation>> {
        let mut out = Vec::new();
        let mut names: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
        for grant in self.invitations(user).await? {
            let Some(label) = self.store.label(&grant.label_id).await? else { continue };
            for id in std::iter::once(label.owner_id).chain(grant.invited_by) {
                if !names.contains_key(&id)
                    && let Some(u) = self.store.user_by_id(id).await?
                {
                    names.insert(id, u.email);
                }
            }
            out.push(Invitation {
                owner_email: names.get(&label.owner_id).cloned().unwrap_or_default(),
                invited_by: grant.invited_by.and_then(|id| names.get(&id).cloned()),
                label_name: label.name,
                grant,
            });
        }
        Ok(out)
    }

    /// Changes a book's name and description and the user's own device toggle on it, all checked before any is
    /// written: renaming is the owner's, describing needs share level, the toggle is a collaborator's.
    pub async fn update_label(
        &self,
        user: &User,
        segment: &str,
        name: Option<&str>,
        description: Option<&str>,
        sync_devices: Option<bool>,
    ) -> Result<()> {
        let view = self.open_book_anywhere(user, segment).await?;
        if name.is_some() || description.is_some() {
            view.require(Action::WriteProperties)?;
        }
        if name.is_some() && matches!(view.book, Book::Label { .. }) {
            view.require(Action::Administer)?;
        }
        let toggle = match sync_devices {
            Some(on) => {
                if view.allows(Action::Administer) {
                    return Err(field("sync_devices", "your own labels and My contacts always sync to your devices"));
                }
                let grants = self.reaching_on(user, segment).await?;
                let grant = grants.iter().find(|g| g.status == "accepted").ok_or(ServiceError::NotFound)?;
                Some((grant.id, on))
            }
            None => None,
        };
        if name.is_some() || description.is_some() {
            self.set_book_props(&view, name, description, &[]).await?;
        }
        if let Some((grant_id, on)) = toggle {
            self.set_devices(user, grant_id, on).await?;
        }
        Ok(())
    }

    /// Shares a label, hiding `hidden` from the new grantee from the start. Hiding is the owner's: that is
    /// checked before the grant is made, so a refusal leaves no grant behind. An invitation mailed to the
    /// grantee links to `origin` unless a public address is set.
    pub async fn share_hiding(&self, actor: &User, label_id: &str, share: &Share<'_>) -> Result<Grant> {
        let Share { grantee, level, sync_devices, hidden, origin } = *share;
        if !hidden.is_empty() {
            let view = self.open_book_anywhere(actor, label_id).await?;
            view.require(Action::Administer)?;
            crate::vcard::hide::HiddenFields::parse(hidden).map_err(|m| field("hidden_fields", m))?;
        }
        let mut grant = self.share_quietly(actor, label_id, grantee, level, sync_devices).await?;
        if !hidden.is_empty() {
            grant = self.change_grant(actor, grant.id, None, Some(hidden), None).await?;
        }
        self.mail_new_grant(actor, &grant, origin).await;
        Ok(grant)
    }

    /// Changes a grant's level and hidden fields together, in one write: both permissions (a manager within their
    /// level; the owner for hidden fields) and both values are checked before it. With `if_match`, the grant
    /// must still be one of those versions (`Grant::version`).
    pub async fn change_grant(
        &self,
        actor: &User,
        grant_id: i64,
        level: Option<Level>,
        hidden: Option<&[String]>,
        if_match: Option<&[String]>,
    ) -> Result<Grant> {
        let grant = self.manageable(actor, grant_id, level).await?;
        let hidden_json = match hidden {
            Some(items) => {
                let view = self.open_book_anywhere(actor, &grant.label_id).await?;
                if !view.allows(Action::Administer) {
                    return Err(ServiceError::Forbidden(Action::Administer));
                }
                let parsed = crate::vcard::hide::HiddenFields::parse(items).map_err(|m| field("hidden_fields", m))?;
                Some(serde_json::to_string(&parsed.items()).map_err(|e| ServiceError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        let change = GrantChange {
            level: level.map(Level::as_str),
            hidden_fields: hidden_json.as_deref(),
            ..Default::default()
        };
        self.change_decided_on(&grant, if_match, change).await
    }
}

/// What a share through the API asks for.
#[derive(Clone, Copy)]
pub struct Share<'a> {
    pub grantee: &'a super::Grantee,
    pub level: Level,
    pub sync_devices: bool,
    /// Properties hidden from the grantee from the start (the owner's to decide).
    pub hidden: &'a [String],
    /// Where the request came to, for links in a mailed invitation when no public address is set.
    pub origin: Option<&'a str>,
}
