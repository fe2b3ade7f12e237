//! `GET /metrics` on the admin listener: gauges that describe stored state are refreshed from
//! the store, then every series is rendered in Prometheus text format.

use actix_web::{HttpResponse, get, web};

use super::openapi::Routes;
use super::state::AppState;
use crate::checkout::state::CheckoutState;

pub fn routes(routes: &mut Routes) {
    routes.service(metrics);
}

/// Prometheus metrics
///
/// Every series in the Prometheus text format (names and labels: `docs/metrics.md`). No token:
/// restrict who can reach the admin listener.
#[utoipa::path(
    tag = "platform",
    security(()),
    responses((status = 200, description = "The exposition", content_type = "text/plain; version=0.0.4",
        body = String))
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let context = &state.context;
    let metrics = &context.metrics;
    match context.store.checkouts.count_by_state().await {
        Ok(counts) => {
            let counts: Vec<(CheckoutState, u64)> = counts
                .into_iter()
                .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
                .collect();
            metrics.checkouts_by_state(&counts);
        }
        // A scrape still answers: the other series are live, the gauge keeps its last value.
        Err(e) => tracing::warn!(error = %e, "could not count checkouts for /metrics"),
    }
    match context.store.jobs.delivery_backlog().await {
        Ok(backlog) => {
            let age = backlog
                .oldest_pending
                .and_then(|t| (context.clock.now() - t).to_std().ok())
                .unwrap_or_default();
            metrics.webhook_backlog(backlog.dead, age);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the webhook backlog for /metrics"),
    }
    metrics.quota_remaining(context.upstream.quota_available().unwrap_or(-1));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
