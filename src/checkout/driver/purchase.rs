//! Purchasing: the purchase sent once (its send time saved first, and never while another
//! purchase of the same user and event may be in doubt), its polls followed, a lost answer
//! handed to reconciliation, and the order recorded however it became known.

use super::{Next, StepError};
use crate::checkout::error::{ErrorCode, RecordError};
use crate::checkout::model::{Cents, Checkout, CheckoutFailure, Operation, Order};
use crate::checkout::service::CheckoutService;
use crate::checkout::state::CheckoutState;
use crate::ids::{CheckoutId, OrderId};
use crate::store::Written;
use crate::upstream::backoff::backoff;
use crate::upstream::error::FaultCode;
use crate::upstream::{Priority, Reply, UpstreamError, wire};

/// How many times, and at most how far apart, a confirmed purchase's write is tried again
/// while the database is unreachable: about five minutes.
const RECORD_TRIES: u32 = 35;
const RECORD_PAUSE: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a purchase waiting for another of the same user and event looks again.
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
                if self.purchase_must_wait(checkout, owner).await? {
                    tokio::select! {
                        _ = self.stopping.cancelled() => return Ok(Next::Stop),
                        _ = tokio::time::sleep(SERIAL_PURCHASE_PAUSE) => {}
                    }
                    return Ok(Next::Continue);
                }
                let request = wire::PurchaseRequest {
                    cart_id,
                    source_account_id: self.source_account_id(&checkout.user_id),
                };
                self.api.purchase(&ctx, &request).await
            }
        };
        let answered = if checkout.poll.is_none() {
            Answered::Purchase
        } else {
            Answered::Poll
        };
        let e = match reply {
            Ok(Reply::Poll(ticket)) => return self.remember_poll(checkout, owner, ticket).await,
            Ok(Reply::Done(resp)) => {
                self.record_order(checkout, Sale::Confirmed(resp)).await?;
                return Ok(Next::Stop);
            }
            Err(e) => e,
        };
        match proof_of(&e, answered) {
            // Not sent (a 429, the user's share of the quota, a connection refused, no access
            // token), or a poll's own trouble (the purchase stands): asked again.
            Proof::AskAgain => Err(StepError::Transient(e)),
            Proof::Refused => self.upstream_failed(checkout, owner, e).await,
            Proof::None => {
                // The purchase may have happened: never send it again. Reconciliation
                // (order lookup) decides; partners see `purchasing` meanwhile.
                tracing::warn!(checkout_id = %checkout.id, error = %e, "purchase answer lost");
                self.purchase_outcome_lost(checkout, owner, e.partner_detail())
                    .await?;
                Ok(Next::Continue)
            }
        }
    }

    /// Whether this purchase must wait before it is sent; its send time is cleared if so (not
    /// sent: a worker taking it over must send it, not reconcile it). One purchase of a user
    /// and event in doubt at a time, so that an order found upstream can be told apart (see
    /// `reconcile`): see [`must_wait`] for the rule. The send time is on record before the
    /// look (the write that started the purchase carries it; a purchase that waited writes it
    /// again first, unless an older one is still unsettled), so of two purchases looking at
    /// the same time at least one sees the other's.
    async fn purchase_must_wait(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<bool, StepError> {
        let mut others = self.unsettled_others(checkout).await?;
        let me = Turn::of(checkout);
        if checkout.purchase_started_at.is_none() && !others.iter().any(|o| o.age < me.age) {
            // Written ahead of the send: a worker that takes this checkout over can tell a
            // purchase never sent (it sends it) from one that may have been (it reconciles,
            // never re-sends). Then looked at again: a newer purchase may have gone meanwhile.
            checkout.purchase_started_at = Some(self.now());
            self.save(checkout, owner).await?;
            others = self.unsettled_others(checkout).await?;
        }
        let wait = must_wait(Turn::of(checkout), &others);
        if wait && checkout.purchase_started_at.take().is_some() {
            self.save(checkout, owner).await?;
        }
        Ok(wait)
    }

    /// The other purchases of this checkout's user and event still waiting for their answer
    /// or being reconciled.
    async fn unsettled_others(&self, checkout: &Checkout) -> Result<Vec<Turn>, StepError> {
        let unsettled = self
            .store
            .checkouts
            .unsettled_purchases(&checkout.user_id, &checkout.event_id)
            .await?;
        Ok(unsettled
            .iter()
            .filter(|other| {
                other.id != checkout.id
                    && matches!(
                        other.state,
                        CheckoutState::Purchasing | CheckoutState::PurchaseUnknown
                    )
            })
            .map(Turn::of)
            .collect())
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
        // does), so no hand-back follows. The order exists only in this process until it is
        // written (upstream's answer carries the links its listing does not): a database out
        // for a moment is waited out, not given up on (found by review: one failed write threw
        // a confirmed purchase to reconciliation, or left it unconfirmed).
        let checkouts = &self.store.checkouts;
        let mut attempt = 0;
        loop {
            let written = self
                .write_leased(checkout, None, async |c| {
                    // A purchase cannot be released: nothing in its row is news to the driver.
                    let recorded = checkouts.record_purchase(c, &order, notice.as_ref()).await;
                    recorded.map(|()| Written::default())
                })
                .await;
            match written {
                Ok(()) => break,
                Err(e) if e.is_unavailable() && attempt < RECORD_TRIES => {
                    attempt += 1;
                    tracing::warn!(checkout_id = %checkout.id, error = %e, "a confirmed purchase could not be recorded yet; trying again");
                    tokio::time::sleep(backoff(attempt).min(RECORD_PAUSE)).await;
                }
                Err(e) => {
                    // The last word on it: operators can record it from this line.
                    tracing::error!(checkout_id = %checkout.id, order_token = %order.order_token, error = %e, "a purchase upstream confirmed could not be recorded");
                    return Err(e.into());
                }
            }
        }
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

/// What the one-purchase-in-doubt rule needs of a purchase: its place in age order, and
/// whether it may have been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Turn {
    age: (chrono::DateTime<chrono::Utc>, CheckoutId),
    maybe_sent: bool,
}

impl Turn {
    fn of(checkout: &Checkout) -> Self {
        Self {
            age: (checkout.created_at, checkout.id),
            maybe_sent: checkout.purchase_started_at.is_some()
                || checkout.state == CheckoutState::PurchaseUnknown,
        }
    }
}

/// Whether a purchase (`me`, its send time on record) must wait, given the other unsettled
/// purchases of its user and event: an older one goes first, and a newer one that may have
/// been sent may be out already (it looked before `me` was on record). Of two purchases that
/// each look after their own send time is written, at least one sees the other: if only the
/// older sees the newer, the older waits; if only the newer sees the older, the newer waits;
/// if both do, both wait, and the newer writes no send time again while the older is
/// unsettled, so the older goes at its next look. Never both.
fn must_wait(me: Turn, others: &[Turn]) -> bool {
    others.iter().any(|o| o.age < me.age || o.maybe_sent)
}

/// Which answer an error came in: the purchase's own (`PUT /cart`), or a poll of a purchase
/// upstream had already taken (a 202 with a polling URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answered {
    Purchase,
    Poll,
}

