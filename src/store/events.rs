//! The change bus: every committed write is published as an `Event`, in this process through a broadcast
//! channel, and to the other servers on one PostgreSQL database through NOTIFY. The live dashboard
//! and the bridge subscribe; events say what changed, and subscribers re-read what they need.

use super::{Pool, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The PostgreSQL channel the servers of one database talk on.
pub const CHANNEL: &str = "labelbook_events";
/// NOTIFY payloads must stay under 8,000 bytes; events larger than this are split.
const MAX_PAYLOAD: usize = 7000;
/// Events a slow subscriber may fall behind by before it is told it lagged (and must re-read).
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Cards changed (created, edited, deleted, labelled, taken off, restored) in these books: the owners'
    /// My contacts and these labels. `modseq` is the change sequence value of the last of them.
    Cards { modseq: i64, owners: Vec<i64>, labels: Vec<String> },
    /// A label was created, renamed, described or deleted.
    Label { label_id: String, owner_id: i64 },
    /// My contacts' own properties changed.
    Book { owner_id: i64 },
    /// Who a label reaches, or how (grants: invited, answered, level, device toggle, hidden fields, revoked).
    Sharing { label_id: String },
    /// Groups or domains changed: any user's reach may have changed.
    Directory,
    /// An account changed (password, disabled, app passwords, created).
    Account { user_id: i64 },
    /// A user's Google bridge changed state (turned on or off, a sync ended).
    Google { user_id: i64 },
    /// Events may have been missed (a subscriber lagged, or the connection to other servers was lost):
    /// re-read everything shown.
    Resync,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The server that published it: it has already delivered it locally.
    origin: String,
    events: Vec<Event>,
}

/// How many of the latest events a server keeps numbered, so a live page that reconnects (SSE Last-Event-ID)
/// is sent what it missed instead of re-reading everything.
const RECENT: usize = 2048;

#[derive(Clone)]
pub(crate) struct Bus {
    local: broadcast::Sender<Event>,
    /// Only the changes this server committed: work done once per change (WebDAV-Push) listens here, so with
    /// several servers each change is handled by the one that made it.
    own: broadcast::Sender<Event>,
    numbered: broadcast::Sender<(u64, Event)>,
    recent: std::sync::Arc<std::sync::Mutex<Recent>>,
    origin: String,
    /// Called with each event before any subscriber hears it: what remembers state forgets it here, so nobody
    /// told of a change (the client whose write was just answered included) can be answered from before it.
    observers: std::sync::Arc<std::sync::RwLock<Vec<Observer>>>,
}

pub(crate) type Observer = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Recent {
    /// The number of the last event delivered here.
    last: u64,
    events: std::collections::VecDeque<(u64, Event)>,
}

impl Bus {
    pub(crate) fn new() -> Bus {
        Bus {
            local: broadcast::channel(CAPACITY).0,
            own: broadcast::channel(CAPACITY).0,
            numbered: broadcast::channel(CAPACITY).0,
            recent: Default::default(),
            origin: uuid::Uuid::new_v4().to_string(),
            observers: Default::default(),
        }
    }

    pub(crate) fn observe(&self, observer: Observer) {
        self.observers.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(observer);
    }

    /// NOTIFY payloads for `events`, each small enough for PostgreSQL.
    pub(crate) fn payloads(&self, events: &[Event]) -> Vec<String> {
        let mut parts: Vec<Event> = Vec::new();
        for e in events {
            match e {
                // A batch that touched very many books is split book by book.
                Event::Cards { modseq, owners, labels } if owners.len() + labels.len() > 100 => {
                    parts.extend(owners.iter().map(|o| Event::Cards {
                        modseq: *modseq,
                        owners: vec![*o],
                        labels: Vec::new(),
                    }));
                    parts.extend(labels.iter().map(|l| Event::Cards {
                        modseq: *modseq,
                        owners: Vec::new(),
                        labels: vec![l.clone()],
                    }));
                }
                e => parts.push(e.clone()),
            }
        }
        // Events are packed greedily, each measured once (an event of at most 100 books fits on its own).
        let overhead = self.encode(&[]).len();
        let mut out = Vec::new();
        let mut batch: Vec<Event> = Vec::new();
        let mut size = overhead;
        for e in parts {
            let len = serde_json::to_string(&e).map_or(0, |j| j.len()) + 1;
            if !batch.is_empty() && size + len > MAX_PAYLOAD {
                out.push(self.encode(&batch));
                batch.clear();
                size = overhead;
            }
            size += len;
            batch.push(e);
        }
        if !batch.is_empty() {
            out.push(self.encode(&batch));
        }
        out
    }

