//! The combined book `all/`: macOS reads only the first book of an account, so an app password
//! with the "single" layout sees one book holding every contact the user can see once, plus one group card per
//! label (Apple Contacts shows them as groups). Reads come from the store's combined queries; each card shows
//! as the best label that carries it shows it (highest level, then fewest hidden fields). Writes go to the
//! book that holds the card, with that book's rules: the user's own contacts to My contacts, others' to their
//! label, and a group card's members to label memberships.

use super::access::{Action, Level};
use super::{BookView, Result, Service, ServiceError, etag_of};
use crate::store::combined::{GROUP_PREFIX, SHARED_PREFIX, shared_id};
use crate::store::{Book, Card, CardMeta, Precondition, PutOutcome, User};
use crate::vcard::hide::HiddenFields;
use crate::vcard::{self, group};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// The combined book's segment in a home.
pub const COMBINED: &str = "all";
/// Group cards come after every contact in a listing: their page positions start here.
const GROUP_POSITION: i64 = i64::MAX / 2;

/// What the combined book shows through each label.
#[derive(Debug)]
pub struct Combined {
    /// Each label with a group card (the user's own and shared ones), best first.
    labels: Vec<LabelSource>,
    /// A digest of which labels are shown at what level with what hidden: part of the sync token, so a change
    /// of reach (a share accepted or revoked, a toggle, a level) makes clients start again.
    pub reach: String,
}

#[derive(Debug)]
struct LabelSource {
    view: BookView,
    name: String,
}

impl Combined {
    pub fn hides_any(&self) -> bool {
        self.labels.iter().any(|l| !l.view.hidden.is_empty())
    }

    pub fn hidden_on(&self, label: &str) -> &[HiddenFields] {
        self.labels.iter().find(|l| l.view.segment == label).map(|l| l.view.hidden.as_slice()).unwrap_or(&[])
    }

    /// Each label shown (id, name), best first: what a mirror of the book makes a group of.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|l| (l.view.segment.as_str(), l.name.as_str()))
    }

    fn source(&self, label: &str) -> Option<&LabelSource> {
        self.labels.iter().find(|l| l.view.segment == label)
    }
}

fn group_href(label_id: &str) -> String {
    format!("{GROUP_PREFIX}{label_id}.vcf")
}

fn group_label(href: &str) -> Option<&str> {
    href.strip_prefix(GROUP_PREFIX)?.strip_suffix(".vcf")
}

impl Service {
    /// The combined book of `user`: My contacts and every label that syncs to their devices.
    pub async fn open_combined(&self, user: &User) -> Result<BookView> {
        let mut views = self.label_views(user, true).await?;
        // Best first: the label a contact is shown (and written) through when several carry it.
        views.sort_by(|a, b| {
            b.level.cmp(&a.level).then(a.hidden.len().cmp(&b.hidden.len())).then(a.segment.cmp(&b.segment))
        });
        let mut digest = Sha256::new();
        for v in &views {
            digest.update(format!("{}|{}|{:?}\n", v.segment, v.level, v.hidden).as_bytes());
        }
        let reach: String = digest.finalize()[..6].iter().map(|b| format!("{b:02x}")).collect();
        let shared: Vec<String> = views.iter().filter(|v| v.owner.id != user.id).map(|v| v.segment.clone()).collect();
        let labels_ids: Vec<String> = views.iter().map(|v| v.segment.clone()).collect();
        let labels = views.into_iter().map(|v| LabelSource { name: v.displayname.clone(), view: v }).collect();
        Ok(BookView {
            book: Book::Combined { owner_id: user.id, shared, labels: labels_ids },
            segment: COMBINED.to_string(),
            owner: user.clone(),
            viewer_id: user.id,
            // Cards are read, written, added and removed here, each within the level of the book holding it;
            // the collection itself cannot be renamed, shared or deleted.
            level: Level::Delete,
            displayname: "All contacts".into(),
            description: "Every contact you can see, with your labels as groups".into(),
            hidden: Vec::new(),
            on_devices: true,
            combined: Some(Arc::new(Combined { labels, reach })),
        })
    }

    /// Group cards of the combined book for `labels` (all when `None`), with their members' UIDs; without
    /// their bytes unless `with_data` (the ETag is always that of the bytes).
    pub(super) async fn group_cards(
        &self,
        view: &BookView,
        only: Option<&[&str]>,
        with_data: bool,
    ) -> Result<Vec<Card>> {
        let Some(c) = &view.combined else { return Ok(Vec::new()) };
        let wanted: Vec<&LabelSource> =
            c.labels.iter().filter(|l| only.is_none_or(|o| o.contains(&l.view.segment.as_str()))).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = wanted.iter().map(|l| l.view.segment.clone()).collect();
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for (label, uid) in self.store.member_uids(&ids).await? {
            members.entry(label).or_default().push(uid);
        }
        let states = self.store.label_modseqs(&ids).await?;
        Ok(wanted
            .iter()
            .map(|l| {
                let id = &l.view.segment;
                let bytes = group::group_card(id, &l.name, members.get(id).map(Vec::as_slice).unwrap_or(&[]));
                let modseq = states.get(id).copied().unwrap_or(0);
                Card {
                    meta: CardMeta {
                        contact_id: 0,
                        href: group_href(id),
                        etag: etag_of(&bytes),
                        size: bytes.len() as i64,
                        updated_at: 0,
                        modseq,
                        via: None,
                    },
                    vcard: if with_data { bytes } else { Vec::new() },
                }
            })
            .collect())
    }

