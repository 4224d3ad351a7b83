//! Me, labels, collaborators (grants) and invitations.

use super::{ApiResult, Items, Problem, Request, json_response, no_content, rfc3339};
use crate::service::access::{self, Level};
use crate::service::{Grantee, Invitation, LabelSummary, MY_CONTACTS, Share};
use crate::store::{Grant, MailStatus};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct OwnerJson<'a> {
    email: &'a str,
    display_name: &'a str,
}

#[derive(Serialize)]
struct LabelJson<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    owner: OwnerJson<'a>,
    level: &'static str,
    sync_devices: bool,
    contact_count: i64,
    /// Shared with someone (your label with a collaborator invited or accepted, or someone else's label).
    shared: bool,
    /// What is hidden from the caller on this label (empty for most).
    hidden_fields: Vec<String>,
    /// What the caller may do here: clients show controls by it and never compare levels.
    may: MayJson,
}

#[derive(Serialize)]
struct MayJson {
    edit_contacts: bool,
    add_contacts: bool,
    remove_contacts: bool,
    change_properties: bool,
    share: bool,
    administer: bool,
    restore: bool,
    grant_levels: Vec<&'static str>,
}

fn may_json(a: access::Allowed) -> MayJson {
    MayJson {
        edit_contacts: a.edit_contacts,
        add_contacts: a.add_contacts,
        remove_contacts: a.remove_contacts,
        change_properties: a.change_properties,
        share: a.share,
        administer: a.administer,
        restore: a.restore,
        grant_levels: a.grant_levels.into_iter().map(|l| l.as_str()).collect(),
    }
}

fn label_json(s: &LabelSummary) -> LabelJson<'_> {
    let v = &s.view;
    let mut hidden: Vec<String> = v.hidden.iter().flat_map(|h| h.items()).collect();
    hidden.sort();
    hidden.dedup();
    LabelJson {
        id: &v.segment,
        name: &v.displayname,
        description: &v.description,
        owner: OwnerJson { email: &v.owner.email, display_name: &v.owner.display_name },
        level: v.level.as_str(),
        sync_devices: v.on_devices,
        contact_count: s.count,
        shared: s.shared,
        hidden_fields: hidden,
        may: may_json(access::allowed(v.level, v.segment != MY_CONTACTS)),
    }
}

pub async fn me(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let my = req.app.service.label_summary(req.user, MY_CONTACTS).await?;
    #[derive(Serialize)]
    struct Me<'a> {
        email: &'a str,
        display_name: &'a str,
        is_admin: bool,
        /// Whether invitations are e-mailed (a mail server is set up), so a page can offer to resend them.
        mail_enabled: bool,
        my_contacts: LabelJson<'a>,
    }
    let mail_enabled = req.app.service.settings().await?.smtp.is_some();
    json_response(
        StatusCode::OK,
        &Me {
            email: &req.user.email,
            display_name: &req.user.display_name,
            is_admin: req.user.is_admin,
            mail_enabled,
            my_contacts: label_json(&my),
        },
    )
}

pub async fn list(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let (_, labels) = req.app.service.labels_for(req.user).await?;
    json_response(StatusCode::OK, &Items { items: labels.iter().map(label_json).collect() })
}

/// A label id in a path: anything but a UUID names nothing (and never reaches the database).
fn label_id(id: &str) -> Result<&str, Problem> {
    if id == MY_CONTACTS || uuid::Uuid::parse_str(id).is_ok() {
        Ok(id)
    } else {
        Err(Problem::new(StatusCode::NOT_FOUND, "no such label"))
    }
}

fn grant_id(id: &str) -> Result<i64, Problem> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such grant"))
}

