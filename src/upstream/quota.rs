//! The one limiter every upstream request passes through.
//!
//! A sliding log: at most `floor(requests_per_second)` sends in any window of one second
//! (plus a small margin for network jitter, since upstream counts arrivals, not departures).
//! Upstream's own 429s pause the limiter until the quota resets. Lanes are ordered by
//! [`Priority`]: when several requests wait, the most important goes first; a waiter that has
//! waited long is served anyway, so no lane starves forever.
//!
//! The quota is the whole deployment's: with a [`SharedQuota`] (the store, wired in at
//! start-up) every send also claims a slot of the same quota in a log all replicas share, so
//! replicas together stay under it; the local log only orders this replica's lanes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use tokio::sync::{Mutex, Notify};
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
/// Upstream counts arrivals, not departures: every window gets a margin for network jitter.
const JITTER: Duration = Duration::from_millis(50);
const WINDOW: Duration = Duration::from_millis(1000).checked_add(JITTER).unwrap();

/// One limit of the apikey's quota: at most `capacity` sends in any sliding `window`. The
/// docs and FAQ describe per-second, per-minute and per-day quotas; each configured one is a
/// budget, and a send needs room in all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Names the budget's slots in the shared store (`second`, `minute`, `hour`, `day`).
    pub name: &'static str,
    pub capacity: usize,
    pub window: Duration,
    /// How late a shared claim may be stamped before the send: the stamp counts from when the
    /// claim was asked, so every stored window is this much longer than the send window.
    claim_slack: Duration,
}

impl Budget {
    /// A decimal quota such as 4.5 allows 4 in every window: never more than the quota.
    pub fn per_second(requests: f64) -> Self {
        Self {
            name: "second",
            capacity: (requests.floor() as usize).max(1),
            window: WINDOW,
            claim_slack: CLAIM_SLACK,
        }
    }

    /// `requests` per `span` (a minute, hour or day), named for the store. A second of slack
    /// is nothing against a minute, and spares a slot that a slow claim would otherwise waste
    /// for the whole span.
    pub fn per(name: &'static str, requests: u32, span: Duration) -> Self {
        Self {
            name,
            capacity: (requests as usize).max(1),
            window: span + JITTER,
            claim_slack: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Default)]
struct Log {
    /// Send times, one log per budget (same order as `QuotaLimiter::budgets`).
    sent: Vec<VecDeque<Instant>>,
    paused_until: Option<Instant>,
    /// Requests waiting for a send, by ticket: their lane and since when.
    waiting: HashMap<u64, (Priority, Instant)>,
    next_ticket: u64,
}

/// A waiter rises one lane for every this long it has waited: no lane starves forever.
const AGING: Duration = Duration::from_secs(2);

impl Log {
    /// The waiter that goes next: the highest lane after aging, then the oldest ticket.
    fn next_up(&self, now: Instant) -> Option<u64> {
        self.waiting
            .iter()
            .min_by_key(|(ticket, (lane, since))| {
                let risen = (now.duration_since(*since).as_millis() / AGING.as_millis()) as u32;
                ((*lane as u32).saturating_sub(risen), **ticket)
            })
            .map(|(ticket, _)| *ticket)
    }
}

/// Takes a waiter out of the queue however its wait ends (a cancelled request included).
struct Waiting<'a> {
    limiter: &'a QuotaLimiter,
    ticket: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.limiter.log().waiting.remove(&self.ticket);
        self.limiter.freed.notify_waiters();
    }
}

/// A shared claim is stamped when it is asked for, and the send follows its answer: a claim
/// slower than this (a cold connection, lock waits) is not trusted to stand for its send, and
/// the shared window is longer by as much, so the margin for network jitter stays whole.
const CLAIM_SLACK: Duration = Duration::from_millis(25);

/// Slow claims replaced by fresh ones before a send goes with the last (each spends a slot).
const MAX_SLOW_CLAIMS: u32 = 2;

/// The deployment-wide part of the quota, shared by every replica.
#[async_trait::async_trait]
pub trait SharedQuota: Send + Sync {
    /// Claim one of `budget.capacity` sends of the sliding `window` ending now (the budget's
    /// own window plus a claim margin): `Ok(None)` when claimed, `Ok(Some(wait))` to try again
    /// after `wait`.
    async fn claim(&self, budget: &Budget, window: Duration) -> Result<Option<Duration>, String>;
}

/// The upstream quota: this replica's log and lanes, and the deployment's shared part.
pub struct QuotaLimiter {
    /// Per second first; then any per-minute/hour/day budgets.
    budgets: Vec<Budget>,
    /// Never held across an await.
    log: std::sync::Mutex<Log>,
    /// Wakes waiters when a send is granted or a waiter leaves, so the next one re-checks.
    freed: Notify,
    shared: Option<Arc<dyn SharedQuota>>,
    /// One shared claim at a time per replica: sends are spaced anyway, and the store is
    /// spared a connection per waiting request.
    claiming: Mutex<()>,
}

