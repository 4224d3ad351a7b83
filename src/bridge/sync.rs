//! One user's sync: push (our changes out, from the combined book's change sequence), then pull (their edits
//! and deletions in Google, applied as their writes).

use super::person::{self, CONTACT_KEY, LABEL_KEY, Photo};
use super::{Bridge, GoogleError, Result};
use crate::service::{BookView, Service, ServiceError};
use crate::store::combined::GROUP_PREFIX;
use crate::store::google::{GoogleAccount, GroupLink, PersonLink};
use crate::store::{Card, Change, Precondition};
use crate::vcard::{self, json};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

/// Every contact is a member of the user's main list too, so the mirror shows under Contacts, not only under
/// its labels (and never hits the rule that a contact keeps one group).
const MY_CONTACTS: &str = "contactGroups/myContacts";
/// Attempts at an update Google keeps refusing as stale before leaving it to the next sync.
const STALE_TRIES: usize = 3;

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub groups: usize,
    pub applied: usize,
    pub removed_here: usize,
    pub undone: usize,
    /// Why the bridge paused (too many deletions in one pull), when it did.
    pub paused: Option<String>,
    /// The labels mirrored.
    pub labels: Vec<String>,
}

impl Report {
    pub fn pushed(&self) -> usize {
        self.created + self.updated + self.deleted + self.groups
    }
    pub fn pulled(&self) -> usize {
        self.applied + self.removed_here + self.undone
    }
    pub fn changed(&self) -> bool {
        self.pushed() + self.pulled() > 0
    }
}

fn service_err(e: ServiceError) -> GoogleError {
    GoogleError::Transient(format!("the store: {e}"), None)
}

/// A contact as it should be in Google.
struct Wanted {
    contact_id: i64,
    uid: String,
    href: String,
    /// The photo Google should show (digest, bytes), when the card carries one it takes.
    photo: Option<Photo>,
    mapped: Map<String, Value>,
    groups: Vec<String>,
}

impl Wanted {
    /// What is agreed once the fields are sent and Google shows `photo` (photos go in a call of their own).
    fn sent_with(&self, photo: Option<&str>) -> String {
        person::sent_form(&self.mapped, &self.groups, photo)
    }

    fn photo_digest(&self) -> Option<String> {
        self.photo.as_ref().map(|(d, _)| d.clone())
    }
}

struct Ctx<'a> {
    bridge: &'a Bridge,
    service: &'a Service,
    account: &'a GoogleAccount,
    user: crate::store::User,
    view: BookView,
    report: Report,
    /// Something must be sent again over what Google holds (an edit or deletion there was undone).
    resend: bool,
    /// When the lease was last taken or renewed.
    leased_at: std::time::Instant,
}

/// What became of an edit found in Google.
#[derive(Debug, PartialEq, Eq)]
enum Took {
    /// Nothing we map changed: only the etag is new.
    Nothing,
    /// Written here.
    Applied,
    /// Refused here (beyond the user's level, or not a valid contact): ours is sent again.
    Undone,
}

/// Goes up by one whenever `person::MAPPED` grows.
const MAPPING_VERSION: &str = "2";

pub async fn run(bridge: &Bridge, service: &Service, account: &GoogleAccount) -> Result<Report> {
    let user = service
        .store
        .user_by_id(account.user_id)
        .await
        .map_err(|e| service_err(e.into()))?
        .ok_or_else(|| GoogleError::Refused("the user is gone".into()))?;
    let view = service.open_combined(&user).await.map_err(service_err)?;
    let mut c = Ctx {
        bridge,
        service,
        account,
        user,
        view,
        report: Report::default(),
        resend: false,
        leased_at: std::time::Instant::now(),
    };
    c.report.labels = c.combined_labels().into_iter().map(|(id, _)| id).collect();
    // Push before pull: what we changed reaches Google first, so a pull never mistakes our old version there
    // for an edit made in Google.
    c.push().await?;
    c.pull().await?;
    if c.resend {
        c.push_full().await?;
    }
    Ok(c.report)
}

/// Removes from the user's Google what the bridge made: its contacts, then its groups.
pub async fn teardown(bridge: &Bridge, service: &Service, account: &GoogleAccount) -> Result<()> {
    let store = &service.store;
    let user = &account.email;
    let links = store.google_people(account.user_id).await.map_err(|e| service_err(e.into()))?;
    let names: Vec<String> = links.iter().map(|l| l.resource_name.clone()).collect();
    for chunk in names.chunks(super::people::BATCH_DELETE) {
        bridge.people.batch_delete(user, chunk).await?;
    }
    for g in store.google_groups(account.user_id).await.map_err(|e| service_err(e.into()))? {
        bridge.people.delete_group(user, &g.resource_name).await?;
    }
    Ok(())
}

fn uid_of(card: &Card) -> Option<(String, json::Fields, Option<Photo>)> {
    let parsed = vcard::parse(&card.vcard).ok()?;
    let uid = parsed.indexed().uid;
    Some((uid, json::read(&parsed), person::photo_for_google(&parsed)))
}

