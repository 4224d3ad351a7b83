//! REPORT: addressbook-multiget and addressbook-query (RFC 6352 §8.6–8.7), sync-collection (RFC 6578),
//! expand-property (RFC 3253 §3.8), principal-property-search and principal-search-property-set (RFC 3744 §9).

use super::collection::{BookWants, PropReq, load_book, minimal, open_own_book, prop_stats};
use super::filter::{self, FilterError};
use super::multistatus::{Multistatus, PropStats};
use super::props::{self, BookRes, Res, SYNC_PREFIX};
use super::stream::{self, Members};
use super::xml::{self, CARDDAV, DAV, Element, element};
use super::{Ctx, DavError, DavResult, Target, parse_target, parse_xml};
use crate::response::Body;
use crate::store::{Change, User};
use http::{HeaderValue, Response, StatusCode, header};
use std::collections::HashSet;

pub async fn report(ctx: &Ctx<'_>, target: &Target, body: &[u8]) -> DavResult {
    let root = parse_xml(body)?;
    match (root.ns.as_str(), root.name.as_str()) {
        (CARDDAV, "addressbook-multiget") => multiget(ctx, target, &root).await,
        (CARDDAV, "addressbook-query") => query(ctx, target, &root).await,
        (DAV, "sync-collection") => sync_collection(ctx, target, &root).await,
        (DAV, "expand-property") => expand_property(ctx, target, &root).await,
        (DAV, "principal-property-search") => {
            depth_zero(ctx, "principal-property-search")?;
            principal_property_search(ctx, &root).await
        }
        (DAV, "principal-search-property-set") => {
            depth_zero(ctx, "principal-search-property-set")?;
            Ok(principal_search_property_set())
        }
        (DAV, "acl-principal-prop-set") => {
            depth_zero(ctx, "acl-principal-prop-set")?;
            acl_principal_prop_set(ctx, target, &root).await
        }
        (DAV, "principal-match") => {
            depth_zero(ctx, "principal-match")?;
            principal_match(ctx, target, &root).await
        }
        (_, name) => Err(DavError::cond(
            StatusCode::FORBIDDEN,
            DAV,
            "supported-report",
            format!("the {name} report is not supported here"),
        )),
    }
}

/// RFC 3744 §9.4, §9.5: these reports are defined only for Depth 0 (the default for REPORT, RFC 3253 §3.6);
/// any other Depth is a 400.
fn depth_zero(ctx: &Ctx<'_>, report: &str) -> Result<(), DavError> {
    match ctx.header("depth").map(str::trim) {
        None | Some("0") => Ok(()),
        Some(d) => Err(DavError::bad_request(format!("{report} is defined for Depth 0 only, not {d} (RFC 3744 §9.4)"))),
    }
}

/// The props a REPORT asks for (DAV:prop, or allprop), with address-data checked up front.
fn report_props(root: &Element) -> Result<(PropReq, bool), DavError> {
    let req = if let Some(p) = root.child(DAV, "prop") {
        PropReq::Some(p.children.clone())
    } else if root.child(DAV, "propname").is_some() {
        PropReq::Names
    } else {
        PropReq::All(Vec::new())
    };
    let mut want_data = false;
    if let PropReq::Some(list) = &req {
        for el in list.iter().filter(|e| e.is(CARDDAV, "address-data")) {
            props::address_data_request(el)?;
            want_data = true;
        }
    }
    Ok((req, want_data))
}

async fn report_book(ctx: &Ctx<'_>, target: &Target, report: &str) -> Result<BookRes, DavError> {
    let (Target::Book(email, segment) | Target::Card(email, segment, _)) = target else {
        return Err(DavError::cond(
            StatusCode::FORBIDDEN,
            DAV,
            "supported-report",
            format!("{report} is a report on an address book"),
        ));
    };
    let view = open_own_book(ctx, email, segment).await?;
    load_book(ctx, view, BookWants::NOTHING).await
}

