//! The combined book: one collection holding each contact a user can see once — their own under
//! the names they gave them, others' (through shared labels) as `lb-shared-{id}.vcf` — read in the same pages
//! and deltas as the other books, a few queries each, never one per card.

use super::recall::BookId;
use super::{BookState, Card, CardMeta, Change, Result, Store, StoreError, on_pool};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// Names in the combined book for contacts of shared labels, and for each label's group card.
pub const SHARED_PREFIX: &str = "lb-shared-";
pub const GROUP_PREFIX: &str = "lb-label-";

pub fn shared_href(contact_id: i64) -> String {
    format!("{SHARED_PREFIX}{contact_id}.vcf")
}

/// The contact id a `lb-shared-{id}.vcf` name stands for.
pub fn shared_id(href: &str) -> Option<i64> {
    href.strip_prefix(SHARED_PREFIX)?.strip_suffix(".vcf")?.parse().ok()
}

type Row = (i64, i64, String, String, i64, i64, i64);
type DataRow = (i64, i64, String, String, i64, i64, i64, Vec<u8>);

fn marks(from: usize, n: usize) -> String {
    (0..n).map(|i| format!("${}", from + i)).collect::<Vec<_>>().join(", ")
}

const COLS: &str = "c.id, c.owner_id, c.href, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, c.modseq";