impl std::fmt::Debug for QuotaLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaLimiter")
            .field("budgets", &self.budgets)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl QuotaLimiter {
    pub fn new(requests_per_second: f64) -> Self {
        Self {
            budgets: vec![Budget::per_second(requests_per_second)],
            log: std::sync::Mutex::new(Log {
                sent: vec![VecDeque::new()],
                ..Log::default()
            }),
            freed: Notify::new(),
            shared: None,
            claiming: Mutex::new(()),
        }
    }

    /// Longer budgets (per minute, hour, day) on top of the per-second quota.
    pub fn with_budgets(mut self, budgets: impl IntoIterator<Item = Budget>) -> Self {
        for budget in budgets {
            self.budgets.push(budget);
            self.log().sent.push(VecDeque::new());
        }
        self
    }

    /// Count every send against `shared` too: the quota all replicas stay under together.
    pub fn shared_with(mut self, shared: Arc<dyn SharedQuota>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Wait for a send slot and claim it. Returns how long the caller waited.
    pub async fn acquire(&self, priority: Priority) -> Duration {
        let started = Instant::now();
        self.acquire_local(priority).await;
        if let Some(shared) = &self.shared {
            self.acquire_shared(shared.as_ref(), priority).await;
        }
        started.elapsed()
    }

    /// Claim a slot in the deployment's log. When the store cannot answer, this replica's own
    /// limit still applies: purchases go on rather than stop with the database.
    async fn acquire_shared(&self, shared: &dyn SharedQuota, priority: Priority) {
        // A slot claimed in one budget while a later one is full stays spent: the
        // deployment may send a little less than it could, never more.
        for budget in &self.budgets {
            let mut slow = 0;
            loop {
                let claiming = self.claiming.lock().await;
                let asked = Instant::now();
                let claim = shared
                    .claim(budget, budget.window + budget.claim_slack)
                    .await;
                drop(claiming);
                match claim {
                    Ok(None)
                        if asked.elapsed() <= budget.claim_slack || slow == MAX_SLOW_CLAIMS =>
                    {
                        break;
                    }
                    // Its slot stays spent (stamped too early for this send); claim another.
                    Ok(None) => slow += 1,
                    Ok(Some(wait)) => {
                        tokio::time::sleep(wait.min(budget.window) + lane_delay(priority)).await;
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "shared upstream quota unavailable; only this replica's share is limited");
                        return;
                    }
                }
            }
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This replica's sliding log and lanes: a free send goes to the waiter of the highest
    /// lane (after aging), not to whoever wakes first.
    async fn acquire_local(&self, priority: Priority) {
        let ticket = {
            let mut log = self.log();
            let ticket = log.next_ticket;
            log.next_ticket += 1;
            log.waiting.insert(ticket, (priority, Instant::now()));
            ticket
        };
        let _waiting = Waiting {
            limiter: self,
            ticket,
        };
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let wake_at = {
                let mut log = self.log();
                let now = Instant::now();
                // When the fullest budget next has room; `None` when all have room now.
                let mut full_until: Option<Instant> = None;
                for (budget, sent) in self.budgets.iter().zip(log.sent.iter_mut()) {
                    while sent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= budget.window)
                    {
                        sent.pop_front();
                    }
                    if sent.len() >= budget.capacity {
                        let room_at = sent.front().map_or(now, |t| *t + budget.window);
                        full_until = full_until.max(Some(room_at));
                    }
                }
                let paused = log.paused_until.filter(|until| *until > now);
                match (paused, full_until) {
                    (Some(until), _) => until,
                    (None, None) if log.next_up(now) == Some(ticket) => {
                        for sent in &mut log.sent {
                            sent.push_back(now);
                        }
                        return;
                    }
                    // Someone ahead takes this send; look again when it is taken, or when
                    // aging may have changed the order.
                    (None, None) => now + AGING,
                    (None, Some(room_at)) => room_at,
                }
            };
            tokio::select! {
                _ = &mut freed => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Upstream said the quota is spent: send nothing more until `until`.
    pub async fn pause_until(&self, until: Instant) {
        let mut log = self.log();
        log.paused_until = Some(log.paused_until.map_or(until, |p| p.max(until)));
    }
}

/// Lower lanes yield a little so higher lanes waking at the same moment go first.
fn lane_delay(priority: Priority) -> Duration {
    Duration::from_millis(2 * priority as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
    async fn a_per_minute_budget_holds_under_a_generous_per_second_quota() {
        let minute = Budget::per("minute", 5, Duration::from_secs(60));
        let limiter = QuotaLimiter::new(100.0).with_budgets([minute]);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire(Priority::Critical).await;
        }
        assert!(
            Instant::now() - start < Duration::from_secs(1),
            "the first five flow"
        );
        limiter.acquire(Priority::Critical).await;
        assert!(
            Instant::now() - start >= minute.window,
            "the sixth waits for the minute"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_lane() {
        let limiter = QuotaLimiter::new(10.0);
        let until = Instant::now() + Duration::from_secs(5);
        limiter.pause_until(until).await;
        limiter.acquire(Priority::Critical).await;
        assert!(Instant::now() >= until);
    }

    /// Grants after `denials` refusals, each asking for a 100 ms wait; or always fails. The
    /// first `slow` claims take 50 ms.
    struct FakeShared {
        denials: std::sync::Mutex<u32>,
        broken: bool,
        slow: std::sync::Mutex<u32>,
        claims: std::sync::atomic::AtomicU32,
    }

    fn fake(denials: u32, broken: bool, slow: u32) -> Arc<FakeShared> {
        Arc::new(FakeShared {
            denials: std::sync::Mutex::new(denials),
            broken,
            slow: std::sync::Mutex::new(slow),
            claims: Default::default(),
        })
    }

    #[async_trait::async_trait]
    impl SharedQuota for FakeShared {
        async fn claim(&self, _: &Budget, _: Duration) -> Result<Option<Duration>, String> {
            self.claims
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.broken {
                return Err("database down".into());
            }
            let slow = {
                let mut left = self.slow.lock().unwrap();
                let was = *left;
                *left = was.saturating_sub(1);
                was > 0
            };
            if slow {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut denials = self.denials.lock().unwrap();
            if *denials == 0 {
                return Ok(None);
            }
            *denials -= 1;
            Ok(Some(Duration::from_millis(100)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_send_waits_for_the_shared_quota() {
        let shared = fake(2, false, 0);
        let limiter = QuotaLimiter::new(10.0).shared_with(shared.clone());
        let waited = limiter.acquire(Priority::Critical).await;
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert_eq!(*shared.denials.lock().unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn without_the_shared_quota_the_local_limit_still_holds() {
        let limiter = QuotaLimiter::new(2.0).shared_with(fake(0, true, 0));
        let started = Instant::now();
        for _ in 0..3 {
            limiter.acquire(Priority::Critical).await;
        }
        assert!(started.elapsed() >= WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_claim_is_replaced_by_a_fresh_one_a_bounded_number_of_times() {
        let once = fake(0, false, 1);
        QuotaLimiter::new(10.0)
            .shared_with(once.clone())
            .acquire(Priority::Critical)
            .await;
        assert_eq!(once.claims.load(std::sync::atomic::Ordering::Relaxed), 2);
        let always = fake(0, false, u32::MAX);
        QuotaLimiter::new(10.0)
            .shared_with(always.clone())
            .acquire(Priority::Critical)
            .await;
        let claims = always.claims.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(claims, 1 + MAX_SLOW_CLAIMS);
    }

    /// Everyone waiting at once on a full window; returns the lanes in the order served.
    async fn served_order(limiter: Arc<QuotaLimiter>, lanes: &[Priority]) -> Vec<Priority> {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = lanes
            .iter()
            .map(|lane| {
                let (limiter, order, lane) = (limiter.clone(), order.clone(), *lane);
                tokio::spawn(async move {
                    limiter.acquire(lane).await;
                    order.lock().unwrap().push(lane);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn under_saturation_higher_lanes_go_first() {
        let limiter = Arc::new(QuotaLimiter::new(1.0));
        limiter.acquire(Priority::Job).await;
        let lanes = [
            Priority::Job,
            Priority::Release,
            Priority::Job,
            Priority::Critical,
            Priority::Reserve,
        ];
        let order = served_order(limiter, &lanes).await;
        assert_eq!(
            order,
            [
                Priority::Critical,
                Priority::Reserve,
                Priority::Release,
                Priority::Job,
                Priority::Job
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_low_lane_is_not_starved_by_a_stream_of_high_ones() {
        let limiter = Arc::new(QuotaLimiter::new(1.0));
        limiter.acquire(Priority::Critical).await;
        let mut lanes = vec![Priority::Job];
        lanes.extend([Priority::Critical; 30]);
        let order = served_order(limiter, &lanes).await;
        let job_at = order.iter().position(|l| *l == Priority::Job).unwrap();
        // It rises a lane every 2 s and one send goes per second: served within ~8 sends,
        // long before the 30 critical ones are through.
        assert!(job_at <= 10, "the job waited for {job_at} sends");
        assert!(
            job_at >= 1,
            "aging must not beat a fresh higher lane at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_does_not_block_the_queue() {
        let limiter = Arc::new(QuotaLimiter::new(1.0));
        limiter.acquire(Priority::Critical).await;
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire(Priority::Critical).await })
        };
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        let order = served_order(limiter, &[Priority::Job]).await;
        assert_eq!(order, [Priority::Job]);
    }
}
