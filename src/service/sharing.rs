//! Sharing a label with users: invitations, accepting and declining, levels, the device toggle, leaving.

use super::access::{self, Action, Level};
use super::{BookView, Result, Service, ServiceError, field};
use crate::store::{Grant, GrantChange, Label, NewGrant, User, domain_of};
use crate::vcard::hide::HiddenFields;

fn level_of(grant: &Grant) -> Result<Level> {
    Level::parse(&grant.level).ok_or_else(|| ServiceError::Invalid(format!("grant {} has an unknown level", grant.id)))
}

/// Who a label is shared with: a user (by e-mail), a group (by name) or every user of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    User(String),
    Group(String),
    Domain(String),
}

impl Grantee {
    /// `group:NAME`, `domain:NAME`, or an e-mail address.
    pub fn parse(s: &str) -> Grantee {
        if let Some(g) = s.strip_prefix("group:") {
            Grantee::Group(g.trim().to_string())
        } else if let Some(d) = s.strip_prefix("domain:") {
            Grantee::Domain(d.trim().to_ascii_lowercase())
        } else {
            Grantee::User(s.trim().to_string())
        }
    }
}

/// What the grants reaching one user on one label add up to (the highest level wins).
#[derive(Debug, Clone)]
pub struct Reach {
    pub level: Level,
    /// Whether the label syncs to the user's devices: any reaching grant with the toggle on.
    pub on_devices: bool,
    /// A property is hidden from the user when every reaching grant hides it; empty: nothing is hidden.
    pub hidden: Vec<HiddenFields>,
}

impl Reach {
    pub fn owner() -> Reach {
        Reach { level: Level::Owner, on_devices: true, hidden: Vec::new() }
    }
}

/// A grant's hidden fields, as stored (a JSON array of entries).
pub fn hidden_of(grant: &Grant) -> Result<HiddenFields> {
    let items: Vec<String> = serde_json::from_str(&grant.hidden_fields)
        .map_err(|e| ServiceError::Invalid(format!("grant {} has unreadable hidden fields: {e}", grant.id)))?;
    HiddenFields::parse(&items).map_err(ServiceError::Invalid)
}

/// Folds the accepted grants among `grants` (all on one label) into the user's reach; `None` when none is.
fn fold_reach<'a>(grants: impl IntoIterator<Item = &'a Grant>) -> Result<Option<Reach>> {
    let mut reach: Option<Reach> = None;
    let mut sees_all = false;
    for g in grants {
        let Some(level) = Level::parse(&g.level) else { continue };
        if g.status != "accepted" {
            continue;
        }
        let r = reach.get_or_insert(Reach { level, on_devices: false, hidden: Vec::new() });
        r.level = r.level.max(level);
        r.on_devices |= g.sync_devices;
        let hidden = hidden_of(g)?;
        if hidden.is_empty() {
            sees_all = true;
        } else {
            r.hidden.push(hidden);
        }
    }
    if sees_all && let Some(r) = reach.as_mut() {
        r.hidden.clear();
    }
    Ok(reach)
}

impl Service {
    /// The user's level on a label through its ownership or the grants reaching them; `None` when they may not
    /// see it.
    pub(super) async fn level_on(&self, user: &User, label: &crate::store::Label) -> Result<Option<Reach>> {
        if label.owner_id == user.id {
            return Ok(Some(Reach::owner()));
        }
        let reaching = self.store.reaching(user.id, &user.email, Some(&label.id)).await?;
        fold_reach(reaching.iter().map(|(_, g)| g))
    }

    /// Labels shared with the user and accepted (through any grant), with their reach, by name. One query.
    pub async fn shared_with(&self, user: &User) -> Result<Vec<(Label, Reach)>> {
        let reaching = self.store.reaching(user.id, &user.email, None).await?;
        let mut out = Vec::new();
        for run in reaching.chunk_by(|a, b| a.0.id == b.0.id) {
            if let Some(reach) = fold_reach(run.iter().map(|(_, g)| g))? {
                out.push((run[0].0.clone(), reach));
            }
        }
        Ok(out)
    }

