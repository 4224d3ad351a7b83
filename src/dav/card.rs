//! GET, HEAD, PUT and DELETE of cards (RFC 6352 §6.3.2), and GET of a whole book as one .vcf.

use super::collection::{BookWants, open_own_book};
use super::xml::CARDDAV;
use super::{Ctx, DavError, DavResult, Target};
use crate::response::Body;
use crate::service::ServiceError;
use crate::store::Precondition;
use crate::vcard::{self, Version};
use http::{HeaderValue, Response, StatusCode, header};

/// Splits If-Match / If-None-Match into entity tags without quotes; `W/` tags compare weakly (RFC 9110 §13.1.2).
fn precondition(ctx: &Ctx<'_>) -> Precondition {
    crate::response::precondition(ctx.headers)
}

/// The vCard version an Accept header asks for, if it names one (`text/vcard; version=4.0`).
fn accepted_version(ctx: &Ctx<'_>) -> Option<Version> {
    let accept = ctx.header("accept")?;
    accept.split(',').find_map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next()?;
        if !media.eq_ignore_ascii_case("text/vcard") {
            return None;
        }
        parts.find_map(|p| p.strip_prefix("version=")).and_then(|v| Version::from_value(v.trim_matches('"')))
    })
}

fn vcard_response(bytes: Vec<u8>, etag: Option<&str>, head: bool, version: Option<Version>) -> Response<Body> {
    let len = bytes.len();
    let mut r = Response::new(if head { crate::response::empty() } else { crate::response::full(bytes) });
    let ct = match version {
        Some(Version::V40) => "text/vcard; charset=utf-8; version=4.0",
        _ => "text/vcard; charset=utf-8",
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(tag) = etag
        && let Ok(v) = HeaderValue::from_str(&format!("\"{tag}\""))
    {
        h.insert(header::ETAG, v);
    }
    r
}

pub async fn get(ctx: &Ctx<'_>, target: &Target, head: bool) -> DavResult {
    let svc = &ctx.app.service;
    match target {
        Target::Card(email, segment, name) => {
            let view = open_own_book(ctx, email, segment).await?;
            let card = svc.get_card(&view, name, true).await?;
            let version = accepted_version(ctx);
            // The ETag stays the stored card's: the converted bytes are a pure function of it, and clients
            // that read 4.0 must be able to write back with If-Match.
            let body = match version {
                Some(v) => vcard::convert(&card.vcard, v).unwrap_or(card.vcard),
                None => card.vcard,
            };
            let mut r = vcard_response(body, Some(&card.meta.etag), head, version);
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(card.meta.updated_at.max(0) as u64),
            )) {
                r.headers_mut().insert(header::LAST_MODIFIED, v);
            }
            Ok(r)
        }
        Target::Book(email, segment) => {
            // A whole book as one .vcf file, as exports and some clients expect.
            let view = open_own_book(ctx, email, segment).await?;
            let book = super::collection::load_book(ctx, view, BookWants::NOTHING).await?;
            Ok(super::stream::book_vcf(ctx, book, accepted_version(ctx), head))
        }
        Target::Home(email) => {
            ctx.own_home(email)?;
            Ok(crate::response::text(StatusCode::OK, "This is a CardDAV server: use a CardDAV client."))
        }
        Target::Root | Target::Principals | Target::Homes | Target::Principal(_) => {
            Ok(crate::response::text(StatusCode::OK, "This is a CardDAV server: use a CardDAV client."))
        }
    }
}

fn is_vcard_type(ct: &str) -> bool {
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(media.as_str(), "text/vcard" | "text/x-vcard" | "text/directory")
}

/// A refused write of the card `name` in `segment` (a PUT, or the destination of a COPY or MOVE), with the URLs
/// RFC 6352 §6.3.2.1's no-uid-conflict names: the other card holding the UID (in the owner's My contacts), or,
/// when the card at that name would change its UID, that card.
fn card_write_error(ctx: &Ctx<'_>, e: ServiceError, segment: &str, name: &str) -> DavError {
    let href = match &e {
        ServiceError::UidConflict(other) if !other.is_empty() => {
            return ServiceError::UidConflict(super::card_href(ctx.email(), crate::service::MY_CONTACTS, other)).into();
        }
        ServiceError::UidChanged => super::card_href(ctx.email(), segment, name),
        _ => return e.into(),
    };
    let mut err = DavError::from(e);
    if let Some((_, _, inner)) = err.condition.as_mut() {
        *inner = format!("<d:href>{}</d:href>", super::xml::escape(&href));
    }
    err
}

