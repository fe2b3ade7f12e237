//! `/v1/events/{id}` and `/v1/captcha`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::AuthUser;
use super::client_ip::client_ip;
use super::problem::ApiError;
use super::state::AppState;
use crate::checkout::catalog::parse_event_id;
use crate::checkout::service::Requester;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/events/{event_id}", web::get().to(event))
        .route("/v1/captcha", web::get().to(captcha));
}

async fn event(
    req: HttpRequest,
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event_id = parse_event_id(&path).ok_or_else(ApiError::not_found)?;
    let wait = state.wait(&req, state.max_wait);
    let view = state.service.event(event_id, wait).await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn captcha(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let who = Requester {
        user: user.0,
        client_ip: client_ip(&req, &state.trusted_proxies),
    };
    let page = state
        .service
        .captcha(&who, state.wait(&req, state.max_wait))
        .await?;
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/html; charset=utf-8");
    if let Some(key) = page.site_key {
        resp.insert_header(("X-Captcha-Site-Key", key));
    }
    Ok(resp.body(page.html))
}
