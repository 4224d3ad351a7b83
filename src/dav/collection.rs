//! PROPFIND, PROPPATCH, MKCOL and DELETE of collections.

use super::multistatus::{Multistatus, PropStats};
use super::props::{self, BookRes, Res};
use super::stream::{self, Members};
use super::xml::{CARDDAV, CS, DAV, Element, PUSH, element};
use super::{Ctx, DavError, DavResult, Depth, Target, depth, parse_xml};
use crate::service::combined::COMBINED;
use crate::service::{BookView, MY_CONTACTS, ServiceError};
use crate::store::{Card, User};
use http::{Response, StatusCode, header};

pub enum PropReq {
    All(Vec<Element>),
    Names,
    Some(Vec<Element>),
}

impl PropReq {
    pub fn wants(&self, ns: &str, name: &str) -> bool {
        match self {
            PropReq::Some(list) | PropReq::All(list) => list.iter().any(|e| e.is(ns, name)),
            PropReq::Names => false,
        }
    }
}

pub fn parse_propfind(body: &[u8]) -> Result<PropReq, DavError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropReq::All(Vec::new()));
    }
    let root = parse_xml(body)?;
    if !root.is(DAV, "propfind") {
        return Err(DavError::bad_request("a PROPFIND body is a DAV:propfind element"));
    }
    if root.child(DAV, "propname").is_some() {
        return Ok(PropReq::Names);
    }
    if root.child(DAV, "allprop").is_some() {
        let include = root.child(DAV, "include").map(|i| i.children.clone()).unwrap_or_default();
        return Ok(PropReq::All(include));
    }
    match root.child(DAV, "prop") {
        Some(p) => Ok(PropReq::Some(p.children.clone())),
        None => Err(DavError::bad_request("DAV:propfind needs prop, allprop or propname")),
    }
}

fn bare(ns: &str, name: &str) -> Element {
    Element { ns: ns.into(), name: name.into(), attrs: Vec::new(), children: Vec::new(), text: String::new() }
}

pub fn prop_stats(ctx: &Ctx<'_>, res: &Res<'_>, req: &PropReq) -> Result<PropStats, DavError> {
    let mut stats = PropStats::default();
    let dead = match res {
        Res::Book(b) => b.dead.as_slice(),
        _ => &[],
    };
    match req {
        PropReq::Some(list) => {
            for el in list {
                // RFC 3744 §5.5: DAV:acl is there, but reading it takes DAV:read-acl.
                if el.is(DAV, "acl")
                    && let Res::Book(b) | Res::Card(b, _) = res
                    && matches!(b.acl, Some(props::Acl::Forbidden))
                {
                    stats.forbidden.push(element(DAV, "acl", None));
                    continue;
                }
                match props::get(ctx, res, el)? {
                    Some(x) => stats.ok.push(x),
                    None => stats.not_found.push(element(&el.ns, &el.name, None)),
                }
            }
        }
        PropReq::All(include) => {
            for (ns, name, in_allprop) in props::names(res) {
                if in_allprop && let Some(x) = props::get(ctx, res, &bare(ns, name))? {
                    stats.ok.push(x);
                }
            }
            stats.ok.extend(dead.iter().map(|d| d.xml.clone()));
            for el in include {
                if !props::names(res).iter().any(|(ns, n, all)| *all && el.is(ns, n))
                    && let Some(x) = props::get(ctx, res, el)?
                {
                    stats.ok.push(x);
                }
            }
        }
        PropReq::Names => {
            stats.ok.extend(props::names(res).into_iter().map(|(ns, n, _)| element(ns, n, None)));
            stats.ok.extend(dead.iter().map(|d| element(&d.ns, &d.name, None)));
        }
    }
    Ok(stats)
}

/// What of a book beyond its state an answer needs read: its size (quota-used-bytes) and its dead properties.
#[derive(Clone, Copy)]
pub struct BookWants {
    pub size: bool,
    pub dead: bool,
}

impl BookWants {
    /// For answers that show no property of the book itself (its members', a download).
    pub const NOTHING: BookWants = BookWants { size: false, dead: false };

    pub fn props(req: &PropReq) -> BookWants {
        BookWants { size: req.wants(DAV, "quota-used-bytes"), dead: props::may_need_dead_props(req) }
    }
}

pub async fn load_book(ctx: &Ctx<'_>, mut view: BookView, wants: BookWants) -> Result<BookRes, DavError> {
    let svc = &ctx.app.service;
    let state = svc.state(&view).await?;
    let token = state.token;
    view.displayname = state.name;
    view.description = state.description;
    let dead = if wants.dead { svc.dead_props(&view).await? } else { Vec::new() };
    let size = if wants.size { Some(svc.book_size(&view).await?) } else { None };
    Ok(BookRes { view, token, dead, size, acl: None })
}

