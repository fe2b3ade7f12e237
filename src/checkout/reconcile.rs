//! Reconciling a purchase whose outcome was lost (timeout, dropped connection, 5xx after the
//! request left, a poll that vanished). The purchase is never sent again, and its outcome
//! comes from proof only (see `docs/upstream-assumptions.md`):
//! - **purchased**: an order upstream lists (`GET /orders/unredeemed`) for this user's
//!   `source_account_id` and this event, placed since the purchase was asked for, recorded by
//!   no other checkout and this checkout's by the attribution rule below;
//! - **not purchased**: only the purchase's own documented refusal proves it, which is the
//!   driver's business, never this module's. What a DELETE of the cart answers (204, 400, 404)
//!   is not defined by the docs for a purchased cart, and an order missing from the listing may
//!   have been redeemed already: neither is ever read as "nothing was charged".
//!
//! Without proof after `checkout.unconfirmed_after_secs` the checkout is
//! `purchase_unconfirmed`: partners see that state and its `purchase_unconfirmed` error, the
//! gauge of checkouts by state shows it, and an alert fires. Lookups go on at growing intervals
//! (and sooner when the unredeemed-orders job lists an order of this user and event); when the
//! order is found the checkout becomes `purchased` and, with a webhook configured, a signed
//! `checkout.purchase_confirmed` message announces it.
//!
//! The cart is deleted once the purchase is `purchase_unconfirmed` (not before: while the
//! purchase may still be running upstream, a DELETE would be a second update of the cart in
//! flight, which the docs do not support), to give back any seats a purchase that did not
//! happen would leave held; the answer is not read as evidence. An unanswered deletion is
//! sent again at each lookup while the hold could still be alive.
//!
//! The order listing names no cart, so an order is known only by user, event and time. The
//! driver never sends a purchase while another of the same user and event may be in doubt
//! (an older one unsettled, `Purchasing` or `PurchaseUnknown`, or a newer one that may have
//! been sent: `driver::purchase::must_wait`); one already `PurchaseUnconfirmed` does not
//! hold a new one back (it may stay so for days), so two can be in doubt. An order is given
//! to the only unsettled purchase of that user and event that may have placed it (sent no
//! later than the order, its hold not gone before it, give or take clock skew). When that is
//! one still waiting for its own answer, it is left to that answer; when two may have placed
//! it (an older purchase still unconfirmed), to neither until one of them settles.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::driver::{Next, Sale, StepError};
use super::model::Checkout;
use super::service::CheckoutService;
use super::state::CheckoutState;
use crate::clock::to_millis;
use crate::ids::CheckoutId;
use crate::upstream::backoff::backoff;
use crate::upstream::{CallContext, Priority, UnredeemedQuery, UpstreamError, wire};

/// The longest pause between two lookups while the outcome is still `PurchaseUnknown`.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);
/// Clock skew and processing delay allowed between the purchase and the order's time.
const SLACK_MS: i64 = 5 * 60 * 1000;
/// The clock skew allowed between upstream's order times and this gateway's send and hold
/// times when telling whose an order is. Small on purpose: a skew larger than it only ever
/// leaves an order unattributed (its purchase stays unconfirmed), never gives it to another
/// purchase, which was sent at least `checkout.unconfirmed_after_secs` apart (found by the
/// soak: with 5 minutes here, two lost purchases of a user two minutes apart were both
/// "possible owners" of one order, and it went to neither).
const CLOCK_SKEW_MS: i64 = 10 * 1000;
/// Lookups of an unconfirmed purchase: the first a minute after, then at growing intervals
/// (half the time since the purchase), at most hourly, for a week. After that only the
/// unredeemed-orders job's listings bring it up again.
const FIRST_RECHECK: TimeDelta = TimeDelta::minutes(1);
const LONGEST_RECHECK: TimeDelta = TimeDelta::hours(1);
const RECHECK_FOR: TimeDelta = TimeDelta::days(7);

