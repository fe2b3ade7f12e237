//! Leases: one worker at a time owns a checkout's upstream conversation. A lease is taken
//! with one conditional update under a [`LeaseToken`] of this replica, holds while the replica
//! heartbeats (see [`crate::liveness`]; nothing is renewed per checkout), and ends in the write
//! that settles the operation (or is handed back). Requests that find a checkout leased wait
//! for it here instead of calling upstream.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use super::error::CheckoutError;
use super::model::{Checkout, Lease, UserId};
use super::service::CheckoutService;
use super::waiters::{Patience, Subscription};
use crate::ids::CheckoutId;
use crate::liveness::LeaseToken;
use crate::metrics::{LeaseTaking, WaitSource};
use crate::store::StoreError;

impl CheckoutService {
    /// A new owner name for one piece of work's lease. Keep it for as long as the work runs:
    /// once it is dropped, a lease still naming it is given back by the sweeper.
    pub(super) fn lease_owner(&self) -> LeaseToken {
        self.liveness.token()
    }

    /// How long a lease holds when its replica's liveness cannot vouch for it (see
    /// `lease_lapsed` in the store); written with every lease.
    pub(super) fn lease_span(&self) -> TimeDelta {
        TimeDelta::from_std(self.config.lease).unwrap_or(TimeDelta::seconds(30))
    }

    pub(super) async fn lease(
        &self,
        id: CheckoutId,
        owner: &str,
    ) -> Result<Option<Checkout>, CheckoutError> {
        let now = self.now();
        Ok(self
            .store
            .checkouts
            .try_lease(id, owner, now + self.lease_span(), now)
            .await?)
    }

    /// Take the lease of `user`'s checkout `id` in one statement when it is free: the
    /// ownership read and the lease folded into one (a payment's or purchase's first
    /// statement). When it is not free, the checkout as read, for the caller's own checks
    /// before it waits for the lease; someone else's checkout is not found.
    pub(super) async fn lease_own(
        &self,
        user: &UserId,
        id: CheckoutId,
        owner: &str,
    ) -> Result<Taking, CheckoutError> {
        let now = self.now();
        let lease = Lease {
            owner: owner.to_owned(),
            until: now + self.lease_span(),
        };
        let checkouts = &self.store.checkouts;
        if let Some(leased) = checkouts.try_lease_for_user(id, user, &lease, now).await? {
            return Ok(Taking::Leased(leased));
        }
        Ok(Taking::Busy(self.owned(user, id).await?))
    }

