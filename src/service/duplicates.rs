//! Duplicates: likely pairs among everything a user can read (their contacts and every label shared with
//! them), and merging a pair into one contact with nothing lost, undoable.
//!
//! A contact has one owner and a label's contacts are its owner's (DESIGN.md §1), so only two contacts of one
//! owner can become one; a pair across owners is shown (the user may want to know) but not offered for merging.

use super::access::{Action, Level, allows};
use super::{BookView, MY_CONTACTS, Result, Service, ServiceError, etag_of};
use crate::store::{Adopt, Candidate, Card, MergeWrite, NewCard, User};
use crate::vcard::{self, merge};
use std::collections::{HashMap, HashSet};

/// Most pairs one answer lists, best first.
pub const MAX_PAIRS: usize = 500;

/// A key shared by more contacts than this says nothing about any two of them (a switchboard number, a team
/// address, "Reception"): it is not used.
const MAX_BUCKET: usize = 50;

/// What makes two contacts likely one person, and how much each counts (a pair is listed from `THRESHOLD`).
const EMAIL: u32 = 60;
const PHONE: u32 = 40;
const NAME: u32 = 30;
const ORG_TOO: u32 = 20;
const NO_ORG_EITHER: u32 = 10;
const THRESHOLD: u32 = 40;

/// A contact as the user reads it, by where they read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub contact_id: i64,
    pub owner_id: i64,
    /// `contacts` or the label's id: where the user opens it (the label they hold the highest level on).
    pub book: String,
    /// That book's name as the user sees it.
    pub book_name: String,
    pub level: Level,
    pub name: String,
    pub org: String,
    pub emails: Vec<String>,
    pub tels: Vec<String>,
}

/// Why two contacts look alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Email(String),
    Phone(String),
    Name,
    NameAndOrganization,
}

/// Two contacts that are likely one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub a: Seen,
    pub b: Seen,
    /// 1 to 100.
    pub score: u32,
    pub reasons: Vec<Reason>,
    /// Why the user cannot merge them, when they cannot.
    pub not_mergeable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicates {
    pub pairs: Vec<Pair>,
    /// More pairs were found than `MAX_PAIRS`.
    pub truncated: bool,
    /// How many contacts were compared.
    pub compared: usize,
}

/// A contact named by where the user reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRef {
    pub book: String,
    pub id: i64,
}

/// What a merge does (or did): the survivor as the user will read it, and what became of everything else.
#[derive(Debug, Clone)]
pub struct MergePlan {
    pub survivor: Card,
    /// Lines of the merged-away contact the survivor gains (as the user reads them).
    pub added: Vec<String>,
    /// Its lines the survivor cannot take (it holds its own birthday, photo, name …): kept in the history and
    /// put back by an undo.
    pub not_kept: Vec<String>,
    /// Names of the labels the survivor joins in its place.
    pub labels_joined: Vec<String>,
    /// What stays apart because the user may not change it, in words.
    pub kept_apart: Vec<String>,
    /// Whether the merged-away contact goes to the trash (it leaves every book).
    pub deletes_other: bool,
}

/// A pair as `find_pairs` finds it: the two by their place in its input, the score and why.
pub type Found = (usize, usize, u32, Vec<Reason>);

/// A name as matched: folded, spaces collapsed.
fn name_key(name: &str) -> Option<String> {
    let k = vcard::fold(name).split_whitespace().collect::<Vec<_>>().join(" ");
    (k.chars().count() >= 2).then_some(k)
}

