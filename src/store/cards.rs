//! Cards in books: the writes (each one transaction that takes the next change sequence value and advances
//! every collection showing the contact) and the reads that serve a sync in one query.

use super::batch_sql::Stamps;
use super::events::Event;
use super::recall::BookId;
use super::{Book, BookState, Card, CardMeta, Change, NewCard, Result, Store, StoreError, on_pool};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// HTTP conditional headers, already split into entity tags (quotes kept off) or `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    pub if_match: Option<Vec<String>>,
    pub if_none_match: Option<Vec<String>>,
}

impl Precondition {
    /// RFC 9110 §13.1.1–2 against the current entity tag (`None`: the resource does not exist).
    pub fn holds(&self, current: Option<&str>) -> bool {
        if let Some(tags) = &self.if_match {
            let ok = match current {
                None => false,
                Some(etag) => tags.iter().any(|t| t == "*" || t == etag),
            };
            if !ok {
                return false;
            }
        }
        if let Some(tags) = &self.if_none_match
            && let Some(etag) = current
            && tags.iter().any(|t| t == "*" || t == etag)
        {
            return false;
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub created: bool,
    pub etag: String,
    /// The change sequence value the write took (a WebDAV-Push `Push-Dont-Notify` names the write by it).
    pub modseq: i64,
}

#[derive(Debug)]
pub enum WriteError {
    PreconditionFailed,
    /// Another card of the same owner has this UID (RFC 6352 §6.3.2.1 no-uid-conflict); its name in My contacts.
    UidConflict {
        href: String,
    },
    /// The card at this name has another UID: a UID names one contact for good, so a write may not change it
    /// (RFC 6352 §6.3.2.1 no-uid-conflict; RFC 6350 §6.7.6).
    UidChanged,
    NotFound,
    /// A contact to be put on a label as it is (`Adopt::Unchanged`) changed since it was read.
    Changed,
    Store(StoreError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        WriteError::Store(e.into())
    }
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// A contact id with its etag or its name.
type IdAndText = (i64, String);
type MetaRow = (i64, String, String, i64, i64, i64);
type MetaDataRow = (i64, String, String, i64, i64, i64, Vec<u8>);
type PageRow = (i64, String, String, i64, i64, i64, i64);
type PageDataRow = (i64, String, String, i64, i64, i64, i64, Vec<u8>);
type ChangeRow = (i64, String, String, i64, i64, i64, Option<i64>);
type ChangeDataRow = (i64, String, String, i64, i64, i64, Option<i64>, Vec<u8>);

fn meta(r: MetaRow) -> CardMeta {
    CardMeta { contact_id: r.0, href: r.1, etag: r.2, size: r.3, updated_at: r.4, modseq: r.5, via: None }
}

fn card(r: MetaDataRow) -> Card {
    Card {
        meta: CardMeta { contact_id: r.0, href: r.1, etag: r.2, size: r.3, updated_at: r.4, modseq: r.5, via: None },
        vcard: r.6,
    }
}

fn change(r: ChangeDataRow) -> Change {
    match r.6 {
        Some(_) => Change::Removed { href: r.1, modseq: r.5 },
        None => Change::Present(card((r.0, r.1, r.2, r.3, r.4, r.5, r.7))),
    }
}

// Keyset pages: the last column is the position to continue after.
const CONTACT_PAGE: &str = "SELECT id, href, etag, CAST(length(vcard) AS BIGINT), updated_at, modseq, id FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3";
const CONTACT_PAGE_DATA: &str = "SELECT id, href, etag, CAST(length(vcard) AS BIGINT), updated_at, modseq, id, vcard FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3";
const LABEL_PAGE: &str = "SELECT c.id, m.href, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, m.modseq, m.id FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.removed_at IS NULL AND m.id > $2 ORDER BY m.id LIMIT $3";
const LABEL_PAGE_DATA: &str = "SELECT c.id, m.href, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, m.modseq, m.id, c.vcard FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.removed_at IS NULL AND m.id > $2 ORDER BY m.id LIMIT $3";
const CONTACT_CHANGES: &str = "SELECT id, href, etag, CAST(length(vcard) AS BIGINT), updated_at, modseq, deleted_at FROM contacts WHERE owner_id = $1 AND modseq > $2 ORDER BY modseq, id";
const CONTACT_CHANGES_DATA: &str = "SELECT id, href, etag, CAST(length(vcard) AS BIGINT), updated_at, modseq, deleted_at, vcard FROM contacts WHERE owner_id = $1 AND modseq > $2 ORDER BY modseq, id";
const LABEL_CHANGES: &str = "SELECT c.id, m.href, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, m.modseq, m.removed_at FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.modseq > $2 ORDER BY m.modseq, m.id";
const LABEL_CHANGES_DATA: &str = "SELECT c.id, m.href, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, m.modseq, m.removed_at, c.vcard FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.modseq > $2 ORDER BY m.modseq, m.id";

/// Two index lookups in one round trip (an `OR` here would scan every contact of the owner).
const LOOKUP_NAME_AND_UID: &str = "SELECT id, etag, href, uid FROM contacts WHERE owner_id = $1 AND href = $2 AND deleted_at IS NULL UNION ALL SELECT id, etag, href, uid FROM contacts WHERE owner_id = $1 AND uid = $3 AND deleted_at IS NULL";
pub(super) const UPDATE_CONTACT: &str = "UPDATE contacts SET uid = $1, vcard = $2, etag = $3, fn = $4, sort_key = $5, emails = $6, tels = $7, org = $8, kind = $9, updated_at = $10, modseq = $11, actor_id = $12, search = $14 WHERE id = $13";
const INSERT_CONTACT: &str = "INSERT INTO contacts (owner_id, href, uid, vcard, etag, fn, sort_key, emails, tels, org, kind, created_at, updated_at, modseq, actor_id, search) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15) RETURNING id";
pub(super) const INSERT_MEMBERSHIP: &str =
    "INSERT INTO memberships (label_id, contact_id, href, modseq, added_at, actor_id) VALUES ($1, $2, $3, $4, $5, $6)";
/// The contact is marked deleted before it leaves its labels, so the activity log can tell a delete from a removal.
pub(super) const DELETE_CONTACT: &str = "UPDATE contacts SET deleted_at = $1, modseq = $2, actor_id = $3 WHERE id = $4";
pub(super) const REMOVE_ALL_MEMBERSHIPS: &str =
    "UPDATE memberships SET removed_at = $1, modseq = $2, actor_id = $3 WHERE contact_id = $4 AND removed_at IS NULL";
/// A contact changed: every label showing it and its owner's My contacts advance (DESIGN.md §4: getctag and
/// sync-token move in the same transaction as the change).
pub(super) const TOUCH_MEMBERSHIPS: &str =
    "UPDATE memberships SET modseq = $1 WHERE contact_id = $2 AND removed_at IS NULL";
pub(super) const TOUCH_LABELS: &str = "UPDATE labels SET modseq = $1 WHERE id IN (SELECT label_id FROM memberships WHERE contact_id = $2 AND removed_at IS NULL) RETURNING id";

/// One entry per name (the latest), an initial sync without removals, and at most `limit` entries without
/// splitting one change sequence value; and whether more remain.
fn latest_within(rows: Vec<Change>, since: i64, limit: Option<usize>) -> (Vec<Change>, bool) {
    // A name deleted and created again appears twice; the later row is the truth.
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(rows.len());
    for (i, c) in rows.iter().enumerate() {
        last.insert(c.href(), i);
    }
    let keep: std::collections::HashSet<usize> = last.into_values().collect();
    // An initial sync (since 0) lists what is there, never what is gone (RFC 6578 §3.4).
    let mut changes: Vec<Change> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, c)| keep.contains(i) && (since > 0 || matches!(c, Change::Present(_))))
        .map(|(_, c)| c)
        .collect();
    let mut truncated = false;
    if let Some(limit) = limit
        && changes.len() > limit
    {
        let mut cut = limit.max(1);
        let boundary = changes[cut - 1].modseq();
        while cut < changes.len() && changes[cut].modseq() == boundary {
            cut += 1;
        }
        truncated = cut < changes.len();
        changes.truncate(cut);
    }
    (changes, truncated)
}

/// Inserts the batch's new My-contacts cards collected so far in one multi-row statement, and records them.
macro_rules! flush_inserts {
    ($tx:ident, $pending:ident, $overlay:ident, $results:ident, $now:ident) => {
        if !$pending.is_empty() {
            let rows: Vec<String> = (0..$pending.len())
                .map(|r| {
                    let b = r * 16;
                    let cols: Vec<String> = (1..=16).map(|c| format!("${}", b + c)).collect();
                    format!("({})", cols.join(", "))
                })
                .collect();
            let sql = format!("INSERT INTO contacts (owner_id, href, uid, vcard, etag, fn, sort_key, emails, tels, org, kind, created_at, updated_at, modseq, actor_id, search) VALUES {} RETURNING id, href", rows.join(", "));
            let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
            for p in &$pending {
                let ix = &p.op.indexed;
                q = q.bind(p.op.owner_id).bind(&p.op.href).bind(&ix.uid).bind(p.op.vcard.as_slice()).bind(&p.op.etag).bind(&ix.fn_)
                    .bind(&ix.sort_key).bind(&p.emails).bind(&p.tels).bind(&ix.org).bind(&ix.kind).bind($now).bind($now).bind(p.seq).bind(p.op.actor_id).bind(&ix.search);
            }
            let ids: Vec<(i64, String)> = q.fetch_all(&mut *$tx).await?;
            for p in $pending.drain(..) {
                // Names are unique among one owner's live contacts, and a flush never holds two writes to one name.
                let id = ids.iter().find(|r| r.1 == p.op.href).map(|r| r.0).ok_or_else(|| StoreError::Unavailable("an inserted contact came back without its id".into()))?;
                $overlay.insert_live(p.op.owner_id, &p.op.href, id, &p.op.etag, &p.op.indexed.uid);
                $results[p.job] = Some(Ok(Done::Put(PutOutcome { created: true, etag: p.op.etag.clone(), modseq: p.seq })));
            }
        }
    };
}

/// What a batch knows of its owners' live contacts: read once, then kept up to date by the batch's own writes.
#[derive(Default)]
struct Overlay {
    loaded: std::collections::HashSet<i64>,
    /// (owner, name) → (contact id, etag, UID)
    by_href: HashMap<(i64, String), Live>,
    /// (owner, UID) → (contact id, name)
    by_uid: HashMap<(i64, String), (i64, String)>,
}

struct Live {
    id: i64,
    etag: String,
    uid: String,
}

impl Overlay {
    fn insert_live(&mut self, owner: i64, href: &str, id: i64, etag: &str, uid: &str) {
        self.by_href.insert((owner, href.to_string()), Live { id, etag: etag.to_string(), uid: uid.to_string() });
        self.by_uid.insert((owner, uid.to_string()), (id, href.to_string()));
    }

