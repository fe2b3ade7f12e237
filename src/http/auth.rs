//! Partner user authentication: `Authorization: Bearer <JWT>`, HS256 with the configured
//! secret or RS256 with a configured public key; `sub` is the user id and `exp` is required.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::problem::ApiError;
use super::state::AppState;
use crate::checkout::model::UserId;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// Verifies user tokens.
pub struct JwtVerifier {
    keys: Vec<(DecodingKey, Validation)>,
}

impl JwtVerifier {
    pub fn new(hs256: Option<&SecretString>, rs256_pem: Option<&str>) -> Result<Self, String> {
        let mut keys = Vec::new();
        if let Some(secret) = hs256 {
            keys.push((
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                validation(Algorithm::HS256),
            ));
        }
        if let Some(pem) = rs256_pem {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("auth.jwt_rs256_public_key_pem: {e}"))?;
            keys.push((key, validation(Algorithm::RS256)));
        }
        Ok(Self { keys })
    }

    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let alg = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("the bearer token is not a JWT"))?
            .alg;
        for (key, validation) in self
            .keys
            .iter()
            .filter(|(_, v)| v.algorithms.contains(&alg))
        {
            if let Ok(data) = decode::<Claims>(token, key, validation) {
                return UserId::parse(&data.claims.sub).ok_or_else(|| {
                    ApiError::unauthorized("the token's subject is not a valid user id")
                });
            }
        }
        Err(ApiError::unauthorized(
            "the bearer token is invalid or expired",
        ))
    }
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "sub"]);
    v.leeway = 30;
    v.validate_aud = false;
    v
}

/// Sign a user token with the HS256 secret (the `token` command, tests, the demo).
pub fn issue_token(secret: &SecretString, user: &str, ttl_secs: i64) -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user.to_owned(),
        exp: now + ttl_secs,
        iat: Some(now),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| e.to_string())
}

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
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not a Bearer token"))?;
    let user = state.jwt.verify(token.trim())?;
    let ip = super::client_ip::client_ip(req, &state.trusted_proxies);
    state
        .admission
        .admit(user.as_str(), &ip)
        .map_err(ApiError::rate_limited)?;
    Ok(AuthUser(user))
}
