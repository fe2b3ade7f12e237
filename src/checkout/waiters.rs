//! In-process wake-ups for requests waiting on a checkout (`Prefer: wait`, a request waiting
//! for a lease), and what each wake-up brings. A write by this replica hands its waiters the
//! record it wrote ([`Writing::hand`]): they use it instead of reading the database. Other
//! replicas' writes arrive as the store's change notifications (`store::changes`) with the
//! version they wrote ([`Waiters::announce`]); a change of unknown version (a lease handed
//! back, a write whose answer was lost, a removal: [`Waiters::wake`]) or a lost listener
//! ([`Waiters::wake_all`]) sends the waiters to the database, and a slow re-read covers
//! anything missed.
//!
//! Each waiter remembers the newest version it has seen, handed or read, so a notification of
//! a version it already knows (this replica's own write coming back) costs it no read; nor
//! does one of a version this replica is writing at the time ([`Waiters::writing`]: the
//! notification can arrive before the write's own answer).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::Checkout;
use crate::ids::CheckoutId;

#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<CheckoutId, Arc<Waiting>>>,
}

/// The waiters of one checkout: their wake-up, and what it brings.
#[derive(Default)]
struct Waiting {
    notify: Notify,
    news: Mutex<News>,
}

/// What is known of one checkout since its first waiter subscribed.
#[derive(Default)]
struct News {
    /// The checkout as this replica last wrote it, while no change after it is known.
    handed: Option<Checkout>,
    /// The newest version known to be in the database (handed, or announced by another
    /// replica). `None` sorts below every version.
    newest: Option<i64>,
    /// Changes of unknown version so far: each sends every waiter to the database.
    unknown: u64,
    /// The version a write of this replica is writing, until its answer is in (see
    /// [`Waiters::writing`]).
    writing: Option<i64>,
}

/// What a waiter goes on with after a wake-up.
#[derive(Debug)]
pub enum Look {
    /// The checkout as this replica just wrote it: nothing to read.
    Handed(Box<Checkout>),
    /// The database: something changed that was not handed over.
    Read,
}

/// How long a waiter waits, and how often it reads again unprompted.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub deadline: Instant,
    /// For a change nobody announces (a lease that lapsed with its replica).
    pub recheck: Duration,
}

/// A waiter's registration; the entry is dropped with the last one, so the map only ever
/// holds checkouts someone is waiting on.
pub struct Subscription<'a> {
    waiters: &'a Waiters,
    id: CheckoutId,
    waiting: Arc<Waiting>,
    /// This waiter's own view (locked only by its own task; a lock keeps it `Sync`).
    seen: Mutex<Seen>,
    /// The checkout as its subscriber knew it when it subscribed, taken by the first look
    /// instead of a read (see [`Subscription::start_from`]).
    known: Mutex<Option<Checkout>>,
}

/// The news one waiter has had.
#[derive(Default)]
struct Seen {
    version: Option<i64>,
    unknown: u64,
}

