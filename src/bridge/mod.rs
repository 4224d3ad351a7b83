//! The Google Contacts bridge: each mirrored user's labels (those that sync to their devices) become contact
//! groups in their Google Contacts, holding the label's contacts as that user sees them; edits and deletions
//! made in Google come back as that user's writes through `service/`, so their level and hidden fields rule.
//!
//! The bridge is a sync client of the user's combined book (`all/`): the same reads and writes as CardDAV,
//! driven by the change sequence, never on a request's path. One server works a user at a time (a lease row).

pub mod auth;
pub mod http;
pub mod key;
pub mod oauth;
pub mod people;
pub mod person;
pub mod sealed;
mod sync;

use crate::service::Service;
use crate::store::events::Event;
use crate::store::google::GoogleAccount;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use sync::Report;

/// How long a stopping server lets the syncs under way end.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often a server looks for an uploaded delegation key changed elsewhere.
const KEY_RELOAD: Duration = Duration::from_secs(60);

/// Users synced at once by one server (each user's mutations stay serial, as Google asks). A sync mostly waits
/// on Google (and under a binding per-user quota, sleeps out its backoff), so the places are many; each holds a
/// database connection only for one short query at a time.
const PARALLEL_USERS: usize = 16;

const UNREADABLE_GRANT: &str =
    "the Google grant stored for this account cannot be opened with this server's token key: reconnect";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleError {
    /// Worth trying again later: 429, 5xx, the network; with the wait Google asked for.
    Transient(String, Option<Duration>),
    /// An access token was refused (renewed once before this becomes `PermissionLost`).
    Unauthenticated(String),
    /// The user's delegation or grant is gone: they (or an administrator) must reconnect.
    PermissionLost(String),
    /// The etag sent is no longer Google's (400 FAILED_PRECONDITION).
    Stale(String),
    ExpiredSyncToken,
    NotFound(String),
    /// 409: a group of that name exists.
    Conflict(String),
    /// Any other refusal: a bug on one side, not retried.
    Refused(String),
}

impl std::fmt::Display for GoogleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoogleError::Transient(m, _) => write!(f, "Google is unavailable for now: {m}"),
            GoogleError::Unauthenticated(m) | GoogleError::PermissionLost(m) => write!(f, "permission lost: {m}"),
            GoogleError::Stale(m) => write!(f, "changed in Google meanwhile: {m}"),
            GoogleError::ExpiredSyncToken => write!(f, "Google's sync token expired"),
            GoogleError::NotFound(m) => write!(f, "not found in Google: {m}"),
            GoogleError::Conflict(m) => write!(f, "name taken in Google: {m}"),
            GoogleError::Refused(m) => write!(f, "Google refused: {m}"),
        }
    }
}

pub type Result<T> = std::result::Result<T, GoogleError>;

/// The bridge's settings (config `[google]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub people_api_url: String,
    pub poll: Duration,
    pub max_deletes_per_sync: usize,
    pub retry: people::Retry,
    /// How long a server holds a user it works (renewed as it goes); a server that dies lets another take the
    /// user after this.
    pub lease_secs: i64,
}

pub struct Bridge {
    pub people: people::People,
    pub settings: Settings,
    /// Seals people's refresh tokens and an uploaded delegation key: the configured `google.token_key`, or on
    /// SQLite a key file in the data directory.
    pub seal: Option<sealed::SealKey>,
    /// The configuration names the delegation key's file (`key::Source::Config`).
    key_from_config: bool,
    /// The sealed uploaded key in use, as the settings hold it.
    loaded_key: Mutex<Option<String>>,
    /// This process, as a lease holder.
    pub owner: String,
    /// Users whose books changed since their last sync (from the change bus), or everyone after a lag.
    dirty: Mutex<Dirty>,
    wake: tokio::sync::Notify,
    /// Users this process is syncing: the lease keeps other servers off, this keeps a second task here off.
    busy: Mutex<HashSet<i64>>,
}

/// Marks a user busy in this process for as long as it lives.
struct Busy<'a>(&'a Mutex<HashSet<i64>>, i64);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

#[derive(Default)]
struct Dirty {
    all: bool,
    users: HashSet<i64>,
    /// The labels each mirrored user saw at their last sync, to tell whom a card change concerns.
    labels: HashMap<i64, HashSet<String>>,
    /// Users whose last sync Google cut short (unavailable, over quota), and when to try them again: soon, not
    /// at the next poll, so what was left to send does not wait a poll's length.
    retry: HashMap<i64, std::time::Instant>,
}

