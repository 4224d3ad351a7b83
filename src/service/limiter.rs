//! The failed-login limiter. Pure bookkeeping (time is passed in), shared by Basic and dashboard sign-ins.
//!
//! - An attempt is counted before its password is checked, and uncounted if it succeeds: simultaneous guesses
//!   cannot all slip in under the limit while the first ones are still being verified.
//! - Three keys, so that the attacker pays rather than the owner or their office: the (account, address) pair
//!   at `max_failures`; the address alone at ten times that (many people behind one NAT); the account from
//!   anywhere at ten times that (a distributed guess at one account).
//! - Each time a key reaches its limit it is blocked for the window, doubled per repeat (at most a day), so a
//!   patient attacker slows down instead of resuming every window.
//! - A credential that verified before (kept as a keyed digest, never the password) is let through every key:
//!   the owner's phone keeps syncing while someone else guesses at the account.
//! - Memory is bounded: past `MAX_KEYS` the least recently touched keys are forgotten, a tenth at a time; a
//!   spray of random names can age out other random names, but never wipe what is blocked now.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 100_000;
const MAX_KNOWN_GOOD: usize = 100_000;
/// How long a credential that verified stays known to be good.
const KNOWN_GOOD_FOR: Duration = Duration::from_secs(30 * 86_400);
/// The address alone, and the account from anywhere, get this many times the pair's limit.
const WIDE_FACTOR: usize = 10;
const MAX_BLOCK: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
    Account(String),
}

#[derive(Debug)]
struct Entry {
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// How often the limit was reached: each block lasts the window times 2^(strikes-1).
    strikes: u32,
    touched: Instant,
}

/// An attempt counted against its keys; `Limiter::succeeded` takes it back.
#[derive(Debug)]
pub struct Attempt {
    /// Each key, and whether this attempt was the one that blocked it.
    keys: Vec<(Key, bool)>,
    at: Instant,
}

#[derive(Debug)]
pub struct Limiter {
    max_failures: usize,
    window: Duration,
    entries: HashMap<Key, Entry>,
    known_good: HashMap<[u8; 32], Instant>,
}

impl Limiter {
    pub fn new(max_failures: usize, window: Duration) -> Limiter {
        Limiter { max_failures: max_failures.max(1), window, entries: HashMap::new(), known_good: HashMap::new() }
    }

    fn limit(&self, key: &Key) -> usize {
        match key {
            Key::Pair(..) => self.max_failures,
            Key::Address(_) | Key::Account(_) => self.max_failures * WIDE_FACTOR,
        }
    }

    /// Counts an attempt at `account` from `ip` with the credential whose keyed digest is `credential`, or
    /// says how long to wait. A known-good credential is counted nowhere and refused nowhere.
    pub fn begin(
        &mut self,
        account: &str,
        ip: IpAddr,
        credential: &[u8; 32],
        now: Instant,
    ) -> Result<Attempt, Duration> {
        if self.known_good.get(credential).is_some_and(|since| now.duration_since(*since) < KNOWN_GOOD_FOR) {
            return Ok(Attempt { keys: Vec::new(), at: now });
        }
        let keys = vec![Key::Pair(account.to_string(), ip), Key::Address(ip), Key::Account(account.to_string())];
        let mut wait: Option<Duration> = None;
        for key in &keys {
            if let Some(entry) = self.entries.get_mut(key) {
                if let Some(until) = entry.blocked_until.filter(|u| *u > now) {
                    wait = Some(wait.unwrap_or_default().max(until - now));
                }
                while entry.failures.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    entry.failures.pop_front();
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait.max(Duration::from_secs(1)));
        }
        let mut counted = Vec::with_capacity(keys.len());
        for key in keys {
            let limit = self.limit(&key);
            let window = self.window;
            let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
                failures: VecDeque::new(),
                blocked_until: None,
                strikes: 0,
                touched: now,
            });
            entry.touched = now;
            entry.failures.push_back(now);
            let blocks = entry.failures.len() >= limit;
            if blocks {
                entry.strikes = entry.strikes.saturating_add(1);
                let factor = 1u32.checked_shl(entry.strikes - 1).unwrap_or(u32::MAX);
                entry.blocked_until = Some(now + window.saturating_mul(factor).min(MAX_BLOCK));
                entry.failures.clear();
            }
            counted.push((key, blocks));
        }
        self.evict_if_full(now);
        Ok(Attempt { keys: counted, at: now })
    }

    /// The attempt's credential was right: it no longer counts (a block it set is lifted), the owner's earlier
    /// typos from this address are forgiven, and the credential is known to be good.
    pub fn succeeded(&mut self, attempt: Attempt, credential: &[u8; 32]) {
        for (key, blocked) in &attempt.keys {
            let Some(entry) = self.entries.get_mut(key) else { continue };
            if *blocked {
                entry.blocked_until = None;
                entry.strikes = entry.strikes.saturating_sub(1);
            } else if let Some(i) = entry.failures.iter().rposition(|t| *t == attempt.at) {
                entry.failures.remove(i);
            }
            if matches!(key, Key::Pair(..)) {
                entry.failures.clear();
            }
        }
        if self.known_good.len() >= MAX_KNOWN_GOOD {
            for k in oldest_tenth(self.known_good.iter().map(|(k, t)| (*k, *t))) {
                self.known_good.remove(&k);
            }
        }
        self.known_good.insert(*credential, attempt.at);
    }

    /// A credential stopped being good (it failed, or was revoked): it is counted like any other again.
    pub fn forget_good(&mut self, credential: &[u8; 32]) {
        self.known_good.remove(credential);
    }

    fn evict_if_full(&mut self, now: Instant) {
        if self.entries.len() <= MAX_KEYS {
            return;
        }
        let candidates = self
            .entries
            .iter()
            .filter(|(_, e)| e.blocked_until.is_none_or(|u| u <= now))
            .map(|(k, e)| (k.clone(), e.touched));
        for k in oldest_tenth(candidates) {
            self.entries.remove(&k);
        }
    }

    pub fn keys(&self) -> usize {
        self.entries.len()
    }
}

