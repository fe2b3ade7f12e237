//! Taking over checkouts that need a worker: a replica died mid-operation (its lease ran
//! out), a hold expired, or the user walked away. Called by the background worker of every
//! replica; the lease makes sure each checkout is handled by exactly one.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::{CheckoutError, ErrorCode};
use super::model::{Checkout, CheckoutFailure, Operation};
use super::service::CheckoutService;
use super::state::CheckoutState;
use crate::ids::CheckoutId;

/// What [`CheckoutService::resume`] did (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// Another worker holds it.
    Busy,
    /// An interrupted operation is being continued (polling, release, reconciliation).
    Continued,
    /// An operation that cannot be continued was ended (`failed`, or payment undone).
    Ended,
    /// The hold ran out: `expired`, cart deleted.
    Expired,
    /// Abandoned: the release started.
    Releasing,
    /// An unconfirmed purchase's next lookup started.
    Rechecked,
    /// Nothing to do.
    Idle,
}

impl CheckoutService {
    /// Take `id` over if nobody holds it and decide what it needs. Checkouts untouched since
    /// `abandoned_before` that still hold seats are released.
    pub async fn resume(
        self: &Arc<Self>,
        id: CheckoutId,
        abandoned_before: DateTime<Utc>,
    ) -> Result<Resumed, CheckoutError> {
        let owner = self.lease_owner();
        let Some(mut checkout) = self.lease(id, &owner).await? else {
            return Ok(Resumed::Busy);
        };
        let resumed = match checkout.state {
            CheckoutState::Reserving if checkout.poll.is_some() => Resumed::Continued,
            CheckoutState::Reserving => {
                // Whether the reserve reached upstream is unknown and re-sending it could
                // double the seats: give the cart back and let the user start again.
                let f = CheckoutFailure::new(
                    ErrorCode::UpstreamUnavailable,
                    "the reservation was interrupted; please start again",
                );
                self.fail(&mut checkout, &owner, f).await;
                Resumed::Ended
            }
            CheckoutState::Paying => {
                // The card is gone with the request that carried it: the user sends it again.
                self.payment_interrupted(&mut checkout, &owner).await?;
                Resumed::Ended
            }
            // Never sent (nothing is sent before its send time is saved): send it now, as
            // the partner asked.
            CheckoutState::Purchasing
                if checkout.poll.is_none() && checkout.purchase_started_at.is_none() =>
            {
                Resumed::Continued
            }
            CheckoutState::Purchasing if checkout.poll.is_none() => {
                // Sent or not, nobody knows: reconcile, never re-send.
                self.purchase_outcome_lost(
                    &mut checkout,
                    &owner,
                    "the worker sending the purchase stopped".into(),
                )
                .await?;
                Resumed::Continued
            }
            CheckoutState::Purchasing
            | CheckoutState::PurchaseUnknown
            | CheckoutState::Releasing => Resumed::Continued,
            // Its next lookup is due (the store only lists it then).
            CheckoutState::PurchaseUnconfirmed
                if checkout.operation == Some(Operation::Purchase) =>
            {
                Resumed::Rechecked
            }
            CheckoutState::Failed | CheckoutState::Expired
                if checkout.operation == Some(Operation::Release) =>
            {
                // Ended, but the cart's deletion is still owed (refused, or its worker died).
                self.metrics.takeover();
                self.release_owed_cart(&mut checkout, &owner).await;
                return Ok(Resumed::Continued);
            }
            CheckoutState::Reserved | CheckoutState::PaymentAccepted
                if self.hold_ran_out(&checkout) =>
            {
                let _expired = self.expire(checkout, &owner).await;
                return Ok(Resumed::Expired);
            }
            CheckoutState::Reserved | CheckoutState::PaymentAccepted
                if checkout.updated_at < abandoned_before =>
            {
                self.apply(&mut checkout, Checkout::begin_release)?;
                self.save(&mut checkout, &owner).await?;
                Resumed::Releasing
            }
            _ => Resumed::Idle,
        };
        if matches!(resumed, Resumed::Continued | Resumed::Ended) {
            // An operation another worker started (its lease lapsed) is continued or ended.
            self.metrics.takeover();
        }
        if matches!(
            resumed,
            Resumed::Continued | Resumed::Releasing | Resumed::Rechecked
        ) {
            tracing::info!(checkout_id = %id, ?resumed, state = checkout.state.as_str(), "checkout taken over");
            self.spawn_driver(checkout, owner, None);
        } else {
            self.unlease(id, &owner).await;
        }
        Ok(resumed)
    }
}