impl Bridge {
    pub fn new(
        account: Option<auth::ServiceAccount>,
        client: Option<auth::OAuthClient>,
        seal: Option<sealed::SealKey>,
        settings: Settings,
    ) -> Bridge {
        let key_from_config = account.is_some();
        let people = people::People {
            http: http::Http::default(),
            tokens: Arc::new(auth::Tokens::new(account, client)),
            base: settings.people_api_url.clone(),
            retry: settings.retry,
        };
        Bridge {
            people,
            settings,
            seal,
            key_from_config,
            loaded_key: Mutex::default(),
            owner: uuid::Uuid::new_v4().to_string(),
            dirty: Mutex::new(Dirty { all: true, ..Default::default() }),
            wake: tokio::sync::Notify::new(),
            busy: Mutex::default(),
        }
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, Dirty> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes whom a committed change concerns, and wakes the worker.
    pub fn observe(&self, event: &Event) {
        {
            let mut d = self.dirty();
            match event {
                Event::Cards { owners, labels, .. } => {
                    let hit: Vec<i64> = d
                        .labels
                        .iter()
                        .filter(|(user, seen)| owners.contains(user) || labels.iter().any(|l| seen.contains(l)))
                        .map(|(u, _)| *u)
                        .collect();
                    // Nobody mirrored sees this change: nothing to wake for (a write would otherwise cost a
                    // read of every mirrored account).
                    if hit.is_empty() {
                        return;
                    }
                    d.users.extend(hit);
                }
                Event::Label { .. } | Event::Sharing { .. } | Event::Directory | Event::Resync => d.all = true,
                // Turned on or off, or a sync asked for: nobody's books changed, but the worker looks now.
                Event::Google { .. } => {}
                Event::Book { .. } | Event::Account { .. } => return,
            }
        }
        self.wake.notify_one();
    }

    /// Syncs one user both ways if no other worker holds them; `None` when another does.
    pub async fn sync_user(&self, service: &Service, account: &GoogleAccount) -> crate::store::Result<Option<Report>> {
        let store = &service.store;
        if !self.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(account.user_id) {
            return Ok(None);
        }
        let _busy = Busy(&self.busy, account.user_id);
        if !store.google_claim(account.user_id, &self.owner, self.settings.lease_secs).await? {
            return Ok(None);
        }
        // Read again under the lease: what the caller read may predate another sync's end.
        let Some(account) = store.google_account(account.user_id).await? else { return Ok(None) };
        let account = &account;
        let started = store.clock.now_ms();
        if let Err(why) = self.use_grant(account) {
            store.google_synced(account.user_id, started, "permission_lost", Some(why)).await?;
            store.google_release(account.user_id, &self.owner).await?;
            return Ok(Some(Report::default()));
        }
        if account.status == "removing" {
            return self.remove(service, account, started).await.map(Some);
        }
        self.dirty().users.remove(&account.user_id);
        let outcome = sync::run(self, service, account).await;
        match &outcome {
            Err(GoogleError::Transient(_, after)) => {
                let wait = after.unwrap_or(self.settings.retry.cap).max(self.settings.retry.base);
                self.dirty().retry.insert(account.user_id, std::time::Instant::now() + wait);
            }
            _ => {
                self.dirty().retry.remove(&account.user_id);
            }
        }
        let (status, error) = match &outcome {
            Ok(r) if r.paused.is_some() => ("paused", r.paused.clone()),
            Ok(_) => ("ok", None),
            Err(GoogleError::PermissionLost(m)) => ("permission_lost", Some(m.clone())),
            Err(e) => ("error", Some(e.to_string())),
        };
        if let Ok(r) = &outcome {
            self.dirty().labels.insert(account.user_id, r.labels.iter().cloned().collect());
            if r.changed() {
                tracing::info!(user = %account.email, pushed = r.pushed(), pulled = r.pulled(), "google: synced");
            }
        } else if let Err(e) = &outcome {
            tracing::warn!(user = %account.email, error = %e, "google: sync failed");
        }
        store.google_synced(account.user_id, started, status, error.as_deref()).await?;
        store.google_release(account.user_id, &self.owner).await?;
        Ok(Some(outcome.unwrap_or_default()))
    }

    /// Makes the user's own grant (when they connected one) the way their tokens are fetched. One this server
    /// cannot open (another token key) is a lost permission, never a silent fall back to the delegation.
    fn use_grant(&self, account: &GoogleAccount) -> std::result::Result<(), &'static str> {
        let grant = match (&account.oauth_token, &self.seal) {
            (None, _) => None,
            (Some(sealed), Some(key)) => Some(key.open(account.user_id, sealed).ok_or(UNREADABLE_GRANT)?),
            (Some(_), None) => return Err(UNREADABLE_GRANT),
        };
        self.people.tokens.set_grant(&account.email, grant);
        Ok(())
    }

