//! `/v1/checkouts`: create (reserve), read, pay, purchase, release.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};

use super::auth::AuthUser;
use super::body::RawBody;
use super::client_ip::client_ip;
use super::dto::{CheckoutBody, CreateCheckoutRequest, PaymentRequestBody};
use super::idempotency::{self, Fingerprint};
use super::openapi::headers::{IdempotencyKey, PreferWait};
use super::openapi::problems::{
    CreateCheckoutProblems, PaymentProblems, PurchaseProblems, ReadCheckoutProblems,
    ReleaseProblems,
};
use super::openapi::{Routes, examples};
use super::parse;
use super::problem::ApiError;
use super::rendered::Rendered;
use super::state::AppState;
use crate::checkout::model::Checkout;
use crate::checkout::payment::{PayableFrom, PaymentAttempt};
use crate::checkout::reads::CheckoutRead;
use crate::checkout::service::Requester;
use crate::ids::CheckoutId;

/// Checkout bodies as last rendered from each cached read (see `rendered`).
pub type RenderedCheckouts = Rendered<CheckoutId, CheckoutRead>;

pub fn routes(routes: &mut Routes) {
    routes
        .service(create_checkout)
        .service(get_checkout)
        .service(release_checkout)
        .service(pay_checkout)
        .service(purchase_checkout);
}

fn requester(req: &HttpRequest, state: &AppState, user: AuthUser) -> Requester {
    Requester {
        user: user.0,
        client_ip: client_ip(req, &state.trusted_proxies),
    }
}

/// A path's `chk_…` id; a malformed one is a 404, like an unknown one.
pub(super) fn checkout_id(raw: &str) -> Result<CheckoutId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The checkout a mutating request names and who asks (a malformed id is a 404).
fn target(
    req: &HttpRequest,
    state: &AppState,
    user: AuthUser,
    path: &str,
) -> Result<(CheckoutId, Requester), ApiError> {
    Ok((checkout_id(path)?, requester(req, state, user)))
}

async fn render(state: &AppState, checkout: &Checkout) -> Result<CheckoutBody, ApiError> {
    let order = state.service.order_of(checkout).await?;
    Ok(CheckoutBody::new(checkout, order.as_ref()))
}

/// 200/201 when settled, 202 with `Location` and `Retry-After` while pending.
async fn respond(
    state: &AppState,
    checkout: &Checkout,
    settled_status: u16,
) -> Result<HttpResponse, ApiError> {
    let body = render(state, checkout).await?;
    // Pending, or a purchase whose outcome is not confirmed: never a settled answer.
    if checkout.state.awaits_outcome() {
        return Ok(HttpResponse::Accepted()
            .insert_header((header::LOCATION, format!("/v1/checkouts/{}", checkout.id)))
            .insert_header((header::RETRY_AFTER, 1))
            .json(body));
    }
    let status = actix_web::http::StatusCode::from_u16(settled_status)
        .unwrap_or(actix_web::http::StatusCode::OK);
    let mut resp = HttpResponse::build(status);
    if status == actix_web::http::StatusCode::CREATED {
        resp.insert_header((header::LOCATION, format!("/v1/checkouts/{}", checkout.id)));
    }
    Ok(resp.json(body))
}

/// Create a checkout: reserve tickets
///
/// Creates the upstream cart and reserves the tickets. Answers 201 with the checkout in
/// `reserved` when that finishes within `Prefer: wait`; 202 with the checkout in `reserving`
/// otherwise (poll `Location`). A refusal that arrives within the wait answers its problem, with
/// `checkout_id`.
#[utoipa::path(
    tag = "checkouts",
    params(IdempotencyKey, PreferWait),
    request_body(content = CreateCheckoutRequest, example = json!(examples::create_checkout())),
    responses(
        (status = 201, description = "Reserved", body = CheckoutBody,
            headers(("Location" = String, description = "The checkout's URL")),
            example = json!(examples::checkout("reserved"))),
        (status = 202, description = "Still reserving when the wait ended", body = CheckoutBody,
            headers(
                ("Location" = String, description = "The checkout's URL, to read (with `Prefer: wait`) until it settles"),
                ("Retry-After" = u64, description = "Seconds before reading it again"),
            ),
            example = json!(examples::checkout("reserving"))),
        CreateCheckoutProblems,
    )
)]
#[post("/v1/checkouts")]
async fn create_checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let user_id = user.0.clone();
    let fingerprint = Fingerprint::of_body(&state, &req, &body);
    // Parsed before the key is taken: a body refused here changed nothing, so nothing is kept
    // under its Idempotency-Key (a missing captcha, too: the corrected request goes through).
    let new = parse::create_request(&body)?;
    let run = async {
        let who = requester(&req, &state, user);
        let wait = state.wait(&req, state.max_wait);
        let checkout = state.service.create(&who, new, wait).await?;
        respond(&state, &checkout, 201).await
    };
    idempotency::once(&req, &state, &user_id, fingerprint, run).await
}