pub async fn put(ctx: &Ctx<'_>, target: &Target, body: &[u8]) -> DavResult {
    let Target::Card(email, segment, name) = target else {
        return Err(DavError::method_not_allowed(
            super::COLLECTION_ALLOW,
            "PUT creates or replaces a card inside an address book",
        ));
    };
    if let Some(ct) = ctx.header("content-type")
        && !is_vcard_type(ct)
    {
        // RFC 6352 §6.3.2.1 (CARDDAV:supported-address-data)
        return Err(DavError::cond(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CARDDAV,
            "supported-address-data",
            format!("cards are text/vcard, not {ct}"),
        ));
    }
    let view = open_own_book(ctx, email, segment).await?;
    let outcome = ctx
        .app
        .service
        .put_card(&view, name, body, &precondition(ctx))
        .await
        .map_err(|e| card_write_error(ctx, e, segment, name))?;
    super::push::dont_notify(ctx, outcome.modseq);
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = if outcome.created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    // RFC 6352 §6.3.2.3: the ETag goes back only when what the client reads now is exactly what it sent, which
    // is not so when hidden fields made the server keep lines the client did not send it.
    if outcome.etag == crate::service::etag_of(body)
        && let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", outcome.etag))
    {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

pub async fn delete(ctx: &Ctx<'_>, target: &Target) -> DavResult {
    let Target::Card(email, segment, name) = target else {
        return Err(DavError::not_found());
    };
    let view = open_own_book(ctx, email, segment).await?;
    let modseq = ctx.app.service.delete_card(&view, name, &precondition(ctx)).await?;
    super::push::dont_notify(ctx, modseq);
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// COPY and MOVE of a card to another name in one of the caller's books (RFC 4918 §9.8, §9.9); what that means in
/// the label model is `Service::copy_card`'s to say.
pub async fn copy_or_move(ctx: &Ctx<'_>, target: &Target, moving: bool) -> DavResult {
    let Target::Card(email, segment, name) = target else {
        return Err(DavError::new(
            StatusCode::FORBIDDEN,
            "address books are copied, renamed and moved in the dashboard; COPY and MOVE apply to cards",
        ));
    };
    // The source first: a book the caller cannot see is absent, whatever the Destination says.
    let from = open_own_book(ctx, email, segment).await?;
    let destination =
        ctx.header("destination").ok_or_else(|| DavError::bad_request("COPY and MOVE need a Destination"))?;
    // RFC 4918 §9.8.5: a destination on another server is a 502. The server's names are the Host the request
    // came to and, behind a reverse proxy, the one the client used (X-Forwarded-Host); with neither (HTTP/2
    // carries no Host header) the path decides.
    if let Some(rest) = destination.split_once("://").map(|(_, r)| r) {
        let authority = rest.split('/').next().unwrap_or("");
        let names: Vec<&str> = ["host", "x-forwarded-host"]
            .iter()
            .filter_map(|h| ctx.header(h))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        if !names.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(authority)) {
            return Err(DavError::new(StatusCode::BAD_GATEWAY, "the Destination is on another server"));
        }
    }
    let Some(Target::Card(to_email, to_segment, to_name)) = super::parse_target(destination) else {
        return Err(DavError::new(
            StatusCode::FORBIDDEN,
            "the Destination must name a card in one of your address books",
        ));
    };
    if to_email != *email {
        return Err(DavError::new(StatusCode::FORBIDDEN, "cards are copied and moved within your own address books"));
    }
    // RFC 4918 §10.6: T unless it says F.
    let overwrite = match ctx.header("overwrite").map(str::trim) {
        None | Some("T") => true,
        Some("F") => false,
        Some(other) => return Err(DavError::bad_request(format!("Overwrite is T or F, not {other:?}"))),
    };
    // RFC 4918 §9.8.5: 409 when the destination's collection does not exist.
    let to = match open_own_book(ctx, &to_email, &to_segment).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Err(DavError::new(StatusCode::CONFLICT, "the Destination's address book does not exist"));
        }
        r => r?,
    };
    let how = crate::service::Transfer { overwrite, source: precondition(ctx), remove_source: moving };
    let created = ctx
        .app
        .service
        .copy_card(&from, name, &to, &to_name, &how)
        .await
        .map_err(|e| card_write_error(ctx, e, &to_segment, &to_name))?;
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    Ok(r)
}
