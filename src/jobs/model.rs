//! The records scheduled jobs keep: runs (with their lease), what the unredeemed-orders job
//! found, and webhook deliveries. Domain types only; the store turns them into rows.

use chrono::{DateTime, Utc};

use crate::checkout::model::UserId;
use crate::ids::{DeliveryId, OrderId, RunId};

/// The jobs there are (the `job` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobName {
    Unredeemed,
}

impl JobName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unredeemed => "unredeemed",
        }
    }
}

/// Why a run happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The cron schedule reached `scheduled_at`.
    Schedule,
    /// The admin API or the CLI asked for it.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "schedule" => Some(Self::Schedule),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Who holds a run or a delivery, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub owner: String,
    pub until: DateTime<Utc>,
}

/// One run of a job for one scheduled time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub id: RunId,
    pub job: String,
    pub scheduled_at: DateTime<Utc>,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub lease: Option<JobLease>,
    /// How many times the run was claimed: 1, plus one per takeover.
    pub attempts: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub known_orders: i64,
    pub unknown_orders: i64,
    pub error: Option<String>,
}

/// A request to run `job` for `scheduled_at`: granted when no run exists for that time yet, or
/// when the existing one is still `running` under a lease that ran out before `now`.
#[derive(Debug, Clone)]
pub struct RunClaim {
    /// The id a new run gets (ignored on takeover: the run keeps its id).
    pub id: RunId,
    pub job: JobName,
    pub scheduled_at: DateTime<Utc>,
    pub trigger: Trigger,
    pub owner: String,
    pub lease_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub status: RunStatus,
    pub known_orders: i64,
    pub unknown_orders: i64,
    pub error: Option<String>,
    pub finished_at: DateTime<Utc>,
}

/// An unredeemed order one run found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub run_id: RunId,
    pub order_token: String,
    /// Which query found it, e.g. `days_before_event=3`.
    pub query: String,
    pub source_account_id: String,
    /// `None`: the `source_account_id` maps to no user of this gateway.
    pub user_id: Option<UserId>,
    /// The gateway's own order, when it recorded this purchase.
    pub order_id: Option<OrderId>,
    pub event_id: String,
    pub purchased_at: DateTime<Utc>,
    pub event_starts_at: DateTime<Utc>,
    /// Upstream's `email_status`: 1 sent, 2 bounced, 3 spam.
    pub email_status: i64,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Dead-lettered: the retry period ran out. Re-drivable.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One webhook message and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    /// The job run that queued it; `None` for a checkout's own notice (a purchase confirmed
    /// after it was unconfirmed).
    pub run_id: Option<RunId>,
    pub order_token: String,
    /// The JSON body exactly as it is signed and sent.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// A failed attempt at or after this time dead-letters the message.
    pub dead_after: DateTime<Utc>,
    pub lease: Option<JobLease>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Take up to `limit` pending deliveries due at `now` that no live lease covers.
#[derive(Debug, Clone)]
pub struct DeliveryClaim {
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
}

/// What one attempt came to, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered {
        at: DateTime<Utc>,
    },
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    Dead {
        error: String,
        at: DateTime<Utc>,
    },
}

/// The undelivered backlog, for the dead-letter and oldest-undelivered gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryBacklog {
    pub dead: u64,
    /// When the oldest still-pending delivery was created.
    pub oldest_pending: Option<DateTime<Utc>>,
}
