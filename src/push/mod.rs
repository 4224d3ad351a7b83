//! WebDAV-Push (draft-bitfire-webdav-push): registrations, VAPID, RFC 8291-encrypted messages, driven by the
//! change bus.
//!
//! The worker hears only the changes this server commits (`Store::subscribe_own`), so with several servers on
//! one PostgreSQL database each change is pushed once, by the server that made it. Changes within
//! `push_coalesce_ms` are gathered and each registration they concern gets one message with the collection's
//! newest sync-token; a device told of a change syncs, so a message may be merged but never dropped.

pub mod crypto;
pub mod deliver;
pub mod endpoint;

use crate::service::Service;
use crate::service::push::PushRules;

use crate::store::Store;
use crate::store::events::Event;
use crate::store::push::{Concerned, PushRegistration};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// The draft's XML namespace.
pub const NS: &str = "https://bitfire.at/webdav-push";
/// Where registrations live: `/dav/push/{id}`.
pub const PATH: &str = "/dav/push/";

/// Tries of one message the push service asked to have again (429, 5xx, the network), waiting 1, 2, 4 … s.
const ATTEMPTS: u32 = 6;
const RETRY_CAP: Duration = Duration::from_secs(60);
/// Messages in flight at once.
const PARALLEL_SENDS: usize = 64;
/// How long a `Push-Dont-Notify` note waits for the change it names to be pushed.
const QUIET_FOR: Duration = Duration::from_secs(30);
/// How long one signed VAPID token is used for a push service.
const VAPID_REUSE: Duration = Duration::from_secs(3600);
/// How long a registration that expired is kept, so the devices page can say its device stopped renewing.
const EXPIRED_KEPT_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone)]
pub struct Settings {
    pub rules: PushRules,
    /// RFC 8292 §2.1 `sub`; the first administrator's address when unset.
    pub subject: Option<String>,
    pub coalesce: Duration,
    pub ttl: u64,
}

/// A write's request not to notify some of its author's registrations (`Push-Dont-Notify`).
struct Quiet {
    user_id: i64,
    /// `None`: every registration of the author (`*`).
    ids: Option<Vec<String>>,
    modseq: i64,
    at: Instant,
}

