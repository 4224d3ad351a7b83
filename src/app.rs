//! The application state, built once from `Config` and handed to every layer.

use crate::config::Config;
use crate::service::accounts::{self, Accounts, AuthSettings};
use crate::service::settings::{Settings, check_public_url};
use crate::service::{CardLimits, Service};
use crate::store::{Store, User};
use std::time::Duration;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub service: std::sync::Arc<Service>,
    pub accounts: Accounts,
    /// Set once the server stops accepting connections: long-lived responses (event streams) end on it.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// The Google Contacts bridge, when a service-account key is configured.
    pub bridge: std::sync::Arc<crate::bridge::Bridge>,
    /// Open event streams per user, to bound what one account can hold open.
    pub streams: std::sync::Mutex<std::collections::HashMap<i64, usize>>,
    /// WebDAV-Push: the VAPID key, topics, and the worker that sends messages.
    pub push: std::sync::Arc<crate::push::Push>,
}

impl App {
    /// What runs beside a serving server, until `stopping`: hearing the changes other servers on the same
    /// PostgreSQL database commit, sending the mail queued on any of them, and the Google bridge.
    pub async fn start_background(self: &std::sync::Arc<Self>) {
        // An import a stopped server left running will not finish: say so, before any new one can start. On
        // PostgreSQL another server may still be running a young one.
        let abandoned_after = if self.config.database_url.is_some() { 3600 } else { 0 };
        if let Err(e) = self.store.fail_abandoned_jobs(abandoned_after).await {
            tracing::warn!(error = %e, "could not mark abandoned imports");
        }
        self.store.spawn_listener();
        self.store.spawn_outside_watch();
        let outbox = self.clone();
        tokio::spawn(async move { outbox.service.run_outbox(outbox.stopping.subscribe()).await });
        tokio::spawn(self.bridge.clone().run(self.service.clone(), self.stopping.subscribe()));
        tokio::spawn(self.push.clone().run(self.service.clone(), self.stopping.subscribe()));
        tokio::spawn(self.clone().housekeeping());
    }

