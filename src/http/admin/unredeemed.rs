//! `GET /admin/unredeemed-orders` (upstream's unredeemed orders joined to the partner's users,
//! live) and `POST /admin/jobs/unredeemed/run` (one run of the job now), with their wire
//! types: the same fields as the job's own records, which `jobs unredeemed --json` prints.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AdminState, authorize};
use crate::checkout::error::ErrorCode;
use crate::http::openapi::Routes;
use crate::http::openapi::problems::{AdminRunProblems, AdminUnredeemedProblems};
use crate::http::problem::ApiError;
use crate::jobs::model::Finding;
use crate::jobs::unredeemed::{MappedOrder, RunReport, RunRequest, parse_query};
use crate::upstream::UnredeemedQuery;

pub fn routes(routes: &mut Routes) {
    routes.service(unredeemed_orders).service(run_unredeemed);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnredeemedParams {
    /// Orders by days since purchase (give this or `days_before_event`, not both); how
    /// upstream counts it is in `docs/upstream-assumptions.md`.
    #[param(example = 1)]
    days_from_purchase: Option<u32>,
    /// Orders by days before the event starts.
    days_before_event: Option<u32>,
}

impl UnredeemedParams {
    /// Exactly one of the two windows, as upstream takes it.
    fn query(&self) -> Result<UnredeemedQuery, ApiError> {
        match (self.days_from_purchase, self.days_before_event) {
            (Some(n), None) => Ok(UnredeemedQuery::DaysFromPurchase(n)),
            (None, Some(n)) => Ok(UnredeemedQuery::DaysBeforeEvent(n)),
            _ => Err(ApiError::field(
                "days_from_purchase",
                "give exactly one of days_from_purchase or days_before_event",
            )),
        }
    }
}

/// One of upstream's unredeemed orders, joined to the gateway's records.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnredeemedOrder)]
pub struct UnredeemedOrderBody {
    order_token: String,
    /// The keyed digest of the user id the order was bought under.
    source_account_id: String,
    /// The partner's user id; null when the `source_account_id` maps to no user here.
    user_id: Option<String>,
    /// The gateway's `ord_…` id, when it recorded the purchase.
    order_id: Option<String>,
    event_id: String,
    purchased_at: DateTime<Utc>,
    event_starts_at: DateTime<Utc>,
    /// Upstream's `email_status`: 1 sent, 2 bounced, 3 spam.
    email_status: i64,
}

impl From<MappedOrder> for UnredeemedOrderBody {
    fn from(o: MappedOrder) -> Self {
        Self {
            order_token: o.order_token,
            source_account_id: o.source_account_id,
            user_id: o.user_id.map(|u| u.as_str().to_owned()),
            order_id: o.order_id,
            event_id: o.event_id,
            purchased_at: o.purchased_at,
            event_starts_at: o.event_starts_at,
            email_status: o.email_status,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnredeemedOrderList)]
pub struct UnredeemedOrderList {
    orders: Vec<UnredeemedOrderBody>,
}

/// Unredeemed orders, joined to users
///
/// Asks upstream now (one request against the quota) and maps each order to the partner's
/// user through the stored `source_account_id`. Nothing is recorded or sent.
#[utoipa::path(
    tag = "jobs",
    params(UnredeemedParams),
    responses(
        (status = 200, description = "The orders upstream lists", body = UnredeemedOrderList,
            example = json!({"orders": [{
                "order_token": "6c0f1d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
                "source_account_id": "3q2-7w_digest", "user_id": "alice",
                "order_id": "ord_0190b8f3a1b27c4d8e9f0a1b2c3d4e5f", "event_id": "3F004CBB88958BF9",
                "purchased_at": "2026-11-24T18:04:11Z", "event_starts_at": "2026-12-18T03:00:00Z",
                "email_status": 1
            }]})),
        AdminUnredeemedProblems,
    )
)]
#[get("/admin/unredeemed-orders")]
async fn unredeemed_orders(
    req: HttpRequest,
    state: web::Data<AdminState>,
    params: web::Query<UnredeemedParams>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let query = params.query()?;
    let orders = state
        .jobs
        .unredeemed
        .lookup(query)
        .await
        .map_err(|e| ApiError::new(ErrorCode::UpstreamUnavailable, e.to_string()))?;
    Ok(HttpResponse::Ok().json(UnredeemedOrderList {
        orders: orders.into_iter().map(UnredeemedOrderBody::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// Comma-separated queries replacing the configured `unredeemed.queries` for this run.
    #[param(example = "days_from_purchase=1,days_before_event=3")]
    queries: Option<String>,
}

/// One run of the unredeemed-orders job.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnredeemedRun)]
pub struct RunReportBody {
    #[schema(example = "run_0190b8f4c1d27e3f8a9b0c1d2e3f4a5b")]
    run_id: String,
    scheduled_at: DateTime<Utc>,
    /// `schedule` or `manual`.
    #[schema(example = "manual")]
    trigger: &'static str,
    /// `running`, `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    status: &'static str,
    findings: Vec<FindingBody>,
    /// Orders mapped to a user of this gateway.
    known: u64,
    /// Orders whose `source_account_id` maps to no user here.
    unknown: u64,
    /// Webhook messages this run queued.
    queued: u64,
    /// Seconds the run took.
    duration: f64,
    error: Option<String>,
}

/// An unredeemed order one run found.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnredeemedFinding)]
pub struct FindingBody {
    run_id: String,
    order_token: String,
    /// Which query found it, e.g. `days_before_event=3`.
    query: String,
    source_account_id: String,
    user_id: Option<String>,
    order_id: Option<String>,
    event_id: String,
    purchased_at: DateTime<Utc>,
    event_starts_at: DateTime<Utc>,
    /// Upstream's `email_status`: 1 sent, 2 bounced, 3 spam.
    email_status: i64,
    recorded_at: DateTime<Utc>,
}

impl From<&Finding> for FindingBody {
    fn from(f: &Finding) -> Self {
        Self {
            run_id: f.run_id.to_string(),
            order_token: f.order_token.clone(),
            query: f.query.clone(),
            source_account_id: f.source_account_id.clone(),
            user_id: f.user_id.as_ref().map(|u| u.as_str().to_owned()),
            order_id: f.order_id.map(|o| o.to_string()),
            event_id: f.event_id.clone(),
            purchased_at: f.purchased_at,
            event_starts_at: f.event_starts_at,
            email_status: f.email_status,
            recorded_at: f.recorded_at,
        }
    }
}

impl From<&RunReport> for RunReportBody {
    fn from(r: &RunReport) -> Self {
        Self {
            run_id: r.run_id.to_string(),
            scheduled_at: r.scheduled_at,
            trigger: r.trigger.as_str(),
            status: r.status.as_str(),
            findings: r.findings.iter().map(FindingBody::from).collect(),
            known: r.known,
            unknown: r.unknown,
            queued: r.queued,
            duration: r.duration.as_secs_f64(),
            error: r.error.clone(),
        }
    }
}

/// Run the unredeemed-orders job now
///
/// One run with the configured queries (or `queries`), then its webhook messages are queued
/// as a scheduled run's are. Answers the run's report. `invalid_state` when a run for this
/// instant is already recorded.
#[utoipa::path(
    tag = "jobs",
    params(RunParams),
    responses(
        (status = 200, description = "The run's report", body = RunReportBody,
            example = json!({
                "run_id": "run_0190b8f4c1d27e3f8a9b0c1d2e3f4a5b", "scheduled_at": "2026-11-25T09:00:00Z",
                "trigger": "manual", "status": "succeeded", "findings": [], "known": 0,
                "unknown": 0, "queued": 0, "duration": 0.42, "error": null
            })),
        AdminRunProblems,
    )
)]
#[post("/admin/jobs/unredeemed/run")]
async fn run_unredeemed(
    req: HttpRequest,
    state: web::Data<AdminState>,
    params: web::Query<RunParams>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let queries = match params.queries.as_deref() {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|q| {
                    parse_query(q).ok_or_else(|| {
                        ApiError::field("queries", format!("`{q}` is not a known query"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let report = state
        .jobs
        .unredeemed
        .run(RunRequest::Manual { queries })
        .await
        .map_err(|e| ApiError::new(ErrorCode::UpstreamUnavailable, e.to_string()))?;
    match report {
        Some(report) => Ok(HttpResponse::Ok().json(RunReportBody::from(&report))),
        None => Err(ApiError::new(
            ErrorCode::InvalidState,
            "a run for this instant is already recorded",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checkout::model::UserId;
    use crate::ids::{OrderId, RunId};
    use crate::jobs::model::{RunStatus, Trigger};

    /// The admin answer has exactly the fields, and values, of the job's own report (which
    /// `jobs unredeemed --json` prints).
    #[test]
    fn the_wire_report_serializes_as_the_jobs_own() {
        let now = Utc::now();
        let run_id = RunId::new();
        let finding = |user: Option<&str>, order: Option<OrderId>| Finding {
            run_id,
            order_token: "token-1".into(),
            query: "days_from_purchase=1".into(),
            source_account_id: "acct".into(),
            user_id: user.and_then(UserId::parse),
            order_id: order,
            event_id: "3F004CBB88958BF9".into(),
            purchased_at: now,
            event_starts_at: now,
            email_status: 2,
            recorded_at: now,
        };
        let report = RunReport {
            run_id,
            scheduled_at: now,
            trigger: Trigger::Manual,
            status: RunStatus::Succeeded,
            findings: vec![
                finding(Some("alice"), Some(OrderId::new())),
                finding(None, None),
            ],
            known: 1,
            unknown: 1,
            queued: 1,
            duration: Duration::from_millis(1250),
            error: Some("partial".into()),
        };
        assert_eq!(
            serde_json::to_value(RunReportBody::from(&report)).unwrap(),
            serde_json::to_value(&report).unwrap()
        );
        let mapped = MappedOrder {
            order_token: "token-1".into(),
            source_account_id: "acct".into(),
            user_id: UserId::parse("alice"),
            order_id: Some(OrderId::new().to_string()),
            event_id: "3F004CBB88958BF9".into(),
            purchased_at: now,
            event_starts_at: now,
            email_status: 1,
        };
        let expected = serde_json::to_value(&mapped).unwrap();
        assert_eq!(
            serde_json::to_value(UnredeemedOrderBody::from(mapped)).unwrap(),
            expected
        );
    }
}