impl Store {
    /// The states of `owner`'s My contacts (when given; it must exist) and of those of `labels` that exist.
    pub(super) async fn read_book_states(
        &self,
        owner: Option<i64>,
        labels: &[String],
    ) -> Result<Vec<(BookId, BookState)>> {
        let mut out = Vec::with_capacity(labels.len() + 1);
        if let Some(owner_id) = owner {
            let mine: Option<(i64, String, String)> = on_pool!(self, p => sqlx::query_as(
                "SELECT book_modseq, book_name, book_description FROM users WHERE id = $1")
                .bind(owner_id).fetch_optional(p).await?);
            let (token, name, description) = mine.ok_or(StoreError::NotFound)?;
            out.push((BookId::Mine(owner_id), BookState { token, name, description }));
        }
        if !labels.is_empty() {
            let sql =
                format!("SELECT id, modseq, name, description FROM labels WHERE id IN ({})", marks(1, labels.len()));
            let rows: Vec<(String, i64, String, String)> = on_pool!(self, p => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql.clone()));
                for l in labels { q = q.bind(l.clone()); }
                q.fetch_all(p).await?
            });
            out.extend(
                rows.into_iter()
                    .map(|(id, token, name, description)| (BookId::Label(id), BookState { token, name, description })),
            );
        }
        Ok(out)
    }

    /// The combined book's size from the running totals of its parts (My contacts and the shared labels): a
    /// contact shown through two shared labels counts twice, which spares summing every card on each PROPFIND.
    pub(super) async fn combined_size(&self, owner_id: i64, shared: &[String]) -> Result<i64> {
        let sql = format!(
            "SELECT CAST(book_bytes + COALESCE((SELECT SUM(bytes) FROM labels WHERE id IN ({})), 0) AS BIGINT) FROM users WHERE id = $1",
            if shared.is_empty() { "NULL".to_string() } else { marks(2, shared.len()) }
        );
        let size: Option<i64> = on_pool!(self, p => {
            let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone())).bind(owner_id);
            for l in shared { q = q.bind(l.clone()); }
            q.fetch_optional(p).await?
        });
        size.ok_or(StoreError::NotFound)
    }

    /// Live contacts of the book among `ids` (or, with `None`, after position `after`, up to `limit`), ordered
    /// by id, which is also the page position.
    async fn combined_rows(
        &self,
        owner_id: i64,
        shared: &[String],
        select: Select<'_>,
        with_data: bool,
    ) -> Result<Vec<(i64, Card)>> {
        let data = if with_data { ", c.vcard" } else { "" };
        let n = shared.len();
        // $1 owner, $2.. shared labels, then the selection's own parameters.
        let (own_cond, shared_cond, tail) = match select {
            Select::Page { .. } => {
                (format!("c.id > ${}", n + 2), format!("c.id > ${}", n + 2), format!(" ORDER BY 1 LIMIT ${}", n + 3))
            }
            Select::Ids(ids) => {
                let list = marks(n + 2, ids.len());
                (format!("c.id IN ({list})"), format!("c.id IN ({list})"), " ORDER BY 1".to_string())
            }
            Select::Hrefs(hrefs) => {
                (format!("c.href IN ({})", marks(n + 2, hrefs.len())), "1 = 0".to_string(), " ORDER BY 1".to_string())
            }
        };
        let own = format!(
            "SELECT {COLS}{data} FROM contacts c WHERE c.owner_id = $1 AND c.deleted_at IS NULL AND {own_cond}"
        );
        let sql = if n == 0 {
            format!("{own}{tail}")
        } else {
            // The two parts cannot overlap (the owner's contacts, and others' contacts on shared labels): UNION
            // ALL. SQLite merges the two ordered parts and stops at the page's end. PostgreSQL sorts (or, with
            // UNION, hashes) every row after the position for each page, so there each part is ordered and cut
            // to the page by itself first.
            let shared = format!(
                "SELECT {COLS}{data} FROM contacts c WHERE c.owner_id <> $1 AND c.deleted_at IS NULL AND {shared_cond} AND c.id IN (SELECT contact_id FROM memberships WHERE removed_at IS NULL AND label_id IN ({}))",
                marks(2, n)
            );
            match self.pool {
                super::Pool::Postgres(_) => format!(
                    "SELECT * FROM ({own}{tail}) AS own_part UNION ALL SELECT * FROM ({shared}{tail}) AS shared_part{tail}"
                ),
                super::Pool::Sqlite(_) => format!("{own} UNION ALL {shared}{tail}"),
            }
        };
        let to_card = |owner: i64,
                       id: i64,
                       href: String,
                       etag: String,
                       size: i64,
                       updated_at: i64,
                       modseq: i64,
                       vcard: Vec<u8>| {
            let href = if owner == owner_id { href } else { shared_href(id) };
            (id, Card { meta: CardMeta { contact_id: id, href, etag, size, updated_at, modseq, via: None }, vcard })
        };
        let out: Vec<(i64, Card)> = on_pool!(self, p => {
            macro_rules! bind_all {
                ($q:expr) => {{
                    let mut q = $q.bind(owner_id);
                    for l in shared { q = q.bind(l.clone()); }
                    match select {
                        Select::Page { after, limit } => { q = q.bind(after).bind(limit); }
                        Select::Ids(ids) => { for i in ids { q = q.bind(*i); } }
                        Select::Hrefs(hrefs) => { for h in hrefs { q = q.bind(h.clone()); } }
                    }
                    q
                }};
            }
            if with_data {
                let rows: Vec<DataRow> = bind_all!(sqlx::query_as::<_, DataRow>(AssertSqlSafe(sql.clone()))).fetch_all(p).await?;
                rows.into_iter().map(|r| to_card(r.1, r.0, r.2, r.3, r.4, r.5, r.6, r.7)).collect()
            } else {
                let rows: Vec<Row> = bind_all!(sqlx::query_as::<_, Row>(AssertSqlSafe(sql.clone()))).fetch_all(p).await?;
                rows.into_iter().map(|r| to_card(r.1, r.0, r.2, r.3, r.4, r.5, r.6, Vec::new())).collect()
            }
        });
        let mut out = out;
        self.mark_via(shared, &mut out).await?;
        Ok(out)
    }

    /// Sets, for each card of a shared label, the label it is shown through: the first of `shared` (best first)
    /// that carries it. One query for the whole page.
    async fn mark_via(&self, shared: &[String], cards: &mut [(i64, Card)]) -> Result<()> {
        let ids: Vec<i64> =
            cards.iter().filter(|(_, c)| shared_id(&c.meta.href).is_some()).map(|(_, c)| c.meta.contact_id).collect();
        if ids.is_empty() || shared.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT contact_id, label_id FROM memberships WHERE removed_at IS NULL AND label_id IN ({}) AND contact_id IN ({})",
            marks(1, shared.len()),
            marks(shared.len() + 1, ids.len())
        );
        let pairs: Vec<(i64, String)> = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql.clone()));
            for l in shared { q = q.bind(l.clone()); }
            for i in &ids { q = q.bind(*i); }
            q.fetch_all(p).await?
        });
        let rank: HashMap<&str, usize> = shared.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let mut best: HashMap<i64, (usize, String)> = HashMap::new();
        for (contact, label) in pairs {
            let r = rank.get(label.as_str()).copied().unwrap_or(usize::MAX);
            let e = best.entry(contact).or_insert((usize::MAX, String::new()));
            if r < e.0 {
                *e = (r, label);
            }
        }
        for (_, c) in cards.iter_mut() {
            if shared_id(&c.meta.href).is_some() {
                c.meta.via = best.get(&c.meta.contact_id).map(|b| b.1.clone());
            }
        }
        Ok(())
    }

    pub(super) async fn combined_page(
        &self,
        owner_id: i64,
        shared: &[String],
        with_data: bool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Card)>> {
        self.combined_rows(owner_id, shared, Select::Page { after, limit }, with_data).await
    }

    pub(super) async fn combined_cards(
        &self,
        owner_id: i64,
        shared: &[String],
        hrefs: &[String],
        with_data: bool,
    ) -> Result<Vec<Card>> {
        let (ids, own): (Vec<&String>, Vec<&String>) = hrefs.iter().partition(|h| shared_id(h).is_some());
        let ids: Vec<i64> = ids.iter().filter_map(|h| shared_id(h)).collect();
        let own: Vec<String> = own.into_iter().filter(|h| !h.starts_with(GROUP_PREFIX)).cloned().collect();
        let mut out = Vec::new();
        for chunk in ids.chunks(400) {
            let rows = self.combined_rows(owner_id, shared, Select::Ids(chunk), with_data).await?;
            out.extend(rows.into_iter().map(|(_, c)| c).filter(|c| shared_id(&c.meta.href).is_some()));
        }
        for chunk in own.chunks(400) {
            let rows = self.combined_rows(owner_id, &[], Select::Hrefs(chunk), with_data).await?;
            out.extend(rows.into_iter().map(|(_, c)| c));
        }
        Ok(out)
    }

    /// What changed after `since`: the user's own contacts (with their deletions), and every contact of a
    /// shared label whose membership there changed, reported as it is now (present, or gone when no shared
    /// label carries it any more).
    pub(super) async fn combined_changes(
        &self,
        owner_id: i64,
        shared: &[String],
        since: i64,
        with_data: bool,
    ) -> Result<Vec<Change>> {
        let (mut changes, _) =
            self.changes_since(&super::Book::MyContacts { owner_id }, since, None, with_data).await?;
        changes.retain(|c| shared_id(c.href()).is_none() && !c.href().starts_with(GROUP_PREFIX));
        if shared.is_empty() {
            return Ok(changes);
        }
        let sql = format!(
            "SELECT m.contact_id, MAX(m.modseq) FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.modseq > $1 AND c.owner_id <> $2 AND m.label_id IN ({}) GROUP BY m.contact_id",
            marks(3, shared.len())
        );
        let touched: Vec<(i64, i64)> = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql.clone())).bind(since).bind(owner_id);
            for l in shared { q = q.bind(l.clone()); }
            q.fetch_all(p).await?
        });
        let ids: Vec<i64> = touched.iter().map(|t| t.0).collect();
        let mut present: HashMap<i64, Card> = HashMap::new();
        for chunk in ids.chunks(400) {
            for (_, c) in self.combined_rows(owner_id, shared, Select::Ids(chunk), with_data).await? {
                present.insert(c.meta.contact_id, c);
            }
        }
        for (id, modseq) in touched {
            match present.remove(&id) {
                Some(mut card) => {
                    card.meta.modseq = card.meta.modseq.max(modseq);
                    changes.push(Change::Present(card));
                }
                // An initial sync lists only what is there (RFC 6578 §3.4).
                None if since > 0 => changes.push(Change::Removed { href: shared_href(id), modseq }),
                None => {}
            }
        }
        changes.sort_by_key(Change::modseq);
        Ok(changes)
    }

    /// Each label's live members, as (label, contact id); only among `contacts` when given.
    pub async fn member_contact_ids(&self, labels: &[String], contacts: Option<&[i64]>) -> Result<Vec<(String, i64)>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let base = format!(
            "SELECT m.label_id, m.contact_id FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.removed_at IS NULL AND c.deleted_at IS NULL AND m.label_id IN ({})",
            marks(1, labels.len())
        );
        let chunks: Vec<&[i64]> = match contacts {
            None => vec![&[]],
            Some(ids) => ids.chunks(500).collect(),
        };
        let mut out = Vec::new();
        for chunk in chunks {
            let sql = match contacts {
                None => base.clone(),
                Some(_) => format!("{base} AND m.contact_id IN ({})", marks(labels.len() + 1, chunk.len())),
            };
            out.extend(on_pool!(self, p => {
                let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql.clone()));
                for l in labels { q = q.bind(l.clone()); }
                for id in chunk { q = q.bind(*id); }
                q.fetch_all(p).await?
            }));
        }
        Ok(out)
    }

    /// The contacts whose membership of one of `labels` changed after `since` (added, removed, or touched by an
    /// edit of the contact), by the memberships' change index.
    pub async fn memberships_changed_since(&self, labels: &[String], since: i64) -> Result<Vec<i64>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT contact_id FROM memberships WHERE label_id IN ({}) AND modseq > ${}",
            marks(1, labels.len()),
            labels.len() + 1
        );
        Ok(on_pool!(self, p => {
            let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone()));
            for l in labels { q = q.bind(l.clone()); }
            q.bind(since).fetch_all(p).await?
        }))
    }

    /// The UIDs of these contacts (deleted ones too), as (contact id, UID).
    pub async fn contact_uids(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!("SELECT id, uid FROM contacts WHERE id IN ({})", marks(1, chunk.len()));
            let rows: Vec<(i64, String)> = on_pool!(self, p => {
                let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql.clone()));
                for id in chunk { q = q.bind(*id); }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// The UIDs of each label's live members, for the group cards.
    pub async fn member_uids(&self, labels: &[String]) -> Result<Vec<(String, String)>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT m.label_id, c.uid FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.removed_at IS NULL AND c.deleted_at IS NULL AND m.label_id IN ({}) ORDER BY m.label_id, c.uid",
            marks(1, labels.len())
        );
        Ok(on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql.clone()));
            for l in labels { q = q.bind(l.clone()); }
            q.fetch_all(p).await?
        }))
    }
}