    fn remove_live(&mut self, owner: i64, href: &str) {
        if let Some(l) = self.by_href.remove(&(owner, href.to_string())) {
            self.by_uid.remove(&(owner, l.uid));
        }
    }
}

/// A new contact decided but not yet inserted.
struct Pending<'a> {
    job: usize,
    op: &'a PutOp,
    seq: i64,
    emails: String,
    tels: String,
}

impl Store {
    /// The collection's sync-token and getctag (the change sequence value of its last change), read together
    /// with its name and description so those are never older than the token. Answered from memory when the
    /// book has not changed since it was last read (see recall.rs); the combined book's token is the newest of
    /// its parts'.
    pub async fn book_state(&self, book: &Book) -> Result<BookState> {
        let (owner, labels): (Option<i64>, &[String]) = match book {
            Book::MyContacts { owner_id } => (Some(*owner_id), &[]),
            Book::Label { label_id } => (None, std::slice::from_ref(label_id)),
            Book::Combined { owner_id, labels, .. } => (Some(*owner_id), labels),
        };
        let ids: Vec<BookId> =
            owner.map(BookId::Mine).into_iter().chain(labels.iter().map(|l| BookId::Label(l.clone()))).collect();
        self.hear_outside_writes();
        let now = std::time::Instant::now();
        let remembered: Option<Vec<BookState>> = ids.iter().map(|id| self.recall.book(id, now)).collect();
        let states = match remembered {
            Some(states) => states,
            None => {
                let generation = self.recall.generation();
                let read = self.read_book_states(owner, labels).await?;
                self.recall.remember(generation, read.iter().cloned(), now);
                read.into_iter().map(|(_, s)| s).collect()
            }
        };
        if let Book::Combined { .. } = book {
            let token = states.iter().map(|s| s.token).max().unwrap_or(0);
            return Ok(BookState { token, name: "All contacts".into(), description: String::new() });
        }
        states.into_iter().next().ok_or(StoreError::NotFound)
    }