/// Read a checkout
///
/// With `Prefer: wait=N`, waits up to N seconds while the checkout is pending (`reserving`,
/// `paying`, `purchasing`, `releasing`).
#[utoipa::path(
    tag = "checkouts",
    params(
        ("id" = String, Path, description = "A `chk_…` id", example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12"),
        PreferWait,
    ),
    responses(
        (status = 200, description = "The checkout", body = CheckoutBody,
            example = json!(examples::checkout("payment_accepted"))),
        ReadCheckoutProblems,
    )
)]
#[get("/v1/checkouts/{id}")]
async fn get_checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = checkout_id(&path)?;
    let wait = state.wait(&req, std::time::Duration::ZERO);
    // Usually from this replica's read cache: the checkout and its order, no database read.
    let read = state.service.get(&user.0, id, wait).await?;
    // The same cached read as last time is answered with the same bytes.
    let body = state.checkouts.body(&id, &read, (), |read| {
        CheckoutBody::new(&read.checkout, read.order.as_ref())
    })?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(body))
}

/// Pay for a checkout
///
/// For a checkout in `reserved` (or one whose payment was declined). The amount is the
/// checkout's own total. The card number and CVV are encrypted for upstream and never stored,
/// logged or returned; only `brand` and `last4` are kept.
#[utoipa::path(
    tag = "checkouts",
    params(
        ("id" = String, Path, description = "A `chk_…` id", example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12"),
        IdempotencyKey,
        PreferWait,
    ),
    request_body(content = PaymentRequestBody, example = json!(examples::payment())),
    responses(
        (status = 200, description = "Payment accepted", body = CheckoutBody,
            example = json!(examples::checkout("payment_accepted"))),
        (status = 202, description = "Still paying when the wait ended", body = CheckoutBody,
            headers(
                ("Location" = String, description = "The checkout's URL"),
                ("Retry-After" = u64, description = "Seconds before reading it again"),
            ),
            example = json!(examples::checkout("paying"))),
        PaymentProblems,
    )
)]
#[put("/v1/checkouts/{id}/payment")]
async fn pay_checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let (id, who) = target(&req, &state, user, &path)?;
    let user_id = who.user.clone();
    // Parsed before the idempotency record, which is matched on the payment without its card
    // number and CVV; the raw body (holding both) is wiped as soon as it is parsed. A body
    // that does not parse changes nothing, so nothing about it is recorded either.
    let input = parse::payment_request(&body)?;
    drop(body);
    let fingerprint = Fingerprint::of_payment(&state, &req, &input);
    let run = async {
        let wait = state.wait(&req, state.max_wait);
        let attempt = PaymentAttempt {
            input,
            wait,
            from: PayableFrom::ReservedOrAccepted,
        };
        let checkout = state.service.pay(&who, id, attempt).await?;
        respond(&state, &checkout, 200).await
    };
    idempotency::once(&req, &state, &user_id, fingerprint, run).await
}

/// Purchase a checkout
///
/// For a checkout in `payment_accepted`. Exactly once: a purchase whose outcome is unknown is
/// reconciled upstream, never sent again. 200 with the checkout in `purchased` and its `order`;
/// 202 in `purchasing` when the wait ended first.
#[utoipa::path(
    tag = "checkouts",
    params(
        ("id" = String, Path, description = "A `chk_…` id", example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12"),
        IdempotencyKey,
        PreferWait,
    ),
    responses(
        (status = 200, description = "Purchased", body = CheckoutBody,
            example = json!(examples::checkout("purchased"))),
        (status = 202, description = "Still purchasing when the wait ended, or \
            `purchase_unconfirmed`: the answer was lost and no order found in time (never send \
            the purchase again; it becomes `purchased` when the order is found)", body = CheckoutBody,
            headers(
                ("Location" = String, description = "The checkout's URL"),
                ("Retry-After" = u64, description = "Seconds before reading it again"),
            ),
            example = json!(examples::checkout("purchasing"))),
        PurchaseProblems,
    )
)]
#[post("/v1/checkouts/{id}/purchase")]
async fn purchase_checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, who) = target(&req, &state, user, &path)?;
    let wait = state.wait(&req, state.max_wait);
    let run = async {
        let checkout = state.service.purchase(&who, id, wait).await?;
        respond(&state, &checkout, 200).await
    };
    let fingerprint = Fingerprint::of_body(&state, &req, &[]);
    idempotency::once(&req, &state, &who.user, fingerprint, run).await
}

/// Release a checkout
///
/// Gives the held tickets back. Idempotent. 204 once released upstream (or when nothing was
/// held); 202 in `releasing` while the release still runs; `invalid_state` once purchased.
#[utoipa::path(
    tag = "checkouts",
    params(
        ("id" = String, Path, description = "A `chk_…` id", example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12"),
        IdempotencyKey,
        PreferWait,
    ),
    responses(
        (status = 204, description = "Released (or nothing was held)"),
        (status = 202, description = "Still releasing when the wait ended", body = CheckoutBody,
            headers(
                ("Location" = String, description = "The checkout's URL"),
                ("Retry-After" = u64, description = "Seconds before reading it again"),
            ),
            example = json!(examples::checkout("releasing"))),
        ReleaseProblems,
    )
)]
#[delete("/v1/checkouts/{id}")]
async fn release_checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, who) = target(&req, &state, user, &path)?;
    let wait = state.wait(&req, state.max_wait);
    let run = async {
        let checkout = state.service.release(&who, id, wait).await?;
        if checkout.state.is_final() {
            return Ok(HttpResponse::NoContent().finish());
        }
        respond(&state, &checkout, 202).await
    };
    let fingerprint = Fingerprint::of_body(&state, &req, &[]);
    idempotency::once(&req, &state, &who.user, fingerprint, run).await
}
