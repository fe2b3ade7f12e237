//! The checkout state machine: states, the events that move them, and one pure transition
//! function. Every state change in the gateway goes through [`transition`], so the diagram in
//! `docs/state-machine.md` and the code cannot drift apart.

use serde::{Deserialize, Serialize};

/// Where a checkout stands. `PurchaseUnknown` is internal: partners see it as `purchasing`,
/// because from their side the purchase is still running (it is being reconciled).
/// `PurchaseUnconfirmed` is what partners see when that reconciliation found no proof either
/// way in its time: the purchase may or may not have happened; lookups go on, and it becomes
/// `purchased` when the order is found. It is never turned into "nothing was charged".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutState {
    Reserving,
    Reserved,
    Paying,
    PaymentAccepted,
    Purchasing,
    PurchaseUnknown,
    PurchaseUnconfirmed,
    Purchased,
    Releasing,
    Released,
    Expired,
    Failed,
}

impl CheckoutState {
    pub const ALL: [CheckoutState; 12] = [
        Self::Reserving,
        Self::Reserved,
        Self::Paying,
        Self::PaymentAccepted,
        Self::Purchasing,
        Self::PurchaseUnknown,
        Self::PurchaseUnconfirmed,
        Self::Purchased,
        Self::Releasing,
        Self::Released,
        Self::Expired,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserving => "reserving",
            Self::Reserved => "reserved",
            Self::Paying => "paying",
            Self::PaymentAccepted => "payment_accepted",
            Self::Purchasing => "purchasing",
            Self::PurchaseUnknown => "purchase_unknown",
            Self::PurchaseUnconfirmed => "purchase_unconfirmed",
            Self::Purchased => "purchased",
            Self::Releasing => "releasing",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The state partners see.
    pub fn public(self) -> Self {
        match self {
            Self::PurchaseUnknown => Self::Purchasing,
            other => other,
        }
    }

    /// An upstream operation is under way; `Prefer: wait` waits while this holds.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Self::Reserving
                | Self::Paying
                | Self::Purchasing
                | Self::PurchaseUnknown
                | Self::Releasing
        )
    }

    /// The purchase was asked for and its outcome is not known yet: a partner's answer is 202
    /// (pending, or unconfirmed), never a settled 200.
    pub fn awaits_outcome(self) -> bool {
        self.is_pending() || self == Self::PurchaseUnconfirmed
    }

    /// Nothing more will happen to this checkout.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Purchased | Self::Released | Self::Expired | Self::Failed
        )
    }

    /// Upstream holds seats for this checkout.
    pub fn holds_seats(self) -> bool {
        matches!(self, Self::Reserved | Self::PaymentAccepted | Self::Paying)
    }
}

/// What happened. Each is raised by one component (noted), see `docs/state-machine.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutEvent {
    /// Driver: upstream reserved the seats.
    Reserved,
    /// HTTP: the user sent payment details.
    PaymentSubmitted,
    /// Driver: upstream accepted the payment.
    PaymentAccepted,
    /// Driver: upstream declined the payment; the hold stays, the user may try again.
    PaymentDeclined,
    /// HTTP: the user asked to purchase.
    PurchaseRequested,
    /// Driver: upstream returned the order.
    Purchased,
    /// Driver: the purchase was sent but its outcome was lost (timeout, dropped, 5xx).
    PurchaseOutcomeLost,
    /// Driver: reconciliation found no proof either way in its time.
    PurchaseUnconfirmed,
    /// HTTP or sweeper: release the hold.
    ReleaseRequested,
    /// Driver: upstream deleted the cart.
    ReleaseCompleted,
    /// Sweeper or driver: the hold ran out.
    HoldExpired,
    /// Driver: the operation failed for good.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} does not apply to a checkout in state {from:?}")]
pub struct InvalidTransition {
    pub from: CheckoutState,
    pub event: CheckoutEvent,
}