    /// Bytes used by the cards in a book (RFC 4331 quota-used-bytes): running totals the database keeps
    /// (migration 0013's triggers), so one row is read, not every card summed.
    pub async fn book_size(&self, book: &Book) -> Result<i64> {
        if let Book::Combined { owner_id, shared, .. } = book {
            return self.combined_size(*owner_id, shared).await;
        }
        let size: Option<i64> = on_pool!(self, p => match book {
            Book::Combined { .. } => None,
            Book::MyContacts { owner_id } => sqlx::query_scalar("SELECT book_bytes FROM users WHERE id = $1")
                .bind(owner_id).fetch_optional(p).await?,
            Book::Label { label_id } => sqlx::query_scalar("SELECT bytes FROM labels WHERE id = $1")
                .bind(label_id).fetch_optional(p).await?,
        });
        size.ok_or(StoreError::NotFound)
    }

    /// Up to `limit` cards of a book after position `after` (0 to start), each with its position: large books
    /// are read and answered page by page instead of all at once.
    pub async fn list_cards_page(
        &self,
        book: &Book,
        with_data: bool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Card)>> {
        let (key, sql, sql_data) = match book {
            Book::MyContacts { owner_id } => (BookKey::Id(*owner_id), CONTACT_PAGE, CONTACT_PAGE_DATA),
            Book::Label { label_id } => (BookKey::Text(label_id.clone()), LABEL_PAGE, LABEL_PAGE_DATA),
            Book::Combined { owner_id, shared, .. } => {
                return self.combined_page(*owner_id, shared, with_data, after, limit).await;
            }
        };
        on_pool!(self, p => {
            if with_data {
                let q = sqlx::query_as::<_, PageDataRow>(sql_data);
                let q = match &key { BookKey::Id(i) => q.bind(*i), BookKey::Text(t) => q.bind(t.clone()) };
                let rows = q.bind(after).bind(limit).fetch_all(p).await?;
                Ok(rows.into_iter().map(|r| (r.6, card((r.0, r.1, r.2, r.3, r.4, r.5, r.7)))).collect())
            } else {
                let q = sqlx::query_as::<_, PageRow>(sql);
                let q = match &key { BookKey::Id(i) => q.bind(*i), BookKey::Text(t) => q.bind(t.clone()) };
                let rows = q.bind(after).bind(limit).fetch_all(p).await?;
                Ok(rows.into_iter().map(|r| (r.6, Card { meta: meta((r.0, r.1, r.2, r.3, r.4, r.5)), vcard: Vec::new() })).collect())
            }
        })
    }

