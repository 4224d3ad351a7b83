//! Running the server: accounts, for administrators. Groups and domains are in `directory.rs`. Every
//! administration function takes an `Admin`, which only the check makes, so none can be called without it.

use super::access::{self, Credential};
use super::accounts::{Accounts, generate_password};
use super::{Result, Service, ServiceError, field};
use crate::store::User;

pub fn require_admin(user: &User, credential: Credential) -> Result<()> {
    if access::may_administer(user.is_admin, credential) {
        Ok(())
    } else if user.is_admin {
        Err(ServiceError::Refused("administration needs your account password or a dashboard session".into()))
    } else {
        Err(ServiceError::Refused("only administrators can do this".into()))
    }
}

/// An administrator at work: the first argument of every administration function, made only by `Admin::check`
/// (or `Admin::console` for the command line), so that no caller can forget the check.
pub struct Admin {
    /// Who; `None` on the command line, run by whoever holds the server's database.
    actor: Option<User>,
}

impl Admin {
    /// An administrator signed in with their account password or a dashboard session (`access::may_administer`).
    pub fn check(user: &User, credential: Credential) -> Result<Admin> {
        require_admin(user, credential)?;
        Ok(Admin { actor: Some(user.clone()) })
    }

    /// The command line (`labelbook user …`, `domain …`): it runs with the database in hand, so it is trusted.
    pub fn console() -> Admin {
        Admin { actor: None }
    }

    fn is(&self, user: &User) -> bool {
        self.actor.as_ref().is_some_and(|a| a.id == user.id)
    }
}

/// How long a search of the directory may be, in characters: a shorter one would list nearly everyone.
const SEARCH_NEEDLE: std::ops::RangeInclusive<usize> = 2..=200;

impl Accounts {
    /// A new account; with no password given, one is generated and returned (to hand to the person once).
    pub async fn add_user(
        &self,
        _admin: &Admin,
        email: &str,
        password: Option<&str>,
        is_admin: bool,
    ) -> Result<(User, Option<String>)> {
        let generated = match password {
            Some(_) => None,
            None => Some(generate_password().map_err(ServiceError::Invalid)?),
        };
        let password = password.or(generated.as_deref()).unwrap_or_default();
        let user = self.create_user(email, password, is_admin).await?;
        Ok((user, generated))
    }

    /// Changes an account (not one's own: an administrator cannot lock themselves out). A password reset
    /// generates the new password and returns it.
    pub async fn change_user(
        &self,
        admin: &Admin,
        user: &User,
        disabled: Option<bool>,
        reset_password: bool,
        keep_devices: bool,
    ) -> Result<Option<String>> {
        if admin.is(user) && disabled == Some(true) {
            return Err(field("disabled", "you cannot disable your own account"));
        }
        if keep_devices && !reset_password {
            return Err(field("keep_devices", "keep_devices goes with reset_password"));
        }
        if admin.is(user) && reset_password {
            // A reset would sign the administrator out everywhere with a password only this answer shows.
            return Err(field("reset_password", "change your own password with your current one, not by a reset"));
        }
        if let Some(d) = disabled {
            self.set_disabled(user, d).await?;
        }
        if reset_password {
            let password = generate_password().map_err(ServiceError::Invalid)?;
            self.set_password(user, &password, keep_devices).await?;
            return Ok(Some(password));
        }
        Ok(None)
    }
}

impl Service {
    pub async fn user_named(&self, _admin: &Admin, email: &str) -> Result<User> {
        let email = super::accounts::normalize_email(email).ok_or(ServiceError::NotFound)?;
        self.store.user_by_email(&email).await?.ok_or(ServiceError::NotFound)
    }

    pub async fn users(&self, _admin: &Admin) -> Result<Vec<User>> {
        Ok(self.store.list_users().await?)
    }

    /// Deletes an account (never one's own); refused while it owns labels.
    pub async fn remove_user(&self, admin: &Admin, user: &User) -> Result<()> {
        if admin.is(user) {
            return Err(ServiceError::Conflict("you cannot delete your own account".into()));
        }
        self.delete_user(user).await
    }

    /// People and groups whose address or name contains `needle`, for completing whom to share with: at most
    /// 10 of each, and only for a needle of 2 characters or more (no listing of everyone).
    pub async fn directory_search(&self, viewer: &User, needle: &str) -> Result<(Vec<User>, Vec<String>)> {
        let needle = needle.trim().to_lowercase();
        if !SEARCH_NEEDLE.contains(&needle.chars().count()) {
            return Err(field("q", "2 to 200 characters"));
        }
        let users = self.find_people(viewer, &needle).await?;
        let groups = self
            .store
            .groups()
            .await?
            .into_iter()
            .map(|g| g.name)
            .filter(|n| n.to_lowercase().contains(&needle))
            .take(10)
            .collect();
        Ok((users, groups))
    }

    /// The directory's one rule for finding people, for the API's directory and DAV's principal search alike:
    /// accounts whose address or name contains `needle`, among those `viewer` may find (see
    /// `access::may_search_everyone`), at most 10. A needle under 2 characters (or over 200) finds nobody: there
    /// is no listing of everyone.
    pub async fn find_people(&self, viewer: &User, needle: &str) -> Result<Vec<User>> {
        let needle = needle.trim();
        if !SEARCH_NEEDLE.contains(&needle.chars().count()) {
            return Ok(Vec::new());
        }
        Ok(self.store.search_users(needle, 10, &self.directory_of(viewer)).await?)
    }

    /// One account by address (a DAV principal), by the same rule as `find_people`: a stranger cannot tell an
    /// account it may not find from one that does not exist (`NotFound` for both).
    pub async fn person(&self, viewer: &User, email: &str) -> Result<User> {
        if email == viewer.email {
            return Ok(viewer.clone());
        }
        self.store.find_user_within(email, &self.directory_of(viewer)).await?.ok_or(ServiceError::NotFound)
    }

    fn directory_of(&self, viewer: &User) -> crate::store::UserScope {
        if super::access::may_search_everyone(viewer.is_admin, self.directory_everyone) {
            crate::store::UserScope::Everyone
        } else {
            crate::store::UserScope::Near { viewer_id: viewer.id, viewer_email: viewer.email.clone() }
        }
    }
}