pub struct Push {
    pub settings: Settings,
    vapid: crypto::Vapid,
    topic_key: ring::hmac::Key,
    sender: deliver::Sender,
    quiet: Mutex<Vec<Quiet>>,
    subject: Mutex<Option<String>>,
    /// The newest message per registration: a retry gives up once a newer message exists.
    latest: Mutex<HashMap<String, u64>>,
    generation: AtomicU64,
    sends: Arc<tokio::sync::Semaphore>,
    /// Registrations whose service took a message since the last bookkeeping write.
    delivered: Mutex<Vec<String>>,
    /// Signed VAPID headers per push service origin, and when each was made.
    vapid_tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Users who registered through this server since the worker last looked (their reach is learnt now, so
    /// a later revocation can be told apart).
    registered: Mutex<HashSet<i64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Push {
    /// The push state of the server: its VAPID key (made on first start and kept in the database, so every
    /// server of one PostgreSQL database signs with the same key), and topics derived from `secret`.
    pub async fn open(store: &Store, secret: &[u8], settings: Settings) -> anyhow::Result<Push> {
        let fresh = crypto::Vapid::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let stored = store.meta_init("vapid_key", &fresh).await?;
        let vapid = crypto::Vapid::from_pkcs8(&stored).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Push {
            settings,
            vapid,
            topic_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            sender: deliver::Sender::default(),
            quiet: Mutex::default(),
            subject: Mutex::default(),
            latest: Mutex::default(),
            generation: AtomicU64::new(0),
            sends: Arc::new(tokio::sync::Semaphore::new(PARALLEL_SENDS)),
            delivered: Mutex::default(),
            vapid_tokens: Mutex::default(),
            registered: Mutex::default(),
        })
    }

    /// The VAPID public key as `vapid-public-key` publishes it.
    pub fn public_key(&self) -> String {
        self.vapid.public_key()
    }

    /// The push topic of `collection` (`""`: the home) of user `user_id`'s home: stable, unique on the server, and
    /// telling a push service nothing (a keyed digest; 22 base64url characters, within RFC 8030's 32 for Topic).
    pub fn topic(&self, user_id: i64, collection: &str) -> String {
        let tag = ring::hmac::sign(&self.topic_key, format!("webdav-push-topic\0{user_id}\0{collection}").as_bytes());
        crypto::encode(&tag.as_ref()[..16])
    }

    /// Notes that user `user_id` registered (the worker learns what they can see before it next changes).
    pub fn registered(&self, user_id: i64) {
        lock(&self.registered).insert(user_id);
    }

    /// Honours a write's `Push-Dont-Notify` (quoted registration URLs, or `*`): the change numbered `modseq` is
    /// not pushed to those registrations of its author. Anything else in the header is ignored, as the draft
    /// asks; another user's registrations cannot be silenced.
    pub fn quiet(&self, user_id: i64, header: &str, modseq: i64) {
        let header = header.trim();
        let ids = if header == "*" {
            None
        } else {
            let ids: Vec<String> = header
                .split(',')
                .filter_map(|part| {
                    let url = part.trim().strip_prefix('"')?.strip_suffix('"')?;
                    let id = url.rsplit_once(PATH).map(|(_, id)| id)?.trim_end_matches('/');
                    (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
                })
                .collect();
            if ids.is_empty() {
                return;
            }
            Some(ids)
        };
        let mut q = lock(&self.quiet);
        q.retain(|n| n.at.elapsed() < QUIET_FOR);
        q.push(Quiet { user_id, ids, modseq, at: Instant::now() });
    }

    fn is_quiet(&self, reg: &PushRegistration, modseq: i64) -> bool {
        lock(&self.quiet).iter().any(|n| {
            n.user_id == reg.user_id && n.modseq == modseq && n.ids.as_ref().is_none_or(|ids| ids.contains(&reg.id))
        })
    }

    /// Pushes what this server commits, until `stopping`.
    pub async fn run(self: Arc<Self>, service: Arc<Service>, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let store = service.store.clone();
        let mut rx = store.subscribe_own();
        let (done, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        let (sends, _thread) = send_thread();
        let out = Outlet { sends, done };
        let mut state = WorkerState::default();
        match store.push_users().await {
            Ok(users) => state.learn(&service, users).await,
            Err(e) => tracing::warn!(error = %e, "push: cannot read who registered"),
        }
        let mut pending = Pending::default();
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut books = tokio::time::interval(Duration::from_secs(2));
        let mut purge = tokio::time::interval(Duration::from_secs(3600));
        loop {
            let due = deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = rx.recv() => {
                    match r {
                        Ok(event) => pending.add(&event),
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "push: fell behind the change bus; every registration is told");
                            pending.everything = true;
                        }
                        Err(RecvError::Closed) => return,
                    }
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.settings.coalesce);
                }
                _ = tokio::time::sleep_until(due), if deadline.is_some() => {
                    deadline = None;
                    let work = std::mem::take(&mut pending);
                    let newly: Vec<i64> = lock(&self.registered).drain().collect();
                    state.learn(&service, newly).await;
                    if let Err(e) = self.flush(&service, &mut state, work, &out).await {
                        tracing::warn!(error = %e, "push: could not work out whom to tell of a change");
                    }
                }
                Some((reg, outcome)) = outcomes.recv() => self.record(&store, reg, outcome).await,
                _ = books.tick() => self.write_delivered(&store).await,
                _ = purge.tick() => {
                    if let Err(e) = store.purge_expired_push(EXPIRED_KEPT_SECS).await {
                        tracing::warn!(error = %e, "push: purging expired registrations failed");
                    }
                }
                _ = stopping.changed() => {
                    self.write_delivered(&store).await;
                    return;
                }
            }
        }
    }

    async fn write_delivered(&self, store: &Store) {
        let ids: Vec<String> = std::mem::take(&mut *lock(&self.delivered));
        if ids.is_empty() {
            return;
        }
        if let Err(e) = store.push_delivered(&ids).await {
            tracing::warn!(error = %e, "push: could not record delivered messages");
        }
    }

    /// Works out the messages a window of changes makes, and sends them.
    async fn flush(
        self: &Arc<Self>,
        service: &Arc<Service>,
        state: &mut WorkerState,
        p: Pending,
        out: &Outlet,
    ) -> crate::service::Result<()> {
        let store = &service.store;
        let subject = self.subject(store).await;
        // Who can see what may have changed: re-read for everyone with registrations, and see who gained or
        // lost a book (their home changed).
        let mut homes: HashSet<i64> = HashSet::new();
        if p.everything || p.directory || !p.sharing.is_empty() || !p.renamed.is_empty() {
            let mut users: HashSet<i64> = state.reach.keys().copied().collect();
            users.extend(store.push_users().await?);
            for u in users {
                let after = service.push_reach(u).await?;
                // A user first seen now (registered on another server, or just now) is learnt, not told: what
                // they could see before is unknown, and a device that registers syncs anyway.
                if let Some(before) = state.reach.insert(u, after.clone())
                    && before != after
                {
                    homes.insert(u);
                }
                let sees = |l: &String| after.as_ref().is_some_and(|r| r.contains(l));
                if p.renamed.iter().any(sees) {
                    homes.insert(u);
                }
            }
        }
        // A book renamed or described changes how the home lists it.
        homes.extend(p.label_owners.iter().chain(&p.books));
        let reach_of = |state: &WorkerState, u: i64| state.reach.get(&u).cloned().flatten();
        // Collaborators' combined books show the labels that changed.
        let mut users: HashSet<i64> = p.owners.iter().chain(&p.books).chain(&homes).copied().collect();
        for (u, r) in &state.reach {
            if r.as_ref().is_some_and(|r| p.labels.iter().any(|l| r.contains(l))) {
                users.insert(*u);
            }
        }
        let regs = if p.everything {
            store.push_registrations_live().await?
        } else {
            let collections: Vec<String> = p.labels.iter().chain(&p.renamed).chain(&p.sharing).cloned().collect();
            let users: Vec<i64> = users.into_iter().collect();
            if collections.is_empty() && users.is_empty() {
                return Ok(());
            }
            store
                .push_registrations_concerned(&Concerned {
                    collections: &collections,
                    users: &users,
                    own: &["contacts", "all", ""],
                })
                .await?
        };
        let mut tokens: HashMap<(i64, String), Token> = HashMap::new();
        for reg in regs {
            if !state.reach.contains_key(&reg.user_id) {
                state.learn(service, vec![reg.user_id]).await;
            }
            let Some(reach) = reach_of(state, reg.user_id) else { continue };
            let u = reg.user_id;
            let Some((mut content, property)) = p.tells(&reg, &reach, &homes) else { continue };
            let mut token = None;
            if content {
                // A label's token is the same for everyone; My contacts' and the combined book's are the user's.
                let key = if matches!(reg.collection.as_str(), "" | "contacts" | "all") {
                    (u, reg.collection.clone())
                } else {
                    (0, reg.collection.clone())
                };
                let t = match tokens.get(&key) {
                    Some(t) => t.clone(),
                    None => {
                        let t = match service.push_token(u, &reg.collection).await {
                            Ok(t) => t,
                            Err(crate::service::ServiceError::NotFound) => continue,
                            Err(e) => return Err(e),
                        };
                        tokens.insert(key, t.clone());
                        t
                    }
                };
                if let Some((n, _)) = &t
                    && self.is_quiet(&reg, *n)
                {
                    content = false;
                }
                token = t;
            }
            if !content && !property {
                continue;
            }
            let sync_token = token.map(|(n, reach)| crate::service::token_text(n, reach.as_deref()));
            let body = message(&self.topic(u, &reg.collection), content.then_some(sync_token.as_deref()), property);
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            lock(&self.latest).insert(reg.id.clone(), generation);
            let task = self.clone().send(reg, body, generation, subject.clone(), out.done.clone());
            out.sends.spawn(task);
        }
        Ok(())
    }

    fn superseded(&self, id: &str, generation: u64) -> bool {
        lock(&self.latest).get(id).is_some_and(|g| *g != generation)
    }

    fn finished(&self, id: &str, generation: u64) {
        let mut latest = lock(&self.latest);
        if latest.get(id) == Some(&generation) {
            latest.remove(id);
        }
    }

    /// The VAPID header for a push service's origin: one signed token per origin and hour, not per message.
    fn authorization(&self, origin: &str, subject: &str) -> Result<String, String> {
        let mut cache = lock(&self.vapid_tokens);
        if let Some((header, made)) = cache.get(origin)
            && made.elapsed() < VAPID_REUSE
        {
            return Ok(header.clone());
        }
        // RFC 8292 §2: at most 24 hours ahead (by the push service's clock, so the system's, never a test's
        // moved one); 12 hours leaves room for clocks that disagree and for the hour the token is reused.
        let exp = crate::clock::system_now() + 12 * 3600;
        let header = self.vapid.authorization(origin, exp, subject).map_err(|e| e.to_string())?;
        cache.retain(|_, (_, made)| made.elapsed() < VAPID_REUSE);
        cache.insert(origin.to_string(), (header.clone(), Instant::now()));
        Ok(header)
    }

    async fn subject(&self, store: &Store) -> String {
        if let Some(s) = &self.settings.subject {
            return s.clone();
        }
        if let Some(s) = lock(&self.subject).clone() {
            return s;
        }
        match store.first_admin_email().await {
            Ok(Some(email)) => {
                let s = format!("mailto:{email}");
                *lock(&self.subject) = Some(s.clone());
                s
            }
            _ => "mailto:postmaster@localhost".into(),
        }
    }

    /// Sends one message to one registration, retrying what the push service asks to have again, until it is
    /// taken, refused, or a newer message for the registration makes it moot; the worker records the outcome.
    async fn send(
        self: Arc<Self>,
        reg: PushRegistration,
        plaintext: String,
        generation: u64,
        subject: String,
        done: Done,
    ) {
        let outcome = self.try_send(&reg, &plaintext, generation, &subject).await;
        self.finished(&reg.id, generation);
        if let Ok(None) = outcome {
            return;
        }
        let _ = done.send((reg, outcome));
    }

    /// Records what became of a message (on the worker, where the database is).
    async fn record(&self, store: &Store, reg: PushRegistration, outcome: Outcome) {
        let result = match outcome {
            Ok(None) => return,
            Ok(Some(deliver::Outcome::Taken)) => {
                lock(&self.delivered).push(reg.id);
                return;
            }
            Ok(Some(deliver::Outcome::Gone(status))) => {
                tracing::info!(registration = %reg.id, %status, "push: the push service no longer knows this subscription; registration ended");
                store.end_push_registration(&reg.id).await
            }
            Ok(Some(deliver::Outcome::Refused(why) | deliver::Outcome::Later(why, _))) | Err(why) => {
                tracing::warn!(registration = %reg.id, error = %why, "push: message not delivered");
                store.push_failed(&reg.id, &why).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(registration = %reg.id, error = %e, "push: could not record the outcome");
        }
    }

    async fn try_send(&self, reg: &PushRegistration, plaintext: &str, generation: u64, subject: &str) -> Outcome {
        let allow_local = self.settings.rules.allow_local;
        let ep = endpoint::parse(&reg.push_resource, allow_local)?;
        let keys = crypto::SubscriptionKeys::stored(&reg.p256dh, &reg.auth).map_err(|e| e.to_string())?;
        let body = crypto::encrypt(&keys, plaintext.as_bytes()).map_err(|e| e.to_string())?;
        let topic = self.topic(reg.user_id, &reg.collection);
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            if self.superseded(&reg.id, generation) {
                return Ok(None);
            }
            let authorization = self.authorization(&ep.origin, subject)?;
            let outcome = {
                let _permit = self.sends.acquire().await.map_err(|e| e.to_string())?;
                let msg = deliver::Message {
                    body: body.clone(),
                    authorization: &authorization,
                    topic: &topic,
                    ttl: self.settings.ttl,
                };
                self.sender.send(&ep, allow_local, msg).await
            };
            match outcome {
                deliver::Outcome::Later(why, after) if attempt < ATTEMPTS => {
                    tracing::debug!(registration = %reg.id, error = %why, attempt, "push: trying again");
                    tokio::time::sleep(after.unwrap_or(wait).min(RETRY_CAP)).await;
                    wait = (wait * 2).min(RETRY_CAP);
                }
                o => return Ok(Some(o)),
            }
        }
        Ok(None)
    }
}