impl Ctx<'_> {
    fn store(&self) -> &crate::store::Store {
        &self.service.store
    }

    fn email(&self) -> &str {
        &self.account.email
    }

    /// Renews the lease once a third of it has passed, before more is sent; a lease lost meanwhile (this server
    /// stalled past it, and another took the user) ends the sync rather than let two servers write at once.
    async fn keep_lease(&mut self) -> Result<()> {
        let lease = self.bridge.settings.lease_secs.max(3);
        if self.leased_at.elapsed().as_secs() < (lease / 3) as u64 {
            return Ok(());
        }
        let kept = self
            .store()
            .google_claim(self.account.user_id, &self.bridge.owner, lease)
            .await
            .map_err(|e| service_err(e.into()))?;
        if !kept {
            return Err(GoogleError::Transient("another server took this user over".into(), None));
        }
        self.leased_at = std::time::Instant::now();
        Ok(())
    }

    fn combined_labels(&self) -> Vec<(String, String)> {
        self.view
            .combined
            .as_ref()
            .map(|c| c.labels().map(|(id, name)| (id.to_string(), name.to_string())).collect())
            .unwrap_or_default()
    }

    fn cursor(&self, token: i64) -> String {
        let reach = self.view.combined.as_ref().map(|c| c.reach.as_str()).unwrap_or("");
        let mine = if self.account.my_contacts { "m" } else { "l" };
        // The mapping's version: a release that maps more fields reconciles everyone once (`catch_up`).
        format!("{token}-{reach}-{mine}{MAPPING_VERSION}")
    }

    async fn push(&mut self) -> Result<()> {
        let state = self.service.state(&self.view).await.map_err(service_err)?;
        let cursor = &self.account.push_cursor;
        let since =
            cursor.split_once('-').and_then(|(n, _)| n.parse::<i64>().ok()).filter(|n| &self.cursor(*n) == cursor);
        let (Some(since), false) = (since, self.account.unsure) else {
            return self.push_full().await;
        };
        let (changes, _) = self.service.changes_since(&self.view, since, None, true).await.map_err(service_err)?;
        if changes.is_empty() {
            return Ok(());
        }
        // A group card changes with every edit of a member (its label's change index moves); only a change of
        // members (a contact added to or taken from a label) needs the full reconcile. Renames are ensure_groups'.
        let is_group = |c: &Change| matches!(c, Change::Present(card) if card.meta.href.starts_with(GROUP_PREFIX));
        let group_changed = changes.iter().any(is_group);
        let changes: Vec<Change> = changes.into_iter().filter(|c| !is_group(c)).collect();
        // Only what these changes touch is read: a change to one contact of a large label costs a few rows.
        let ids: Vec<i64> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Present(card) => Some(card.meta.contact_id),
                Change::Removed { .. } => None,
            })
            .collect();
        let hrefs: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Removed { href, .. } => Some(href.clone()),
                Change::Present(_) => None,
            })
            .collect();
        if group_changed {
            let edited: HashSet<i64> = ids.iter().copied().collect();
            let labels: Vec<String> = self.combined_labels().into_iter().map(|(id, _)| id).collect();
            let touched =
                self.store().memberships_changed_since(&labels, since).await.map_err(|e| service_err(e.into()))?;
            if touched.iter().any(|id| !edited.contains(id)) {
                return self.push_full().await;
            }
        }
        let groups = self.ensure_groups().await?;
        let members = self.memberships(&groups, Some(&ids)).await?;
        let links = self
            .store()
            .google_people_of(self.account.user_id, &ids, &hrefs)
            .await
            .map_err(|e| service_err(e.into()))?;
        let by_href: HashMap<&str, &PersonLink> = links.iter().map(|l| (l.href.as_str(), l)).collect();
        let mut wanted = Vec::new();
        let mut gone = Vec::new();
        for change in &changes {
            match change {
                Change::Present(card) => match self.wanted(card, &members) {
                    Some(w) => wanted.push(w),
                    None => gone.extend(links.iter().filter(|l| l.contact_id == card.meta.contact_id).cloned()),
                },
                Change::Removed { href, .. } => gone.extend(by_href.get(href.as_str()).map(|l| (*l).clone())),
            }
        }
        self.apply(wanted, &links, gone).await?;
        self.store()
            .google_pushed(self.account.user_id, &self.cursor(state.token))
            .await
            .map_err(|e| service_err(e.into()))?;
        Ok(())
    }

    /// Contacts last agreed on before fields were added to the mapping: what Google holds in those fields is
    /// merged into ours first, or our next update (whose mask names them) would write over it.
    async fn catch_up(&mut self) -> Result<()> {
        let links = self.store().google_people(self.account.user_id).await.map_err(|e| service_err(e.into()))?;
        let behind: HashMap<&str, &PersonLink> = links
            .iter()
            .filter(|l| person::sent_lacks_fields(&l.sent))
            .map(|l| (l.resource_name.as_str(), l))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        tracing::info!(user = %self.email(), contacts = behind.len(), "google: taking fields newly mapped from Google");
        let (all, _) = self.bridge.people.connections(self.email(), None).await?;
        for p in &all {
            let Some(link) = p["resourceName"].as_str().and_then(|n| behind.get(n)) else { continue };
            self.keep_lease().await?;
            self.take_edit(link, p).await?;
        }
        Ok(())
    }

    /// Reconciles everything: each label's group, each visible contact, and nothing else of ours.
    async fn push_full(&mut self) -> Result<()> {
        self.catch_up().await?;
        let state = self.service.state(&self.view).await.map_err(service_err)?;
        let groups = self.ensure_groups().await?;
        let members = self.memberships(&groups, None).await?;
        let mut wanted = Vec::new();
        let mut after = 0;
        loop {
            let page = self.service.list_cards_page(&self.view, true, after, 500).await.map_err(service_err)?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, card) in &page {
                if !card.meta.href.starts_with(GROUP_PREFIX)
                    && let Some(w) = self.wanted(card, &members)
                {
                    wanted.push(w);
                }
            }
        }
        let mut links = self.store().google_people(self.account.user_id).await.map_err(|e| service_err(e.into()))?;
        if self.account.unsure {
            links = self.adopt(&wanted, links).await?;
        }
        let keep: HashSet<i64> = wanted.iter().map(|w| w.contact_id).collect();
        let gone: Vec<PersonLink> = links.iter().filter(|l| !keep.contains(&l.contact_id)).cloned().collect();
        self.apply(wanted, &links, gone).await?;
        self.store().google_set_unsure(self.account.user_id, false).await.map_err(|e| service_err(e.into()))?;
        self.store()
            .google_pushed(self.account.user_id, &self.cursor(state.token))
            .await
            .map_err(|e| service_err(e.into()))?;
        Ok(())
    }

    /// After a crash between sending creations and recording them: adopts the Google contacts tagged with our
    /// ids instead of creating them again, and removes second copies.
    async fn adopt(&mut self, wanted: &[Wanted], mut links: Vec<PersonLink>) -> Result<Vec<PersonLink>> {
        let (all, _) = self.bridge.people.connections(self.email(), None).await?;
        let linked: HashSet<String> = links.iter().map(|l| l.resource_name.clone()).collect();
        let by_contact: HashSet<i64> = links.iter().map(|l| l.contact_id).collect();
        let hrefs: HashMap<i64, &str> = wanted.iter().map(|w| (w.contact_id, w.href.as_str())).collect();
        let mut adopted = Vec::new();
        let mut extra = Vec::new();
        for p in &all {
            let (Some(name), Some(id)) = (p["resourceName"].as_str(), person::tag(p, CONTACT_KEY)) else { continue };
            let Ok(id) = id.parse::<i64>() else { continue };
            if linked.contains(name) {
                continue;
            }
            match (by_contact.contains(&id), hrefs.get(&id)) {
                (false, Some(href)) if !adopted.iter().any(|a: &PersonLink| a.contact_id == id) => {
                    adopted.push(PersonLink {
                        contact_id: id,
                        href: href.to_string(),
                        resource_name: name.to_string(),
                        etag: p["etag"].as_str().unwrap_or("").to_string(),
                        // Unknown: the next comparison sends ours.
                        sent: String::new(),
                    });
                }
                _ => extra.push(name.to_string()),
            }
        }
        if !adopted.is_empty() {
            self.store().google_link_people(self.account.user_id, &adopted).await.map_err(|e| service_err(e.into()))?;
            tracing::info!(user = %self.email(), adopted = adopted.len(), "google: adopted contacts made before a restart");
        }
        for chunk in extra.chunks(super::people::BATCH_DELETE) {
            self.bridge.people.batch_delete(self.email(), chunk).await?;
            self.report.deleted += chunk.len();
        }
        links.extend(adopted);
        Ok(links)
    }

    fn wanted(&self, card: &Card, members: &HashMap<i64, Vec<String>>) -> Option<Wanted> {
        let (uid, fields, photo) = uid_of(card)?;
        let labels = members.get(&card.meta.contact_id).cloned().unwrap_or_default();
        let own = card.meta.via.is_none() && !card.meta.href.starts_with(crate::store::combined::SHARED_PREFIX);
        if labels.is_empty() && !(self.account.my_contacts && own) {
            return None;
        }
        let mut groups = labels;
        groups.push(MY_CONTACTS.to_string());
        groups.sort();
        groups.dedup();
        Some(Wanted {
            contact_id: card.meta.contact_id,
            uid,
            href: card.meta.href.clone(),
            photo,
            mapped: person::to_google(&fields),
            groups,
        })
    }

    /// Each contact's groups in Google (by contact id), from the labels' members. By contact, not UID: after a
    /// label is handed to another owner, the previous owner's own copy (same UID) is not in the label.
    async fn memberships(
        &self,
        groups: &HashMap<String, String>,
        contacts: Option<&[i64]>,
    ) -> Result<HashMap<i64, Vec<String>>> {
        let ids: Vec<String> = groups.keys().cloned().collect();
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for (label, contact) in
            self.store().member_contact_ids(&ids, contacts).await.map_err(|e| service_err(e.into()))?
        {
            if let Some(g) = groups.get(&label) {
                out.entry(contact).or_default().push(g.clone());
            }
        }
        Ok(out)
    }

    /// Makes each label's group exist under its name and removes groups of labels no longer mirrored; answers
    /// label id → group resource name.
    async fn ensure_groups(&mut self) -> Result<HashMap<String, String>> {
        let user_id = self.account.user_id;
        let labels = self.combined_labels();
        let links = self.store().google_groups(user_id).await.map_err(|e| service_err(e.into()))?;
        let linked: HashMap<&str, &GroupLink> = links.iter().map(|l| (l.label_id.as_str(), l)).collect();
        let mut out = HashMap::new();
        let mut google: Option<Vec<Value>> = None;
        for (id, name) in &labels {
            if let Some(l) = linked.get(id.as_str()) {
                if &l.name != name && !l.name.starts_with(&format!("{name} (")) {
                    let given = self.name_group(&mut google, name, Some(&l.resource_name), id).await?;
                    self.store()
                        .google_link_group(
                            user_id,
                            &GroupLink { label_id: id.clone(), resource_name: l.resource_name.clone(), name: given },
                        )
                        .await
                        .map_err(|e| service_err(e.into()))?;
                    self.report.groups += 1;
                }
                out.insert(id.clone(), l.resource_name.clone());
                continue;
            }
            let list = match &google {
                Some(g) => g,
                None => google.insert(self.bridge.people.list_groups(self.email()).await?),
            };
            // A group of ours made before a crash, found by its tag: adopted, not made twice.
            let found = list.iter().find(|g| person::tag(g, LABEL_KEY).as_deref() == Some(id.as_str())).and_then(|g| {
                Some((g["resourceName"].as_str()?.to_string(), g["name"].as_str().unwrap_or("").to_string()))
            });
            let (resource, given) = match found {
                Some(f) => f,
                None => {
                    let given = self.name_group(&mut google, name, None, id).await?;
                    let made = google.as_ref().and_then(|g| {
                        g.iter().find(|x| person::tag(x, LABEL_KEY).as_deref() == Some(id.as_str()))?["resourceName"]
                            .as_str()
                            .map(str::to_string)
                    });
                    (
                        made.ok_or_else(|| GoogleError::Refused("a created group came back without its name".into()))?,
                        given,
                    )
                }
            };
            self.store()
                .google_link_group(
                    user_id,
                    &GroupLink { label_id: id.clone(), resource_name: resource.clone(), name: given },
                )
                .await
                .map_err(|e| service_err(e.into()))?;
            self.report.groups += 1;
            out.insert(id.clone(), resource);
        }
        let wanted: HashSet<&str> = labels.iter().map(|(id, _)| id.as_str()).collect();
        for l in links.iter().filter(|l| !wanted.contains(l.label_id.as_str())) {
            self.bridge.people.delete_group(self.email(), &l.resource_name).await?;
            self.store().google_unlink_group(user_id, &l.label_id).await.map_err(|e| service_err(e.into()))?;
            self.report.groups += 1;
        }
        Ok(out)
    }

    /// Creates (or renames) the group of label `id` under `name`. Group names are unique in a user's Google
    /// Contacts: when the user has a group of that name of their own, ours is called "name (Labelbook)", then
    /// "name (Labelbook 2)", ... — theirs is never renamed or adopted. Answers the name given.
    async fn name_group(
        &mut self,
        google: &mut Option<Vec<Value>>,
        name: &str,
        existing: Option<&str>,
        id: &str,
    ) -> Result<String> {
        for n in 0..20 {
            let candidate = match n {
                0 => name.to_string(),
                1 => format!("{name} (Labelbook)"),
                n => format!("{name} (Labelbook {n})"),
            };
            let made = match existing {
                Some(resource) => self.bridge.people.rename_group(self.email(), resource, &candidate, id).await,
                None => self.bridge.people.create_group(self.email(), &candidate, id).await,
            };
            match made {
                Ok(g) => {
                    google.get_or_insert_with(Vec::new).push(g);
                    return Ok(candidate);
                }
                Err(GoogleError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(GoogleError::Refused(format!("no free group name for '{name}'")))
    }

    /// A contact of ours that went away while another with its UID arrives (a label handed to another owner
    /// copies its contacts to them): its Google contact moves to the newcomer, keeping what only Google holds,
    /// rather than being deleted and made again.
    async fn rehome(
        &mut self,
        wanted: &[Wanted],
        mut links: Vec<PersonLink>,
        mut gone: Vec<PersonLink>,
    ) -> Result<(Vec<PersonLink>, Vec<PersonLink>)> {
        let linked: HashSet<i64> = links.iter().map(|l| l.contact_id).collect();
        let arriving: Vec<&Wanted> = wanted.iter().filter(|w| !linked.contains(&w.contact_id)).collect();
        if arriving.is_empty() || gone.is_empty() {
            return Ok((links, gone));
        }
        let ids: Vec<i64> = gone.iter().map(|l| l.contact_id).collect();
        let uids: HashMap<i64, String> =
            self.store().contact_uids(&ids).await.map_err(|e| service_err(e.into()))?.into_iter().collect();
        let mut moved = Vec::new();
        for w in arriving {
            let Some(at) = gone.iter().position(|l| uids.get(&l.contact_id) == Some(&w.uid)) else { continue };
            let old = gone.swap_remove(at);
            links.retain(|l| l.contact_id != old.contact_id);
            moved.push(PersonLink { contact_id: w.contact_id, href: w.href.clone(), ..old });
        }
        if !moved.is_empty() {
            self.store().google_link_people(self.account.user_id, &moved).await.map_err(|e| service_err(e.into()))?;
            links.extend(moved);
        }
        Ok((links, gone))
    }

    /// Sends creations, updates and deletions, recording each as it is done.
    async fn apply(&mut self, wanted: Vec<Wanted>, links: &[PersonLink], gone: Vec<PersonLink>) -> Result<()> {
        let user_id = self.account.user_id;
        let (links, gone) = self.rehome(&wanted, links.to_vec(), gone).await?;
        let by_contact: HashMap<i64, &PersonLink> = links.iter().map(|l| (l.contact_id, l)).collect();
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        // Photos go after the fields, each in a call of its own (Google takes them only so).
        let mut photos: Vec<(i64, Option<Photo>)> = Vec::new();
        for w in wanted {
            let had = by_contact.get(&w.contact_id).and_then(|l| person::sent_photo(&l.sent));
            if had != w.photo_digest() {
                photos.push((w.contact_id, w.photo.clone()));
            }
            match by_contact.get(&w.contact_id) {
                None => creates.push(w),
                Some(l) if l.sent != w.sent_with(had.as_deref()) || l.href != w.href => updates.push((w, (*l).clone())),
                Some(_) => {}
            }
        }
        if !creates.is_empty() {
            // Recorded before sending: a crash before the names are stored makes the next sync adopt by tag.
            self.store().google_set_unsure(user_id, true).await.map_err(|e| service_err(e.into()))?;
            for chunk in creates.chunks(super::people::BATCH_WRITE) {
                self.keep_lease().await?;
                let bodies = chunk.iter().map(|w| person::person_body(&w.mapped, &w.groups, w.contact_id)).collect();
                let made = self.bridge.people.batch_create(self.email(), bodies).await?;
                let mut done = Vec::new();
                for (w, p) in chunk.iter().zip(made.iter()) {
                    let Some(name) = p["resourceName"].as_str() else { continue };
                    done.push(PersonLink {
                        contact_id: w.contact_id,
                        href: w.href.clone(),
                        resource_name: name.to_string(),
                        etag: p["etag"].as_str().unwrap_or("").to_string(),
                        sent: w.sent_with(None),
                    });
                }
                self.report.created += done.len();
                self.store().google_link_people(user_id, &done).await.map_err(|e| service_err(e.into()))?;
            }
            self.store().google_set_unsure(user_id, false).await.map_err(|e| service_err(e.into()))?;
        }
        for chunk in updates.chunks(super::people::BATCH_WRITE) {
            self.keep_lease().await?;
            let mut bodies = Map::new();
            for (w, l) in chunk {
                let mut body = person::person_body(&w.mapped, &w.groups, w.contact_id);
                body["etag"] = Value::String(l.etag.clone());
                bodies.insert(l.resource_name.clone(), body);
            }
            match self.bridge.people.batch_update(self.email(), bodies).await {
                Ok(done) => {
                    let recorded: Vec<PersonLink> = chunk
                        .iter()
                        .filter_map(|(w, l)| {
                            let p = done.get(&l.resource_name)?;
                            Some(PersonLink {
                                href: w.href.clone(),
                                etag: p["etag"].as_str().unwrap_or("").to_string(),
                                sent: w.sent_with(person::sent_photo(&l.sent).as_deref()),
                                ..l.clone()
                            })
                        })
                        .collect();
                    self.report.updated += recorded.len();
                    self.store().google_link_people(user_id, &recorded).await.map_err(|e| service_err(e.into()))?;
                }
                // One of them changed in Google meanwhile (or is gone): one by one, so the others go through.
                Err(GoogleError::Stale(_) | GoogleError::NotFound(_)) => {
                    for (w, l) in chunk {
                        self.update_one(w, l).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let names: Vec<String> = gone.iter().map(|l| l.resource_name.clone()).collect();
        for (chunk, links) in names.chunks(super::people::BATCH_DELETE).zip(gone.chunks(super::people::BATCH_DELETE)) {
            self.keep_lease().await?;
            self.bridge.people.batch_delete(self.email(), chunk).await?;
            let ids: Vec<i64> = links.iter().map(|l| l.contact_id).collect();
            self.report.deleted += ids.len();
            self.store().google_unlink_people(user_id, &ids).await.map_err(|e| service_err(e.into()))?;
        }
        if !photos.is_empty() {
            self.send_photos(photos).await?;
        }
        Ok(())
    }

    /// Sets or removes each contact's photo in Google, recording what Google shows after each.
    async fn send_photos(&mut self, photos: Vec<(i64, Option<Photo>)>) -> Result<()> {
        let user_id = self.account.user_id;
        let ids: Vec<i64> = photos.iter().map(|(id, _)| *id).collect();
        let links = self.store().google_people_of(user_id, &ids, &[]).await.map_err(|e| service_err(e.into()))?;
        let by_contact: HashMap<i64, &PersonLink> = links.iter().map(|l| (l.contact_id, l)).collect();
        for (contact_id, photo) in photos {
            let Some(l) = by_contact.get(&contact_id) else { continue };
            self.keep_lease().await?;
            let sent = match &photo {
                Some((_, bytes)) => self.bridge.people.update_photo(self.email(), &l.resource_name, bytes).await,
                None => self.bridge.people.delete_photo(self.email(), &l.resource_name).await,
            };
            let person = match sent {
                Ok(p) => p,
                // Changed or gone in Google meanwhile: the pull sees it, the next sync sends the photo again.
                Err(GoogleError::Stale(_) | GoogleError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let mut agreed: Value = serde_json::from_str(&l.sent).unwrap_or(Value::Null);
            if let Some(m) = agreed.as_object_mut() {
                m.insert("photo".into(), serde_json::json!(photo.as_ref().map(|(d, _)| d)));
            }
            let link = PersonLink {
                etag: person["etag"].as_str().unwrap_or(&l.etag).to_string(),
                sent: agreed.to_string(),
                ..(*l).clone()
            };
            self.report.updated += 1;
            self.store().google_link_people(user_id, &[link]).await.map_err(|e| service_err(e.into()))?;
        }
        Ok(())
    }

    /// An update Google refused as stale: re-read, merge their edit into ours, send again (bounded).
    async fn update_one(&mut self, w: &Wanted, l: &PersonLink) -> Result<()> {
        let user_id = self.account.user_id;
        let mut etag = l.etag.clone();
        for _ in 0..STALE_TRIES {
            let mut body = person::person_body(&w.mapped, &w.groups, w.contact_id);
            body["etag"] = Value::String(etag.clone());
            match self.bridge.people.update(self.email(), &l.resource_name, &body).await {
                Ok(p) => {
                    let link = PersonLink {
                        href: w.href.clone(),
                        etag: p["etag"].as_str().unwrap_or("").to_string(),
                        sent: w.sent_with(person::sent_photo(&l.sent).as_deref()),
                        ..l.clone()
                    };
                    self.report.updated += 1;
                    return self.store().google_link_people(user_id, &[link]).await.map_err(|e| service_err(e.into()));
                }
                Err(GoogleError::Stale(_)) => {
                    // Their edit is written over ours field by field; that write is a change here, which the
                    // next sync sends as the merge of both.
                    let current = self.bridge.people.get(self.email(), &l.resource_name).await?;
                    if self.take_edit(l, &current).await? != Took::Nothing {
                        return Ok(());
                    }
                    etag = current["etag"].as_str().unwrap_or("").to_string();
                }
                // Deleted in Google: the pull sees the deletion and decides.
                Err(GoogleError::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(user = %self.email(), contact = w.contact_id, "google: still stale after {STALE_TRIES} tries; left for the next sync");
        Ok(())
    }

    /// Pulls what changed in Google since the last pull.
    async fn pull(&mut self) -> Result<()> {
        let token = self
            .store()
            .google_account(self.account.user_id)
            .await
            .map_err(|e| service_err(e.into()))?
            .map(|a| a.pull_token)
            .unwrap_or_default();
        let (changed, next) = match self.bridge.people.connections(self.email(), Some(&token)).await {
            Err(GoogleError::ExpiredSyncToken) => {
                // A full listing: edits are found by etag; deletions are never inferred from absence.
                tracing::info!(user = %self.email(), "google: sync token expired; reconciling by tag");
                self.bridge.people.connections(self.email(), None).await?
            }
            other => other?,
        };
        let names: Vec<String> =
            changed.iter().filter_map(|p| p["resourceName"].as_str().map(str::to_string)).collect();
        let links =
            self.store().google_people_named(self.account.user_id, &names).await.map_err(|e| service_err(e.into()))?;
        let by_name: HashMap<&str, &PersonLink> = links.iter().map(|l| (l.resource_name.as_str(), l)).collect();
        let ours = |p: &Value| -> Option<PersonLink> { by_name.get(p["resourceName"].as_str()?).map(|l| (*l).clone()) };
        let deleted: Vec<PersonLink> =
            changed.iter().filter(|p| p["metadata"]["deleted"].as_bool() == Some(true)).filter_map(ours).collect();
        let max = self.bridge.settings.max_deletes_per_sync;
        // A paused user's "Sync now" is someone confirming the deletions after looking.
        let confirmed = self.account.status == "paused" && self.account.wanted_at > self.account.done_at;
        if deleted.len() > max && !confirmed {
            let why = format!(
                "{} contacts were deleted in Google at once (more than {max}): nothing was deleted here; \
                 check the user's Google Contacts, then resume with \"Sync now\"",
                deleted.len()
            );
            tracing::warn!(user = %self.email(), deleted = deleted.len(), "google: paused");
            self.report.paused = Some(why);
            return Ok(());
        }
        // Our groups (resource name → label), read once: contacts made in Google inside one of them, and contacts
        // of ours moved between them.
        let label_of: HashMap<String, String> = if changed.is_empty() {
            HashMap::new()
        } else {
            let links = self.store().google_groups(self.account.user_id).await.map_err(|e| service_err(e.into()))?;
            links.into_iter().map(|g| (g.resource_name, g.label_id)).collect()
        };
        for p in &changed {
            let Some(link) = ours(p) else {
                let made_there =
                    p["metadata"]["deleted"].as_bool() != Some(true) && person::tag(p, CONTACT_KEY).is_none();
                let label = person::group_names(p).into_iter().find_map(|n| label_of.get(&n).cloned());
                if let (true, Some(label)) = (made_there, label) {
                    self.keep_lease().await?;
                    self.take_new(p, &label, &label_of).await?;
                }
                continue;
            };
            self.keep_lease().await?;
            if p["metadata"]["deleted"].as_bool() == Some(true) {
                self.take_delete(&link).await?;
            } else if p["etag"].as_str() != Some(link.etag.as_str()) {
                self.take_edit(&link, p).await?;
                self.take_groups(&link, p, &label_of).await?;
            }
        }
        if !next.is_empty() {
            self.store().google_pulled(self.account.user_id, &next).await.map_err(|e| service_err(e.into()))?;
        }
        Ok(())
    }

    /// A contact of ours put in or taken out of one of our groups in Google: put on or taken off that label here,
    /// as this user's write. Refused (their level) or impossible, ours is sent again over theirs.
    async fn take_groups(&mut self, link: &PersonLink, p: &Value, label_of: &HashMap<String, String>) -> Result<()> {
        let Some(sent) = serde_json::from_str::<Value>(&link.sent).ok().filter(|v| v.is_object()) else {
            return Ok(());
        };
        let before: Vec<String> = serde_json::from_value(sent["memberships"].clone()).unwrap_or_default();
        let ours = |names: Vec<String>| -> HashSet<String> {
            names.into_iter().filter_map(|n| label_of.get(&n).cloned()).collect()
        };
        let (before, after) = (ours(before), ours(person::group_names(p)));
        if before == after {
            return Ok(());
        }
        let mut refused = false;
        // Put on first, from a label it is on (before it may be taken off that one), or from My contacts.
        let from = match before.intersection(&after).next().or(before.iter().next()) {
            Some(label) => self.service.open_book(&self.user, label).await.ok(),
            None => None,
        };
        let from = match from {
            Some(v) => Some(v),
            None => self.service.open_book(&self.user, crate::service::MY_CONTACTS).await.ok(),
        };
        for label in after.difference(&before) {
            let (Some(from), Ok(view)) = (&from, self.service.open_book(&self.user, label).await) else {
                refused = true;
                continue;
            };
            match self.service.add_to_label(&view, from, &[link.contact_id]).await {
                Ok(answers) if answers.iter().all(|(_, a)| a.is_ok()) => self.report.applied += 1,
                Ok(_) | Err(ServiceError::Forbidden(_) | ServiceError::Field(_)) => refused = true,
                Err(e) => return Err(service_err(e)),
            }
        }
        for label in before.difference(&after) {
            let names = self
                .store()
                .membership_names(link.contact_id, std::slice::from_ref(label))
                .await
                .map_err(|e| service_err(e.into()))?;
            let view = match self.service.open_book(&self.user, label).await {
                Ok(v) => v,
                Err(_) => {
                    refused = true;
                    continue;
                }
            };
            for (_, name) in names {
                match self.service.delete_card(&view, &name, &Precondition::default()).await {
                    Ok(_) | Err(ServiceError::NotFound) => self.report.applied += 1,
                    Err(ServiceError::Forbidden(_)) => refused = true,
                    Err(e) => return Err(service_err(e)),
                }
            }
        }
        if refused {
            tracing::info!(user = %self.email(), contact = link.contact_id, "google: a change of groups beyond the user's level is undone");
            self.report.undone += 1;
            let current = self
                .store()
                .google_people_of(self.account.user_id, &[link.contact_id], &[])
                .await
                .map_err(|e| service_err(e.into()))?;
            let unknown: Vec<PersonLink> =
                current.into_iter().map(|l| PersonLink { sent: String::new(), ..l }).collect();
            self.store().google_link_people(self.account.user_id, &unknown).await.map_err(|e| service_err(e.into()))?;
        }
        // Either way, what Google shows is sent again as Labelbook has it now.
        self.resend = true;
        Ok(())
    }

    /// A contact made in Google inside one of our groups: made here in that label, as this user's write (their
    /// level decides). Beyond it, the contact only leaves our group in their Google; it is theirs and stays.
    async fn take_new(&mut self, p: &Value, label_id: &str, our_groups: &HashMap<String, String>) -> Result<()> {
        let user_id = self.account.user_id;
        let resource = p["resourceName"].as_str().unwrap_or("").to_string();
        let etag = p["etag"].as_str().unwrap_or("").to_string();
        let theirs = person::project(p);
        let patch = person::patch_from(&theirs, person::MAPPED, &json::Fields::default(), &theirs);
        let uid = uuid::Uuid::new_v4().to_string();
        let name = format!("{uid}.vcf");
        let pre = Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) };
        let written = match json::apply(None, &uid, &patch) {
            Ok(bytes) => match self.service.open_book(&self.user, label_id).await {
                Ok(view) => self.service.put_card(&view, &name, &bytes, &pre).await.map(|_| view),
                Err(e) => Err(e),
            },
            Err(e) => Err(ServiceError::Field(e)),
        };
        match written {
            Ok(view) => {
                let contact_id = self
                    .store()
                    .own_contact_by_uid(view.owner.id, &uid)
                    .await
                    .map_err(|e| service_err(e.into()))?
                    .ok_or_else(|| GoogleError::Refused("a contact made here is not found".into()))?;
                let href =
                    if view.owner.id == user_id { name } else { crate::store::combined::shared_href(contact_id) };
                // What was agreed is unknown: the next push sends ours (with our tag) over it.
                let link = PersonLink { contact_id, href, resource_name: resource, etag, sent: String::new() };
                self.store().google_link_people(user_id, &[link]).await.map_err(|e| service_err(e.into()))?;
                tracing::info!(user = %self.email(), contact = contact_id, "google: a contact made in Google is taken");
                self.report.applied += 1;
                self.resend = true;
                Ok(())
            }
            Err(
                e @ (ServiceError::Forbidden(_)
                | ServiceError::Field(_)
                | ServiceError::InvalidCard(_)
                | ServiceError::TooLarge(_)
                | ServiceError::NotFound),
            ) => {
                tracing::info!(user = %self.email(), why = %e, "google: a contact made in Google cannot be taken; it leaves our group there");
                let keep: Vec<Value> = p["memberships"]
                    .as_array()
                    .map(|ms| {
                        ms.iter()
                            .filter(|m| {
                                m["contactGroupMembership"]["contactGroupResourceName"]
                                    .as_str()
                                    .is_none_or(|g| !our_groups.contains_key(g))
                            })
                            .map(|m| json!({ "contactGroupMembership": m["contactGroupMembership"].clone() }))
                            .collect()
                    })
                    .unwrap_or_default();
                match self.bridge.people.set_memberships(self.email(), &resource, &etag, keep).await {
                    // Changed or gone meanwhile: the next pull sees it again.
                    Ok(_) | Err(GoogleError::Stale(_) | GoogleError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
                self.report.undone += 1;
                Ok(())
            }
            Err(e) => Err(service_err(e)),
        }
    }

    /// A contact deleted in Google: deleted here as this user's write when their level allows; otherwise it is
    /// made again in their Google.
    async fn take_delete(&mut self, link: &PersonLink) -> Result<()> {
        let user_id = self.account.user_id;
        let outcome = self.service.delete_card(&self.view, &link.href, &Precondition::default()).await;
        self.store().google_unlink_people(user_id, &[link.contact_id]).await.map_err(|e| service_err(e.into()))?;
        match outcome {
            Ok(_) => {
                self.report.removed_here += 1;
                Ok(())
            }
            Err(ServiceError::NotFound) => Ok(()),
            Err(ServiceError::Forbidden(_)) => {
                tracing::info!(user = %self.email(), contact = link.contact_id, "google: a deletion beyond the user's level is undone");
                self.report.undone += 1;
                self.resend = true;
                Ok(())
            }
            Err(e) => Err(service_err(e)),
        }
    }

    /// A contact edited in Google: the fields Google changed since we last agreed are written over ours, as
    /// this user's write (their level decides; what is hidden from them is kept by the service).
    async fn take_edit(&mut self, link: &PersonLink, p: &Value) -> Result<Took> {
        let user_id = self.account.user_id;
        let theirs = person::project(p);
        let base: Map<String, Value> =
            serde_json::from_str::<Value>(&link.sent).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
        let etag = p["etag"].as_str().unwrap_or("").to_string();
        let changed = if base.is_empty() { Vec::new() } else { person::changed_fields(&base, &theirs) };
        let groups = |b: &Map<String, Value>| b.get("memberships").cloned().unwrap_or(Value::Array(Vec::new()));
        let base_groups: Vec<String> = serde_json::from_value(groups(&base)).unwrap_or_default();
        let base_photo = person::sent_photo(&link.sent);
        let agreed = |mapped: &Map<String, Value>| person::sent_form(mapped, &base_groups, base_photo.as_deref());
        if changed.is_empty() {
            // Only what we do not map changed (or we did not know what we had sent): keep the new etag.
            let keep = PersonLink {
                etag,
                sent: if base.is_empty() { String::new() } else { link.sent.clone() },
                ..link.clone()
            };
            self.store().google_link_people(user_id, &[keep]).await.map_err(|e| service_err(e.into()))?;
            self.resend |= base.is_empty();
            return Ok(Took::Nothing);
        }
        let mut tries = 0;
        let written = loop {
            let card = match self.service.get_card(&self.view, &link.href, true).await {
                Ok(c) => c,
                Err(ServiceError::NotFound) => return Ok(Took::Nothing),
                Err(e) => return Err(service_err(e)),
            };
            let Ok(parsed) = vcard::parse(&card.vcard) else { return Ok(Took::Nothing) };
            let patch = person::patch_from(&theirs, &changed, &json::read(&parsed), &base);
            let written = match json::apply(Some(&parsed), "", &patch) {
                Ok(bytes) => {
                    let pre = Precondition { if_match: Some(vec![card.meta.etag.clone()]), if_none_match: None };
                    self.service.put_card(&self.view, &link.href, &bytes, &pre).await.map(|_| ())
                }
                Err(e) => Err(ServiceError::Field(e)),
            };
            tries += 1;
            // Changed here between our read and write: read again and merge again.
            if !matches!(written, Err(ServiceError::PreconditionFailed)) || tries >= STALE_TRIES {
                break written;
            }
        };
        match written {
            Ok(()) => {
                self.report.applied += 1;
                let link = PersonLink { etag, sent: agreed(&theirs), ..link.clone() };
                self.store().google_link_people(user_id, &[link]).await.map_err(|e| service_err(e.into()))?;
                Ok(Took::Applied)
            }
            // Still changing here: their edit is taken by a later pull.
            Err(ServiceError::PreconditionFailed) => {
                Err(GoogleError::Transient("the contact keeps changing here".into(), None))
            }
            Err(
                e @ (ServiceError::Forbidden(_)
                | ServiceError::Field(_)
                | ServiceError::InvalidCard(_)
                | ServiceError::TooLarge(_)),
            ) => {
                tracing::info!(user = %self.email(), contact = link.contact_id, why = %e, "google: an edit that cannot be taken is undone");
                self.report.undone += 1;
                // Sent again over theirs: the etag is Google's now, what we agreed on is unknown.
                let link = PersonLink { etag, sent: String::new(), ..link.clone() };
                self.store().google_link_people(user_id, &[link]).await.map_err(|e| service_err(e.into()))?;
                self.resend = true;
                Ok(Took::Undone)
            }
            Err(e) => Err(service_err(e)),
        }
    }
}