async fn multiget(ctx: &Ctx<'_>, target: &Target, root: &Element) -> DavResult {
    let book = report_book(ctx, target, "addressbook-multiget").await?;
    let (req, want_data) = report_props(root)?;
    // A name asked for twice is answered once: repeating one large card a thousand times must not cost a
    // thousand copies.
    let mut asked: HashSet<String> = HashSet::new();
    let mut wanted: Vec<(String, Option<String>)> = Vec::new();
    for h in root.children_named(DAV, "href") {
        let href = h.text.trim().to_string();
        if !asked.insert(href.clone()) {
            continue;
        }
        let name = match parse_target(&href) {
            Some(Target::Card(e, s, n)) if e == ctx.email() && s == book.view.segment => Some(n),
            _ => None,
        };
        wanted.push((href, name));
    }
    let max = ctx.app.config.max_multiget_hrefs;
    if wanted.len() > max {
        return Err(DavError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("this addressbook-multiget names {} resources; ask for at most {max} at a time", wanted.len()),
        ));
    }
    let ms = Multistatus::new(minimal(ctx));
    Ok(stream::multiget(ctx, ms, stream::Multiget { book, req, want_data, wanted, filter: None }))
}

async fn query(ctx: &Ctx<'_>, target: &Target, root: &Element) -> DavResult {
    let book = report_book(ctx, target, "addressbook-query").await?;
    let (req, _) = report_props(root)?;
    let filter_el = root
        .child(CARDDAV, "filter")
        .ok_or_else(|| DavError::bad_request("addressbook-query needs a CARDDAV:filter (RFC 6352 §10.3)"))?;
    let filter = filter::parse(filter_el).map_err(|e| match e {
        FilterError::UnsupportedCollation(c) => DavError::cond(
            StatusCode::FORBIDDEN,
            CARDDAV,
            "supported-collation",
            format!("collation {c} is not supported"),
        ),
        FilterError::Invalid(m) => DavError::cond(StatusCode::FORBIDDEN, CARDDAV, "supported-filter", m),
    })?;
    let limit = match root.child(CARDDAV, "limit").and_then(|l| l.child(CARDDAV, "nresults")) {
        Some(n) => Some(n.text.trim().parse::<usize>().map_err(|_| DavError::bad_request("nresults is a number"))?),
        None => None,
    };
    let ms = Multistatus::new(minimal(ctx));
    // RFC 6352 §8.6: on an address object resource the query tests that one card.
    if let Target::Card(email, segment, name) = target {
        let href = super::card_href(email, segment, name);
        let wanted = vec![(href, Some(name.clone()))];
        return Ok(stream::multiget(
            ctx,
            ms,
            stream::Multiget { book, req, want_data: true, wanted, filter: Some(filter) },
        ));
    }
    // The filter runs on the parsed cards, read page by page and answered as they match.
    Ok(stream::members(ctx, ms, Members { book, req, want_data: true, filter: Some((filter, limit)), trailer: None }))
}

fn invalid_token() -> DavError {
    DavError::cond(
        StatusCode::FORBIDDEN,
        DAV,
        "valid-sync-token",
        "the sync-token is unknown or expired: start again with an empty one (RFC 6578 §3.2)",
    )
}