pub async fn get(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let s = req.app.service.label_summary(req.user, label_id(id)?).await?;
    json_response(StatusCode::OK, &label_json(&s))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLabel {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let new: NewLabel = req.json()?;
    if new.description.chars().count() > 2000 {
        return Err(Problem::unprocessable("description", "at most 2000 characters"));
    }
    let label = req.app.service.create_label(req.user, None, &new.name, &new.description).await?;
    let s = req.app.service.label_summary(req.user, &label.id).await?;
    let mut r = json_response(StatusCode::CREATED, &label_json(&s))?;
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/labels/{}", label.id)) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelPatch {
    name: Option<String>,
    description: Option<String>,
    /// The caller's own "sync with my devices" toggle (collaborators only).
    sync_devices: Option<bool>,
}

pub async fn update(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = label_id(id)?;
    let patch: LabelPatch = req.json()?;
    if patch.description.as_ref().is_some_and(|d| d.chars().count() > 2000) {
        return Err(Problem::unprocessable("description", "at most 2000 characters"));
    }
    let service = &req.app.service;
    let name = patch.name.as_deref().map(str::trim);
    service.update_label(req.user, id, name, patch.description.as_deref(), patch.sync_devices).await?;
    let s = service.label_summary(req.user, id).await?;
    json_response(StatusCode::OK, &label_json(&s))
}

pub async fn delete(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = label_id(id)?;
    if id == MY_CONTACTS {
        return Err(Problem::new(StatusCode::FORBIDDEN, "My contacts cannot be deleted"));
    }
    // The owner deletes the label (its contacts stay in their My contacts); a collaborator leaves it.
    req.app.service.delete_label(req.user, id).await?;
    no_content()
}

#[derive(Serialize)]
pub struct GrantJson<'a> {
    id: i64,
    label_id: &'a str,
    kind: &'a str,
    grantee: &'a str,
    level: &'a str,
    status: &'a str,
    sync_devices: bool,
    hidden_fields: Vec<String>,
    /// For If-Match on a change, so that two managers never overwrite each other unknowingly.
    etag: String,
    created_at: String,
    updated_at: String,
}

pub fn grant_json(g: &Grant) -> GrantJson<'_> {
    GrantJson {
        id: g.id,
        label_id: &g.label_id,
        kind: &g.grantee_kind,
        grantee: &g.grantee,
        level: &g.level,
        status: &g.status,
        sync_devices: g.sync_devices,
        hidden_fields: serde_json::from_str(&g.hidden_fields).unwrap_or_default(),
        etag: g.version(),
        created_at: rfc3339(g.created_at),
        updated_at: rfc3339(g.updated_at),
    }
}

/// What became of the last message about a grant.
#[derive(Serialize)]
pub struct MailJson<'a> {
    status: &'a str,
    to: &'a str,
    attempts: i64,
    error: Option<&'a str>,
    queued_at: String,
    sent_at: Option<String>,
}

pub fn mail_json(m: &MailStatus) -> MailJson<'_> {
    MailJson {
        status: &m.status,
        to: &m.recipient,
        attempts: m.attempts,
        error: m.last_error.as_deref(),
        queued_at: rfc3339(m.created_at),
        sent_at: m.sent_at.map(rfc3339),
    }
}

pub async fn grants(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = label_id(id)?;
    let grants = req.app.service.grants_managed(req.user, id).await?;
    let mail = req.app.service.mail_of_label(req.user, id).await?;
    #[derive(Serialize)]
    struct Listed<'a> {
        #[serde(flatten)]
        grant: GrantJson<'a>,
        /// The last invitation or notice mailed about this grant; null when none was.
        mail: Option<MailJson<'a>>,
        /// Whether the caller may change or revoke this grant.
        manageable: bool,
    }
    let items: Vec<Listed> = grants
        .iter()
        .map(|(g, manageable)| Listed {
            grant: grant_json(g),
            mail: mail.iter().find(|m| m.grant_id == g.id).map(mail_json),
            manageable: *manageable,
        })
        .collect();
    json_response(StatusCode::OK, &Items { items })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGrant {
    #[serde(default = "user_kind")]
    kind: String,
    grantee: String,
    level: String,
    #[serde(default = "yes")]
    sync_devices: bool,
    hidden_fields: Option<Vec<String>>,
}

fn user_kind() -> String {
    "user".into()
}

fn yes() -> bool {
    true
}

fn parse_level(field: &str, s: &str) -> Result<Level, Problem> {
    match Level::parse(s) {
        Some(Level::Owner) | None => {
            Err(Problem::unprocessable(field, "a level is view, edit, delete or share (ownership is transferred)"))
        }
        Some(l) => Ok(l),
    }
}

