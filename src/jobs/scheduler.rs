//! The scheduler loop every replica runs: once a tick, decide with [`CronSchedule::due`]
//! whether a scheduled time is due, or whether the latest run is still `running` under a lease
//! that ran out (its replica died); then try to claim it. The store's claim decides which
//! replica runs it, so replicas need no coordination of their own.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::model::{JobName, RunStatus};
use super::schedule::{CronSchedule, DueContext};
use super::unredeemed::{RunRequest, UnredeemedJob};

/// Longest sleep between looks at the store: bounds how late a takeover or a moved test
/// clock is noticed.
const TICK: Duration = Duration::from_secs(1);

pub struct Scheduler {
    pub job: Arc<UnredeemedJob>,
    pub schedule: CronSchedule,
    /// When this replica started (see the catch-up rule in [`super::schedule`]).
    pub booted_at: DateTime<Utc>,
}

impl Scheduler {
    pub async fn run(self, shutdown: CancellationToken) {
        let booted_at = self.booted_at;
        // The latest scheduled time known to be finished: until the schedule moves past it,
        // there is nothing to ask the store.
        let mut settled: Option<DateTime<Utc>> = None;
        loop {
            let now = self.job.context.clock.now();
            let latest = self.schedule.latest_at_or_before(now);
            if latest.is_some() && latest != settled {
                // A stop does not wait for a run: its lease lapses and a replica still running
                // takes it over (its findings and deliveries are kept once per order).
                let ticked = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    ticked = self.tick(now, booted_at) => ticked,
                };
                match ticked {
                    Ok(Some(done)) => settled = Some(done),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
                }
            }
            let until_next = self
                .schedule
                .next_after(now)
                .and_then(|next| (next - now).to_std().ok())
                .unwrap_or(TICK);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(until_next.min(TICK)) => {}
            }
        }
    }

    /// One look: run what is due. Returns the scheduled time that is now settled (finished,
    /// here or elsewhere), if any.
    async fn tick(
        &self,
        now: DateTime<Utc>,
        booted_at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, crate::store::StoreError> {
        let store = &self.job.context.store.jobs;
        let last = store.latest_scheduled_run(JobName::Unredeemed).await?;
        let due = self.schedule.due(
            now,
            DueContext {
                last_scheduled: last.as_ref().map(|r| r.scheduled_at),
                booted_at,
            },
        );
        let target = match (&due, &last) {
            (Some(at), _) => *at,
            // Recorded but not finished: a takeover if its lease ran out.
            (None, Some(run)) if run.status == RunStatus::Running => {
                if run.lease.as_ref().is_some_and(|l| l.until < now) {
                    run.scheduled_at
                } else {
                    return Ok(None);
                }
            }
            // Covered by a finished run, or from before this replica started on a job that
            // never ran: settled either way.
            _ => return Ok(self.schedule.latest_at_or_before(now)),
        };
        match self.job.run(RunRequest::Scheduled(target)).await {
            Ok(Some(_)) => Ok(Some(target)),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, scheduled_at = %target, "scheduled run failed");
                Ok(None)
            }
        }
    }
}