impl Waiters {
    pub fn subscribe(&self, id: CheckoutId) -> Subscription<'_> {
        let mut map = lock(&self.map);
        let waiting = map.entry(id).or_default().clone();
        let unknown = lock(&waiting.news).unknown;
        Subscription {
            waiters: self,
            id,
            waiting,
            seen: Mutex::new(Seen {
                version: None,
                unknown,
            }),
            known: Mutex::new(None),
        }
    }

    /// This replica is about to write `version` of `id`. Until the write's answer is in, a
    /// notification of that version is taken for the write's own coming back (it can overtake
    /// the answer): the write hands its record over ([`Writing::hand`]), or, failed or given
    /// up, wakes everyone to read.
    pub fn writing(&self, id: CheckoutId, version: i64) -> Writing<'_> {
        if let Some(waiting) = lock(&self.map).get(&id) {
            lock(&waiting.news).writing = Some(version);
        }
        Writing {
            waiters: self,
            id,
            version,
            handed: false,
        }
    }

    /// This replica wrote `checkout` (its version is now the database's): its waiters are
    /// handed the record. Nothing is cloned when nobody waits; a version not newer than one
    /// already known here is ignored.
    fn hand(&self, checkout: &Checkout) {
        let map = lock(&self.map);
        let Some(waiting) = map.get(&checkout.id) else {
            return;
        };
        let mut news = lock(&waiting.news);
        if Some(checkout.version) > news.newest {
            news.newest = Some(checkout.version);
            news.handed = Some(checkout.clone());
            drop(news);
            waiting.notify.notify_waiters();
        }
    }

    /// Another replica announced `version` of `id`: its waiters read the database, unless that
    /// version is known here already, or being written here (this replica's own write,
    /// coming back).
    pub fn announce(&self, id: CheckoutId, version: i64) {
        let map = lock(&self.map);
        let Some(waiting) = map.get(&id) else {
            return;
        };
        let mut news = lock(&waiting.news);
        if Some(version) > news.newest && news.writing != Some(version) {
            news.newest = Some(version);
            news.handed = None;
            drop(news);
            waiting.notify.notify_waiters();
        }
    }

    /// `id` changed in a way whose version is not known here: everyone waiting on it reads
    /// the database.
    pub fn wake(&self, id: CheckoutId) {
        if let Some(waiting) = lock(&self.map).get(&id) {
            waiting.changed_unseen();
        }
    }

    /// Wake everyone waiting on any checkout to read it (changes may have been missed).
    pub fn wake_all(&self) {
        for waiting in lock(&self.map).values() {
            waiting.changed_unseen();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

impl Waiting {
    fn changed_unseen(&self) {
        let mut news = lock(&self.news);
        news.unknown += 1;
        news.handed = None;
        drop(news);
        self.notify.notify_waiters();
    }
}

impl Subscription<'_> {
    /// The checkout waited on.
    pub fn id(&self) -> CheckoutId {
        self.id
    }

    /// Run `attempt` until it succeeds (`Ok(Ok(_))`) or the deadline passes (then its last
    /// `Ok(Err(_))`). `attempt` is given the record handed over when there is one, `None`
    /// when it must read for itself: at first (what was written before this subscription was
    /// handed to nobody), after a change that was not handed, at each slow re-check, and at
    /// shutdown. A wake-up that brings nothing new to this waiter runs nothing.
    pub async fn retry_until<T, U, E>(
        &self,
        patience: Patience,
        stopping: &CancellationToken,
        mut attempt: impl AsyncFnMut(Option<Checkout>) -> Result<Result<T, U>, E>,
    ) -> Result<Result<T, U>, E> {
        let mut woken_by_news = false;
        let mut recheck = patience.deadline;
        loop {
            // Registered before looking at the news: news after the look wakes this again.
            let woken = self.waiting.notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let known = lock(&self.known).take();
            let look = match (woken_by_news, known) {
                (true, _) => self.news(),
                (false, Some(known)) => Some(Look::Handed(Box::new(known))),
                (false, None) => Some(self.read_anyway()),
            };
            if let Some(look) = look {
                let handed = match look {
                    Look::Handed(checkout) => Some(*checkout),
                    Look::Read => None,
                };
                let outcome = attempt(handed).await?;
                if outcome.is_ok() || Instant::now() >= patience.deadline {
                    return Ok(outcome);
                }
                recheck = Instant::now() + patience.recheck;
            }
            tokio::select! {
                _ = woken => woken_by_news = true,
                _ = tokio::time::sleep_until(recheck.min(patience.deadline)) => {
                    woken_by_news = false;
                }
                // Shutdown: answer with where things stand (202 for pending) instead of
                // holding the drain up for the rest of a long `Prefer: wait`.
                _ = stopping.cancelled() => return attempt(None).await,
            }
        }
    }

    /// After a wake-up: what is new to this waiter; `None` when nothing is (it was handed or
    /// has read that version already).
    pub fn news(&self) -> Option<Look> {
        let news = lock(&self.waiting.news);
        let mut seen = lock(&self.seen);
        // A handed record is newer than every change known before it (its write was checked
        // against the version it replaced), whatever else woke the waiter.
        if let Some(handed) = news.handed.as_ref()
            && Some(handed.version) > seen.version
        {
            seen.version = Some(handed.version);
            seen.unknown = news.unknown;
            return Some(Look::Handed(Box::new(handed.clone())));
        }
        (news.newest > seen.version || news.unknown != seen.unknown).then(|| read(&news, &mut seen))
    }

    /// The waiter reads the database whatever the news (its first look, the slow re-check).
    pub fn read_anyway(&self) -> Look {
        let news = lock(&self.waiting.news);
        read(&news, &mut lock(&self.seen))
    }

    /// The subscriber holds `checkout` as the database has it, and nobody else can write it
    /// before this subscription is in (the subscriber wrote it under a lease whose driver is
    /// not started yet): the first look takes it instead of reading. Later changes come as
    /// news like any other.
    pub fn start_from(&self, checkout: Checkout) {
        self.saw(checkout.version);
        *lock(&self.known) = Some(checkout);
    }

    /// The waiter read `version` from the database.
    pub fn saw(&self, version: i64) {
        let mut seen = lock(&self.seen);
        seen.version = seen.version.max(Some(version));
    }
}

/// A write of a checkout by this replica, from just before it is sent until its answer is in
/// (see [`Waiters::writing`]).
pub struct Writing<'a> {
    waiters: &'a Waiters,
    id: CheckoutId,
    version: i64,
    handed: bool,
}

impl Writing<'_> {
    /// The write succeeded: `checkout` (at the version written) goes to the waiters.
    pub fn hand(mut self, checkout: &Checkout) {
        self.handed = true;
        self.waiters.hand(checkout);
    }
}

impl Drop for Writing<'_> {
    /// Without a record handed over (the write failed, or was dropped mid-way), a notification
    /// of its version may have been passed over as its own: everyone reads.
    fn drop(&mut self) {
        let map = lock(&self.waiters.map);
        let Some(waiting) = map.get(&self.id) else {
            return;
        };
        let mut news = lock(&waiting.news);
        if news.writing == Some(self.version) {
            news.writing = None;
        }
        drop(news);
        if !self.handed {
            waiting.changed_unseen();
        }
    }
}

/// A read begun now returns every version known here, or a later one: the waiter has seen them.
fn read(news: &News, seen: &mut Seen) -> Look {
    seen.unknown = news.unknown;
    seen.version = seen.version.max(news.newest);
    Look::Read
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.waiters.map);
        // Two holders left (the map and this one): nobody else waits.
        if map.get(&self.id).is_some_and(|w| Arc::strong_count(w) == 2) {
            map.remove(&self.id);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
