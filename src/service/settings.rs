//! Settings an administrator changes in the dashboard, over the config file's: the public address, invitations
//! to any domain, and the mail server. Read from the database whenever they are needed (an invitation, a
//! message), so a change applies at once on every server.

use super::{Result, Service, ServiceError, access, field};
use crate::mail::{self, SmtpConfig};
use crate::store::User;

/// The settings in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub public_url: Option<String>,
    pub invite_any_domain: bool,
    pub smtp: Option<SmtpConfig>,
}

/// Settings as an administrator sees them: in force, and which of them were set in the dashboard.
#[derive(Debug, Clone)]
pub struct SettingsView {
    pub settings: Settings,
    pub from_dashboard: Vec<String>,
}

/// A change: `Some(Some(v))` sets a value in the dashboard, `Some(None)` forgets it (the file's applies again).
#[derive(Debug, Default)]
pub struct SettingsChange {
    pub public_url: Option<Option<String>>,
    pub invite_any_domain: Option<Option<bool>>,
    pub smtp: Option<Option<SmtpConfig>>,
}

const PUBLIC_URL: &str = "public_url";
const INVITE_ANY_DOMAIN: &str = "invite_any_domain";
const SMTP: &str = "smtp";

/// `https://contacts.example.com` (no path beyond `/`, no query), without its trailing slash.
pub fn check_public_url(url: &str) -> std::result::Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty() && !r.contains(|c: char| c.is_whitespace() || c.is_control() || "?#@\\\"<>".contains(c))
    });
    if ok { Ok(u.to_string()) } else { Err(format!("'{url}' is not an address such as https://contacts.example.com")) }
}

impl Service {
    /// The settings in force: the dashboard's where set, else the config file's.
    pub async fn settings(&self) -> Result<Settings> {
        Ok(self.settings_view().await?.settings)
    }

    async fn settings_view(&self) -> Result<SettingsView> {
        let mut settings = self.defaults.clone();
        let mut from_dashboard = Vec::new();
        for (name, value) in self.store.settings().await? {
            let applied = match name.as_str() {
                PUBLIC_URL => serde_json::from_str(&value).map(|v| settings.public_url = Some(v)).is_ok(),
                INVITE_ANY_DOMAIN => serde_json::from_str(&value).map(|v| settings.invite_any_domain = v).is_ok(),
                SMTP => serde_json::from_str(&value).map(|v| settings.smtp = Some(v)).is_ok(),
                // The bridge's, not a setting of this page.
                super::google::GOOGLE_KEY_SETTING => continue,
                _ => false,
            };
            if applied {
                from_dashboard.push(name);
            } else {
                tracing::warn!(setting = %name, "ignoring a stored setting this server cannot read");
            }
        }
        Ok(SettingsView { settings, from_dashboard })
    }

    pub async fn admin_settings(&self, actor: &User, credential: access::Credential) -> Result<SettingsView> {
        super::admin::require_admin(actor, credential)?;
        self.settings_view().await
    }

    /// Applies a change after checking every part of it; nothing is stored when any part is wrong.
    pub async fn change_settings(
        &self,
        actor: &User,
        credential: access::Credential,
        change: SettingsChange,
    ) -> Result<SettingsView> {
        super::admin::require_admin(actor, credential)?;
        let mut rows: Vec<(&str, Option<String>)> = Vec::new();
        if let Some(url) = change.public_url {
            let url = url.map(|u| check_public_url(&u).map_err(|m| field("public_url", m))).transpose()?;
            rows.push((PUBLIC_URL, url.as_ref().map(json).transpose()?));
        }
        if let Some(any) = change.invite_any_domain {
            rows.push((INVITE_ANY_DOMAIN, any.as_ref().map(json).transpose()?));
        }
        if let Some(smtp) = change.smtp {
            if let Some(s) = &smtp
                && let Some((f, m)) = s.problem()
            {
                return Err(field(f, m));
            }
            rows.push((SMTP, smtp.as_ref().map(json).transpose()?));
        }
        self.store.put_settings(&rows, &actor.email).await?;
        self.settings_view().await
    }

    /// Sends a test message with `smtp` (the settings in force when `None`) to `to` (the administrator when
    /// `None`), now. Returns the outcome and the SMTP conversation, passwords left out.
    pub async fn test_smtp(
        &self,
        actor: &User,
        credential: access::Credential,
        to: Option<&str>,
        smtp: Option<SmtpConfig>,
    ) -> Result<(std::result::Result<(), mail::MailError>, Vec<String>)> {
        super::admin::require_admin(actor, credential)?;
        let settings = self.settings().await?;
        let smtp = match smtp.or(settings.smtp.clone()) {
            Some(s) => s,
            None => return Err(ServiceError::Conflict("no mail server is set up: fill in the SMTP settings".into())),
        };
        if let Some((f, m)) = smtp.problem() {
            return Err(field(f, m));
        }
        let to = match to {
            Some(t) => super::accounts::normalize_email(t)
                .ok_or_else(|| field("to", format!("'{t}' is not an e-mail address")))?,
            None => actor.email.clone(),
        };
        let message = super::mail::test_message(&smtp, &to, actor, settings.public_url.as_deref());
        Ok(super::mail::send_now(&smtp, &message).await)
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ServiceError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::check_public_url;

    #[test]
    fn public_urls() {
        assert_eq!(check_public_url("https://c.example.com/").as_deref(), Ok("https://c.example.com"));
        assert_eq!(check_public_url("http://10.0.0.2:8080").as_deref(), Ok("http://10.0.0.2:8080"));
        assert!(check_public_url("c.example.com").is_err());
        assert!(check_public_url("https://").is_err());
        assert!(check_public_url("https://a b").is_err());
        assert!(check_public_url("https://x/?q=1").is_err());
    }
}
