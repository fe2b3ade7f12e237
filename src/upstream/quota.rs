//! The one limiter every upstream request passes through.
//!
//! A sliding log: at most `floor(requests_per_second)` sends in any window of one second
//! (plus a small margin for network jitter, since upstream counts arrivals, not departures).
//! Upstream's own 429s pause the limiter until the quota resets. Who goes next among waiting
//! sends, and how much one user may queue, is [`fair`]'s: lanes by [`Priority`], users taking
//! turns within a lane, a partner's reads refused up front past their user's share.
//!
//! The quota is the whole deployment's: with a [`SharedQuota`] (the store, wired in at
//! start-up) every send also claims a slot of the same quota in a log all replicas share, so
//! replicas together stay under it; the local log only orders this replica's lanes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

mod fair;

use fair::Queue;
pub use fair::{Claim, QueueFull, Shares};

/// Upstream work, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Purchase, payment and polls of in-flight operations: money is on the line.
    Critical,
    /// Reserve (and the cart session it needs).
    Reserve,
    /// Releasing abandoned or expired carts.
    Release,
    /// Reads: event details, the captcha page, certificates, tokens.
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
/// Upstream counts arrivals, not departures: every window gets a margin for the spread of
/// network delays between sends on kept-alive connections (a few milliseconds within a
/// region). Every millisecond of margin costs 0.1 % of the quota: at 50 ms (with the claim
/// slack) at most 93 % of it could be used; at 20 ms, 97 %. A 429 that still comes is
/// honoured (`Rate-Limit-Reset`); docs/upstream-assumptions.md row 21 has the reading.
const JITTER: Duration = Duration::from_millis(20);
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

    /// Drop from `sent` (this budget's send times, oldest first) what left its window by `now`.
    fn forget_old(&self, sent: &mut VecDeque<Instant>, now: Instant) {
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            sent.pop_front();
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
    /// The deployment's shared log said it is full until then: nobody here asks it before.
    shared_full_until: Option<Instant>,
    /// The next send's slot in the even spacing of sends while several wait (see
    /// [`next_slot`]).
    next_spaced: Option<Instant>,
    /// The waiter whose turn it is, claiming its slot in the shared log: one at a time, so the
    /// order [`Queue::next_up`] chose is the order sends go out in (and the store is spared a
    /// connection per waiting request).
    claimant: Option<u64>,
    /// Per budget, sends claimed in the shared log by a batch and not sent yet: their stamps.
    /// The next claimants take them instead of asking the store, while each is within its
    /// budget's claim slack of its stamp; an older one stays spent.
    banked: Vec<VecDeque<Instant>>,
    queue: Queue,
}

/// Takes a waiter out of the queue, and gives up its turn, however its wait ends (a
/// cancelled request included).
struct Waiting<'a> {
    limiter: &'a QuotaLimiter,
    ticket: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut log = self.limiter.log();
        log.queue.leave(self.ticket);
        if log.claimant == Some(self.ticket) {
            log.claimant = None;
        }
        log.queue.wake_next(Instant::now());
    }
}

/// The claimant's name while [`QuotaLimiter::claim_ahead`] claims: no waiter's ticket (those
/// count up from zero).
const AHEAD: u64 = u64::MAX;

/// Gives up the claimant's turn a claim ahead took, however it ends (its caller may drop it
/// mid-claim), and wakes the next waiter, who may take the banked slot.
struct ClaimingAhead<'a> {
    limiter: &'a QuotaLimiter,
}

impl Drop for ClaimingAhead<'_> {
    fn drop(&mut self) {
        let mut log = self.limiter.log();
        if log.claimant == Some(AHEAD) {
            log.claimant = None;
        }
        log.queue.wake_next(Instant::now());
    }
}

/// The first budget's slot of the next send, for the caller to claim in the shared log
/// together with its write (see [`QuotaLimiter::ahead`]).
pub struct Ahead<'a> {
    claiming: ClaimingAhead<'a>,
    /// The budget's name in the shared log.
    pub budget: &'static str,
    pub capacity: usize,
    /// How long the claimed slot stays taken: the budget's window and the claim slack.
    pub window: Duration,
    asked: Instant,
}