/// The tenth of `items` touched longest ago.
fn oldest_tenth<K>(items: impl Iterator<Item = (K, Instant)>) -> Vec<K> {
    let mut all: Vec<(K, Instant)> = items.collect();
    let n = (all.len() / 10).max(1).min(all.len());
    if n == 0 {
        return Vec::new();
    }
    // Linear selection: eviction stays cheap however full the table is.
    all.select_nth_unstable_by_key(n - 1, |(_, t)| *t);
    all.truncate(n);
    all.into_iter().map(|(k, _)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OFFICE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn limiter() -> Limiter {
        Limiter::new(10, Duration::from_secs(300))
    }

    #[test]
    fn attempts_count_before_they_are_checked() {
        let mut l = limiter();
        let now = Instant::now();
        // Sixty at once: ten are let in to be checked, the rest wait, whatever the checks later say.
        let let_in = (0..60).filter(|i| l.begin("ann@x", IP, &[*i as u8; 32], now).is_ok()).count();
        assert_eq!(let_in, 10);
    }

    #[test]
    fn a_success_takes_its_attempt_back_and_the_credential_is_then_known_good() {
        let mut l = limiter();
        let now = Instant::now();
        let good = [7u8; 32];
        for i in 0..9 {
            let _ = l.begin("ann@x", IP, &[i; 32], now);
        }
        let a = l.begin("ann@x", IP, &good, now).unwrap();
        l.succeeded(a, &good);
        assert!(l.begin("ann@x", IP, &[100; 32], now).is_ok(), "her typos from here were forgiven");
        // Someone else guesses at Ann from many addresses until the account key blocks…
        for i in 0..200u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = l.begin("ann@x", ip, &[200; 32], now);
        }
        assert!(l.begin("ann@x", OFFICE, &[201; 32], now).is_err(), "the account is blocked for guesses");
        // …but Ann's phone, with the password that worked, goes on.
        assert!(l.begin("ann@x", OFFICE, &good, now).is_ok());
        l.forget_good(&good);
        assert!(l.begin("ann@x", OFFICE, &good, now).is_err());
    }

    #[test]
    fn one_person_failing_behind_a_nat_does_not_lock_out_the_office() {
        let mut l = limiter();
        let now = Instant::now();
        for i in 0..12 {
            let _ = l.begin("bob@x", OFFICE, &[i; 32], now);
        }
        assert!(l.begin("bob@x", OFFICE, &[50; 32], now).is_err(), "Bob waits");
        assert!(l.begin("cy@x", OFFICE, &[51; 32], now).is_ok(), "Cy, at the same address, does not");
        assert!(l.begin("bob@x", IP, &[52; 32], now).is_ok(), "nor does Bob elsewhere");
    }

    #[test]
    fn blocks_grow_with_each_repeat_and_end() {
        let mut l = limiter();
        let mut now = Instant::now();
        for i in 0..10 {
            let _ = l.begin("ann@x", IP, &[i; 32], now);
        }
        let first = l.begin("ann@x", IP, &[20; 32], now).unwrap_err();
        assert_eq!(first, Duration::from_secs(300));
        now += first;
        for i in 0..10 {
            assert!(l.begin("ann@x", IP, &[30 + i; 32], now).is_ok(), "the block ended");
        }
        let second = l.begin("ann@x", IP, &[40; 32], now).unwrap_err();
        assert_eq!(second, Duration::from_secs(600), "the second block lasts twice as long");
    }

    #[test]
    fn a_spray_of_names_ages_out_old_keys_but_keeps_what_is_blocked() {
        let mut l = limiter();
        let now = Instant::now();
        for i in 0..10 {
            let _ = l.begin("ann@x", IP, &[i; 32], now);
        }
        for i in 0..40_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            let _ = l.begin(&format!("n{i}@x"), ip, &[1; 32], now + Duration::from_millis(1 + i as u64 / 100));
        }
        assert!(l.keys() <= MAX_KEYS + 3, "{} keys", l.keys());
        assert!(l.begin("ann@x", IP, &[99; 32], now + Duration::from_secs(1)).is_err(), "Ann's guesser still waits");
    }
}
