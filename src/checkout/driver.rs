//! The upstream conversation of one checkout, run by whoever holds its lease: open the cart
//! and reserve, purchase, or release, following polling replies until a final answer. Every
//! step is persisted before the next call, so another worker can continue from the stored
//! polling URL if this one dies.
//!
//! # Layout
//! - here: the loop that runs the steps, retries transient trouble and stops on a record that
//!   cannot be kept; the polls every step shares; what a definite refusal ends in.
//! - [`reserve`], [`purchase`], [`release`]: the steps of each operation (reconciling a lost
//!   purchase is `checkout::reconcile`'s).

mod purchase;
mod release;
mod reserve;

use std::sync::Arc;

use chrono::TimeDelta;
use serde::de::DeserializeOwned;

pub(super) use self::purchase::Sale;
use super::error::{ErrorCode, RecordError};
use super::model::{Checkout, CheckoutFailure, Operation, PendingPoll};
use super::service::CheckoutService;
use super::state::{CheckoutState, InvalidTransition};
use crate::liveness::LeaseToken;
use crate::store::StoreError;
use crate::upstream::backoff::backoff;
use crate::upstream::{CallContext, FailureKind, FollowError, Priority, Reply, UpstreamError};

/// Transient upstream trouble (5xx on a safe step, a 409 from a cart still busy upstream) is
/// retried this many times with backoff before the step fails.
const TRANSIENT_RETRIES: u32 = 4;

/// What one step decided.
pub(super) enum Next {
    /// Go on driving (state or poll changed and was saved).
    Continue,
    /// Nothing more to do under this lease.
    Stop,
}

/// Driver steps (other than a purchase's) running at once on a replica. A step holds its
/// upstream call's state while it waits for its send in the quota: during a burst (100,000
/// creates) every checkout's step was alive at once, queued behind the quota, and the memory
/// they held stayed with the process after. With turns, a step waiting for one holds only its
/// checkout. Far above what the quota keeps busy (2,000 sends a second at 0.5 s each).
pub(super) const STEPS_AT_ONCE: usize = 1024;

/// A step's failure as partners read it once its retries ran out.
const GAVE_UP: &str = "ticketing did not answer after several tries";

impl CheckoutService {
    /// Drive `checkout` (whose lease `owner` holds) in the background until its operation
    /// settles. `captcha` is only known to the request that created the checkout.
    pub(super) fn spawn_driver(
        self: &Arc<Self>,
        checkout: Checkout,
        owner: LeaseToken,
        captcha: Option<String>,
    ) {
        let service = self.clone();
        let driver = async move {
            let mut checkout = checkout;
            let carried = Carried {
                captcha,
                reserve_sent_at: None,
            };
            service.drive(&mut checkout, &owner, carried).await;
            Box::pin(service.unlease_unless_settled(&checkout, &owner)).await;
        };
        self.tasks.spawn_on(driver, &self.runtime);
    }

    /// Each step (and each settling write) is boxed: a future is as large as the largest
    /// state it can be in, and a driver spends nearly all its life waiting out a poll between
    /// steps. Inline, every checkout in flight kept room for the deepest step's state the
    /// whole time (4.8 KB per driver task); boxed, a step's state lives only while it runs
    /// (1.5 KB per task).
    async fn drive(self: &Arc<Self>, checkout: &mut Checkout, owner: &str, mut carried: Carried) {
        let mut transient = 0;
        loop {
            if !self.next_step_due(checkout).await {
                tracing::info!(checkout_id = %checkout.id, state = checkout.state.as_str(), "shutting down: checkout handed back");
                return;
            }
            // A purchase's steps never wait for a turn: money is on the line, and there is
            // never a burst of them (each is a partner's request).
            let turn = match checkout.operation {
                Some(Operation::Purchase) => None,
                _ => self.step_turns.acquire().await.ok(),
            };
            let step = match (checkout.state, checkout.operation) {
                (CheckoutState::Reserving, Some(Operation::Reserve))
                    if Box::pin(self.release_asked(checkout)).await =>
                {
                    Box::pin(self.give_up_reserving(checkout, owner)).await
                }
                (CheckoutState::Reserving, Some(Operation::Reserve)) => {
                    Box::pin(self.step_reserve(checkout, owner, &mut carried)).await
                }
                (CheckoutState::Purchasing, Some(Operation::Purchase)) => {
                    Box::pin(self.step_purchase(checkout, owner)).await
                }
                (
                    CheckoutState::PurchaseUnknown | CheckoutState::PurchaseUnconfirmed,
                    Some(Operation::Purchase),
                ) => Box::pin(self.step_reconcile(checkout, owner)).await,
                (CheckoutState::Releasing, Some(Operation::Release)) => {
                    Box::pin(self.step_release(checkout, owner)).await
                }
                _ => return,
            };
            drop(turn);
            match step {
                Ok(Next::Continue) => transient = 0,
                Ok(Next::Stop) => return,
                Err(StepError::Transient(e)) if transient < TRANSIENT_RETRIES => {
                    transient += 1;
                    let backoff = backoff(transient);
                    tracing::warn!(checkout_id = %checkout.id, error = %e, ?backoff, "upstream step will be retried");
                    tokio::time::sleep(backoff).await;
                }
                Err(StepError::Transient(e))
                    if checkout.state == CheckoutState::Purchasing && checkout.poll.is_some() =>
                {
                    // Polls of a sent purchase kept failing: its outcome is unknown, and
                    // failing it here could leave a charged user without an order. (Without
                    // a poll, every try so far was refused before it left — a 429, no access
                    // token, a connection refused; one that may have left is reconciled
                    // at once — so nothing was charged: it fails below.)
                    transient = 0;
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "purchase polls kept failing");
                    let lost = self.purchase_outcome_lost(checkout, owner, GAVE_UP.into());
                    if let Err(e) = Box::pin(lost).await {
                        tracing::error!(checkout_id = %checkout.id, error = %e, "driver stopped");
                        return;
                    }
                }
                Err(StepError::Transient(e)) => {
                    // The error (upstream's words, a transport's error) stays in the logs.
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "upstream step failed after retries");
                    let failure = CheckoutFailure::new(ErrorCode::UpstreamUnavailable, GAVE_UP);
                    Box::pin(self.fail(checkout, owner, failure)).await;
                    return;
                }
                Err(StepError::Record(e)) => {
                    // The row moved under us (lease lost) or the database failed: stop; the
                    // lease is handed back (or, failing that, given back by the sweeper) and a
                    // resumer continues from what was persisted.
                    tracing::error!(checkout_id = %checkout.id, error = %e, "driver stopped");
                    return;
                }
            }
        }
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
        self.metrics.poll(of.as_str());
        self.api.poll(ctx, &poll.url).await
    }

    async fn remember_poll(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        ticket: crate::upstream::PollTicket,
    ) -> Result<Next, StepError> {
        if let Some(of) = checkout.operation {
            self.metrics.poll_wait(of.as_str(), ticket.wait);
        }
        let wait = TimeDelta::from_std(ticket.wait).unwrap_or(TimeDelta::seconds(4));
        checkout.await_poll(PendingPoll {
            url: ticket.url,
            not_before: self.now() + wait,
        });
        self.save(checkout, owner).await?;
        Ok(Next::Continue)
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

/// Why a step could not go on.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    /// Upstream trouble that may pass: the step is tried again, with backoff.
    #[error(transparent)]
    Transient(UpstreamError),
    /// The checkout's own record could not be kept: the driver stops and hands its lease back.
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
