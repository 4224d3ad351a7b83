//! Settings: defaults, then the TOML file (`--config`), then `LABELBOOK_*` environment variables, then flags.
//! config/labelbook.example.toml documents every key.

use crate::store::SqliteSync;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies in front of the server, by address: only their X-Forwarded-For and X-Forwarded-Proto are
    /// believed, and the per-address connection cap does not apply to them.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Most connections open at once, and from one client address.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// A request's head must arrive within this long (also how long an idle keep-alive connection stays open).
    pub header_timeout_secs: u64,
    /// A request body may pause this long between pieces, and take this long in all.
    pub body_idle_secs: u64,
    pub body_timeout_secs: u64,
    pub max_resource_size: usize,
    pub max_request_body: usize,
    /// The largest file `POST /api/v1/imports` takes.
    pub max_import_size: usize,
    /// Invitations may go to any address, not only existing accounts and the server's domains.
    pub invite_any_domain: bool,
    /// Everyone may find every account when looking for people to share with (otherwise: their own domain and
    /// the people they already share with; administrators always find everyone).
    pub directory_everyone: bool,
    /// The address people reach the dashboard at (`https://contacts.example.com`), for links in e-mail. Unset,
    /// links use the address the inviter's browser used.
    pub public_url: Option<String>,
    /// Where invitations are e-mailed through; unset, invitation links are only shown to the inviter.
    pub smtp: Option<crate::mail::SmtpConfig>,
    /// The wait before retrying a message the mail server did not take; it grows fourfold per attempt.
    pub mail_retry_secs: u64,
    /// How soon after a message about an invitation a manager may have it mailed again.
    pub mail_resend_secs: u64,
    pub max_properties_per_card: usize,
    /// The most distinct resources one addressbook-multiget may name (past it: 413, ask in smaller batches).
    pub max_multiget_hrefs: usize,
    pub auth_cache_ttl_secs: u64,
    /// The argon2id cost of new password hashes: memory (KiB), passes and lanes. Existing hashes keep theirs.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub login_max_failures: usize,
    pub login_failure_window_secs: u64,
    /// A dashboard session ends after this long unused, and in any case this long after login.
    pub session_idle_secs: u64,
    pub session_max_secs: u64,
    pub sqlite_sync: SqliteSync,
    pub trash_days: i64,
    pub history_days: i64,
    pub log: String,
    /// The Google Contacts bridge; off until a service-account key is set.
    pub google: GoogleConfig,
    /// WebDAV-Push: push resources on loopback, private and link-local addresses, and plain `http://`, are
    /// refused unless this is set (tests and push services on the same private network).
    pub push_allow_local_endpoints: bool,
    /// The most live push registrations one account may hold (each device registers once per book).
    pub push_max_registrations_per_user: usize,
    /// The longest a push registration lives before its device must renew it (at least 3 days, as the draft
    /// asks).
    pub push_max_expiry_days: u64,
    /// The contact push services are given in the VAPID token (RFC 8292 §2.1): `mailto:` or `https:`. Unset,
    /// the first administrator's address.
    pub push_subject: Option<String>,
    /// Changes to one collection within this long go out as one message (the last sync-token wins).
    pub push_coalesce_ms: u64,
    /// How long a push service keeps a message for a device that is offline (RFC 8030 §5.2 TTL).
    pub push_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleConfig {
    /// A Google service-account JSON key with domain-wide delegation for the contacts scope.
    pub service_account_key: Option<PathBuf>,
    /// Where the People API is (a stand-in for tests or a private gateway).
    pub people_api_url: String,
    /// How often each mirrored user's Google Contacts are read for changes made there.
    pub poll_secs: u64,
    /// More deletions than this from one user in one pull pause their bridge instead of being applied.
    pub max_deletes_per_sync: usize,
    /// Retries of a request Google answered 429 or 5xx: the first wait (doubling), the longest, how many tries.
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
    pub retry_attempts: u32,
    /// How long a server holds a user it syncs (renewed as it goes); a server that dies hands its users to
    /// the others after this long.
    pub lease_secs: u64,
    /// An OAuth client (type "web application") for users who connect their own Google account (Gmail, other
    /// domains); its redirect URI is `{public_url}/api/v1/google/oauth/callback`.
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<String>,
    pub oauth_auth_url: String,
    pub oauth_token_url: String,
    /// Where a disconnected user's grant is revoked (RFC 7009), so the server keeps no access it no longer uses.
    pub oauth_revoke_url: String,
    /// The key (32 bytes, base64) refresh tokens are sealed with in the database. Unset on SQLite: a key file
    /// made beside the database; required on PostgreSQL, where every server must share it.
    pub token_key: Option<String>,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            service_account_key: None,
            people_api_url: "https://people.googleapis.com".into(),
            poll_secs: 60,
            max_deletes_per_sync: 50,
            retry_base_ms: 1000,
            retry_max_secs: 32,
            retry_attempts: 8,
            lease_secs: 300,
            oauth_client_id: None,
            oauth_client_secret: None,
            oauth_auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            oauth_token_url: "https://oauth2.googleapis.com/token".into(),
            oauth_revoke_url: "https://oauth2.googleapis.com/revoke".into(),
            token_key: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            max_connections_per_address: 256,
            header_timeout_secs: 15,
            body_idle_secs: 30,
            body_timeout_secs: 600,
            max_resource_size: 2 * 1024 * 1024,
            max_request_body: 8 * 1024 * 1024,
            max_import_size: 64 * 1024 * 1024,
            invite_any_domain: false,
            directory_everyone: false,
            public_url: None,
            smtp: None,
            mail_retry_secs: 60,
            mail_resend_secs: 60,
            max_properties_per_card: 2000,
            max_multiget_hrefs: 1000,
            auth_cache_ttl_secs: 120,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            login_max_failures: 10,
            login_failure_window_secs: 300,
            session_idle_secs: 14 * 86_400,
            session_max_secs: 30 * 86_400,
            sqlite_sync: SqliteSync::Normal,
            trash_days: 30,
            history_days: 365,
            log: "info".into(),
            google: GoogleConfig::default(),
            push_allow_local_endpoints: false,
            push_max_registrations_per_user: 200,
            push_max_expiry_days: 7,
            push_subject: None,
            push_coalesce_ms: 200,
            push_ttl_secs: 86_400,
        }
    }
}

