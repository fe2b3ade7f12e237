//! Query texts and row conversions of [`JobStore`](super::JobStore), shared by both backends
//! (the same rules as [`super::sql`]: `$N` placeholders, syntax both dialects accept).

use super::sql::{parse_id, parse_user};
use super::{StoreError, StoreResult};
use crate::clock::{from_millis, to_millis};
use crate::jobs::model::{
    AttemptResult, Delivery, DeliveryStatus, Finding, JobLease, JobRun, RunStatus, Trigger,
};

// ---- runs ------------------------------------------------------------------------------------

/// `$1` id, `$2` job, `$3` scheduled_at, `$4` trigger, `$5` owner, `$6` lease_until, `$7` now.
/// A new run is inserted; an existing one is taken over only while `running` with a lease that
/// ran out. Both databases serialise the conflicting row, so one claimer wins; the others get
/// no row back.
pub const CLAIM_RUN: &str = "INSERT INTO job_runs (id, job, scheduled_at, trigger, status, \
     lease_owner, lease_until, attempts, started_at, finished_at, known_orders, unknown_orders, \
     error) VALUES ($1, $2, $3, $4, 'running', $5, $6, 1, $7, NULL, 0, 0, NULL) \
     ON CONFLICT (job, scheduled_at) DO UPDATE SET lease_owner = excluded.lease_owner, \
       lease_until = excluded.lease_until, attempts = job_runs.attempts + 1 \
     WHERE job_runs.status = 'running' AND job_runs.lease_until < excluded.started_at \
     RETURNING *";

pub const RENEW_RUN: &str = "UPDATE job_runs SET lease_until = $3 \
     WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// `$3` status, `$4` finished_at, `$5` known, `$6` unknown, `$7` error.
pub const FINISH_RUN: &str = "UPDATE job_runs SET status = $3, finished_at = $4, \
     known_orders = $5, unknown_orders = $6, error = $7, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

pub const LATEST_SCHEDULED_RUN: &str = "SELECT * FROM job_runs \
     WHERE job = $1 AND trigger = 'schedule' ORDER BY scheduled_at DESC LIMIT 1";

/// `$1` job, `$2` limit.
pub const LIST_RUNS: &str =
    "SELECT * FROM job_runs WHERE job = $1 ORDER BY scheduled_at DESC, id DESC LIMIT $2";

// ---- findings and deliveries -----------------------------------------------------------------

pub const INSERT_FINDING: &str = "INSERT INTO unredeemed_findings (run_id, order_token, query, \
     source_account_id, user_id, order_id, event_id, purchased_at, event_starts_at, \
     email_status, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (run_id, order_token) DO NOTHING";

pub const LIST_FINDINGS: &str =
    "SELECT * FROM unredeemed_findings WHERE run_id = $1 ORDER BY order_token";

pub const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, run_id, order_token, \
     payload, status, attempts, next_attempt_at, dead_after, lease_owner, lease_until, \
     last_error, created_at, updated_at, delivered_at) \
     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, NULL, NULL, NULL, $7, $7, NULL) \
     ON CONFLICT (run_id, order_token) DO NOTHING";

/// `$1` owner, `$2` lease_until, `$3` now, `$4` limit. The conditions are checked again on
/// each row as it is written (Postgres re-evaluates them after waiting for a concurrent
/// writer; SQLite has one writer), so a delivery is never leased twice.
pub const CLAIM_DELIVERIES: &str = "UPDATE webhook_deliveries \
     SET lease_owner = $1, lease_until = $2 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
                  WHERE status = 'pending' AND next_attempt_at <= $3 \
                    AND (lease_until IS NULL OR lease_until < $3) \
                  ORDER BY next_attempt_at, id LIMIT $4) \
       AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
     RETURNING *";

/// `$3` status, `$4` next_attempt_at, `$5` last_error, `$6` delivered_at, `$7` now.
pub const FINISH_ATTEMPT: &str = "UPDATE webhook_deliveries SET status = $3, \
     attempts = attempts + 1, next_attempt_at = COALESCE($4, next_attempt_at), \
     last_error = $5, delivered_at = $6, updated_at = $7, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND lease_owner = $2 AND status = 'pending'";

pub const GET_DELIVERY: &str = "SELECT * FROM webhook_deliveries WHERE id = $1";

pub const LIST_DELIVERIES: &str = "SELECT * FROM webhook_deliveries WHERE status = $1 \
     ORDER BY updated_at DESC, id DESC LIMIT $2";

/// `$2` now, `$3` dead_after.
pub const REDRIVE: &str = "UPDATE webhook_deliveries SET status = 'pending', \
     next_attempt_at = $2, dead_after = $3, updated_at = $2, lease_owner = NULL, \
     lease_until = NULL WHERE id = $1 AND status = 'dead'";

pub const DELIVERY_BACKLOG: &str = "SELECT \
     (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'dead'), \
     (SELECT MIN(created_at) FROM webhook_deliveries WHERE status = 'pending')";

