//! Administration of the server's domains and groups. Callers are administrators: the CLI, and the
//! admin API, which checks `User::is_admin` first.

use super::admin::Admin;
use super::{Result, Service, ServiceError};
use crate::store::{Domain, Group, StoreError};

/// A domain name as the server keeps it: lower-case labels of letters, digits and hyphens, joined by dots.
pub fn normalize_domain(name: &str) -> Option<String> {
    let d = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    ok.then_some(d)
}

fn domain_name(name: &str) -> Result<String> {
    normalize_domain(name).ok_or_else(|| ServiceError::Invalid(format!("'{name}' is not a domain name")))
}

fn group_name(name: &str) -> Result<&str> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.contains(':') || n.chars().any(char::is_control) {
        return Err(ServiceError::Invalid("a group name is 1 to 100 characters, without ':'".into()));
    }
    Ok(n)
}

fn named(e: StoreError, what: String) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::Missing(what),
        e => e.into(),
    }
}

impl Service {
    pub async fn domains(&self, _admin: &Admin) -> Result<Vec<Domain>> {
        Ok(self.store.domains().await?)
    }

    pub async fn add_domain(&self, _admin: &Admin, name: &str, primary: bool, auto_accept: bool) -> Result<Domain> {
        let d = domain_name(name)?;
        Ok(self.store.add_domain(&d, primary, auto_accept).await?)
    }

    pub async fn set_domain(
        &self,
        _admin: &Admin,
        name: &str,
        primary: bool,
        auto_accept: Option<bool>,
    ) -> Result<Domain> {
        let d = domain_name(name)?;
        self.store.set_domain(&d, primary, auto_accept).await.map_err(|e| named(e, format!("domain {d}")))
    }

    /// Removes a domain no account uses; its domain grants are revoked.
    pub async fn remove_domain(&self, _admin: &Admin, name: &str) -> Result<()> {
        let d = domain_name(name)?;
        self.store.remove_domain(&d).await.map_err(|e| named(e, format!("domain {d}")))
    }

    pub async fn groups(&self, _admin: &Admin) -> Result<Vec<Group>> {
        Ok(self.store.groups().await?)
    }

    pub async fn add_group(&self, _admin: &Admin, name: &str) -> Result<Group> {
        Ok(self.store.add_group(group_name(name)?).await?)
    }

    /// Removes a group; labels shared with it are no longer shared with its members (the grants are revoked).
    pub async fn remove_group(&self, _admin: &Admin, name: &str) -> Result<()> {
        let n = group_name(name)?;
        self.store.remove_group(n).await.map_err(|e| named(e, format!("group '{n}'")))
    }

    /// Adds or removes a member. Labels shared with the group appear in, or leave, the member's home at once.
    pub async fn set_group_member(&self, _admin: &Admin, group: &str, email: &str, add: bool) -> Result<()> {
        let n = group_name(group)?;
        let user = self.existing_user(email).await?;
        self.store.set_group_member(n, user.id, add).await.map_err(|e| named(e, format!("group '{n}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_domain;

    #[test]
    fn domain_names() {
        assert_eq!(normalize_domain(" Example.COM. ").as_deref(), Some("example.com"));
        assert_eq!(normalize_domain("localhost").as_deref(), Some("localhost"));
        for bad in ["", "a..b", "-a.com", "a-.com", "exa mple.com", "ex@mple.com", "x.%"] {
            assert_eq!(normalize_domain(bad), None, "{bad}");
        }
    }
}