    /// The named cards of a book (addressbook-multiget), a few hundred names per query.
    pub async fn get_cards(&self, book: &Book, hrefs: &[String], with_data: bool) -> Result<Vec<Card>> {
        if let Book::Combined { owner_id, shared, .. } = book {
            return self.combined_cards(*owner_id, shared, hrefs, with_data).await;
        }
        let mut out = Vec::with_capacity(hrefs.len());
        for chunk in hrefs.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let list = placeholders.join(", ");
            let data = if with_data { ", vcard" } else { "" };
            let data_c = if with_data { ", c.vcard" } else { "" };
            let sql = match book {
                Book::MyContacts { .. } => format!(
                    "SELECT id, href, etag, CAST(length(vcard) AS BIGINT), updated_at, modseq{data} FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL AND href IN ({list})"
                ),
                Book::Label { .. } => format!(
                    "SELECT c.id, m.href, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, m.modseq{data_c} FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.removed_at IS NULL AND m.href IN ({list})"
                ),
                Book::Combined { .. } => return Err(StoreError::NotFound),
            };
            on_pool!(self, p => {
                if with_data {
                    let mut q = sqlx::query_as::<_, MetaDataRow>(AssertSqlSafe(sql));
                    q = match book { Book::MyContacts { owner_id } => q.bind(*owner_id), Book::Label { label_id } => q.bind(label_id.clone()), Book::Combined { .. } => q };
                    for h in chunk { q = q.bind(h.clone()); }
                    out.extend(q.fetch_all(p).await?.into_iter().map(card));
                } else {
                    let mut q = sqlx::query_as::<_, MetaRow>(AssertSqlSafe(sql));
                    q = match book { Book::MyContacts { owner_id } => q.bind(*owner_id), Book::Label { label_id } => q.bind(label_id.clone()), Book::Combined { .. } => q };
                    for h in chunk { q = q.bind(h.clone()); }
                    out.extend(q.fetch_all(p).await?.into_iter().map(|r| Card { meta: meta(r), vcard: Vec::new() }));
                }
            });
        }
        Ok(out)
    }

    pub async fn get_card(&self, book: &Book, href: &str, with_data: bool) -> Result<Option<Card>> {
        Ok(self.get_cards(book, &[href.to_string()], with_data).await?.into_iter().next())
    }

    /// What changed in a book after `since` (RFC 6578), one entry per name, oldest first. With `limit`, returns at
    /// most that many (never splitting one change sequence value) and whether more remain.
    pub async fn changes_since(
        &self,
        book: &Book,
        since: i64,
        limit: Option<usize>,
        with_data: bool,
    ) -> Result<(Vec<Change>, bool)> {
        let (key, sql, sql_data) = match book {
            Book::MyContacts { owner_id } => (BookKey::Id(*owner_id), CONTACT_CHANGES, CONTACT_CHANGES_DATA),
            Book::Label { label_id } => (BookKey::Text(label_id.clone()), LABEL_CHANGES, LABEL_CHANGES_DATA),
            Book::Combined { owner_id, shared, .. } => {
                let rows = Box::pin(self.combined_changes(*owner_id, shared, since, with_data)).await?;
                return Ok(latest_within(rows, since, limit));
            }
        };
        let rows: Vec<Change> = on_pool!(self, p => {
            if with_data {
                let q = sqlx::query_as::<_, ChangeDataRow>(sql_data);
                let q = match &key { BookKey::Id(i) => q.bind(*i), BookKey::Text(t) => q.bind(t.clone()) };
                q.bind(since).fetch_all(p).await?.into_iter().map(change).collect()
            } else {
                let q = sqlx::query_as::<_, ChangeRow>(sql);
                let q = match &key { BookKey::Id(i) => q.bind(*i), BookKey::Text(t) => q.bind(t.clone()) };
                q.bind(since).fetch_all(p).await?.into_iter().map(|r| change((r.0, r.1, r.2, r.3, r.4, r.5, r.6, Vec::new()))).collect()
            }
        });
        Ok(latest_within(rows, since, limit))
    }

    /// Creates or replaces the card named `href` in `book`. New contacts belong to `owner_id` (the book's owner).
    /// A new name in a label whose UID matches one of the owner's contacts labels that contact instead of making
    /// a second one (Thunderbird copies cards between books this way). Answers once the write is committed.
    pub async fn put_card(
        &self,
        book: &Book,
        owner_id: i64,
        href: &str,
        new: &NewCard<'_>,
        pre: &Precondition,
    ) -> std::result::Result<PutOutcome, WriteError> {
        let op = WriteOp::Put(Box::new(PutOp {
            book: book.clone(),
            owner_id,
            href: href.to_string(),
            vcard: new.vcard.to_vec(),
            etag: new.etag.clone(),
            indexed: new.indexed.clone(),
            pre: pre.clone(),
            adopt_existing: new.adopt_existing,
            actor_id: new.actor_id,
        }));
        match self.submit(op).await? {
            Done::Put(outcome) => Ok(outcome),
            Done::Deleted(_) => {
                Err(WriteError::Store(StoreError::Unavailable("the writer answered the wrong job".into())))
            }
        }
    }

    /// In My contacts: moves the contact to the trash, off every label. In a label: takes the label off the
    /// contact. Both leave tombstones that sync-collection reports and the trash can restore. Answers the change
    /// sequence value the deletion took.
    pub async fn delete_card(
        &self,
        book: &Book,
        href: &str,
        pre: &Precondition,
        actor_id: i64,
    ) -> std::result::Result<i64, WriteError> {
        let op = WriteOp::Delete { book: book.clone(), href: href.to_string(), pre: pre.clone(), actor_id };
        match self.submit(op).await? {
            Done::Deleted(seq) => Ok(seq),
            Done::Put(_) => Err(WriteError::Store(StoreError::Unavailable("the writer answered the wrong job".into()))),
        }
    }

    /// Several card writes as one group commit, in order, each answered on its own (imports use this; so do
    /// the tests that pin down how writes in one batch see each other).
    pub async fn write_cards(&self, writes: &[CardWrite<'_>]) -> Vec<std::result::Result<CardWritten, WriteError>> {
        let mut answers = Vec::with_capacity(writes.len());
        for chunk in writes.chunks(500) {
            let mut jobs = Vec::with_capacity(chunk.len());
            let mut waits = Vec::with_capacity(chunk.len());
            for w in chunk {
                let (reply, answer) = tokio::sync::oneshot::channel();
                jobs.push(Job { op: w.to_op(), reply });
                waits.push(answer);
            }
            // The batch takes the writer turn itself, so it is serialised with the writer task.
            self.run_batch(jobs, None).await;
            for answer in waits {
                answers.push(match answer.await {
                    Ok(Ok(Done::Put(o))) => Ok(CardWritten::Put(o)),
                    Ok(Ok(Done::Deleted(_))) => Ok(CardWritten::Deleted),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(WriteError::Store(StoreError::Unavailable("a batched write was dropped".into()))),
                });
            }
        }
        answers
    }

    async fn submit(&self, op: WriteOp) -> std::result::Result<Done, WriteError> {
        let gone = || WriteError::Store(StoreError::Unavailable("the store is shutting down".into()));
        let batcher = self.batcher.as_ref().ok_or_else(gone)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        batcher.send(Job { op, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Group commit: every card write waiting runs in one transaction, each taking its own change sequence value,
    /// and none is answered before the commit. A refused write (precondition, UID conflict, not found) is decided
    /// by reads before it writes anything, so it leaves the others alone; a database error fails the batch.
    /// `more`: the writer's queue, drained into the batch once the transaction holds the change sequence (what
    /// arrived while it waited for the row joins it).
    pub(crate) async fn run_batch(&self, mut jobs: Vec<Job>, more: Option<&mut tokio::sync::mpsc::Receiver<Job>>) {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let outcome: std::result::Result<Vec<std::result::Result<Done, WriteError>>, StoreError> = on_pool!(self, p => {
            async {
                // The change sequence row first (rule 3 of store/write.rs), then every write waiting by now, each
                // taking the next value in order.
                let mut tx = self.write_claiming(p).await?;
                if let Some(rx) = more {
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                }
                let last = tx.claim(jobs.len() as i64);
                let base = last - jobs.len() as i64 + 1;
                // Each book's token is stamped once, after the batch, with its last change.
                let mut books: HashMap<i64, i64> = HashMap::new();
                let mut labels: HashMap<String, i64> = HashMap::new();
                // Labels stamped along the way because a contact they show changed (for the change event).
                let mut touched: std::collections::HashSet<String> = std::collections::HashSet::new();
                let mut results: Vec<Option<std::result::Result<Done, WriteError>>> = (0..jobs.len()).map(|_| None).collect();
                let mut overlay = Overlay::default();
                let mut pending: Vec<Pending<'_>> = Vec::new();
                for (i, job) in jobs.iter().enumerate() {
                    let seq = base + i as i64;
                    if let Some(owner) = job.op.my_contacts_owner() {
                        // Set-based path for My contacts: the rows every write of this owner names, read once.
                        if !overlay.loaded.contains(&owner) {
                            let mut hrefs: Vec<&str> = Vec::new();
                            let mut uids: Vec<&str> = Vec::new();
                            for later in &jobs[i..] {
                                if later.op.my_contacts_owner() != Some(owner) {
                                    continue;
                                }
                                match &later.op {
                                    WriteOp::Put(op) => {
                                        hrefs.push(&op.href);
                                        uids.push(&op.indexed.uid);
                                    }
                                    WriteOp::Delete { href, .. } => hrefs.push(href),
                                }
                            }
                            for (id, etag, href, uid) in tx.live_contacts(owner, &hrefs, &uids).await? {
                                overlay.insert_live(owner, &href, id, &etag, &uid);
                            }
                            overlay.loaded.insert(owner);
                        }
                        match &job.op {
                            WriteOp::Put(op) => {
                                let ix = &op.indexed;
                                if pending.iter().any(|p| p.op.owner_id == owner && (p.op.href == op.href || p.op.indexed.uid == ix.uid)) {
                                    flush_inserts!(tx, pending, overlay, results, now);
                                }
                                let live = overlay.by_href.get(&(owner, op.href.clone()));
                                let existing = live.map(|l| (l.id, l.etag.clone()));
                                let uid_changed = live.is_some_and(|l| l.uid != ix.uid);
                                if !op.pre.holds(existing.as_ref().map(|e| e.1.as_str())) {
                                    results[i] = Some(Err(WriteError::PreconditionFailed));
                                    continue;
                                }
                                if uid_changed {
                                    results[i] = Some(Err(WriteError::UidChanged));
                                    continue;
                                }
                                let same_uid = overlay.by_uid.get(&(owner, ix.uid.clone())).cloned();
                                let (emails, tels) = (ix.emails.join("\n"), ix.tels.join("\n"));
                                results[i] = match (existing, same_uid) {
                                    (Some((id, _)), Some((other, other_href))) if other != id => Some(Err(WriteError::UidConflict { href: other_href })),
                                    (Some((id, _)), _) => {
                                        sqlx::query(UPDATE_CONTACT)
                                            .bind(&ix.uid).bind(op.vcard.as_slice()).bind(&op.etag).bind(&ix.fn_).bind(&ix.sort_key).bind(&emails).bind(&tels)
                                            .bind(&ix.org).bind(&ix.kind).bind(now).bind(seq).bind(op.actor_id).bind(id).bind(&ix.search)
                                            .execute(&mut *tx).await?;
                                        sqlx::query(TOUCH_MEMBERSHIPS).bind(seq).bind(id).execute(&mut *tx).await?;
                                        touched.extend(sqlx::query_scalar::<_, String>(TOUCH_LABELS).bind(seq).bind(id).fetch_all(&mut *tx).await?);
                                        overlay.remove_live(owner, &op.href);
                                        overlay.insert_live(owner, &op.href, id, &op.etag, &ix.uid);
                                        books.insert(owner, seq);
                                        Some(Ok(Done::Put(PutOutcome { created: false, etag: op.etag.clone(), modseq: seq })))
                                    }
                                    (None, Some((_, other_href))) => Some(Err(WriteError::UidConflict { href: other_href })),
                                    (None, None) => {
                                        pending.push(Pending { job: i, op: op.as_ref(), seq, emails, tels });
                                        books.insert(owner, seq);
                                        None
                                    }
                                };
                            }
                            WriteOp::Delete { href, pre, actor_id, .. } => {
                                if pending.iter().any(|p| p.op.owner_id == owner && p.op.href == *href) {
                                    flush_inserts!(tx, pending, overlay, results, now);
                                }
                                let Some((id, etag)) = overlay.by_href.get(&(owner, href.clone())).map(|l| (l.id, l.etag.clone())) else {
                                    results[i] = Some(Err(WriteError::NotFound));
                                    continue;
                                };
                                if !pre.holds(Some(&etag)) {
                                    results[i] = Some(Err(WriteError::PreconditionFailed));
                                    continue;
                                }
                                sqlx::query(DELETE_CONTACT).bind(now).bind(seq).bind(actor_id).bind(id)
                                    .execute(&mut *tx).await?;
                                touched.extend(sqlx::query_scalar::<_, String>(TOUCH_LABELS).bind(seq).bind(id).fetch_all(&mut *tx).await?);
                                sqlx::query(REMOVE_ALL_MEMBERSHIPS).bind(now).bind(seq).bind(actor_id).bind(id)
                                    .execute(&mut *tx).await?;
                                overlay.remove_live(owner, href);
                                books.insert(owner, seq);
                                results[i] = Some(Ok(Done::Deleted(seq)));
                            }
                        }
                        continue;
                    }
                    // A label write reads and writes the database directly: pending inserts go first, and the
                    // overlay is forgotten since the label write may change what it holds.
                    flush_inserts!(tx, pending, overlay, results, now);
                    overlay = Overlay::default();
                    let r: std::result::Result<Done, WriteError> = match &job.op {
                        WriteOp::Put(op) => async {
                            let PutOp { book, owner_id, href, vcard, etag, indexed: ix, pre, adopt_existing, actor_id } = op.as_ref();
                            let (owner_id, href, actor_id) = (*owner_id, href.as_str(), *actor_id);
                            let emails = ix.emails.join("\n");
                            let tels = ix.tels.join("\n");
                            let seq = base + i as i64;
                            // The card at this name, and any live contact of the owner with this UID, in one round trip for
                            // My contacts (the common case) and two for a label.
                            let (existing, existing_uid, same_uid): (Option<IdAndText>, Option<String>, Option<IdAndText>) = match book {
                                // The service writes a combined book's cards through the books they are in.
                                Book::Combined { .. } => return Err(WriteError::NotFound),
                                Book::MyContacts { owner_id } => {
                                    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(LOOKUP_NAME_AND_UID)
                                        .bind(owner_id).bind(href).bind(&ix.uid).fetch_all(&mut *tx).await?;
                                    let here = rows.iter().find(|r| r.2 == href);
                                    let same_uid = rows.iter().find(|r| r.3 == ix.uid).map(|r| (r.0, r.2.clone()));
                                    (here.map(|r| (r.0, r.1.clone())), here.map(|r| r.3.clone()), same_uid)
                                }
                                Book::Label { label_id } => {
                                    let here: Option<(i64, String, String)> = sqlx::query_as("SELECT c.id, c.etag, c.uid FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.href = $2 AND m.removed_at IS NULL")
                                        .bind(label_id).bind(href).fetch_optional(&mut *tx).await?;
                                    let same_uid = sqlx::query_as("SELECT id, href FROM contacts WHERE owner_id = $1 AND uid = $2 AND deleted_at IS NULL")
                                        .bind(owner_id).bind(&ix.uid).fetch_optional(&mut *tx).await?;
                                    (here.as_ref().map(|r| (r.0, r.1.clone())), here.map(|r| r.2), same_uid)
                                }
                            };
                            if !pre.holds(existing.as_ref().map(|e| e.1.as_str())) {
                                return Err(WriteError::PreconditionFailed);
                            }
                            if existing_uid.is_some_and(|u| u != ix.uid) {
                                return Err(WriteError::UidChanged);
                            }
                            let (contact_id, created, replace) = match (existing, book, same_uid) {
                                (_, Book::Combined { .. }, _) => return Err(WriteError::NotFound),
                                (Some((id, _)), _, Some((other, other_href))) if other != id => return Err(WriteError::UidConflict { href: other_href }),
                                (Some((id, _)), _, _) => (id, false, true),
                                (None, Book::MyContacts { .. }, Some((_, other_href))) => return Err(WriteError::UidConflict { href: other_href }),
                                (None, Book::Label { .. }, Some(_)) if *adopt_existing == super::Adopt::No => return Err(WriteError::UidConflict { href: String::new() }),
                                (None, Book::Label { label_id }, Some((other, _))) => {
                                    let in_label: Option<String> = sqlx::query_scalar("SELECT href FROM memberships WHERE label_id = $1 AND contact_id = $2 AND removed_at IS NULL")
                                        .bind(label_id).bind(other).fetch_optional(&mut *tx).await?;
                                    if in_label.is_some() {
                                        let mine: String = sqlx::query_scalar("SELECT href FROM contacts WHERE id = $1").bind(other).fetch_one(&mut *tx).await?;
                                        return Err(WriteError::UidConflict { href: mine });
                                    }
                                    let keep = *adopt_existing == super::Adopt::Unchanged;
                                    if keep {
                                        let stored: String = sqlx::query_scalar("SELECT etag FROM contacts WHERE id = $1").bind(other).fetch_one(&mut *tx).await?;
                                        if stored != *etag {
                                            return Err(WriteError::Changed);
                                        }
                                    }
                                    sqlx::query(INSERT_MEMBERSHIP).bind(label_id).bind(other).bind(href).bind(seq).bind(now).bind(actor_id).execute(&mut *tx).await?;
                                    (other, true, !keep)
                                }
                                (None, _, None) => {
                                    let taken: Option<i64> = match book {
                                        Book::MyContacts { .. } | Book::Combined { .. } => None,
                                        Book::Label { .. } => sqlx::query_scalar("SELECT id FROM contacts WHERE owner_id = $1 AND href = $2 AND deleted_at IS NULL")
                                            .bind(owner_id).bind(href).fetch_optional(&mut *tx).await?,
                                    };
                                    let my_href = if taken.is_some() { format!("{}.vcf", uuid::Uuid::new_v4()) } else { href.to_string() };
                                    let id: i64 = sqlx::query_scalar(INSERT_CONTACT)
                                        .bind(owner_id).bind(&my_href).bind(&ix.uid).bind(vcard.as_slice()).bind(etag).bind(&ix.fn_).bind(&ix.sort_key)
                                        .bind(&emails).bind(&tels).bind(&ix.org).bind(&ix.kind).bind(now).bind(seq).bind(actor_id).bind(&ix.search)
                                        .fetch_one(&mut *tx).await?;
                                    if let Book::Label { label_id } = book {
                                        sqlx::query(INSERT_MEMBERSHIP).bind(label_id).bind(id).bind(href).bind(seq).bind(now).bind(actor_id).execute(&mut *tx).await?;
                                    }
                                    (id, true, false)
                                }
                            };
                            if replace {
                                sqlx::query(UPDATE_CONTACT)
                                    .bind(&ix.uid).bind(vcard.as_slice()).bind(etag).bind(&ix.fn_).bind(&ix.sort_key).bind(&emails).bind(&tels)
                                    .bind(&ix.org).bind(&ix.kind).bind(now).bind(seq).bind(actor_id).bind(contact_id).bind(&ix.search)
                                    .execute(&mut *tx).await?;
                            }
                            if replace {
                                // An existing contact may carry labels: each of them advances.
                                sqlx::query(TOUCH_MEMBERSHIPS).bind(seq).bind(contact_id).execute(&mut *tx).await?;
                                touched.extend(sqlx::query_scalar::<_, String>(TOUCH_LABELS).bind(seq).bind(contact_id).fetch_all(&mut *tx).await?);
                            } else if let Book::Label { label_id } = book {
                                labels.insert(label_id.clone(), seq);
                            }
                            books.insert(owner_id, seq);

                            Ok(Done::Put(PutOutcome { created, etag: etag.clone(), modseq: seq }))
                        }.await,
                        WriteOp::Delete { book, href, pre, actor_id } => async {
                            let href = href.as_str();
                            match book {
                                Book::Combined { .. } => return Err(WriteError::NotFound),
                                Book::MyContacts { owner_id } => {
                                    let (id, etag): (i64, String) = sqlx::query_as("SELECT id, etag FROM contacts WHERE owner_id = $1 AND href = $2 AND deleted_at IS NULL")
                                        .bind(owner_id).bind(href).fetch_optional(&mut *tx).await?.ok_or(WriteError::NotFound)?;
                                    if !pre.holds(Some(&etag)) {
                                        return Err(WriteError::PreconditionFailed);
                                    }
                                    sqlx::query(DELETE_CONTACT).bind(now).bind(seq).bind(actor_id).bind(id).execute(&mut *tx).await?;
                                    touched.extend(sqlx::query_scalar::<_, String>(TOUCH_LABELS).bind(seq).bind(id).fetch_all(&mut *tx).await?);
                                    sqlx::query(REMOVE_ALL_MEMBERSHIPS).bind(now).bind(seq).bind(actor_id).bind(id).execute(&mut *tx).await?;
                                    books.insert(*owner_id, seq);
                                }
                                Book::Label { label_id } => {
                                    let (id, etag): (i64, String) = sqlx::query_as("SELECT m.id, c.etag FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.href = $2 AND m.removed_at IS NULL")
                                        .bind(label_id).bind(href).fetch_optional(&mut *tx).await?.ok_or(WriteError::NotFound)?;
                                    if !pre.holds(Some(&etag)) {
                                        return Err(WriteError::PreconditionFailed);
                                    }
                                    sqlx::query("UPDATE memberships SET removed_at = $1, modseq = $2, actor_id = $3 WHERE id = $4").bind(now).bind(seq).bind(actor_id).bind(id).execute(&mut *tx).await?;
                                    labels.insert(label_id.clone(), seq);
                                }
                            }

                            Ok(Done::Deleted(seq))
                        }.await,
                    };
                    let r = match r {
                        Err(WriteError::Store(e)) => return Err(e),
                        r => r,
                    };
                    results[i] = Some(r);
                }
                flush_inserts!(tx, pending, overlay, results, now);
                let book_stamps: Vec<(i64, i64)> = books.iter().map(|(o, s)| (*o, *s)).collect();
                let label_stamps: Vec<(String, i64)> = labels.iter().map(|(l, s)| (l.clone(), *s)).collect();
                let events = if books.is_empty() && labels.is_empty() && touched.is_empty() {
                    Vec::new()
                } else {
                    touched.extend(labels.into_keys());
                    let mut owners: Vec<i64> = books.into_keys().collect();
                    owners.sort_unstable();
                    let mut labels: Vec<String> = touched.into_iter().collect();
                    labels.sort_unstable();
                    vec![Event::Cards { modseq: last, owners, labels }]
                };
                let payloads = if matches!(self.pool, super::Pool::Postgres(_)) { self.bus.payloads(&events) } else { Vec::new() };
                tx.finish_batch(Stamps { books: &book_stamps, labels: &label_stamps }, payloads).await?;
                tx.commit().await?;
                self.bus.deliver(events);
                Ok(results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(WriteError::Store(StoreError::Unavailable("a write of the batch was never decided".into())))))
                    .collect())
            }.await
        });
        tracing::debug!(writes = jobs.len(), ms = started.elapsed().as_secs_f64() * 1000.0, "write batch");
        match outcome {
            Ok(results) => {
                self.wrote_cards(jobs.len());
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = jobs.len(), "a batch of writes failed and was rolled back");
                for job in jobs {
                    let _ = job.reply.send(Err(WriteError::Store(e.for_another())));
                }
            }
        }
    }
}

