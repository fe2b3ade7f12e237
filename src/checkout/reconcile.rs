//! Reconciling a purchase whose outcome was lost (timeout, dropped connection, 5xx after the
//! request left). The purchase is never sent again. Instead:
//! 1. upstream's orders (`GET /orders/unredeemed`) are searched for one with this user's
//!    `source_account_id`, this event, placed since the purchase was sent, and not yet
//!    recorded by another checkout — found: the checkout is `purchased` with that order;
//! 2. after a few lookups, the cart is deleted: a cart upstream lets us delete was not
//!    purchased and now never can be — the checkout is `failed` with that reason. A cart
//!    that refuses deletion (purchased, or a purchase still running) keeps us looking.
//!
//! When neither settles it, the checkout stays `purchase_unknown` and the resumer takes it
//! up again when the lease runs out: it is never lost and never bought twice.

use std::sync::Arc;
use std::time::Duration;

use super::driver::{Next, Sale, StepError, failure};
use super::error::ErrorCode;
use super::model::Checkout;
use super::service::CheckoutService;
use super::state::CheckoutEvent;
use crate::upstream::backoff::backoff;
use crate::upstream::{CallContext, Priority, UnredeemedQuery, UpstreamError, wire};

/// Order lookups per reconciliation round (with backoff between them).
const LOOKUPS: u32 = 6;
/// Lookups before the cart deletion is tried: an order can take a moment to be listed.
const LOOKUPS_BEFORE_RELEASE: u32 = 2;
/// Clock skew and processing delay allowed between the purchase and the order's time.
const SLACK_MS: i64 = 5 * 60 * 1000;

impl CheckoutService {
    pub(super) async fn step_reconcile(
        self: &Arc<Self>,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Critical);
        for attempt in 0..LOOKUPS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt).min(Duration::from_secs(30))).await;
            }
            match self.find_lost_order(checkout).await {
                Ok(Some(found)) => {
                    tracing::info!(checkout_id = %checkout.id, "lost purchase found upstream");
                    self.record_order(checkout, Sale::Found(found)).await?;
                    return Ok(Next::Stop);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "order lookup failed")
                }
            }
            if attempt + 1 >= LOOKUPS_BEFORE_RELEASE && self.cart_released(&ctx, checkout).await {
                self.apply(checkout, CheckoutEvent::Failed)
                    .map_err(StepError::store)?;
                checkout.operation = None;
                checkout.failure = Some(failure(
                    ErrorCode::UpstreamUnavailable,
                    "the purchase did not complete upstream; the hold was released and nothing was charged",
                    None,
                ));
                self.save(checkout, owner).await.map_err(StepError::store)?;
                return Ok(Next::Stop);
            }
        }
        tracing::warn!(checkout_id = %checkout.id, "purchase still unknown; the resumer will look again");
        Ok(Next::Stop)
    }

    /// The unrecorded upstream order this checkout's purchase produced, if listed.
    async fn find_lost_order(
        &self,
        checkout: &Checkout,
    ) -> Result<Option<wire::UnredeemedOrder>, UpstreamError> {
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
        candidates.sort_by_key(|o| o.purchase_date_time);
        for candidate in candidates {
            let known = self
                .store
                .orders
                .find_by_token(&candidate.order_token)
                .await
                .map_err(|e| UpstreamError::Decode {
                    reason: e.to_string(),
                })?;
            if known.is_none() {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Try to delete the cart; `true` only when upstream confirmed the deletion.
    async fn cart_released(&self, ctx: &CallContext, checkout: &Checkout) -> bool {
        match &checkout.cart_id {
            Some(cart_id) => self.delete_cart_to_the_end(ctx, cart_id).await.is_ok(),
            None => false,
        }
    }
}
