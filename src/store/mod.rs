//! Persistence: one trait per aggregate, each with a Postgres and a SQLite implementation.
//!
//! # Layout
//! - this file: the traits, the [`Store`] bundle and [`Store::connect`].
//! - `sql.rs`: every query text and the row ↔ record conversions, shared by both backends.
//! - `sql_store.rs` (+ `sql_store/`): the trait implementations, written once as macros and
//!   stamped out for `sqlx::Postgres` and `sqlx::Sqlite`.
//! - `postgres.rs`, `sqlite.rs`: what differs per backend — pool setup and the migrator.
//! - `migrations/postgres`, `migrations/sqlite`: the schemas, applied by [`Store::migrate`].
//!
//! Times are stored as integer milliseconds since the epoch in both databases, and "now" is
//! always passed in by the caller, so leases and expiry follow the injected clock and compare
//! the same way on both. JSON parts of a checkout (lines, totals) are stored as text.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::checkout::model::{Checkout, Lease, Order, PaymentSession, SessionTokenHash, UserId};
use crate::checkout::state::CheckoutState;
use crate::ids::{CheckoutId, DeliveryId, OrderId, RunId};
use crate::jobs::model::{
    AttemptResult, Delivery, DeliveryBacklog, DeliveryClaim, DeliveryStatus, Finding, JobName,
    JobRun, RunClaim, RunResult,
};

pub mod changes;
pub mod pool;
pub mod postgres;
mod sql;
mod sql_jobs;
mod sql_leases;
mod sql_sessions;
mod sql_store;
pub mod sqlite;
#[doc(hidden)]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row changed since it was read (optimistic concurrency): re-read and decide again.
    #[error("the record was changed concurrently")]
    Conflict,
    #[error("a record with this key already exists")]
    Duplicate,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The database cannot be reached right now (down, restarting, the pool exhausted): the
    /// request may be tried again; nothing about the data is wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // Postgres' "connection exception" class and its shutdown codes.
            Self::Database(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What an update of a checkout found in its row that its writer may not have known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// A partner asked to release the checkout (`request_release`), perhaps through another
    /// replica, since the writer read it: the flag only ever turns on, and the update returns
    /// it, so the worker needs no read of its own to learn of it.
    pub release_requested: bool,
}

/// Checkouts and their leases.
#[async_trait]
pub trait CheckoutStore: Send + Sync {
    /// Insert a new checkout (its `version` is stored as given, normally 0).
    async fn insert(&self, checkout: &Checkout) -> StoreResult<()>;

    /// Whether [`Self::insert_claiming`] and [`Self::update_claiming`] make their claim in the
    /// write's own statement; when not, they write only and claim nothing.
    fn claims_in_writes(&self) -> bool {
        false
    }

    /// [`Self::insert`] and one send's quota claim (`claim.sends` is ignored: one) in one
    /// statement, where the database can: the slots claimed, 0 or 1 (always 0 where
    /// [`Self::claims_in_writes`] is false). A failed insert claims nothing.
    async fn insert_claiming(
        &self,
        checkout: &Checkout,
        _claim: &SendClaim<'_>,
    ) -> StoreResult<u32> {
        self.insert(checkout).await.map(|()| 0)
    }

    /// [`Self::update`] and one send's quota claim in one statement, as
    /// [`Self::insert_claiming`]; an update that matched nothing claims nothing.
    async fn update_claiming(
        &self,
        checkout: &Checkout,
        _claim: &SendClaim<'_>,
    ) -> StoreResult<(Written, u32)> {
        self.update(checkout).await.map(|written| (written, 0))
    }

    async fn get(&self, id: CheckoutId) -> StoreResult<Option<Checkout>>;

    /// Only the owner's checkout: someone else's is `None` (the API answers 404, never 403).
    async fn get_for_user(&self, id: CheckoutId, user: &UserId) -> StoreResult<Option<Checkout>>;

