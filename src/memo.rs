//! Values read from the database, kept in memory until told they changed: what lets a device's poll be answered
//! without a query. The owner forgets entries when the change bus says they changed (the bus calls its observers
//! before anyone hears of a change). A value read while something was being forgotten may be older than that
//! change, so it is not kept: every forgetting bumps a generation, and `remember` takes the generation seen before
//! the read. As a bound on anything no event says, an entry is trusted for a limited time only.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Memo<K, V> {
    inner: Mutex<Inner<K, V>>,
    trusted_for: Duration,
    max_entries: usize,
}

struct Inner<K, V> {
    entries: HashMap<K, (V, Instant)>,
    generation: u64,
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// Entries are trusted for `trusted_for` after their read; past `max_entries`, expired ones go, then all.
    pub fn new(trusted_for: Duration, max_entries: usize) -> Memo<K, V> {
        Memo { inner: Mutex::new(Inner { entries: HashMap::new(), generation: 0 }), trusted_for, max_entries }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Taken before reading what `remember` is then given.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let inner = self.lock();
        let trusted = |at: &Instant| now.saturating_duration_since(*at) < self.trusted_for;
        inner.entries.get(key).filter(|(_, at)| trusted(at)).map(|(v, _)| v.clone())
    }

    /// Keeps values read since `generation`, unless something was forgotten meanwhile.
    pub fn remember(&self, generation: u64, values: impl IntoIterator<Item = (K, V)>, now: Instant) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= self.max_entries {
            let trusted_for = self.trusted_for;
            inner.entries.retain(|_, (_, at)| now.saturating_duration_since(*at) < trusted_for);
            if inner.entries.len() >= self.max_entries {
                inner.entries.clear();
            }
        }
        for (k, v) in values {
            inner.entries.insert(k, (v, now));
        }
    }

    /// Forgets the entries `stale` picks (and that anything read before now is current).
    pub fn forget(&self, mut stale: impl FnMut(&K) -> bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.retain(|k, _| !stale(k));
    }

    /// Forgets the entries named.
    pub fn forget_keys<'a>(&self, keys: impl IntoIterator<Item = &'a K>)
    where
        K: 'a,
    {
        let mut inner = self.lock();
        inner.generation += 1;
        for k in keys {
            inner.entries.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_before_a_forgetting_is_not_kept_after_it() {
        let memo: Memo<&str, i64> = Memo::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        let before = memo.generation();
        memo.forget_keys([&"a"]);
        memo.remember(before, [("a", 8)], now);
        assert_eq!(memo.get(&"a", now), None, "read before the change landed");
        memo.remember(memo.generation(), [("a", 9)], now);
        assert_eq!(memo.get(&"a", now), Some(9));
    }

    #[test]
    fn forgetting_takes_exactly_what_it_names() {
        let memo: Memo<i64, i64> = Memo::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        memo.remember(memo.generation(), [(1, 1), (2, 2), (3, 3)], now);
        memo.forget_keys([&1]);
        assert_eq!((memo.get(&1, now), memo.get(&2, now)), (None, Some(2)));
        memo.forget(|k| *k == 3);
        assert_eq!((memo.get(&2, now), memo.get(&3, now)), (Some(2), None));
        memo.forget(|_| true);
        assert_eq!(memo.get(&2, now), None);
    }

    #[test]
    fn entries_are_trusted_for_a_bounded_time_and_bounded_in_number() {
        let memo: Memo<i64, i64> = Memo::new(Duration::from_secs(60), 2);
        let now = Instant::now();
        memo.remember(memo.generation(), [(1, 1)], now);
        assert_eq!(memo.get(&1, now + Duration::from_secs(59)), Some(1));
        assert_eq!(memo.get(&1, now + Duration::from_secs(60)), None);
        memo.remember(memo.generation(), [(2, 2)], now);
        memo.remember(memo.generation(), [(3, 3)], now + Duration::from_secs(61));
        assert_eq!(memo.get(&3, now + Duration::from_secs(61)), Some(3));
        assert!(memo.lock().entries.len() <= 2);
    }
}
