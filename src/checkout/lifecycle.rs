//! What each change of a checkout does to its record: the state (through
//! [`transition`], the one place that decides where an event leads) together with the upstream
//! operation it runs, its stored poll and the failure partners see. Nothing outside this module
//! writes those four fields of a [`Checkout`]; a change that does not apply to the checkout's
//! state is refused before anything is written.
//!
//! A method that moves the state returns a [`Moved`] for the caller to record (the service's
//! `apply` logs it and counts it); the others keep the state and only follow the operation.

use chrono::{DateTime, Utc};

use super::model::{
    Checkout, CheckoutFailure, ErrorCode, Operation, PaymentSummary, PendingPoll, TicketLine,
    Totals,
};
use super::state::{CheckoutEvent, CheckoutState, InvalidTransition, transition};
use crate::ids::OrderId;

/// A transition a checkout went through, to be logged and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a transition is recorded: pass the change to `CheckoutService::apply`"]
pub struct Moved {
    pub from: CheckoutState,
    pub to: CheckoutState,
}

/// What upstream reserved.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub lines: Vec<TicketLine>,
    pub totals: Totals,
    pub expires_at: DateTime<Utc>,
}

/// Partners read this when an interrupted payment is to be sent again.
const PAYMENT_INTERRUPTED: &str = "the payment was interrupted; please send it again";

/// Partners read this when the hold ran out by the gateway's clock.
pub const HOLD_RAN_OUT: &str = "the hold on the tickets ran out";

const PURCHASE_UNCONFIRMED: &str = "the purchase was sent but its answer was lost, and no order \
     has been found upstream yet: it is not confirmed either way, and must not be sent again; \
     the checkout becomes purchased if the order is found";

impl Checkout {
    /// Something is still to happen without the partner asking: an operation is under way,
    /// or a reservation the partner asked to release while it ran has just settled (its
    /// driver takes it again to release it). A request waiting on the checkout waits on.
    pub fn settling(&self) -> bool {
        self.state.is_pending() || (self.state == CheckoutState::Reserved && self.release_requested)
    }

    /// Move the state by `event`, or refuse without changing anything.
    fn moved_by(&mut self, event: CheckoutEvent) -> Result<Moved, InvalidTransition> {
        let from = self.state;
        let to = transition(from, event)?;
        self.state = to;
        Ok(Moved { from, to })
    }

    // ------------------------------------------------------------ reserve

    /// Upstream opened the cart; the reservation is sent next (its own poll, if any).
    pub fn cart_opened(&mut self, cart_id: String) {
        self.cart_id = Some(cart_id);
        self.poll = None;
    }

