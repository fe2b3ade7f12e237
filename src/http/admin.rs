//! `/admin/*` on the admin listener, for operators: checkouts by state, upstream's unredeemed
//! orders joined to users, running the unredeemed-orders job now, and the webhook dead
//! letters with their re-drive.
//!
//! Every route wants `Authorization: Bearer <admin.token>`; missing or wrong is 401
//! problem+json. With no token configured the admin API is off and every route answers 404,
//! as if it did not exist (there is no token that could be right, and an off switch that
//! answered 401 would invite guessing). `/metrics` and `/healthz` are not under this guard.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::dto::CheckoutBody;
use super::problem::ApiError;
use crate::checkout::error::ErrorCode;
use crate::checkout::state::CheckoutState;
use crate::context::AppContext;
use crate::digest::keyed_digest;
use crate::ids::DeliveryId;
use crate::jobs::Jobs;
use crate::jobs::model::{Delivery, DeliveryStatus};
use crate::jobs::unredeemed::{RunRequest, parse_query};

/// What the admin routes share.
pub struct AdminState {
    /// `None`: the admin API is off.
    pub token: Option<SecretString>,
    pub context: AppContext,
    pub jobs: Jobs,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/checkouts", web::get().to(checkouts))
        .route("/admin/unredeemed-orders", web::get().to(unredeemed_orders))
        .route("/admin/jobs/unredeemed/run", web::post().to(run_unredeemed))
        .route("/admin/webhook-deliveries", web::get().to(deliveries))
        .route(
            "/admin/webhook-deliveries/{id}/redrive",
            web::post().to(redrive),
        );
}

/// The bearer-token guard every handler starts with.
fn authorize(req: &HttpRequest, state: &AdminState) -> Result<(), ApiError> {
    let Some(expected) = &state.token else {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("an admin bearer token is required"))?;
    // Digests first, so both sides have the same length whatever was sent (a comparison of
    // unequal lengths would stop at once, telling the token's length); then a constant-time
    // comparison, so the time taken says nothing about how much of the token matched.
    let key = SecretString::from("admin-token-comparison");
    let given = keyed_digest(&key, &[given.trim().as_bytes()]);
    let expected = keyed_digest(&key, &[expected.expose_secret().as_bytes()]);
    if !bool::from(given[..].ct_eq(&expected[..])) {
        return Err(ApiError::unauthorized("the admin token is not valid"));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct CheckoutsQuery {
    /// Comma-separated states; all when absent.
    state: Option<String>,
    limit: Option<u32>,
}

async fn checkouts(
    req: HttpRequest,
    state: web::Data<AdminState>,
    query: web::Query<CheckoutsQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let states = match query.state.as_deref() {
        None | Some("") => CheckoutState::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| {
                CheckoutState::parse(s.trim())
                    .ok_or_else(|| ApiError::field("state", format!("unknown state `{s}`")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let found = state
        .context
        .store
        .checkouts
        .list_by_state(&states, limit)
        .await
        .map_err(internal)?;
    let checkouts: Vec<CheckoutBody> = found.iter().map(|c| CheckoutBody::new(c, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "checkouts": checkouts })))
}

#[derive(Debug, Deserialize)]
struct UnredeemedParams {
    days_from_purchase: Option<u32>,
    days_before_event: Option<u32>,
}

impl UnredeemedParams {
    /// Exactly one of the two windows, as upstream takes it.
    fn query(&self) -> Result<crate::upstream::UnredeemedQuery, ApiError> {
        use crate::upstream::UnredeemedQuery::{DaysBeforeEvent, DaysFromPurchase};
        match (self.days_from_purchase, self.days_before_event) {
            (Some(n), None) => Ok(DaysFromPurchase(n)),
            (None, Some(n)) => Ok(DaysBeforeEvent(n)),
            _ => Err(ApiError::field(
                "days_from_purchase",
                "give exactly one of days_from_purchase or days_before_event",
            )),
        }
    }
}

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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "orders": orders })))
}

#[derive(Debug, Deserialize)]
struct RunParams {
    /// A comma-separated query list replacing the configured one for this run.
    queries: Option<String>,
}

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
        Some(report) => Ok(HttpResponse::Ok().json(report)),
        None => Err(ApiError::new(
            ErrorCode::InvalidState,
            "a run for this instant is already recorded",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct DeliveriesQuery {
    /// `dead` (default), `pending` or `delivered`.
    status: Option<String>,
    limit: Option<u32>,
}

/// A webhook message as operators see it (the payload is the partner-facing body).
#[derive(Debug, Serialize)]
struct DeliveryBody {
    id: String,
    run_id: Option<String>,
    status: DeliveryStatus,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: chrono::DateTime<chrono::Utc>,
    dead_after: chrono::DateTime<chrono::Utc>,
    created_at: chrono::DateTime<chrono::Utc>,
    delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    payload: serde_json::Value,
}

impl From<&Delivery> for DeliveryBody {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            run_id: d.run_id.map(|r| r.to_string()),
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            next_attempt_at: d.next_attempt_at,
            dead_after: d.dead_after,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

async fn deliveries(
    req: HttpRequest,
    state: web::Data<AdminState>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let status = match query.status.as_deref() {
        None => DeliveryStatus::Dead,
        Some(s) => DeliveryStatus::parse(s)
            .ok_or_else(|| ApiError::field("status", "one of dead, pending, delivered"))?,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let found = state
        .context
        .store
        .jobs
        .list_deliveries(status, limit)
        .await
        .map_err(internal)?;
    let deliveries: Vec<DeliveryBody> = found.iter().map(DeliveryBody::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deliveries": deliveries })))
}

async fn redrive(
    req: HttpRequest,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let id: DeliveryId = path
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "no such webhook delivery"))?;
    let Some(worker) = &state.jobs.delivery else {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            "no webhook is configured (unredeemed.webhook_url)",
        ));
    };
    if worker.redrive(id).await.map_err(internal)? {
        let delivery = state
            .context
            .store
            .jobs
            .get_delivery(id)
            .await
            .map_err(internal)?;
        return Ok(HttpResponse::Ok().json(delivery.as_ref().map(DeliveryBody::from)));
    }
    match state
        .context
        .store
        .jobs
        .get_delivery(id)
        .await
        .map_err(internal)?
    {
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            "no such webhook delivery",
        )),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidState,
            "only a dead-lettered delivery can be re-driven",
        )),
    }
}

fn internal(e: crate::store::StoreError) -> ApiError {
    ApiError::from(crate::checkout::error::CheckoutError::Store(e))
}