/// What became of a message: `Ok(None)` when a newer one made it moot, an error when it could not be made.
type Outcome = Result<Option<deliver::Outcome>, String>;
/// Where send tasks report to the worker.
type Done = tokio::sync::mpsc::UnboundedSender<(PushRegistration, Outcome)>;

/// Where the worker's messages go out: the push thread, and the way back.
struct Outlet {
    sends: tokio::runtime::Handle,
    done: Done,
}

/// Stops the push thread's runtime when the worker ends.
struct SendThread(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for SendThread {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

/// A thread of its own, at a lower priority, for encrypting and sending messages: a burst of a thousand messages
/// (a quarter of a millisecond of CPU each) then waits behind the requests instead of ahead of them in the
/// server's runtime. Without it (no thread could be made) they run on the server's runtime.
fn send_thread() -> (tokio::runtime::Handle, SendThread) {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let made = std::thread::Builder::new().name("push".into()).spawn(move || {
        // Linux keeps a nice value per thread: this one yields to the request workers.
        #[cfg(target_os = "linux")]
        // SAFETY: setpriority takes plain integers; `who = 0` is the calling thread.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS as _, 0, 10);
        }
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => {
                let _ = handle_tx.send(Some(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stopped.await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "push: no thread of its own; messages go out on the server's runtime");
                let _ = handle_tx.send(None);
            }
        }
    });
    let handle = made.ok().and_then(|_| handle_rx.recv().ok().flatten());
    (handle.unwrap_or_else(tokio::runtime::Handle::current), SendThread(Some(stop)))
}

/// The plaintext of a push message (the draft's `push-message`): the topic, and a content update with the new
/// sync-token (`Some(None)`: a collection without one) and/or a property update. Topics are base64url and tokens
/// `urn:labelbook:sync:` with digits and hex: neither holds a character XML would need escaped.
pub fn message(topic: &str, content: Option<Option<&str>>, property: bool) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<P:push-message xmlns:D=\"DAV:\" xmlns:P=\"{NS}\"><P:topic>{topic}</P:topic>"
    );
    match content {
        Some(Some(token)) => {
            out.push_str(&format!("<P:content-update><D:sync-token>{token}</D:sync-token></P:content-update>"))
        }
        Some(None) => out.push_str("<P:content-update/>"),
        None => {}
    }
    if property {
        out.push_str("<P:property-update/>");
    }
    out.push_str("</P:push-message>\n");
    out
}

