//! The upstream conversation of one checkout, run by whoever holds its lease: open the cart
//! and reserve, purchase, or release, following polling replies until a final answer. Every
//! step is persisted before the next call, so another worker can continue from the stored
//! polling URL if this one dies.

use std::sync::Arc;

use chrono::TimeDelta;
use serde::de::DeserializeOwned;

use super::convert;
use super::error::{ErrorCode, RecordError};
use super::lifecycle::Hold;
use super::model::{Checkout, CheckoutFailure, Operation, Order, PendingPoll};
use super::service::CheckoutService;
use super::state::{CheckoutState, InvalidTransition};
use crate::ids::OrderId;
use crate::store::StoreError;
use crate::upstream::backoff::backoff;
use crate::upstream::{
    CallContext, FailureKind, FollowError, Priority, Reply, UpstreamError, wire,
};

/// Transient upstream trouble (5xx on a safe step, a 409 from a cart still busy upstream) is
/// retried this many times with backoff before the step fails.
const TRANSIENT_RETRIES: u32 = 4;

/// How often a purchase waiting for an older one of the same user and event looks again.
const SERIAL_PURCHASE_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// What one step decided.
pub(super) enum Next {
    /// Go on driving (state or poll changed and was saved).
    Continue,
    /// Nothing more to do under this lease.
    Stop,
}

/// A step's failure as partners read it once its retries ran out.
const GAVE_UP: &str = "ticketing did not answer after several tries";

impl CheckoutService {
    /// Drive `checkout` (whose lease `owner` holds) in the background until its operation
    /// settles. `captcha` is only known to the request that created the checkout.
    pub(super) fn spawn_driver(
        self: &Arc<Self>,
        checkout: Checkout,
        owner: String,
        captcha: Option<String>,
    ) {
        let service = self.clone();
        self.tasks.spawn_on(
            async move {
                let id = checkout.id;
                let heartbeat = service.heartbeat(id, owner.clone());
                let carried = Carried {
                    captcha,
                    reserve_sent_at: None,
                };
                service.drive(checkout, &owner, carried).await;
                drop(heartbeat);
                service.unlease(id, &owner).await;
            },
            &self.runtime,
        );
    }