/// What an answer other than an order proves about a purchase. Only words the docs define
/// prove it was not made (docs/upstream-assumptions.md, row 23): a charge
/// must never be reported as "nothing was charged", and a purchase that may have happened
/// is never sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// Nothing was decided: the purchase was not sent, or only its poll met trouble. Asked
    /// again.
    AskAgain,
    /// Upstream's documented refusal of the purchase: it was not made.
    Refused,
    /// No proof either way: the purchase may have been made. Reconciled, never re-sent.
    None,
}

fn proof_of(e: &UpstreamError, answered: Answered) -> Proof {
    use UpstreamError as E;
    match (e, answered) {
        // Never left, or refused before upstream acted on it (the quota's 429, whose fault
        // the docs show at the API's gate); a poll's are as harmless.
        (E::QueueFull { .. } | E::RateLimited { .. } | E::NoToken { .. }, _) => Proof::AskAgain,
        (
            E::Transport {
                maybe_sent: false, ..
            },
            _,
        ) => Proof::AskAgain,
        // A poll is a read: its broken exchange or a 5xx is asked again (the purchase upstream
        // took is not touched by it).
        (E::Transport { .. }, Answered::Poll) => Proof::AskAgain,
        (
            E::Status { status } | E::Fault { status, .. } | E::Api { status, .. },
            Answered::Poll,
        ) if *status >= 500 || *status == 429 => Proof::AskAgain,
        // A purchase's own documented refusal, as its answer or as its poll's final answer:
        // "the output of the original action will eventually be returned in the body".
        (E::Api { code, status, .. }, _) if *status < 500 && purchase_refusal(*code) => {
            Proof::Refused
        }
        // The purchase's own call refused by a status the docs define as a refusal of the
        // call (401 unauthorized, with or without the fault body; 404 not found: the cart is
        // gone; 405; 406), or by one of their other documented codes (10002, 21001).
        (E::Api { code, status, .. }, Answered::Purchase)
            if *status < 500 && wire::codes::DOCUMENTED.contains(code) =>
        {
            Proof::Refused
        }
        (E::Status { status } | E::Api { status, .. }, Answered::Purchase)
            if matches!(status, 401 | 404 | 405 | 406) =>
        {
            Proof::Refused
        }
        (
            E::Fault {
                code: FaultCode::InvalidApiKey | FaultCode::InvalidAccessToken,
                ..
            },
            Answered::Purchase,
        ) => Proof::Refused,
        // Everything else: a 5xx or a broken exchange after the purchase left, a status or
        // code the docs do not define (409, 403, 3xx, an unknown fault…), an unreadable
        // answer, a poll gone or refused for reasons of its own (the purchase was taken: a
        // refused poll says nothing of it), a polling URL the gateway will not follow.
        _ => Proof::None,
    }
}

/// The documented refusals that are a purchase's own answer, wherever they come: captcha,
/// not transactable, sold out, payment declined, security code.
fn purchase_refusal(code: i64) -> bool {
    use wire::codes;
    matches!(
        code,
        codes::UNAUTHORIZED_CAPTCHA_MISSING
            | codes::INVALID_CAPTCHA
            | codes::NOT_TRANSACTABLE
            | codes::NO_INVENTORY
            | codes::PAYMENT_NOT_ACCEPTED
            | codes::INVALID_SECURITY_CODE
    )
}

#[cfg(test)]
mod tests;
