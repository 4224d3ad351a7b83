//! Answers over a whole book (PROPFIND Depth 1, initial sync-collection, addressbook-query, GET of a book) and
//! over many named cards (addressbook-multiget), produced page by page in a task and sent in chunks: memory stays
//! flat whether the book holds 100 or 100,000 cards, and the first bytes leave before the last page is read.

use super::Ctx;
use super::collection::{PropReq, prop_stats};
use super::filter::Filter;
use super::multistatus::{self, Multistatus};
use super::props::{self, BookRes, Res};
use crate::response::Body;
use crate::response::BoxError;
use crate::vcard::{self, Version};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use std::collections::HashMap;
use tokio::sync::mpsc::Sender;

/// Cards read per query.
pub const PAGE: i64 = 1000;
/// Bytes buffered before a chunk is sent.
const CHUNK: usize = 64 * 1024;
/// Names looked up per query in a multiget.
const NAMES: usize = 500;
/// At most this many bytes of stored cards are read at once in a multiget (one card larger than this is read
/// alone).
const READ_BYTES: i64 = 4 * 1024 * 1024;

type Tx = Sender<Result<Bytes, BoxError>>;

/// What to list after the response's head.
pub struct Members {
    pub book: BookRes,
    pub req: PropReq,
    pub want_data: bool,
    /// addressbook-query: the filter and the client's limit.
    pub filter: Option<(Filter, Option<usize>)>,
    /// XML after the last response (the sync-token of an initial sync).
    pub trailer: Option<String>,
}

async fn send(tx: &Tx, text: String) -> Result<(), String> {
    tx.send(Ok(Bytes::from(text))).await.map_err(|_| "the client went away".to_string())
}

/// The request context, owned, so a task can outlive the handler that started it.
struct Owned {
    app: std::sync::Arc<crate::app::App>,
    who: crate::service::accounts::Principal,
    headers: http::HeaderMap,
}

impl Owned {
    fn of(ctx: &Ctx<'_>) -> Owned {
        Owned { app: ctx.app.clone(), who: ctx.who.clone(), headers: ctx.headers.clone() }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx { app: self.app.clone(), who: &self.who, headers: &self.headers }
    }
}

async fn report_failure(result: Result<(), String>, tx: &Tx) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "streamed response stopped");
        let _ = tx.send(Err(e.into())).await;
    }
}

/// A 207 whose head (`ms`, usually the book's own response) is followed by one response per card.
pub fn members(ctx: &Ctx<'_>, ms: Multistatus, m: Members) -> Response<Body> {
    let owned = Owned::of(ctx);
    let (tx, body) = crate::response::channel();
    tokio::spawn(async move {
        let ctx = owned.ctx();
        report_failure(write_members(&ctx, ms, m, &tx).await, &tx).await;
    });
    multistatus::respond(body)
}

async fn write_members(ctx: &Ctx<'_>, mut ms: Multistatus, m: Members, tx: &Tx) -> Result<(), String> {
    let mut after = 0;
    let mut matched = 0usize;
    let mut truncated = false;
    'pages: loop {
        let with_data = m.want_data || m.filter.is_some();
        let page =
            ctx.app.service.list_cards_page(&m.book.view, with_data, after, PAGE).await.map_err(|e| e.to_string())?;
        for (pos, card) in &page {
            after = *pos;
            if let Some((filter, limit)) = &m.filter {
                let Ok(parsed) = vcard::parse(&card.vcard) else { continue };
                if !filter.matches(&parsed) {
                    continue;
                }
                if limit.is_some_and(|l| matched >= l) {
                    truncated = true;
                    break 'pages;
                }
                matched += 1;
            }
            let res = Res::Card(&m.book, card);
            let stats = prop_stats(ctx, &res, &m.req).map_err(|e| e.message)?;
            ms.propstats(&props::href(ctx, &res), &stats);
        }
        if ms.buffered() >= CHUNK {
            send(tx, ms.take()).await?;
        }
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    if truncated {
        // RFC 6352 §8.6.1: more matched than the client's limit.
        let href = props::href(ctx, &Res::Book(&m.book));
        ms.status(&href, StatusCode::INSUFFICIENT_STORAGE, Some("<d:number-of-matches-within-limits/>"));
    }
    if let Some(t) = &m.trailer {
        ms.raw(t);
    }
    send(tx, ms.finish_text()).await
}