impl Ahead<'_> {
    /// The caller's statement claimed `sends` slots (0: none, the send claims for itself):
    /// banked for the next send if the answer came within the claim slack, like a claim
    /// ahead's (a later one's slot is spent). The claimant's turn is given back either way.
    pub fn granted(self, sends: u32) {
        let limiter = self.claiming.limiter;
        let in_time = limiter
            .budgets
            .first()
            .is_some_and(|budget| self.asked.elapsed() <= budget.claim_slack);
        if in_time && let Some(banked) = limiter.log().banked.first_mut() {
            banked.extend(std::iter::repeat_n(self.asked, sends as usize));
        }
    }
}

/// A granted send of a partner's read: its user's share comes back when it drops (after the
/// exchange, so a user's sends in flight count too).
#[must_use = "hold the slot until the exchange is over"]
pub struct Slot<'a> {
    limiter: &'a QuotaLimiter,
    counted: Option<Arc<str>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(owner) = &self.counted {
            self.limiter.log().queue.release(owner);
        }
    }
}

/// A shared claim is stamped when it is asked for, and the send follows its answer: a claim
/// slower than this (a cold connection, lock waits) is not trusted to stand for its send, and
/// the shared window is longer by as much, so the margin for network jitter stays whole. A
/// claim is one indexed update (about 1 ms on Postgres, under load a few): a slower one is
/// rare, and costs a slot, not a 429.
const CLAIM_SLACK: Duration = Duration::from_millis(10);

/// Slow claims replaced by fresh ones before a send goes with the last (each spends a slot).
const MAX_SLOW_CLAIMS: u32 = 2;

/// Most sends claimed in the shared log at once: the claims of a batch must all be sent
/// within [`CLAIM_SLACK`] of their stamp, at the quota's even spacing, so a batch is also
/// never more than the sends that fit in that slack (one, below 100 requests a second).
const MAX_BATCH: u32 = 32;

/// The deployment-wide part of the quota, shared by every replica.
#[async_trait::async_trait]
pub trait SharedQuota: Send + Sync {
    /// Claim up to `sends` of `budget.capacity` sends of the sliding `window` ending now (the
    /// budget's own window plus a claim margin), all stamped now.
    async fn claim(
        &self,
        budget: &Budget,
        window: Duration,
        sends: u32,
    ) -> Result<SharedAnswer, String>;
}

/// The shared log's answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedAnswer {
    /// This many sends claimed (at least one).
    Granted(u32),
    /// Full: try again after this long.
    Full(Duration),
}