    async fn drive(self: &Arc<Self>, mut checkout: Checkout, owner: &str, mut carried: Carried) {
        let mut transient = 0;
        loop {
            if !self.next_step_due(&checkout).await {
                tracing::info!(checkout_id = %checkout.id, state = checkout.state.as_str(), "shutting down: checkout handed back");
                return;
            }
            let step = match (checkout.state, checkout.operation) {
                (CheckoutState::Reserving, Some(Operation::Reserve))
                    if self.release_asked(&mut checkout).await =>
                {
                    self.give_up_reserving(&mut checkout, owner).await
                }
                (CheckoutState::Reserving, Some(Operation::Reserve)) => {
                    self.step_reserve(&mut checkout, owner, &mut carried).await
                }
                (CheckoutState::Purchasing, Some(Operation::Purchase)) => {
                    self.step_purchase(&mut checkout, owner).await
                }
                (
                    CheckoutState::PurchaseUnknown | CheckoutState::PurchaseUnconfirmed,
                    Some(Operation::Purchase),
                ) => self.step_reconcile(&mut checkout, owner).await,
                (CheckoutState::Releasing, Some(Operation::Release)) => {
                    self.step_release(&mut checkout, owner).await
                }
                _ => return,
            };
            match step {
                Ok(Next::Continue) => transient = 0,
                Ok(Next::Stop) => return,
                Err(StepError::Transient(e)) if transient < TRANSIENT_RETRIES => {
                    transient += 1;
                    let backoff = backoff(transient);
                    tracing::warn!(checkout_id = %checkout.id, error = %e, ?backoff, "upstream step will be retried");
                    tokio::time::sleep(backoff).await;
                }
                Err(StepError::Transient(e)) if checkout.state == CheckoutState::Purchasing => {
                    // Polls of a sent purchase kept failing: its outcome is unknown, and
                    // failing it here could leave a charged user without an order.
                    transient = 0;
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "purchase polls kept failing");
                    if let Err(e) = self
                        .purchase_outcome_lost(&mut checkout, owner, GAVE_UP.into())
                        .await
                    {
                        tracing::error!(checkout_id = %checkout.id, error = %e, "driver stopped");
                        return;
                    }
                }
                Err(StepError::Transient(e)) => {
                    // The error (upstream's words, a transport's error) stays in the logs.
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "upstream step failed after retries");
                    let failure = CheckoutFailure::new(ErrorCode::UpstreamUnavailable, GAVE_UP);
                    self.fail(&mut checkout, owner, failure).await;
                    return;
                }
                Err(StepError::Record(e)) => {
                    // The row moved under us (lease lost) or the database failed: stop; the
                    // lease runs out and a resumer continues from what was persisted.
                    tracing::error!(checkout_id = %checkout.id, error = %e, "driver stopped");
                    return;
                }
            }
        }
    }

    /// Whether the partner asked to release this checkout while it was being reserved (read
    /// from the store between polls: the request came through another process, perhaps).
    async fn release_asked(&self, checkout: &mut Checkout) -> bool {
        if checkout.release_requested {
            return true;
        }
        if let Ok(Some(stored)) = self.store.checkouts.get(checkout.id).await {
            checkout.release_requested = stored.release_requested;
        }
        checkout.release_requested
    }

    /// Stop following a reservation the partner gave up on and delete its cart (or, before a
    /// cart was opened, just end): the docs' cleanup advice.
    async fn give_up_reserving(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        tracing::info!(checkout_id = %checkout.id, "reservation given up by the partner; deleting the cart");
        self.apply(checkout, Checkout::begin_release)?;
        self.save(checkout, owner).await?;
        Ok(Next::Continue)
    }

    /// Wait until the next step may run (a stored poll's `wait`); false when shutdown asks the
    /// driver to hand the checkout back instead. Only persisted points are handed back: a
    /// stored polling URL, a release or a reconciliation, all of which a resumer continues;
    /// a first request not yet sent runs (it is what turns into a polling URL).
    async fn next_step_due(&self, checkout: &Checkout) -> bool {
        let resumable = checkout.poll.is_some()
            || matches!(
                checkout.state,
                CheckoutState::Releasing
                    | CheckoutState::PurchaseUnknown
                    | CheckoutState::PurchaseUnconfirmed
            );
        let due = checkout
            .poll
            .as_ref()
            .and_then(|poll| (poll.not_before - self.now()).to_std().ok());
        if !resumable {
            return true;
        }
        tokio::select! {
            _ = self.stopping.cancelled() => false,
            _ = tokio::time::sleep(due.unwrap_or_default()) => !self.stopping.is_cancelled(),
        }
    }

    /// Send the stored poll; [`Self::next_step_due`] has waited out its `wait`.
    async fn send_poll<T: DeserializeOwned>(
        &self,
        ctx: &CallContext,
        poll: &PendingPoll,
        of: Operation,
    ) -> Result<Reply<T>, UpstreamError> {
        self.api.metrics().poll(of.as_str());
        self.api.poll(ctx, &poll.url).await
    }

    async fn remember_poll(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        ticket: crate::upstream::PollTicket,
    ) -> Result<Next, StepError> {
        if let Some(of) = checkout.operation {
            self.api.metrics().poll_wait(of.as_str(), ticket.wait);
        }
        let wait = TimeDelta::from_std(ticket.wait).unwrap_or(TimeDelta::seconds(4));
        checkout.await_poll(PendingPoll {
            url: ticket.url,
            not_before: self.now() + wait,
        });
        self.save(checkout, owner).await?;
        Ok(Next::Continue)
    }

    /// `POST /cart` with the captcha token, following a polling answer to the cart id. The
    /// token stays in `captcha` until a cart is opened with it, so a transient failure is
    /// retried with it; it only ever lives in this task's memory.
    async fn step_open_cart(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        captcha: &mut Option<String>,
    ) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Reserve);
        let reply = match (&checkout.poll, captcha.as_deref()) {
            (Some(poll), _) => {
                self.send_poll(&ctx.critical(), poll, Operation::Reserve)
                    .await
            }
            (None, Some(token)) => self.api.open_cart(&ctx, token).await,
            (None, None) => {
                // Resumed before the cart was opened: the captcha token is gone with the
                // request that brought it, and nothing is held upstream.
                let f = CheckoutFailure::new(
                    ErrorCode::CaptchaInvalid,
                    "the checkout was interrupted before its cart opened; start again",
                );
                self.fail(checkout, owner, f).await;
                return Ok(Next::Stop);
            }
        };
        match reply {
            Ok(Reply::Poll(ticket)) => self.remember_poll(checkout, owner, ticket).await,
            Ok(Reply::Done(session)) => {
                let session: wire::CartSession = session;
                *captcha = None;
                checkout.cart_opened(session.cart_id);
                self.save(checkout, owner).await?;
                Ok(Next::Continue)
            }
            // A cart session holds no seats: asking again (with the same token) is safe.
            Err(e) if is_transient(&e) && !matches!(e, UpstreamError::PollGone) => {
                Err(StepError::Transient(e))
            }
            Err(e) => self.upstream_failed(checkout, owner, e).await,
        }
    }

    async fn step_reserve(
        self: &Arc<Self>,
        checkout: &mut Checkout,
        owner: &str,
        carried: &mut Carried,
    ) -> Result<Next, StepError> {
        let Some(cart_id) = checkout.cart_id.clone() else {
            return self
                .step_open_cart(checkout, owner, &mut carried.captcha)
                .await;
        };
        let ctx = self.context_of(checkout, Priority::Reserve);
        let reply = match &checkout.poll {
            Some(poll) => {
                self.send_poll(&ctx.critical(), poll, Operation::Reserve)
                    .await
            }
            None => {
                let request = wire::ReserveRequest {
                    cart_id: cart_id.clone(),
                    event: wire::ReserveEvent {
                        id: checkout.event_id.clone(),
                        tickets: checkout
                            .requested
                            .iter()
                            .map(|t| wire::ReserveTicket {
                                id: t.ticket_id.clone(),
                                quantity: t.quantity,
                                price: t.price_level_id.map(|id| wire::PriceRef { id }),
                                areas: Vec::new(),
                            })
                            .collect(),
                    },
                };
                carried.reserve_sent_at = Some(self.now());
                self.api.reserve(&ctx, &request).await
            }
        };
        match reply {
            Ok(Reply::Poll(ticket)) => self.remember_poll(checkout, owner, ticket).await,
            Ok(Reply::Done(resp)) => {
                let resp: wire::CartResponse = resp;
                // Resumed by another worker, the send time is not known: the checkout's creation
                // is earlier still.
                let sent_at = carried.reserve_sent_at.unwrap_or(checkout.created_at);
                let hold = Hold {
                    lines: convert::lines(&resp.cart),
                    totals: convert::totals(&resp.cart, "USD"),
                    expires_at: convert::hold_expires_at(&resp.cart, sent_at),
                };
                self.apply(checkout, |c| c.reserved(hold))?;
                if checkout.release_requested {
                    self.apply(checkout, Checkout::begin_release)?;
                }
                self.save(checkout, owner).await?;
                Ok(Next::Continue)
            }
            Err(e) => self.upstream_failed(checkout, owner, e).await,
        }
    }

    async fn step_purchase(&self, checkout: &mut Checkout, owner: &str) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Critical);
        let Some(cart_id) = checkout.cart_id.clone() else {
            let f = CheckoutFailure::new(ErrorCode::InvalidState, "no cart to purchase");
            self.fail(checkout, owner, f).await;
            return Ok(Next::Stop);
        };
        let reply = match &checkout.poll {
            Some(poll) => self.send_poll(&ctx, poll, Operation::Purchase).await,
            None => {
                if self.older_purchase_unsettled(checkout).await? {
                    // One lost purchase of a user and event in doubt at a time, so that an
                    // order found upstream can be told apart (see `reconcile`).
                    tokio::select! {
                        _ = self.stopping.cancelled() => return Ok(Next::Stop),
                        _ = tokio::time::sleep(SERIAL_PURCHASE_PAUSE) => {}
                    }
                    return Ok(Next::Continue);
                }
                if checkout.purchase_started_at.is_none() {
                    // Written ahead of the send: a worker that takes this checkout over can
                    // tell a purchase never sent (it sends it) from one that may have been
                    // (it reconciles, never re-sends).
                    checkout.purchase_started_at = Some(self.now());
                    self.save(checkout, owner).await?;
                }
                let request = wire::PurchaseRequest {
                    cart_id,
                    source_account_id: self.source_account_id(&checkout.user_id),
                };
                self.api.purchase(&ctx, &request).await
            }
        };
        let sent_now = checkout.poll.is_none();
        match reply {
            Ok(Reply::Poll(ticket)) => self.remember_poll(checkout, owner, ticket).await,
            Ok(Reply::Done(resp)) => {
                self.record_order(checkout, Sale::Confirmed(resp)).await?;
                Ok(Next::Stop)
            }
            // A poll is a read: trouble with it is retried, the purchase itself stands. But a
            // poll that is gone took the purchase's answer with it: reconcile, as for a lost
            // answer to the purchase itself.
            Err(e) if !sent_now && is_transient(&e) && !matches!(e, UpstreamError::PollGone) => {
                Err(StepError::Transient(e))
            }
            // Refused before upstream acted (a 429, a busy cart, a connection refused): not
            // sent, so it may be sent again.
            Err(e) if sent_now && is_transient(&e) && !e.outcome_unknown() => {
                Err(StepError::Transient(e))
            }
            Err(e) if e.outcome_unknown() => {
                // The purchase may have happened: never send it again. Reconciliation
                // (order lookup, cart release) decides; partners see `purchasing` meanwhile.
                tracing::warn!(checkout_id = %checkout.id, error = %e, "purchase answer lost");
                self.purchase_outcome_lost(checkout, owner, e.partner_detail())
                    .await?;
                Ok(Next::Continue)
            }
            Err(e) => self.upstream_failed(checkout, owner, e).await,
        }
    }

    /// Whether an older purchase of the same user and event is still waiting for its answer
    /// or being reconciled.
    async fn older_purchase_unsettled(&self, checkout: &Checkout) -> Result<bool, StepError> {
        let unsettled = self
            .store
            .checkouts
            .unsettled_purchases(&checkout.user_id, &checkout.event_id)
            .await?;
        Ok(unsettled.iter().any(|other| {
            matches!(
                other.state,
                CheckoutState::Purchasing | CheckoutState::PurchaseUnknown
            ) && (other.created_at, other.id) < (checkout.created_at, checkout.id)
        }))
    }

    pub(super) async fn purchase_outcome_lost(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        reason: String,
    ) -> Result<(), RecordError> {
        tracing::warn!(checkout_id = %checkout.id, %reason, "purchase outcome unknown");
        self.apply(checkout, |c| c.purchase_outcome_lost(reason))?;
        self.save(checkout, owner).await?;
        Ok(())
    }

    pub(super) async fn record_order(
        &self,
        checkout: &mut Checkout,
        sale: Sale,
    ) -> Result<(), StepError> {
        // A partner told "unconfirmed" is told again when it is settled.
        let announce = checkout.state == CheckoutState::PurchaseUnconfirmed;
        let (order_token, redemption_url, app_url, grand_total) = match sale {
            Sale::Confirmed(resp) => (
                resp.order_token,
                resp.redemption_url,
                resp.tm_app_url,
                resp.grand_total.map_or_else(
                    || {
                        checkout
                            .totals
                            .as_ref()
                            .map(|t| t.grand)
                            .unwrap_or_default()
                    },
                    super::model::Cents::from_decimal,
                ),
            ),
            // Upstream's order listing carries no redemption links: Ticketmaster's email
            // does. The total is the checkout's own.
            Sale::Found(found) => (
                found.order_token,
                String::new(),
                String::new(),
                checkout
                    .totals
                    .as_ref()
                    .map(|t| t.grand)
                    .unwrap_or_default(),
            ),
        };
        let order = Order {
            id: OrderId::new(),
            checkout_id: checkout.id,
            user_id: checkout.user_id.clone(),
            event_id: checkout.event_id.clone(),
            order_token,
            redemption_url,
            app_url,
            grand_total,
            currency: checkout
                .totals
                .as_ref()
                .map_or_else(|| "USD".to_owned(), |t| t.currency.clone()),
            source_account_id: self.source_account_id(&checkout.user_id),
            created_at: self.now(),
        };
        self.apply(checkout, |c| c.purchased(order.id))?;
        checkout.updated_at = self.now();
        let notice = announce
            .then(|| super::notice::purchase_confirmed(self, checkout, &order))
            .flatten();
        self.store
            .checkouts
            .record_purchase(checkout, &order, notice.as_ref())
            .await?;
        if notice.is_some() {
            self.notices_queued.notify_one();
        }
        checkout.version += 1;
        self.waiters.wake(checkout.id);
        Ok(())
    }

    async fn step_release(&self, checkout: &mut Checkout, owner: &str) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Release);
        let reply = match (&checkout.poll, checkout.cart_id.clone()) {
            (Some(poll), _) => self.send_poll(&ctx, poll, Operation::Release).await,
            (None, Some(cart_id)) => self.api.delete_cart(&ctx, &cart_id).await,
            (None, None) => Ok(Reply::Done(serde::de::IgnoredAny)),
        };
        match reply {
            Ok(Reply::Poll(ticket)) => self.remember_poll(checkout, owner, ticket).await,
            Ok(Reply::Done(_)) => self.released(checkout, owner).await,
            // The deletion's answer was lost with its poll: delete again (a cart already gone
            // answers 404, below).
            Err(UpstreamError::PollGone) => {
                checkout.forget_poll();
                self.save(checkout, owner).await?;
                Ok(Next::Continue)
            }
            // Already gone upstream (expired or deleted): nothing is held.
            Err(e) if e.kind() == FailureKind::CartGone => self.released(checkout, owner).await,
            Err(e) if is_transient(&e) => Err(StepError::Transient(e)),
            // Refused, with the hold run out by our clock: what upstream holds is gone anyway
            // (some readings refuse the deletion of an expired cart).
            Err(e) if checkout.hold_expires_at.is_some_and(|at| at <= self.now()) => {
                tracing::info!(checkout_id = %checkout.id, error = %e, "deletion of an expired cart refused; nothing is held");
                self.released(checkout, owner).await
            }
            Err(e) => {
                tracing::info!(checkout_id = %checkout.id, error = %e, "cart deletion refused");
                let f = refused_by_upstream(ErrorCode::from_upstream(e.kind()), &e);
                self.fail(checkout, owner, f).await;
                Ok(Next::Stop)
            }
        }
    }

    async fn released(&self, checkout: &mut Checkout, owner: &str) -> Result<Next, StepError> {
        self.apply(checkout, Checkout::release_completed)?;
        self.save(checkout, owner).await?;
        Ok(Next::Stop)
    }

    /// A definite upstream refusal ends the operation; transient trouble is retried.
    async fn upstream_failed(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        e: UpstreamError,
    ) -> Result<Next, StepError> {
        if matches!(e, UpstreamError::PollGone) {
            // The reservation's answer was lost with its poll: seats may be held. Fail, and
            // `fail` deletes the cart so that none stay held.
            let f = CheckoutFailure::new(ErrorCode::UpstreamUnavailable, e.partner_detail());
            self.fail(checkout, owner, f).await;
            return Ok(Next::Stop);
        }
        if is_transient(&e) && checkout.poll.is_some() {
            // A poll is a safe read: try it again.
            return Err(StepError::Transient(e));
        }
        if is_transient(&e)
            && checkout.operation == Some(Operation::Reserve)
            && !e.outcome_unknown()
        {
            return Err(StepError::Transient(e));
        }
        let code = match e.kind() {
            FailureKind::CartGone if checkout.state == CheckoutState::Reserving => {
                ErrorCode::UpstreamUnavailable
            }
            kind => ErrorCode::from_upstream(kind),
        };
        tracing::info!(checkout_id = %checkout.id, error = %e, "upstream refused the operation");
        let f = refused_by_upstream(code, &e);
        self.fail(checkout, owner, f).await;
        Ok(Next::Stop)
    }

    /// End the operation in `failed`, and give back any seats the cart may still hold.
    pub(super) async fn fail(&self, checkout: &mut Checkout, owner: &str, f: CheckoutFailure) {
        tracing::info!(checkout_id = %checkout.id, code = f.code.as_str(), "checkout failed");
        if self.apply(checkout, |c| c.fail(f)).is_err() {
            return;
        }
        if self.save(checkout, owner).await.is_ok() {
            self.release_owed_cart(checkout, owner).await;
        }
    }

    /// Sends the `DELETE /cart` that a checkout ended `failed` or `expired` still owes, marked
    /// by `operation = release` (saved with the final state, before the call: persist, then
    /// call). Once upstream confirms the cart is gone the mark is cleared and the lease freed.
    /// Otherwise the mark stays, and when the lease runs out the resumer of some replica sends
    /// it again, so no hold outlives its checkout (found by the soak: a deletion refused once
    /// left the seats held by a `failed` checkout nobody looked at again).
    pub(super) async fn release_owed_cart(&self, checkout: &mut Checkout, owner: &str) {
        let (Some(Operation::Release), Some(cart)) = (checkout.operation, checkout.cart_id.clone())
        else {
            return;
        };
        let ctx = self.context_of(checkout, Priority::Release);
        match self.api.delete_cart_to_the_end(&ctx, &cart).await {
            // No answer: sent again later.
            Err(e) if unanswered(&e) => {
                tracing::warn!(checkout_id = %checkout.id, error = %e, "could not delete a cart upstream; it will be tried again");
                return;
            }
            // Any answer settles it. Deleted, or gone already (deleted, or the hold ran out);
            // a refusal of a cart that expired or never opened is how some readings of the
            // docs answer (`docs/upstream-assumptions.md` row 2), and asking again would get
            // the same answer.
            Err(FollowError::Upstream(e)) if e.kind() != FailureKind::CartGone => {
                tracing::warn!(checkout_id = %checkout.id, error = %e, "upstream refused a cart deletion; not sent again");
            }
            _ => {}
        }
        checkout.owed_release_settled();
        if let Err(e) = self.save(checkout, owner).await {
            tracing::warn!(checkout_id = %checkout.id, error = %e, "could not record a cart's deletion");
        }
    }
}