pub async fn share(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = label_id(id)?;
    let new: NewGrant = req.json()?;
    let level = parse_level("level", &new.level)?;
    let grantee = grantee_of(&new)?;
    let service = &req.app.service;
    let hidden = new.hidden_fields.unwrap_or_default();
    let origin = req.origin();
    let share =
        Share { grantee: &grantee, level, sync_devices: new.sync_devices, hidden: &hidden, origin: origin.as_deref() };
    let grant = service.share_hiding(req.user, id, &share).await?;
    let mut r = grant_response(StatusCode::CREATED, &grant)?;
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/grants/{}", grant.id)) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

/// `POST /grantees/check`: whether a collaborator could be invited to a label the caller is creating (204), or
/// why not (422 on `grantee` or `level`), before anything exists to invite them to.
pub async fn check_grantee(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let new: NewGrant = req.json()?;
    let level = parse_level("level", &new.level)?;
    let grantee = grantee_of(&new)?;
    req.app.service.check_grantee(req.user, &grantee, level).await?;
    crate::api::no_content()
}

fn grantee_of(new: &NewGrant) -> Result<Grantee, Problem> {
    Ok(match new.kind.as_str() {
        "user" => Grantee::User(new.grantee.clone()),
        "group" => Grantee::Group(new.grantee.trim().to_string()),
        "domain" => Grantee::Domain(new.grantee.trim().to_ascii_lowercase()),
        _ => return Err(Problem::unprocessable("kind", "a grantee is a user, a group or a domain")),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantPatch {
    level: Option<String>,
    hidden_fields: Option<Vec<String>>,
}

pub async fn change_grant(req: &Request<'_>, gid: &str) -> ApiResult {
    req.params(&[])?;
    let gid = grant_id(gid)?;
    let patch: GrantPatch = req.json()?;
    let level = patch.level.as_deref().map(|l| parse_level("level", l)).transpose()?;
    let if_match = crate::response::precondition(&req.parts.headers).if_match;
    let hidden = patch.hidden_fields.as_deref();
    let grant = req.app.service.change_grant(req.user, gid, level, hidden, if_match.as_deref()).await?;
    grant_response(StatusCode::OK, &grant)
}

pub async fn revoke(req: &Request<'_>, gid: &str) -> ApiResult {
    req.params(&[])?;
    let if_match = crate::response::precondition(&req.parts.headers).if_match;
    let grant = req.app.service.revoke_if_match(req.user, grant_id(gid)?, if_match.as_deref()).await?;
    grant_response(StatusCode::OK, &grant)
}

/// A grant as JSON, with its version as the ETag.
fn grant_response(status: StatusCode, grant: &Grant) -> ApiResult {
    Ok(super::with_etag(json_response(status, &grant_json(grant))?, &grant.version()))
}

#[derive(Serialize)]
struct InvitationJson<'a> {
    #[serde(flatten)]
    grant: GrantJson<'a>,
    label_name: &'a str,
    owner: &'a str,
    invited_by: Option<&'a str>,
}

fn invitation_json(i: &Invitation) -> InvitationJson<'_> {
    InvitationJson {
        grant: grant_json(&i.grant),
        label_name: &i.label_name,
        owner: &i.owner_email,
        invited_by: i.invited_by.as_deref(),
    }
}

pub async fn invitations(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let items = req.app.service.pending_invitations(req.user).await?;
    json_response(StatusCode::OK, &Items { items: items.iter().map(invitation_json).collect() })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Answer {
    sync_devices: Option<bool>,
}

pub async fn answer(req: &Request<'_>, gid: &str, accept: bool) -> ApiResult {
    req.params(&[])?;
    let gid = grant_id(gid)?;
    let answer: Answer = if req.body.is_empty() { Answer::default() } else { req.json()? };
    if !accept && answer.sync_devices.is_some() {
        return Err(Problem::invalid("sync_devices", "only an accepted invitation syncs"));
    }
    let service = &req.app.service;
    let mut grant = service.respond(req.user, gid, accept).await?;
    if let Some(on) = answer.sync_devices {
        grant = service.set_devices(req.user, gid, on).await?;
    }
    json_response(StatusCode::OK, &grant_json(&grant))
}

/// POST /labels/{id}/transfer: the owner hands the label to a collaborator; its contacts become theirs.
pub async fn transfer(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = label_id(id)?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Transfer {
        to: String,
        /// Stay on the label at share level (the default).
        #[serde(default = "yes")]
        keep_access: bool,
    }
    fn yes() -> bool {
        true
    }
    let body: Transfer = req.json()?;
    req.app.service.transfer_label(req.user, id, &body.to, body.keep_access).await.map_err(|e| match e {
        crate::service::ServiceError::Invalid(m) => Problem::unprocessable("to", m),
        e => e.into(),
    })?;
    no_content()
}
