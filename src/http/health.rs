//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.service.store.admin.ready().await {
        Ok(true) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(false) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "migrations pending"}))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "database unreachable"}))
        }
    }
}