    /// Takes out of the user's Google what the bridge made, then forgets them. A user whose Google cannot be
    /// reached any more (permission lost) is forgotten all the same: nothing else could remove it.
    async fn remove(&self, service: &Service, account: &GoogleAccount, started: i64) -> crate::store::Result<Report> {
        let store = &service.store;
        let torn = match sync::teardown(self, service, account).await {
            Ok(()) => self.give_back(account).await,
            other => other,
        };
        match torn {
            Ok(()) | Err(GoogleError::PermissionLost(_)) => {
                tracing::info!(user = %account.email, "google: mirror removed");
                store.google_forget(account.user_id).await?;
            }
            Err(e) => {
                // Tried again after a backoff, as a failed sync is: waiting for the next poll (an hour) would leave
                // the mirror in the person's Google long after they turned it off.
                let wait = match &e {
                    GoogleError::Transient(_, Some(after)) => *after,
                    _ => self.settings.retry.cap,
                };
                let wait = wait.max(self.settings.retry.base);
                self.dirty().retry.insert(account.user_id, std::time::Instant::now() + wait);
                tracing::warn!(user = %account.email, error = %e, "google: could not remove the mirror yet");
                store.google_synced(account.user_id, started, "removing", Some(&e.to_string())).await?;
                store.google_release(account.user_id, &self.owner).await?;
            }
        }
        Ok(Report::default())
    }

    /// Revokes the user's own grant (RFC 7009) once what it served is taken out: the server keeps no access to
    /// an account that is no longer mirrored. Mirrors through the Workspace delegation have nothing to give back.
    async fn give_back(&self, account: &GoogleAccount) -> Result<()> {
        let (Some(client), Some(grant)) = (&self.people.tokens.oauth, self.people.tokens.grant(&account.email)) else {
            return Ok(());
        };
        client.revoke(&self.people.http, &grant).await?;
        self.people.tokens.set_grant(&account.email, None);
        tracing::info!(user = %account.email, "google: the user's grant is revoked");
        Ok(())
    }

