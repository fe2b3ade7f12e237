//! Reconciling a purchase whose outcome was lost (timeout, dropped connection, 5xx after the
//! request left). The purchase is never sent again. Instead:
//! 1. upstream's orders (`GET /orders/unredeemed`) are searched for one with this user's
//!    `source_account_id`, this event, placed since the purchase was sent, and not yet
//!    recorded by another checkout — found, and this checkout's to take (below): the checkout
//!    is `purchased` with that order;
//! 2. after a few lookups, or at once when an order found could be another checkout's, the
//!    cart is deleted: a cart upstream lets us delete was not purchased and now never can be —
//!    the checkout is `failed` with that reason. A cart that refuses deletion (purchased, or a
//!    purchase still running) keeps us looking;
//! 3. a cart upstream no longer knows (404: an earlier deletion of ours went through but its
//!    answer was lost, or the hold ran out) cannot be purchased any more either: once a
//!    lookup made after that finds no order for it, the checkout is `failed` the same way.
//!    (Found by the soak: a deletion whose answer was lost left every later one a 404, and
//!    the checkout `purchase_unknown` for good.)
//!
//! Upstream's order listing names no cart, so an order is known only by user, event and time.
//! When the same user has other purchases of the same event in flight, an order found could be
//! theirs. It is then taken only by a checkout whose cart upstream refused to delete (so it
//! was purchased), once no other purchase of that user and event still waits for its own
//! answer (which names its order exactly), and by the oldest such checkout first. (Found by
//! the soak: a lost purchase that never happened took a concurrent purchase's order.)
//!
//! When neither settles it, the checkout stays `purchase_unknown` and the resumer takes it
//! up again when the lease runs out: it is never lost and never bought twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::driver::{Next, Sale, StepError, failure};
use super::error::ErrorCode;
use super::model::Checkout;
use super::service::CheckoutService;
use super::state::{CheckoutEvent, CheckoutState};
use crate::ids::CheckoutId;
use crate::upstream::backoff::backoff;
use crate::upstream::{CallContext, FailureKind, Priority, UnredeemedQuery, UpstreamError, wire};

/// Order lookups per reconciliation round (with backoff between them).
const LOOKUPS: u32 = 6;
/// Lookups before the cart deletion is tried: an order can take a moment to be listed.
const LOOKUPS_BEFORE_RELEASE: u32 = 2;
/// Clock skew and processing delay allowed between the purchase and the order's time.
const SLACK_MS: i64 = 5 * 60 * 1000;

/// What one search of upstream's orders found.
enum Lookup {
    Found(wire::UnredeemedOrder),
    NotListed,
    /// Orders are listed that another in-flight purchase of this user and event may own.
    Contested,
}

/// What upstream's answer to deleting the cart says about the purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CartProbe {
    /// Deleted: never purchased, and now never will be.
    Deleted,
    /// Refused as a request, not for a passing reason: the purchase closed the cart.
    Closed,
    /// Not found (404): deleted already or expired, so it can no longer be purchased; whether
    /// it was before is for the order listing to say.
    Gone,
    /// Nothing either way (unreachable, 5xx, 409 busy, …).
    Unknown,
}

