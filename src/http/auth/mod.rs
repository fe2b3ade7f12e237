//! Partner user authentication: `Authorization: Bearer <JWT>`, HS256 with the configured
//! secret or RS256 with a configured public key; `sub` is the user id and `exp` is required.
//!
//! # Layout
//! - [`verify`]: [`JwtVerifier`], the checks (signature, algorithm, `exp`, `nbf`, `iss`,
//!   `aud`) and the bounded cache of tokens that passed them.
//! - [`mint`]: signing tokens for the `token` command, the demo, benchmarks and tests; the
//!   `token` command's refusal to mint in production.
//! - this file: the [`AuthUser`] extractor every partner route takes.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::problem::ApiError;
use super::state::AppState;
use crate::checkout::model::UserId;

mod mint;
mod verify;

pub use mint::{MintError, TokenSpec, issue_configured_token, issue_token, issue_token_with};
pub use verify::{AuthSettings, JwtVerifier, LEEWAY_SECS};

/// The authenticated partner user.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserId);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::unauthorized("authentication is not configured"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    // The scheme's name is case-insensitive (RFC 9110 §11.1).
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not a Bearer token"))?;
    let user = state.jwt.verify(token.trim())?;
    let ip = super::client_ip::client_addr(req, &state.trusted_proxies);
    state
        .admission
        .admit(user.as_str(), ip)
        .map_err(ApiError::rate_limited)?;
    Ok(AuthUser(user))
}

#[cfg(test)]
mod tests;