async fn sync_collection(ctx: &Ctx<'_>, target: &Target, root: &Element) -> DavResult {
    // Tokens are read before the changes: a write landing in between is then reported again next time,
    // never skipped.
    let book = report_book(ctx, target, "sync-collection").await?;
    let (req, want_data) = report_props(root)?;
    let token_text = root.child(DAV, "sync-token").map(|t| t.text.trim()).unwrap_or("");
    let since = if token_text.is_empty() {
        0
    } else {
        let rest = token_text.strip_prefix(SYNC_PREFIX).ok_or_else(invalid_token)?;
        // The combined book's token names the reach it was issued for: once that changed (a share accepted or
        // revoked, a level), what the client holds cannot be told from a delta, so it starts again.
        let number = match &book.view.combined {
            Some(c) => match rest.split_once('-') {
                Some((n, reach)) if reach == c.reach => n,
                _ => return Err(invalid_token()),
            },
            None => rest,
        };
        let n: i64 = number.parse().map_err(|_| invalid_token())?;
        // Older than the newest purged tombstone, what was deleted since can no longer be told (RFC 6578 §3.2);
        // above the current sequence, the token was never issued. The book's own token is always valid: nothing
        // changed after it, purged or not.
        if n != book.token {
            let (oldest, current) = ctx.app.service.token_window().await?;
            if n < oldest || n > current {
                return Err(invalid_token());
            }
        }
        n
    };
    let limit = match root.child(DAV, "limit").and_then(|l| l.child(DAV, "nresults")) {
        Some(n) => Some(n.text.trim().parse::<usize>().map_err(|_| DavError::bad_request("nresults is a number"))?),
        None => None,
    };
    let mut ms = Multistatus::new(minimal(ctx));
    if since == 0 && limit.is_none() {
        // An initial sync lists every card: streamed page by page, then the token read before the first page.
        let trailer = Some(format!("<d:sync-token>{}</d:sync-token>", props::book_token(&book.view, book.token)));
        return Ok(stream::members(ctx, ms, Members { book, req, want_data, filter: None, trailer }));
    }
    // Most polls hold the book's current token: no member changed after it (the book's token is its last
    // change's), so the answer is that token and no members, with no look at the change log.
    let (changes, truncated) = if since == book.token {
        (Vec::new(), false)
    } else {
        ctx.app.service.changes_since(&book.view, since, limit, want_data).await?
    };
    for change in &changes {
        match change {
            Change::Present(card) => {
                let href = props::href(ctx, &Res::Card(&book, card));
                ms.propstats(&href, &prop_stats(ctx, &Res::Card(&book, card), &req)?);
            }
            Change::Removed { href, .. } => {
                ms.status(&super::card_href(ctx.email(), &book.view.segment, href), StatusCode::NOT_FOUND, None);
            }
        }
    }
    let token = if truncated {
        // RFC 6578 §3.6: the client continues from here.
        ms.status(
            &props::href(ctx, &Res::Book(&book)),
            StatusCode::INSUFFICIENT_STORAGE,
            Some("<d:number-of-matches-within-limits/>"),
        );
        changes.last().map(Change::modseq).unwrap_or(since)
    } else {
        book.token.max(since)
    };
    ms.raw(&format!("<d:sync-token>{}</d:sync-token>", props::book_token(&book.view, token)));
    Ok(ms.finish())
}

/// A resource resolved from an href for expand-property.
enum Owned {
    Root,
    Principals,
    Principal(User),
    Homes,
    Home(User),
    Book(Box<BookRes>),
}

impl Owned {
    fn res(&self) -> Res<'_> {
        match self {
            Owned::Root => Res::Root,
            Owned::Principals => Res::Principals,
            Owned::Principal(u) => Res::Principal(u),
            Owned::Homes => Res::Homes,
            Owned::Home(u) => Res::Home(u),
            Owned::Book(b) => Res::Book(b),
        }
    }
}

async fn resolve(ctx: &Ctx<'_>, target: &Target) -> Result<Owned, DavError> {
    Ok(match target {
        Target::Root => Owned::Root,
        Target::Principals => Owned::Principals,
        Target::Principal(email) => Owned::Principal(ctx.app.service.person(&ctx.who.user, email).await?),
        Target::Homes => Owned::Homes,
        Target::Home(email) => {
            ctx.own_home(email)?;
            Owned::Home(ctx.who.user.clone())
        }
        Target::Book(email, segment) => Owned::Book(Box::new(
            load_book(ctx, open_own_book(ctx, email, segment).await?, BookWants { size: false, dead: true }).await?,
        )),
        Target::Card(..) => {
            return Err(DavError::new(StatusCode::FORBIDDEN, "expand-property applies to collections and principals"));
        }
    })
}

