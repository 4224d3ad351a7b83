//! Contacts of My contacts (`/contacts`) or of a label (`/labels/{id}/contacts`), in the JSON form of
//! `vcard::json`: list and search by name in cursor pages, read, create, change (If-Match), delete.

use super::{ApiResult, Problem, Request, json_response, no_content, rfc3339, with_etag};
use crate::service::{BookView, MY_CONTACTS};
use crate::store::{Card, ContactOrder, PageCursor, Precondition};
use crate::vcard::json::{self, Fields, Patch};
use base64::Engine;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct ContactJson {
    id: i64,
    etag: String,
    uid: String,
    kind: String,
    updated_at: String,
    has_photo: bool,
    #[serde(flatten)]
    fields: Fields,
}

pub(super) fn contact_json(card: &Card, with_photo: bool) -> Result<ContactJson, Problem> {
    let parsed = crate::service::read_for_edit(&card.vcard)?;
    let ix = parsed.indexed();
    let mut fields = json::read(&parsed);
    let has_photo = fields.photo.is_some();
    if !with_photo {
        fields.photo = None;
    }
    Ok(ContactJson {
        id: card.meta.contact_id,
        etag: card.meta.etag.clone(),
        uid: ix.uid,
        kind: if ix.kind.is_empty() { "individual".into() } else { ix.kind },
        updated_at: rfc3339(card.meta.updated_at),
        has_photo,
        fields,
    })
}

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn encode_cursor(c: &PageCursor) -> String {
    match c.order {
        ContactOrder::Name => CURSOR.encode(format!("n\u{0}{}\u{0}{}", c.id, c.sort_key)),
        ContactOrder::Recent => CURSOR.encode(format!("r\u{0}{}\u{0}{}", c.id, c.changed)),
    }
}

/// A cursor this server gave for a page in `order`; one from a page in another order is refused.
fn decode_cursor(s: &str, order: ContactOrder) -> Result<PageCursor, Problem> {
    let bad = || {
        Problem::invalid("cursor", "not a cursor this server gave for this sort (use next_cursor from the last page)")
    };
    let raw = CURSOR.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\u{0}');
    let (Some(kind), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let id = id.parse().map_err(|_| bad())?;
    match (kind, order) {
        ("n", ContactOrder::Name) => Ok(PageCursor { order, sort_key: key.to_string(), changed: 0, id }),
        ("r", ContactOrder::Recent) => {
            Ok(PageCursor { order, sort_key: String::new(), changed: key.parse().map_err(|_| bad())?, id })
        }
        _ => Err(bad()),
    }
}

async fn book(req: &Request<'_>, segment: &str) -> Result<BookView, Problem> {
    if segment != MY_CONTACTS && uuid::Uuid::parse_str(segment).is_err() {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such label"));
    }
    Ok(req.app.service.open_book_anywhere(req.user, segment).await?)
}

/// `/contacts` and `/labels/{id}/contacts`: GET lists, POST creates.
pub async fn collection(req: &Request<'_>, segment: &str) -> ApiResult {
    match req.parts.method {
        Method::GET => list(req, segment).await,
        Method::POST => create(req, segment).await,
        _ => Err(Problem::method_not_allowed("GET, POST")),
    }
}

/// GET `/contacts/{id}/photo` (or under a label): the contact's photo as an image, for avatars.
pub async fn photo(req: &Request<'_>, segment: &str, cid: &str) -> ApiResult {
    // `v` is the page's cache key (the contact's ETag); the answer does not depend on it.
    req.params(&["v"])?;
    let Some(cid) = cid.parse::<i64>().ok().filter(|n| *n > 0) else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such contact"));
    };
    let view = book(req, segment).await?;
    let card = req.app.service.contact(&view, cid).await?;
    let parsed = crate::service::read_for_edit(&card.vcard)?;
    // Raster images only: an SVG can carry script.
    let (media, bytes) = json::photo_bytes(&parsed)
        .filter(|(m, _)| matches!(m.as_str(), "image/jpeg" | "image/png" | "image/gif" | "image/webp"))
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "this contact has no photo stored here"))?;
    let etag = format!("\"{}-photo\"", card.meta.etag);
    let unchanged = req
        .parts
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if unchanged {
        let mut r = http::Response::new(crate::response::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        http::Response::new(crate::response::full(bytes))
    };
    let h = r.headers_mut();
    // Only image types are served, and never sniffed as anything else.
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&media).unwrap_or(HeaderValue::from_static("image/jpeg")));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

/// `/contacts/{id}` and `/labels/{label}/contacts/{id}`.
pub async fn item(req: &Request<'_>, segment: &str, cid: &str) -> ApiResult {
    let Some(cid) = cid.parse::<i64>().ok().filter(|n| *n > 0) else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such contact"));
    };
    match req.parts.method {
        Method::GET => get(req, segment, cid).await,
        Method::PATCH => update(req, segment, cid).await,
        Method::DELETE => delete(req, segment, cid).await,
        _ => Err(Problem::method_not_allowed("GET, PATCH, DELETE")),
    }
}

#[derive(Serialize)]
struct Page {
    items: Vec<ContactJson>,
    next_cursor: Option<String>,
}

