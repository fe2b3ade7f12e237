//! Giving the hold back: the release operation (`DELETE /cart` through its stored polls), a
//! failure that ends the checkout, and the cart deletion a `failed` or `expired` checkout still
//! owes, sent until upstream answers it.

use super::{Next, StepError, is_transient, refused_by_upstream, unanswered};
use crate::checkout::error::ErrorCode;
use crate::checkout::model::{Checkout, CheckoutFailure, Operation};
use crate::checkout::service::CheckoutService;
use crate::upstream::{FailureKind, FollowError, Priority, Reply, UpstreamError};

impl CheckoutService {
    pub(super) async fn step_release(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Next, StepError> {
        let ctx = self.context_of(checkout, Priority::Release);
        let reply = match (&checkout.poll, checkout.cart_id.clone()) {
            (Some(poll), _) => self.send_poll(&ctx, poll, Operation::Release).await,
            (None, Some(cart_id)) => self.api.delete_cart(&ctx, &cart_id).await,
            (None, None) => Ok(Reply::Done(serde::de::IgnoredAny)),
        };
        match reply {
            Ok(Reply::Poll(ticket)) => self.remember_poll(checkout, owner, ticket).await,
            Ok(Reply::Done(_)) => self.released(checkout, owner).await,
            // The deletion's answer was lost with its poll: delete again (a cart already gone
            // answers 404, below).
            Err(UpstreamError::PollGone) => {
                checkout.forget_poll();
                self.save(checkout, owner).await?;
                Ok(Next::Continue)
            }
            // Already gone upstream (expired or deleted): nothing is held.
            Err(e) if e.kind() == FailureKind::CartGone => self.released(checkout, owner).await,
            Err(e) if is_transient(&e) => Err(StepError::Transient(e)),
            // Refused, with the hold run out by our clock: what upstream holds is gone anyway
            // (some readings refuse the deletion of an expired cart).
            Err(e) if checkout.hold_expires_at.is_some_and(|at| at <= self.now()) => {
                tracing::info!(checkout_id = %checkout.id, error = %e, "deletion of an expired cart refused; nothing is held");
                self.released(checkout, owner).await
            }
            Err(e) => {
                tracing::info!(checkout_id = %checkout.id, error = %e, "cart deletion refused");
                let f = refused_by_upstream(ErrorCode::from_upstream(e.kind()), &e);
                self.fail(checkout, owner, f).await;
                Ok(Next::Stop)
            }
        }
    }

    async fn released(&self, checkout: &mut Checkout, owner: &str) -> Result<Next, StepError> {
        self.apply(checkout, Checkout::release_completed)?;
        self.save(checkout, owner).await?;
        Ok(Next::Stop)
    }

    /// End the operation in `failed`, and give back any seats the cart may still hold.
    pub(in crate::checkout) async fn fail(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        f: CheckoutFailure,
    ) {
        tracing::info!(checkout_id = %checkout.id, code = f.code.as_str(), "checkout failed");
        if self.apply(checkout, |c| c.fail(f)).is_err() {
            return;
        }
        if self.save(checkout, owner).await.is_ok() {
            self.release_owed_cart(checkout, owner).await;
        }
    }

    /// Sends the `DELETE /cart` that a checkout ended `failed` or `expired` still owes, marked
    /// by `operation = release` (saved with the final state, before the call: persist, then
    /// call). Once upstream confirms the cart is gone the mark is cleared and the lease freed.
    /// Otherwise the mark stays, and once the lease is handed back the resumer of some replica sends
    /// it again, so no hold outlives its checkout (found by the soak: a deletion refused once
    /// left the seats held by a `failed` checkout nobody looked at again).
    pub(in crate::checkout) async fn release_owed_cart(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) {
        let (Some(Operation::Release), Some(cart)) = (checkout.operation, checkout.cart_id.clone())
        else {
            return;
        };
        let ctx = self.context_of(checkout, Priority::Release);
        match self.api.delete_cart_to_the_end(&ctx, &cart).await {
            // No answer: sent again later.
            Err(e) if unanswered(&e) => {
                tracing::warn!(checkout_id = %checkout.id, error = %e, "could not delete a cart upstream; it will be tried again");
                return;
            }
            // Any answer settles it. Deleted, or gone already (deleted, or the hold ran out);
            // a refusal of a cart that expired or never opened is how some readings of the
            // docs answer (`docs/upstream-assumptions.md` row 2), and asking again would get
            // the same answer.
            Err(FollowError::Upstream(e)) if e.kind() != FailureKind::CartGone => {
                tracing::warn!(checkout_id = %checkout.id, error = %e, "upstream refused a cart deletion; not sent again");
            }
            _ => {}
        }
        checkout.owed_release_settled();
        if let Err(e) = self.save(checkout, owner).await {
            tracing::warn!(checkout_id = %checkout.id, error = %e, "could not record a cart's deletion");
        }
    }
}