/// Likely duplicate pairs among `seen`, best first: contacts sharing an e-mail address, a phone number
/// (`merge::phone_key`) or a name (with the same organization, or neither having one). Linear in the contacts
/// (each key's bucket is bounded by `MAX_BUCKET`).
pub fn find_pairs(seen: &[Seen]) -> (Vec<Found>, bool) {
    let mut buckets: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in seen.iter().enumerate() {
        let mut keys: HashSet<String> = HashSet::new();
        keys.extend(s.emails.iter().filter_map(|e| merge::email_key(e)).map(|k| format!("e:{k}")));
        keys.extend(s.tels.iter().filter_map(|t| merge::phone_key(t)).map(|k| format!("t:{k}")));
        keys.extend(name_key(&s.name).map(|k| format!("n:{k}")));
        for k in keys {
            buckets.entry(k).or_default().push(i);
        }
    }
    let mut found: HashMap<(usize, usize), Vec<Reason>> = HashMap::new();
    for (key, members) in &buckets {
        if members.len() < 2 || members.len() > MAX_BUCKET {
            continue;
        }
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                let reason = match key.split_at(2) {
                    ("e:", k) => Reason::Email(k.to_string()),
                    ("t:", _) => Reason::Phone(
                        seen[i]
                            .tels
                            .iter()
                            .find(|t| merge::phone_key(t).as_deref() == Some(&key[2..]))
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    _ => {
                        let (oa, ob) = (vcard::fold(seen[i].org.trim()), vcard::fold(seen[j].org.trim()));
                        if !oa.is_empty() && oa == ob { Reason::NameAndOrganization } else { Reason::Name }
                    }
                };
                found.entry((i.min(j), i.max(j))).or_default().push(reason);
            }
        }
    }
    let mut pairs: Vec<Found> = found
        .into_iter()
        .filter_map(|((i, j), mut reasons)| {
            reasons.sort_by_key(|r| match r {
                Reason::Email(_) => 0,
                Reason::Phone(_) => 1,
                _ => 2,
            });
            let score: u32 = reasons
                .iter()
                .map(|r| match r {
                    Reason::Email(_) => EMAIL,
                    Reason::Phone(_) => PHONE,
                    Reason::NameAndOrganization => NAME + ORG_TOO,
                    Reason::Name if seen[i].org.trim().is_empty() && seen[j].org.trim().is_empty() => {
                        NAME + NO_ORG_EITHER
                    }
                    Reason::Name => NAME,
                })
                .sum::<u32>()
                .min(100);
            (score >= THRESHOLD).then_some((i, j, score, reasons))
        })
        .collect();
    pairs.sort_by(|x, y| {
        y.2.cmp(&x.2).then_with(|| seen[x.0].name.cmp(&seen[y.0].name)).then_with(|| {
            (seen[x.0].contact_id, seen[x.1].contact_id).cmp(&(seen[y.0].contact_id, seen[y.1].contact_id))
        })
    });
    let truncated = pairs.len() > MAX_PAIRS;
    pairs.truncate(MAX_PAIRS);
    (pairs, truncated)
}

/// Whether `user` may merge the two (either way round), and if not, why.
fn why_not(user_id: i64, a: &Seen, b: &Seen) -> Option<String> {
    if a.owner_id != b.owner_id {
        return Some(if a.owner_id == user_id || b.owner_id == user_id {
            "one is yours and the other belongs to a label someone shared with you: each keeps their own".into()
        } else {
            "they belong to labels of two different people: each keeps their own".into()
        });
    }
    let may =
        |keep: &Seen, other: &Seen| allows(keep.level, Action::EditCard) && allows(other.level, Action::RemoveCard);
    (!may(a, b) && !may(b, a))
        .then(|| "your level on their labels does not allow changing and removing contacts".into())
}

/// The lines of `after` that `before` does not hold, as raw lines (a multiset difference).
fn new_lines(before: &[u8], after: &[u8]) -> Vec<String> {
    let (Ok(b), Ok(a)) = (vcard::parse(before), vcard::parse(after)) else { return Vec::new() };
    let mut have: HashMap<&str, usize> = HashMap::new();
    for p in &b.props {
        *have.entry(p.raw.as_str()).or_default() += 1;
    }
    a.props
        .iter()
        .filter(|p| match have.get_mut(p.raw.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .map(|p| shortened(&p.raw))
        .collect()
}

/// A line as shown in a summary: a photo's data is no use to read.
fn shortened(line: &str) -> String {
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(120).collect::<String>())
    } else {
        line.to_string()
    }
}

