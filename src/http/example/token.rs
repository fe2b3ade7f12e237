//! `POST /example/token {"user": "example-…"}` → `{"token", "user", "expires_in"}`: a user token
//! the gateway accepts, signed as `checkout-gateway token` signs one (the configured HS256
//! secret, `iss` and `aud`). A real partner mints its users' tokens in its own backend, from
//! its own sign-in; this route exists so the example app runs with nothing else.
//!
//! Only users named `example-…` get one: a gateway whose example app was switched on by
//! mistake outside production still hands out no token for a real user's checkouts.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::ExampleApp;
use crate::checkout::error::ErrorCode;
use crate::http::auth::issue_configured_token;
use crate::http::problem::ApiError;

/// How long a token lasts: a walk through the app, with time to read it.
const TOKEN_TTL_SECS: i64 = 3600;
const PREFIX: &str = "example-";
/// Characters after the prefix, at most.
const MAX_SUFFIX: usize = 64;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    user: String,
}

#[derive(Debug, Serialize)]
struct TokenResponse<'a> {
    token: String,
    user: &'a str,
    expires_in: i64,
}

/// A user id the token route signs for: `example-` and 1–64 letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExampleUser(String);

impl ExampleUser {
    fn parse(s: &str) -> Option<Self> {
        let suffix = s.strip_prefix(PREFIX)?;
        let ok = (1..=MAX_SUFFIX).contains(&suffix.len())
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }
}

pub async fn mint(
    app: web::Data<ExampleApp>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = ExampleUser::parse(&body.user).ok_or_else(|| {
        ApiError::field(
            "user",
            format!("`{PREFIX}` and 1–{MAX_SUFFIX} letters, digits, `-` or `_`"),
        )
    })?;
    let token = issue_configured_token(&app.auth, &user.0, TOKEN_TTL_SECS)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .json(TokenResponse {
            token,
            user: &user.0,
            expires_in: TOKEN_TTL_SECS,
        }))
}

#[cfg(test)]
mod tests {
    use super::ExampleUser;

    #[test]
    fn only_example_users_get_a_token() {
        for good in [
            "example-a",
            "example-3f9c_x-1",
            &format!("example-{}", "a".repeat(64)),
        ] {
            assert!(ExampleUser::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "alice",
            "example-",
            "Example-a",
            "example-a b",
            "example-ä",
            "example-a/../b",
            &format!("example-{}", "a".repeat(65)),
        ] {
            assert!(ExampleUser::parse(bad).is_none(), "{bad}");
        }
    }
}
