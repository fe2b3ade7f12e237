//! The checkout use cases: create (reserve), read, purchase, release; orders. Each user action
//! becomes a row change first and an upstream call second ("persist, then call"); the
//! upstream conversation of a checkout is owned by one worker at a time through a lease in
//! the store, so upstream never sees two concurrent updates of a cart, whatever clients do.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use secrecy::SecretString;

use super::catalog::EventCatalog;
use super::error::{CheckoutError, ErrorCode, Refusal};
use super::events::prerequisite;
use super::lease::{Start, Taking};
use super::model::{Checkout, CheckoutFailure, Lease, Operation, Order, TicketRequest, UserId};
use super::reads::ReadCache;
use super::state::CheckoutState;
use super::waiters::Waiters;
use crate::clock::SharedClock;
use crate::context::AppContext;
use crate::digest::keyed_digest;
use crate::ids::{CheckoutId, OrderId};
use crate::liveness::{LeaseToken, Liveness};
use crate::metrics::{LeaseTaking, Metrics};
use crate::payment_crypto::CertificateCache;
use crate::store::{Backend, OrderCursor, OrderPage, Store, StoreError};
use crate::upstream::PartnerApi;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the service behaves; built from `Settings` at start-up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long a lease holds by itself (`checkout.lease_secs`), for owners no replica row vouches
    /// for; a live replica's leases hold regardless.
    pub lease: Duration,
    pub source_account_key: SecretString,
    /// See `checkout.unconfirmed_after_secs`.
    pub unconfirmed_after: Duration,
    /// How often a request waiting on a checkout re-reads it without being woken
    /// (`checkout.wait_recheck_secs`): for a lease that simply ran out, which no write announces.
    pub wait_recheck: Duration,
    /// `Some(retry period)` when a webhook is configured: a purchase confirmed after it was
    /// unconfirmed is announced there, retried for this long.
    pub notices: Option<Duration>,
    /// The hosted page's sessions: their lifetime and the return URLs allowed.
    pub payment_sessions: super::payment_session::SessionSettings,
}

/// Who is asking, as the HTTP layer established it.
#[derive(Debug, Clone)]
pub struct Requester {
    pub user: UserId,
    /// The end user's address (`True-Client-IP`).
    pub client_ip: String,
}

/// `POST /v1/checkouts` after parsing.
#[derive(Debug, Clone)]
pub struct NewCheckout {
    pub event_id: String,
    pub captcha_token: String,
    pub tickets: Vec<TicketRequest>,
}

/// The checkout use cases. Its parts are its own: callers get use cases, not the store or the
/// upstream client (those are in the [`AppContext`] they were given).
pub struct CheckoutService {
    pub(super) store: Store,
    pub(super) api: Arc<PartnerApi>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) catalog: EventCatalog,
    pub(super) captcha_page: super::events::CaptchaCache,
    pub(super) certificates: CertificateCache,
    pub(super) clock: SharedClock,
    pub(super) config: ServiceConfig,
    /// This replica: its lease tokens (see [`crate::liveness`]).
    pub(super) liveness: Arc<Liveness>,
    /// Users whose `source_account_id` mapping this replica has seen stored.
    pub(super) accounts_known: moka::sync::Cache<String, ()>,
    /// Orders this replica recorded or read lately, by checkout: an order never changes once
    /// recorded, so the answer to the purchase that recorded it (and the reads after) need not
    /// read it back.
    pub(super) recent_orders: moka::sync::Cache<CheckoutId, Order>,
    pub(super) waiters: Waiters,
    /// The answers of `GET /v1/checkouts/{id}`, as last read (see [`super::reads`]).
    pub(super) reads: ReadCache,
    /// Cancelled at shutdown: drivers hand their checkouts back at the next safe point.
    pub(super) stopping: CancellationToken,
    /// Drivers and payments running in the background, awaited at shutdown.
    pub(super) tasks: TaskTracker,
    /// The runtime that built the service. Background work runs there, not on the HTTP
    /// worker that happened to start it: a draining worker's runtime stops with it, and
    /// would take a driver down mid-hand-back.
    pub(super) runtime: tokio::runtime::Handle,
    /// Notified when a webhook message was queued (the delivery worker sends it at once).
    pub(super) notices_queued: Arc<tokio::sync::Notify>,
    /// Turns for driver steps other than a purchase's (see `CheckoutService::drive`).
    pub(super) step_turns: tokio::sync::Semaphore,
}

/// Users whose account mapping one replica remembers as stored (then it asks the store again).
const ACCOUNTS_KNOWN: u64 = 100_000;

/// Orders one replica keeps at hand (see `CheckoutService::recent_orders`), and for how long
/// one unread stays: long enough for the purchase's answer and the partner's reads after it.
const RECENT_ORDERS: u64 = 10_000;
const RECENT_ORDER_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