/// A collection's change number and, for the combined book, the reach its token names (`None`: the home).
type Token = Option<(i64, Option<String>)>;

/// What the worker knows between windows: what each user with registrations can see.
#[derive(Default)]
struct WorkerState {
    /// The label books each user syncs (`None`: disabled or gone).
    reach: HashMap<i64, Option<HashSet<String>>>,
}

impl WorkerState {
    async fn learn(&mut self, service: &Service, users: impl IntoIterator<Item = i64>) {
        for u in users {
            if self.reach.contains_key(&u) {
                continue;
            }
            match service.push_reach(u).await {
                Ok(r) => {
                    self.reach.insert(u, r);
                }
                Err(e) => tracing::warn!(user = u, error = %e, "push: cannot read what a user sees"),
            }
        }
    }
}

/// The changes of one window.
#[derive(Default)]
struct Pending {
    /// My contacts of these users changed.
    owners: HashSet<i64>,
    /// These labels' cards changed.
    labels: HashSet<String>,
    /// These labels were renamed, described, made or deleted.
    renamed: HashSet<String>,
    label_owners: HashSet<i64>,
    /// These users' My contacts' own properties changed.
    books: HashSet<i64>,
    /// Who these labels reach changed, or how.
    sharing: HashSet<String>,
    directory: bool,
    /// Changes were missed: every registration is told.
    everything: bool,
}

