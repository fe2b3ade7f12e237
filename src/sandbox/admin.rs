//! Test controls under `/_sandbox/` (no apikey, not counted in stats): set the clock, read the
//! stats, list orders, rotate the payment certificate, revoke all OAuth tokens, mark an order
//! redeemed, plan faults (`GET`/`POST`/`DELETE /_sandbox/faults`), read and change the dialect
//! (`GET`/`POST /_sandbox/dialect`). There is deliberately no endpoint that reveals the private
//! key; tests that need it use [`super::SandboxHandle::private_key`].

use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::certificate::CertState;
use super::dialect::Dialect;
use super::faults::Fault;
use super::oauth;
use super::reply::{self, Reply};
use super::state::Shared;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/clock").route(web::post().to(set_clock)))
        .service(web::resource("/stats").route(web::get().to(stats)))
        .service(web::resource("/orders").route(web::get().to(orders)))
        .service(web::resource("/certificate/rotate").route(web::post().to(rotate_certificate)))
        .service(web::resource("/oauth/revoke").route(web::post().to(revoke_tokens)))
        .service(web::resource("/orders/{order_token}/redeem").route(web::post().to(redeem)))
        .service(
            web::resource("/faults")
                .route(web::get().to(list_faults))
                .route(web::post().to(add_fault))
                .route(web::delete().to(clear_faults)),
        )
        .service(
            web::resource("/dialect")
                .route(web::get().to(dialect))
                .route(web::post().to(change_dialect)),
        );
}

/// `{"advance_secs": N}` (may be fractional or negative) or `{"now": "<rfc3339>"}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ClockChange {
    Advance { advance_secs: f64 },
    Set { now: DateTime<Utc> },
}

#[derive(Debug, Serialize)]
struct Now {
    now: DateTime<Utc>,
}

async fn set_clock(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let Some(clock) = shared.config.settable_clock.as_ref() else {
        return reply::error(409, 409, "The sandbox clock is not settable").into_response();
    };
    match serde_json::from_slice::<ClockChange>(&body) {
        Ok(ClockChange::Advance { advance_secs }) if advance_secs.is_finite() => {
            clock.advance(TimeDelta::milliseconds((advance_secs * 1000.0) as i64));
        }
        Ok(ClockChange::Set { now }) => clock.set(now),
        _ => {
            return reply::invalid_input(r#"expected {"advance_secs": N} or {"now": "<rfc3339>"}"#)
                .into_response();
        }
    }
    Reply::ok(&Now { now: shared.now() }).into_response()
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    let stats = shared.lock().snapshot();
    Reply::ok(&stats).into_response()
}

/// What the sandbox recorded of an order (no card data beyond the last four digits).
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_token: String,
    pub cart_id: String,
    pub event_id: String,
    pub source_account_id: String,
    pub email: String,
    pub last4: String,
    pub grand_total: f64,
    pub purchased_at: DateTime<Utc>,
    pub redeemed: bool,
}

async fn orders(shared: web::Data<Shared>) -> HttpResponse {
    let views: Vec<OrderView> = shared
        .lock()
        .orders
        .iter()
        .map(|o| OrderView {
            order_token: o.order_token.clone(),
            cart_id: o.cart_id.clone(),
            event_id: o.event_id.into(),
            source_account_id: o.source_account_id.clone(),
            email: o.email.clone(),
            last4: o.last4.clone(),
            grand_total: o.grand_cents as f64 / 100.0,
            purchased_at: o.purchased_at,
            redeemed: o.redeemed,
        })
        .collect();
    Reply::ok(&serde_json::json!({ "orders": views })).into_response()
}

async fn rotate_certificate(shared: web::Data<Shared>) -> HttpResponse {
    let bits = shared.lock().dialect.certificate_key.bits();
    match CertState::rotate(&shared, bits).await {
        Some(id) => Reply::ok(&serde_json::json!({ "id": id })).into_response(),
        None => reply::error(500, 500, "Certificate generation failed").into_response(),
    }
}

async fn revoke_tokens(shared: web::Data<Shared>) -> HttpResponse {
    let revoked = oauth::revoke_all(&shared);
    Reply::ok(&serde_json::json!({ "revoked": revoked })).into_response()
}

async fn redeem(path: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let token = path.into_inner();
    let mut state = shared.lock();
    match state.orders.iter_mut().find(|o| o.order_token == token) {
        Some(order) => {
            order.redeemed = true;
            Reply::ok(&serde_json::json!({ "order_token": token, "redeemed": true }))
                .into_response()
        }
        None => reply::not_found("Order not found").into_response(),
    }
}

/// `{"faults": [...]}`: the active faults in the order they apply, with their remaining counts.
async fn list_faults(shared: web::Data<Shared>) -> HttpResponse {
    let faults = shared.lock().faults.active().to_vec();
    Reply::ok(&serde_json::json!({ "faults": faults })).into_response()
}

/// Body: one fault in its JSON form, e.g. `{"operation":"purchase","kind":"drop_after_commit",
/// "count":1}`; answers it back. A bad one is 400 with the reason.
async fn add_fault(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            shared.lock().faults.add(fault);
            Reply::ok(&fault).into_response()
        }
        Err(e) => reply::invalid_input(&format!("Invalid fault: {e}")).into_response(),
    }
}

/// `{"cleared": N}`.
async fn clear_faults(shared: web::Data<Shared>) -> HttpResponse {
    let cleared = shared.lock().faults.clear();
    Reply::ok(&serde_json::json!({ "cleared": cleared })).into_response()
}

/// `{"dialect": ["name=value", ...]}`: every switch as it is now.
fn dialect_reply(dialect: &Dialect) -> Reply {
    Reply::ok(&serde_json::json!({ "dialect": dialect.switches() }))
}

async fn dialect(shared: web::Data<Shared>) -> HttpResponse {
    let current = shared.lock().dialect;
    dialect_reply(&current).into_response()
}

/// The body of `POST /_sandbox/dialect`: a list of switches, bare or in the shape `GET`
/// answers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DialectChange {
    List(Vec<String>),
    Wrapped { dialect: Vec<String> },
}

/// Applies the switches (`name=value` or a preset, `literal` to start from the docs' reading)
/// in order to the current dialect and answers the result; a bad one is 400 with the reason,
/// and changes nothing.
async fn change_dialect(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let switches = match serde_json::from_slice::<DialectChange>(&body) {
        Ok(DialectChange::List(switches) | DialectChange::Wrapped { dialect: switches }) => {
            switches
        }
        Err(_) => {
            return reply::invalid_input(
                r#"Invalid dialect: expected a JSON list of "name=value" switches or presets"#,
            )
            .into_response();
        }
    };
    let mut state = shared.lock();
    match state.dialect.apply(&switches) {
        Ok(()) => dialect_reply(&state.dialect).into_response(),
        Err(e) => reply::invalid_input(&format!("Invalid dialect: {e}")).into_response(),
    }
}
