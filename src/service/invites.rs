//! Invitations by link: a pending grant to a person can be handed over as a link with a single-use
//! secret. Whoever opens it sees what they are invited to; the invitee accepts or declines, signed in as the
//! invited address, or, when no account has that address yet, by choosing a password, which creates it. Only a
//! link the server mailed to the address can create its account: opening it proves control of the address. A
//! copied link passes through the inviter's hands (and whatever they pasted it into), so it works only for an
//! account that exists (made by an administrator, or through a mailed link).

use super::accounts::normalize_email;
use super::{Result, Service, ServiceError, field};
use crate::store::{Grant, InviteLink, StoreError, User, domain_of};

pub const LINK_PREFIX: &str = "lbi_";
/// How long a link works.
pub const LINK_DAYS: i64 = 14;

/// What an invitation link shows.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub grant: Grant,
    pub label_name: String,
    pub owner_email: String,
    pub invited_by: Option<String>,
    /// Whether an account with the invited address exists (sign in) or not.
    pub account_exists: bool,
    /// Whether answering this link may create the account (no account yet, and the link was mailed to it).
    pub may_create_account: bool,
    pub expires_at: i64,
}

impl Service {
    /// The address a person is invited at: an existing account, or, for an address nobody has yet, one in the
    /// server's domains (its account is made when the invitation is accepted).
    pub(super) async fn invitable(&self, email: &str) -> Result<String> {
        let email =
            normalize_email(email).ok_or_else(|| field("grantee", format!("'{email}' is not an e-mail address")))?;
        if self.store.user_by_email(&email).await?.is_some() {
            return Ok(email);
        }
        if self.settings().await?.invite_any_domain || self.store.domain(domain_of(&email)).await?.is_some() {
            return Ok(email);
        }
        Err(field(
            "grantee",
            format!("no user {email} on this server, and {} is not one of its domains", domain_of(&email)),
        ))
    }

    /// A fresh link for a pending invitation of a person (earlier links stop working): for whoever may manage
    /// that grant. Returns the secret, shown to the inviter to pass on.
    pub async fn invite_link(&self, actor: &User, grant_id: i64) -> Result<(String, i64)> {
        let grant = self.manageable(actor, grant_id, None).await?;
        if grant.grantee_kind != "user" {
            return Err(ServiceError::Conflict("groups and domains need no invitation link".into()));
        }
        if grant.status != "pending" {
            return Err(ServiceError::Conflict(format!("the invitation is {}, not pending", grant.status)));
        }
        let secret = super::sessions::secret(LINK_PREFIX).map_err(ServiceError::Store)?;
        let expires = self.store.clock.now() + LINK_DAYS * 86_400;
        self.store.replace_invite_link(grant.id, &super::sessions::digest(&secret), actor.id, expires).await?;
        Ok((secret, expires))
    }

    async fn live_link(&self, secret: &str) -> Result<InviteLink> {
        if !secret.starts_with(LINK_PREFIX) {
            return Err(ServiceError::NotFound);
        }
        let link = self.store.invite_link(&super::sessions::digest(secret)).await?.ok_or(ServiceError::NotFound)?;
        if link.used_at.is_some() {
            return Err(ServiceError::Conflict("this invitation link was used already".into()));
        }
        if link.expires_at <= self.store.clock.now() {
            return Err(ServiceError::Conflict("this invitation link has expired: ask for a new one".into()));
        }
        if link.grant.status != "pending" {
            return Err(ServiceError::Conflict(format!("this invitation is {} now", link.grant.status)));
        }
        Ok(link)
    }

    /// What a link invites to, for anyone holding it (the secret is the permission).
    pub async fn link_info(&self, secret: &str) -> Result<LinkInfo> {
        let link = self.live_link(secret).await?;
        let label = self.store.label(&link.grant.label_id).await?.ok_or(ServiceError::NotFound)?;
        let owner = self.store.user_by_id(label.owner_id).await?.map(|u| u.email).unwrap_or_default();
        let invited_by = match link.grant.invited_by {
            Some(id) => self.store.user_by_id(id).await?.map(|u| u.email),
            None => None,
        };
        let account_exists = self.store.user_by_email(&link.grant.grantee).await?.is_some();
        let may_create_account = !account_exists && link.mailed;
        Ok(LinkInfo {
            may_create_account,
            label_name: label.name,
            owner_email: owner,
            invited_by,
            account_exists,
            expires_at: link.expires_at,
            grant: link.grant,
        })
    }

    /// Answers an invitation through its link. `signed_in` must be the invited account when it exists; when
    /// it does not, `password` makes it (accepting only). Returns the account, whether it was made now, and the
    /// label the invitation was to.
    pub async fn answer_link(
        &self,
        accounts: &super::accounts::Accounts,
        secret: &str,
        signed_in: Option<&User>,
        password: Option<&str>,
        accept: bool,
    ) -> Result<(Option<User>, bool, String)> {
        let link = self.live_link(secret).await?;
        let invited = link.grant.grantee.clone();
        let existing = self.store.user_by_email(&invited).await?;
        let (user, made) = match (existing, signed_in) {
            (Some(u), Some(me)) if me.id == u.id => (Some(u), false),
            (Some(_), _) => {
                return Err(ServiceError::Refused(format!("this invitation is for {invited}: sign in as {invited}")));
            }
            // Whoever holds a copied link has not shown that the address is theirs.
            (None, _) if !link.mailed => return Err(ServiceError::Refused(no_account_yet(&invited))),
            (None, _) if !accept => (None, false),
            (None, _) => {
                let password = password.ok_or_else(|| field("password", "choose a password for your new account"))?;
                let any_domain = self.settings().await?.invite_any_domain;
                (Some(accounts.create_account(&invited, password, false, any_domain).await?), true)
            }
        };
        self.store.use_invite_link(link.id).await.map_err(|e| match e {
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            e => e.into(),
        })?;
        match &user {
            Some(u) => {
                self.respond(u, link.grant.id, accept).await?;
            }
            // Declined by someone with no account yet: the grant itself says so.
            None => {
                let change = crate::store::GrantChange { status: Some("declined"), ..Default::default() };
                self.store.change_grant(link.grant.id, Some(&["pending"]), &change).await?;
            }
        }
        Ok((user, made, link.grant.label_id))
    }
}

/// Why a copied link cannot answer for an address nobody has an account for yet.
fn no_account_yet(invited: &str) -> String {
    format!(
        "There is no account for {invited} on this server yet, and only an invitation e-mailed to {invited} can \
         create one. Ask an administrator to create the account (then sign in and open this link again), or ask \
         the person who invited you to send the invitation by e-mail."
    )
}
