//! Properties of each kind of resource: their values, their names (propname) and the allprop set.

use super::xml::{self, CARDDAV, CS, DAV, Element, PUSH, element};
use super::{Ctx, DavError, book_href, card_href, home_href, principal_href};
use crate::service::BookView;
use crate::service::access::{self, Level};
use crate::store::{Card, DeadProp, User};
use crate::vcard::{self, Version};
use http::StatusCode;

pub use crate::service::{SYNC_PREFIX, sync_token, token_text};

/// A book's sync-token and getctag; the combined book's also names the reach it was issued for.
pub fn book_token(view: &BookView, n: i64) -> String {
    token_text(n, view.combined.as_ref().map(|c| c.reach.as_str()))
}

/// A book with what its properties need, loaded before they are computed.
pub struct BookRes {
    pub view: BookView,
    pub token: i64,
    pub dead: Vec<DeadProp>,
    pub size: Option<i64>,
    /// Loaded when DAV:acl is asked for.
    pub acl: Option<Acl>,
}

/// A book's access control list as its reader may see it (RFC 3744 §5.5: reading it takes DAV:read-acl).
pub enum Acl {
    Readable(Vec<(User, Level)>),
    Forbidden,
}

/// RFC 3744 §5.5.1: one ACE per principal, each protected (who may do what changes in the dashboard or the API,
/// not with the ACL method).
fn aces(list: &[(User, Level)]) -> String {
    list.iter()
        .map(|(u, level)| {
            let granted =
                if *level == Level::Owner { privileges(&["all"]) } else { privileges(&access::dav_privileges(*level)) };
            format!(
                "<d:ace><d:principal>{}</d:principal><d:grant>{granted}</d:grant><d:protected/></d:ace>",
                hrefs(&[principal_href(&u.email)])
            )
        })
        .collect()
}

pub enum Res<'a> {
    Root,
    Principals,
    Principal(&'a User),
    Homes,
    Home(&'a User),
    Book(&'a BookRes),
    Card(&'a BookRes, &'a Card),
}

pub fn href(ctx: &Ctx<'_>, res: &Res<'_>) -> String {
    match res {
        Res::Root => "/dav/".into(),
        Res::Principals => "/dav/principals/".into(),
        Res::Principal(u) => principal_href(&u.email),
        Res::Homes => "/dav/addressbooks/".into(),
        Res::Home(u) => home_href(&u.email),
        Res::Book(b) => book_href(ctx.email(), &b.view.segment),
        Res::Card(b, c) => card_href(ctx.email(), &b.view.segment, &c.meta.href),
    }
}

fn hrefs(list: &[String]) -> String {
    list.iter().map(|h| format!("<d:href>{}</d:href>", xml::escape(h))).collect()
}

fn privileges(names: &[&str]) -> String {
    names.iter().map(|p| format!("<d:privilege><d:{p}/></d:privilege>")).collect()
}

fn reports(list: &[(&str, &str)]) -> String {
    list.iter()
        .map(|(ns, n)| {
            format!("<d:supported-report><d:report>{}</d:report></d:supported-report>", element(ns, n, None))
        })
        .collect()
}

fn http_date(secs: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64))
}

/// What a book answers besides what every resource does (`names`), allprop marked.
const BOOK_NAMES: [(&str, &str, bool); 14] = [
    (DAV, "acl", false),
    (DAV, "acl-restrictions", false),
    (DAV, "displayname", true),
    (DAV, "owner", false),
    (DAV, "sync-token", false),
    (DAV, "quota-used-bytes", false),
    (DAV, "quota-available-bytes", false),
    (CARDDAV, "addressbook-description", true),
    (CARDDAV, "supported-address-data", false),
    (CARDDAV, "max-resource-size", false),
    (CS, "getctag", true),
    (PUSH, "transports", false),
    (PUSH, "topic", false),
    (PUSH, "supported-triggers", false),
];

/// Whether answering `req` on a book may need its dead properties: allprop and propname list them, and any
/// property a book does not compute may be one (PROPPATCH stores only those, RFC 4918 §9.2).
pub fn may_need_dead_props(req: &super::collection::PropReq) -> bool {
    use super::collection::PropReq;
    let computed = |e: &Element| BOOK_NAMES.iter().chain(&COMMON_NAMES).any(|(ns, name, _)| e.is(ns, name));
    match req {
        PropReq::All(_) | PropReq::Names => true,
        PropReq::Some(list) => !list.iter().all(computed),
    }
}

/// What every resource answers, allprop marked.
const COMMON_NAMES: [(&str, &str, bool); 5] = [
    (DAV, "resourcetype", true),
    (DAV, "current-user-principal", false),
    (DAV, "current-user-privilege-set", false),
    (DAV, "principal-collection-set", false),
    (DAV, "supported-report-set", false),
];