impl Store {
    /// Each label's token (its last change).
    pub async fn label_modseqs(&self, labels: &[String]) -> Result<HashMap<String, i64>> {
        if labels.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!("SELECT id, modseq FROM labels WHERE id IN ({})", marks(1, labels.len()));
        let rows: Vec<(String, i64)> = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql.clone()));
            for l in labels { q = q.bind(l.clone()); }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// The labels among `labels` that carry contact `id`, with its name in each.
    pub async fn membership_names(&self, id: i64, labels: &[String]) -> Result<Vec<(String, String)>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT label_id, href FROM memberships WHERE contact_id = $1 AND removed_at IS NULL AND label_id IN ({})",
            marks(2, labels.len())
        );
        Ok(on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql.clone())).bind(id);
            for l in labels { q = q.bind(l.clone()); }
            q.fetch_all(p).await?
        }))
    }

    /// The user's own live contact with this UID.
    pub async fn own_contact_by_uid(&self, owner_id: i64, uid: &str) -> Result<Option<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "SELECT id FROM contacts WHERE owner_id = $1 AND uid = $2 AND deleted_at IS NULL ORDER BY id LIMIT 1")
            .bind(owner_id).bind(uid).fetch_optional(p).await?))
    }

    /// A live member with this UID of one of `labels`, as (label, contact id): of the first label in `labels`
    /// order that has one.
    pub async fn member_by_uid(&self, labels: &[String], uid: &str) -> Result<Option<(String, i64)>> {
        if labels.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT m.label_id, c.id FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE c.uid = $1 AND m.removed_at IS NULL AND c.deleted_at IS NULL AND m.label_id IN ({})",
            marks(2, labels.len())
        );
        let rows: Vec<(String, i64)> = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql.clone())).bind(uid);
            for l in labels { q = q.bind(l.clone()); }
            q.fetch_all(p).await?
        });
        Ok(labels.iter().find_map(|l| rows.iter().find(|(label, _)| label == l).cloned()))
    }

    /// The names on `label` of its live members with these UIDs.
    pub async fn member_names_by_uid(&self, label: &str, uids: &[String]) -> Result<Vec<String>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT m.href FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.removed_at IS NULL AND c.uid IN ({})",
            marks(2, uids.len())
        );
        Ok(on_pool!(self, p => {
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.clone())).bind(label);
            for u in uids { q = q.bind(u.clone()); }
            q.fetch_all(p).await?
        }))
    }
}

#[derive(Clone, Copy)]
enum Select<'a> {
    Page { after: i64, limit: i64 },
    Ids(&'a [i64]),
    Hrefs(&'a [String]),
}
