//! Administrators' settings: `GET`/`PATCH /admin/settings` and `POST /admin/settings/smtp-test`.
//! The SMTP password is write-only: it is never returned, and leaving it out of a change keeps it.

use super::{ApiResult, Problem, Request, json_response};
use crate::mail::{SmtpConfig, SmtpSecurity};
use crate::service::settings::{SettingsChange, SettingsView};
use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Serialize)]
struct SmtpJson<'a> {
    host: &'a str,
    port: u16,
    security: &'a str,
    username: Option<&'a str>,
    password_set: bool,
    from: &'a str,
    ca_file: Option<String>,
}

#[derive(Serialize)]
struct SettingsJson<'a> {
    public_url: Option<&'a str>,
    invite_any_domain: bool,
    smtp: Option<SmtpJson<'a>>,
    /// The settings whose value was set in the dashboard (the rest come from the config file or defaults).
    set_in_dashboard: &'a [String],
}

fn render(v: &SettingsView) -> ApiResult {
    let s = &v.settings;
    let smtp = s.smtp.as_ref().map(|m| SmtpJson {
        host: &m.host,
        port: m.port(),
        security: m.security.as_str(),
        username: m.username.as_deref(),
        password_set: m.password.as_deref().is_some_and(|p| !p.is_empty()),
        from: &m.from,
        ca_file: m.ca_file.as_ref().map(|p| p.display().to_string()),
    });
    json_response(
        StatusCode::OK,
        &SettingsJson {
            public_url: s.public_url.as_deref(),
            invite_any_domain: s.invite_any_domain,
            smtp,
            set_in_dashboard: &v.from_dashboard,
        },
    )
}

/// Present-and-null apart from absent: `Some(None)` for `null`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpIn {
    host: String,
    port: Option<u16>,
    security: Option<String>,
    username: Option<String>,
    /// Absent: the password already set stays; empty or null: none.
    #[serde(default, deserialize_with = "nullable")]
    password: Option<Option<String>>,
    from: String,
    ca_file: Option<String>,
}

impl SmtpIn {
    fn into_config(self, current: Option<&SmtpConfig>) -> Result<SmtpConfig, Problem> {
        let security = match self.security.as_deref() {
            None => SmtpSecurity::default(),
            Some(s) => SmtpSecurity::parse(s)
                .ok_or_else(|| Problem::unprocessable("smtp.security", "security is starttls, tls or none"))?,
        };
        let password = match self.password {
            None => current.and_then(|c| c.password.clone()),
            Some(p) => p.filter(|p| !p.is_empty()),
        };
        Ok(SmtpConfig {
            host: self.host.trim().to_string(),
            port: self.port,
            security,
            username: self.username.filter(|u| !u.trim().is_empty()),
            password,
            from: self.from.trim().to_string(),
            ca_file: self.ca_file.filter(|f| !f.trim().is_empty()).map(Into::into),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default, deserialize_with = "nullable")]
    public_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    invite_any_domain: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    smtp: Option<Option<SmtpIn>>,
}

pub async fn get(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    render(&req.app.service.admin_settings(req.user, req.credential).await?)
}

pub async fn change(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let service = &req.app.service;
    // Administrators only, before the body is even looked at.
    let current = service.admin_settings(req.user, req.credential).await?;
    let patch: Patch = req.json()?;
    let smtp = match patch.smtp {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(Some(s.into_config(current.settings.smtp.as_ref())?)),
    };
    let change = SettingsChange { public_url: patch.public_url, invite_any_domain: patch.invite_any_domain, smtp };
    render(&service.change_settings(req.user, req.credential, change).await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestIn {
    to: Option<String>,
    /// Settings to try before saving them; the ones in force when absent.
    smtp: Option<SmtpIn>,
}

pub async fn test_smtp(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let service = &req.app.service;
    let current = service.admin_settings(req.user, req.credential).await?;
    let body: TestIn = if req.body.is_empty() { TestIn::default() } else { req.json()? };
    let smtp = body.smtp.map(|s| s.into_config(current.settings.smtp.as_ref())).transpose()?;
    let to = body.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (result, transcript) = service.test_smtp(req.user, req.credential, to, smtp).await?;
    #[derive(Serialize)]
    struct Outcome<'a> {
        sent: bool,
        to: &'a str,
        /// What went wrong, in the mail server's words where it said something.
        error: Option<&'a str>,
        /// The conversation with the mail server, passwords left out.
        transcript: &'a [String],
    }
    let to = to.map(str::to_lowercase).unwrap_or_else(|| req.user.email.clone());
    json_response(
        StatusCode::OK,
        &Outcome {
            sent: result.is_ok(),
            to: &to,
            error: result.as_ref().err().map(|e| e.message.as_str()),
            transcript: &transcript,
        },
    )
}
