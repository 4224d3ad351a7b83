//! Outgoing mail: messages (`message.rs`, pure) and the SMTP client that submits them (`smtp.rs`). Knows
//! nothing of labels or permissions; `service/mail.rs` decides what is sent to whom.

pub mod message;
pub mod smtp;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (submission, port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this machine or a trusted network (port 25).
    None,
}

impl SmtpSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::Starttls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<SmtpSecurity> {
        match s {
            "starttls" => Some(SmtpSecurity::Starttls),
            "tls" => Some(SmtpSecurity::Tls),
            "none" => Some(SmtpSecurity::None),
            _ => None,
        }
    }
}

/// The mail server invitations go out through (`[smtp]` in the config file, or the dashboard's settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Defaults to 587, 465 or 25 by `security`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, `Labelbook <contacts@example.com>` or a bare address.
    pub from: String,
    /// Certificate authorities to trust besides the system's (a PEM file), for a server with a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }

    /// What is wrong with these settings, by field, before anything is tried.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let host = self.host.trim();
        if host.is_empty()
            || host.len() > 253
            || host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Some(("smtp.host", format!("'{}' is not a host name", self.host)));
        }
        if self.port == Some(0) {
            return Some(("smtp.port", "a port is 1 to 65535".into()));
        }
        if message::address_of(&self.from).is_none() {
            return Some((
                "smtp.from",
                format!("'{}' is not an address such as Labelbook <contacts@example.com>", self.from),
            ));
        }
        if self.username.as_deref().is_some_and(|u| u.contains(['\r', '\n', '\0'])) {
            return Some(("smtp.username", "the username holds a line break".into()));
        }
        if self.password.as_deref().is_some_and(|p| p.contains('\0')) {
            return Some(("smtp.password", "the password holds a NUL character".into()));
        }
        None
    }
}

/// Why a message did not go out. A permanent failure (refused login, rejected recipient, bad certificate)
/// is not retried; a transient one (server down, 4xx) is.
#[derive(Debug, Clone)]
pub struct MailError {
    pub permanent: bool,
    pub message: String,
}

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