impl Service {
    /// Likely duplicates among everything `user` can read, best first (see `find_pairs`). One query for
    /// their contacts and one per label shared with them.
    pub async fn find_duplicates(&self, user: &User) -> Result<Duplicates> {
        let mut views: Vec<BookView> =
            self.label_views(user, false).await?.into_iter().filter(|v| v.owner.id != user.id).collect();
        // A contact read through several labels is listed once, where the user holds the most.
        views.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.segment.cmp(&b.segment)));
        let wanted: Vec<(String, bool)> = views.iter().map(|v| (v.segment.clone(), v.hiding())).collect();
        let candidates = self.store.duplicate_candidates(user.id, &wanted).await?;
        let by_segment: HashMap<&str, &BookView> = views.iter().map(|v| (v.segment.as_str(), v)).collect();
        let mine = Self::my_contacts(user);
        let mut listed = HashSet::new();
        let mut seen = Vec::with_capacity(candidates.len());
        for c in candidates {
            if c.kind == "group" || !listed.insert(c.contact_id) {
                continue;
            }
            let view = match &c.via {
                None => &mine,
                Some(label) => match by_segment.get(label.as_str()) {
                    Some(v) => v,
                    None => continue,
                },
            };
            seen.push(read_as(view, c));
        }
        // Hashing 100,000 contacts' keys is CPU work: off the async workers.
        let (seen, (found, truncated)) = super::cpu::run(move || {
            let pairs = find_pairs(&seen);
            (seen, pairs)
        })
        .await?;
        let pairs = found
            .into_iter()
            .map(|(i, j, score, reasons)| {
                let (a, b) = (seen[i].clone(), seen[j].clone());
                let not_mergeable = why_not(user.id, &a, &b);
                Pair { a, b, score, reasons, not_mergeable }
            })
            .collect();
        Ok(Duplicates { pairs, truncated, compared: seen.len() })
    }

    /// Merges `other` into `keep` (see `MergePlan`); with `preview`, says what it would do and changes nothing.
    /// Answers the plan and, when written, the merge's id for `undo_merge`.
    pub async fn merge_duplicates(
        &self,
        user: &User,
        keep: &ContactRef,
        other: &ContactRef,
        preview: bool,
    ) -> Result<(MergePlan, Option<i64>)> {
        let keep_view = self.open_book_anywhere(user, &keep.book).await?;
        let other_view = self.open_book_anywhere(user, &other.book).await?;
        if keep_view.combined.is_some() || other_view.combined.is_some() {
            return Err(super::field("book", "name a contact by My contacts or a label"));
        }
        keep_view.require(Action::Read)?;
        other_view.require(Action::Read)?;
        let kept = self.store.card_by_id(&keep_view.book, keep.id).await?.ok_or(ServiceError::NotFound)?;
        let gone = self.store.card_by_id(&other_view.book, other.id).await?.ok_or(ServiceError::NotFound)?;
        if kept.meta.contact_id == gone.meta.contact_id {
            return Err(super::field("other", "a contact cannot be merged with itself"));
        }
        if keep_view.owner.id != other_view.owner.id {
            return Err(ServiceError::Conflict(
                "the two contacts belong to different people (a label's contacts are its owner's): each keeps their own".into(),
            ));
        }
        keep_view.require(Action::EditCard)?;
        other_view.require(Action::RemoveCard)?;
        let group = |c: &Card| vcard::parse(&c.vcard).is_ok_and(|v| v.indexed().kind == "group");
        if group(&kept) || group(&gone) {
            return Err(super::field("keep", "groups are labels here: merge contacts only"));
        }
        // The survivor keeps all it holds, what is hidden from this user included. Of the other it gains only
        // what this user reads: a merge must not carry a line hidden from them onto a contact others (or they)
        // read through another label. (For the owner, who has nothing hidden, that is the whole card; a
        // collaborator's merge leaves the other contact in its owner's book, so nothing is lost either way.)
        let keep_bytes = kept.vcard.clone();
        let other_bytes = other_view.present(gone.clone(), true).vcard;
        let merged = super::cpu::run(move || merge::merge(&keep_bytes, &other_bytes))
            .await?
            .map_err(ServiceError::InvalidCard)?;
        if merged.bytes.len() > self.limits.max_resource_size {
            return Err(ServiceError::TooLarge(self.limits.max_resource_size));
        }
        let indexed = self.validated(&merged.bytes).await?;

        // Labels: the other contact's, where the user may take it off (and so put the survivor on); the rest
        // stay as they are. The owner may do all of it, and then the other contact goes to the trash.
        let owner = keep_view.owner.id == user.id;
        let views = self.label_views(user, false).await?;
        let level_on: HashMap<&str, &BookView> = views.iter().map(|v| (v.segment.as_str(), v)).collect();
        let other_labels = self.store.contact_labels(gone.meta.contact_id).await?;
        let keep_labels: HashSet<String> = self.store.contact_labels(kept.meta.contact_id).await?.into_iter().collect();
        let mut labels = Vec::new();
        let mut labels_joined = Vec::new();
        let mut kept_apart = Vec::new();
        let mut unseen = 0;
        for label in &other_labels {
            match level_on.get(label.as_str()) {
                Some(v) if v.allows(Action::RemoveCard) => {
                    labels.push(label.clone());
                    if !keep_labels.contains(label) {
                        labels_joined.push(v.displayname.clone());
                    }
                }
                Some(v) => kept_apart.push(format!(
                    "it stays on “{}”, where your level does not allow removing contacts",
                    v.displayname
                )),
                None => unseen += 1,
            }
        }
        if !owner {
            if unseen > 0 {
                kept_apart.push(format!("it stays on {unseen} of {}’s labels you cannot see", keep_view.owner.email));
            }
            kept_apart.push(format!("it stays in {}’s own contacts, which only they can merge", keep_view.owner.email));
        }

        let survivor_before = keep_view.present(kept.clone(), true);
        let mut survivor = kept.clone();
        survivor.meta.etag = etag_of(&merged.bytes);
        survivor.meta.size = merged.bytes.len() as i64;
        survivor.vcard = merged.bytes.clone();
        let survivor = keep_view.present(survivor, true);
        let other_read = other_view.present(gone.clone(), true);
        let readable: HashSet<String> =
            vcard::parse(&other_read.vcard).map(|v| v.props.into_iter().map(|p| p.raw).collect()).unwrap_or_default();
        let plan = MergePlan {
            added: new_lines(&survivor_before.vcard, &survivor.vcard),
            not_kept: merged
                .not_kept
                .iter()
                .filter(|l| readable.contains(*l))
                // N is the name FN says, in parts: one of them is enough to tell.
                .filter(|l| {
                    !(l.starts_with("N:") || l.starts_with("N;"))
                        || !merged.not_kept.iter().any(|f| f.starts_with("FN"))
                })
                .map(|l| shortened(l))
                .collect(),
            labels_joined,
            kept_apart,
            deletes_other: owner,
            survivor,
        };
        if preview {
            return Ok((plan, None));
        }
        let new = NewCard {
            vcard: &merged.bytes,
            etag: etag_of(&merged.bytes),
            indexed: &indexed,
            adopt_existing: Adopt::No,
            actor_id: user.id,
        };
        let write = MergeWrite {
            owner_id: keep_view.owner.id,
            actor_id: user.id,
            keep_id: kept.meta.contact_id,
            keep_etag: &kept.meta.etag,
            keep_before: &kept.vcard,
            merged: &new,
            drop_id: gone.meta.contact_id,
            drop_etag: &gone.meta.etag,
            labels: &labels,
            delete_drop: owner,
        };
        let id = self.store.merge_contacts(&write, self.now()).await.map_err(|e| match e {
            crate::store::StoreError::Stale => {
                ServiceError::Conflict("one of the two contacts changed since it was read: look at them again".into())
            }
            e => e.into(),
        })?;
        Ok((plan, Some(id)))
    }

    /// Undoes merge `id`: the survivor as it was, the other contact back where it was. Its owner may, and
    /// whoever merged while they still hold the level the merge needed on a label carrying the survivor.
    pub async fn undo_merge(&self, user: &User, id: i64) -> Result<()> {
        let record = self.store.merge_record(id).await?.ok_or(ServiceError::NotFound)?;
        if record.owner_id != user.id {
            if record.actor_id != Some(user.id) {
                return Err(ServiceError::NotFound);
            }
            let labels: HashSet<String> = self.store.contact_labels(record.keep_id).await?.into_iter().collect();
            let still = self
                .label_views(user, false)
                .await?
                .iter()
                .any(|v| labels.contains(&v.segment) && v.allows(Action::RemoveCard));
            if !still {
                return Err(ServiceError::Forbidden(Action::RemoveCard));
            }
        }
        let before = record.keep_before.clone();
        let indexed = self.validated(&before).await?;
        let new = NewCard {
            vcard: &before,
            etag: etag_of(&before),
            indexed: &indexed,
            adopt_existing: Adopt::No,
            actor_id: user.id,
        };
        Ok(self.store.undo_merge(id, &new, self.now()).await?)
    }
}

