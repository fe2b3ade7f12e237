//! The one limiter every upstream request passes through.
//!
//! A sliding log: at most `floor(requests_per_second)` sends in any window of one second
//! (plus a small margin for network jitter, since upstream counts arrivals, not departures).
//! Upstream's own 429s pause the limiter until the quota resets. Lanes are ordered by
//! [`Priority`]: when several requests wait, the most important goes first; a waiter that has
//! waited long is served anyway, so no lane starves forever.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Upstream work, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Purchase, payment and polls of in-flight operations: money is on the line.
    Critical,
    /// Reserve (and the cart session it needs).
    Reserve,
    /// Releasing abandoned or expired carts.
    Release,
    /// Event details refreshes, certificates, tokens.
    Refresh,
    /// Scheduled jobs.
    Job,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Refresh => "refresh",
            Self::Job => "job",
        }
    }
}

/// Sends are spread so no 1 s window (plus this margin) holds more than the quota allows.
const WINDOW: Duration = Duration::from_millis(1050);

#[derive(Debug)]
struct Log {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// Local part of the upstream quota.
#[derive(Debug)]
pub struct QuotaLimiter {
    capacity: usize,
    log: Mutex<Log>,
}

impl QuotaLimiter {
    pub fn new(requests_per_second: f64) -> Self {
        // A decimal quota such as 4.5 allows 4 in every window: never more than the quota.
        let capacity = (requests_per_second.floor() as usize).max(1);
        Self {
            capacity,
            log: Mutex::new(Log {
                sent: VecDeque::with_capacity(capacity),
                paused_until: None,
            }),
        }
    }

    /// Wait for a send slot and claim it. Returns how long the caller waited.
    pub async fn acquire(&self, priority: Priority) -> Duration {
        let started = Instant::now();
        loop {
            let wake_at = {
                let mut log = self.log.lock().await;
                let now = Instant::now();
                while log
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    log.sent.pop_front();
                }
                let paused = log.paused_until.filter(|until| *until > now);
                match (paused, log.sent.len() < self.capacity) {
                    (None, true) => {
                        log.sent.push_back(now);
                        return now.duration_since(started);
                    }
                    (Some(until), _) => until,
                    (None, false) => log.sent.front().map_or(now, |t| *t + WINDOW),
                }
            };
            // Lower lanes yield a little so higher lanes waking at the same moment go first.
            let lane_delay = Duration::from_millis(2 * priority as u64);
            tokio::time::sleep_until(wake_at + lane_delay).await;
        }
    }

    /// Upstream said the quota is spent: send nothing more until `until`.
    pub async fn pause_until(&self, until: Instant) {
        let mut log = self.log.lock().await;
        log.paused_until = Some(log.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_capacity_in_a_window() {
        let limiter = QuotaLimiter::new(3.7);
        let mut times = Vec::new();
        for _ in 0..9 {
            limiter.acquire(Priority::Critical).await;
            times.push(Instant::now());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count();
            assert!(in_window <= 3, "{in_window} sends within 1 s");
        }
        // Nine sends at three per window need at least two full windows.
        assert!(times[8].duration_since(times[0]) >= WINDOW * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_lane() {
        let limiter = QuotaLimiter::new(10.0);
        let until = Instant::now() + Duration::from_secs(5);
        limiter.pause_until(until).await;
        limiter.acquire(Priority::Critical).await;
        assert!(Instant::now() >= until);
    }
}
