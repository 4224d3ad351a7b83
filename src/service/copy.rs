//! COPY and MOVE of a card between the books of one home (RFC 4918 §9.8, §9.9), in the label model: a card in
//! several books is one contact with several labels, so copying puts the contact on another label, moving takes
//! it off the first, and nothing is duplicated that the model keeps once.

use super::access::Action;
use super::{BookView, MY_CONTACTS, Result, Service, ServiceError, validate_href};
use crate::store::{Adopt, Precondition};
use crate::vcard;

/// What a copy or a move is asked to do, beyond its two ends.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// RFC 4918 §10.6 Overwrite: whether an existing destination may be replaced.
    pub overwrite: bool,
    /// Conditions on the source (If-Match, If-None-Match), as its reader sees its ETag.
    pub source: Precondition,
    /// A move: the card leaves the source book.
    pub remove_source: bool,
}

impl Service {
    /// Copies (or moves) the card `name` of `from` to `to_name` in `to`; returns whether the destination was
    /// created (201) rather than replaced (204). Every check is made before anything is written:
    /// - reading the source, adding to (or, for an existing destination, editing in) the destination, and for a
    ///   move taking it out of the source, each at the reader's level on that book;
    /// - the source's preconditions; an existing destination only with Overwrite, and only when it holds the same
    ///   card (its UID): a card's UID never changes at a name (RFC 6352 §6.3.2.1);
    /// - between books of one owner the contact itself goes on the destination label (the bytes it has, hidden
    ///   fields and all); into another owner's book goes a copy of what the reader sees.
    ///
    /// A move out of My contacts into one of the owner's labels keeps the contact in My contacts (every contact
    /// is there: the label is a view of it); out of a label it leaves that label only.
    pub async fn copy_card(
        &self,
        from: &BookView,
        name: &str,
        to: &BookView,
        to_name: &str,
        how: &Transfer,
    ) -> Result<bool> {
        validate_href(to_name)?;
        if from.combined.is_some() || to.combined.is_some() {
            return Err(ServiceError::Refused(
                "copy or move cards between My contacts and labels; the combined book is read-only for this".into(),
            ));
        }
        if from.segment == to.segment {
            // RFC 4918 §9.8.5 (the same resource), or a rename: a card keeps its name in a book, as clients expect
            // of the names they chose.
            return Err(ServiceError::Refused(
                "a card is copied or moved to another address book; within one it keeps its name".into(),
            ));
        }
        from.require(Action::Read)?;
        if how.remove_source {
            from.require(Action::RemoveCard)?;
        }
        to.require(Action::AddCard)?;
        let seen = self.get_card(from, name, true).await?;
        if !how.source.holds(Some(&seen.meta.etag)) {
            return Err(ServiceError::PreconditionFailed);
        }
        let stored = self.store.get_card(&from.book, name, true).await?.ok_or(ServiceError::NotFound)?;
        let uid = vcard::parse(&stored.vcard).map_err(ServiceError::InvalidCard)?.indexed().uid;
        let same_owner = from.owner.id == to.owner.id;
        let existing = self.store.get_card(&to.book, to_name, true).await?;
        if let Some(there) = &existing {
            if !how.overwrite {
                return Err(ServiceError::PreconditionFailed);
            }
            let there_uid = vcard::parse(&there.vcard).map(|c| c.indexed().uid).unwrap_or_default();
            if there_uid != uid {
                return Err(ServiceError::UidChanged);
            }
            to.require(Action::EditCard)?;
        }
        let created = match existing {
            // Already this contact (one owner's card in two of their books): nothing to copy.
            Some(there) if same_owner && there.meta.contact_id == stored.meta.contact_id => false,
            // The same card, another owner's copy of it: replaced by what the reader sees, as a PUT would.
            Some(there) => {
                let pre =
                    Precondition { if_match: Some(vec![to.present(there, false).meta.etag]), if_none_match: None };
                self.put_card(to, to_name, &seen.vcard, &pre).await?;
                false
            }
            None => {
                let (bytes, adopt) =
                    if same_owner { (stored.vcard.clone(), Adopt::Unchanged) } else { (seen.vcard.clone(), Adopt::No) };
                let pre = Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) };
                let answer = self.write_batch(to, &[(to_name.to_string(), bytes)], &pre, adopt).await?;
                match answer.into_iter().next() {
                    Some(Ok(_)) => true,
                    // A collaborator's copy must not name the owner's other contact.
                    Some(Err(ServiceError::UidConflict(_))) if !to.allows(Action::Administer) => {
                        return Err(ServiceError::UidConflict(String::new()));
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err(ServiceError::NotFound),
                }
            }
        };
        let stays = same_owner && from.segment == MY_CONTACTS;
        if how.remove_source && !stays {
            let pre = Precondition { if_match: Some(vec![seen.meta.etag.clone()]), if_none_match: None };
            self.delete_card(from, name, &pre).await?;
        }
        Ok(created)
    }
}
