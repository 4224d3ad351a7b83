//! Contacts by id, as the API and the dashboard use them: browse and search a book by name, read one, and
//! create, change or delete one from its JSON fields. The cards are the same the CardDAV side serves: the same
//! access checks (`BookView`), the same hidden-field filtering and merging, the same writer.

use super::access::Action;
use super::{BookView, Result, Service, ServiceError};
use crate::store::{Adopt, Card, PageCursor, Precondition};
use crate::vcard::{self, json};

/// One page of a book's contacts, and where the next one starts.
#[derive(Debug)]
pub struct ContactPage {
    pub contacts: Vec<Card>,
    pub next: Option<PageCursor>,
}

/// Most contacts one page holds; the dashboard asks for 100.
pub const MAX_PAGE: i64 = 500;

/// Most cards one page of a search examines for a user from whom fields are hidden.
const MAX_EXAMINED: i64 = 10 * MAX_PAGE;

/// Whether `card`, as the user reads it, matches a search.
fn visible_match(card: &Card, needle_lower: &str) -> bool {
    vcard::parse(&card.vcard).is_ok_and(|v| v.indexed().matches(needle_lower))
}

impl Service {
    /// Contacts of a book in `after.order` after `after`, those matching `needle` (name, e-mail, phone,
    /// organization) when it is not empty. One query per page.
    pub async fn search_contacts(
        &self,
        view: &BookView,
        needle: &str,
        after: &PageCursor,
        limit: i64,
    ) -> Result<ContactPage> {
        view.require(Action::Read)?;
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ServiceError::Invalid(format!("limit is 1 to {MAX_PAGE}")));
        }
        if needle.chars().count() > 200 {
            return Err(ServiceError::Invalid("a search is at most 200 characters".into()));
        }
        let needle_lower = needle.trim().to_lowercase();
        // The store matches every field it indexes, hidden ones included; a user from whom fields are hidden must
        // find only what they can read (or a search would rebuild a hidden number digit by digit), so the store's
        // answer is only a first cut for them, and each card is matched again as they see it.
        let screen = view.hiding() && !needle_lower.is_empty();
        let batch = if screen { MAX_PAGE } else { limit + 1 };
        let mut found: Vec<(PageCursor, Card)> = Vec::new();
        let mut cursor = after.clone();
        let mut examined = 0;
        let more = loop {
            let rows = self.store.search_cards(&view.book, needle, &cursor, batch).await?;
            let fetched = rows.len() as i64;
            examined += fetched;
            for (at, card) in rows {
                cursor = at.clone();
                let card = view.present(card, true);
                if screen && !visible_match(&card, &needle_lower) {
                    continue;
                }
                found.push((at, card));
                if found.len() as i64 > limit {
                    break;
                }
            }
            if found.len() as i64 > limit {
                found.truncate(limit as usize);
                cursor = found.last().map(|(at, _)| at.clone()).unwrap_or(cursor);
                break true;
            }
            if fetched < batch {
                break false;
            }
            // A page stays a bounded amount of work: past this, it ends early and the cursor continues after the
            // last card examined.
            if examined >= MAX_EXAMINED {
                break true;
            }
        };
        let next = more.then_some(cursor);
        let contacts = found.into_iter().map(|(_, c)| c).collect();
        Ok(ContactPage { contacts, next })
    }

    /// Contacts of a book among `ids` (at most `MAX_PAGE`), as this user reads them, in the order asked; ids
    /// not in the book are left out. One query.
    pub async fn contacts_by_ids(&self, view: &BookView, ids: &[i64]) -> Result<Vec<Card>> {
        view.require(Action::Read)?;
        if view.combined.is_some() {
            return Err(super::field("book", "name My contacts or a label"));
        }
        if ids.len() > MAX_PAGE as usize {
            return Err(ServiceError::Invalid(format!("at most {MAX_PAGE} ids at once")));
        }
        let mut by_id: std::collections::HashMap<i64, Card> =
            self.store.cards_by_ids(&view.book, ids).await?.into_iter().map(|c| (c.meta.contact_id, c)).collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).map(|c| view.present(c, true)).collect())
    }

    /// One contact of a book, as this user reads it.
    pub async fn contact(&self, view: &BookView, contact_id: i64) -> Result<Card> {
        view.require(Action::Read)?;
        let card = self.store.card_by_id(&view.book, contact_id).await?.ok_or(ServiceError::NotFound)?;
        Ok(view.present(card, true))
    }

    /// A new contact in the book from its fields; in a label it becomes the label owner's contact.
    pub async fn create_contact(&self, view: &BookView, patch: &json::Patch) -> Result<Card> {
        let uid = uuid::Uuid::new_v4().hyphenated().to_string();
        let bytes = json::apply(None, &uid, patch).map_err(ServiceError::Field)?;
        let href = format!("{uid}.vcf");
        let pre = Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) };
        self.put_card(view, &href, &bytes, &pre).await?;
        self.get_card(view, &href, true).await
    }

    /// Changes the fields a patch names, keeping everything else of the card. `if_match`, when given, must name
    /// the ETag this user last read; the write itself is always conditional on the card read here, so a
    /// concurrent change is a 412, never overwritten.
    pub async fn update_contact(
        &self,
        view: &BookView,
        contact_id: i64,
        patch: &json::Patch,
        if_match: Option<&[String]>,
    ) -> Result<Card> {
        let current = self.contact(view, contact_id).await?;
        if let Some(tags) = if_match
            && !tags.iter().any(|t| t == "*" || *t == current.meta.etag)
        {
            return Err(ServiceError::PreconditionFailed);
        }
        let card = read_for_edit(&current.vcard)?;
        let edited = json::apply(Some(&card), "", patch).map_err(ServiceError::Field)?;
        // An edit that changes nothing writes nothing, so no device downloads a card nobody changed (a 2.1
        // card is read as 3.0: unchanged, it stays 2.1); lines an edit leaves keep their bytes.
        if vcard::parse(&edited).is_ok_and(|e| e.props == card.props) {
            return Ok(current);
        }
        let bytes = vcard::splice(&current.vcard, &edited);
        let pre = Precondition { if_match: Some(vec![current.meta.etag.clone()]), if_none_match: None };
        self.put_card(view, &current.meta.href, &bytes, &pre).await?;
        self.contact(view, contact_id).await
    }

    /// Puts contacts the user can see in `from` (My contacts, or a label they read) on `label`, in one group
    /// commit, each id answered on its own: the label's contact id, or why not.
    /// - A contact already belonging to the label's owner (their own, or read through another of their labels)
    ///   is itself put on the label: one contact, now carrying one more label.
    /// - Anyone else's goes in as a copy, as the user reads it (what is hidden from them stays out), and the
    ///   copy becomes the label owner's contact, as a card their device adds to a shared book would.
    pub async fn add_to_label(
        &self,
        label: &BookView,
        from: &BookView,
        contact_ids: &[i64],
    ) -> Result<Vec<(i64, Result<i64>)>> {
        if label.segment == super::MY_CONTACTS {
            return Err(super::field("contact_ids", "every contact is in My contacts already"));
        }
        if from.combined.is_some() || label.combined.is_some() {
            return Err(super::field("from", "add from My contacts or a label"));
        }
        label.require(Action::AddCard)?;
        from.require(Action::Read)?;
        if contact_ids.is_empty() || contact_ids.len() > MAX_PAGE as usize {
            return Err(super::field("contact_ids", format!("1 to {MAX_PAGE} contact ids")));
        }
        let mut ids = contact_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let found = self.store.cards_by_ids(&from.book, &ids).await?;
        let same_owner = from.owner.id == label.owner.id;
        let pre = Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) };
        // A contact goes in under a name of its own, so it can never land on (and overwrite) a card already
        // there; the owner's own contact from My contacts keeps its name there, as clients expect.
        let fresh = || format!("{}.vcf", uuid::Uuid::new_v4());
        let own_name = same_owner && from.segment == super::MY_CONTACTS;
        let cards: Vec<(String, Vec<u8>)> = if same_owner {
            // The stored bytes, unfiltered: the writer puts the owner's contact of that UID on the label as it is
            // (if it changed since this read, it fails rather than write these back), so nothing hidden from the
            // user is lost or shown.
            found.iter().map(|c| (if own_name { c.meta.href.clone() } else { fresh() }, c.vcard.clone())).collect()
        } else {
            found.iter().map(|c| (fresh(), from.present(c.clone(), true).vcard)).collect()
        };
        let adopt = if same_owner { Adopt::Unchanged } else { Adopt::No };
        let answers = self.write_batch(label, &cards, &pre, adopt).await?;
        let mut by_id: std::collections::HashMap<i64, Result<String>> = found
            .iter()
            .zip(cards)
            .zip(answers)
            .map(|((c, (href, _)), a)| (c.meta.contact_id, a.map(|_| href)))
            .collect();
        // The label's contact behind each new name, in one multiget (a copy is a new contact).
        let added: Vec<String> = by_id.values().filter_map(|a| a.as_ref().ok().cloned()).collect();
        let on_label: std::collections::HashMap<String, i64> = self
            .store
            .get_cards(&label.book, &added, false)
            .await?
            .into_iter()
            .map(|c| (c.meta.href, c.meta.contact_id))
            .collect();
        let mut out = Vec::with_capacity(contact_ids.len());
        let mut seen = std::collections::HashSet::new();
        for id in contact_ids {
            if !seen.insert(*id) {
                continue;
            }
            let answer = match by_id.remove(id) {
                None => Err(ServiceError::NotFound),
                Some(Err(ServiceError::PreconditionFailed | ServiceError::UidConflict(_))) if same_owner => {
                    Err(ServiceError::Conflict("already on this label".into()))
                }
                Some(Err(ServiceError::PreconditionFailed | ServiceError::UidConflict(_))) => {
                    Err(ServiceError::Conflict(
                        "the label's owner already has a contact with the same UID; add theirs instead".into(),
                    ))
                }
                Some(Err(e)) => Err(e),
                Some(Ok(href)) => on_label.get(&href).copied().ok_or(ServiceError::NotFound),
            };
            out.push((*id, answer));
        }
        Ok(out)
    }

    /// The labels carrying a contact of `view` that `user` can open (id, name), by name: what its card shows.
    /// Labels they cannot open are not named.
    pub async fn labels_of_contact(
        &self,
        user: &crate::store::User,
        view: &BookView,
        contact_id: i64,
    ) -> Result<Vec<(String, String)>> {
        self.contact(view, contact_id).await?;
        let carrying: std::collections::HashSet<String> =
            self.store.contact_labels(contact_id).await?.into_iter().collect();
        let mut out: Vec<(String, String)> = self
            .label_views(user, false)
            .await?
            .into_iter()
            .filter(|v| carrying.contains(&v.segment))
            .map(|v| (v.segment, v.displayname))
            .collect();
        out.sort_by_key(|(_, name)| name.to_lowercase());
        Ok(out)
    }

    /// Deletes a contact (My contacts: to the trash) or removes it from a label, as DELETE does over CardDAV.
    pub async fn delete_contact(&self, view: &BookView, contact_id: i64, pre: &Precondition) -> Result<()> {
        let current = self.contact(view, contact_id).await?;
        self.delete_card(view, &current.meta.href, pre).await.map(|_| ())
    }
}

/// The card's parsed form for reading or editing its fields, its values decoded: quoted-printable and legacy
/// charsets (which 3.0 cards from old phones carry too) by rewriting the card, a 2.1 card as 3.0 (an edited
/// 2.1 card is written back as 3.0).
pub fn read_for_edit(bytes: &[u8]) -> Result<vcard::VCard> {
    vcard::decoded(bytes).map_err(ServiceError::InvalidCard)
}