    /// Upstream reserved the seats: the reserve operation is over.
    pub fn reserved(&mut self, hold: Hold) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::Reserved)?;
        self.lines = hold.lines;
        self.totals = Some(hold.totals);
        self.hold_expires_at = Some(hold.expires_at);
        self.operation = None;
        self.poll = None;
        Ok(moved)
    }

    // ------------------------------------------------------------ polls

    /// Upstream answered "poll this later": where the running operation continues.
    pub fn await_poll(&mut self, poll: PendingPoll) {
        self.poll = Some(poll);
    }

    /// The stored poll is gone with its answer: the operation's request is sent again.
    pub fn forget_poll(&mut self) {
        self.poll = None;
    }

    // ------------------------------------------------------------ payment

    /// The user sent a card: it is added to the cart now; an earlier refusal no longer shows.
    pub fn begin_payment(&mut self) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::PaymentSubmitted)?;
        self.operation = Some(Operation::Payment);
        self.failure = None;
        Ok(moved)
    }

    pub fn payment_accepted(&mut self, card: PaymentSummary) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::PaymentAccepted)?;
        self.operation = None;
        self.payment = Some(card);
        Ok(moved)
    }

    /// Upstream refused the payment. A refusal saying the hold is gone ends the checkout
    /// `expired` (upstream holds nothing, so no deletion is owed); any other keeps the hold,
    /// and the user may send another card.
    pub fn payment_refused(
        &mut self,
        failure: CheckoutFailure,
    ) -> Result<Moved, InvalidTransition> {
        let event = if failure.code == ErrorCode::HoldExpired {
            CheckoutEvent::HoldExpired
        } else {
            CheckoutEvent::PaymentDeclined
        };
        let moved = self.moved_by(event)?;
        self.operation = None;
        self.failure = Some(failure);
        Ok(moved)
    }

    /// A payment that did not finish: back to payable, the card is to be sent again.
    pub fn payment_interrupted(&mut self) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::PaymentDeclined)?;
        self.operation = None;
        self.failure = Some(CheckoutFailure::new(
            ErrorCode::UpstreamUnavailable,
            PAYMENT_INTERRUPTED,
        ));
        Ok(moved)
    }

    // ------------------------------------------------------------ purchase

    /// The partner asked to purchase. The send time is cleared: the driver saves it just
    /// before the purchase goes out, which is how a purchase never sent is told apart.
    pub fn begin_purchase(&mut self) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::PurchaseRequested)?;
        self.operation = Some(Operation::Purchase);
        self.poll = None;
        self.failure = None;
        self.purchase_started_at = None;
        Ok(moved)
    }

    /// The purchase's answer was lost: it is reconciled (the operation goes on), never sent
    /// again. `reason` is what partners read meanwhile.
    pub fn purchase_outcome_lost(&mut self, reason: String) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::PurchaseOutcomeLost)?;
        self.poll = None;
        self.failure = Some(CheckoutFailure::new(ErrorCode::UpstreamUnavailable, reason));
        Ok(moved)
    }

    /// No proof either way in time: looked up again from `next_check_at`.
    pub fn purchase_unconfirmed(
        &mut self,
        next_check_at: DateTime<Utc>,
    ) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::PurchaseUnconfirmed)?;
        self.failure = Some(CheckoutFailure::new(
            ErrorCode::PurchaseUnconfirmed,
            PURCHASE_UNCONFIRMED,
        ));
        self.next_check_at = Some(next_check_at);
        Ok(moved)
    }

    /// An unconfirmed purchase is no longer looked up on its own (only an order listed by the
    /// unredeemed-orders job brings it up again).
    pub fn stop_rechecking(&mut self) {
        self.operation = None;
        self.next_check_at = None;
    }

    /// The purchase is known to have happened: `order` records it.
    pub fn purchased(&mut self, order: OrderId) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::Purchased)?;
        self.order_id = Some(order);
        self.operation = None;
        self.poll = None;
        self.failure = None;
        self.next_check_at = None;
        Ok(moved)
    }

    // ------------------------------------------------------------ release and endings

    /// The hold is to be given back: the cart's deletion is the operation now.
    pub fn begin_release(&mut self) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::ReleaseRequested)?;
        self.operation = Some(Operation::Release);
        self.poll = None;
        Ok(moved)
    }

    pub fn release_completed(&mut self) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::ReleaseCompleted)?;
        self.operation = None;
        self.poll = None;
        Ok(moved)
    }

    /// The hold ran out by the gateway's clock. Upstream's hold may outlive that idea of it,
    /// so a cart's deletion is owed all the same.
    pub fn expire(&mut self) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::HoldExpired)?;
        self.operation = self.cart_id.is_some().then_some(Operation::Release);
        self.poll = None;
        self.failure = Some(CheckoutFailure::new(ErrorCode::HoldExpired, HOLD_RAN_OUT));
        Ok(moved)
    }

    /// The operation failed for good. A cart's deletion is owed unless the failure says the
    /// hold is gone already.
    pub fn fail(&mut self, failure: CheckoutFailure) -> Result<Moved, InvalidTransition> {
        let moved = self.moved_by(CheckoutEvent::Failed)?;
        let gone = failure.code == ErrorCode::HoldExpired;
        self.operation = (self.cart_id.is_some() && !gone).then_some(Operation::Release);
        self.poll = None;
        self.failure = Some(failure);
        Ok(moved)
    }

    /// The deletion a `failed` or `expired` checkout owed is settled (upstream answered).
    pub fn owed_release_settled(&mut self) {
        self.operation = None;
    }
}

#[cfg(test)]
mod tests;