/// The names this resource answers PROPFIND propname with, allprop marked.
pub fn names(res: &Res<'_>) -> Vec<(&'static str, &'static str, bool)> {
    let mut n: Vec<(&'static str, &'static str, bool)> = COMMON_NAMES.to_vec();
    match res {
        Res::Root | Res::Principals | Res::Homes => n.push((DAV, "displayname", true)),
        Res::Principal(_) => n.extend([
            (DAV, "displayname", true),
            (DAV, "principal-URL", false),
            (DAV, "alternate-URI-set", false),
            (DAV, "group-membership", false),
            (CARDDAV, "addressbook-home-set", false),
            (CS, "email-address-set", false),
        ]),
        Res::Home(_) => n.extend([
            (DAV, "displayname", true),
            (DAV, "owner", false),
            (PUSH, "transports", false),
            (PUSH, "topic", false),
            (PUSH, "supported-triggers", false),
        ]),
        Res::Book(_) => n.extend(BOOK_NAMES),
        Res::Card(..) => n.extend([
            (DAV, "acl", false),
            (DAV, "acl-restrictions", false),
            (DAV, "getetag", true),
            (DAV, "getcontenttype", true),
            (DAV, "getcontentlength", true),
            (DAV, "getlastmodified", true),
            (DAV, "owner", false),
        ]),
    }
    n
}

/// The value of one property as a complete XML element, `None` when the resource has no such property.
pub fn get(ctx: &Ctx<'_>, res: &Res<'_>, req: &Element) -> Result<Option<String>, DavError> {
    let (ns, name) = (req.ns.as_str(), req.name.as_str());
    let me = &ctx.who.user;
    let inner: String = match (ns, name, res) {
        (DAV, "current-user-principal", _) => hrefs(&[principal_href(&me.email)]),
        (DAV, "principal-collection-set", _) => hrefs(&["/dav/principals/".into()]),
        (DAV, "resourcetype", Res::Root | Res::Principals | Res::Homes | Res::Home(_)) => "<d:collection/>".into(),
        (DAV, "resourcetype", Res::Principal(_)) => "<d:principal/>".into(),
        (DAV, "resourcetype", Res::Book(_)) => "<d:collection/><card:addressbook/>".into(),
        (DAV, "resourcetype", Res::Card(..)) => String::new(),
        (DAV, "displayname", Res::Root) => "Labelbook".into(),
        (DAV, "displayname", Res::Principals) => "Principals".into(),
        (DAV, "displayname", Res::Homes) => "Address books".into(),
        (DAV, "displayname", Res::Principal(u) | Res::Home(u)) => {
            xml::escape(if u.display_name.is_empty() { &u.email } else { &u.display_name })
        }
        (DAV, "displayname", Res::Book(b)) => xml::escape(&b.view.displayname),
        (DAV, "principal-URL", Res::Principal(u)) => hrefs(&[principal_href(&u.email)]),
        (DAV, "alternate-URI-set", Res::Principal(u)) => hrefs(&[format!("mailto:{}", u.email)]),
        (DAV, "group-membership", Res::Principal(_)) => String::new(),
        (CARDDAV, "addressbook-home-set", Res::Principal(u)) if u.id == me.id => hrefs(&[home_href(&u.email)]),
        (CS, "email-address-set", Res::Principal(u)) => format!("<cs:email-address>{}</cs:email-address>", xml::escape(&u.email)),
        (DAV, "owner", Res::Home(u)) => hrefs(&[principal_href(&u.email)]),
        (DAV, "owner", Res::Book(b) | Res::Card(b, _)) => hrefs(&[principal_href(&b.view.owner.email)]),
        (DAV, "current-user-privilege-set", Res::Book(b) | Res::Card(b, _)) => privileges(&access::dav_privileges(b.view.level)),
        (DAV, "current-user-privilege-set", Res::Home(_)) => privileges(&access::dav_privileges(Level::Owner)),
        (DAV, "current-user-privilege-set", Res::Principal(u)) if u.id == me.id => {
            // iOS wants to be able to write its own principal (Kozea/Radicale#693).
            privileges(&["read", "read-current-user-privilege-set", "write-properties"])
        }
        (DAV, "current-user-privilege-set", _) => privileges(&["read", "read-current-user-privilege-set"]),
        (DAV, "supported-report-set", Res::Book(_)) => reports(&[
            (CARDDAV, "addressbook-multiget"),
            (CARDDAV, "addressbook-query"),
            (DAV, "sync-collection"),
            (DAV, "expand-property"),
            (DAV, "acl-principal-prop-set"),
            (DAV, "principal-match"),
        ]),
        // RFC 6352 §8.6, §8.7: both reports apply to an address object resource too.
        (DAV, "supported-report-set", Res::Card(..)) => reports(&[
            (CARDDAV, "addressbook-multiget"),
            (CARDDAV, "addressbook-query"),
            (DAV, "expand-property"),
            (DAV, "acl-principal-prop-set"),
        ]),
        (DAV, "supported-report-set", Res::Principals | Res::Principal(_) | Res::Root) => reports(&[
            (DAV, "expand-property"),
            (DAV, "principal-property-search"),
            (DAV, "principal-search-property-set"),
            (DAV, "principal-match"),
        ]),
        (DAV, "supported-report-set", Res::Home(_)) => reports(&[(DAV, "expand-property"), (DAV, "principal-match")]),
        (DAV, "supported-report-set", _) => reports(&[(DAV, "expand-property")]),
        (DAV, "acl", Res::Book(b) | Res::Card(b, _)) => match &b.acl {
            Some(Acl::Readable(list)) => aces(list),
            _ => return Ok(None),
        },
        // RFC 3744 §5.6: only grants, never inverted principals.
        (DAV, "acl-restrictions", Res::Book(_) | Res::Card(..)) => "<d:grant-only/><d:no-invert/>".into(),
        (DAV, "sync-token", Res::Book(b)) => book_token(&b.view, b.token),
        (CS, "getctag", Res::Book(b)) => book_token(&b.view, b.token),
        (CARDDAV, "addressbook-description", Res::Book(b)) => xml::escape(&b.view.description),
        (CARDDAV, "supported-address-data", Res::Book(_)) => "<card:address-data-type content-type=\"text/vcard\" version=\"3.0\"/><card:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>".into(),
        (CARDDAV, "max-resource-size", Res::Book(_)) => ctx.app.config.max_resource_size.to_string(),
        (DAV, "quota-used-bytes", Res::Book(b)) => match b.size {
            Some(s) => s.to_string(),
            None => return Ok(None),
        },
        (DAV, "quota-available-bytes", Res::Book(_)) => match ctx.app.free_bytes() {
            Some(n) => n.to_string(),
            None => return Ok(None),
        },
        // WebDAV-Push discovery: on the home and the books, nothing elsewhere (the draft: not on resources that
        // cannot push).
        (PUSH, _, Res::Home(_)) => match super::push::property(ctx, name, "") {
            Some(v) => v,
            None => return Ok(None),
        },
        (PUSH, _, Res::Book(b)) => match super::push::property(ctx, name, &b.view.segment) {
            Some(v) => v,
            None => return Ok(b.dead.iter().find(|d| d.ns == ns && d.name == name).map(|d| d.xml.clone())),
        },
        (DAV, "getetag", Res::Card(_, c)) => format!("\"{}\"", c.meta.etag),
        (DAV, "getcontenttype", Res::Card(..)) => "text/vcard; charset=utf-8".into(),
        (DAV, "getcontentlength", Res::Card(_, c)) => c.meta.size.to_string(),
        (DAV, "getlastmodified", Res::Card(_, c)) => http_date(c.meta.updated_at),
        (CARDDAV, "address-data", Res::Card(_, c)) => return address_data(req, &c.vcard).map(Some),
        (_, _, Res::Book(b)) => {
            return Ok(b.dead.iter().find(|d| d.ns == ns && d.name == name).map(|d| d.xml.clone()));
        }
        _ => return Ok(None),
    };
    Ok(Some(element(ns, name, Some(&inner))))
}