    /// The actor's view of a label for managing its collaborators (404 when they cannot see it).
    pub(super) async fn managed(&self, actor: &User, label_id: &str) -> Result<BookView> {
        let view = self.open_book_anywhere(actor, label_id).await?;
        if matches!(view.book, crate::store::Book::MyContacts { .. }) {
            return Err(ServiceError::Invalid("My contacts is private; share a label".into()));
        }
        if !view.allows(Action::Share) {
            return Err(ServiceError::Forbidden(Action::Share));
        }
        Ok(view)
    }

    /// Shares a label with a user (an invitation they accept; accepted at once in an auto-accepting domain),
    /// a group or a domain (in force at once for every member, present and future). The actor needs share level
    /// and may grant at most their own level.
    pub async fn share(
        &self,
        actor: &User,
        label_id: &str,
        grantee: &Grantee,
        level: Level,
        sync_devices: bool,
    ) -> Result<Grant> {
        let grant = self.share_quietly(actor, label_id, grantee, level, sync_devices).await?;
        self.mail_new_grant(actor, &grant, None).await;
        Ok(grant)
    }

    /// Mails the invitee of a new grant, when a mail server is set up. The share stands whatever happens to
    /// the message: a failure to queue it is logged, and the share panel shows no message for the grant.
    pub(super) async fn mail_new_grant(&self, actor: &User, grant: &Grant, origin: Option<&str>) {
        if let Err(e) = self.mail_grant(actor, grant, origin).await {
            tracing::warn!(grant = grant.id, error = %e, "invitation not queued for mail");
        }
    }

    /// `share`, without mailing the invitee.
    pub(super) async fn share_quietly(
        &self,
        actor: &User,
        label_id: &str,
        grantee: &Grantee,
        level: Level,
        sync_devices: bool,
    ) -> Result<Grant> {
        let view = self.managed(actor, label_id).await?;
        if !access::may_manage_grant(view.level, level) {
            return Err(field(
                "level",
                format!("you can share at most at your own level ({}), and never as owner", view.level),
            ));
        }
        let (kind, name) = self.grantee_for(&view.owner, grantee).await?;
        let status = match grantee {
            Grantee::User(_) => {
                let auto = self.store.domain(domain_of(&name)).await?.is_some_and(|d| d.auto_accept);
                if auto { "accepted" } else { "pending" }
            }
            // Nobody to ask: every member is reached at once (and may leave on their own).
            Grantee::Group(_) | Grantee::Domain(_) => "accepted",
        };
        let new = NewGrant {
            label_id,
            kind,
            grantee: &name,
            level: level.as_str(),
            status,
            sync_devices,
            invited_by: actor.id,
        };
        Ok(self.store.invite(&new).await?)
    }

    /// Whether `grantee` could be invited to a label `owner` owns: an account of this server's domains that is
    /// not the owner, an existing group, one of the server's domains. The kind and the name as stored.
    async fn grantee_for(&self, owner: &User, grantee: &Grantee) -> Result<(&'static str, String)> {
        Ok(match grantee {
            Grantee::User(email) => {
                let email = self.invitable(email).await?;
                if email == owner.email {
                    return Err(field("grantee", format!("{email} owns this label")));
                }
                ("user", email)
            }
            Grantee::Group(name) => {
                self.store.group(name).await?.ok_or_else(|| field("grantee", format!("no group '{name}'")))?;
                ("group", name.clone())
            }
            Grantee::Domain(name) => {
                self.store
                    .domain(name)
                    .await?
                    .ok_or_else(|| field("grantee", format!("{name} is not one of this server's domains")))?;
                ("domain", name.clone())
            }
        })
    }

    /// Checks a collaborator for a label `actor` is about to create (the dashboard's "+" flow checks each one as
    /// it is added): the same rules as `share`, at the level the owner may grant.
    pub async fn check_grantee(&self, actor: &User, grantee: &Grantee, level: Level) -> Result<()> {
        if !access::may_manage_grant(Level::Owner, level) {
            return Err(field("level", "a collaborator is invited at view, edit, delete or share"));
        }
        self.grantee_for(actor, grantee).await.map(|_| ())
    }