/// A card write as callers describe it.
pub enum CardWrite<'a> {
    Put {
        book: &'a Book,
        owner_id: i64,
        href: &'a str,
        new: &'a NewCard<'a>,
        pre: &'a Precondition,
    },
    /// `actor_id`: who deletes, for the history.
    Delete {
        book: &'a Book,
        href: &'a str,
        pre: &'a Precondition,
        actor_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardWritten {
    Put(PutOutcome),
    Deleted,
}

impl CardWrite<'_> {
    fn to_op(&self) -> WriteOp {
        match self {
            CardWrite::Put { book, owner_id, href, new, pre } => WriteOp::Put(Box::new(PutOp {
                book: (*book).clone(),
                owner_id: *owner_id,
                href: href.to_string(),
                vcard: new.vcard.to_vec(),
                etag: new.etag.clone(),
                indexed: new.indexed.clone(),
                pre: (*pre).clone(),
                adopt_existing: new.adopt_existing,
                actor_id: new.actor_id,
            })),
            CardWrite::Delete { book, href, pre, actor_id } => WriteOp::Delete {
                book: (*book).clone(),
                href: href.to_string(),
                pre: (*pre).clone(),
                actor_id: *actor_id,
            },
        }
    }
}

/// A card write, owned so it can wait in the writer's queue.
pub(crate) enum WriteOp {
    Put(Box<PutOp>),
    Delete { book: Book, href: String, pre: Precondition, actor_id: i64 },
}