/// The book's access control list, read as its reader may (`Acl::Forbidden` below the level that manages
/// collaborators).
pub async fn load_acl(ctx: &Ctx<'_>, book: &mut BookRes) -> Result<(), DavError> {
    book.acl = Some(match ctx.app.service.access_list(&book.view).await {
        Ok(list) => props::Acl::Readable(list),
        Err(crate::service::ServiceError::Forbidden(_)) => props::Acl::Forbidden,
        Err(e) => return Err(e.into()),
    });
    Ok(())
}

pub async fn open_own_book(ctx: &Ctx<'_>, email: &str, segment: &str) -> Result<BookView, DavError> {
    ctx.own_home(email)?;
    if segment == COMBINED {
        return Ok(ctx.app.service.open_combined(&ctx.who.user).await?);
    }
    Ok(ctx.app.service.open_book(&ctx.who.user, segment).await?)
}

pub fn minimal(ctx: &Ctx<'_>) -> bool {
    ctx.header("prefer").is_some_and(|p| p.contains("return=minimal"))
        || ctx.header("brief").is_some_and(|b| b.trim().eq_ignore_ascii_case("t"))
}

/// Answers for one resource, then (Depth 1) for each child.
pub async fn propfind(ctx: &Ctx<'_>, target: &Target, body: &[u8]) -> DavResult {
    let d = depth(ctx, Depth::Infinity)?;
    if d == Depth::Infinity {
        return Err(DavError::cond(
            StatusCode::FORBIDDEN,
            DAV,
            "propfind-finite-depth",
            "Depth: infinity is not supported; use 0 or 1",
        ));
    }
    let req = parse_propfind(body)?;
    let mut ms = Multistatus::new(minimal(ctx));
    let me: &User = &ctx.who.user;
    let wants = BookWants::props(&req);
    let want_data = req.wants(CARDDAV, "address-data");
    let want_acl = req.wants(DAV, "acl");
    let emit = |ms: &mut Multistatus, res: &Res<'_>| -> Result<(), DavError> {
        let stats = prop_stats(ctx, res, &req)?;
        ms.propstats(&props::href(ctx, res), &stats);
        Ok(())
    };
    match target {
        Target::Root => {
            emit(&mut ms, &Res::Root)?;
            if d == Depth::One {
                emit(&mut ms, &Res::Principals)?;
                emit(&mut ms, &Res::Homes)?;
            }
        }
        Target::Principals => {
            emit(&mut ms, &Res::Principals)?;
            if d == Depth::One {
                emit(&mut ms, &Res::Principal(me))?;
            }
        }
        Target::Principal(email) => {
            let user = ctx.app.service.person(me, email).await?;
            emit(&mut ms, &Res::Principal(&user))?;
        }
        Target::Homes => {
            emit(&mut ms, &Res::Homes)?;
            if d == Depth::One {
                emit(&mut ms, &Res::Home(me))?;
            }
        }
        Target::Home(email) => {
            ctx.own_home(email)?;
            emit(&mut ms, &Res::Home(me))?;
            if d == Depth::One {
                // An app password with the single layout (macOS reads one book) sees only the combined book.
                let views = if ctx.who.app_password.as_ref().is_some_and(|a| a.layout == "single") {
                    vec![ctx.app.service.open_combined(me).await?]
                } else {
                    ctx.app.service.home_books(me).await?
                };
                for view in views {
                    let mut book = load_book(ctx, view, wants).await?;
                    if want_acl {
                        load_acl(ctx, &mut book).await?;
                    }
                    emit(&mut ms, &Res::Book(&book))?;
                }
            }
        }
        Target::Book(email, segment) => {
            let view = open_own_book(ctx, email, segment).await?;
            let mut book = load_book(ctx, view, wants).await?;
            if want_acl {
                load_acl(ctx, &mut book).await?;
            }
            emit(&mut ms, &Res::Book(&book))?;
            if d == Depth::One {
                // The cards follow page by page (a few queries per thousand cards), streamed.
                let members = Members { book, req, want_data, filter: None, trailer: None };
                return Ok(stream::members(ctx, ms, members));
            }
        }
        Target::Card(email, segment, name) => {
            let view = open_own_book(ctx, email, segment).await?;
            let card: Card = ctx.app.service.get_card(&view, name, want_data).await?;
            let mut book = load_book(ctx, view, BookWants::NOTHING).await?;
            if want_acl {
                load_acl(ctx, &mut book).await?;
            }
            emit(&mut ms, &Res::Card(&book, &card))?;
        }
    }
    Ok(ms.finish())
}

