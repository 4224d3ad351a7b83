//! Contacts of one book as people browse them: by name or most recently changed first, filtered by a search over
//! name, e-mail, phone and organization, in keyset pages (one query per page), and one contact by its id.

use super::{Book, Card, CardMeta, Result, Store, on_pool};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// The order a book's contacts are listed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContactOrder {
    /// By name (the card's sort key), then id.
    #[default]
    Name,
    /// The contact changed last first (its change sequence value), then id, descending.
    Recent,
}

/// Where a page continues: after this contact, in `order` (id 0 to start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCursor {
    pub order: ContactOrder,
    pub sort_key: String,
    /// The contact's own change sequence value (not its membership's), for `Recent`.
    pub changed: i64,
    pub id: i64,
}

type Row = (i64, String, String, i64, i64, i64, Vec<u8>, String, i64);

fn card_of(r: Row) -> (PageCursor, Card) {
    (
        PageCursor { order: ContactOrder::Name, sort_key: r.7, changed: r.8, id: r.0 },
        Card {
            meta: CardMeta {
                contact_id: r.0,
                href: r.1,
                etag: r.2,
                size: r.3,
                updated_at: r.4,
                modseq: r.5,
                via: None,
            },
            vcard: r.6,
        },
    )
}

/// `%needle%` for LIKE, with the needle's own wildcards escaped.
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A search's condition on the contacts table `c`: $2 the folded pattern (`vcard::fold`, as `c.search` is), $3 the
/// digits pattern (phone numbers are stored as typed, so `5550100` must find `555-0100`).
const MATCHES: &str = "($2 = '%%' OR c.search LIKE $2 ESCAPE '\\' OR ($3 <> '' AND replace(replace(replace(replace(replace(c.tels, ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') LIKE $3))";

/// `SELECT` of a `Row` for every live card of `book` (`$1` is the book; more conditions follow with `AND`), or
/// `None` for the combined book, which is CardDAV's only: the API reads My contacts and labels.
fn live_cards(book: &Book) -> Option<String> {
    let (from, href, modseq) = match book {
        Book::Combined { .. } => return None,
        Book::MyContacts { .. } => ("contacts c WHERE c.owner_id = $1 AND c.deleted_at IS NULL", "c.href", "c.modseq"),
        Book::Label { .. } => (
            "memberships m JOIN contacts c ON c.id = m.contact_id WHERE m.label_id = $1 AND m.removed_at IS NULL",
            "m.href",
            "m.modseq",
        ),
    };
    Some(format!(
        "SELECT c.id, {href}, c.etag, CAST(length(c.vcard) AS BIGINT), c.updated_at, {modseq}, c.vcard, c.sort_key, c.modseq FROM {from}"
    ))
}

/// Binds `$1` of `live_cards`.
macro_rules! bind_book {
    ($q:expr, $book:expr) => {
        match $book {
            Book::MyContacts { owner_id } => $q.bind(*owner_id),
            Book::Label { label_id } => $q.bind(label_id.clone()),
            Book::Combined { .. } => $q,
        }
    };
}

impl Store {
    /// Up to `limit` live contacts of `book` after `after`, in `after.order`, matching `needle` (empty: all),
    /// each with the cursor that continues after it.
    pub async fn search_cards(
        &self,
        book: &Book,
        needle: &str,
        after: &PageCursor,
        limit: i64,
    ) -> Result<Vec<(PageCursor, Card)>> {
        let needle = crate::vcard::search_needle(needle);
        let pattern = like_pattern(&needle);
        let digits: String = needle.chars().filter(char::is_ascii_digit).collect();
        let digits = if digits.len() >= 3 { format!("%{digits}%") } else { String::new() };
        let Some(select) = live_cards(book) else { return Ok(Vec::new()) };
        let page = match after.order {
            ContactOrder::Name => "(c.sort_key > $4 OR (c.sort_key = $4 AND c.id > $5)) ORDER BY c.sort_key, c.id",
            ContactOrder::Recent => {
                "($5 = 0 OR c.modseq < $4 OR (c.modseq = $4 AND c.id < $5)) ORDER BY c.modseq DESC, c.id DESC"
            }
        };
        let sql = format!("{select} AND {MATCHES} AND {page} LIMIT $6");
        let rows: Vec<Row> = on_pool!(self, p => {
            let q = sqlx::query_as::<_, Row>(AssertSqlSafe(sql.clone()));
            let q = bind_book!(q, book).bind(&pattern).bind(&digits);
            let q = match after.order { ContactOrder::Name => q.bind(&after.sort_key), ContactOrder::Recent => q.bind(after.changed) };
            q.bind(after.id).bind(limit).fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(card_of)
            .map(|(cursor, card)| (PageCursor { order: after.order, ..cursor }, card))
            .collect())
    }

    /// How many live contacts My contacts of `owner_id` holds, and each of `label_ids` (absent: none). Two queries.
    pub async fn count_cards(&self, owner_id: i64, label_ids: &[String]) -> Result<(i64, HashMap<String, i64>)> {
        let mine: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE owner_id = $1 AND deleted_at IS NULL")
            .bind(owner_id).fetch_one(p).await?);
        let mut counts = HashMap::with_capacity(label_ids.len());
        for chunk in label_ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT label_id, COUNT(*) FROM memberships WHERE removed_at IS NULL AND label_id IN ({}) GROUP BY label_id",
                list.join(", ")
            );
            let rows: Vec<(String, i64)> = on_pool!(self, p => {
                let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql.clone()));
                for id in chunk { q = q.bind(id.clone()); }
                q.fetch_all(p).await?
            });
            counts.extend(rows);
        }
        Ok((mine, counts))
    }

    /// Those of `label_ids` shared with anyone (a grant pending or accepted), in one query per 500.
    pub async fn shared_labels(&self, label_ids: &[String]) -> Result<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        for chunk in label_ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT DISTINCT label_id FROM grants WHERE status IN ('pending', 'accepted') AND label_id IN ({})",
                list.join(", ")
            );
            let rows: Vec<String> = on_pool!(self, p => {
                let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.clone()));
                for id in chunk { q = q.bind(id.clone()); }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// The live contact `contact_id` as `book` shows it (its name there), with its bytes.
    pub async fn card_by_id(&self, book: &Book, contact_id: i64) -> Result<Option<Card>> {
        let Some(select) = live_cards(book) else { return Ok(None) };
        let sql = format!("{select} AND c.id = $2");
        let row: Option<Row> = on_pool!(self, p => {
            let q = sqlx::query_as(AssertSqlSafe(sql.clone()));
            bind_book!(q, book).bind(contact_id).fetch_optional(p).await?
        });
        Ok(row.map(|r| card_of(r).1))
    }

    /// The live contacts among `ids` of My contacts or a label (by their name there), with their bytes, in one
    /// query; ids not in the book are left out.
    pub async fn cards_by_ids(&self, book: &Book, ids: &[i64]) -> Result<Vec<Card>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(select) = live_cards(book) else { return Ok(Vec::new()) };
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("{select} AND c.id IN ({})", marks.join(", "));
        let rows: Vec<Row> = on_pool!(self, p => {
            let q = sqlx::query_as(AssertSqlSafe(sql.clone()));
            let mut q = bind_book!(q, book);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().map(|r| card_of(r).1).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn a_needle_matches_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern(""), "%%");
    }
}
