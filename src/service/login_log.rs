//! Failed sign-ins in the log: each one, up to a budget per minute, so a guessing run cannot fill the disk.

/// Failed sign-ins are logged at most this many per minute, so a guessing run cannot fill the disk; the first
/// line of the next minute says how many were left out.
const FAILED_LOGIN_LINES_PER_MINUTE: u32 = 60;

/// A budget of log lines per minute.
#[derive(Debug, Default)]
struct LineBudget {
    minute_started: Option<std::time::Instant>,
    written: u32,
    left_out: u64,
}

impl LineBudget {
    /// Whether a line may be written at `now`, and how many were left out in the minute that just ended.
    fn take(&mut self, now: std::time::Instant, per_minute: u32) -> (bool, Option<u64>) {
        let mut ended = None;
        if self.minute_started.is_none_or(|start| now.duration_since(start) >= std::time::Duration::from_secs(60)) {
            ended = (self.left_out > 0).then_some(self.left_out);
            *self = LineBudget { minute_started: Some(now), written: 0, left_out: 0 };
        }
        if self.written < per_minute {
            self.written += 1;
            (true, ended)
        } else {
            self.left_out += 1;
            (false, ended)
        }
    }
}

/// Logs a failed sign-in (the name as sent, cut to 100 characters and escaped), within the rate above.
pub fn log_failed_login(email: &str, ip: std::net::IpAddr) {
    static BUDGET: std::sync::Mutex<LineBudget> =
        std::sync::Mutex::new(LineBudget { minute_started: None, written: 0, left_out: 0 });
    let Ok(mut budget) = BUDGET.lock() else { return };
    let (write, ended) = budget.take(std::time::Instant::now(), FAILED_LOGIN_LINES_PER_MINUTE);
    drop(budget);
    if let Some(left_out) = ended {
        tracing::warn!(left_out, "more failed sign-ins in the last minute than were logged");
    }
    if write {
        let shown: String = email.chars().take(100).collect();
        tracing::info!(user = ?shown, ip = %ip, "login failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_sign_ins_are_logged_within_a_budget_per_minute() {
        let mut budget = LineBudget::default();
        let start = std::time::Instant::now();
        let written = (0..100_000).filter(|_| budget.take(start, 60).0).count();
        assert_eq!(written, 60, "a guessing run writes at most the minute's lines");
        let (write, ended) = budget.take(start + std::time::Duration::from_secs(61), 60);
        assert_eq!((write, ended), (true, Some(99_940)), "the next minute starts by saying how many were left out");
    }
}