    /// Who may do what in a book, for DAV:acl (RFC 3744 §5.5): its owner, then everyone a grant reaches now
    /// (group members and domain accounts one by one), each at the highest level reaching them. Reading it takes
    /// the level that manages collaborators (DAV:read-acl).
    pub async fn access_list(&self, view: &super::BookView) -> Result<Vec<(User, Level)>> {
        view.require(super::access::Action::Share)?;
        let mut list = vec![(view.owner.clone(), Level::Owner)];
        if view.segment == super::MY_CONTACTS || view.combined.is_some() {
            return Ok(list);
        }
        for (user, level) in self.store.reached_by(&view.segment).await? {
            let Some(level) = Level::parse(&level) else { continue };
            match list.iter_mut().find(|(u, _)| u.id == user.id) {
                Some((_, held)) => *held = (*held).max(level),
                None => list.push((user, level)),
            }
        }
        Ok(list)
    }

    /// The collaborators of a label, for someone who may manage them.
    pub async fn grants(&self, actor: &User, label_id: &str) -> Result<Vec<Grant>> {
        self.managed(actor, label_id).await?;
        Ok(self.store.grants_of_label(label_id).await?)
    }

    /// The grants on `label_id`, each with whether `actor` may change or revoke it (`access::may_manage_grant`):
    /// what the share dialog shows, without comparing levels itself.
    pub async fn grants_managed(&self, actor: &User, label_id: &str) -> Result<Vec<(Grant, bool)>> {
        let view = self.managed(actor, label_id).await?;
        let grants = self.store.grants_of_label(label_id).await?;
        Ok(grants
            .into_iter()
            .map(|g| {
                let manageable = g.status != "revoked"
                    && Level::parse(&g.level).is_some_and(|l| access::may_manage_grant(view.level, l));
                (g, manageable)
            })
            .collect())
    }

    /// The invitations waiting for the user.
    pub async fn invitations(&self, user: &User) -> Result<Vec<Grant>> {
        Ok(self.store.grants_of_user(&user.email).await?.into_iter().filter(|g| g.status == "pending").collect())
    }

    /// The grants on `label_id` that reach `user`, in any status.
    pub(super) async fn reaching_on(&self, user: &User, label_id: &str) -> Result<Vec<Grant>> {
        Ok(self.store.reaching(user.id, &user.email, Some(label_id)).await?.into_iter().map(|(_, g)| g).collect())
    }

    /// A grant that reaches `user` (their own, their group's, their domain's); `NotFound` otherwise.
    async fn reaching_grant(&self, user: &User, grant_id: i64) -> Result<Grant> {
        let grant = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
        self.reaching_on(user, &grant.label_id)
            .await?
            .into_iter()
            .find(|g| g.id == grant_id)
            .ok_or(ServiceError::NotFound)
    }

