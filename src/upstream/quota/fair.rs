//! Who goes next when sends wait for the quota, and how much waiting one user may cause.
//!
//! Lanes first ([`Priority`]); a waiter rises one lane for every [`AGING`] it has waited, but
//! reads and jobs no higher than [`Priority::Release`]: below every reserve and purchase, so
//! no flood of reads takes a turn from a user's operation, however long it has waited. Within a lane, users take turns: the user served least recently goes first
//! (round-robin), then the oldest ticket. A send that may be refused (a partner's read: event
//! details, the captcha page) is refused up front when its user already has
//! [`Shares::per_user`] sends waiting or in flight, or its lane has [`Shares::per_lane`]
//! waiting: nothing is spent, and the partner gets 429 with a `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Priority;

/// A waiter rises one lane for every this long it has waited: no lane starves forever.
pub(super) const AGING: Duration = Duration::from_secs(2);

/// Users remembered for their turn beyond those waiting now; past it, the idle are forgotten
/// (an idle user's next send goes first anyway).
const REMEMBERED_IDLE: usize = 1024;

/// Who a send is for.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub priority: Priority,
    /// The user it serves (a pseudonym); `None` for the gateway's own work.
    pub owner: Option<&'a str>,
    /// A partner's read, refused up front when its user or lane is over its share. Work a
    /// checkout's operation depends on (reserve, payment, purchase, polls, releases) is never
    /// refused here: it is bounded by admission and by one operation per checkout.
    pub refusable: bool,
}

impl Claim<'static> {
    /// The gateway's own work (token, certificate, jobs): queued, never refused.
    pub fn system(priority: Priority) -> Self {
        Self {
            priority,
            owner: None,
            refusable: false,
        }
    }
}

/// How much waiting refusable sends may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    /// Sends of one user waiting or in flight.
    pub per_user: usize,
    /// Sends waiting in one lane.
    pub per_lane: usize,
}

impl Default for Shares {
    fn default() -> Self {
        Self {
            per_user: 4,
            per_lane: 64,
        }
    }
}

/// A refusable send refused before it spent anything: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub retry_after: Duration,
}

#[derive(Debug)]
struct Waiter {
    lane: Priority,
    since: Instant,
    owner: Option<Arc<str>>,
    /// Wakes this waiter alone: only the one whose turn it is is woken when a send is taken
    /// or a waiter leaves, so a send costs one look over the queue, not one per waiter (with
    /// thousands waiting, waking all of them on every send cost more than the sends).
    wake: Arc<Notify>,
}

/// The waiting sends and the users' turns. Kept inside the limiter's log lock.
#[derive(Debug, Default)]
pub(super) struct Queue {
    waiting: HashMap<u64, Waiter>,
    next_ticket: u64,
    /// Refusable sends per user, waiting or in flight.
    outstanding: HashMap<Arc<str>, usize>,
    /// When each user was last served (a sequence number), for the round-robin.
    last_served: HashMap<Option<Arc<str>>, u64>,
    served: u64,
}

impl Queue {
    /// Count a refusable send against its user's and lane's share, or refuse it. `per_send`
    /// is how long one send takes at the quota, to say when a retry could fit.
    pub(super) fn admit(
        &mut self,
        claim: &Claim<'_>,
        shares: Shares,
        per_send: Duration,
    ) -> Result<Option<Arc<str>>, QueueFull> {
        if !claim.refusable {
            return Ok(None);
        }
        let in_lane = self
            .waiting
            .values()
            .filter(|w| w.lane == claim.priority)
            .count();
        if in_lane >= shares.per_lane {
            return Err(full(in_lane, per_send));
        }
        let Some(owner) = claim.owner else {
            return Ok(None);
        };
        let owner: Arc<str> = Arc::from(owner);
        let mine = self.outstanding.entry(owner.clone()).or_default();
        if *mine >= shares.per_user {
            return Err(full(*mine, per_send));
        }
        *mine += 1;
        Ok(Some(owner))
    }

    /// A counted send finished (or never went): its user's share comes back.
    pub(super) fn release(&mut self, owner: &Arc<str>) {
        if let Some(n) = self.outstanding.get_mut(owner) {
            *n -= 1;
            if *n == 0 {
                self.outstanding.remove(owner);
            }
        }
    }

    /// A new waiter: its ticket, and what wakes it when it may be next.
    pub(super) fn enqueue(
        &mut self,
        lane: Priority,
        owner: Option<&str>,
        now: Instant,
    ) -> (u64, Arc<Notify>) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let owner = owner.map(Arc::from);
        let wake = Arc::new(Notify::new());
        self.waiting.insert(
            ticket,
            Waiter {
                lane,
                since: now,
                owner,
                wake: wake.clone(),
            },
        );
        (ticket, wake)
    }

    /// Wakes the waiter whose turn it is now (if it is not waiting yet, it will not wait).
    pub(super) fn wake_next(&self, now: Instant) {
        if let Some(next) = self.next_up(now).and_then(|t| self.waiting.get(&t)) {
            next.wake.notify_one();
        }
    }

    /// Whether sends other than `ticket`'s are waiting.
    pub(super) fn others_waiting(&self, ticket: u64) -> bool {
        self.waiting.keys().any(|t| *t != ticket)
    }

    pub(super) fn leave(&mut self, ticket: u64) {
        self.waiting.remove(&ticket);
    }

    /// `ticket` got its send: its user's turn moves to the back.
    pub(super) fn served(&mut self, ticket: u64) {
        let Some(waiter) = self.waiting.remove(&ticket) else {
            return;
        };
        self.served += 1;
        self.last_served.insert(waiter.owner, self.served);
        if self.last_served.len() > REMEMBERED_IDLE + self.waiting.len() {
            let waiting: Vec<_> = self.waiting.values().map(|w| w.owner.clone()).collect();
            self.last_served.retain(|owner, _| waiting.contains(owner));
        }
    }

    /// The waiter that goes next: the highest lane after aging, then the user served least
    /// recently, then the oldest ticket.
    pub(super) fn next_up(&self, now: Instant) -> Option<u64> {
        self.waiting
            .iter()
            .min_by_key(|(ticket, w)| {
                let turn = self.last_served.get(&w.owner).copied().unwrap_or(0);
                (
                    effective_lane(w.lane, now.duration_since(w.since)),
                    turn,
                    **ticket,
                )
            })
            .map(|(ticket, _)| *ticket)
    }

    #[cfg(test)]
    pub(super) fn outstanding(&self, owner: &str) -> usize {
        self.outstanding.get(owner).copied().unwrap_or(0)
    }
}

/// `lane` after waiting `waited`: one lane up per [`AGING`], reads and jobs no higher than
/// the release lane (they still overtake one another, and releases, so none starves among
/// its peers).
fn effective_lane(lane: Priority, waited: Duration) -> u32 {
    let ceiling = match lane {
        Priority::Refresh | Priority::Job => Priority::Release,
        _ => Priority::Critical,
    };
    let risen = (waited.as_millis() / AGING.as_millis()) as u32;
    (lane as u32).saturating_sub(risen).max(ceiling as u32)
}

fn full(ahead: usize, per_send: Duration) -> QueueFull {
    QueueFull {
        retry_after: (per_send * ahead as u32).max(Duration::from_secs(1)),
    }
}