/// What an `address-data` request element asks for: a version, and optionally a subset of properties.
pub struct AddressDataRequest {
    pub version: Option<Version>,
    pub props: Option<Vec<String>>,
}

/// RFC 6352 §10.4: content-type must be text/vcard; version 3.0 or 4.0 converts. Anything else is the
/// CARDDAV:supported-address-data precondition of §8.6 and §8.7 (the request names a media type the server
/// does not support; `-conversion` is for one resource that cannot be converted, §5.1.1.1).
pub fn address_data_request(req: &Element) -> Result<AddressDataRequest, DavError> {
    let unsupported = || {
        DavError::cond(
            StatusCode::FORBIDDEN,
            CARDDAV,
            "supported-address-data",
            "address-data is available as text/vcard version 3.0 or 4.0",
        )
    };
    if let Some(ct) = req.attr("content-type")
        && !ct.eq_ignore_ascii_case("text/vcard")
    {
        return Err(unsupported());
    }
    let version = match req.attr("version") {
        None => None,
        Some(v) => Some(Version::from_value(v).filter(|v| *v != Version::V21).ok_or_else(unsupported)?),
    };
    let props = if req.child(CARDDAV, "allprop").is_some() {
        None
    } else {
        let names: Vec<String> =
            req.children_named(CARDDAV, "prop").filter_map(|p| p.attr("name")).map(str::to_ascii_uppercase).collect();
        (!names.is_empty()).then_some(names)
    };
    Ok(AddressDataRequest { version, props })
}

pub fn address_data(req: &Element, bytes: &[u8]) -> Result<String, DavError> {
    let r = address_data_request(req)?;
    let mut data = match r.version {
        Some(v) => vcard::convert(bytes, v).unwrap_or_else(|_| bytes.to_vec()),
        None => bytes.to_vec(),
    };
    if let Some(names) = &r.props
        && let Ok(card) = vcard::parse(&data)
    {
        let mut out = format!("BEGIN:VCARD\r\nVERSION:{}\r\n", card.version.as_str());
        for p in card.props.iter().filter(|p| names.contains(&p.name)) {
            out.push_str(&p.raw);
            out.push_str("\r\n");
        }
        out.push_str("END:VCARD\r\n");
        data = out.into_bytes();
    }
    let text = String::from_utf8_lossy(&data);
    Ok(element(CARDDAV, "address-data", Some(&xml::escape(&text))))
}
