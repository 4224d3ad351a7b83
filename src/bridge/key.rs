//! The Workspace delegation's service-account key when an administrator uploads it in the dashboard rather than
//! naming a file in the configuration: kept in the database's settings sealed with the server's token key (the
//! one that seals people's refresh tokens), so every server of a PostgreSQL deployment uses it. A key named in
//! the configuration wins and cannot be replaced from the dashboard.

use super::Bridge;
use super::auth::ServiceAccount;
use crate::store::Store;

use crate::service::google::GOOGLE_KEY_SETTING as SETTING;
/// A key is sealed for no user: user ids start at 1.
const SEALED_FOR: i64 = 0;

/// Where the delegation's key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Config,
    Uploaded,
    None,
}

impl Source {
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Source::Config => Some("config"),
            Source::Uploaded => Some("uploaded"),
            Source::None => None,
        }
    }
}

/// Why an uploaded key is not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The configuration names the key file.
    Configured,
    /// No token key to seal it with (PostgreSQL without `google.token_key`).
    NoSealKey,
    /// Not a service-account key ring accepts.
    Invalid(String),
}

impl Bridge {
    /// Whether anyone can be mirrored: a delegation key, or people's own accounts through OAuth.
    pub fn available(&self) -> bool {
        self.people.tokens.account().is_some() || self.people.tokens.oauth.is_some()
    }

    pub fn key_source(&self) -> Source {
        match (self.key_from_config, self.people.tokens.account().is_some()) {
            (true, _) => Source::Config,
            (false, true) => Source::Uploaded,
            (false, false) => Source::None,
        }
    }

    /// Checks and seals a key file for storing; answers it parsed, with its sealed form.
    pub fn seal_key(&self, json: &[u8]) -> Result<(ServiceAccount, String), KeyRefusal> {
        if self.key_from_config {
            return Err(KeyRefusal::Configured);
        }
        let seal = self.seal.as_ref().ok_or(KeyRefusal::NoSealKey)?;
        let account = ServiceAccount::from_json(json).map_err(KeyRefusal::Invalid)?;
        let text = std::str::from_utf8(json).map_err(|_| KeyRefusal::Invalid("the key is not UTF-8".into()))?;
        let sealed = seal.seal(SEALED_FOR, text).map_err(KeyRefusal::Invalid)?;
        Ok((account, sealed))
    }

    /// Uses a key just stored (or, with `None`, none) at once on this server; the others load it within a minute.
    pub fn use_uploaded(&self, key: Option<(ServiceAccount, String)>) {
        let mut loaded = self.loaded_key.lock().unwrap_or_else(|e| e.into_inner());
        let (account, sealed) = key.map(|(a, s)| (Some(a), Some(s))).unwrap_or((None, None));
        *loaded = sealed;
        self.people.tokens.set_account(account);
    }

    /// Loads the uploaded key the database holds, when it is not the one in use (an administrator changed it on
    /// another server). A key that cannot be opened (the token key changed) is logged and left unused.
    pub async fn load_uploaded(&self, store: &Store) {
        if self.key_from_config {
            return;
        }
        let stored = match store.settings().await {
            Ok(all) => all.into_iter().find(|(name, _)| name == SETTING).map(|(_, v)| v),
            Err(e) => {
                tracing::warn!(error = %e, "google: cannot read the uploaded key");
                return;
            }
        };
        if *self.loaded_key.lock().unwrap_or_else(|e| e.into_inner()) == stored {
            return;
        }
        let account = stored.as_deref().and_then(|sealed| {
            // The setting is stored as a JSON string.
            let sealed: String = serde_json::from_str(sealed).unwrap_or_else(|_| sealed.to_string());
            let opened = self.seal.as_ref().and_then(|k| k.open(SEALED_FOR, &sealed));
            let parsed = opened.map(|json| ServiceAccount::from_json(json.as_bytes()));
            match parsed {
                Some(Ok(a)) => Some(a),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "google: the uploaded key is refused");
                    None
                }
                None => {
                    tracing::warn!("google: the uploaded key cannot be opened with this server's token key");
                    None
                }
            }
        });
        if let Some(a) = &account {
            tracing::info!(service_account = %a.client_email, "google: using the uploaded service-account key");
        }
        *self.loaded_key.lock().unwrap_or_else(|e| e.into_inner()) = stored;
        self.people.tokens.set_account(account);
    }
}