/// Live properties no client may set (RFC 4918 §15, RFC 6352 §6.2, RFC 6578 §4).
fn protected(ns: &str, name: &str) -> bool {
    matches!(
        (ns, name),
        (
            DAV,
            "resourcetype"
                | "getetag"
                | "getcontentlength"
                | "getcontenttype"
                | "getlastmodified"
                | "sync-token"
                | "owner"
                | "current-user-privilege-set"
                | "current-user-principal"
                | "supported-report-set"
                | "quota-used-bytes"
                | "quota-available-bytes"
                | "principal-collection-set"
                | "creationdate"
                | "lockdiscovery"
                | "supportedlock"
        ) | (CARDDAV, "supported-address-data" | "max-resource-size" | "address-data" | "addressbook-home-set")
            | (CS, "getctag")
            | (PUSH, "transports" | "topic" | "supported-triggers")
    )
}

/// RFC 4918 §9.2: every instruction applies or none does.
pub async fn proppatch(ctx: &Ctx<'_>, target: &Target, body: &[u8]) -> DavResult {
    let root = parse_xml(body)?;
    if !root.is(DAV, "propertyupdate") {
        return Err(DavError::bad_request("a PROPPATCH body is a DAV:propertyupdate element"));
    }
    // Each property with the xml:lang in force where it was written (RFC 4918 §4.3: inherited from its ancestors).
    let mut ops: Vec<(bool, &Element, Option<&str>)> = Vec::new();
    for op in &root.children {
        let set = if op.is(DAV, "set") {
            true
        } else if op.is(DAV, "remove") {
            false
        } else {
            return Err(DavError::bad_request(format!("unexpected <{}> in propertyupdate", op.name)));
        };
        for prop in op.children_named(DAV, "prop") {
            let lang = prop.attr("xml:lang").or(op.attr("xml:lang")).or(root.attr("xml:lang"));
            ops.extend(prop.children.iter().map(|p| (set, p, lang)));
        }
    }
    let view = match target {
        Target::Book(email, segment) => open_own_book(ctx, email, segment).await?,
        Target::Principal(email) if *email == ctx.who.user.email => {
            // Nothing on a principal is writable yet: say so property by property.
            let mut stats = PropStats::default();
            stats.forbidden.extend(ops.iter().map(|(_, p, _)| element(&p.ns, &p.name, None)));
            let mut ms = Multistatus::new(false);
            ms.propstats(&super::principal_href(email), &stats);
            return Ok(ms.finish());
        }
        Target::Card(..) => {
            return Err(DavError::new(
                StatusCode::FORBIDDEN,
                "a card's properties come from its vCard; PUT the card instead",
            ));
        }
        Target::Home(email) | Target::Principal(email) if *email != ctx.who.user.email => {
            return Err(DavError::not_found());
        }
        _ => {
            return Err(DavError::new(StatusCode::FORBIDDEN, "these properties cannot be changed"));
        }
    };
    let mut name: Option<String> = None;
    let mut description: Option<String> = None;
    let mut dead: Vec<(String, String, Option<String>)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for (set, p, lang) in &ops {
        match (p.ns.as_str(), p.name.as_str()) {
            (ns, n) if protected(ns, n) => refused.push(element(ns, n, None)),
            (DAV, "displayname") if *set => name = Some(p.text.trim().to_string()),
            (DAV, "displayname") => refused.push(element(DAV, "displayname", None)),
            (CARDDAV, "addressbook-description") => {
                description = Some(if *set { p.text.clone() } else { String::new() })
            }
            _ => dead.push((p.ns.clone(), p.name.clone(), set.then(|| p.to_xml_in(*lang)))),
        }
    }
    let href = super::book_href(ctx.email(), &view.segment);
    let mut ms = Multistatus::new(false);
    let mut stats = PropStats::default();
    let names: Vec<String> =
        ops.iter().map(|(_, p, _)| element(&p.ns, &p.name, None)).filter(|e| !refused.contains(e)).collect();
    if !refused.is_empty() {
        stats.forbidden = refused;
        stats.other = names.into_iter().map(|n| (StatusCode::FAILED_DEPENDENCY, n)).collect();
    } else {
        match ctx.app.service.set_book_props(&view, name.as_deref(), description.as_deref(), &dead).await {
            Ok(()) => stats.ok = names,
            // RFC 4918 §9.2.1: no room to record the properties; the rest fails with them (424).
            Err(ServiceError::Quota(m)) => {
                let dead_names: Vec<String> = dead.iter().map(|(ns, n, _)| element(ns, n, None)).collect();
                stats.other = names
                    .into_iter()
                    .map(|n| {
                        let status = if dead_names.contains(&n) {
                            StatusCode::INSUFFICIENT_STORAGE
                        } else {
                            StatusCode::FAILED_DEPENDENCY
                        };
                        (status, n)
                    })
                    .collect();
                tracing::info!(collection = %href, reason = %m, "PROPPATCH refused: dead property limits");
            }
            Err(e) => return Err(e.into()),
        }
    }
    ms.propstats(&href, &stats);
    Ok(ms.finish())
}