impl CheckoutService {
    pub(super) async fn step_reconcile(
        self: &Arc<Self>,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Critical);
        let mut purchased_upstream = false;
        // Set when upstream answered 404 for the cart; the lookups after it decide.
        let mut cart_gone = false;
        for attempt in 0..LOOKUPS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt).min(Duration::from_secs(30))).await;
            }
            let contested = match self.find_lost_order(checkout, purchased_upstream).await {
                Ok(Lookup::Found(found)) => {
                    tracing::info!(checkout_id = %checkout.id, "lost purchase found upstream");
                    self.record_order(checkout, Sale::Found(found)).await?;
                    return Ok(Next::Stop);
                }
                Ok(Lookup::NotListed) if cart_gone => {
                    return self
                        .not_purchased(checkout, owner, "the cart is gone upstream with no order made from it; nothing was charged")
                        .await;
                }
                Ok(Lookup::NotListed) => false,
                Ok(Lookup::Contested) => true,
                Err(e) => {
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "order lookup failed");
                    false
                }
            };
            let probe_due = contested || attempt + 1 >= LOOKUPS_BEFORE_RELEASE;
            if purchased_upstream || cart_gone || !probe_due {
                continue;
            }
            match self.probe_cart(&ctx, checkout).await {
                CartProbe::Deleted => {
                    return self
                        .not_purchased(checkout, owner, "the purchase did not complete upstream; the hold was released and nothing was charged")
                        .await;
                }
                CartProbe::Closed => purchased_upstream = true,
                CartProbe::Gone => cart_gone = true,
                CartProbe::Unknown => {}
            }
        }
        tracing::warn!(checkout_id = %checkout.id, "purchase still unknown; the resumer will look again");
        Ok(Next::Stop)
    }

    /// Upstream shows the purchase never happened and never can: `failed`, with `reason`.
    async fn not_purchased(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        reason: &str,
    ) -> Result<Next, StepError> {
        self.apply(checkout, CheckoutEvent::Failed)
            .map_err(StepError::store)?;
        checkout.operation = None;
        checkout.failure = Some(failure(ErrorCode::UpstreamUnavailable, reason, None));
        self.save(checkout, owner).await.map_err(StepError::store)?;
        Ok(Next::Stop)
    }

    /// The unrecorded upstream order this checkout's purchase produced, if listed and this
    /// checkout's to take (see the module doc).
    async fn find_lost_order(
        &self,
        checkout: &Checkout,
        purchased_upstream: bool,
    ) -> Result<Lookup, UpstreamError> {
        let store_error = |e: crate::store::StoreError| UpstreamError::Decode {
            reason: e.to_string(),
        };
        let source_account_id = self.source_account_id(&checkout.user_id);
        let sent_after = crate::clock::to_millis(checkout.updated_at) - SLACK_MS;
        let listed = self
            .api
            .unredeemed_orders(UnredeemedQuery::DaysFromPurchase(0))
            .await?;
        let mut candidates: Vec<_> = listed
            .data
            .into_iter()
            .filter(|o| {
                o.order_source_account_id == source_account_id
                    && o.event_id == checkout.event_id
                    && o.purchase_date_time >= sent_after
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Lookup::NotListed);
        }
        // Read after the listing: a purchase whose order was listed is, by now, either still
        // unsettled (and seen here) or recorded with its order (and skipped below).
        let unsettled = self
            .store
            .checkouts
            .unsettled_purchases(&checkout.user_id, &checkout.event_id)
            .await
            .map_err(store_error)?;
        let others = unsettled
            .iter()
            .filter(|c| c.id != checkout.id)
            .map(Claimant::of);
        if !may_take_an_order(Claimant::of(checkout), others, purchased_upstream) {
            return Ok(Lookup::Contested);
        }
        candidates.sort_by_key(|o| o.purchase_date_time);
        for candidate in candidates {
            let known = self
                .store
                .orders
                .find_by_token(&candidate.order_token)
                .await
                .map_err(store_error)?;
            if known.is_none() {
                return Ok(Lookup::Found(candidate));
            }
        }
        Ok(Lookup::NotListed)
    }

    /// Try to delete the cart, and read what the answer says about the purchase.
    async fn probe_cart(&self, ctx: &CallContext, checkout: &Checkout) -> CartProbe {
        let Some(cart_id) = &checkout.cart_id else {
            return CartProbe::Unknown;
        };
        match self.delete_cart_to_the_end(ctx, cart_id).await {
            Ok(()) => CartProbe::Deleted,
            Err(e) if e.kind() == FailureKind::InvalidRequest => CartProbe::Closed,
            Err(e) if e.kind() == FailureKind::CartGone => CartProbe::Gone,
            Err(_) => CartProbe::Unknown,
        }
    }
}

/// What decides whose an order is, of one unsettled purchase.
#[derive(Debug, Clone, Copy)]
struct Claimant {
    id: CheckoutId,
    state: CheckoutState,
    created_at: DateTime<Utc>,
}

impl Claimant {
    fn of(checkout: &Checkout) -> Self {
        Self {
            id: checkout.id,
            state: checkout.state,
            created_at: checkout.created_at,
        }
    }

    fn older_than(&self, other: &Claimant) -> bool {
        (self.created_at, self.id) < (other.created_at, other.id)
    }
}

/// Whether `own` may take the oldest unrecorded order of its user and event, given the user's
/// `others` unsettled purchases of that event. Alone, it may. Otherwise only when upstream
/// refused to delete its cart (it was purchased), no other purchase still waits for its own
/// answer, and it is the oldest of the lost ones: purchases go out in the order their
/// checkouts were made, and orders are listed in the order they were placed.
fn may_take_an_order(
    own: Claimant,
    others: impl IntoIterator<Item = Claimant>,
    purchased_upstream: bool,
) -> bool {
    let mut others = others.into_iter().peekable();
    if others.peek().is_none() {
        return true;
    }
    purchased_upstream
        && others
            .all(|other| other.state == CheckoutState::PurchaseUnknown && own.older_than(&other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimant(state: CheckoutState, created_secs: i64) -> Claimant {
        Claimant {
            id: CheckoutId::new(),
            state,
            created_at: DateTime::<Utc>::from_timestamp(1_800_000_000 + created_secs, 0)
                .expect("a valid time"),
        }
    }

    #[test]
    fn a_lost_purchase_alone_takes_the_order_without_proof() {
        let own = claimant(CheckoutState::PurchaseUnknown, 0);
        assert!(may_take_an_order(own, [], false));
    }

    #[test]
    fn with_other_purchases_in_flight_only_a_purchased_cart_takes_an_order() {
        let own = claimant(CheckoutState::PurchaseUnknown, 0);
        let younger = claimant(CheckoutState::PurchaseUnknown, 10);
        assert!(!may_take_an_order(own, [younger], false));
        assert!(may_take_an_order(own, [younger], true));
    }

    #[test]
    fn a_purchase_still_waiting_for_its_answer_is_let_settle_first() {
        let own = claimant(CheckoutState::PurchaseUnknown, 0);
        let waiting = claimant(CheckoutState::Purchasing, 10);
        assert!(!may_take_an_order(own, [waiting], true));
    }

    #[test]
    fn the_oldest_lost_purchase_takes_the_oldest_order_first() {
        let older = claimant(CheckoutState::PurchaseUnknown, 0);
        let own = claimant(CheckoutState::PurchaseUnknown, 10);
        let younger = claimant(CheckoutState::PurchaseUnknown, 20);
        assert!(!may_take_an_order(own, [older, younger], true));
        assert!(may_take_an_order(older, [own, younger], true));
    }
}
