//! The per-replica cache behind `GET /v1/checkouts/{id}`: each checkout as last read or written
//! here, with its order, answered from memory for as long as nothing can have changed it
//! unseen. A payment or purchase starts from it too ([`CheckoutService::cached_free`]): the
//! version its first write carries makes a record that is no longer the database's harmless.
//!
//! What keeps an entry true:
//! - **This replica's writes** replace the entry with the record written right after the write
//!   returns, before its answer goes out (`CheckoutService::written_here`; [`ReadCache::written`]
//!   under a ticket taken before the write, as a read's), or drop it (`changed_here`: a write
//!   whose answer was lost; a record with an order), so a client never reads back less than it
//!   wrote here.
//! - **Other replicas' writes** arrive as change notifications (Postgres `LISTEN`, see
//!   `store::changes`; every update of a checkout row notifies since migration 0010, with the
//!   version it wrote since 0012) and drop the entry, unless it was read at that version or
//!   later ([`ReadCache::announced`]: this replica's own write, coming back). Entries are served
//!   only while the listener is connected and has been since
//!   they were read: [`ReadCache::lost`] moves the cache to a new epoch, and an entry of an
//!   older epoch is never served. On SQLite this process's writes are all there are
//!   ([`ReadCache::own_writes_only`]).
//! - **A read or a write racing a change** (read from the database → the change is announced →
//!   the old value is stored) is closed with [`Ticket`]s: a reader or writer takes one before it
//!   goes to the database, and its value is stored only if no change of that checkout newer
//!   than the value was announced since (nor a change of epoch): each stripe of ids logs its
//!   last few changes, and a reader that cannot find all of its stripe's changes since its
//!   ticket there stores nothing. The check and the store happen under the same lock as the
//!   changes; a write's store counts as a change (reads in flight of older versions predate
//!   it). The echo of this replica's own write is no newer than the write, so it spoils
//!   nothing.
//!
//! Bounded: at most [`MAX_ENTRIES`] checkouts, none kept longer than [`MAX_AGE`] (a safety net;
//! freshness never depends on it). Ownership stays the caller's check: entries carry the
//! checkout's user, and `CheckoutService::get` answers someone else's as unknown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::CheckoutError;
use super::model::{Checkout, Order, UserId};
use super::service::CheckoutService;
use super::waiters::Writing;
use crate::ids::CheckoutId;
use crate::metrics::ReadSource;

/// Entries kept at most (least useful evicted first): a few KB each.
pub const MAX_ENTRIES: u64 = 10_000;
/// No entry is served longer than this after its read, whatever was (not) announced.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Stripes of checkout ids, each with its count of changes and the last few of them: a change
/// of one checkout spoils the in-flight reads of that checkout only, as long as the reader can
/// still find every change since its ticket in its stripe's log; past that, it is not stored.
const STRIPES: usize = 64;
/// Changes each stripe remembers (a read or write in flight sees at most this many of its
/// stripe's changes and can still be judged; 64 × 8 = 512 changes a round trip).
const RECENT: usize = 8;
/// The low bit of the state word: the listener is connected (entries may be stored and served).
const LISTENING: u64 = 1;

/// A checkout as `GET /v1/checkouts/{id}` answers it.
#[derive(Debug, Clone)]
pub struct CheckoutRead {
    pub checkout: Checkout,
    /// Its order, once purchased.
    pub order: Option<Order>,
}

struct Entry {
    read: Arc<CheckoutRead>,
    /// The state word when the read began: served only while it is still current.
    state: u64,
}

/// Taken before reading the database; the read is stored only if it is still valid.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    id: CheckoutId,
    state: u64,
    generation: u64,
}

/// One change a stripe remembers: its checkout, and the version it wrote (`None`: unknown,
/// or a removal).
#[derive(Debug, Clone, Copy)]
struct Change {
    id: CheckoutId,
    version: Option<i64>,
}

/// A stripe's changes: how many there have been, and the last [`RECENT`] (oldest first).
#[derive(Default)]
struct Stripe {
    generation: u64,
    recent: std::collections::VecDeque<Change>,
}

impl Stripe {
    fn record(&mut self, change: Change) {
        self.generation = self.generation.wrapping_add(1);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(change);
    }

    /// Whether version `version` of the checkout `ticket` was taken for is still as new as
    /// any change of it since the ticket: none, or only announcements of that version or older
    /// (this replica's own write coming back, an older one arriving late). Changes of other
    /// checkouts do not count; changes fallen out of the log make it unknown, so no.
    fn admits(&self, ticket: &Ticket, version: i64) -> bool {
        let since = self.generation.wrapping_sub(ticket.generation);
        let Ok(since) = usize::try_from(since) else {
            return false;
        };
        since <= self.recent.len()
            && self.recent.iter().rev().take(since).all(|change| {
                change.id != ticket.id || change.version.is_some_and(|v| v <= version)
            })
    }
}

pub struct ReadCache {
    entries: moka::sync::Cache<CheckoutId, Arc<Entry>>,
    /// `epoch << 1 | LISTENING`: every loss and every (re)connection starts a new epoch.
    state: AtomicU64,
    /// Per stripe: its changes. Locked by changes and by stores.
    stripes: Box<[Mutex<Stripe>]>,
}