pub(crate) struct PutOp {
    book: Book,
    owner_id: i64,
    href: String,
    vcard: Vec<u8>,
    etag: String,
    indexed: crate::vcard::Indexed,
    pre: Precondition,
    adopt_existing: super::Adopt,
    actor_id: i64,
}

impl WriteOp {
    /// The owner, for writes in My contacts (the set-based path); `None` for writes in a label.
    fn my_contacts_owner(&self) -> Option<i64> {
        match self {
            WriteOp::Put(op) => match op.book {
                Book::MyContacts { owner_id } => Some(owner_id),
                Book::Label { .. } | Book::Combined { .. } => None,
            },
            WriteOp::Delete { book: Book::MyContacts { owner_id }, .. } => Some(*owner_id),
            WriteOp::Delete { .. } => None,
        }
    }
}

pub(crate) enum Done {
    Put(PutOutcome),
    /// With the change sequence value the deletion took.
    Deleted(i64),
}

pub(crate) struct Job {
    op: WriteOp,
    reply: tokio::sync::oneshot::Sender<std::result::Result<Done, WriteError>>,
}

/// Up to this many waiting writes share one commit.
const MAX_BATCH: usize = 64;

/// The task that owns card writes for a store: it takes whatever is waiting and commits it together.
pub(crate) fn spawn_writer(store: Store) -> tokio::sync::mpsc::Sender<Job> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(1024);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            store.run_batch(vec![first], Some(&mut rx)).await;
        }
    });
    tx
}

enum BookKey {
    Id(i64),
    Text(String),
}
