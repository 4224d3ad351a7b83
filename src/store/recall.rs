//! Book states (sync-token, name, description) kept in memory, so a device's poll that finds nothing changed
//! (PROPFIND Depth 0 for the tokens, then sync-collection with the token it holds) is answered without a trip to
//! the database: with 10,000 devices polling every 30 s that is most of what a server does.
//!
//! A state is remembered as read and forgotten the moment the change bus says its book changed. The bus hears
//! every change this server commits before the write is answered (so a client reads its own writes), every other
//! server's through NOTIFY (sent in the writing transaction, so delivered with its commit), and is told `Resync`
//! when that connection was lost, which forgets everything. What the bus cannot hear, a command-line process
//! writing to the same SQLite file, announces itself in `meta` (`Store::announce_outside_writes`), which servers
//! check every second (`Store::spawn_outside_watch`). As a last bound on anything unforeseen, a state is trusted
//! for `TRUSTED_FOR` only.
//!
//! A read that raced a change must not be remembered: every forgetting bumps a generation, and a state read
//! under an older generation is dropped instead of kept.

use super::events::Event;
use super::model::BookState;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a remembered state is trusted without an event (see the module comment).
const TRUSTED_FOR: Duration = Duration::from_secs(300);
/// Books remembered at most; past it expired states go, then all (about 100 bytes each).
const MAX_BOOKS: usize = 100_000;

/// A book whose state is remembered: a user's My contacts, or a label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum BookId {
    Mine(i64),
    Label(String),
}

#[derive(Default)]
pub(crate) struct Recall {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    books: HashMap<BookId, (BookState, Instant)>,
    generation: u64,
}

impl Recall {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Taken before reading what `remember` is then given.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub(crate) fn book(&self, id: &BookId, now: Instant) -> Option<BookState> {
        let inner = self.lock();
        inner.books.get(id).filter(|(_, at)| now.duration_since(*at) < TRUSTED_FOR).map(|(s, _)| s.clone())
    }

    /// Remembers states read from the database since `generation`, unless something was forgotten meanwhile.
    pub(crate) fn remember(
        &self,
        generation: u64,
        states: impl IntoIterator<Item = (BookId, BookState)>,
        now: Instant,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.books.len() >= MAX_BOOKS {
            inner.books.retain(|_, (_, at)| now.duration_since(*at) < TRUSTED_FOR);
            if inner.books.len() >= MAX_BOOKS {
                inner.books.clear();
            }
        }
        for (id, state) in states {
            inner.books.insert(id, (state, now));
        }
    }

    /// Forgets what `event` says changed (called by the bus before anyone hears of the event).
    pub(crate) fn forget(&self, event: &Event) {
        let mut inner = self.lock();
        inner.generation += 1;
        match event {
            Event::Cards { owners, labels, .. } => {
                for o in owners {
                    inner.books.remove(&BookId::Mine(*o));
                }
                for l in labels {
                    inner.books.remove(&BookId::Label(l.clone()));
                }
            }
            Event::Label { label_id, .. } | Event::Sharing { label_id } => {
                inner.books.remove(&BookId::Label(label_id.clone()));
            }
            Event::Book { owner_id: user_id } | Event::Account { user_id } => {
                inner.books.remove(&BookId::Mine(*user_id));
            }
            Event::Directory | Event::Google { .. } => {}
            Event::Resync => inner.books.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(token: i64) -> BookState {
        BookState { token, name: "Clients".into(), description: String::new() }
    }

    #[test]
    fn a_state_read_before_a_change_is_not_remembered_after_it() {
        let recall = Recall::default();
        let now = Instant::now();
        let label = BookId::Label("l1".into());
        let before = recall.generation();
        recall.forget(&Event::Cards { modseq: 9, owners: vec![], labels: vec!["l1".into()] });
        recall.remember(before, [(label.clone(), state(8))], now);
        assert_eq!(recall.book(&label, now), None, "read before the change landed");
        recall.remember(recall.generation(), [(label.clone(), state(9))], now);
        assert_eq!(recall.book(&label, now), Some(state(9)));
    }

    #[test]
    fn events_forget_exactly_the_books_they_name_and_resync_forgets_all() {
        let recall = Recall::default();
        let now = Instant::now();
        let g = recall.generation();
        recall.remember(
            g,
            [(BookId::Mine(1), state(1)), (BookId::Mine(2), state(2)), (BookId::Label("a".into()), state(3))],
            now,
        );
        recall.forget(&Event::Cards { modseq: 4, owners: vec![1], labels: vec![] });
        assert_eq!(recall.book(&BookId::Mine(1), now), None);
        assert_eq!(recall.book(&BookId::Mine(2), now), Some(state(2)));
        recall.forget(&Event::Sharing { label_id: "a".into() });
        assert_eq!(recall.book(&BookId::Label("a".into()), now), None);
        recall.forget(&Event::Resync);
        assert_eq!(recall.book(&BookId::Mine(2), now), None);
    }

    #[test]
    fn a_state_is_trusted_for_a_bounded_time() {
        let recall = Recall::default();
        let now = Instant::now();
        recall.remember(recall.generation(), [(BookId::Mine(1), state(1))], now);
        assert_eq!(recall.book(&BookId::Mine(1), now + TRUSTED_FOR / 2), Some(state(1)));
        assert_eq!(recall.book(&BookId::Mine(1), now + TRUSTED_FOR), None);
    }
}