    /// A listing page of the combined book: contacts, then (after the last) the group cards.
    pub(super) async fn combined_page(
        &self,
        view: &BookView,
        with_data: bool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Card)>> {
        let mut page = if after < GROUP_POSITION {
            self.store.list_cards_page(&view.book, view.needs_data(with_data), after, limit).await?
        } else {
            Vec::new()
        };
        page = page.into_iter().map(|(k, c)| (k, view.present(c, with_data))).collect();
        if (page.len() as i64) < limit {
            let groups = self.group_cards(view, None, with_data).await?;
            let start = if after >= GROUP_POSITION { (after - GROUP_POSITION + 1) as usize } else { 0 };
            let room = (limit as usize).saturating_sub(page.len());
            for (i, g) in groups.into_iter().enumerate().skip(start).take(room) {
                page.push((GROUP_POSITION + i as i64, g));
            }
        }
        Ok(page)
    }

    /// The group cards among `hrefs` (a multiget or GET in the combined book).
    pub(super) async fn requested_groups(
        &self,
        view: &BookView,
        hrefs: &[String],
        with_data: bool,
    ) -> Result<Vec<Card>> {
        let groups: Vec<&str> = hrefs.iter().filter_map(|h| group_label(h)).collect();
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        self.group_cards(view, Some(&groups), with_data).await
    }

    /// The group cards of labels that changed after `since` (and, when the delta was cut at `bound`, not after
    /// it): only those are made, reading their members, not every group.
    pub(super) async fn changed_groups(
        &self,
        view: &BookView,
        since: i64,
        bound: i64,
        with_data: bool,
    ) -> Result<Vec<Card>> {
        let Book::Combined { labels, .. } = &view.book else { return Ok(Vec::new()) };
        let modseqs = self.store.label_modseqs(labels).await?;
        let changed: Vec<&str> =
            modseqs.iter().filter(|(_, m)| **m > since && **m <= bound).map(|(l, _)| l.as_str()).collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        self.group_cards(view, Some(&changed), with_data).await
    }

    /// A PUT into the combined book, to the book that holds the card.
    pub(super) async fn combined_put(
        &self,
        view: &BookView,
        href: &str,
        body: &[u8],
        pre: &Precondition,
    ) -> Result<PutOutcome> {
        let Some(c) = view.combined.clone() else { return Err(ServiceError::NotFound) };
        if let Some(label) = group_label(href) {
            return self.put_group(view, &c, label, body, pre).await;
        }
        if let Some(id) = shared_id(href) {
            let (label_view, label_href) = self.holder(view, &c, id).await?;
            return self.put_card(&label_view, &label_href, body, pre).await;
        }
        if href.starts_with(SHARED_PREFIX) || href.starts_with(GROUP_PREFIX) {
            return Err(ServiceError::Invalid(format!(
                "names starting with {SHARED_PREFIX} or {GROUP_PREFIX} are the server's"
            )));
        }
        let (card, _) = vcard::validate(body, self.limits.max_properties).map_err(ServiceError::InvalidCard)?;
        if group::is_group(&card) {
            return Err(ServiceError::Refused(
                "a new group here is not a label yet: make labels in the dashboard, then fill them from Contacts"
                    .into(),
            ));
        }
        self.put_card(&Self::my_contacts(&view.owner), href, body, pre).await
    }

    /// A DELETE in the combined book: the user's own contact is deleted (as in My contacts); a shared contact
    /// leaves every label that shows it here, which needs delete level on each; a group card cannot be deleted.
    pub(super) async fn combined_delete(&self, view: &BookView, href: &str, pre: &Precondition) -> Result<i64> {
        let Some(c) = view.combined.clone() else { return Err(ServiceError::NotFound) };
        if group_label(href).is_some() {
            return Err(ServiceError::Refused("a label is deleted in the dashboard, not from Contacts".into()));
        }
        let Some(id) = shared_id(href) else {
            return self.delete_card(&Self::my_contacts(&view.owner), href, pre).await;
        };
        let holders = self.holders(view, &c, id).await?;
        if holders.is_empty() {
            return Err(ServiceError::NotFound);
        }
        if holders.iter().any(|(v, _)| !v.allows(Action::RemoveCard)) {
            return Err(ServiceError::Forbidden(Action::RemoveCard));
        }
        // The precondition is about the card as shown here: through the first (best) holder.
        let (first, first_href) = &holders[0];
        let shown = self.get_card(first, first_href, false).await?;
        if !pre.holds(Some(&shown.meta.etag)) {
            return Err(ServiceError::PreconditionFailed);
        }
        let mut last = 0;
        for (v, h) in &holders {
            last = self.delete_card(v, h, &Precondition::default()).await?;
        }
        Ok(last)
    }

