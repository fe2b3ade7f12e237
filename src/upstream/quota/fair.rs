//! Who goes next when sends wait for the quota, and how much waiting one user may cause.
//!
//! Lanes first ([`Priority`]); a waiter rises one lane for every [`AGING`] it has waited, but
//! reads and jobs no higher than [`Priority::Release`]: below every reserve and purchase, so
//! no flood of reads takes a turn from a user's operation, however long it has waited. Within
//! a lane, users take turns: the user served least recently goes first (round-robin), then the
//! oldest ticket. A send that may be refused (a partner's read: event details, the captcha
//! page) is refused up front when its user already has [`Shares::per_user`] sends waiting or
//! in flight, or its lane has [`Shares::per_lane`] waiting: nothing is spent, and the partner
//! gets 429 with a `Retry-After`.
//!
//! Every operation costs O(log n) in the n waiting (aging amortised), because a burst of
//! checkouts queues tens of thousands of sends at once, and a look over the whole queue per
//! send made each send slower the longer the queue grew (the queue then grew faster). So:
//! - each lane keeps its users in order of (turn, oldest ticket in the lane), and each user its
//!   tickets per lane in order: the next up is the first user of the highest lane holding one;
//! - aging is a promotion one lane up when a waiter's next [`AGING`] is due, kept in order of
//!   that instant and applied when [`Queue::next_up`] is asked (at most twice per waiter);
//! - a lane's waiting count is a counter, and the users remembered for their turn while
//!   nothing of theirs waits are kept apart, so forgetting them costs what remembering did.

use std::collections::{BTreeSet, HashMap, HashSet};
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

const LANES: usize = Priority::Job as usize + 1;

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

/// The user a send is for; `None` is the gateway's own work, which takes turns as one user.
type Owner = Option<Arc<str>>;

#[derive(Debug)]
struct Waiter {
    /// The lane it asked for: where it counts against [`Shares::per_lane`], and where its
    /// aging starts.
    asked: Priority,
    /// The lane it is in now, after aging (a [`Priority`] as a number).
    lane: usize,
    since: Instant,
    owner: Owner,
    /// Wakes this waiter alone: only the one whose turn it is is woken when a send is taken
    /// or a waiter leaves (with thousands waiting, waking all of them on every send cost more
    /// than the sends).
    wake: Arc<Notify>,
}

impl Waiter {
    /// When it rises one lane more: `None` at its ceiling.
    fn next_rise(&self) -> Option<Instant> {
        let risen = self.asked as u32 - self.lane as u32;
        (self.lane > ceiling(self.asked) as usize).then(|| self.since + AGING * (risen + 1))
    }
}

/// A user with sends waiting, or remembered for its turn.
#[derive(Debug, Default)]
struct User {
    /// The count of sends served when it was last served: 0 if never since it was forgotten.
    turn: u64,
    /// Its waiting tickets, per lane.
    tickets: [BTreeSet<u64>; LANES],
    waiting: usize,
}

/// Per lane, the users with a ticket in it in the order they go: by turn, then by their
/// oldest ticket in the lane. Only a user's first ticket in a lane is here: a user's turn
/// moving costs one entry per lane, however many of its sends wait.
#[derive(Debug, Default)]
struct Lanes {
    order: [BTreeSet<(u64, u64)>; LANES],
    /// Looks into and changes of these sets and the users' ticket sets, each O(log n): the
    /// tests bound them per send.
    #[cfg(test)]
    steps: u64,
}

impl Lanes {
    fn add(&mut self, user: &mut User, lane: usize, ticket: u64) {
        let first = user.tickets[lane].first().copied();
        user.tickets[lane].insert(ticket);
        self.follow_first(user, lane, first);
    }

    fn remove(&mut self, user: &mut User, lane: usize, ticket: u64) {
        let first = user.tickets[lane].first().copied();
        user.tickets[lane].remove(&ticket);
        self.follow_first(user, lane, first);
    }

    /// `user`'s entry in `lane` follows its first ticket there, which was `before`.
    fn follow_first(&mut self, user: &User, lane: usize, before: Option<u64>) {
        self.step(1);
        let after = user.tickets[lane].first().copied();
        if after != before {
            self.step(2);
            if let Some(t) = before {
                self.order[lane].remove(&(user.turn, t));
            }
            if let Some(t) = after {
                self.order[lane].insert((user.turn, t));
            }
        }
    }

    /// `user` was served: its turn moves to `turn` in every lane it waits in.
    fn take_turn(&mut self, user: &mut User, turn: u64) {
        for (lane, tickets) in user.tickets.iter().enumerate() {
            if let Some(&first) = tickets.first() {
                self.step(2);
                self.order[lane].remove(&(user.turn, first));
                self.order[lane].insert((turn, first));
            }
        }
        user.turn = turn;
    }

    /// The first ticket of the highest lane holding one.
    fn first(&mut self) -> Option<u64> {
        let lane = self.order.iter().position(|o| !o.is_empty())?;
        self.step(lane + 1);
        self.order[lane].first().map(|(_, ticket)| *ticket)
    }

    fn step(&mut self, _n: usize) {
        #[cfg(test)]
        {
            self.steps += _n as u64;
        }
    }
}