impl CheckoutService {
    pub fn new(context: &AppContext, catalog: EventCatalog, config: ServiceConfig) -> Arc<Self> {
        Arc::new(Self {
            store: context.store.clone(),
            api: context.upstream.clone(),
            metrics: context.metrics.clone(),
            catalog,
            captcha_page: Default::default(),
            certificates: CertificateCache::new(),
            clock: context.clock.clone(),
            config,
            liveness: context.liveness.clone(),
            accounts_known: moka::sync::Cache::new(ACCOUNTS_KNOWN),
            recent_orders: moka::sync::Cache::builder()
                .max_capacity(RECENT_ORDERS)
                .time_to_idle(RECENT_ORDER_IDLE)
                .build(),
            waiters: Waiters::default(),
            reads: match context.store.backend {
                Backend::Sqlite => ReadCache::own_writes_only(),
                Backend::Postgres => ReadCache::following_changes(),
            },
            stopping: CancellationToken::new(),
            tasks: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
            notices_queued: context.notices_queued.clone(),
            step_turns: tokio::sync::Semaphore::new(super::driver::STEPS_AT_ONCE),
        })
    }

    /// Stores `user`'s `source_account_id` mapping before their purchase. A user whose mapping
    /// this replica has seen stored costs no round trip: the mapping is derived from the user
    /// id with the configured key, so it cannot change under a running replica.
    async fn remember_account(&self, user: &UserId) -> Result<(), CheckoutError> {
        if self.accounts_known.contains_key(user.as_str()) {
            return Ok(());
        }
        let source_account_id = self.source_account_id(user);
        self.store
            .accounts
            .remember(user, &source_account_id, self.now())
            .await?;
        self.accounts_known.insert(user.as_str().to_owned(), ());
        Ok(())
    }

    /// How many times the payment certificate was fetched from upstream (it is cached).
    pub fn certificate_fetches(&self) -> u64 {
        self.certificates.fetch_count()
    }