    /// Every shared label shown here that carries contact `id`, best first, with the card's name there.
    async fn holders(&self, view: &BookView, c: &Combined, id: i64) -> Result<Vec<(BookView, String)>> {
        let Book::Combined { shared, .. } = &view.book else { return Ok(Vec::new()) };
        let names = self.store.membership_names(id, shared).await?;
        let mut out = Vec::new();
        for src in &c.labels {
            if let Some((_, href)) = names.iter().find(|(l, _)| *l == src.view.segment) {
                out.push((src.view.clone(), href.clone()));
            }
        }
        Ok(out)
    }

    /// The label a shared contact is shown (and written) through, and its name there.
    async fn holder(&self, view: &BookView, c: &Combined, id: i64) -> Result<(BookView, String)> {
        self.holders(view, c, id).await?.into_iter().next().ok_or(ServiceError::NotFound)
    }

    /// Apple Contacts edited a group: the label's members become the card's, within the user's level (edit to
    /// add, delete to take off), and the owner may rename it. Every permission is checked before anything
    /// changes.
    async fn put_group(
        &self,
        view: &BookView,
        c: &Combined,
        label: &str,
        body: &[u8],
        pre: &Precondition,
    ) -> Result<PutOutcome> {
        let src = c.source(label).ok_or(ServiceError::NotFound)?;
        let (card, _) = vcard::validate(body, self.limits.max_properties).map_err(ServiceError::InvalidCard)?;
        if !group::is_group(&card) {
            return Err(ServiceError::Invalid("this name holds a group card (X-ADDRESSBOOKSERVER-KIND:group)".into()));
        }
        let current =
            self.group_cards(view, Some(&[label]), true).await?.into_iter().next().ok_or(ServiceError::NotFound)?;
        if !pre.holds(Some(&current.meta.etag)) {
            return Err(ServiceError::PreconditionFailed);
        }
        let (name, wanted) = group::read_group(&card);
        let (_, had) =
            group::read_group(&vcard::validate(&current.vcard, usize::MAX).map_err(ServiceError::InvalidCard)?.0);
        let added: Vec<&String> = wanted.iter().filter(|u| !had.contains(u)).collect();
        let removed: Vec<&String> = had.iter().filter(|u| !wanted.contains(u)).collect();
        let renamed = !name.trim().is_empty() && name.trim() != src.name;
        if !added.is_empty() {
            src.view.require(Action::AddCard)?;
        }
        if !removed.is_empty() {
            src.view.require(Action::RemoveCard)?;
        }
        if renamed {
            src.view.require(Action::Administer)?;
        }
        // Members are named by UID: the user's own contact, or one of the label owner's that they read through
        // another label, which is then put on this label itself. A copy of anyone else's would be a second
        // contact with the same UID in this one book, not the one shown.
        let owners_others: Vec<String> = c
            .labels
            .iter()
            .filter(|l| l.view.owner.id == src.view.owner.id && l.view.segment != label)
            .map(|l| l.view.segment.clone())
            .collect();
        let mut sources: Vec<(BookView, Vec<i64>)> = Vec::new();
        for uid in &added {
            let (from, id) = match self.store.own_contact_by_uid(view.owner.id, uid).await? {
                Some(id) => (Service::my_contacts(&view.owner), id),
                None => match self.store.member_by_uid(&owners_others, uid).await? {
                    Some((holder, id)) => (c.source(&holder).ok_or(ServiceError::NotFound)?.view.clone(), id),
                    None => {
                        return Err(ServiceError::Refused(format!(
                            "{uid} is neither one of your contacts nor one of {}'s: only those can be added to this \
                             label from Contacts",
                            src.view.owner.email
                        )));
                    }
                },
            };
            match sources.iter_mut().find(|(v, _)| v.segment == from.segment) {
                Some((_, ids)) => ids.push(id),
                None => sources.push((from, vec![id])),
            }
        }
        let remove_hrefs =
            self.store.member_names_by_uid(label, &removed.iter().map(|s| s.to_string()).collect::<Vec<_>>()).await?;
        if renamed {
            self.rename_label(&view.owner, label, name.trim()).await?;
        }
        for (from, ids) in &sources {
            for (_, r) in self.add_to_label(&src.view, from, ids).await? {
                r?;
            }
        }
        for href in remove_hrefs {
            self.delete_card(&src.view, &href, &Precondition::default()).await?;
        }
        let after =
            self.group_cards(view, Some(&[label]), false).await?.into_iter().next().ok_or(ServiceError::NotFound)?;
        Ok(PutOutcome { created: false, etag: after.meta.etag, modseq: after.meta.modseq })
    }
}
