//! The admin listener: `/admin/*` for operators (checkouts by state, upstream's unredeemed
//! orders joined to users, running the unredeemed-orders job now, the webhook dead letters
//! with their re-drive), beside `/metrics`, `/healthz`, the problem type pages and
//! `/admin/openapi.json`, the listener's own OpenAPI document. Every route is registered
//! through [`Routes`] with its `#[utoipa::path]`, as on the public listener, so none can be
//! left out of that document.
//!
//! Every `/admin/*` operation wants `Authorization: Bearer <admin.token>`; missing or wrong is
//! 401 problem+json. With no token configured the admin API is off and every one answers 404,
//! as if it did not exist (there is no token that could be right, and an off switch that
//! answered 401 would invite guessing). `/metrics`, `/healthz`, `/problems` and
//! `/admin/openapi.json` are not under this guard: the listener is for operators and
//! monitoring only (see the README), and the document describes routes, not data.
//!
//! # Layout
//! - this file: [`AdminState`], the token guard, [`register`].
//! - [`checkouts`], [`unredeemed`], [`deliveries`]: the `/admin/*` routes and their wire types.
//! - [`document`]: the document's fixed parts and `GET /admin/openapi.json`.

pub mod checkouts;
pub mod deliveries;
pub mod document;
pub mod unredeemed;

use actix_web::HttpRequest;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use utoipa_actix_web::service_config::ServiceConfig;

use super::openapi::Routes;
use super::problem::ApiError;
use crate::checkout::error::ErrorCode;
use crate::context::AppContext;
use crate::digest::keyed_digest;
use crate::jobs::Jobs;

/// What the admin routes share.
pub struct AdminState {
    /// `None`: the admin API is off.
    pub token: Option<SecretString>,
    pub context: AppContext,
    pub jobs: Jobs,
}

/// Every route of the admin listener, each documented as it is registered.
pub fn configure(cfg: &mut ServiceConfig) {
    super::problem_extractors(cfg);
    let mut routes = Routes::new(cfg);
    super::health::liveness_routes(&mut routes);
    super::scrape::routes(&mut routes);
    checkouts::routes(&mut routes);
    unredeemed::routes(&mut routes);
    deliveries::routes(&mut routes);
    super::problem_types::routes(&mut routes);
    document::routes(&mut routes);
}

/// Adds the admin listener's routes to `app`, and returns it with the OpenAPI document they
/// make.
pub fn register<T: super::openapi::AppService>(
    app: actix_web::App<T>,
) -> (actix_web::App<T>, utoipa::openapi::OpenApi) {
    super::openapi::register(app, document::base(), configure)
}

/// The admin listener's document, as `/admin/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    register(actix_web::App::new()).1
}

/// The bearer-token guard every `/admin/*` handler starts with.
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

fn internal(e: crate::store::StoreError) -> ApiError {
    ApiError::from(crate::checkout::error::CheckoutError::Store(e))
}

/// `limit` of the listings: 100 unless given, within 1..=1000.
fn limit(given: Option<u32>) -> u32 {
    given.unwrap_or(100).clamp(1, 1000)
}