/// The upstream quota: this replica's log and lanes, and the deployment's shared part.
pub struct QuotaLimiter {
    /// Per second first; then any per-minute/hour/day budgets.
    budgets: Vec<Budget>,
    /// Never held across an await.
    log: std::sync::Mutex<Log>,
    shared: Option<Arc<dyn SharedQuota>>,
    shares: Shares,
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
                banked: vec![VecDeque::new()],
                ..Log::default()
            }),
            shared: None,
            shares: Shares::default(),
        }
    }

    /// How much waiting a partner's reads may cause (per user, per lane).
    pub fn with_shares(mut self, shares: Shares) -> Self {
        self.shares = shares;
        self
    }

    /// Longer budgets (per minute, hour, day) on top of the per-second quota.
    pub fn with_budgets(mut self, budgets: impl IntoIterator<Item = Budget>) -> Self {
        for budget in budgets {
            self.budgets.push(budget);
            let mut log = self.log();
            log.sent.push(VecDeque::new());
            log.banked.push(VecDeque::new());
        }
        self
    }

    /// Count every send against `shared` too: the quota all replicas stay under together.
    pub fn shared_with(mut self, shared: Arc<dyn SharedQuota>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Wait for a send slot and claim it: how long the caller waited, and the slot to hold
    /// until the exchange is over. A refusable claim over its user's or lane's share is
    /// refused at once, having spent nothing.
    pub async fn acquire(&self, claim: Claim<'_>) -> Result<(Duration, Slot<'_>), QueueFull> {
        let started = Instant::now();
        let counted = self
            .log()
            .queue
            .admit(&claim, self.shares, self.spacing())?;
        let slot = Slot {
            limiter: self,
            counted,
        };
        let (ticket, wake) = self
            .log()
            .queue
            .enqueue(claim.priority, claim.owner, Instant::now());
        let _waiting = Waiting {
            limiter: self,
            ticket,
        };
        // Budgets of the shared log already claimed for this send (kept across denials: a
        // slot claimed in one budget while a later one is full stays spent, so the deployment
        // may send a little less than it could, never more).
        let mut claimed = 0;
        loop {
            self.wait_for_turn(ticket, &wake).await;
            let shared = match &self.shared {
                Some(shared) => self.claim_shared(shared.as_ref(), &mut claimed).await,
                None => Ok(()),
            };
            let mut log = self.log();
            log.claimant = None;
            let granted = match shared {
                Ok(()) => {
                    let now = Instant::now();
                    for sent in &mut log.sent {
                        sent.push_back(now);
                    }
                    log.next_spaced = Some(next_slot(log.next_spaced, now, self.spacing()));
                    log.queue.served(ticket);
                    true
                }
                Err(wait) => {
                    // Everyone here waits for the shared log, not just this send: asking it
                    // again sooner would only be refused.
                    let until = Instant::now() + wait;
                    log.shared_full_until = log.shared_full_until.max(Some(until));
                    false
                }
            };
            // The next turn is someone else's after a grant; after a denial it may be this
            // one's again (it then sees the shared log full and waits for it).
            log.queue.wake_next(Instant::now());
            drop(log);
            if granted {
                return Ok((started.elapsed(), slot));
            }
        }
    }

    /// Claim the next send's slot in the deployment's log now, ahead of the send, while the
    /// caller makes the write persist-then-call needs before its call: the send then takes the
    /// banked slot instead of waiting for a claim of its own, and the two round trips overlap.
    /// Only when this replica is idle (nothing queued or claiming, nothing banked still fresh,
    /// every local window with room, no pause): under load a claimant already claims for the
    /// sends behind it (see [`Self::batch`]). A send that asks while this claim is out waits
    /// for it (it is the claimant) and then takes its slot. A slot claimed ahead and not sent
    /// within the claim slack is spent, one slot of the quota: callers claim ahead only right
    /// before a send.
    pub async fn claim_ahead(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        {
            let mut log = self.log();
            if !self.idle(&mut log, Instant::now()) {
                return;
            }
            log.claimant = Some(AHEAD);
        }
        let _claiming = ClaimingAhead { limiter: self };
        for (index, budget) in self.budgets.iter().enumerate() {
            let asked = Instant::now();
            let window = budget.window + budget.claim_slack;
            match shared.claim(budget, window, 1).await {
                Ok(SharedAnswer::Granted(sends)) if asked.elapsed() <= budget.claim_slack => {
                    let sends = sends as usize;
                    self.log().banked[index].extend(std::iter::repeat_n(asked, sends));
                }
                Ok(SharedAnswer::Full(wait)) => {
                    let until = Instant::now() + wait.min(budget.window);
                    let mut log = self.log();
                    log.shared_full_until = log.shared_full_until.max(Some(until));
                    return;
                }
                // Slow (its slot is spent) or the store is down: the send claims for itself.
                Ok(SharedAnswer::Granted(_)) | Err(_) => return,
            }
        }
    }

    /// [`Self::claim_ahead`] for a caller that makes the claim itself, in the same statement
    /// as the write before its call (one commit for both instead of two at once): the first
    /// budget's slot to claim, or `None` when there is no shared log or this replica is not
    /// idle (as for `claim_ahead`). Until the caller reports with [`Ahead::granted`] or drops
    /// the [`Ahead`], it holds the claimant's turn: a send asked meanwhile waits for it. The
    /// other budgets, if any, are claimed by the send itself.
    pub fn ahead(&self) -> Option<Ahead<'_>> {
        self.shared.as_ref()?;
        let budget = self.budgets.first()?;
        {
            let mut log = self.log();
            if !self.idle(&mut log, Instant::now()) {
                return None;
            }
            log.claimant = Some(AHEAD);
        }
        Some(Ahead {
            claiming: ClaimingAhead { limiter: self },
            budget: budget.name,
            capacity: budget.capacity,
            window: budget.window + budget.claim_slack,
            asked: Instant::now(),
        })
    }

    /// Whether a send asked now would go at once and claim for itself alone: nobody waits or
    /// claims, no budget holds a fresh banked slot, every local window has room, and nothing
    /// pauses sends.
    fn idle(&self, log: &mut Log, now: Instant) -> bool {
        let paused = log
            .paused_until
            .max(log.shared_full_until)
            .is_some_and(|until| until > now);
        if paused || log.claimant.is_some() || !log.queue.is_empty() {
            return false;
        }
        self.budgets
            .iter()
            .zip(log.sent.iter_mut().zip(&log.banked))
            .all(|(budget, (sent, banked))| {
                budget.forget_old(sent, now);
                let fresh = banked
                    .back()
                    .is_some_and(|stamp| now.duration_since(*stamp) <= budget.claim_slack);
                sent.len() < budget.capacity && !fresh
            })
    }

    /// Claim this send's slot in the deployment's log, budget by budget from `claimed`:
    /// `Err(wait)` when a budget is full. A slot a batch banked is taken first; otherwise the
    /// claim asks for the sends waiting here too, as many as can go within the claim slack
    /// (see [`Self::batch`]): one statement then serves several sends. When the store cannot
    /// answer, this replica's own limit still applies: purchases go on rather than stop with
    /// the database.
    async fn claim_shared(
        &self,
        shared: &dyn SharedQuota,
        claimed: &mut usize,
    ) -> Result<(), Duration> {
        while let Some(budget) = self.budgets.get(*claimed) {
            if self.take_banked(*claimed, budget) {
                *claimed += 1;
                continue;
            }
            let mut slow = 0;
            loop {
                let asked = Instant::now();
                let window = budget.window + budget.claim_slack;
                // After a slow answer, one at a time: a slow batch spends every slot in it.
                let sends = if slow == 0 { self.batch(budget) } else { 1 };
                match shared.claim(budget, window, sends).await {
                    Ok(SharedAnswer::Granted(sends))
                        if asked.elapsed() <= budget.claim_slack || slow == MAX_SLOW_CLAIMS =>
                    {
                        let more = sends.saturating_sub(1) as usize;
                        let mut log = self.log();
                        log.banked[*claimed].extend(std::iter::repeat_n(asked, more));
                        break;
                    }
                    // Its slots stay spent (stamped too early for these sends); claim again.
                    Ok(SharedAnswer::Granted(_)) => slow += 1,
                    Ok(SharedAnswer::Full(wait)) => return Err(wait.min(budget.window)),
                    Err(reason) => {
                        tracing::warn!(%reason, "shared upstream quota unavailable; only this replica's share is limited");
                        *claimed = self.budgets.len();
                        return Ok(());
                    }
                }
            }
            *claimed += 1;
        }
        Ok(())
    }

    /// Take a banked send of budget `index` still within its claim slack; older ones are
    /// dropped (spent: stamped too long before a send could use them).
    fn take_banked(&self, index: usize, budget: &Budget) -> bool {
        let mut log = self.log();
        let now = Instant::now();
        let banked = &mut log.banked[index];
        while let Some(stamp) = banked.pop_front() {
            if now.duration_since(stamp) <= budget.claim_slack {
                return true;
            }
        }
        false
    }

    /// How many sends one claim of `budget` asks for: the sends waiting here (this one
    /// included), at most as many as go out, at the quota's even spacing, within the claim
    /// slack of their shared stamp, and at most [`MAX_BATCH`].
    fn batch(&self, budget: &Budget) -> u32 {
        let spacing = budget.window / budget.capacity.max(1) as u32;
        let fit = budget.claim_slack.as_nanos() / spacing.as_nanos().max(1);
        let fit = u32::try_from(fit).unwrap_or(u32::MAX).clamp(1, MAX_BATCH);
        let waiting = u32::try_from(self.log().queue.len()).unwrap_or(u32::MAX);
        waiting.clamp(1, fit)
    }

    /// The even spacing of sends at the per-second quota.
    fn spacing(&self) -> Duration {
        self.budgets[0].window / self.budgets[0].capacity as u32
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until it is `ticket`'s turn: this replica's windows have room, nothing is paused,
    /// no other waiter is claiming, and [`Queue::next_up`] names it (not whoever wakes
    /// first). Returns as the claimant. Only the waiter whose turn it is watches the clock
    /// (a pause, a full window, the spacing); the others wait for `wake`, which the queue
    /// rings when their turn may have come (see [`Queue::wake_next`]).
    async fn wait_for_turn(&self, ticket: u64, wake: &Notify) {
        loop {
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let wake_at = {
                let mut log = self.log();
                let now = Instant::now();
                // When the fullest budget next has room; `None` when all have room now.
                let mut full_until: Option<Instant> = None;
                for (budget, sent) in self.budgets.iter().zip(log.sent.iter_mut()) {
                    budget.forget_old(sent, now);
                    if sent.len() >= budget.capacity {
                        let room_at = sent.front().map_or(now, |t| *t + budget.window);
                        full_until = full_until.max(Some(room_at));
                    }
                }
                // While others wait too, sends are spaced evenly over the window instead of
                // going in a burst when it frees: a burst would go to whoever is queued at
                // that instant, and a user between two calls of its operation (answer in,
                // next call not yet asked) would find every freed slot taken. Spaced, the
                // next slot frees after that user's next call has queued, and the lanes and
                // turns decide who takes it. Alone, a send goes at once.
                let spaced = log.next_spaced.filter(|_| log.queue.others_waiting(ticket));
                let paused = log
                    .paused_until
                    .max(log.shared_full_until)
                    .max(spaced)
                    .filter(|until| *until > now);
                let mine = log.queue.next_up(now) == Some(ticket);
                match (paused, full_until) {
                    (None, None) if mine && log.claimant.is_none() => {
                        log.claimant = Some(ticket);
                        return;
                    }
                    // Someone else's turn (aging may have changed it): make sure that one
                    // looks, unless it is claiming already, and wait to be woken.
                    _ if !mine => {
                        if log.claimant.is_none() {
                            log.queue.wake_next(now);
                        }
                        None
                    }
                    (Some(until), _) => Some(until),
                    (None, Some(room_at)) => Some(room_at),
                    // This one's turn, while another finishes its claim: woken when it does.
                    (None, None) => None,
                }
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = &mut woken => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => woken.await,
            }
        }
    }

    /// Upstream said the quota is spent: send nothing more until `until`.
    pub async fn pause_until(&self, until: Instant) {
        let mut log = self.log();
        log.paused_until = Some(log.paused_until.map_or(until, |p| p.max(until)));
    }
}

/// How far behind its slots the spacing may run before it starts again from now: a timer
/// wakes a waiter on a whole millisecond, later than a slot a fraction of one apart, and the
/// sends it was late for then go at once, so the spacing keeps its rate (above 1,000 a
/// second it would otherwise lose up to half of it). Larger than a timer's lateness, small
/// against a window.
const SPACING_CATCH_UP: Duration = Duration::from_millis(2);

/// The slot after a send granted at `now`: one `spacing` after the previous slot, as long as
/// sends keep up with their slots (within [`SPACING_CATCH_UP`]); otherwise one after now.
fn next_slot(previous: Option<Instant>, now: Instant, spacing: Duration) -> Instant {
    let behind = now.checked_sub(SPACING_CATCH_UP).unwrap_or(now);
    previous.map_or(now, |slot| slot.max(behind)) + spacing
}

#[cfg(test)]
mod tests;
