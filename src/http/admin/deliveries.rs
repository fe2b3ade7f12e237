//! `GET /admin/webhook-deliveries` (webhook messages by status; the dead letters by default)
//! and `POST /admin/webhook-deliveries/{id}/redrive` (a dead letter sent again).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AdminState, authorize, internal, limit};
use crate::checkout::error::ErrorCode;
use crate::http::openapi::Routes;
use crate::http::openapi::problems::{AdminDeliveriesProblems, AdminRedriveProblems};
use crate::http::problem::ApiError;
use crate::ids::DeliveryId;
use crate::jobs::model::{Delivery, DeliveryStatus};

pub fn routes(routes: &mut Routes) {
    routes.service(list_deliveries).service(redrive);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `dead` (the default), `pending` or `delivered`.
    #[param(example = "dead")]
    status: Option<String>,
    /// At most this many, most recently changed first (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    limit: Option<u32>,
}

/// A webhook message as operators see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryBody {
    /// The message's `webhook-id` (receivers deduplicate by it).
    #[schema(example = "msg_0190b8f5d1e27f4a9b0c1d2e3f4a5b6c")]
    id: String,
    /// The unredeemed-orders run that queued it; null for a checkout's own message.
    run_id: Option<String>,
    /// `pending`, `delivered` or `dead`.
    #[schema(example = "dead")]
    status: &'static str,
    attempts: i64,
    /// Why the last attempt failed.
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    /// A failed attempt at or after this time dead-letters the message.
    dead_after: DateTime<Utc>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// The message body exactly as the receiver gets it (see the partner guide).
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

impl From<&Delivery> for DeliveryBody {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            run_id: d.run_id.map(|r| r.to_string()),
            status: d.status.as_str(),
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

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDeliveryList)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryBody>,
}

fn delivery_example() -> serde_json::Value {
    serde_json::json!({
        "id": "msg_0190b8f5d1e27f4a9b0c1d2e3f4a5b6c",
        "run_id": "run_0190b8f4c1d27e3f8a9b0c1d2e3f4a5b",
        "status": "dead", "attempts": 14, "last_error": "the receiver answered HTTP 500",
        "next_attempt_at": "2026-11-26T09:00:00Z", "dead_after": "2026-11-26T09:00:00Z",
        "created_at": "2026-11-25T09:00:01Z", "delivered_at": null,
        "payload": {"type": "order.unredeemed", "timestamp": "2026-11-25T09:00:01Z", "data": {}}
    })
}

/// Webhook messages by status
///
/// The dead letters (retried for `unredeemed.retry_for_secs`, then given up) unless `status`
/// asks for others.
#[utoipa::path(
    tag = "webhooks",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "The messages", body = DeliveryList,
            example = json!({"deliveries": [delivery_example()]})),
        AdminDeliveriesProblems,
    )
)]
#[get("/admin/webhook-deliveries")]
async fn list_deliveries(
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
    let found = state
        .context
        .store
        .jobs
        .list_deliveries(status, limit(query.limit))
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: found.iter().map(DeliveryBody::from).collect(),
    }))
}

/// Send a dead letter again
///
/// Makes a dead-lettered message pending again, with a new retry period; the delivery worker
/// is woken to send it. `not_found` for an unknown id; `invalid_state` when the message is not
/// dead or no webhook is configured.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "A `msg_…` id", example = "msg_0190b8f5d1e27f4a9b0c1d2e3f4a5b6c")),
    responses(
        (status = 200, description = "The message, pending again", body = DeliveryBody,
            example = json!(delivery_example())),
        AdminRedriveProblems,
    )
)]
#[post("/admin/webhook-deliveries/{id}/redrive")]
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
    let jobs = &state.context.store.jobs;
    if worker.redrive(id).await.map_err(internal)? {
        let delivery = jobs.get_delivery(id).await.map_err(internal)?;
        return Ok(HttpResponse::Ok().json(delivery.as_ref().map(DeliveryBody::from)));
    }
    match jobs.get_delivery(id).await.map_err(internal)? {
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