/// A number from an environment variable, or an error naming it.
fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("{key}: '{v}' is not a number"))
}

impl Config {
    /// Defaults, overridden by the file (if any), then by the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = get("LABELBOOK_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("LABELBOOK_DATA") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("LABELBOOK_DATABASE_URL") {
            self.database_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_TLS_CERT") {
            self.tls_cert = Some(v.into());
        }
        if let Some(v) = get("LABELBOOK_TLS_KEY") {
            self.tls_key = Some(v.into());
        }
        if let Some(v) = get("LABELBOOK_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| a.parse().map_err(|_| format!("LABELBOOK_TRUSTED_PROXIES: '{a}' is not an IP address")))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("LABELBOOK_MAX_CONNECTIONS") {
            self.max_connections = num("LABELBOOK_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_MAX_CONNECTIONS_PER_ADDRESS") {
            self.max_connections_per_address = num("LABELBOOK_MAX_CONNECTIONS_PER_ADDRESS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_HEADER_TIMEOUT_SECS") {
            self.header_timeout_secs = num("LABELBOOK_HEADER_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_BODY_IDLE_SECS") {
            self.body_idle_secs = num("LABELBOOK_BODY_IDLE_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_BODY_TIMEOUT_SECS") {
            self.body_timeout_secs = num("LABELBOOK_BODY_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_MAX_RESOURCE_SIZE") {
            self.max_resource_size = num("LABELBOOK_MAX_RESOURCE_SIZE", &v)?;
        }
        if let Some(v) = get("LABELBOOK_MAX_REQUEST_BODY") {
            self.max_request_body = num("LABELBOOK_MAX_REQUEST_BODY", &v)?;
        }
        if let Some(v) = get("LABELBOOK_INVITE_ANY_DOMAIN") {
            self.invite_any_domain = match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(format!("LABELBOOK_INVITE_ANY_DOMAIN is true or false, not '{v}'")),
            };
        }
        if let Some(v) = get("LABELBOOK_DIRECTORY_EVERYONE") {
            self.directory_everyone = match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(format!("LABELBOOK_DIRECTORY_EVERYONE is true or false, not '{v}'")),
            };
        }
        if let Some(v) = get("LABELBOOK_PUBLIC_URL") {
            self.public_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_MAIL_RETRY_SECS") {
            self.mail_retry_secs = num("LABELBOOK_MAIL_RETRY_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_MAIL_RESEND_SECS") {
            self.mail_resend_secs = num("LABELBOOK_MAIL_RESEND_SECS", &v)?;
        }
        self.apply_smtp_env(&get)?;
        if let Some(v) = get("LABELBOOK_MAX_MULTIGET_HREFS") {
            self.max_multiget_hrefs = num("LABELBOOK_MAX_MULTIGET_HREFS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_MAX_IMPORT_SIZE") {
            self.max_import_size = num("LABELBOOK_MAX_IMPORT_SIZE", &v)?;
        }
        if let Some(v) = get("LABELBOOK_AUTH_CACHE_TTL_SECS") {
            self.auth_cache_ttl_secs = num("LABELBOOK_AUTH_CACHE_TTL_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_ARGON2_MEMORY_KIB") {
            self.argon2_memory_kib = num("LABELBOOK_ARGON2_MEMORY_KIB", &v)?;
        }
        if let Some(v) = get("LABELBOOK_ARGON2_ITERATIONS") {
            self.argon2_iterations = num("LABELBOOK_ARGON2_ITERATIONS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_ARGON2_PARALLELISM") {
            self.argon2_parallelism = num("LABELBOOK_ARGON2_PARALLELISM", &v)?;
        }
        if let Some(v) = get("LABELBOOK_LOGIN_MAX_FAILURES") {
            self.login_max_failures = num("LABELBOOK_LOGIN_MAX_FAILURES", &v)?;
        }
        if let Some(v) = get("LABELBOOK_SESSION_IDLE_SECS") {
            self.session_idle_secs = num("LABELBOOK_SESSION_IDLE_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_SESSION_MAX_SECS") {
            self.session_max_secs = num("LABELBOOK_SESSION_MAX_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_SQLITE_SYNC") {
            self.sqlite_sync = match v.as_str() {
                "normal" => SqliteSync::Normal,
                "full" => SqliteSync::Full,
                _ => {
                    return Err(format!("LABELBOOK_SQLITE_SYNC: '{v}' is not normal or full"));
                }
            };
        }
        if let Some(v) = get("LABELBOOK_TRASH_DAYS") {
            self.trash_days = num("LABELBOOK_TRASH_DAYS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_HISTORY_DAYS") {
            self.history_days = num("LABELBOOK_HISTORY_DAYS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_LOG") {
            self.log = v;
        }
        self.apply_push_env(&get)?;
        self.apply_google_env(&get)
    }

    /// `LABELBOOK_PUSH_ALLOW_LOCAL_ENDPOINTS`, `_MAX_REGISTRATIONS_PER_USER`, `_MAX_EXPIRY_DAYS`, `_SUBJECT`,
    /// `_COALESCE_MS`, `_TTL_SECS`.
    fn apply_push_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = get("LABELBOOK_PUSH_ALLOW_LOCAL_ENDPOINTS") {
            self.push_allow_local_endpoints = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(format!("LABELBOOK_PUSH_ALLOW_LOCAL_ENDPOINTS is true or false, not '{v}'")),
            };
        }
        if let Some(v) = get("LABELBOOK_PUSH_MAX_REGISTRATIONS_PER_USER") {
            self.push_max_registrations_per_user = num("LABELBOOK_PUSH_MAX_REGISTRATIONS_PER_USER", &v)?;
        }
        if let Some(v) = get("LABELBOOK_PUSH_MAX_EXPIRY_DAYS") {
            self.push_max_expiry_days = num("LABELBOOK_PUSH_MAX_EXPIRY_DAYS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_PUSH_SUBJECT") {
            self.push_subject = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_PUSH_COALESCE_MS") {
            self.push_coalesce_ms = num("LABELBOOK_PUSH_COALESCE_MS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_PUSH_TTL_SECS") {
            self.push_ttl_secs = num("LABELBOOK_PUSH_TTL_SECS", &v)?;
        }
        Ok(())
    }

    /// `LABELBOOK_GOOGLE_SERVICE_ACCOUNT_KEY`, `_PEOPLE_API_URL`, `_POLL_SECS`, `_MAX_DELETES_PER_SYNC`,
    /// `_RETRY_BASE_MS`, `_RETRY_MAX_SECS`, `_RETRY_ATTEMPTS`, `_LEASE_SECS`, `_OAUTH_CLIENT_ID`,
    /// `_OAUTH_CLIENT_SECRET`, `_OAUTH_AUTH_URL`, `_OAUTH_TOKEN_URL`, `_TOKEN_KEY`.
    fn apply_google_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let g = &mut self.google;
        if let Some(v) = get("LABELBOOK_GOOGLE_SERVICE_ACCOUNT_KEY") {
            g.service_account_key = (!v.is_empty()).then(|| v.into());
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_PEOPLE_API_URL") {
            g.people_api_url = v;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_POLL_SECS") {
            g.poll_secs = num("LABELBOOK_GOOGLE_POLL_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_MAX_DELETES_PER_SYNC") {
            g.max_deletes_per_sync = num("LABELBOOK_GOOGLE_MAX_DELETES_PER_SYNC", &v)?;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_RETRY_BASE_MS") {
            g.retry_base_ms = num("LABELBOOK_GOOGLE_RETRY_BASE_MS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_RETRY_MAX_SECS") {
            g.retry_max_secs = num("LABELBOOK_GOOGLE_RETRY_MAX_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_RETRY_ATTEMPTS") {
            g.retry_attempts = num("LABELBOOK_GOOGLE_RETRY_ATTEMPTS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_LEASE_SECS") {
            g.lease_secs = num("LABELBOOK_GOOGLE_LEASE_SECS", &v)?;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_OAUTH_CLIENT_ID") {
            g.oauth_client_id = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_OAUTH_CLIENT_SECRET") {
            g.oauth_client_secret = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_OAUTH_AUTH_URL") {
            g.oauth_auth_url = v;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_OAUTH_TOKEN_URL") {
            g.oauth_token_url = v;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_OAUTH_REVOKE_URL") {
            g.oauth_revoke_url = v;
        }
        if let Some(v) = get("LABELBOOK_GOOGLE_TOKEN_KEY") {
            g.token_key = (!v.is_empty()).then_some(v);
        }
        if g.oauth_client_id.is_some() != g.oauth_client_secret.is_some() {
            return Err("google.oauth_client_id and google.oauth_client_secret go together".into());
        }
        if !(g.people_api_url.starts_with("https://") || g.people_api_url.starts_with("http://")) {
            return Err(format!("google.people_api_url '{}' is not an http(s) address", g.people_api_url));
        }
        Ok(())
    }
}

impl Config {
    /// `LABELBOOK_SMTP_HOST` (which starts the section when the file has none), `_PORT`, `_SECURITY`,
    /// `_USERNAME`, `_PASSWORD`, `_FROM`, `_CA_FILE`.
    fn apply_smtp_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(host) = get("LABELBOOK_SMTP_HOST") {
            if host.is_empty() {
                self.smtp = None;
                return Ok(());
            }
            let smtp = self.smtp.get_or_insert_with(|| crate::mail::SmtpConfig {
                host: String::new(),
                port: None,
                security: Default::default(),
                username: None,
                password: None,
                from: String::new(),
                ca_file: None,
            });
            smtp.host = host;
        }
        let Some(smtp) = self.smtp.as_mut() else {
            if get("LABELBOOK_SMTP_FROM").is_some() || get("LABELBOOK_SMTP_PORT").is_some() {
                return Err("LABELBOOK_SMTP_* needs LABELBOOK_SMTP_HOST (or an [smtp] section)".into());
            }
            return Ok(());
        };
        if let Some(v) = get("LABELBOOK_SMTP_PORT") {
            smtp.port = Some(v.trim().parse().map_err(|_| format!("LABELBOOK_SMTP_PORT: '{v}' is not a port"))?);
        }
        if let Some(v) = get("LABELBOOK_SMTP_SECURITY") {
            smtp.security = crate::mail::SmtpSecurity::parse(&v)
                .ok_or_else(|| format!("LABELBOOK_SMTP_SECURITY is starttls, tls or none, not '{v}'"))?;
        }
        if let Some(v) = get("LABELBOOK_SMTP_USERNAME") {
            smtp.username = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_SMTP_PASSWORD") {
            smtp.password = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("LABELBOOK_SMTP_FROM") {
            smtp.from = v;
        }
        if let Some(v) = get("LABELBOOK_SMTP_CA_FILE") {
            smtp.ca_file = (!v.is_empty()).then(|| v.into());
        }
        if let Some((field, message)) = smtp.problem() {
            return Err(format!("{field}: {message}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_env_overrides() {
        let text = include_str!("../config/labelbook.example.toml");
        let mut c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        c.apply_env(|k| (k == "LABELBOOK_LISTEN").then(|| "0.0.0.0:9".to_string())).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9");
        assert!(c.apply_env(|k| (k == "LABELBOOK_MAX_RESOURCE_SIZE").then(|| "x".to_string())).is_err());
        assert!(toml::from_str::<Config>("nonsense_key = 1").is_err());
        assert!(!c.push_allow_local_endpoints);
        c.apply_env(|k| (k == "LABELBOOK_PUSH_ALLOW_LOCAL_ENDPOINTS").then(|| "true".to_string())).unwrap();
        assert!(c.push_allow_local_endpoints);
        assert!(c.apply_env(|k| (k == "LABELBOOK_PUSH_ALLOW_LOCAL_ENDPOINTS").then(|| "maybe".to_string())).is_err());
        let env = |k: &str| match k {
            "LABELBOOK_SMTP_HOST" => Some("mail.example.com".to_string()),
            "LABELBOOK_SMTP_FROM" => Some("Labelbook <contacts@example.com>".to_string()),
            "LABELBOOK_SMTP_SECURITY" => Some("tls".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        let smtp = c.smtp.clone().unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port()), ("mail.example.com", 465));
        let mut bare = Config::default();
        assert!(bare.apply_env(|k| (k == "LABELBOOK_SMTP_FROM").then(|| "a@b.c".to_string())).is_err());
    }
}