impl ReadCache {
    /// For a store whose only writer is this process (SQLite): serving from the start.
    pub fn own_writes_only() -> Self {
        Self::with_state(LISTENING)
    }

    /// For a store other replicas write too (Postgres): serves nothing until
    /// [`Self::listening`] says their changes are heard.
    pub fn following_changes() -> Self {
        Self::with_state(0)
    }

    fn with_state(state: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(MAX_AGE)
                .build(),
            state: AtomicU64::new(state),
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
        }
    }

    /// The cached read of `id`, if it may be served.
    pub fn get(&self, id: CheckoutId) -> Option<Arc<CheckoutRead>> {
        let entry = self.entries.get(&id)?;
        (entry.state == self.state.load(Ordering::Acquire)).then(|| entry.read.clone())
    }

    /// Before reading `id` from the database: `None` when the read may not be stored (no
    /// listener, so changes could go unannounced).
    pub fn ticket(&self, id: CheckoutId) -> Option<Ticket> {
        let state = self.state.load(Ordering::Acquire);
        if state & LISTENING == 0 {
            return None;
        }
        let generation = self.stripe(id).generation;
        Some(Ticket {
            id,
            state,
            generation,
        })
    }

    /// Store what was read under `ticket`, unless a change of `id` newer than the read was
    /// announced (or the listener lost) since it was taken: then the read may predate a
    /// change, and is not kept.
    pub fn fill(&self, ticket: Ticket, read: Arc<CheckoutRead>) {
        let stripe = self.stripe(ticket.id);
        if self.admits(&stripe, &ticket, &read) {
            self.store(ticket, read);
        }
    }

    /// `read` was just written by this replica, under `ticket` taken before the write went
    /// out: it becomes the entry, unless a newer change of it was announced (or the listener
    /// lost) while the write was out; then the entry goes, as for any change. Either way it
    /// counts as a change: reads in flight of older versions are not stored.
    pub fn written(&self, ticket: Ticket, read: Arc<CheckoutRead>) {
        let mut stripe = self.stripe(ticket.id);
        let version = read.checkout.version;
        if self.admits(&stripe, &ticket, &read) {
            self.store(ticket, read);
        } else {
            self.entries.invalidate(&ticket.id);
        }
        stripe.record(Change {
            id: ticket.id,
            version: Some(version),
        });
    }

    /// `id` changed (here, or announced by another replica), version unknown: its entry goes,
    /// and reads of it in flight are not stored.
    pub fn invalidate(&self, id: CheckoutId) {
        let mut stripe = self.stripe(id);
        stripe.record(Change { id, version: None });
        self.entries.invalidate(&id);
    }

    /// Version `version` of `id` was announced: reads of older versions in flight are not
    /// stored, and its entry goes unless it was read at that version or later (the
    /// notification of this replica's own write, arriving after the entry was read anew).
    pub fn announced(&self, id: CheckoutId, version: i64) {
        let mut stripe = self.stripe(id);
        stripe.record(Change {
            id,
            version: Some(version),
        });
        let current = self
            .entries
            .get(&id)
            .is_some_and(|entry| entry.read.checkout.version >= version);
        if !current {
            self.entries.invalidate(&id);
        }
    }

    /// Under the stripe's lock: `read`, taken under `ticket`, may be stored.
    fn admits(&self, stripe: &Stripe, ticket: &Ticket, read: &CheckoutRead) -> bool {
        self.state.load(Ordering::Acquire) == ticket.state
            && stripe.admits(ticket, read.checkout.version)
    }

    /// Under the stripe's lock: keep `read`, unless a newer one of the checkout is kept already
    /// (stored from a read that began later and finished first).
    fn store(&self, ticket: Ticket, read: Arc<CheckoutRead>) {
        let newer = self.entries.get(&ticket.id).is_some_and(|kept| {
            kept.state == ticket.state && kept.read.checkout.version > read.checkout.version
        });
        if !newer {
            let entry = Entry {
                read,
                state: ticket.state,
            };
            self.entries.insert(ticket.id, Arc::new(entry));
        }
    }

    /// Changes are heard from now on: reads started from here may be stored and served.
    pub fn listening(&self) {
        self.next_epoch(LISTENING);
    }

    /// Changes may go unheard (the listener's connection was lost, or it stopped): nothing
    /// read before is served again, nothing is stored until [`Self::listening`].
    pub fn lost(&self) {
        self.next_epoch(0);
        self.entries.invalidate_all();
    }

    /// Whether entries are being served (the listener is connected).
    pub fn is_serving(&self) -> bool {
        self.state.load(Ordering::Acquire) & LISTENING != 0
    }

    fn next_epoch(&self, listening: u64) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some(((s >> 1).wrapping_add(1) << 1) | listening)
            });
    }

    fn stripe(&self, id: CheckoutId) -> std::sync::MutexGuard<'_, Stripe> {
        // The low half of a UUIDv7 is random: ids spread evenly over the stripes.
        let index = (id.uuid().as_u64_pair().1 % STRIPES as u64) as usize;
        self.stripes[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CheckoutService {
    /// The checkout as `GET /v1/checkouts/{id}` shows it to `user` (someone else's is
    /// `NotFound`, as an unknown one is). With a `wait`, a pending checkout is waited on (see
    /// [`Self::wait_settled`]) and answered as the database has it when it settles or the wait
    /// ends.
    pub async fn get(
        &self,
        user: &UserId,
        id: CheckoutId,
        wait: Duration,
    ) -> Result<Arc<CheckoutRead>, CheckoutError> {
        let read = self.read_owned(user, id).await?;
        if wait.is_zero() || !read.checkout.state.is_pending() {
            return Ok(read);
        }
        let settled = self.wait_settled(id, wait).await?;
        let order = self.order_of(&settled).await?;
        Ok(Arc::new(CheckoutRead {
            checkout: settled,
            order,
        }))
    }

    /// From the cache when it may answer, else from the database (and kept, when no change
    /// of it was announced meanwhile).
    async fn read_owned(
        &self,
        user: &UserId,
        id: CheckoutId,
    ) -> Result<Arc<CheckoutRead>, CheckoutError> {
        if let Some(read) = self.reads.get(id) {
            self.metrics.checkout_read(ReadSource::Cache);
            // Entries are stored from the owner's reads only; the check is on every hit all
            // the same, so a cached checkout answers nobody else.
            return match read.checkout.user_id == *user {
                true => Ok(read),
                false => Err(CheckoutError::NotFound),
            };
        }
        self.metrics.checkout_read(ReadSource::Database);
        // Taken before the read: a change announced while it runs keeps its result out.
        let ticket = self.reads.ticket(id);
        let checkout = self.owned(user, id).await?;
        let order = self.order_of(&checkout).await?;
        let read = Arc::new(CheckoutRead { checkout, order });
        if let Some(ticket) = ticket {
            self.reads.fill(ticket, read.clone());
        }
        Ok(read)
    }

    /// This replica wrote `checkout` (its version is now the database's) in `writing`, with
    /// `ticket` taken before the write. Before anyone is answered, the record written becomes
    /// its cached read (the next `GET`, payment or purchase here starts from it without a
    /// read), or, when a change may have followed it or it has an order the cache would need
    /// too, the cached read goes; its waiters are handed the record instead of reading it.
    pub(super) fn written_here(
        &self,
        checkout: &Checkout,
        writing: Writing<'_>,
        ticket: Option<Ticket>,
    ) {
        match ticket {
            Some(ticket) if checkout.order_id.is_none() => {
                let read = CheckoutRead {
                    checkout: checkout.clone(),
                    order: None,
                };
                self.reads.written(ticket, Arc::new(read));
            }
            _ => self.reads.invalidate(checkout.id),
        }
        writing.hand(checkout);
    }

    /// Before a write of checkout `id`: the ticket under which [`Self::written_here`] may
    /// keep the record written.
    pub(super) fn read_ticket(&self, id: CheckoutId) -> Option<Ticket> {
        self.reads.ticket(id)
    }

    /// `user`'s checkout `id` as this replica last wrote or read it, when the cache may
    /// answer for it and no lease is on it there. Only a start: a write from it carries its
    /// version, so a record that is no longer the database's fails that write (`Conflict`).
    pub(super) fn cached_free(&self, user: &UserId, id: CheckoutId) -> Option<Checkout> {
        let read = self.reads.get(id)?;
        let checkout = &read.checkout;
        (checkout.user_id == *user && checkout.lease.is_none()).then(|| checkout.clone())
    }

    /// Checkout `id` may have changed in a way this replica cannot hand over: a write whose
    /// answer was lost (it may have happened), or a change of unknown version. Its cached
    /// read goes before anyone is answered, and its waiters read it again.
    pub(super) fn changed_here(&self, id: CheckoutId) {
        self.reads.invalidate(id);
        self.waiters.wake(id);
    }

    /// A change of checkout `id` was announced (a store change notification), with the
    /// version written when the notification carries one. A version this replica knows
    /// already (its own write coming back, or one read since) drops nothing and wakes nobody;
    /// a newer one, or one without a version (a removal), is another replica's change.
    pub fn checkout_changed(&self, id: CheckoutId, version: Option<i64>) {
        match version {
            Some(version) => {
                self.reads.announced(id, version);
                self.waiters.announce(id, version);
            }
            None => self.changed_here(id),
        }
    }

    /// Other replicas' changes are heard from now on (the change listener is connected).
    pub fn changes_heard(&self) {
        self.reads.listening();
    }

    /// Other replicas' changes may have gone unheard (the listener's connection was lost, or
    /// it stopped): nothing cached is served until they are heard again, and every waiter
    /// looks again now rather than at its next slow re-check.
    pub fn changes_unheard(&self) {
        self.reads.lost();
        self.metrics.read_cache_reset();
        self.waiters.wake_all();
    }

    /// Whether checkout reads may be answered from the cache (tests wait for the listener).
    pub fn serves_cached_reads(&self) -> bool {
        self.reads.is_serving()
    }
}

#[cfg(test)]
mod tests;
