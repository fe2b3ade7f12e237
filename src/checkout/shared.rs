//! The machinery the use cases, the driver, the payment and the resumer share: the call
//! context of an upstream request, applying one of the checkout's own transitions (logged and
//! counted), saving under the lease, the hold running out, the maintenance refusal.

use std::sync::Arc;

use super::catalog::EventInfo;
use super::error::{CheckoutError, ErrorCode, Refusal};
use super::lifecycle::{HOLD_RAN_OUT, Moved};
use super::model::{Checkout, Lease};
use super::service::{CheckoutService, Requester};
use super::state::{CheckoutState, InvalidTransition};
use crate::store::{SendClaim, StoreError, Written};
use crate::upstream::quota::Ahead;
use crate::upstream::{CallContext, Priority};

impl CheckoutService {
    pub(super) fn context(&self, who: &Requester, priority: Priority) -> CallContext {
        CallContext {
            client_ip: who.client_ip.clone(),
            // A pseudonym, as `source_account_id` is: the partner's own user id never leaves.
            user_id: Some(self.source_account_id(&who.user)),
            priority,
        }
    }

    pub(super) fn context_of(&self, checkout: &Checkout, priority: Priority) -> CallContext {
        CallContext {
            client_ip: checkout.client_ip.clone(),
            user_id: Some(self.source_account_id(&checkout.user_id)),
            priority,
        }
    }

    /// Make `change` (one of the checkout's own transitions, see `lifecycle`), then log and
    /// count the transition it made. Refused, it leaves the checkout as it was.
    pub(super) fn apply(
        &self,
        checkout: &mut Checkout,
        change: impl FnOnce(&mut Checkout) -> Result<Moved, InvalidTransition>,
    ) -> Result<(), InvalidTransition> {
        let Moved { from, to } = change(checkout)?;
        tracing::info!(
            checkout_id = %checkout.id,
            from = from.as_str(),
            to = to.as_str(),
            "checkout transition"
        );
        let metrics = &self.metrics;
        metrics.transition(to);
        let age = (self.now() - checkout.created_at)
            .to_std()
            .unwrap_or_default();
        match to {
            CheckoutState::Reserved => metrics.reserved_after(age),
            CheckoutState::Purchased => metrics.purchased_after(age),
            _ => {}
        }
        Ok(())
    }

