//! Book states (sync-token, name, description) kept in memory, so a device's poll that finds nothing changed
//! (PROPFIND Depth 0 for the tokens, then sync-collection with the token it holds) is answered without a trip to
//! the database: with 10,000 devices polling every 30 s that is most of what a server does.
//!
//! A state is remembered as read and forgotten the moment the change bus says its book changed. The bus hears
//! every change this server commits before the write is answered (so a client reads its own writes), every other
//! server's through NOTIFY (sent in the writing transaction, so delivered with its commit), and is told `Resync`
//! when that connection was lost, which forgets everything. What the bus cannot hear, a command-line process
//! writing to the same SQLite file, announces itself in a file beside it (outside.rs), which servers look at
//! before answering from here. As a last bound on anything unforeseen, a state is trusted for `TRUSTED_FOR` only.
//!
//! A read that raced a change is not kept (see memo.rs).

use super::events::Event;
use super::model::BookState;
use crate::memo::Memo;
use std::time::{Duration, Instant};

/// How long a remembered state is trusted without an event (see the module comment).
const TRUSTED_FOR: Duration = Duration::from_secs(300);
/// Books remembered at most (about 100 bytes each).
const MAX_BOOKS: usize = 100_000;

/// A book whose state is remembered: a user's My contacts, or a label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum BookId {
    Mine(i64),
    Label(String),
}

pub(crate) struct Recall {
    books: Memo<BookId, BookState>,
}

impl Default for Recall {
    fn default() -> Recall {
        Recall { books: Memo::new(TRUSTED_FOR, MAX_BOOKS) }
    }
}

impl Recall {
    /// Taken before reading what `remember` is then given.
    pub(crate) fn generation(&self) -> u64 {
        self.books.generation()
    }

    pub(crate) fn book(&self, id: &BookId, now: Instant) -> Option<BookState> {
        self.books.get(id, now)
    }

    /// Remembers states read from the database since `generation`, unless something was forgotten meanwhile.
    pub(crate) fn remember(
        &self,
        generation: u64,
        states: impl IntoIterator<Item = (BookId, BookState)>,
        now: Instant,
    ) {
        self.books.remember(generation, states, now);
    }

    /// Forgets what `event` says changed (called by the bus before anyone hears of the event).
    pub(crate) fn forget(&self, event: &Event) {
        match event {
            Event::Cards { owners, labels, .. } => {
                let ids: Vec<BookId> = owners
                    .iter()
                    .map(|o| BookId::Mine(*o))
                    .chain(labels.iter().map(|l| BookId::Label(l.clone())))
                    .collect();
                self.books.forget_keys(&ids);
            }
            Event::Label { label_id, .. } | Event::Sharing { label_id } => {
                self.books.forget_keys([&BookId::Label(label_id.clone())]);
            }
            Event::Book { owner_id: user_id } | Event::Account { user_id } => {
                self.books.forget_keys([&BookId::Mine(*user_id)]);
            }
            Event::Directory | Event::Google { .. } => {}
            Event::Resync => self.books.forget(|_| true),
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
}
