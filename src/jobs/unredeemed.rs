//! The unredeemed-orders job: for each configured query, ask upstream
//! (`GET /orders/unredeemed`, job lane of the quota) which orders were never redeemed, map each
//! `source_account_id` back to the partner's user and to the gateway's own order, record the
//! findings under the run, and queue one signed webhook message per (run, order) whose user is
//! known. Orders whose account maps to no user are recorded and reported, never dropped, and
//! not sent (there is no user to remind).
//!
//! Upstream's docs describe no paging for this endpoint (one `data` array), so one call per
//! query is the whole answer.
//!
//! A run is claimed in the store first (see [`crate::store::JobStore::claim_run`]) and its
//! lease renewed while it works, so one replica runs each scheduled time; a replica that dies
//! mid-run loses the lease and another runs the same time again. Recording is idempotent per
//! (run, order), so the second try neither duplicates findings nor messages.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use super::delivery::RetryPolicy;
use super::message;
use super::model::{
    Delivery, DeliveryStatus, Finding, JobName, JobRun, RunClaim, RunResult, RunStatus, Trigger,
};
use crate::checkout::model::{Order, UserId};
use crate::clock::from_millis;
use crate::context::AppContext;
use crate::ids::{DeliveryId, RunId};
use crate::metrics::Metrics;
use crate::store::StoreError;
use crate::upstream::{UnredeemedQuery, UpstreamError, wire};

const JOB: JobName = JobName::Unredeemed;

#[derive(Debug, Clone)]
pub struct UnredeemedConfig {
    /// Asked in order on every run.
    pub queries: Vec<UnredeemedQuery>,
    /// How long a run's claim holds without renewal.
    pub lease: Duration,
    /// Who this replica is, in leases.
    pub owner: String,
    /// `Some` when a webhook is configured: known findings are queued for delivery.
    pub delivery: Option<RetryPolicy>,
}

