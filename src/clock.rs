//! The server's wall clock. Every expiry, cooldown and timestamp the server stores reads it, so tests move time
//! forward (`advance`) instead of sleeping through an idle timeout or a resend cooldown.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch by the system's clock, for times another system sets (an access token's expiry at
/// Google), which tests do not move.
pub fn system_now() -> i64 {
    Clock::default().now()
}

/// System time plus an offset that only tests change; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Seconds since the epoch.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Milliseconds since the epoch: a sync asked for and one finished within the same second are told apart.
    pub fn now_ms(&self) -> i64 {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        system + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}