    fn encode(&self, events: &[Event]) -> String {
        let envelope = Envelope { origin: self.origin.clone(), events: events.to_vec() };
        serde_json::to_string(&envelope).unwrap_or_default()
    }
}

/// Sends `events` to the other servers inside the transaction `$tx` (PostgreSQL delivers a NOTIFY at commit,
/// and never if the transaction rolls back); nothing on SQLite, whose one server is the only one.
macro_rules! notify_in {
    ($store:expr, $tx:ident, $events:expr) => {
        if matches!($store.pool, $crate::store::Pool::Postgres(_)) {
            for payload in $store.bus.payloads($events) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind($crate::store::events::CHANNEL)
                    .bind(payload)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    };
}
pub(crate) use notify_in;

/// Commits `$tx` and publishes `$events` (a `Vec<Event>`): to the other servers with the commit, then here.
macro_rules! commit_publishing {
    ($store:expr, $tx:ident, $events:expr) => {{
        let events: Vec<$crate::store::events::Event> = $events;
        $crate::store::events::notify_in!($store, $tx, &events);
        $tx.commit().await?;
        $store.bus.deliver(events);
    }};
}
pub(crate) use commit_publishing;

impl Bus {
    /// Delivers what this server committed to its subscribers (after the commit).
    pub(crate) fn deliver(&self, events: Vec<Event>) {
        self.tell_observers(&events);
        for e in &events {
            let _ = self.own.send(e.clone());
        }
        self.send(events);
    }

    /// Delivers to this server's subscribers what another server committed (or a `Resync`).
    fn relay(&self, events: Vec<Event>) {
        self.tell_observers(&events);
        self.send(events);
    }

    fn tell_observers(&self, events: &[Event]) {
        let observers = self.observers.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        for e in events {
            for o in observers.iter() {
                o(e);
            }
        }
    }

    fn send(&self, events: Vec<Event>) {
        // Numbering and sending under one lock: the numbered channel and the ring agree on the order.
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for e in events {
            recent.last += 1;
            let n = recent.last;
            if recent.events.len() == RECENT {
                recent.events.pop_front();
            }
            recent.events.push_back((n, e.clone()));
            // No subscriber is not an error.
            let _ = self.numbered.send((n, e.clone()));
            let _ = self.local.send(e);
        }
    }
}

impl Store {
    /// Every change committed from now on, by this server or (on PostgreSQL) any other.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bus.local.subscribe()
    }

    /// Calls `observer` with every change (this server's and, on PostgreSQL, the others'), before anyone is told
    /// of it: for what keeps state in memory and must forget it at once.
    pub fn observe(&self, observer: impl Fn(&Event) + Send + Sync + 'static) {
        self.bus.observe(std::sync::Arc::new(observer));
    }

    /// Tells this server's subscribers (and observers) that changes may have been missed.
    pub fn resync(&self) {
        self.bus.relay(vec![Event::Resync]);
    }

    /// Every change this server commits from now on.
    pub fn subscribe_own(&self) -> broadcast::Receiver<Event> {
        self.bus.own.subscribe()
    }

    /// Every change from now on, numbered in the order this server delivers them, with what was delivered after
    /// `since` when this server still holds all of it (`None`: some of it is gone, or `since` is another
    /// server's or process's number). The two never overlap or leave a gap.
    pub fn subscribe_since(&self, since: Option<&str>) -> Numbered {
        let recent = self.bus.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let rx = self.bus.numbered.subscribe();
        let missed = since.and_then(|id| {
            let (origin, n) = id.rsplit_once('.')?;
            let n: u64 = n.parse().ok()?;
            if origin != self.bus.origin || n > recent.last {
                return None;
            }
            let oldest = recent.events.front().map_or(recent.last + 1, |(first, _)| *first);
            if n + 1 < oldest {
                return None;
            }
            Some(recent.events.iter().filter(|(k, _)| *k > n).cloned().collect())
        });
        Numbered { rx, missed, origin: self.bus.origin.clone(), last: recent.last }
    }

    /// Publishes changes already committed by a single statement: to the other servers, then here. The change
    /// is made either way, so a failed NOTIFY is logged (and the other servers' listeners resync when their
    /// connection drops) rather than reported as a failed write.
    pub(crate) async fn publish(&self, events: Vec<Event>) {
        if let Pool::Postgres(p) = &self.pool {
            for payload in self.bus.payloads(&events) {
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(p).await {
                    tracing::warn!(error = %e, "could not tell the other servers about a change");
                }
            }
        }
        self.bus.deliver(events);
    }

    /// On PostgreSQL, relays the other servers' events to this one's subscribers until the pool closes. A lost
    /// connection is re-opened, and subscribers are told to re-read (what was sent meanwhile is gone).
    pub fn spawn_listener(&self) {
        let Pool::Postgres(pool) = &self.pool else { return };
        let pool = pool.clone();
        let bus = self.bus.clone();
        tokio::spawn(async move {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for other servers' changes");
                    return;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::error!(error = %e, "cannot listen for other servers' changes");
                return;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => match serde_json::from_str::<Envelope>(n.payload()) {
                        Ok(env) if env.origin == bus.origin => {}
                        Ok(env) => bus.relay(env.events),
                        Err(e) => tracing::warn!(error = %e, "an unreadable change event from another server"),
                    },
                    Ok(None) => {
                        tracing::warn!("lost the connection that hears other servers' changes; reconnecting");
                        bus.relay(vec![Event::Resync]);
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other servers' changes failed; retrying");
                        bus.relay(vec![Event::Resync]);
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

/// A numbered subscription (see `Store::subscribe_since`).
pub struct Numbered {
    pub rx: broadcast::Receiver<(u64, Event)>,
    /// What was missed since the number asked for, when all of it is still here.
    pub missed: Option<Vec<(u64, Event)>>,
    /// This server's name for its numbers, and the last number it delivered when the subscription began.
    pub origin: String,
    pub last: u64,
}

impl Numbered {
    /// The id of event `n` as a client sends it back.
    pub fn id(&self, n: u64) -> String {
        format!("{}.{n}", self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_subscription_gets_exactly_what_it_missed() {
        let store_bus = Bus::new();
        store_bus.deliver(vec![Event::Directory, Event::Resync, Event::Book { owner_id: 1 }]);
        let recent = store_bus.recent.lock().unwrap();
        assert_eq!(recent.last, 3);
        assert_eq!(recent.events.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2, 3]);
        drop(recent);
        for _ in 0..RECENT {
            store_bus.deliver(vec![Event::Directory]);
        }
        let recent = store_bus.recent.lock().unwrap();
        assert_eq!(recent.events.len(), RECENT, "the ring is bounded");
        assert_eq!(recent.events.front().map(|e| e.0), Some(4));
    }

    #[test]
    fn payloads_stay_under_the_notify_limit_and_lose_nothing() {
        let bus = Bus::new();
        let labels: Vec<String> = (0..500).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let events = vec![
            Event::Cards { modseq: 7, owners: (0..300).collect(), labels: labels.clone() },
            Event::Sharing { label_id: labels[0].clone() },
            Event::Resync,
        ];
        let payloads = bus.payloads(&events);
        assert!(payloads.len() > 1);
        let mut owners = Vec::new();
        let mut seen_labels = Vec::new();
        let mut others = 0;
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            let env: Envelope = serde_json::from_str(p).unwrap();
            assert_eq!(env.origin, bus.origin);
            for e in env.events {
                match e {
                    Event::Cards { modseq: 7, owners: o, labels: l } => {
                        owners.extend(o);
                        seen_labels.extend(l);
                    }
                    _ => others += 1,
                }
            }
        }
        assert_eq!(owners, (0..300).collect::<Vec<i64>>());
        assert_eq!(seen_labels, labels);
        assert_eq!(others, 2);
        // A small event goes as it is.
        assert_eq!(bus.payloads(&[Event::Directory]).len(), 1);
    }
}
