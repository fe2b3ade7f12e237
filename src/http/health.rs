//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated, as
//! last checked by [`crate::readiness`]).

use actix_web::{HttpResponse, get, web};

use super::dto::HealthBody;
use super::openapi::Routes;
use super::state::AppState;
use crate::readiness::Health;

pub fn routes(routes: &mut Routes) {
    routes.service(healthz).service(readyz);
}

/// `/healthz` alone, for the admin listener.
pub fn liveness_routes(routes: &mut Routes) {
    routes.service(healthz);
}

/// The process is alive
#[utoipa::path(
    tag = "platform",
    security(()),
    responses((status = 200, description = "Alive", body = HealthBody, example = json!({"status": "ok"})))
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthBody { status: "ok" })
}

/// The database answers and is migrated
#[utoipa::path(
    tag = "platform",
    security(()),
    responses(
        (status = 200, description = "Ready to serve", body = HealthBody, example = json!({"status": "ready"})),
        (status = 503, description = "Not ready: shutting down, the database is unreachable, or migrations are pending", body = HealthBody,
            example = json!({"status": "database unreachable"})),
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.service.is_stopping() {
        // Shutting down: take this replica out of the load balancer first.
        return HttpResponse::ServiceUnavailable().json(HealthBody {
            status: "shutting down",
        });
    }
    // The state the background check found (at most a second old): a probe never waits for
    // the database, and a flood of probes costs it nothing.
    match state.readiness.current() {
        Health::Ready => HttpResponse::Ok().json(HealthBody { status: "ready" }),
        other => HttpResponse::ServiceUnavailable().json(HealthBody {
            status: other.as_str(),
        }),
    }
}
