//! The trash (what was deleted or taken off a label, and putting it back), a contact's history and a label's
//! activity log.

use super::{ApiResult, Items, Problem, Request, json_response, no_content, rfc3339};
use crate::service::MY_CONTACTS;
use crate::store::{Activity, HistoryEntry};
use crate::vcard::json::{self, Fields};
use http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
struct TrashedJson {
    id: i64,
    full_name: String,
    deleted_at: String,
    /// After this, the purge takes it for good.
    restorable_until: String,
}

#[derive(Serialize)]
struct RemovalJson {
    /// The removal's id, for restoring it.
    id: i64,
    label_id: String,
    label_name: String,
    contact_id: i64,
    full_name: String,
    removed_at: String,
    restorable_until: String,
}

/// GET /trash: your deleted contacts, and what was taken off the labels you own or manage.
pub async fn trash(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let trash = req.app.service.trash(req.user).await?;
    let keep = req.app.config.trash_days * 86_400;
    #[derive(Serialize)]
    struct Trash {
        contacts: Vec<TrashedJson>,
        removals: Vec<RemovalJson>,
    }
    let body = Trash {
        contacts: trash
            .contacts
            .iter()
            .map(|c| TrashedJson {
                id: c.contact_id,
                full_name: c.fn_.clone(),
                deleted_at: rfc3339(c.deleted_at),
                restorable_until: rfc3339(c.deleted_at + keep),
            })
            .collect(),
        removals: trash
            .memberships
            .iter()
            .map(|m| RemovalJson {
                id: m.membership_id,
                label_id: m.label_id.clone(),
                label_name: trash.label_names.get(&m.label_id).cloned().unwrap_or_default(),
                contact_id: m.contact_id,
                full_name: m.fn_.clone(),
                removed_at: rfc3339(m.removed_at),
                restorable_until: rfc3339(m.removed_at + keep),
            })
            .collect(),
    };
    json_response(StatusCode::OK, &body)
}

fn positive(s: &str, what: &str) -> Result<i64, Problem> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, format!("no such {what}")))
}

/// POST /trash/contacts/{id}/restore: the contact comes back, with the labels it had.
pub async fn restore_contact(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    req.app.service.restore_contact(req.user, positive(id, "contact")?).await?;
    no_content()
}

/// POST /labels/{label}/removals/{id}/restore: the contact goes back on the label.
pub async fn restore_removal(req: &Request<'_>, label: &str, id: &str) -> ApiResult {
    req.params(&[])?;
    if label == MY_CONTACTS || uuid::Uuid::parse_str(label).is_err() {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such label"));
    }
    req.app.service.restore_membership(req.user, label, positive(id, "removal")?).await?;
    no_content()
}

#[derive(Serialize)]
struct ActivityJson {
    id: i64,
    /// added, edited, removed, deleted, restored (on a label); created, edited, deleted, restored, transferred.
    action: String,
    /// Who did it (their e-mail), or "" when not known.
    actor: String,
    at: String,
    /// The label it happened on; null for the contact's own book.
    label_id: Option<String>,
    contact_id: i64,
    /// The contact's name then.
    full_name: String,
}

fn activity_json(a: &Activity) -> ActivityJson {
    ActivityJson {
        id: a.id,
        action: a.action.clone(),
        actor: a.actor.clone(),
        at: rfc3339(a.at),
        label_id: a.label_id.clone(),
        contact_id: a.contact_id,
        full_name: a.fn_.clone(),
    }
}

#[derive(Serialize)]
struct HistoryJson {
    #[serde(flatten)]
    activity: ActivityJson,
    /// What the contact was before this change (for an edit), as the contact fields.
    previous: Option<Fields>,
}

fn history_json(e: &HistoryEntry) -> HistoryJson {
    let previous = e.previous.as_ref().and_then(|(bytes, _)| {
        let card = crate::service::read_for_edit(bytes).ok()?;
        let mut fields = json::read(&card);
        fields.photo = None;
        Some(fields)
    });
    HistoryJson { activity: activity_json(&e.activity), previous }
}

/// GET /contacts/{id}/history (or under a label): newest first.
pub async fn contact_history(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let entries = req.app.service.contact_history(req.user, positive(id, "contact")?).await?;
    json_response(StatusCode::OK, &Items { items: entries.iter().map(history_json).collect() })
}

/// GET /labels/{label}/activity?limit=&before=: newest first, a page at a time.
pub async fn label_activity(req: &Request<'_>, label: &str) -> ApiResult {
    req.params(&["limit", "before"])?;
    if label == MY_CONTACTS || uuid::Uuid::parse_str(label).is_err() {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such label"));
    }
    let max = crate::service::history::MAX_ACTIVITY_PAGE;
    let limit = match req.param("limit") {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Problem::invalid("limit", format!("a whole number from 1 to {max}")))?,
    };
    let before = match req.param("before") {
        None => None,
        Some(b) => {
            Some(b.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| Problem::invalid("before", "an activity id"))?)
        }
    };
    // One more than asked tells whether there is a next page (within the service's own maximum).
    let fetch = (limit + 1).min(max);
    let entries = req.app.service.label_activity(req.user, label, before, fetch).await?;
    let more = entries.len() as i64 > limit || (limit == max && entries.len() as i64 == max);
    let items: Vec<ActivityJson> = entries.iter().take(limit as usize).map(activity_json).collect();
    #[derive(Serialize)]
    struct Page {
        items: Vec<ActivityJson>,
        /// Pass as `before` for the next (older) page; null on the last one.
        next_before: Option<i64>,
    }
    let next_before = if more { items.last().map(|a| a.id) } else { None };
    json_response(StatusCode::OK, &Page { items, next_before })
}