/// A candidate as the user reads it through `view` (hidden fields applied when that label hides any).
fn read_as(view: &BookView, c: Candidate) -> Seen {
    let split = |s: &str| s.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect::<Vec<_>>();
    let (name, org, emails, tels) = match (&c.vcard, view.hiding()) {
        (Some(bytes), true) => {
            let card = Card {
                meta: crate::store::CardMeta {
                    contact_id: c.contact_id,
                    href: String::new(),
                    etag: String::new(),
                    size: 0,
                    updated_at: 0,
                    modseq: 0,
                    via: None,
                },
                vcard: bytes.clone(),
            };
            let read = view.present(card, true);
            match vcard::parse(&read.vcard) {
                Ok(v) => {
                    let ix = v.indexed();
                    (ix.fn_, ix.org, ix.emails, ix.tels)
                }
                Err(_) => (c.fn_.clone(), String::new(), Vec::new(), Vec::new()),
            }
        }
        _ => (c.fn_.clone(), c.org.clone(), split(&c.emails), split(&c.tels)),
    };
    Seen {
        contact_id: c.contact_id,
        owner_id: c.owner_id,
        book: if c.via.is_none() { MY_CONTACTS.to_string() } else { view.segment.clone() },
        book_name: view.displayname.clone(),
        level: view.level,
        name,
        org,
        emails,
        tels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: i64, name: &str, org: &str, emails: &[&str], tels: &[&str]) -> Seen {
        Seen {
            contact_id: id,
            owner_id: 1,
            book: MY_CONTACTS.into(),
            book_name: "My contacts".into(),
            level: Level::Owner,
            name: name.into(),
            org: org.into(),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            tels: tels.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn pairs_are_found_by_address_number_and_name_and_scored() {
        let all = [
            seen(1, "Ann Lee", "", &["Ann@Example.com"], &[]),
            seen(2, "Annie Lee", "", &["ann@example.com"], &["+1 415 555 0100"]),
            seen(3, "A. Lee", "", &[], &["(415) 555-0100"]),
            seen(4, "Bo Chen", "Chen Labs", &[], &[]),
            seen(5, "bo  chen", "chen labs", &[], &[]),
            seen(6, "Bo Chen", "Other Co", &[], &[]),
            seen(7, "Cy Diaz", "", &[], &[]),
        ];
        let (pairs, truncated) = find_pairs(&all);
        assert!(!truncated);
        let ids: Vec<(i64, i64, u32)> = pairs.iter().map(|p| (all[p.0].contact_id, all[p.1].contact_id, p.2)).collect();
        assert_eq!(ids[0], (1, 2, EMAIL), "the same address, best first: {ids:?}");
        assert!(ids.contains(&(4, 5, NAME + ORG_TOO)), "the same name and organization: {ids:?}");
        assert!(ids.contains(&(2, 3, PHONE)), "the same number written two ways: {ids:?}");
        // The same name at another company is not enough on its own.
        assert!(!ids.iter().any(|p| (p.0, p.1) == (4, 6) || (p.0, p.1) == (5, 6)), "{ids:?}");
        assert!(!ids.iter().any(|p| p.0 == 7 || p.1 == 7));
    }

    #[test]
    fn a_key_shared_by_a_crowd_says_nothing() {
        let crowd: Vec<Seen> =
            (0..=MAX_BUCKET as i64).map(|i| seen(i, &format!("P{i}"), "", &["team@example.com"], &[])).collect();
        assert!(find_pairs(&crowd).0.is_empty());
    }

    #[test]
    fn only_one_owners_contacts_can_become_one() {
        let mut theirs = seen(2, "Ann", "", &[], &[]);
        theirs.owner_id = 9;
        assert!(why_not(1, &seen(1, "Ann", "", &[], &[]), &theirs).is_some());
        assert!(why_not(1, &seen(1, "Ann", "", &[], &[]), &seen(2, "Ann", "", &[], &[])).is_none());
        let (mut a, mut b) = (seen(1, "Ann", "", &[], &[]), seen(2, "Ann", "", &[], &[]));
        a.level = Level::Edit;
        b.level = Level::Edit;
        assert!(why_not(1, &a, &b).is_some(), "edit cannot remove the other");
        b.level = Level::Delete;
        assert!(why_not(1, &a, &b).is_none(), "keep a, take b off");
    }
}