    /// Write every mutable field if the stored `version` still equals `checkout.version`;
    /// the stored version becomes `checkout.version + 1`. The lease columns are written too.
    /// `Conflict` when the version moved. Returns what the row holds that the writer may not
    /// know (see [`Written`]).
    async fn update(&self, checkout: &Checkout) -> StoreResult<Written>;

    /// Take the lease if it is free, already `owner`'s, or lapsed: the replica its owner names
    /// (`{replica id}/{token}`) was marked dead or retired (see [`ReplicaStore`]), or the owner
    /// names no registered replica and its `until` is before `now` (a lease ending exactly at
    /// `now` still holds). One conditional update, so
    /// of several concurrent callers exactly one wins. Returns the checkout as stored after
    /// taking it (version bumped; `updated_at` untouched), `None` if someone else holds it or
    /// the checkout does not exist.
    async fn try_lease(
        &self,
        id: CheckoutId,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Checkout>>;

    /// [`Self::try_lease`] of `user`'s checkout only (`lease` names the owner and its end):
    /// someone else's checkout is `None`, like a taken or missing one.
    async fn try_lease_for_user(
        &self,
        id: CheckoutId,
        user: &UserId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Checkout>>;

    /// The checkouts whose lease names `replica`, with each lease's owner token.
    async fn leased_by(&self, replica: &str) -> StoreResult<Vec<(CheckoutId, String)>>;

    /// Give the lease back if `owner` still holds it (no version bump needed by callers:
    /// it is bumped here like any write).
    async fn release_lease(&self, id: CheckoutId, owner: &str) -> StoreResult<()>;

    /// Record a purchase in one transaction: write the checkout (with the same version check
    /// as [`CheckoutStore::update`]: `Conflict`) and insert the order (unique per checkout and
    /// per `order_token`: `Duplicate`). On either error neither is stored.
    /// With `notice`, the webhook message announcing the purchase is queued in the same
    /// transaction (a purchase confirmed after it was unconfirmed).
    async fn record_purchase(
        &self,
        checkout: &Checkout,
        order: &Order,
        notice: Option<&crate::jobs::model::Delivery>,
    ) -> StoreResult<()>;

    /// Checkouts in any of `states`, newest first (admin inspection).
    async fn list_by_state(
        &self,
        states: &[CheckoutState],
        limit: u32,
    ) -> StoreResult<Vec<Checkout>>;

    /// `user`'s checkouts for `event_id` whose purchase was asked for and is not settled
    /// (`purchasing`, `purchase_unknown`, `purchase_unconfirmed`), oldest first: the ones an
    /// order upstream found for this user and event could belong to (see
    /// `checkout::reconcile`).
    async fn unsettled_purchases(
        &self,
        user: &UserId,
        event_id: &str,
    ) -> StoreResult<Vec<Checkout>>;

    /// Makes `user`'s unconfirmed purchases of `event_id` due for a lookup at `now` (an order
    /// of theirs was just listed upstream); how many.
    async fn nudge_unconfirmed(
        &self,
        user: &UserId,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Marks that the partner asked to release `id` while a worker reserves it (the worker
    /// picks it up at its next step, or from [`Written`]); `false` when there is no such
    /// checkout or it is no longer `reserving` (then nobody would read the mark).
    async fn request_release(&self, id: CheckoutId) -> StoreResult<bool>;

    /// Ids of checkouts that need a worker at `now` (and whose `next_check_at` has come): no live lease covers them, and either an
    /// operation is pending, or the state is `reserved`/`payment_accepted` and the hold
    /// expired (`hold_expires_at < now`) or the checkout was untouched since
    /// `abandoned_before` (`updated_at < abandoned_before`). Oldest `updated_at` first, at
    /// most `limit`. Only a hint: a worker still takes the lease with `try_lease`.
    async fn due_for_work(
        &self,
        now: DateTime<Utc>,
        abandoned_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CheckoutId>>;

    /// How many checkouts are in each state (for gauges); states with none may be omitted.
    async fn count_by_state(&self) -> StoreResult<Vec<(CheckoutState, i64)>>;
}

/// Which replicas are alive, by the database's clock (see migration 0009): the checkout leases
/// a replica holds last exactly as long as it keeps heartbeating.
#[async_trait]
pub trait ReplicaStore: Send + Sync {
    /// `replica` is alive now (registered the first time). One marked dead earlier is alive
    /// again; the leases another replica took from it meanwhile stay taken.
    async fn heartbeat(&self, replica: &str) -> StoreResult<()>;

    /// Marks dead every live replica but `reaper` whose last heartbeat is older than `stale`
    /// (their leases are free from now on) and forgets replicas dead for longer than
    /// `forget_after`. The ids marked dead.
    async fn reap(
        &self,
        reaper: &str,
        stale: Duration,
        forget_after: Duration,
    ) -> StoreResult<Vec<String>>;

    /// `replica` stopped cleanly: its leases are free at once.
    async fn retire(&self, replica: &str) -> StoreResult<()>;
}

/// The payment sessions of the hosted page (see [`PaymentSession`]), found by their token's
/// hash.
#[async_trait]
pub trait PaymentSessionStore: Send + Sync {
    /// Store a new session; `Duplicate` when its token hash is taken.
    async fn insert(&self, session: &PaymentSession) -> StoreResult<()>;

    /// The session with this token hash, whether it is over or not.
    async fn get(&self, token_hash: &SessionTokenHash) -> StoreResult<Option<PaymentSession>>;

    /// Ends every session of `checkout` that is not over yet (`used_at` becomes `now`; one
    /// already used keeps its time): a payment was accepted for it. How many were ended.
    async fn end_for_checkout(&self, checkout: CheckoutId, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Deletes the sessions whose `expires_at` is before `before`, used or not; how many.
    async fn purge_expired(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// A page of a user's orders, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Pass back as `before` to get the next page.
    pub next: Option<OrderCursor>,
}

/// Position in a newest-first listing: strictly older than this (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCursor {
    pub created_at: DateTime<Utc>,
    pub id: OrderId,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn get_for_user(&self, id: OrderId, user: &UserId) -> StoreResult<Option<Order>>;

    async fn get_by_checkout(&self, checkout: CheckoutId) -> StoreResult<Option<Order>>;

    async fn find_by_token(&self, order_token: &str) -> StoreResult<Option<Order>>;

    async fn list_for_user(
        &self,
        user: &UserId,
        before: Option<OrderCursor>,
        limit: u32,
    ) -> StoreResult<OrderPage>;
}

/// The user ↔ `source_account_id` mapping that lets unredeemed orders be matched back.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Idempotent: the same pair again is fine. A mapping is never changed: the user already
    /// mapped to another account, or the account to another user, is `Duplicate`.
    async fn remember(
        &self,
        user: &UserId,
        source_account_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn user_for(&self, source_account_id: &str) -> StoreResult<Option<UserId>>;
}

/// What a stored idempotent request answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// Identifies an idempotent request: the operation, the user and the client's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// E.g. `create_checkout`, `purchase:chk_…`.
    pub scope: String,
    pub user: UserId,
    pub key: String,
}

/// Outcome of [`IdempotencyStore::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: the caller runs the request and then calls `complete` or `abandon`.
    Started,
    /// Done before with the same fingerprint: replay this.
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Record the key as in progress unless it exists and has not expired at `now` (a key
    /// whose `expires_at <= now` is replaced as if new, whatever its fingerprint). Atomic:
    /// of concurrent first requests exactly one gets `Started`.
    async fn begin(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Begin>;

    /// Take over `key` for the same request (`fingerprint`) when its claim has not been
    /// renewed ([`IdempotencyStore::renew`]) since before `stale_before`: the process running
    /// it died, and the key would otherwise answer "in use" until it expires. `true` when
    /// taken over (claimed and renewed at `now`).
    async fn reclaim_stale(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The request holding the in-progress `key` is still running at `now`: its claim is
    /// renewed, so no repeat takes it over. `false` when the key is not in progress any more
    /// (completed, abandoned, purged). Never moves a renewal back: a `now` before the last
    /// one leaves it as it is.
    async fn renew(&self, key: &IdempotencyKey, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Store the response of an in-progress key; does nothing if the key is not in progress
    /// any more (abandoned, purged or already complete): the request itself has succeeded.
    async fn complete(&self, key: &IdempotencyKey, response: &StoredResponse) -> StoreResult<()>;

    /// Forget an in-progress key (the request failed validation or crashed before upstream).
    /// A completed key is kept: its response must still be replayed.
    async fn abandon(&self, key: &IdempotencyKey) -> StoreResult<()>;

    /// Delete expired keys; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// A claim of sends in the shared quota (see [`QuotaStore::claim_send`]).
#[derive(Debug, Clone, Copy)]
pub struct SendClaim<'a> {
    pub budget: &'a str,
    pub capacity: u32,
    pub now: DateTime<Utc>,
    pub window: TimeDelta,
    /// How many sends to claim at once (at least one).
    pub sends: u32,
}

/// Where a claim starts looking for free slots of a budget of `capacity`: a slot drawn at
/// random, so that concurrent claimers (of every replica) seldom want the same one (see
/// `sql::free_slots`).
pub fn claim_start(capacity: u32) -> i64 {
    use rsa::rand_core::{OsRng, RngCore};
    i64::from(OsRng.next_u32() % capacity.max(1))
}

/// What a [`SendClaim`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This many sends, stamped at the claim's `now` (at least one).
    Granted(u32),
    /// None free: the earliest slot frees then.
    FullUntil(DateTime<Utc>),
}

/// The upstream quota every replica shares: per budget (`second`, `minute`, …) `capacity` send
/// slots, each remembering when it was last used (times come from the callers' clocks, like
/// everything stored). Budgets never share slots.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Claim up to `ask.sends` sends at `ask.now`: slots among the first `ask.capacity` of
    /// `ask.budget` that were last used at or before `now - window` (which ones does not
    /// matter to the quota: each is one send a window). [`Claimed::Granted`] with how many
    /// (at least one, fewer when fewer are free); otherwise when the earliest slot frees (try
    /// again then). Of concurrent callers
    /// each slot goes to at most one, so no `window` ever holds more than `capacity` claims,
    /// and a free slot is not refused.
    async fn claim_send(&self, ask: &SendClaim<'_>) -> StoreResult<Claimed>;
}

/// Scheduled-job runs, their findings and webhook deliveries (see [`crate::jobs::model`]).
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Start (or take over) the run of `claim.job` at `claim.scheduled_at`: one conditional
    /// insert, so of concurrent claimers exactly one gets the run. `None` when the run exists
    /// and is finished, or running under a lease that holds at `claim.now` (`until < now` has
    /// run out). A takeover keeps the run's id and counts one more attempt.
    async fn claim_run(&self, claim: &RunClaim) -> StoreResult<Option<JobRun>>;

    /// Extend the lease if `owner` still holds the running run; `false` when it was lost.
    async fn renew_run(&self, id: RunId, owner: &str, until: DateTime<Utc>) -> StoreResult<bool>;

    /// Record the end of a run `owner` still holds (the lease is dropped); `false` when the
    /// lease was lost (another replica has taken the run over).
    async fn finish_run(&self, id: RunId, owner: &str, result: &RunResult) -> StoreResult<bool>;

    /// The run of `job` the schedule started with the latest `scheduled_at`, if any (manual
    /// runs do not count: they are not scheduled times).
    async fn latest_scheduled_run(&self, job: JobName) -> StoreResult<Option<JobRun>>;

    /// Runs of `job`, latest scheduled first.
    async fn list_runs(&self, job: JobName, limit: u32) -> StoreResult<Vec<JobRun>>;

    /// Store a finding and, for a deliverable one, its webhook message, in one transaction.
    /// Idempotent per (run, order): a run taken over records the same orders again harmlessly,
    /// and the message keeps its first id (the receiver deduplicates by it).
    async fn record_finding(
        &self,
        finding: &Finding,
        delivery: Option<&Delivery>,
    ) -> StoreResult<()>;

    /// A run's findings, by order token.
    async fn findings(&self, run: RunId) -> StoreResult<Vec<Finding>>;

    /// Lease due pending deliveries (oldest due first); each goes to at most one claimer.
    async fn claim_deliveries(&self, claim: &DeliveryClaim) -> StoreResult<Vec<Delivery>>;

    /// Record an attempt on a delivery `owner` leased; `false` when the lease was lost.
    async fn finish_attempt(
        &self,
        id: DeliveryId,
        owner: &str,
        result: &AttemptResult,
    ) -> StoreResult<bool>;

    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>>;

    /// Deliveries in `status`, newest first.
    async fn list_deliveries(
        &self,
        status: DeliveryStatus,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;

    /// Send a dead-lettered delivery again from `now`, with a new retry period ending at
    /// `dead_after`. `false` when it is not dead-lettered (unknown, pending or delivered).
    async fn redrive(
        &self,
        id: DeliveryId,
        now: DateTime<Utc>,
        dead_after: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// How many deliveries are dead-lettered and when the oldest pending one was created.
    async fn delivery_backlog(&self) -> StoreResult<DeliveryBacklog>;
}

/// Schema and reachability.
#[async_trait]
pub trait StoreAdmin: Send + Sync {
    /// Apply this backend's migrations (`migrations/postgres` or `migrations/sqlite`).
    async fn migrate(&self) -> StoreResult<()>;

    /// The database answers and every migration is applied (for `/readyz`). `Ok(false)` when
    /// migrations are missing; `Err` when the database does not answer.
    async fn ready(&self) -> StoreResult<bool>;
}

/// The store as the application holds it.
#[derive(Clone)]
pub struct Store {
    pub checkouts: Arc<dyn CheckoutStore>,
    pub orders: Arc<dyn OrderStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub quota: Arc<dyn QuotaStore>,
    pub jobs: Arc<dyn JobStore>,
    pub replicas: Arc<dyn ReplicaStore>,
    pub payment_sessions: Arc<dyn PaymentSessionStore>,
    pub admin: Arc<dyn StoreAdmin>,
    pub backend: Backend,
    /// Heartbeats and claim renewals. On Postgres they have connections of their own, so no
    /// burst of requests holding the pool can starve them and let this replica's leases lapse.
    pub renewals: Renewals,
}

/// The store's renewal calls (replica heartbeats, job-run leases, Idempotency-Key claims).
#[derive(Clone)]
pub struct Renewals {
    pub replicas: Arc<dyn ReplicaStore>,
    pub jobs: Arc<dyn JobStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
}

impl Renewals {
    /// The renewal calls of `store`, on its connections.
    pub fn of(store: &Store) -> Self {
        Self {
            replicas: store.replicas.clone(),
            jobs: store.jobs.clone(),
            idempotency: store.idempotency.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `postgres://…` or `sqlite://PATH` (the file and its folder are created).
    pub url: String,
    /// Pool size; every replica holds its own pool, so this times the replica count must
    /// stay under the server's limit.
    pub max_connections: u32,
    /// How long a caller waits for a pooled connection: with the database down, requests
    /// answer 503 after this instead of hanging.
    pub acquire_timeout: std::time::Duration,
    /// Postgres `statement_timeout` for every connection of the pool; `None`: the server's.
    pub statement_timeout: Option<std::time::Duration>,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: std::time::Duration::from_secs(2),
            statement_timeout: Some(std::time::Duration::from_secs(15)),
        }
    }

    /// The sizing of a pool of `max_connections` (see [`pool`] for how it differs from
    /// sqlx's own).
    fn sizing(&self, max_connections: u32) -> pool::Sizing {
        pool::Sizing {
            max_connections,
            acquire_timeout: self.acquire_timeout,
            recycle: true,
        }
    }
}

impl Store {
    /// Connect with default pool settings.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(&ConnectOptions::new(url)).await
    }

    pub async fn connect_with(options: &ConnectOptions) -> StoreResult<Self> {
        let url = options.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::connect(options).await
        } else {
            sqlite::connect(url, options).await
        }
    }

    /// Apply the migrations for this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.admin.migrate().await
    }
}