fn extract_hrefs(xml: &str) -> Vec<String> {
    xml.split("<d:href>").skip(1).filter_map(|s| s.split("</d:href>").next()).map(str::to_string).collect()
}

/// RFC 3253 §3.8, one level of nesting: href-valued properties are replaced by the named properties of
/// the resources they point to.
async fn expand_property(ctx: &Ctx<'_>, target: &Target, root: &Element) -> DavResult {
    let here = resolve(ctx, target).await?;
    let mut stats = PropStats::default();
    for p in root.children_named(DAV, "property") {
        let ns = p.attr("namespace").unwrap_or(DAV).to_string();
        let Some(name) = p.attr("name") else { continue };
        let el = Element {
            ns: ns.clone(),
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
            text: String::new(),
        };
        let Some(value) = props::get(ctx, &here.res(), &el)? else {
            stats.not_found.push(element(&ns, name, None));
            continue;
        };
        let nested: Vec<Element> = p
            .children_named(DAV, "property")
            .filter_map(|c| {
                Some(Element {
                    ns: c.attr("namespace").unwrap_or(DAV).to_string(),
                    name: c.attr("name")?.to_string(),
                    attrs: Vec::new(),
                    children: Vec::new(),
                    text: String::new(),
                })
            })
            .collect();
        let hrefs = extract_hrefs(&value);
        if nested.is_empty() || hrefs.is_empty() {
            stats.ok.push(value);
            continue;
        }
        let mut inner = Multistatus::new(false);
        let req = PropReq::Some(nested);
        for href in hrefs {
            let resolved = match parse_target(&href) {
                Some(t) => resolve(ctx, &t).await.ok(),
                None => None,
            };
            match resolved {
                Some(o) => inner.propstats(&href, &prop_stats(ctx, &o.res(), &req)?),
                None => inner.status(&href, StatusCode::NOT_FOUND, None),
            }
        }
        let xml = inner.into_inner();
        let responses = xml
            .split_once('>')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(_, r)| r.to_string())
            .unwrap_or_default();
        stats.ok.push(element(&ns, name, Some(&responses)));
    }
    let mut ms = Multistatus::new(minimal(ctx));
    ms.propstats(&props::href(ctx, &here.res()), &stats);
    Ok(ms.finish())
}

async fn principal_property_search(ctx: &Ctx<'_>, root: &Element) -> DavResult {
    let all_of = root.attr("test") != Some("anyof");
    let mut result: Option<Vec<User>> = None;
    for search in root.children_named(DAV, "property-search") {
        let needle = search.child(DAV, "match").map(|m| m.text.trim().to_string()).unwrap_or_default();
        let found = ctx.app.service.find_people(&ctx.who.user, &needle).await?;
        result = Some(match result {
            None => found,
            Some(prev) if all_of => prev.into_iter().filter(|u| found.iter().any(|f| f.id == u.id)).collect(),
            Some(mut prev) => {
                prev.extend(found.into_iter().filter(|f| !prev.iter().any(|u| u.id == f.id)).collect::<Vec<_>>());
                prev
            }
        });
    }
    let (req, _) = report_props(root)?;
    let mut ms = Multistatus::new(minimal(ctx));
    for user in result.unwrap_or_default() {
        ms.propstats(&super::principal_href(&user.email), &prop_stats(ctx, &Res::Principal(&user), &req)?);
    }
    Ok(ms.finish())
}