    /// The write that starts a payment or purchase (`paying`, `purchasing`), right before its
    /// call. When `checkout` holds no lease (this replica's record, see
    /// [`Self::cached_free`]), the write takes it; a record that is no longer the database's
    /// fails that write (`Conflict`): nothing is written, and the answer is
    /// [`Start::StaleRecord`], for the caller to take the lease by a statement of its own.
    pub(super) async fn write_start(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<Start, StoreError> {
        let held = checkout.lease.is_some();
        match self.save_before_call(checkout, owner).await {
            Ok(()) => {
                if !held {
                    self.metrics.operation_lease(LeaseTaking::WithWrite);
                }
                Ok(Start::Written)
            }
            Err(StoreError::Conflict) if !held => Ok(self.stale_record()),
            Err(e) => Err(e),
        }
    }

    /// The hold of `leased` ran out before its payment or purchase started: recorded as
    /// expired under a lease taken in the database; from this replica's record (no lease),
    /// nothing is recorded and the caller starts over with a lease of its own (`None`).
    pub(super) async fn hold_ran_out_before_start<T>(
        self: &Arc<Self>,
        leased: Checkout,
        owner: &str,
    ) -> Result<Option<T>, CheckoutError> {
        match leased.lease {
            Some(_) => Err(self.expire(leased, owner).await),
            None => {
                self.stale_record();
                Ok(None)
            }
        }
    }

    /// A payment or purchase could not start from this replica's record (it was not the
    /// database's any more, or the hold ran out meanwhile): nothing written.
    fn stale_record(&self) -> Start {
        self.metrics.operation_lease(LeaseTaking::StaleRecord);
        Start::StaleRecord
    }

    /// Take the lease, waiting (up to `wait`) while another worker holds it. `None` when it
    /// stayed taken for the whole wait.
    pub(super) async fn lease_when_free(
        &self,
        id: CheckoutId,
        owner: &str,
        wait: Duration,
    ) -> Result<Option<Checkout>, CheckoutError> {
        let waiting = self.waiters.subscribe(id);
        // Every try is made in the database, whatever woke it: a record handed over says only
        // that the checkout changed, not that the lease is there to take.
        let leased = self
            .retry_until(&waiting, wait, async |_handed| {
                Ok(self.lease(id, owner).await?.ok_or(()))
            })
            .await?;
        Ok(leased.ok())
    }

    /// Give the lease back unless the last write already did: the write that settles an
    /// operation frees the checkout (see `save`), and giving back again would cost a statement
    /// that changes nothing. A write that failed left the lease as it was in the database:
    /// `checkout.lease` then still names it, or the sweeper gives the orphan back.
    pub(super) async fn unlease_unless_settled(&self, checkout: &Checkout, owner: &str) {
        if checkout.lease.is_some() {
            self.unlease(checkout.id, owner).await;
        }
    }

    /// Give the lease back; after a failure the sweeper gives it back (its token is dropped).
    pub(super) async fn unlease(&self, id: CheckoutId, owner: &str) {
        if let Err(e) = self.store.checkouts.release_lease(id, owner).await {
            tracing::warn!(checkout_id = %id, error = %e, "could not hand back a lease");
        }
        self.waiters.wake(id);
    }

    /// Wait until the checkout is no longer pending, or `wait` ran out; return it as it is.
    /// A record this replica wrote meanwhile is handed over instead of read (see
    /// [`super::waiters`]).
    pub async fn wait_settled(
        &self,
        id: CheckoutId,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        self.settled(&self.waiters.subscribe(id), wait).await
    }

    /// Start driving `checkout` (just written under `owner`'s lease) and wait for it to
    /// settle: subscribed before the driver starts, the wait begins from the record in hand
    /// rather than a read of what was just written.
    pub(super) async fn drive_and_wait(
        self: &Arc<Self>,
        checkout: Checkout,
        owner: LeaseToken,
        captcha: Option<String>,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        let waiting = self.waiters.subscribe(checkout.id);
        waiting.start_from(checkout.clone());
        self.spawn_driver(checkout, owner, captcha);
        self.settled(&waiting, wait).await
    }

    async fn settled(
        &self,
        waiting: &Subscription<'_>,
        wait: Duration,
    ) -> Result<Checkout, CheckoutError> {
        let id = waiting.id();
        let outcome = self
            .retry_until(waiting, wait, async |handed| {
                let current = match handed {
                    Some(checkout) => {
                        self.metrics.checkout_wait_read(WaitSource::Handed);
                        checkout
                    }
                    None => {
                        self.metrics.checkout_wait_read(WaitSource::Database);
                        let read = self.store.checkouts.get(id).await?;
                        let current = read.ok_or(CheckoutError::NotFound)?;
                        waiting.saw(current.version);
                        current
                    }
                };
                Ok(if current.settling() {
                    Err(current)
                } else {
                    Ok(current)
                })
            })
            .await?;
        Ok(outcome.unwrap_or_else(|pending| pending))
    }

    /// Run `attempt` until it succeeds or `wait` runs out (see [`Subscription::retry_until`]).
    /// It is re-run when the checkout changes (woken by every write this replica makes and,
    /// on Postgres, by the change notifications of others'; a lost listener wakes everyone)
    /// and every `checkout.wait_recheck_secs` regardless: for a lease that lapsed with its
    /// replica (marking a replica dead writes no checkout, so nothing announces it).
    async fn retry_until<T, U>(
        &self,
        waiting: &Subscription<'_>,
        wait: Duration,
        attempt: impl AsyncFnMut(Option<Checkout>) -> Result<Result<T, U>, CheckoutError>,
    ) -> Result<Result<T, U>, CheckoutError> {
        let patience = Patience {
            deadline: tokio::time::Instant::now() + wait,
            recheck: self.config.wait_recheck,
        };
        waiting.retry_until(patience, &self.stopping, attempt).await
    }
}

/// What [`CheckoutService::write_start`] did.
pub(super) enum Start {
    /// Written: the operation is started, under the lease.
    Written,
    /// Not written: the record it started from was not the database's any more.
    StaleRecord,
}

/// What [`CheckoutService::lease_own`] found.
pub(super) enum Taking {
    /// The lease is the caller's: the checkout as stored after taking it.
    Leased(Checkout),
    /// Someone holds it: the checkout as read.
    Busy(Checkout),
}