// ---- rows ------------------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub struct RunRow {
    pub id: String,
    pub job: String,
    pub scheduled_at: i64,
    pub trigger: String,
    pub status: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub attempts: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub known_orders: i64,
    pub unknown_orders: i64,
    pub error: Option<String>,
}

impl TryFrom<RunRow> for JobRun {
    type Error = StoreError;

    fn try_from(r: RunRow) -> StoreResult<Self> {
        Ok(JobRun {
            id: parse_id(&r.id)?,
            job: r.job,
            scheduled_at: from_millis(r.scheduled_at),
            trigger: Trigger::parse(&r.trigger).ok_or_else(|| corrupt("trigger", &r.trigger))?,
            status: RunStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            lease: lease(r.lease_owner, r.lease_until)?,
            attempts: r.attempts,
            started_at: from_millis(r.started_at),
            finished_at: r.finished_at.map(from_millis),
            known_orders: r.known_orders,
            unknown_orders: r.unknown_orders,
            error: r.error,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct FindingRow {
    pub run_id: String,
    pub order_token: String,
    pub query: String,
    pub source_account_id: String,
    pub user_id: Option<String>,
    pub order_id: Option<String>,
    pub event_id: String,
    pub purchased_at: i64,
    pub event_starts_at: i64,
    pub email_status: i64,
    pub recorded_at: i64,
}

impl From<&Finding> for FindingRow {
    fn from(f: &Finding) -> Self {
        Self {
            run_id: f.run_id.to_string(),
            order_token: f.order_token.clone(),
            query: f.query.clone(),
            source_account_id: f.source_account_id.clone(),
            user_id: f.user_id.as_ref().map(|u| u.as_str().to_owned()),
            order_id: f.order_id.map(|id| id.to_string()),
            event_id: f.event_id.clone(),
            purchased_at: to_millis(f.purchased_at),
            event_starts_at: to_millis(f.event_starts_at),
            email_status: f.email_status,
            recorded_at: to_millis(f.recorded_at),
        }
    }
}

impl TryFrom<FindingRow> for Finding {
    type Error = StoreError;

    fn try_from(r: FindingRow) -> StoreResult<Self> {
        Ok(Finding {
            run_id: parse_id(&r.run_id)?,
            order_token: r.order_token,
            query: r.query,
            source_account_id: r.source_account_id,
            user_id: r.user_id.as_deref().map(parse_user).transpose()?,
            order_id: r.order_id.as_deref().map(parse_id).transpose()?,
            event_id: r.event_id,
            purchased_at: from_millis(r.purchased_at),
            event_starts_at: from_millis(r.event_starts_at),
            email_status: r.email_status,
            recorded_at: from_millis(r.recorded_at),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub run_id: Option<String>,
    pub order_token: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub dead_after: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> StoreResult<Self> {
        Ok(Delivery {
            id: parse_id(&r.id)?,
            run_id: r.run_id.as_deref().map(parse_id).transpose()?,
            order_token: r.order_token,
            payload: r.payload,
            status: DeliveryStatus::parse(&r.status)
                .ok_or_else(|| corrupt("delivery status", &r.status))?,
            attempts: r.attempts,
            next_attempt_at: from_millis(r.next_attempt_at),
            dead_after: from_millis(r.dead_after),
            lease: lease(r.lease_owner, r.lease_until)?,
            last_error: r.last_error,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
            delivered_at: r.delivered_at.map(from_millis),
        })
    }
}

/// The columns [`FINISH_ATTEMPT`] writes for an attempt's result: status, next_attempt_at,
/// last_error, delivered_at, now.
pub struct AttemptColumns {
    pub status: &'static str,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub now: i64,
}

impl From<&AttemptResult> for AttemptColumns {
    fn from(result: &AttemptResult) -> Self {
        match result {
            AttemptResult::Delivered { at } => Self {
                status: DeliveryStatus::Delivered.as_str(),
                next_attempt_at: None,
                last_error: None,
                delivered_at: Some(to_millis(*at)),
                now: to_millis(*at),
            },
            AttemptResult::Retry {
                error,
                next_attempt_at,
                at,
            } => Self {
                status: DeliveryStatus::Pending.as_str(),
                next_attempt_at: Some(to_millis(*next_attempt_at)),
                last_error: Some(error.clone()),
                delivered_at: None,
                now: to_millis(*at),
            },
            AttemptResult::Dead { error, at } => Self {
                status: DeliveryStatus::Dead.as_str(),
                next_attempt_at: None,
                last_error: Some(error.clone()),
                delivered_at: None,
                now: to_millis(*at),
            },
        }
    }
}

fn lease(owner: Option<String>, until: Option<i64>) -> StoreResult<Option<JobLease>> {
    match (owner, until) {
        (Some(owner), Some(until)) => Ok(Some(JobLease {
            owner,
            until: from_millis(until),
        })),
        (None, None) => Ok(None),
        _ => Err(corrupt("lease", "owner without until")),
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected {what}: {value:?}"))
}