    /// Purges trash older than `trash_days` and history older than `history_days`, now and every six hours, and
    /// refreshes PostgreSQL's planner statistics hourly, until the server stops.
    async fn housekeeping(self: std::sync::Arc<Self>) {
        let mut stopping = self.stopping.subscribe();
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        for hour in 0u64.. {
            tokio::select! {
                _ = every.tick() => {}
                _ = stopping.changed() => return,
            }
            if hour > 0 {
                match self.store.refresh_statistics().await {
                    Ok(tables) if tables.is_empty() => {}
                    Ok(tables) => tracing::debug!(?tables, "refreshed planner statistics"),
                    Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
                }
            }
            if hour % 6 != 0 {
                continue;
            }
            match self.store.purge_trash(self.config.trash_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days = self.config.trash_days, "purged old trash"),
                Err(e) => tracing::warn!(error = %e, "purging the trash failed"),
            }
            match self.store.purge_history(self.config.history_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days = self.config.history_days, "purged old history"),
                Err(e) => tracing::warn!(error = %e, "purging old history failed"),
            }
        }
    }

    /// Opens the database the config names (SQLite under data_dir by default), migrates it, and builds the state.
    pub async fn open(config: Config) -> anyhow::Result<App> {
        let store = match &config.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Store::open_postgres(url).await?
            }
            Some(url) => {
                anyhow::bail!("database_url must be postgres://...; leave it unset for the embedded SQLite ({url})")
            }
            None => {
                std::fs::create_dir_all(&config.data_dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", config.data_dir.display()))?;
                Store::open_sqlite(&config.data_dir.join("labelbook.db"), config.sqlite_sync).await?
            }
        };
        store.migrate().await?;
        let secret = store.meta_init("server_secret", &accounts::random_secret().map_err(anyhow::Error::msg)?).await?;
        let settings = AuthSettings {
            cache_ttl: Duration::from_secs(config.auth_cache_ttl_secs),
            max_failures: config.login_max_failures.max(1),
            failure_window: Duration::from_secs(config.login_failure_window_secs),
            session_idle: Duration::from_secs(config.session_idle_secs),
            session_max: Duration::from_secs(config.session_max_secs),
            cost: crate::service::passwords::Cost {
                memory_kib: config.argon2_memory_kib,
                iterations: config.argon2_iterations,
                parallelism: config.argon2_parallelism,
            },
        };
        settings.cost.params().map_err(anyhow::Error::msg)?;
        let push_settings = crate::push::Settings {
            rules: crate::service::push::PushRules {
                allow_local: config.push_allow_local_endpoints,
                max_per_user: config.push_max_registrations_per_user,
                max_expiry_secs: (config.push_max_expiry_days.min(3650) * 86_400) as i64,
            },
            subject: config.push_subject.clone(),
            coalesce: Duration::from_millis(config.push_coalesce_ms),
            ttl: config.push_ttl_secs,
        };
        let push = std::sync::Arc::new(crate::push::Push::open(&store, secret.as_bytes(), push_settings).await?);
        let accounts = Accounts::new(store.clone(), secret.into_bytes(), settings);
        let limits =
            CardLimits { max_resource_size: config.max_resource_size, max_properties: config.max_properties_per_card };
        let defaults = Settings {
            public_url: config.public_url.as_deref().map(check_public_url).transpose().map_err(anyhow::Error::msg)?,
            invite_any_domain: config.invite_any_domain,
            smtp: config.smtp.clone(),
        };
        let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
        let service = Service {
            store: store.clone(),
            limits,
            defaults,
            local_url: format!("{scheme}://{}", config.listen),
            mail_retry_secs: config.mail_retry_secs.max(1),
            mail_resend_secs: config.mail_resend_secs,
            mail_wake: Default::default(),
            directory_everyone: config.directory_everyone,
            views: crate::service::LabelViews::observing(&store),
        };
        let g = &config.google;
        let key = g
            .service_account_key
            .as_ref()
            .map(|path| crate::bridge::auth::ServiceAccount::from_file(path))
            .transpose()
            .map_err(|e| anyhow::anyhow!("google.service_account_key: {e}"))?;
        // Seals people's refresh tokens and an uploaded delegation key. On PostgreSQL every server needs the same
        // one, so it is configured; on SQLite a key file in the data directory does.
        let seal = match (&g.token_key, &config.database_url) {
            (Some(k), _) => Some(crate::bridge::sealed::SealKey::from_base64(k)),
            (None, None) => Some(crate::bridge::sealed::SealKey::from_file(&config.data_dir.join("google-token.key"))),
            (None, Some(_)) => None,
        }
        .transpose()
        .map_err(|e| anyhow::anyhow!("google.token_key: {e}"))?;
        let oauth = match (&g.oauth_client_id, &g.oauth_client_secret) {
            (Some(id), Some(secret)) => {
                if seal.is_none() {
                    anyhow::bail!("google.token_key: set it (the same on every server) to use OAuth on PostgreSQL");
                }
                Some(crate::bridge::auth::OAuthClient {
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                    auth_url: g.oauth_auth_url.clone(),
                    token_url: g.oauth_token_url.clone(),
                    revoke_url: g.oauth_revoke_url.clone(),
                })
            }
            _ => None,
        };
        // Always there: an administrator may upload a delegation key while the server runs.
        let settings = crate::bridge::Settings {
            people_api_url: g.people_api_url.clone(),
            poll: Duration::from_secs(g.poll_secs.max(1)),
            max_deletes_per_sync: g.max_deletes_per_sync,
            retry: crate::bridge::people::Retry {
                base: Duration::from_millis(g.retry_base_ms),
                cap: Duration::from_secs(g.retry_max_secs),
                attempts: g.retry_attempts.max(1),
            },
            lease_secs: g.lease_secs.clamp(3, 86_400) as i64,
        };
        let bridge = crate::bridge::Bridge::new(key, oauth, seal, settings);
        bridge.load_uploaded(&store).await;
        let bridge = std::sync::Arc::new(bridge);
        Ok(App {
            config,
            store,
            service: std::sync::Arc::new(service),
            accounts,
            bridge,
            stopping: tokio::sync::watch::channel(false).0,
            streams: Default::default(),
            push,
        })
    }

    /// On a server with no user yet, creates the administrator and returns its password when it was generated
    /// (so it can be printed once).
    pub async fn bootstrap_admin(
        &self,
        email: &str,
        password: Option<String>,
    ) -> anyhow::Result<Option<(User, Option<String>)>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => (accounts::generate_password().map_err(anyhow::Error::msg)?, true),
        };
        match self.accounts.create_user(email, &password, true).await {
            Ok(user) => Ok(Some((user, generated.then_some(password)))),
            // Several servers started at once on one empty PostgreSQL: another one made the first account
            // between the count and the insert, and that is the administrator.
            Err(_) if self.store.count_users().await? > 0 => Ok(None),
            Err(e) => Err(anyhow::Error::msg(e)),
        }
    }

    /// Free space where the embedded database lives (RFC 4331 quota-available-bytes when no quota is set);
    /// `None` on PostgreSQL, whose disk this process cannot see.
    pub fn free_bytes(&self) -> Option<u64> {
        if self.config.database_url.is_some() {
            return None;
        }
        let path = std::ffi::CString::new(self.config.data_dir.as_os_str().as_encoded_bytes()).ok()?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid NUL-terminated string and `st` a properly sized out-parameter.
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
        (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    }

    pub async fn user(&self, email: &str) -> anyhow::Result<User> {
        let email = email.trim().to_lowercase();
        self.store.user_by_email(&email).await?.ok_or_else(|| anyhow::anyhow!("no user {email}"))
    }
}