/// The waiting sends and the users' turns. Kept inside the limiter's log lock.
#[derive(Debug, Default)]
pub(super) struct Queue {
    waiting: HashMap<u64, Waiter>,
    next_ticket: u64,
    /// Refusable sends per user, waiting or in flight.
    outstanding: HashMap<Arc<str>, usize>,
    users: HashMap<Owner, User>,
    lanes: Lanes,
    /// Waiting sends per lane asked for.
    asked: [usize; LANES],
    /// The waiters below their ceiling, by when they next rise.
    aging: BTreeSet<(Instant, u64)>,
    /// Users with a turn (`turn > 0`), waiting or not.
    remembered: usize,
    /// Those of them with nothing waiting: forgotten together when too many are remembered.
    idle: HashSet<Owner>,
    /// Sends served so far: the turns.
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
        let in_lane = self.asked[claim.priority as usize];
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
        let wake = Arc::new(Notify::new());
        let waiter = Waiter {
            asked: lane,
            lane: lane as usize,
            since: now,
            owner: owner.map(Arc::from),
            wake: wake.clone(),
        };
        if let Some(at) = waiter.next_rise() {
            self.aging.insert((at, ticket));
        }
        let user = self.users.entry(waiter.owner.clone()).or_default();
        if user.waiting == 0 && user.turn > 0 {
            self.idle.remove(&waiter.owner);
        }
        user.waiting += 1;
        self.lanes.add(user, waiter.lane, ticket);
        self.asked[lane as usize] += 1;
        self.waiting.insert(ticket, waiter);
        (ticket, wake)
    }

    /// Wakes the waiter whose turn it is now (if it is not waiting yet, it will not wait).
    pub(super) fn wake_next(&mut self, now: Instant) {
        if let Some(next) = self.next_up(now).and_then(|t| self.waiting.get(&t)) {
            next.wake.notify_one();
        }
    }

    /// How many sends are waiting.
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no send is waiting.
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether sends other than `ticket`'s are waiting.
    pub(super) fn others_waiting(&self, ticket: u64) -> bool {
        self.waiting.len() > usize::from(self.waiting.contains_key(&ticket))
    }

    pub(super) fn leave(&mut self, ticket: u64) {
        if let Some(waiter) = self.take_out(ticket) {
            self.settle(waiter.owner);
        }
    }

    /// `ticket` got its send: its user's turn moves to the back.
    pub(super) fn served(&mut self, ticket: u64) {
        let Some(waiter) = self.take_out(ticket) else {
            return;
        };
        self.served += 1;
        if let Some(user) = self.users.get_mut(&waiter.owner) {
            self.remembered += usize::from(user.turn == 0);
            self.lanes.take_turn(user, self.served);
        }
        self.settle(waiter.owner);
        if self.remembered > REMEMBERED_IDLE + self.waiting.len() {
            // Each was set idle once by a send of its own: forgetting them all costs no more.
            for owner in self.idle.drain() {
                self.users.remove(&owner);
                self.remembered -= 1;
            }
        }
    }

    /// The waiter that goes next: the highest lane after aging, then the user served least
    /// recently, then the oldest ticket. `now` never goes back (it is read under the lock).
    pub(super) fn next_up(&mut self, now: Instant) -> Option<u64> {
        self.age(now);
        self.lanes.first()
    }

    /// Raises every waiter whose next rise is due by `now` one lane.
    fn age(&mut self, now: Instant) {
        while let Some(&(at, ticket)) = self.aging.first().filter(|(at, _)| *at <= now) {
            self.aging.remove(&(at, ticket));
            let Some(waiter) = self.waiting.get_mut(&ticket) else {
                continue;
            };
            let Some(user) = self.users.get_mut(&waiter.owner) else {
                continue;
            };
            self.lanes.remove(user, waiter.lane, ticket);
            waiter.lane -= 1;
            self.lanes.add(user, waiter.lane, ticket);
            if let Some(next) = waiter.next_rise() {
                self.aging.insert((next, ticket));
            }
        }
    }

    /// Takes `ticket` out of its lane, its user, the aging and the counts.
    fn take_out(&mut self, ticket: u64) -> Option<Waiter> {
        let waiter = self.waiting.remove(&ticket)?;
        self.asked[waiter.asked as usize] -= 1;
        if let Some(at) = waiter.next_rise() {
            self.aging.remove(&(at, ticket));
        }
        if let Some(user) = self.users.get_mut(&waiter.owner) {
            user.waiting -= 1;
            self.lanes.remove(user, waiter.lane, ticket);
        }
        Some(waiter)
    }

    /// After a send of `owner`'s left the queue: a user with nothing waiting is idle, or
    /// forgotten at once if it has no turn to remember.
    fn settle(&mut self, owner: Owner) {
        match self.users.get(&owner) {
            Some(user) if user.waiting > 0 => {}
            Some(user) if user.turn > 0 => {
                self.idle.insert(owner);
            }
            _ => {
                self.users.remove(&owner);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn outstanding(&self, owner: &str) -> usize {
        self.outstanding.get(owner).copied().unwrap_or(0)
    }
}

/// The highest lane aging raises a waiter of `lane` to: reads and jobs no higher than the
/// release lane (they still overtake one another, and releases, so none starves among its
/// peers).
fn ceiling(lane: Priority) -> Priority {
    match lane {
        Priority::Refresh | Priority::Job => Priority::Release,
        _ => Priority::Critical,
    }
}

fn full(ahead: usize, per_send: Duration) -> QueueFull {
    QueueFull {
        retry_after: (per_send * ahead as u32).max(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests;
