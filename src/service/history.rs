//! Who changed what: a contact's history (every earlier version, with who replaced it and when) and a label's
//! activity log.

use super::access::Action;
use super::{BookView, Result, Service, ServiceError, etag_of};
use crate::store::{Activity, HistoryEntry, User};
use crate::vcard::hide;

/// At most this many activity entries per read.
pub const MAX_ACTIVITY_PAGE: i64 = 1000;

impl Service {
    /// A contact's history, newest first, for its owner or anyone who can read a label it carries. Earlier
    /// versions are shown as that user reads the contact: without what is hidden from them. A contact in the
    /// trash is its owner's alone.
    pub async fn contact_history(&self, user: &User, contact_id: i64) -> Result<Vec<HistoryEntry>> {
        let place = self.store.contact_place(contact_id).await?.ok_or(ServiceError::NotFound)?;
        let mut entries = self.store.contact_history(contact_id).await?;
        if place.owner_id == user.id {
            return Ok(entries);
        }
        if place.deleted {
            return Err(ServiceError::NotFound);
        }
        let mut views: Vec<BookView> = Vec::new();
        for label_id in &place.label_ids {
            match self.open_book_anywhere(user, label_id).await {
                Ok(view) if view.allows(Action::Read) => views.push(view),
                Ok(_) | Err(ServiceError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        if views.is_empty() {
            return Err(ServiceError::NotFound);
        }
        // Through several labels, a property is hidden only if every one of them hides it.
        if views.iter().all(|v| v.hiding()) {
            let hides = |p: &crate::vcard::Property| views.iter().all(|v| v.hides(p));
            for e in &mut entries {
                if let Some((bytes, etag)) = &mut e.previous
                    && let Some(filtered) = hide::filter(bytes, &hides)
                {
                    *etag = etag_of(&filtered);
                    *bytes = filtered;
                }
            }
        }
        Ok(entries)
    }

    /// The contact id of the card at `href` in a book, for reaching its history from a CardDAV name.
    pub async fn contact_id_at(&self, view: &BookView, href: &str) -> Result<i64> {
        Ok(self.get_card(view, href, false).await?.meta.contact_id)
    }

    /// A label's activity, newest first, for anyone who can read the label: up to `limit` entries (at most
    /// `MAX_ACTIVITY_PAGE`) older than the entry `before`.
    pub async fn label_activity(
        &self,
        user: &User,
        label_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Activity>> {
        let view = self.open_book_anywhere(user, label_id).await?;
        view.require(Action::Read)?;
        if !(1..=MAX_ACTIVITY_PAGE).contains(&limit) {
            return Err(ServiceError::Invalid(format!("a page of activity is 1 to {MAX_ACTIVITY_PAGE} entries")));
        }
        Ok(self.store.label_activity(label_id, before, limit).await?)
    }
}
