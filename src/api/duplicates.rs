//! Duplicates: `GET /duplicates` lists likely pairs among everything the user can read; `POST
//! /duplicates/merge` previews or does a merge; `POST /merges/{id}/undo` puts a merge back.

use super::contacts::{ContactJson, contact_json};
use super::{ApiResult, Problem, Request, json_response, no_content};
use crate::service::duplicates::{ContactRef, Pair, Reason, Seen};
use http::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct SeenJson {
    /// `contacts` (My contacts) or the label's id: where to open it (`/contacts/{id}` or
    /// `/labels/{book}/contacts/{id}`).
    book: String,
    book_name: String,
    id: i64,
    full_name: String,
    organization: String,
    emails: Vec<String>,
    phones: Vec<String>,
    level: String,
}

#[derive(Serialize)]
struct ReasonJson {
    kind: &'static str,
    /// The shared address or number, for those.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Serialize)]
struct PairJson {
    score: u32,
    reasons: Vec<ReasonJson>,
    a: SeenJson,
    b: SeenJson,
    mergeable: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    why_not: Option<String>,
}

fn seen_json(s: &Seen) -> SeenJson {
    SeenJson {
        book: s.book.clone(),
        book_name: s.book_name.clone(),
        id: s.contact_id,
        full_name: s.name.clone(),
        organization: s.org.clone(),
        emails: s.emails.clone(),
        phones: s.tels.clone(),
        level: s.level.as_str().to_string(),
    }
}

fn pair_json(p: &Pair) -> PairJson {
    PairJson {
        score: p.score,
        reasons: p
            .reasons
            .iter()
            .map(|r| match r {
                Reason::Email(v) => ReasonJson { kind: "email", value: Some(v.clone()) },
                Reason::Phone(v) => ReasonJson { kind: "phone", value: Some(v.clone()) },
                Reason::Name => ReasonJson { kind: "name", value: None },
                Reason::NameAndOrganization => ReasonJson { kind: "name_and_organization", value: None },
            })
            .collect(),
        a: seen_json(&p.a),
        b: seen_json(&p.b),
        mergeable: p.not_mergeable.is_none(),
        why_not: p.not_mergeable.clone(),
    }
}

/// GET /duplicates
pub async fn list(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let found = req.app.service.find_duplicates(req.user).await?;
    #[derive(Serialize)]
    struct Answer {
        compared: usize,
        truncated: bool,
        items: Vec<PairJson>,
    }
    json_response(
        StatusCode::OK,
        &Answer {
            compared: found.compared,
            truncated: found.truncated,
            items: found.pairs.iter().map(pair_json).collect(),
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefForm {
    book: String,
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeForm {
    keep: RefForm,
    other: RefForm,
    #[serde(default)]
    preview: bool,
}

/// POST /duplicates/merge
pub async fn merge(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let form: MergeForm = req.json()?;
    let r = |f: &RefForm, what: &str| -> Result<ContactRef, Problem> {
        if f.id <= 0 {
            return Err(Problem::invalid(&format!("{what}.id"), "a contact id is a positive number"));
        }
        if f.book != crate::service::MY_CONTACTS && uuid::Uuid::parse_str(&f.book).is_err() {
            return Err(Problem::invalid(&format!("{what}.book"), "“contacts” or a label's id"));
        }
        Ok(ContactRef { book: f.book.clone(), id: f.id })
    };
    let (keep, other) = (r(&form.keep, "keep")?, r(&form.other, "other")?);
    let (plan, id) = req.app.service.merge_duplicates(req.user, &keep, &other, form.preview).await?;
    #[derive(Serialize)]
    struct Answer {
        preview: bool,
        /// For `POST /merges/{id}/undo`; absent in a preview.
        #[serde(skip_serializing_if = "Option::is_none")]
        merge_id: Option<i64>,
        survivor: ContactJson,
        added: Vec<String>,
        not_kept: Vec<String>,
        labels_joined: Vec<String>,
        kept_apart: Vec<String>,
        deletes_other: bool,
    }
    let body = Answer {
        preview: form.preview,
        merge_id: id,
        survivor: contact_json(&plan.survivor, false)?,
        added: plan.added,
        not_kept: plan.not_kept,
        labels_joined: plan.labels_joined,
        kept_apart: plan.kept_apart,
        deletes_other: plan.deletes_other,
    };
    json_response(if form.preview { StatusCode::OK } else { StatusCode::CREATED }, &body)
}

/// POST /merges/{id}/undo
pub async fn undo(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such merge"))?;
    req.app.service.undo_merge(req.user, id).await?;
    no_content()
}
