//! The sweeper/resumer loop: every `interval`, ask the store which checkouts need a worker
//! (an operation with no live lease, an expired hold, an abandoned reservation) and resume
//! each through [`CheckoutService::resume`]. Every replica runs it; the lease decides which
//! replica handles which checkout. Its upstream calls use the release lane of the quota, so
//! user traffic goes first.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::checkout::resume::Resumed;
use crate::checkout::service::CheckoutService;
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
}

/// Run passes until `shutdown` is cancelled.
pub async fn run(service: Arc<CheckoutService>, config: WorkerConfig, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
        let report = sweep_once(&service, &config).await;
        if report.due > 0 || report.keys_purged > 0 {
            tracing::info!(?report, "sweeper pass");
        }
    }
}

/// One pass over the checkouts that need a worker now.
pub async fn sweep_once(service: &Arc<CheckoutService>, config: &WorkerConfig) -> SweepReport {
    let now = service.now();
    let abandon =
        chrono::TimeDelta::from_std(config.abandon_after).unwrap_or(chrono::TimeDelta::MAX);
    let abandoned_before = now - abandon;
    let mut report = SweepReport::default();
    let due = match service
        .store
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
    match service.store.idempotency.purge_expired(now).await {
        Ok(purged) => report.keys_purged = purged,
        Err(e) => {
            tracing::warn!(error = %e, "could not purge expired idempotency keys");
            report.errors += 1;
        }
    }
    for id in due {
        match service.resume(id, abandoned_before).await {
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
    report.record(service.api.metrics());
    report
}

impl SweepReport {
    fn record(&self, metrics: &Metrics) {
        metrics.sweeper_backlog(self.due as u64);
        metrics.sweeper_failures(self.errors as u64);
        metrics.sweeper_releases(ReleaseReason::Expired, self.expired as u64);
        metrics.sweeper_releases(ReleaseReason::Abandoned, self.released as u64);
    }
}