/// The one place that decides which state an event leads to.
pub fn transition(
    from: CheckoutState,
    event: CheckoutEvent,
) -> Result<CheckoutState, InvalidTransition> {
    use CheckoutEvent as E;
    use CheckoutState as S;
    let to = match (from, event) {
        (S::Reserving, E::Reserved) => S::Reserved,
        (S::Reserved, E::PaymentSubmitted) => S::Paying,
        // A second card may replace the first while the hold lasts.
        (S::PaymentAccepted, E::PaymentSubmitted) => S::Paying,
        (S::Paying, E::PaymentAccepted) => S::PaymentAccepted,
        (S::Paying, E::PaymentDeclined) => S::Reserved,
        (S::PaymentAccepted, E::PurchaseRequested) => S::Purchasing,
        (S::Purchasing | S::PurchaseUnknown | S::PurchaseUnconfirmed, E::Purchased) => S::Purchased,
        (S::Purchasing, E::PurchaseOutcomeLost) => S::PurchaseUnknown,
        (S::PurchaseUnknown, E::PurchaseUnconfirmed) => S::PurchaseUnconfirmed,
        (S::Reserving | S::Reserved | S::PaymentAccepted, E::ReleaseRequested) => S::Releasing,
        (S::Releasing, E::ReleaseCompleted) => S::Released,
        (S::Reserved | S::Paying | S::PaymentAccepted | S::Releasing, E::HoldExpired) => S::Expired,
        // A purchase whose outcome is unknown leaves only with proof (an order found): it may
        // have charged the user, so nothing may call it failed.
        (s, E::Failed) if s.is_pending() && s != S::PurchaseUnknown => S::Failed,
        _ => return Err(InvalidTransition { from, event }),
    };
    Ok(to)
}

impl crate::metrics::LabelSet for CheckoutState {
    const ALL: &'static [Self] = &Self::ALL;

    fn label(self) -> &'static str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckoutEvent as E;
    use CheckoutState as S;

    const EVENTS: [CheckoutEvent; 12] = [
        E::Reserved,
        E::PaymentSubmitted,
        E::PaymentAccepted,
        E::PaymentDeclined,
        E::PurchaseRequested,
        E::Purchased,
        E::PurchaseOutcomeLost,
        E::PurchaseUnconfirmed,
        E::ReleaseRequested,
        E::ReleaseCompleted,
        E::HoldExpired,
        E::Failed,
    ];

    /// Every allowed edge, written out once more as a table: the test fails if the function
    /// allows an edge that is not here, or refuses one that is.
    const EDGES: &[(CheckoutState, CheckoutEvent, CheckoutState)] = &[
        (S::Reserving, E::Reserved, S::Reserved),
        (S::Reserving, E::Failed, S::Failed),
        (S::Reserving, E::ReleaseRequested, S::Releasing),
        (S::Reserved, E::PaymentSubmitted, S::Paying),
        (S::Reserved, E::ReleaseRequested, S::Releasing),
        (S::Reserved, E::HoldExpired, S::Expired),
        (S::Paying, E::PaymentAccepted, S::PaymentAccepted),
        (S::Paying, E::PaymentDeclined, S::Reserved),
        (S::Paying, E::HoldExpired, S::Expired),
        (S::Paying, E::Failed, S::Failed),
        (S::PaymentAccepted, E::PaymentSubmitted, S::Paying),
        (S::PaymentAccepted, E::PurchaseRequested, S::Purchasing),
        (S::PaymentAccepted, E::ReleaseRequested, S::Releasing),
        (S::PaymentAccepted, E::HoldExpired, S::Expired),
        (S::Purchasing, E::Purchased, S::Purchased),
        (S::Purchasing, E::PurchaseOutcomeLost, S::PurchaseUnknown),
        (S::Purchasing, E::Failed, S::Failed),
        (S::PurchaseUnknown, E::Purchased, S::Purchased),
        (
            S::PurchaseUnknown,
            E::PurchaseUnconfirmed,
            S::PurchaseUnconfirmed,
        ),
        (S::PurchaseUnconfirmed, E::Purchased, S::Purchased),
        (S::Releasing, E::ReleaseCompleted, S::Released),
        (S::Releasing, E::HoldExpired, S::Expired),
        (S::Releasing, E::Failed, S::Failed),
    ];

    #[test]
    fn every_state_and_event_pair_matches_the_edge_table() {
        for from in CheckoutState::ALL {
            for event in EVENTS {
                let expected = EDGES
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                assert_eq!(
                    transition(from, event).ok(),
                    expected,
                    "{from:?} + {event:?}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_purchase_leaves_only_for_an_order_or_unconfirmed() {
        for event in EVENTS {
            let allowed = matches!(event, E::Purchased | E::PurchaseUnconfirmed);
            assert_eq!(
                transition(S::PurchaseUnknown, event).is_ok(),
                allowed,
                "{event:?}"
            );
        }
        for from in [S::PurchaseUnknown, S::PurchaseUnconfirmed] {
            assert!(transition(from, E::Failed).is_err(), "{from:?}");
        }
    }

    #[test]
    fn final_states_accept_nothing() {
        for from in CheckoutState::ALL.into_iter().filter(|s| s.is_final()) {
            for event in EVENTS {
                assert!(transition(from, event).is_err(), "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_purchase_unknown_is_hidden() {
        for s in CheckoutState::ALL {
            assert_eq!(CheckoutState::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::PurchaseUnknown.public(), S::Purchasing);
    }
}