impl Pending {
    /// Whether these changes make a content update and/or a property update for `reg`, whose user syncs the
    /// labels `reach` (and whose home changed if they are in `homes`); `None` for neither, or a collection the
    /// user no longer syncs.
    fn tells(&self, reg: &PushRegistration, reach: &HashSet<String>, homes: &HashSet<i64>) -> Option<(bool, bool)> {
        let u = reg.user_id;
        let (content, property) = match reg.collection.as_str() {
            "" => (homes.contains(&u), false),
            "contacts" => (self.owners.contains(&u), self.books.contains(&u)),
            "all" => {
                (self.owners.contains(&u) || homes.contains(&u) || self.labels.iter().any(|l| reach.contains(l)), false)
            }
            label if reach.contains(label) => {
                (self.labels.contains(label), self.renamed.contains(label) || self.sharing.contains(label))
            }
            _ => return None,
        };
        let content = (content || self.everything) && reg.content_update;
        let property = property && reg.property_update;
        (content || property).then_some((content, property))
    }

    fn add(&mut self, event: &Event) {
        match event {
            Event::Cards { owners, labels, .. } => {
                self.owners.extend(owners);
                self.labels.extend(labels.iter().cloned());
            }
            Event::Label { label_id, owner_id } => {
                self.renamed.insert(label_id.clone());
                self.label_owners.insert(*owner_id);
            }
            Event::Book { owner_id } => {
                self.books.insert(*owner_id);
            }
            Event::Sharing { label_id } => {
                self.sharing.insert(label_id.clone());
            }
            Event::Directory => self.directory = true,
            Event::Resync => self.everything = true,
            Event::Account { .. } | Event::Google { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_message_names_the_topic_and_what_changed() {
        let m = message("T_1", Some(Some("urn:labelbook:sync:7")), false);
        assert!(m.contains("<P:topic>T_1</P:topic>"), "{m}");
        assert!(m.contains("<P:content-update><D:sync-token>urn:labelbook:sync:7</D:sync-token></P:content-update>"));
        assert!(!m.contains("property-update"));
        let m = message("T", None, true);
        assert!(m.contains("<P:property-update/>") && !m.contains("content-update"), "{m}");
        let m = message("T", Some(None), false);
        assert!(m.contains("<P:content-update/>"), "{m}");
        assert!(m.len() < crypto::MAX_PLAINTEXT);
    }
}