/// RFC 3744 §9.2: the named properties of every principal in the resource's DAV:acl; reading them takes what
/// reading the ACL takes (DAV:read-acl).
async fn acl_principal_prop_set(ctx: &Ctx<'_>, target: &Target, root: &Element) -> DavResult {
    let book = report_book(ctx, target, "acl-principal-prop-set").await?;
    let list = ctx.app.service.access_list(&book.view).await.map_err(|e| match e {
        crate::service::ServiceError::Forbidden(_) => DavError {
            status: StatusCode::FORBIDDEN,
            condition: Some((
                DAV,
                "need-privileges",
                "<d:resource><d:href/><d:privilege><d:read-acl/></d:privilege></d:resource>".into(),
            )),
            message: "reading who has access takes the share level".into(),
            allow: None,
        },
        e => e.into(),
    })?;
    let (req, _) = report_props(root)?;
    let mut ms = Multistatus::new(minimal(ctx));
    for (user, _) in &list {
        ms.propstats(&super::principal_href(&user.email), &prop_stats(ctx, &Res::Principal(user), &req)?);
    }
    Ok(ms.finish())
}

/// RFC 3744 §9.3: the resources under the request-URI that are the caller (`DAV:self`: their principal), or whose
/// named property names the caller (`DAV:principal-property`, here DAV:owner: their own books, and the cards of
/// a book they own).
async fn principal_match(ctx: &Ctx<'_>, target: &Target, root: &Element) -> DavResult {
    let me = &ctx.who.user;
    let (req, want_data) = report_props(root)?;
    let mut ms = Multistatus::new(minimal(ctx));
    let by_self = root.child(DAV, "self").is_some();
    let by_property = root.child(DAV, "principal-property").and_then(|p| p.children.first());
    match (by_self, by_property) {
        (true, None) => {
            let mine = match target {
                Target::Principals | Target::Root => true,
                Target::Principal(email) => *email == me.email,
                _ => false,
            };
            if mine {
                ms.propstats(&super::principal_href(&me.email), &prop_stats(ctx, &Res::Principal(me), &req)?);
            }
        }
        (false, Some(p)) if p.is(DAV, "owner") => match target {
            Target::Home(email) => {
                ctx.own_home(email)?;
                for view in ctx.app.service.home_books(me).await? {
                    if view.owner.id == me.id {
                        let book = load_book(ctx, view, BookWants { size: false, ..BookWants::props(&req) }).await?;
                        ms.propstats(&props::href(ctx, &Res::Book(&book)), &prop_stats(ctx, &Res::Book(&book), &req)?);
                    }
                }
            }
            Target::Book(email, segment) => {
                let book = load_book(ctx, open_own_book(ctx, email, segment).await?, BookWants::NOTHING).await?;
                if book.view.owner.id == me.id {
                    let members = Members { book, req, want_data, filter: None, trailer: None };
                    return Ok(stream::members(ctx, ms, members));
                }
            }
            Target::Card(email, segment, name) => {
                let view = open_own_book(ctx, email, segment).await?;
                let card = ctx.app.service.get_card(&view, name, want_data).await?;
                let book = load_book(ctx, view, BookWants::NOTHING).await?;
                if book.view.owner.id == me.id {
                    let res = Res::Card(&book, &card);
                    ms.propstats(&props::href(ctx, &res), &prop_stats(ctx, &res, &req)?);
                }
            }
            _ => {}
        },
        (false, Some(p)) => {
            return Err(DavError::new(
                StatusCode::FORBIDDEN,
                format!("principal-match by {} is not supported; DAV:owner is", p.name),
            ));
        }
        _ => {
            return Err(DavError::bad_request(
                "principal-match holds exactly one of DAV:self and DAV:principal-property (RFC 3744 §9.3)",
            ));
        }
    }
    Ok(ms.finish())
}

fn principal_search_property_set() -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:principal-search-property-set {}>\
<d:principal-search-property><d:prop><d:displayname/></d:prop><d:description xml:lang=\"en\">Name</d:description></d:principal-search-property>\
<d:principal-search-property><d:prop><cs:email-address-set/></d:prop><d:description xml:lang=\"en\">E-mail address</d:description></d:principal-search-property>\
</d:principal-search-property-set>\n",
        xml::NS_DECLS
    );
    let mut r = Response::new(crate::response::full(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    r
}