impl CheckoutService {
    pub(super) async fn step_reconcile(
        self: &Arc<Self>,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Critical);
        let asked_at = checkout.purchase_started_at.unwrap_or(checkout.updated_at);
        let unconfirmed_at =
            asked_at + TimeDelta::from_std(self.config.unconfirmed_after).unwrap_or_default();
        let mut attempt = 0;
        loop {
            match self.find_lost_order(checkout, asked_at).await {
                Ok(Some(found)) => {
                    tracing::info!(checkout_id = %checkout.id, state = checkout.state.as_str(), "lost purchase found upstream");
                    self.record_order(checkout, Sale::Found(found)).await?;
                    return Ok(Next::Stop);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "order lookup failed")
                }
            }
            // The cart is deleted only once the purchase is unconfirmed: a DELETE while the
            // purchase may still be running upstream would be a second update of the cart in
            // flight ("The API does not support concurrent calls to update the cart"), with
            // an outcome nobody documents.
            if checkout.state == CheckoutState::PurchaseUnconfirmed {
                self.free_hold(&ctx, checkout, owner).await?;
                return self.schedule_recheck(checkout, owner, asked_at).await;
            }
            if self.now() >= unconfirmed_at {
                self.free_hold(&ctx, checkout, owner).await?;
                return self.unconfirmed(checkout, owner).await;
            }
            attempt += 1;
            tokio::select! {
                _ = self.stopping.cancelled() => return Ok(Next::Stop),
                _ = tokio::time::sleep(backoff(attempt).min(LONGEST_PAUSE)) => {}
            }
        }
    }

    /// No proof either way in time: `purchase_unconfirmed`, looked up again later.
    async fn unconfirmed(&self, checkout: &mut Checkout, owner: &str) -> Result<Next, StepError> {
        tracing::warn!(checkout_id = %checkout.id, "purchase outcome not confirmed; lookups go on");
        let next_check_at = self.now() + FIRST_RECHECK;
        self.apply(checkout, |c| c.purchase_unconfirmed(next_check_at))?;
        self.save(checkout, owner).await?;
        Ok(Next::Stop)
    }

    /// The next lookup of an unconfirmed purchase, or none after [`RECHECK_FOR`].
    async fn schedule_recheck(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        asked_at: DateTime<Utc>,
    ) -> Result<Next, StepError> {
        let now = self.now();
        let since = now - asked_at;
        if since > RECHECK_FOR {
            tracing::warn!(checkout_id = %checkout.id, "unconfirmed purchase no longer looked up on its own");
            checkout.stop_rechecking();
        } else {
            let pause = (since / 2).clamp(FIRST_RECHECK, LONGEST_RECHECK);
            checkout.next_check_at = Some(now + pause);
        }
        self.save(checkout, owner).await?;
        Ok(Next::Stop)
    }

    /// Deletes the cart while the hold could still be alive, so a purchase that did not happen
    /// leaves no seats held. Any answer from upstream settles it (what it answers says nothing
    /// about the purchase); no answer leaves it for the next lookup.
    async fn free_hold(
        &self,
        ctx: &CallContext,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<(), StepError> {
        let (Some(cart_id), Some(until)) = (checkout.cart_id.clone(), checkout.hold_expires_at)
        else {
            return Ok(());
        };
        if until <= self.now() {
            return Ok(());
        }
        match self.api.delete_cart_to_the_end(ctx, &cart_id).await {
            Err(e) if super::driver::unanswered(&e) => {
                tracing::warn!(checkout_id = %checkout.id, error = %e, "cart deletion unanswered; sent again at the next lookup");
                Ok(())
            }
            _ => {
                // The hold ended now: not deleted again, and no order placed later is this
                // purchase's (`Claimant::may_have_placed`).
                checkout.hold_expires_at = Some(self.now().min(until));
                Ok(self.save(checkout, owner).await?)
            }
        }
    }

    /// The unrecorded upstream order this checkout's purchase produced, if listed and this
    /// checkout's by the attribution rule (see the module doc).
    async fn find_lost_order(
        &self,
        checkout: &Checkout,
        asked_at: DateTime<Utc>,
    ) -> Result<Option<wire::UnredeemedOrder>, LookupError> {
        let source_account_id = self.source_account_id(&checkout.user_id);
        let since_ms = to_millis(asked_at) - SLACK_MS;
        let mut candidates: Vec<wire::UnredeemedOrder> = Vec::new();
        for query in lookup_queries(asked_at, self.now()) {
            let listed = self.api.unredeemed_orders(query).await?;
            for order in listed.data {
                let ours = order.order_source_account_id == source_account_id
                    && order.event_id == checkout.event_id
                    && order.purchase_date_time >= since_ms;
                if ours
                    && !candidates
                        .iter()
                        .any(|c| c.order_token == order.order_token)
                {
                    candidates.push(order);
                }
            }
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        // Read after the listing: a purchase whose order was listed is, by now, either still
        // unsettled (and seen here) or recorded with its order (and skipped below).
        let claimants: Vec<Claimant> = self
            .store
            .checkouts
            .unsettled_purchases(&checkout.user_id, &checkout.event_id)
            .await?
            .iter()
            .map(Claimant::of)
            .collect();
        candidates.sort_by_key(|o| o.purchase_date_time);
        for candidate in candidates {
            if self
                .store
                .orders
                .find_by_token(&candidate.order_token)
                .await?
                .is_some()
            {
                continue;
            }
            if owner_of(candidate.purchase_date_time, &claimants).map(|c| c.id) == Some(checkout.id)
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }
}

/// Why a lookup could not be made (logged; the next lookup tries again).
#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The listings that show an order placed at or after `asked_at` under both readings of
/// `days_from_purchase` ("within the last N days": N ≥ the days since; "at least N days
/// ago": N = 0).
fn lookup_queries(asked_at: DateTime<Utc>, now: DateTime<Utc>) -> Vec<UnredeemedQuery> {
    let days_since = (now - asked_at).num_hours().max(0) / 24 + 1;
    let within = u32::try_from(days_since).unwrap_or(u32::MAX);
    vec![
        UnredeemedQuery::DaysFromPurchase(0),
        UnredeemedQuery::DaysFromPurchase(within),
    ]
}

/// What decides whose an order is, of one unsettled purchase.
#[derive(Debug, Clone, Copy)]
struct Claimant {
    id: CheckoutId,
    state: CheckoutState,
    /// When the purchase was sent (its send time, written before the send); `None` for one
    /// not sent (waiting its turn), which cannot have placed an order.
    asked_ms: Option<i64>,
    /// When its hold ran out, if known: no purchase of it can have been placed after.
    hold_until_ms: Option<i64>,
}

impl Claimant {
    fn of(checkout: &Checkout) -> Self {
        // A lost or unconfirmed purchase was sent, once; one from before send times were
        // written counts from its checkout's creation (the earliest it can have been sent).
        let sent = checkout
            .purchase_started_at
            .or((checkout.state != CheckoutState::Purchasing).then_some(checkout.created_at));
        Self {
            id: checkout.id,
            state: checkout.state,
            asked_ms: sent.map(to_millis),
            hold_until_ms: checkout.hold_expires_at.map(to_millis),
        }
    }

    /// Whether this purchase may have placed an order at `order_ms`: sent no later than it,
    /// and its hold not gone before it (give or take [`CLOCK_SKEW_MS`] each way).
    fn may_have_placed(&self, order_ms: i64) -> bool {
        let sent_before = self.asked_ms.is_some_and(|a| a <= order_ms + CLOCK_SKEW_MS);
        let held_then = self
            .hold_until_ms
            .is_none_or(|h| order_ms <= h + CLOCK_SKEW_MS);
        sent_before && held_then
    }
}

/// Whose an order placed at `order_ms` is, among one user's unsettled purchases of its event:
/// the only one that may have placed it. `None` when none may have, when the one that may is
/// still waiting for its own answer (which will name its order exactly), or when two or more
/// may have: the listing names no cart, and nearness in time is no proof. Such an order waits
/// until the others settle (an answer naming its own order, which is then skipped here) and
/// one purchase is left that may have placed it.
fn owner_of(order_ms: i64, claimants: &[Claimant]) -> Option<Claimant> {
    let mut may = claimants.iter().filter(|c| c.may_have_placed(order_ms));
    let only = may.next()?;
    if may.next().is_some() {
        tracing::warn!(
            order_ms,
            "an order found upstream may belong to more than one of the user's purchases; left unattributed until the others settle"
        );
        return None;
    }
    (only.state != CheckoutState::Purchasing).then_some(*only)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimant(state: CheckoutState, asked_secs: i64) -> Claimant {
        Claimant {
            id: CheckoutId::new(),
            state,
            asked_ms: Some(at(asked_secs)),
            hold_until_ms: Some(at(asked_secs + 600)),
        }
    }

    fn at(secs: i64) -> i64 {
        1_800_000_000_000 + secs * 1000
    }

    #[test]
    fn a_lost_purchase_alone_owns_the_order_placed_after_it() {
        let own = claimant(CheckoutState::PurchaseUnknown, 0);
        assert_eq!(owner_of(at(2), &[own]).map(|c| c.id), Some(own.id));
        // Placed long before the purchase was asked for: not its order.
        assert!(owner_of(at(-3600), &[own]).is_none());
        // Placed long after its hold ran out: not its order either.
        assert!(owner_of(at(3600), &[own]).is_none());
    }

    #[test]
    fn an_order_two_purchases_may_have_placed_goes_to_neither() {
        // Nearness in time is no proof: the order waits until one of them settles.
        let older = claimant(CheckoutState::PurchaseUnconfirmed, 0);
        let newer = claimant(CheckoutState::PurchaseUnknown, 5);
        assert!(owner_of(at(3), &[older, newer]).is_none());
        assert!(owner_of(at(122), &[older, newer]).is_none());
    }

    #[test]
    fn an_order_placed_before_a_purchase_was_sent_is_not_its_own() {
        // Two minutes apart (a user buys again once the first is unconfirmed): an order
        // placed right after the first was sent is the first's; right after the second, the
        // second's if the first's hold was gone by then.
        let older = Claimant {
            hold_until_ms: Some(at(120)),
            ..claimant(CheckoutState::PurchaseUnconfirmed, 0)
        };
        let newer = claimant(CheckoutState::PurchaseUnknown, 150);
        assert_eq!(
            owner_of(at(3), &[older, newer]).map(|c| c.id),
            Some(older.id)
        );
        assert_eq!(
            owner_of(at(152), &[older, newer]).map(|c| c.id),
            Some(newer.id)
        );
        // A second sent within the clock skew of the first's hold ending: either may have
        // placed an order of that moment.
        let hasty = claimant(CheckoutState::PurchaseUnknown, 125);
        assert!(owner_of(at(126), &[older, hasty]).is_none());
    }

    #[test]
    fn an_older_purchase_whose_hold_was_gone_cannot_own_a_new_order() {
        // Yesterday's unconfirmed purchase does not stand in the way of today's lost one.
        let yesterday = claimant(CheckoutState::PurchaseUnconfirmed, -86_400);
        let today = claimant(CheckoutState::PurchaseUnknown, 0);
        assert_eq!(
            owner_of(at(2), &[yesterday, today]).map(|c| c.id),
            Some(today.id)
        );
    }

    #[test]
    fn a_purchase_not_sent_owns_nothing_and_one_waiting_for_its_answer_is_left_to_it() {
        let lost = claimant(CheckoutState::PurchaseUnknown, 0);
        let unsent = Claimant {
            asked_ms: None,
            ..claimant(CheckoutState::Purchasing, 60)
        };
        assert_eq!(
            owner_of(at(61), &[lost, unsent]).map(|c| c.id),
            Some(lost.id)
        );
        let waiting = claimant(CheckoutState::Purchasing, 60);
        assert!(owner_of(at(61), &[waiting]).is_none());
        assert!(owner_of(at(61), &[lost, waiting]).is_none());
    }

    #[test]
    fn both_readings_of_days_from_purchase_list_a_recent_order() {
        let asked = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a valid time");
        assert_eq!(
            lookup_queries(asked, asked + TimeDelta::minutes(3)),
            vec![
                UnredeemedQuery::DaysFromPurchase(0),
                UnredeemedQuery::DaysFromPurchase(1)
            ]
        );
        assert_eq!(
            lookup_queries(asked, asked + TimeDelta::hours(49)),
            vec![
                UnredeemedQuery::DaysFromPurchase(0),
                UnredeemedQuery::DaysFromPurchase(3)
            ]
        );
    }
}
