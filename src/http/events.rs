//! `/v1/events/{id}` and `/v1/captcha`, and the rendered event bodies they reuse.

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::auth::AuthUser;
use super::client_ip::client_ip;
use super::dto::event::EventBody;
use super::openapi::headers::PreferWait;
use super::openapi::problems::{CaptchaProblems, EventProblems};
use super::openapi::{Routes, examples};
use super::problem::ApiError;
use super::rendered::Rendered;
use super::state::AppState;
use crate::checkout::catalog::{EventInfo, EventSnapshot, parse_event_id};
use crate::checkout::service::Requester;

pub fn routes(routes: &mut Routes) {
    routes.service(get_event).service(get_captcha);
}

/// Read an event
///
/// What can be bought and how: ticket types, price levels, quantity rules, whether the event is
/// transactable and on sale, and the venue's nightly maintenance window. Cached (the TTL is
/// configuration). An uncached read still queued behind upstream's quota when `Prefer: wait`
/// runs out answers 429 `rate_limited`; the fetch goes on and the retry finds it cached.
#[utoipa::path(
    tag = "events",
    params(("event_id" = String, Path, description = "The Ticketmaster event id", example = "3F004CBB88958BF9"), PreferWait),
    responses(
        (status = 200, description = "The event", body = EventBody, example = json!(examples::event())),
        EventProblems,
    )
)]
#[get("/v1/events/{event_id}")]
async fn get_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event_id = parse_event_id(&path).ok_or_else(ApiError::not_found)?;
    let wait = state.wait(&req, state.max_wait);
    let snapshot = state.service.event(&user.0, event_id, wait).await?;
    let body = event_body(&state.events, &snapshot)?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(body))
}

/// Event bodies as last rendered: while the details are the same cached `EventInfo` and the
/// parts that change with time (on sale, maintenance window) are unchanged, the bytes are
/// served again.
pub type RenderedEvents = Rendered<String, EventInfo, (bool, bool, chrono::DateTime<chrono::Utc>)>;

/// The body of `snapshot`, as rendered before or now.
fn event_body(rendered: &RenderedEvents, snapshot: &EventSnapshot) -> Result<Bytes, ApiError> {
    rendered.body(
        &snapshot.info.event_id,
        &snapshot.info,
        snapshot.time_key(),
        |_| EventBody::from(snapshot.view()),
    )
}

/// The captcha page
///
/// An HTML page the app shows the user; solving it yields the `captcha_token` that
/// `POST /v1/checkouts` needs (one token per checkout).
#[utoipa::path(
    tag = "events",
    params(PreferWait),
    responses(
        (status = 200, description = "The captcha page", content_type = "text/html",
            headers(("X-Captcha-Site-Key" = String, description = "The captcha provider's site key, when there is one"))),
        CaptchaProblems,
    )
)]
#[get("/v1/captcha")]
async fn get_captcha(
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