/// What to run.
#[derive(Debug, Clone)]
pub enum RunRequest {
    /// The schedule reached this time.
    Scheduled(DateTime<Utc>),
    /// Now, by hand; `queries` replaces the configured ones when given.
    Manual {
        queries: Option<Vec<UnredeemedQuery>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("upstream: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// How one run went: everything its metrics and its report are made from.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: RunId,
    pub scheduled_at: DateTime<Utc>,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub findings: Vec<Finding>,
    pub known: u64,
    pub unknown: u64,
    /// Webhook messages queued by this run.
    pub queued: u64,
    #[serde(with = "duration_secs")]
    pub duration: Duration,
    pub error: Option<String>,
}

impl RunReport {
    /// Count this run in the job metrics (the only place runs are counted).
    pub fn record(&self, metrics: &Metrics) {
        metrics.job_run(
            JOB.as_str(),
            self.status == RunStatus::Succeeded,
            self.duration,
        );
        metrics.orders_found(JOB.as_str(), self.known, self.unknown);
    }
}

mod duration_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// An upstream order joined to the gateway's records (the admin API's live view).
#[derive(Debug, Clone, Serialize)]
pub struct MappedOrder {
    pub order_token: String,
    pub source_account_id: String,
    pub user_id: Option<UserId>,
    pub order_id: Option<String>,
    pub event_id: String,
    pub purchased_at: DateTime<Utc>,
    pub event_starts_at: DateTime<Utc>,
    pub email_status: i64,
}

pub struct UnredeemedJob {
    pub context: AppContext,
    pub config: UnredeemedConfig,
    /// Woken after a run queued messages.
    pub wake_delivery: Arc<Notify>,
}

impl UnredeemedJob {
    /// Claim and run. `Ok(None)` when another replica has (or had) this run.
    pub async fn run(&self, request: RunRequest) -> Result<Option<RunReport>, JobError> {
        let now = self.context.clock.now();
        let (scheduled_at, trigger, queries) = match request {
            RunRequest::Scheduled(at) => (at, Trigger::Schedule, self.config.queries.clone()),
            RunRequest::Manual { queries } => (
                now,
                Trigger::Manual,
                queries.unwrap_or_else(|| self.config.queries.clone()),
            ),
        };
        let claim = RunClaim {
            id: RunId::new(),
            job: JOB,
            scheduled_at,
            trigger,
            owner: self.config.owner.clone(),
            lease_until: now + self.lease(),
            now,
        };
        let Some(run) = self.context.store.jobs.claim_run(&claim).await? else {
            return Ok(None);
        };
        tracing::info!(run_id = %run.id, %scheduled_at, attempts = run.attempts, "unredeemed-orders run started");
        let started = Instant::now();
        let heartbeat = self.heartbeat(run.id);
        // A manual run whose caller goes away (its admin request dropped) ends `failed`
        // rather than staying `running` under nobody; a scheduled one is taken over when its
        // lease lapses, as after a crash.
        let mut unfinished = Unfinished {
            context: self.context.clone(),
            run: run.id,
            owner: self.config.owner.clone(),
            armed: trigger == Trigger::Manual,
        };
        let collected = self.collect(&run, &queries).await;
        drop(heartbeat);
        let (findings, error) = match collected {
            Ok(findings) => (findings, None),
            Err((findings, e)) => (findings, Some(e.to_string())),
        };
        let known = findings.iter().filter(|f| f.user_id.is_some()).count() as u64;
        let report = RunReport {
            run_id: run.id,
            scheduled_at: run.scheduled_at,
            trigger: run.trigger,
            status: if error.is_none() {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            known,
            unknown: findings.len() as u64 - known,
            queued: if self.config.delivery.is_some() {
                known
            } else {
                0
            },
            findings,
            duration: started.elapsed(),
            error,
        };
        let result = RunResult {
            status: report.status,
            known_orders: report.known as i64,
            unknown_orders: report.unknown as i64,
            error: report.error.clone(),
            finished_at: self.context.clock.now(),
        };
        unfinished.armed = false;
        if !self
            .context
            .store
            .jobs
            .finish_run(run.id, &self.config.owner, &result)
            .await?
        {
            // Another replica took the run over (this one was too slow to renew): it records
            // the outcome; this report is not counted twice.
            tracing::warn!(run_id = %run.id, "lost the run's lease before finishing");
            return Ok(None);
        }
        report.record(&self.context.metrics);
        if report.queued > 0 {
            self.wake_delivery.notify_one();
        }
        if report.status == RunStatus::Failed {
            tracing::warn!(run_id = %run.id, known = report.known, unknown = report.unknown, "unredeemed-orders run failed");
        } else {
            tracing::info!(run_id = %run.id, known = report.known, unknown = report.unknown, status = ?report.status, "unredeemed-orders run finished");
        }
        Ok(Some(report))
    }

    /// Upstream's unredeemed orders for `query`, joined to users and orders; nothing recorded.
    pub async fn lookup(&self, query: UnredeemedQuery) -> Result<Vec<MappedOrder>, JobError> {
        let listed = self.context.upstream.unredeemed_orders(query).await?;
        let mut mapped = Vec::with_capacity(listed.data.len());
        for order in listed.data {
            let (user, ours) = self.map(&order).await?;
            mapped.push(MappedOrder {
                order_id: ours.map(|o| o.id.to_string()),
                user_id: user,
                order_token: order.order_token,
                source_account_id: order.order_source_account_id,
                event_id: order.event_id,
                purchased_at: from_millis(order.purchase_date_time),
                event_starts_at: from_millis(order.event_date_time),
                email_status: i64::from(order.email_status),
            });
        }
        Ok(mapped)
    }

    fn lease(&self) -> TimeDelta {
        TimeDelta::from_std(self.config.lease).unwrap_or(TimeDelta::MAX)
    }

    /// Renew the run's lease every third of its length while the run works; stops when
    /// dropped, however the run ends.
    fn heartbeat(&self, run: RunId) -> crate::heartbeat::Guard {
        let (context, owner, lease) = (
            self.context.clone(),
            self.config.owner.clone(),
            self.config.lease,
        );
        let what = format!("the lease of run {run}");
        crate::heartbeat::Guard::spawn(lease / 3, what, move || {
            let (context, owner) = (context.clone(), owner.clone());
            async move {
                let until =
                    context.clock.now() + TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
                context
                    .store
                    .renewals
                    .jobs
                    .renew_run(run, &owner, until)
                    .await
            }
        })
    }

    /// Ask every query and record what it finds; on an error, what was recorded so far.
    async fn collect(
        &self,
        run: &JobRun,
        queries: &[UnredeemedQuery],
    ) -> Result<Vec<Finding>, (Vec<Finding>, JobError)> {
        let mut findings = Vec::new();
        let mut seen = HashSet::new();
        for query in queries {
            let listed = match self.context.upstream.unredeemed_orders(*query).await {
                Ok(listed) => listed,
                Err(e) => return Err((findings, e.into())),
            };
            for order in listed.data {
                // One finding per order per run, from the first query that lists it.
                if !seen.insert(order.order_token.clone()) {
                    continue;
                }
                match self.record(run, *query, order).await {
                    Ok(finding) => findings.push(finding),
                    Err(e) => return Err((findings, e)),
                }
            }
        }
        Ok(findings)
    }

    async fn record(
        &self,
        run: &JobRun,
        query: UnredeemedQuery,
        order: wire::UnredeemedOrder,
    ) -> Result<Finding, JobError> {
        let (user, ours) = self.map(&order).await?;
        let now = self.context.clock.now();
        if let (Some(user), None) = (&user, &ours) {
            // An order of this user that no checkout recorded: perhaps the one an unconfirmed
            // purchase waits for. Its checkout looks it up at once (and takes it only by the
            // reconciliation's own rules).
            let nudged = self
                .context
                .store
                .checkouts
                .nudge_unconfirmed(user, &order.event_id, now)
                .await?;
            if nudged > 0 {
                tracing::info!(nudged, "unconfirmed purchases to look up again");
            }
        }
        let finding = Finding {
            run_id: run.id,
            order_token: order.order_token,
            query: query_text(query),
            source_account_id: order.order_source_account_id,
            user_id: user,
            order_id: ours.as_ref().map(|o| o.id),
            event_id: order.event_id,
            purchased_at: from_millis(order.purchase_date_time),
            event_starts_at: from_millis(order.event_date_time),
            email_status: i64::from(order.email_status),
            recorded_at: now,
        };
        let delivery = match (&self.config.delivery, &finding.user_id) {
            (Some(policy), Some(user)) => Some(Delivery {
                id: DeliveryId::new(),
                run_id: Some(run.id),
                order_token: finding.order_token.clone(),
                payload: message::payload(&finding, user, ours.as_ref(), run, now),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                dead_after: policy.dead_after(now),
                lease: None,
                last_error: None,
                created_at: now,
                updated_at: now,
                delivered_at: None,
            }),
            _ => None,
        };
        self.context
            .store
            .jobs
            .record_finding(&finding, delivery.as_ref())
            .await?;
        Ok(finding)
    }

    /// The user behind an order's `source_account_id` (else the user of the gateway's own
    /// order with that token), and that order.
    async fn map(
        &self,
        order: &wire::UnredeemedOrder,
    ) -> Result<(Option<UserId>, Option<Order>), StoreError> {
        let store = &self.context.store;
        let user = store
            .accounts
            .user_for(&order.order_source_account_id)
            .await?;
        let ours = store.orders.find_by_token(&order.order_token).await?;
        let user = user.or_else(|| ours.as_ref().map(|o| o.user_id.clone()));
        Ok((user, ours))
    }
}

/// `days_from_purchase=N` / `days_before_event=N`: how queries are written in config, the
/// findings and the payload.
pub fn query_text(query: UnredeemedQuery) -> String {
    match query {
        UnredeemedQuery::DaysFromPurchase(n) => format!("days_from_purchase={n}"),
        UnredeemedQuery::DaysBeforeEvent(n) => format!("days_before_event={n}"),
    }
}

/// Parse one query as [`query_text`] writes it.
pub fn parse_query(text: &str) -> Option<UnredeemedQuery> {
    let (name, days) = text.trim().split_once('=')?;
    let days: u32 = days.trim().parse().ok()?;
    match name.trim() {
        "days_from_purchase" => Some(UnredeemedQuery::DaysFromPurchase(days)),
        "days_before_event" => Some(UnredeemedQuery::DaysBeforeEvent(days)),
        _ => None,
    }
}

/// A claimed manual run: if its future is dropped before the run finishes, the run is
/// recorded `failed` ("interrupted") by a task of its own, so it is not left `running`.
struct Unfinished {
    context: AppContext,
    run: RunId,
    owner: String,
    armed: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.armed {
            return;
        }
        let (context, run, owner) = (self.context.clone(), self.run, self.owner.clone());
        runtime.spawn(async move {
            let result = RunResult {
                status: RunStatus::Failed,
                known_orders: 0,
                unknown_orders: 0,
                error: Some("interrupted: the request that started the run went away".into()),
                finished_at: context.clock.now(),
            };
            match context.store.jobs.finish_run(run, &owner, &result).await {
                Ok(_) => {
                    tracing::warn!(run_id = %run, "manual run interrupted; recorded as failed")
                }
                Err(e) => {
                    tracing::warn!(run_id = %run, error = %e, "could not record an interrupted run")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_round_trip_through_their_text() {
        for q in [
            UnredeemedQuery::DaysFromPurchase(1),
            UnredeemedQuery::DaysBeforeEvent(3),
        ] {
            assert_eq!(parse_query(&query_text(q)), Some(q));
        }
        assert_eq!(parse_query("days_before_event=-1"), None);
        assert_eq!(parse_query("weeks=1"), None);
    }
}