/// The named cards of an addressbook-multiget (each name once), answered in the order asked.
pub struct Multiget {
    pub book: BookRes,
    pub req: PropReq,
    pub want_data: bool,
    /// Each href as the client wrote it, with the card's name when it is one of this book's.
    pub wanted: Vec<(String, Option<String>)>,
    /// addressbook-query on one card: answered only when the card matches (nothing is said of the others).
    pub filter: Option<Filter>,
}

/// A 207 with one response per name, streamed: the cards are read in groups of bounded size, so a request for
/// many large cards never holds them all at once.
pub fn multiget(ctx: &Ctx<'_>, ms: Multistatus, m: Multiget) -> Response<Body> {
    let owned = Owned::of(ctx);
    let (tx, body) = crate::response::channel();
    tokio::spawn(async move {
        let ctx = owned.ctx();
        report_failure(write_multiget(&ctx, ms, m, &tx).await, &tx).await;
    });
    multistatus::respond(body)
}

async fn write_multiget(ctx: &Ctx<'_>, mut ms: Multistatus, m: Multiget, tx: &Tx) -> Result<(), String> {
    let service = &ctx.app.service;
    for chunk in m.wanted.chunks(NAMES) {
        let names: Vec<String> = chunk.iter().filter_map(|(_, n)| n.clone()).collect();
        // The stored sizes decide the groups; without card bytes a whole chunk is one small read.
        let with_data = m.want_data || m.filter.is_some();
        let sizes = if with_data || m.book.view.hiding() {
            service.card_sizes(&m.book.view, &names).await.map_err(|e| e.to_string())?
        } else {
            HashMap::new()
        };
        let mut start = 0;
        while start < chunk.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < chunk.len() {
                let size = chunk[end].1.as_ref().and_then(|n| sizes.get(n)).copied().unwrap_or(0);
                if end > start && bytes + size > READ_BYTES {
                    break;
                }
                bytes += size;
                end += 1;
            }
            let group = &chunk[start..end];
            start = end;
            let names: Vec<String> = group.iter().filter_map(|(_, n)| n.clone()).collect();
            let cards = if names.is_empty() {
                Vec::new()
            } else {
                service.get_cards(&m.book.view, &names, with_data).await.map_err(|e| e.to_string())?
            };
            let by_name: HashMap<&str, _> = cards.iter().map(|c| (c.meta.href.as_str(), c)).collect();
            for (href, name) in group {
                let found = name.as_deref().and_then(|n| by_name.get(n));
                if let Some(filter) = &m.filter {
                    let matched = found.and_then(|c| vcard::parse(&c.vcard).ok()).is_some_and(|p| filter.matches(&p));
                    if !matched {
                        continue;
                    }
                }
                match found {
                    Some(card) => {
                        let stats = prop_stats(ctx, &Res::Card(&m.book, card), &m.req).map_err(|e| e.message)?;
                        ms.propstats(href, &stats);
                    }
                    None => ms.status(href, StatusCode::NOT_FOUND, None),
                }
            }
            if ms.buffered() >= CHUNK {
                send(tx, ms.take()).await?;
            }
        }
    }
    send(tx, ms.finish_text()).await
}

/// GET of a book: every card, one after the other, as one text/vcard document.
pub fn book_vcf(ctx: &Ctx<'_>, book: BookRes, version: Option<Version>, head: bool) -> Response<Body> {
    let body = if head {
        crate::response::empty()
    } else {
        let owned = Owned::of(ctx);
        let (tx, body) = crate::response::channel();
        tokio::spawn(async move {
            let ctx = owned.ctx();
            report_failure(write_vcf(&ctx, &book, version, &tx).await, &tx).await;
        });
        body
    };
    let mut r = Response::new(body);
    let ct = if version == Some(Version::V40) {
        "text/vcard; charset=utf-8; version=4.0"
    } else {
        "text/vcard; charset=utf-8"
    };
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

async fn write_vcf(ctx: &Ctx<'_>, book: &BookRes, version: Option<Version>, tx: &Tx) -> Result<(), String> {
    let mut after = 0;
    let mut out = String::new();
    loop {
        let page = ctx.app.service.list_cards_page(&book.view, true, after, PAGE).await.map_err(|e| e.to_string())?;
        for (pos, card) in &page {
            after = *pos;
            let bytes = match version {
                Some(v) => vcard::convert(&card.vcard, v).unwrap_or_else(|_| card.vcard.clone()),
                None => card.vcard.clone(),
            };
            out.push_str(&String::from_utf8_lossy(&bytes));
            if !out.ends_with('\n') {
                out.push_str("\r\n");
            }
        }
        if out.len() >= CHUNK {
            send(tx, std::mem::take(&mut out)).await?;
        }
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    send(tx, out).await
}