    /// Accepts or declines an invitation. For a group or domain grant, a member declines to leave it and
    /// accepts to come back; the grant itself stays in force for the others.
    pub async fn respond(&self, user: &User, grant_id: i64, accept: bool) -> Result<Grant> {
        let grant = self.reaching_grant(user, grant_id).await?;
        if grant.grantee_kind != "user" {
            let stored = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
            if stored.status != "accepted" {
                return Err(ServiceError::Conflict(format!("cannot answer: the grant is {}", stored.status)));
            }
            self.store.answer_as_member(grant_id, user.id, None, Some(!accept)).await?;
            return self.reaching_grant(user, grant_id).await;
        }
        let status = if accept { "accepted" } else { "declined" };
        let change = GrantChange { status: Some(status), ..Default::default() };
        // Accepting needs a pending invitation; declining also works on an accepted share (leaving).
        let from: &[&str] = if accept { &["pending"] } else { &["pending", "accepted"] };
        self.store.change_grant(grant_id, Some(from), &change).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => {
                ServiceError::Conflict(format!("cannot {}: {m}", if accept { "accept" } else { "decline" }))
            }
            e => e.into(),
        })
    }

    /// The collaborator's own "sync these contacts with my devices" switch. It is one switch per label: it is
    /// set on every grant through which the label reaches them.
    pub async fn set_devices(&self, user: &User, grant_id: i64, on: bool) -> Result<Grant> {
        let grant = self.reaching_grant(user, grant_id).await?;
        for g in self.reaching_on(user, &grant.label_id).await? {
            if g.grantee_kind == "user" {
                let change = GrantChange { sync_devices: Some(on), ..Default::default() };
                self.store.change_grant(g.id, None, &change).await?;
            } else {
                self.store.answer_as_member(g.id, user.id, Some(on), None).await?;
            }
        }
        self.reaching_grant(user, grant_id).await
    }

    /// A grant the actor may manage at its current and at its `to` level; nobody manages a grant that reaches
    /// themselves (nobody changes their own level).
    pub(super) async fn manageable(&self, actor: &User, grant_id: i64, to: Option<Level>) -> Result<Grant> {
        let grant = self.store.grant(grant_id).await?.ok_or(ServiceError::NotFound)?;
        let view = self.managed(actor, &grant.label_id).await?;
        let target_ok = to.is_none_or(|l| access::may_manage_grant(view.level, l));
        if !access::may_manage_grant(view.level, level_of(&grant)?) || !target_ok {
            return Err(ServiceError::Forbidden(Action::Share));
        }
        if self.reaching_on(actor, &grant.label_id).await?.iter().any(|g| g.id == grant_id) {
            return Err(ServiceError::Invalid("you cannot change a grant that reaches yourself".into()));
        }
        Ok(grant)
    }

    /// Changes a collaborator's level, within the actor's own level.
    pub async fn set_grant_level(&self, actor: &User, grant_id: i64, level: Level) -> Result<Grant> {
        self.change_grant(actor, grant_id, Some(level), None, None).await
    }

    /// Revokes a grant (kept as status "revoked").
    pub async fn revoke(&self, actor: &User, grant_id: i64) -> Result<Grant> {
        self.revoke_if_match(actor, grant_id, None).await
    }

    /// `revoke`, refused with `PreconditionFailed` unless the grant is still one of the versions in `if_match`.
    pub async fn revoke_if_match(&self, actor: &User, grant_id: i64, if_match: Option<&[String]>) -> Result<Grant> {
        let grant = self.manageable(actor, grant_id, None).await?;
        let change = GrantChange { status: Some("revoked"), ..Default::default() };
        self.change_decided_on(&grant, if_match, change).await
    }

    /// Writes a manager's change to `grant` (as they were allowed to make it, just now) unless the grant changed
    /// since: a stale If-Match is `PreconditionFailed` (RFC 9110 §13.1.1), and a change made by someone else
    /// between the check and the write is a `Conflict`, so a permission decided on an older grant never applies.
    pub(super) async fn change_decided_on(
        &self,
        grant: &Grant,
        if_match: Option<&[String]>,
        change: GrantChange<'_>,
    ) -> Result<Grant> {
        let version = grant.version();
        if let Some(tags) = if_match
            && !tags.iter().any(|t| t == "*" || *t == version)
        {
            return Err(ServiceError::PreconditionFailed);
        }
        let GrantChange { level, status, sync_devices, hidden_fields, .. } = &change;
        if level.is_none() && status.is_none() && sync_devices.is_none() && hidden_fields.is_none() {
            // Nothing asked for: the grant stays as it is, version included.
            return Ok(grant.clone());
        }
        let change = GrantChange { version: Some(&version), ..change };
        match self.store.change_grant(grant.id, Some(&["pending", "accepted"]), &change).await {
            Err(crate::store::StoreError::Stale) if if_match.is_some() => Err(ServiceError::PreconditionFailed),
            r => Ok(r?),
        }
    }

    /// A collaborator leaves a shared label through every grant that reaches them (their own becomes declined;
    /// they leave their groups' and domain's); the label and its contacts stay.
    pub async fn leave(&self, user: &User, label_id: &str) -> Result<()> {
        let mut left = false;
        for g in self.reaching_on(user, label_id).await? {
            if g.status == "pending" || g.status == "accepted" {
                self.respond(user, g.id, false).await?;
                left = true;
            }
        }
        if left { Ok(()) } else { Err(ServiceError::NotFound) }
    }

    /// The owner hides properties from a grantee. What that grantee reads from then on omits them,
    /// with the ETags of what they read, and their next sync reports every card of the label.
    pub async fn set_hidden_fields<S: AsRef<str>>(&self, actor: &User, grant_id: i64, items: &[S]) -> Result<Grant> {
        let items: Vec<String> = items.iter().map(|i| i.as_ref().to_string()).collect();
        self.change_grant(actor, grant_id, None, Some(&items), None).await
    }
}