impl CallContext {
    /// Polls of in-flight operations go first in the quota.
    fn critical(&self) -> CallContext {
        CallContext {
            priority: Priority::Critical,
            ..self.clone()
        }
    }
}

/// What the driver holds in memory only: the captcha token (for the request that created the
/// checkout) and when it sent the reserve.
pub(super) struct Carried {
    pub(super) captcha: Option<String>,
    pub(super) reserve_sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a purchase became known.
pub(super) enum Sale {
    /// Upstream's answer to the purchase.
    Confirmed(wire::PurchaseResponse),
    /// Found among upstream's orders during reconciliation.
    Found(wire::UnredeemedOrder),
}

/// Why a step could not go on.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    /// Upstream trouble that may pass: the step is tried again, with backoff.
    #[error(transparent)]
    Transient(UpstreamError),
    /// The checkout's own record could not be kept: the driver stops, and its lease runs out.
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        Self::Record(e.into())
    }
}

impl From<InvalidTransition> for StepError {
    fn from(e: InvalidTransition) -> Self {
        Self::Record(e.into())
    }
}

pub(super) fn is_transient(e: &UpstreamError) -> bool {
    matches!(
        e.kind(),
        FailureKind::Unavailable | FailureKind::Conflict | FailureKind::RateLimited
    )
}

/// Whether following an operation ended with no answer that settles it: trouble that may pass,
/// or no final answer at all. The operation is asked for again later.
pub(super) fn unanswered(e: &FollowError) -> bool {
    match e {
        FollowError::Upstream(e) => is_transient(e),
        FollowError::GaveUp { .. } => true,
    }
}

/// Upstream's refusal as partners read it, with upstream's own code.
fn refused_by_upstream(code: ErrorCode, e: &UpstreamError) -> CheckoutFailure {
    CheckoutFailure::new(code, e.partner_detail()).with_upstream_code(e.upstream_code())
}