    /// Shutdown: stop starting upstream work, let each driver hand its checkout back (the
    /// lease released, so another replica resumes at once) at its next safe point — never
    /// while a request to upstream is outstanding — and wait up to `grace` for them.
    /// Returns how many tasks were still running when `grace` ran out.
    pub async fn hand_back(&self, grace: Duration) -> usize {
        self.stopping.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(running = self.tasks.len(), "shutdown grace ran out");
        }
        self.tasks.len()
    }

    /// True once shutdown began (readiness turns false).
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// The clock to the millisecond, as the store keeps time (`clock::to_millis`): a record
    /// this replica writes and keeps (handed to waiters, cached, driven on) is then exactly the
    /// one a read returns, and compares with other records as theirs do.
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(3)
    }

    /// `source_account_id` for a user: an HMAC of the user id (32 hex characters, like the
    /// docs' example), so upstream never learns the partner's ids and the gateway can map back.
    pub(super) fn source_account_id(&self, user: &UserId) -> String {
        let digest = keyed_digest(&self.config.source_account_key, &[user.as_str().as_bytes()]);
        hex::encode(&digest[..16])
    }

    // ------------------------------------------------------------ create

    /// Create the checkout, open the cart and reserve. Returns once the reservation settled
    /// or `wait` ran out (then the checkout is still `reserving`).
    pub async fn create(
        self: &Arc<Self>,
        who: &Requester,
        new: NewCheckout,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        let deadline = tokio::time::Instant::now() + wait;
        let info = self
            .event_info(&new.event_id, &who.user, prerequisite(wait))
            .await?;
        info.check_request(&new.tickets)?;
        self.refuse_in_maintenance(&info)?;
        let now = self.now();
        let owner = self.lease_owner();
        let checkout = Checkout {
            id: CheckoutId::new(),
            user_id: who.user.clone(),
            event_id: info.event_id.clone(),
            state: CheckoutState::Reserving,
            cart_id: None,
            requested: new.tickets,
            lines: Vec::new(),
            totals: None,
            hold_expires_at: None,
            payment: None,
            order_id: None,
            failure: None,
            operation: Some(Operation::Reserve),
            poll: None,
            release_requested: false,
            client_ip: who.client_ip.clone(),
            lease: Some(Lease {
                owner: owner.to_string(),
                until: now + self.lease_span(),
            }),
            version: 0,
            created_at: now,
            updated_at: now,
            purchase_started_at: None,
            next_check_at: None,
        };
        // The cart is opened right after: its quota slot is claimed with the row's insert, or
        // while it is written.
        let checkouts = &self.store.checkouts;
        match self.claim_to_make() {
            Some((ahead, claim)) => {
                let claimed = checkouts.insert_claiming(&checkout, &claim).await?;
                ahead.granted(claimed);
            }
            None => {
                let insert = checkouts.insert(&checkout);
                let (inserted, ()) = tokio::join!(insert, self.api.claim_ahead());
                inserted?;
            }
        }
        let captcha = Some(new.captcha_token);
        let settled = self.drive_and_wait(checkout, owner, captcha, time_left(deadline));
        failure_as_error(settled.await?)
    }

    // ------------------------------------------------------------ read (see `reads`)

    pub(super) async fn owned(
        &self,
        user: &UserId,
        id: CheckoutId,
    ) -> Result<Checkout, CheckoutError> {
        self.store
            .checkouts
            .get_for_user(id, user)
            .await?
            .ok_or(CheckoutError::NotFound)
    }

    // ------------------------------------------------------------ purchase

    /// Exactly once: only the request that moves the checkout from `payment_accepted` to
    /// `purchasing` (under the lease) sends the purchase; every other request waits for and
    /// returns that one's outcome. From this replica's own record of the checkout when it has
    /// one with no lease on it, the write to `purchasing` takes the lease too (see
    /// [`Self::cached_free`]); otherwise, or when that record is not the database's any more,
    /// the lease is taken by a statement of its own.
    pub async fn purchase(
        self: &Arc<Self>,
        who: &Requester,
        id: CheckoutId,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        let deadline = tokio::time::Instant::now() + wait;
        let cached = self
            .cached_free(&who.user, id)
            .filter(|c| c.state == CheckoutState::PaymentAccepted && !self.hold_ran_out(c));
        if let Some(cached) = cached {
            let owner = self.lease_owner();
            if let Some(settled) = self.purchase_leased(who, cached, owner, deadline).await? {
                return Ok(settled);
            }
        }
        let owner = self.lease_owner();
        let leased = match self.lease_own(&who.user, id, &owner).await? {
            Taking::Leased(leased) => leased,
            Taking::Busy(checkout) => {
                if checkout.state != CheckoutState::PaymentAccepted {
                    return self.purchase_not_sent(checkout, wait).await;
                }
                let leased = self.lease_when_free(id, &owner, time_left(deadline));
                let Some(leased) = leased.await? else {
                    // Someone else is still driving this checkout: answer with where it stands.
                    return failure_as_error(self.wait_settled(id, Duration::ZERO).await?);
                };
                leased
            }
        };
        self.metrics.operation_lease(LeaseTaking::OwnStatement);
        let settled = self.purchase_leased(who, leased, owner, deadline).await?;
        // Leased by its own statement, a conflicting write is the store's error, not a `None`.
        settled.ok_or(CheckoutError::Store(StoreError::Conflict))
    }

    /// The purchase once the checkout is in hand: `leased` holds the lease, or none when it is
    /// this replica's record, to be leased by the write to `purchasing`; `None` then says the
    /// record was not the database's any more (nothing was written or sent).
    async fn purchase_leased(
        self: &Arc<Self>,
        who: &Requester,
        mut leased: Checkout,
        owner: LeaseToken,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Checkout>, CheckoutError> {
        let wait = time_left(deadline);
        if leased.state != CheckoutState::PaymentAccepted {
            self.unlease_unless_settled(&leased, &owner).await;
            return self.purchase_not_sent(leased, wait).await.map(Some);
        }
        let info = self.event_info(&leased.event_id, &who.user, prerequisite(wait));
        let open = match info.await {
            Ok(info) => self.refuse_in_maintenance(&info),
            Err(e) => Err(e),
        };
        if let Err(e) = open {
            self.unlease_unless_settled(&leased, &owner).await;
            return Err(e);
        }
        if self.hold_ran_out(&leased) {
            return self.hold_ran_out_before_start(leased, &owner).await;
        }
        self.remember_account(&who.user).await?;
        self.apply(&mut leased, Checkout::begin_purchase)?;
        // The send time goes out with this write rather than one of its own just before the
        // send: the driver looks at the other purchases of this user and event after it, and
        // sends at once unless one of them goes first; then it clears the time before it
        // waits (see `purchase_must_wait`).
        leased.purchase_started_at = Some(self.now());
        if let Start::StaleRecord = self.write_start(&mut leased, &owner).await? {
            return Ok(None);
        }
        let settled = self.drive_and_wait(leased, owner, None, time_left(deadline));
        failure_as_error(settled.await?).map(Some)
    }

    /// The answer to a purchase request that will not send one: the checkout is not (or no
    /// longer) in `payment_accepted`, so it is purchased, being purchased, or cannot be.
    async fn purchase_not_sent(
        &self,
        current: Checkout,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        match current.state {
            // Asked for, outcome not confirmed: never sent again; the partner sees where it is.
            CheckoutState::Purchased | CheckoutState::PurchaseUnconfirmed => Ok(current),
            CheckoutState::Purchasing | CheckoutState::PurchaseUnknown => {
                failure_as_error(self.wait_settled(current.id, wait).await?)
            }
            state => Err(CheckoutError::InvalidState {
                state,
                action: "purchase",
            }),
        }
    }

    // ------------------------------------------------------------ release

    /// Release the hold. `Ok(checkout)` in `released`/`expired`/`failed` means nothing is
    /// held any more; in `releasing` (or still `reserving`) the release continues.
    pub async fn release(
        self: &Arc<Self>,
        who: &Requester,
        id: CheckoutId,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        let checkout = self.owned(&who.user, id).await?;
        if checkout.state.is_final() {
            return match checkout.state {
                CheckoutState::Purchased => Err(CheckoutError::InvalidState {
                    state: checkout.state,
                    action: "release",
                }),
                _ => Ok(checkout),
            };
        }
        if checkout.state == CheckoutState::Releasing {
            return self.wait_settled(id, wait).await;
        }
        if matches!(
            checkout.state,
            CheckoutState::Purchasing
                | CheckoutState::PurchaseUnknown
                | CheckoutState::PurchaseUnconfirmed
        ) {
            return Err(CheckoutError::InvalidState {
                state: checkout.state,
                action: "release",
            });
        }
        if checkout.state == CheckoutState::Reserving {
            // The docs' cleanup advice: a client that no longer wants to wait through a
            // reservation's polling deletes the cart. The worker polling it does so at its
            // next step (a reservation not yet answered may still hold seats).
            if self.store.checkouts.request_release(id).await? {
                return self.wait_settled(id, wait).await;
            }
            // Reserved (or failed) meanwhile: release it as it is now.
            return Box::pin(self.release(who, id, wait)).await;
        }
        let owner = self.lease_owner();
        // An operation (reserve or payment) may run: let it finish, then release.
        match self.lease_when_free(id, &owner, wait).await? {
            Some(leased) => self.start_release(leased, owner, wait).await,
            None => self.wait_settled(id, Duration::ZERO).await,
        }
    }

    async fn start_release(
        self: &Arc<Self>,
        mut leased: Checkout,
        owner: LeaseToken,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        let id = leased.id;
        match leased.state {
            CheckoutState::Reserved | CheckoutState::PaymentAccepted => {
                self.apply(&mut leased, Checkout::begin_release)?;
                self.save(&mut leased, &owner).await?;
                self.drive_and_wait(leased, owner, None, wait).await
            }
            CheckoutState::Purchased => {
                self.unlease(id, &owner).await;
                Err(CheckoutError::InvalidState {
                    state: leased.state,
                    action: "release",
                })
            }
            _ => {
                self.unlease(id, &owner).await;
                Ok(leased)
            }
        }
    }

    // ------------------------------------------------------------ orders

    pub async fn order(&self, user: &UserId, id: OrderId) -> Result<Order, CheckoutError> {
        self.store
            .orders
            .get_for_user(id, user)
            .await?
            .ok_or(CheckoutError::NotFound)
    }

    pub async fn order_of(&self, checkout: &Checkout) -> Result<Option<Order>, CheckoutError> {
        if checkout.order_id.is_none() {
            return Ok(None);
        }
        if let Some(order) = self.recent_orders.get(&checkout.id) {
            return Ok(Some(order));
        }
        let order = self.store.orders.get_by_checkout(checkout.id).await?;
        if let Some(order) = &order {
            self.recent_orders.insert(checkout.id, order.clone());
        }
        Ok(order)
    }

    pub async fn orders(
        &self,
        user: &UserId,
        before: Option<OrderCursor>,
        limit: u32,
    ) -> Result<OrderPage, CheckoutError> {
        Ok(self.store.orders.list_for_user(user, before, limit).await?)
    }
}

/// A checkout that ended `failed` answers with its problem (and its id); any other state is
/// returned as is.
fn failure_as_error(checkout: Checkout) -> Result<Checkout, CheckoutError> {
    if checkout.state != CheckoutState::Failed {
        return Ok(checkout);
    }
    let failure = checkout.failure.clone().unwrap_or(CheckoutFailure::new(
        ErrorCode::UpstreamUnavailable,
        "the operation failed",
    ));
    let code = failure.code;
    Err(CheckoutError::Refused(Refusal {
        code,
        message: failure.message,
        upstream_code: failure.upstream_code,
        checkout_id: Some(checkout.id),
        retry_after: code.default_retry_after(),
    }))
}

/// What is left of a request's wait.
fn time_left(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}