/// Extended MKCOL (RFC 5689) or plain MKCOL in the caller's home creates a label.
pub async fn mkcol(ctx: &Ctx<'_>, target: &Target, body: &[u8]) -> DavResult {
    let Target::Book(email, segment) = target else {
        // Inside a book the user cannot open there is no parent collection (RFC 4918 §9.3.1: 409), exactly as
        // under a book that does not exist, so a label's id tells a stranger nothing.
        if let Target::Card(email, segment, _) = target
            && open_own_book(ctx, email, segment).await.is_err()
        {
            return Err(DavError::new(StatusCode::CONFLICT, "there is no address book here to create it in"));
        }
        return Err(DavError::new(
            StatusCode::FORBIDDEN,
            "address books are created inside your home, /dav/addressbooks/{you}/",
        ));
    };
    ctx.own_home(email)?;
    let svc = &ctx.app.service;
    if segment == MY_CONTACTS || segment == COMBINED || svc.open_book(&ctx.who.user, segment).await.is_ok() {
        return Err(DavError::method_not_allowed(
            super::COLLECTION_ALLOW,
            "a collection already exists here (RFC 4918 §9.3.1)",
        ));
    }
    let mut name = None;
    let mut description = String::new();
    let mut dead = Vec::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let root = parse_xml(body)?;
        if !root.is(DAV, "mkcol") {
            return Err(DavError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "an MKCOL body is a DAV:mkcol element (RFC 5689)",
            ));
        }
        for set in root.children_named(DAV, "set") {
            for prop in set.children_named(DAV, "prop") {
                let lang = prop.attr("xml:lang").or(set.attr("xml:lang")).or(root.attr("xml:lang"));
                for p in &prop.children {
                    match (p.ns.as_str(), p.name.as_str()) {
                        (DAV, "resourcetype") => {
                            if p.child(CARDDAV, "addressbook").is_none()
                                || p.children.iter().any(|c| !(c.is(DAV, "collection") || c.is(CARDDAV, "addressbook")))
                            {
                                return Err(DavError::cond(
                                    StatusCode::FORBIDDEN,
                                    DAV,
                                    "valid-resourcetype",
                                    "only address books can be created here",
                                ));
                            }
                        }
                        (DAV, "displayname") => name = Some(p.text.trim().to_string()),
                        (CARDDAV, "addressbook-description") => description = p.text.clone(),
                        (ns, n) if protected(ns, n) => {
                            return Err(DavError::cond(
                                StatusCode::FORBIDDEN,
                                DAV,
                                "cannot-modify-protected-property",
                                format!("{n} cannot be set"),
                            ));
                        }
                        _ => dead.push((p.ns.clone(), p.name.clone(), Some(p.to_xml_in(lang)))),
                    }
                }
            }
        }
    }
    let name = name.filter(|n| !n.is_empty()).unwrap_or_else(|| "New label".to_string());
    let label = svc.create_label(&ctx.who.user, Some(segment), &name, &description).await?;
    if !dead.is_empty() {
        let view = svc.open_book(&ctx.who.user, &label.id).await?;
        svc.set_book_props(&view, None, None, &dead).await?;
    }
    let mut r = crate::response::text(StatusCode::CREATED, "created");
    if let Ok(v) = super::book_href(ctx.email(), &label.id).parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

pub async fn delete(ctx: &Ctx<'_>, target: &Target) -> DavResult {
    match target {
        Target::Book(email, segment) => {
            let view = open_own_book(ctx, email, segment).await?;
            ctx.app.service.delete_book(&ctx.who.user, &view).await?;
            let mut r = Response::new(crate::response::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        Target::Home(email) | Target::Principal(email) if *email != ctx.who.user.email => Err(DavError::not_found()),
        _ => Err(DavError::new(StatusCode::FORBIDDEN, "this collection cannot be deleted")),
    }
}

/// The ACL method (RFC 3744 §8.1): every ACE here is protected, since who may do what is changed where sharing
/// is (the dashboard, the API), so any ACL request conflicts with one: 403 DAV:no-protected-ace-conflict.
pub async fn acl(ctx: &Ctx<'_>, target: &Target) -> DavResult {
    match target {
        Target::Book(email, segment) | Target::Card(email, segment, _) => {
            open_own_book(ctx, email, segment).await?;
        }
        Target::Home(email) => ctx.own_home(email)?,
        _ => {}
    }
    Err(DavError::cond(
        StatusCode::FORBIDDEN,
        DAV,
        "no-protected-ace-conflict",
        "access is changed by sharing the label (dashboard or API), not with ACL",
    ))
}