    /// Persist under the lease (its `until` covering a poll's wait, for readers that judge it by
    /// time), drop its cached read and hand the written record to its waiters.
    pub(super) async fn save(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<(), StoreError> {
        let checkouts = &self.store.checkouts;
        self.save_with(checkout, owner, async |c| checkouts.update(c).await)
            .await
    }

    /// [`Self::save`] through `write` (the update, or the update with a quota claim).
    async fn save_with(
        &self,
        checkout: &mut Checkout,
        owner: &str,
        write: impl AsyncFnOnce(&Checkout) -> Result<Written, StoreError>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let poll_until = checkout
            .poll
            .as_ref()
            .map(|p| p.not_before + self.lease_span());
        let until = (now + self.lease_span()).max(poll_until.unwrap_or(now));
        // The lease lives exactly as long as an operation: the write that settles one also
        // frees the checkout, so no request ever finds a settled checkout still leased.
        let settled = checkout.operation.is_none() && !checkout.state.is_pending();
        let held = (!settled).then(|| Lease {
            owner: owner.to_owned(),
            until,
        });
        checkout.updated_at = now;
        self.write_leased(checkout, held, write).await
    }

    /// [`Self::save`] right before an upstream call: the call's quota slot is claimed in the
    /// same statement where the store can (one commit for both), else while the write is out
    /// (persist-then-call needs the write durable before the call, not the claim after it),
    /// so the step waits for one round trip instead of two.
    pub(super) async fn save_before_call(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<(), StoreError> {
        let Some((ahead, claim)) = self.claim_to_make() else {
            let (saved, ()) = tokio::join!(self.save(checkout, owner), self.api.claim_ahead());
            return saved;
        };
        let checkouts = &self.store.checkouts;
        let mut claimed = 0;
        let saved = self
            .save_with(checkout, owner, async |c| {
                let (written, slots) = checkouts.update_claiming(c, &claim).await?;
                claimed = slots;
                Ok(written)
            })
            .await;
        ahead.granted(claimed);
        saved
    }

    /// The next send's quota slot, as the claim the store makes in the statement of a write,
    /// when it can (else the caller claims ahead beside its write, see
    /// [`crate::upstream::QuotaLimiter::claim_ahead`]) and this replica's quota is idle (see
    /// [`crate::upstream::QuotaLimiter::ahead`]). Stamped with the real clock, as every claim
    /// of the shared log is: upstream counts real seconds.
    pub(super) fn claim_to_make(&self) -> Option<(Ahead<'_>, SendClaim<'static>)> {
        if !self.store.checkouts.claims_in_writes() {
            return None;
        }
        let ahead = self.api.quota_ahead()?;
        let claim = SendClaim {
            budget: ahead.budget,
            capacity: u32::try_from(ahead.capacity).unwrap_or(u32::MAX),
            now: chrono::Utc::now(),
            window: chrono::TimeDelta::from_std(ahead.window).ok()?,
            sends: 1,
        };
        Some((ahead, claim))
    }

    /// Write `checkout` with `lease` on it (`None`: the write frees it) through `write`, the
    /// one statement that bumps its version. The waiters are handed the record written; a
    /// failed write puts the lease back as the database still has it (`unlease_unless_settled`
    /// reads it) and sends everyone to the database, before anyone is answered: a write whose
    /// answer was lost may have happened.
    pub(super) async fn write_leased(
        &self,
        checkout: &mut Checkout,
        lease: Option<Lease>,
        write: impl AsyncFnOnce(&Checkout) -> Result<Written, StoreError>,
    ) -> Result<(), StoreError> {
        let before = std::mem::replace(&mut checkout.lease, lease);
        let ticket = self.read_ticket(checkout.id);
        let writing = self.waiters.writing(checkout.id, checkout.version + 1);
        let written = match write(checkout).await {
            Ok(written) => written,
            Err(e) => {
                self.changed_here(checkout.id);
                checkout.lease = before;
                return Err(e);
            }
        };
        checkout.version += 1;
        checkout.release_requested |= written.release_requested;
        self.written_here(checkout, writing, ticket);
        Ok(())
    }

    pub(super) fn hold_ran_out(&self, checkout: &Checkout) -> bool {
        checkout.hold_expires_at.is_some_and(|at| at <= self.now())
    }

    /// The hold ran out: record it and let the driver delete the cart upstream anyway (the
    /// hold may outlive our clock's idea of it).
    pub(super) async fn expire(
        self: &Arc<Self>,
        mut leased: Checkout,
        owner: &str,
    ) -> CheckoutError {
        let id = leased.id;
        // The hold may outlive our clock's idea of it: the cart is deleted all the same.
        if self.apply(&mut leased, Checkout::expire).is_ok()
            && self.save(&mut leased, owner).await.is_ok()
        {
            self.release_owed_cart(&mut leased, owner).await;
        }
        self.unlease(id, owner).await;
        CheckoutError::Refused(Refusal {
            code: ErrorCode::HoldExpired,
            message: HOLD_RAN_OUT.into(),
            upstream_code: None,
            checkout_id: Some(id),
            retry_after: None,
        })
    }

    pub(super) fn refuse_in_maintenance(&self, info: &EventInfo) -> Result<(), CheckoutError> {
        let now = self.now();
        let status = self.catalog.hours.status(info.timezone, now);
        match status.window_ends_at {
            Some(ends) if status.in_window => Err(CheckoutError::Refused(Refusal {
                code: ErrorCode::MaintenanceWindow,
                message: format!(
                    "the venue's ticketing system is in nightly maintenance until {}",
                    ends.to_rfc3339()
                ),
                upstream_code: None,
                checkout_id: None,
                retry_after: Some((ends - now).num_seconds().max(1) as u64),
            })),
            _ => Ok(()),
        }
    }
}
