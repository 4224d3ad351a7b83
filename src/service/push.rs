//! WebDAV-Push registrations as use cases: a user registers a device on a collection of their own home (the home
//! itself, My contacts, a label that syncs to their devices, the combined book), sees and ends their own
//! registrations, and nobody else's. What a registration may be told is decided here too (`push_reach`).

use super::accounts::Principal;
use super::combined::COMBINED;
use super::{MY_CONTACTS, Result, Service, ServiceError};
use crate::store::User;
use crate::store::push::{PushRegistration, RegisterError};
use std::collections::HashSet;

/// The draft's floor for how long a registration must be allowed to live.
pub const MIN_EXPIRY_SECS: i64 = 3 * 86_400;

/// A registration as a client asked for it, its push resource and keys already checked (push/endpoint.rs,
/// push/crypto.rs: the protocol layer does, and the sender checks the address again before each message).
pub struct NewRegistration {
    pub push_resource: String,
    /// The subscription's public key and auth secret, base64url.
    pub p256dh: String,
    pub auth: String,
    pub content_update: bool,
    pub property_update: bool,
    /// The expiry the client asked for (seconds since the epoch), if any.
    pub expires: Option<i64>,
}

/// The operator's limits on registrations.
#[derive(Debug, Clone, Copy)]
pub struct PushRules {
    /// Push resources on local and private addresses, and plain http, are allowed (tests, private networks).
    pub allow_local: bool,
    pub max_per_user: usize,
    pub max_expiry_secs: i64,
}

/// One device's push registrations, summed up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Live registrations (one per book and one for the home, as a device registers).
    pub registrations: usize,
    /// The last message a push service took for any of them.
    pub last_push_at: Option<i64>,
    /// The newest failure not followed by a delivery on the same registration, and when.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

/// Why a registration was refused, in the draft's terms (each a 403 precondition).
#[derive(Debug)]
pub enum PushRefusal {
    /// `invalid-subscription`: the push resource or its keys cannot be used.
    InvalidSubscription(String),
    /// `push-not-available`: not on this collection, or not for this user now (too many registrations).
    NotAvailable(String),
    Service(ServiceError),
}

impl From<ServiceError> for PushRefusal {
    fn from(e: ServiceError) -> Self {
        PushRefusal::Service(e)
    }
}

/// A registration's id: 128 random bits, base64url (it is the registration URL's last segment).
fn new_registration_id() -> String {
    let mut b = [0u8; 16];
    // Without randomness a v4 UUID's bytes are the fallback (uuid draws from the same source, but never fails).
    if getrandom::fill(&mut b).is_err() {
        b = *uuid::Uuid::new_v4().as_bytes();
    }
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
}

impl Service {
    /// Registers (or renews) a device's push resource on `collection` of `who`'s home (`""`: the home). The
    /// collection must be one `who` syncs now.
    pub async fn register_push(
        &self,
        who: &Principal,
        collection: &str,
        new: NewRegistration,
        rules: &PushRules,
    ) -> std::result::Result<(PushRegistration, bool), PushRefusal> {
        self.push_collection_exists(&who.user, collection).await?;
        let now = self.now();
        let longest = rules.max_expiry_secs.max(MIN_EXPIRY_SECS);
        // What the client asked for, between the draft's three days and the server's longest; none (or one
        // already past) is the longest.
        let expires_at = match new.expires {
            Some(t) if t > now => t.clamp(now + MIN_EXPIRY_SECS, now + longest),
            _ => now + longest,
        };
        let reg = PushRegistration {
            id: new_registration_id(),
            user_id: who.user.id,
            app_password_id: who.app_password.as_ref().map(|a| a.id),
            collection: collection.to_string(),
            push_resource: new.push_resource,
            p256dh: new.p256dh,
            auth: new.auth,
            content_update: new.content_update,
            property_update: new.property_update,
            expires_at,
            created_at: now,
            last_push_at: None,
            last_error: None,
            last_error_at: None,
        };
        match self.store.register_push(&reg, rules.max_per_user).await {
            Ok(r) => Ok(r),
            Err(RegisterError::TooMany(n)) => {
                Err(PushRefusal::NotAvailable(format!("an account may hold at most {n} push registrations")))
            }
            Err(RegisterError::Store(e)) => Err(PushRefusal::Service(e.into())),
        }
    }

    async fn push_collection_exists(&self, user: &User, collection: &str) -> Result<()> {
        match collection {
            "" | MY_CONTACTS | COMBINED => Ok(()),
            segment => self.open_book(user, segment).await.map(|_| ()),
        }
    }

    /// Ends `user`'s registration `id`; `NotFound` for an unknown id or another user's (which look the same).
    pub async fn unregister_push(&self, user: &User, id: &str) -> Result<()> {
        if self.store.unregister_push(id, user.id).await? { Ok(()) } else { Err(ServiceError::NotFound) }
    }

    /// `user`'s registrations, live and recently expired, for their devices page.
    pub async fn push_registrations(&self, user: &User) -> Result<Vec<PushRegistration>> {
        Ok(self.store.push_registrations_of(user.id).await?)
    }

    /// What `user`'s devices registered for push, per app password (`None`: made with the account password):
    /// for the devices page.
    pub async fn push_summary(&self, user: &User) -> Result<std::collections::HashMap<Option<i64>, PushSummary>> {
        let now = self.now();
        let mut out: std::collections::HashMap<Option<i64>, PushSummary> = std::collections::HashMap::new();
        for r in self.store.push_registrations_of(user.id).await? {
            if r.expires_at <= now {
                continue;
            }
            let s = out.entry(r.app_password_id).or_default();
            s.registrations += 1;
            s.last_push_at = s.last_push_at.max(r.last_push_at);
            // A failure counts while it is newer than that registration's last delivery.
            if let (Some(why), Some(at)) = (&r.last_error, r.last_error_at)
                && r.last_push_at.is_none_or(|p| at >= p)
                && s.last_error_at.is_none_or(|t| at > t)
            {
                s.last_error = Some(why.clone());
                s.last_error_at = Some(at);
            }
        }
        Ok(out)
    }

    /// The label books `user_id` syncs now (own labels and accepted shares with the device toggle on): what
    /// their registrations may hear of. `None` for an account that is gone or disabled.
    pub async fn push_reach(&self, user_id: i64) -> Result<Option<HashSet<String>>> {
        let Some(user) = self.store.user_by_id(user_id).await? else { return Ok(None) };
        if user.disabled {
            return Ok(None);
        }
        Ok(Some(self.label_views(&user, true).await?.into_iter().map(|v| v.segment).collect()))
    }

    /// The change number of `collection` of `user_id`'s home as its sync-token carries it, and for the combined
    /// book the reach the token also names; `None` for the home, which has no token.
    pub async fn push_token(&self, user_id: i64, collection: &str) -> Result<Option<(i64, Option<String>)>> {
        let view = match collection {
            "" => return Ok(None),
            MY_CONTACTS | COMBINED => {
                let user = self.store.user_by_id(user_id).await?.ok_or(ServiceError::NotFound)?;
                if collection == COMBINED { self.open_combined(&user).await? } else { Self::my_contacts(&user) }
            }
            label => {
                let book = crate::store::Book::Label { label_id: label.to_string() };
                return Ok(Some((self.store.book_state(&book).await?.token, None)));
            }
        };
        let n = self.state(&view).await?.token;
        Ok(Some((n, view.combined.as_ref().map(|c| c.reach.clone()))))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registration_ids_are_unguessable_and_url_safe() {
        let a = super::new_registration_id();
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, super::new_registration_id());
    }
}
