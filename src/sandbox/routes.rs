//! The URL map: every Partner-API path under both `/partners/v1` and `/partners-sandbox/v1`,
//! the admin controls under `/_sandbox/`, `GET /event/{id}`, and the JSON 404 for anything else.

use actix_web::{HttpRequest, HttpResponse, web};

use super::faults::Operation;
use super::gate;
use super::reply::{self, Reply};
use super::state::Shared;
use super::{admin, cart, oauth, payment, polling, purchase, reshape};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/partners/v1").configure(api))
        .service(web::scope("/partners-sandbox/v1").configure(api))
        .service(web::scope("/_sandbox").configure(admin::routes))
        .default_service(web::to(unknown_path));
}

fn api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/accesstoken").route(web::post().to(oauth::access_token)))
        .service(web::resource("/event/{event_id}").route(web::get().to(event)))
        .service(web::resource("/captcha").route(web::get().to(cart::captcha)))
        .service(
            web::resource("/cart")
                .route(web::post().to(cart::post_cart))
                .route(web::put().to(purchase::purchase))
                .route(web::delete().to(cart::delete)),
        )
        .service(web::resource("/cart/tickets").route(web::put().to(cart::reserve)))
        .service(web::resource("/cart/payment").route(web::put().to(payment::payment)))
        .service(web::resource("/certificate").route(web::get().to(payment::certificate)))
        .service(
            web::resource("/orders/unredeemed").route(web::get().to(purchase::unredeemed_orders)),
        )
        .service(web::resource("/polling/{tail:.*}").route(web::get().to(polling::poll)));
}

/// `GET /event/{event_id}` (Polling: No); the venue's region as the dialect's `event_region`.
async fn event(
    req: HttpRequest,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Event) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let region = shared.lock().dialect.event_region;
    let reply = match shared.catalog.event(&path) {
        Some(event) => {
            Reply::ok(&event.to_wire()).map_json(|body| reshape::event_region(body, region))
        }
        None => reply::not_found("Event not found"),
    };
    call.respond(reply).await
}

async fn unknown_path() -> HttpResponse {
    reply::not_found("API endpoint/path not found").into_response()
}