    /// Whether a user picked for a change or a request still has one waiting.
    async fn still_due(&self, store: &crate::store::Store, user_id: i64) -> bool {
        {
            let d = self.dirty();
            if d.all || d.users.contains(&user_id) || d.retry.contains_key(&user_id) {
                return true;
            }
        }
        match store.google_account(user_id).await {
            Ok(Some(a)) => a.wanted_at > a.done_at || a.status == "removing",
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Whether `a` should be synced now: asked for, changed, or its poll is due. A user whose permission is
    /// lost or whose bridge paused waits for someone to act (reconnect, resume, or "Sync now").
    fn due(&self, a: &GoogleAccount, last: Option<&tokio::time::Instant>) -> bool {
        if a.wanted_at > a.done_at {
            return true;
        }
        if a.status == "removing" {
            // A removal that failed is due again once its backoff has passed.
            return self.dirty().retry.get(&a.user_id).is_none_or(|at| *at <= std::time::Instant::now());
        }
        if a.status == "permission_lost" || a.status == "paused" {
            return false;
        }
        let d = self.dirty();
        let retry_now = d.retry.get(&a.user_id).is_some_and(|at| *at <= std::time::Instant::now());
        d.all || d.users.contains(&a.user_id) || retry_now || last.is_none_or(|t| t.elapsed() >= self.settings.poll)
    }

    /// The worker: syncs users as they fall due (several at once, each serially), waking for a change, a
    /// request, a sync ending or the next poll; ends when the server stops.
    pub async fn run(
        self: Arc<Self>,
        service: Arc<crate::service::Service>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut events = service.store.subscribe();
        let mut last: HashMap<i64, tokio::time::Instant> = HashMap::new();
        let mut key_read = tokio::time::Instant::now();
        let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut working: HashMap<tokio::task::Id, i64> = HashMap::new();
        loop {
            // A key uploaded (or removed) on another server of the same database is used here within a minute.
            if key_read.elapsed() >= KEY_RELOAD {
                self.load_uploaded(&service.store).await;
                key_read = tokio::time::Instant::now();
            }
            // Users are started as they fall due, up to PARALLEL_USERS at once: one slow user (a large first
            // mirror, Google's backoff) holds one place, never the others' changes.
            if running.len() < PARALLEL_USERS {
                match service.store.google_accounts().await {
                    Ok(accounts) => {
                        {
                            let mut d = self.dirty();
                            if d.all {
                                d.all = false;
                                d.users.extend(accounts.iter().map(|a| a.user_id));
                            }
                        }
                        for a in accounts {
                            if running.len() >= PARALLEL_USERS {
                                break;
                            }
                            if working.values().any(|u| *u == a.user_id) || !self.due(&a, last.get(&a.user_id)) {
                                continue;
                            }
                            let polled = last.get(&a.user_id).is_none_or(|t| t.elapsed() >= self.settings.poll);
                            last.insert(a.user_id, tokio::time::Instant::now());
                            let (bridge, service, user_id) = (self.clone(), service.clone(), a.user_id);
                            let task = running.spawn(async move {
                                // Picked for a change that a sync begun meanwhile elsewhere (the command line,
                                // "Sync now" on another server) has taken: once is enough.
                                if !polled && !bridge.still_due(&service.store, user_id).await {
                                    return;
                                }
                                if let Err(e) = bridge.sync_user(&service, &a).await {
                                    tracing::warn!(user = %a.email, error = %e, "google: cannot record the sync");
                                }
                            });
                            working.insert(task.id(), user_id);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "google: cannot read the mirrored users"),
                }
            }
            // Requests from the CLI or another server arrive through the database: look at least every second
            // while a poll is short, every 5 s otherwise.
            let tick = self.settings.poll.min(Duration::from_secs(5)).max(Duration::from_millis(200));
            // A retry falling due sooner wakes the worker for it.
            let now = std::time::Instant::now();
            let retry = self.dirty().retry.values().filter(|at| **at > now).min().map(|at| *at - now);
            let tick = retry.map_or(tick, |r| tick.min(r.max(Duration::from_millis(20))));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(tick) => break,
                    _ = self.wake.notified() => break,
                    Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                        let id = match done { Ok((id, ())) => id, Err(e) => e.id() };
                        working.remove(&id);
                        break;
                    }
                    e = events.recv() => match e {
                        Ok(e) => { self.observe(&e); }
                        Err(_) => { self.observe(&Event::Resync); }
                    },
                    _ = stopping.changed() => break,
                }
            }
            if *stopping.borrow() {
                // A sync cut short is safe (the next one adopts what it made), but one given a moment to end
                // leaves no lease behind for the next start to wait out.
                let _ = tokio::time::timeout(STOP_GRACE, async { while running.join_next().await.is_some() {} }).await;
                return;
            }
            // Let a burst of writes settle into one sync.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while let Ok(e) = events.try_recv() {
                self.observe(&e);
            }
        }
    }
}

/// Turns the bridge off for a user: removes from their Google what the bridge made (when it can reach Google),
/// then forgets them.
pub async fn disable(b: &Bridge, service: &Service, user_id: i64) -> anyhow::Result<()> {
    let store = &service.store;
    let Some(account) = store.google_account(user_id).await? else { return Ok(()) };
    // Without a way to reach Google (no key any more), there is nothing to take out: forgotten here only.
    if b.available() {
        if !store.google_claim(user_id, &b.owner, b.settings.lease_secs).await? {
            anyhow::bail!("another server is syncing {} right now; try again in a moment", account.email);
        }
        let torn = match b.use_grant(&account) {
            Ok(()) => match sync::teardown(b, service, &account).await {
                Ok(()) => b.give_back(&account).await,
                e => e,
            },
            Err(why) => Err(GoogleError::PermissionLost(why.into())),
        };
        if let Err(e) = torn {
            store.google_release(user_id, &b.owner).await?;
            anyhow::bail!("could not remove the mirror from {}'s Google Contacts: {e}", account.email);
        }
    }
    store.google_forget(user_id).await?;
    Ok(())
}