async fn list(req: &Request<'_>, segment: &str) -> ApiResult {
    req.params(&["q", "cursor", "limit", "sort"])?;
    let limit = match req.param("limit") {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| Problem::invalid("limit", "a whole number from 1 to 500"))?,
    };
    let order = match req.param("sort").unwrap_or("name") {
        "name" => ContactOrder::Name,
        "recent" => ContactOrder::Recent,
        _ => return Err(Problem::invalid("sort", "name, or recent (the contact changed last first)")),
    };
    let after = match req.param("cursor") {
        Some(c) if !c.is_empty() => decode_cursor(c, order)?,
        _ => PageCursor { order, ..PageCursor::default() },
    };
    let q = req.param("q").unwrap_or("");
    if q.chars().count() > 200 {
        return Err(Problem::invalid("q", "a search is at most 200 characters"));
    }
    let view = book(req, segment).await?;
    let page = req.app.service.search_contacts(&view, q, &after, limit).await?;
    let items = page.contacts.iter().map(|c| contact_json(c, false)).collect::<Result<Vec<_>, _>>()?;
    json_response(StatusCode::OK, &Page { items, next_cursor: page.next.as_ref().map(encode_cursor) })
}

async fn get(req: &Request<'_>, segment: &str, cid: i64) -> ApiResult {
    req.params(&[])?;
    let view = book(req, segment).await?;
    let card = req.app.service.contact(&view, cid).await?;
    let etag = card.meta.etag.clone();
    Ok(with_etag(json_response(StatusCode::OK, &contact_json(&card, true)?)?, &etag))
}

/// GET `/contacts/{id}/labels` (or under a label): the labels you can open that carry the contact.
pub async fn labels(req: &Request<'_>, segment: &str, cid: &str) -> ApiResult {
    req.params(&[])?;
    let Some(cid) = cid.parse::<i64>().ok().filter(|n| *n > 0) else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such contact"));
    };
    let view = book(req, segment).await?;
    let labels = req.app.service.labels_of_contact(req.user, &view, cid).await?;
    #[derive(Serialize)]
    struct LabelRef {
        id: String,
        name: String,
    }
    let items = labels.into_iter().map(|(id, name)| LabelRef { id, name }).collect();
    json_response(StatusCode::OK, &super::Items { items })
}

async fn create(req: &Request<'_>, segment: &str) -> ApiResult {
    req.params(&[])?;
    let patch: Patch = req.json()?;
    let view = book(req, segment).await?;
    let card = req.app.service.create_contact(&view, &patch).await?;
    let etag = card.meta.etag.clone();
    let mut r = with_etag(json_response(StatusCode::CREATED, &contact_json(&card, true)?)?, &etag);
    let base = if segment == MY_CONTACTS { String::new() } else { format!("/labels/{segment}") };
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1{base}/contacts/{}", card.meta.contact_id)) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

async fn update(req: &Request<'_>, segment: &str, cid: i64) -> ApiResult {
    req.params(&[])?;
    let patch: Patch = req.json()?;
    let pre = crate::response::precondition(&req.parts.headers);
    if pre.if_none_match.is_some() {
        return Err(Problem::invalid("If-None-Match", "a change to an existing contact takes If-Match"));
    }
    let view = book(req, segment).await?;
    let card = req.app.service.update_contact(&view, cid, &patch, pre.if_match.as_deref()).await?;
    let etag = card.meta.etag.clone();
    Ok(with_etag(json_response(StatusCode::OK, &contact_json(&card, true)?)?, &etag))
}

async fn delete(req: &Request<'_>, segment: &str, cid: i64) -> ApiResult {
    req.params(&[])?;
    let pre = crate::response::precondition(&req.parts.headers);
    let pre = Precondition { if_match: pre.if_match, if_none_match: None };
    let view = book(req, segment).await?;
    req.app.service.delete_contact(&view, cid, &pre).await?;
    no_content()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMembers {
    contact_ids: Vec<i64>,
    /// Where the ids are read: `contacts` (My contacts, the default) or a label's id.
    from: Option<String>,
}

#[derive(Serialize)]
struct Added {
    /// The id that was asked for (in My contacts, or in the label it was added from).
    contact_id: i64,
    /// The contact's id on the label (a copy has an id of its own), when it was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    label_contact_id: Option<i64>,
    /// Why it was not, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// POST `/labels/{id}/members`: puts contacts of My contacts on the label ("Add an existing contact").
pub async fn add_members(req: &Request<'_>, segment: &str) -> ApiResult {
    req.params(&[])?;
    let body: AddMembers = req.json()?;
    let view = book(req, segment).await?;
    let from = match body.from.as_deref() {
        None | Some(MY_CONTACTS) => req.app.service.open_book_anywhere(req.user, MY_CONTACTS).await?,
        Some(id) => {
            let not_found = || Problem::unprocessable("from", "no such label, or not one you can see");
            uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
            req.app.service.open_book_anywhere(req.user, id).await.map_err(|e| match e {
                crate::service::ServiceError::NotFound => not_found(),
                e => e.into(),
            })?
        }
    };
    let answers = req.app.service.add_to_label(&view, &from, &body.contact_ids).await?;
    let items: Vec<Added> = answers
        .into_iter()
        .map(|(id, a)| match a {
            Ok(on_label) => Added { contact_id: id, label_contact_id: Some(on_label), error: None },
            Err(e) => Added { contact_id: id, label_contact_id: None, error: Some(Problem::from(e).detail) },
        })
        .collect();
    #[derive(Serialize)]
    struct Answer {
        added: usize,
        items: Vec<Added>,
    }
    let added = items.iter().filter(|i| i.error.is_none()).count();
    json_response(StatusCode::OK, &Answer { added, items })
}
