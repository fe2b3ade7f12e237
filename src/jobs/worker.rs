//! The sweeper/resumer loop: every `interval`, and at once when this replica's heartbeat has
//! found another replica dead, ask the store which checkouts need a worker (an operation with
//! no live lease, an expired hold, an abandoned reservation) and resume each through
//! [`CheckoutService::resume`]. Every replica runs it; the lease decides which replica handles
//! which checkout. Each pass first gives back this replica's own leases whose work stopped
//! without handing them back (they would otherwise hold for as long as the replica lives),
//! and deletes expired Idempotency-Keys and payment sessions (the latter an hour after they
//! expired, so a late visit to the page still hears "expired").
//! Its upstream calls use the release lane of the quota, so user traffic goes first.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::checkout::payment_session::KEPT_AFTER_EXPIRY;
use crate::checkout::resume::Resumed;
use crate::checkout::service::CheckoutService;
use crate::context::AppContext;
use crate::metrics::{Metrics, ReleaseReason};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub interval: Duration,
    /// A reserved checkout untouched this long is released.
    pub abandon_after: Duration,
    /// Checkouts looked at per pass.
    pub batch: u32,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub continued: usize,
    pub ended: usize,
    pub expired: usize,
    pub released: usize,
    pub busy: usize,
    pub errors: usize,
    pub keys_purged: u64,
    /// Payment sessions deleted, [`KEPT_AFTER_EXPIRY`] after they expired.
    pub sessions_purged: u64,
    /// Own leases given back because no work here held them any more.
    pub orphans: usize,
}

/// The sweeper of one process: the shared parts, the checkout use cases it resumes, its pace.
#[derive(Clone)]
pub struct Sweeper {
    pub context: AppContext,
    pub service: Arc<CheckoutService>,
    pub config: WorkerConfig,
}

impl Sweeper {
    /// Run passes until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.interval) => {}
                _ = self.context.liveness.reaped() => {}
            }
            let report = self.sweep_once().await;
            let purged = report.keys_purged + report.sessions_purged;
            if report.due > 0 || purged > 0 || report.orphans > 0 {
                tracing::info!(?report, "sweeper pass");
            }
        }
    }

    /// One pass over the checkouts that need a worker now. Recorded in the metrics however it
    /// ends, so a pass that cannot even list its work counts as failing.
    pub async fn sweep_once(&self) -> SweepReport {
        let report = self.pass().await;
        report.record(&self.context.metrics);
        report
    }

    async fn pass(&self) -> SweepReport {
        let (store, config) = (&self.context.store, &self.config);
        let now = self.context.clock.now();
        let abandoned_before = now - as_time_delta(config.abandon_after);
        let mut report = SweepReport::default();
        match self.give_back_orphans().await {
            Ok(n) => report.orphans = n,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper could not list this replica's leases");
                report.errors += 1;
            }
        }
        let due = match store
            .checkouts
            .due_for_work(now, abandoned_before, config.batch)
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper could not list checkouts");
                report.errors += 1;
                return report;
            }
        };
        report.due = due.len();
        match store.idempotency.purge_expired(now).await {
            Ok(purged) => report.keys_purged = purged,
            Err(e) => {
                tracing::warn!(error = %e, "could not purge expired idempotency keys");
                report.errors += 1;
            }
        }
        let sessions_expired_before = now - as_time_delta(KEPT_AFTER_EXPIRY);
        match store
            .payment_sessions
            .purge_expired(sessions_expired_before)
            .await
        {
            Ok(purged) => report.sessions_purged = purged,
            Err(e) => {
                tracing::warn!(error = %e, "could not purge expired payment sessions");
                report.errors += 1;
            }
        }
        for id in due {
            match self.service.resume(id, abandoned_before).await {
                Ok(Resumed::Continued | Resumed::Rechecked) => report.continued += 1,
                Ok(Resumed::Ended) => report.ended += 1,
                Ok(Resumed::Expired) => report.expired += 1,
                Ok(Resumed::Releasing) => report.released += 1,
                Ok(Resumed::Busy | Resumed::Idle) => report.busy += 1,
                Err(e) => {
                    tracing::warn!(checkout_id = %id, error = %e, "could not resume a checkout");
                    report.errors += 1;
                }
            }
        }
        report
    }
}

impl Sweeper {
    /// Gives back the leases naming this replica that no work here holds (see
    /// [`crate::liveness::LeaseToken`]); how many. Each is given back only if it still names
    /// the same token, so work that has just taken a new lease keeps it.
    async fn give_back_orphans(&self) -> Result<usize, crate::store::StoreError> {
        let (store, liveness) = (&self.context.store, &self.context.liveness);
        let leased = store.checkouts.leased_by(liveness.replica_id()).await?;
        let mut given_back = 0;
        for (id, owner) in leased {
            if liveness.holds(&owner) {
                continue;
            }
            tracing::warn!(checkout_id = %id, "a lease of this replica outlived its work; given back");
            store.checkouts.release_lease(id, &owner).await?;
            given_back += 1;
        }
        self.context.metrics.leases_orphaned(given_back as u64);
        Ok(given_back)
    }
}

/// A configured span as a `TimeDelta`; one too long for it (never configured) is the longest.
fn as_time_delta(span: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(span).unwrap_or(chrono::TimeDelta::MAX)
}

impl SweepReport {
    fn record(&self, metrics: &Metrics) {
        metrics.sweeper_backlog(self.due as u64);
        metrics.sweeper_failures(self.errors as u64);
        metrics.sweeper_releases(ReleaseReason::Expired, self.expired as u64);
        metrics.sweeper_releases(ReleaseReason::Abandoned, self.released as u64);
    }
}
