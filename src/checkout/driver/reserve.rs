//! Reserving: the cart opened with the captcha token, then the seats reserved in it, each
//! followed through its stored polls; and a reservation the partner gave up on turned into a
//! release.

use std::sync::Arc;

use super::{Carried, Next, StepError, is_transient};
use crate::checkout::convert;
use crate::checkout::error::ErrorCode;
use crate::checkout::lifecycle::Hold;
use crate::checkout::model::{Checkout, CheckoutFailure, Operation};
use crate::checkout::service::CheckoutService;
use crate::checkout::state::CheckoutState;
use crate::upstream::{Priority, Reply, UpstreamError, wire};

impl CheckoutService {
    /// Whether the partner asked to release this checkout while it was being reserved. Every
    /// write of the driver returns the mark (`store::Written`), so it is read from the store
    /// only before a poll that followed a wait (the request came through another process,
    /// perhaps, while the driver waited): following it would cost an upstream call that the
    /// release makes moot. Between back-to-back calls the next write brings the news.
    pub(super) async fn release_asked(&self, checkout: &mut Checkout) -> bool {
        if checkout.release_requested || checkout.poll.is_none() {
            return checkout.release_requested;
        }
        if let Ok(Some(stored)) = self.store.checkouts.get(checkout.id).await {
            checkout.release_requested = stored.release_requested;
        }
        checkout.release_requested
    }

    /// The write that settled the reservation returned a release the partner asked for while
    /// its last call was out: that write freed the checkout, so take it again and release.
    /// Someone else holding it by then (a payment) goes first; the partner asks again.
    async fn release_once_reserved(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        let now = self.now();
        let until = now + self.lease_span();
        let taken = self
            .store
            .checkouts
            .try_lease(checkout.id, owner, until, now);
        let Some(leased) = taken.await? else {
            tracing::info!(checkout_id = %checkout.id, "release asked during the reservation, but the checkout is taken");
            return Ok(Next::Stop);
        };
        *checkout = leased;
        if checkout.state != CheckoutState::Reserved {
            self.unlease(checkout.id, owner).await;
            return Ok(Next::Stop);
        }
        self.give_up_reserving(checkout, owner).await
    }

    /// Stop following a reservation the partner gave up on and delete its cart (or, before a
    /// cart was opened, just end): the docs' cleanup advice.
    pub(super) async fn give_up_reserving(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        tracing::info!(checkout_id = %checkout.id, "reservation given up by the partner; deleting the cart");
        self.apply(checkout, Checkout::begin_release)?;
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
                // The reservation is sent next.
                self.save_before_call(checkout, owner).await?;
                Ok(Next::Continue)
            }
            // A cart session holds no seats: asking again (with the same token) is safe.
            Err(e) if is_transient(&e) && !matches!(e, UpstreamError::PollGone) => {
                Err(StepError::Transient(e))
            }
            Err(e) => self.upstream_failed(checkout, owner, e).await,
        }
    }

    pub(super) async fn step_reserve(
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
                if checkout.state == CheckoutState::Reserved && checkout.release_requested {
                    return Box::pin(self.release_once_reserved(checkout, owner)).await;
                }
                Ok(Next::Continue)
            }
            Err(e) => self.upstream_failed(checkout, owner, e).await,
        }
    }
}
