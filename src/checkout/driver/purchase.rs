//! Purchasing: the purchase sent once (its send time saved first, and never while an older
//! purchase of the same user and event is unsettled), its polls followed, a lost answer handed
//! to reconciliation, and the order recorded however it became known.

use super::{Next, StepError, is_transient};
use crate::checkout::error::{ErrorCode, RecordError};
use crate::checkout::model::{Cents, Checkout, CheckoutFailure, Operation, Order};
use crate::checkout::service::CheckoutService;
use crate::checkout::state::CheckoutState;
use crate::ids::OrderId;
use crate::store::Written;
use crate::upstream::{Priority, Reply, UpstreamError, wire};

/// How often a purchase waiting for an older one of the same user and event looks again.
const SERIAL_PURCHASE_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

impl CheckoutService {
    pub(super) async fn step_purchase(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
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
                    // order found upstream can be told apart (see `reconcile`). Not sent:
                    // a worker taking over meanwhile must send it, not reconcile it.
                    if checkout.purchase_started_at.take().is_some() {
                        self.save(checkout, owner).await?;
                    }
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

    pub(in crate::checkout) async fn purchase_outcome_lost(
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

    pub(in crate::checkout) async fn record_order(
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
                    Cents::from_decimal,
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
            .then(|| crate::checkout::notice::purchase_confirmed(self, checkout, &order))
            .flatten();
        // The purchase settles the operation: this write frees the checkout too (as `save`
        // does), so no hand-back follows.
        let checkouts = &self.store.checkouts;
        self.write_leased(checkout, None, async |c| {
            // A purchase cannot be released: nothing in its row is news to the driver.
            let recorded = checkouts.record_purchase(c, &order, notice.as_ref()).await;
            recorded.map(|()| Written::default())
        })
        .await?;
        self.recent_orders.insert(checkout.id, order);
        if notice.is_some() {
            self.notices_queued.notify_one();
        }
        Ok(())
    }
}

/// How a purchase became known.
pub(in crate::checkout) enum Sale {
    /// Upstream's answer to the purchase.
    Confirmed(wire::PurchaseResponse),
    /// Found among upstream's orders during reconciliation.
    Found(wire::UnredeemedOrder),
}
