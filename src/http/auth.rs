//! Partner user authentication: `Authorization: Bearer <JWT>`, HS256 with the configured
//! secret or RS256 with a configured public key; `sub` is the user id and `exp` is required.
//!
//! An app sends the same token with every call until it expires, so a verified token is
//! remembered (as Envoy's `jwt_authn` cache does): the exact token string with its subject and
//! `exp`. A remembered token is accepted only while `exp` (with the same leeway) has not passed;
//! anything else is verified in full.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Mutex;

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
    verified: Mutex<HashMap<String, Verified>>,
}

/// A token that passed full verification.
struct Verified {
    user: UserId,
    exp: i64,
}

/// Seconds a token is still accepted after its `exp` (clock skew between issuer and gateway).
const LEEWAY_SECS: u64 = 30;
/// Tokens remembered at most; past it they are forgotten and verified again on their next use.
const MAX_VERIFIED: usize = 10_000;

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
        Ok(Self {
            keys,
            verified: Mutex::default(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let now = chrono::Utc::now().timestamp();
        {
            let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = verified.get(token)
                && v.exp.saturating_add(LEEWAY_SECS as i64) >= now
            {
                return Ok(v.user.clone());
            }
        }
        let (user, exp) = self.verify_fully(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(
            token.to_owned(),
            Verified {
                user: user.clone(),
                exp,
            },
        );
        Ok(user)
    }

    /// Signature, algorithm, `exp` and `sub`: the user and the token's `exp`.
    fn verify_fully(&self, token: &str) -> Result<(UserId, i64), ApiError> {
        let alg = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("the bearer token is not a JWT"))?
            .alg;
        for (key, validation) in self
            .keys
            .iter()
            .filter(|(_, v)| v.algorithms.contains(&alg))
        {
            if let Ok(data) = decode::<Claims>(token, key, validation) {
                let user = UserId::parse(&data.claims.sub).ok_or_else(|| {
                    ApiError::unauthorized("the token's subject is not a valid user id")
                })?;
                return Ok((user, data.claims.exp));
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
    v.leeway = LEEWAY_SECS;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> (JwtVerifier, SecretString) {
        let secret = SecretString::from("test-secret-test-secret");
        (
            JwtVerifier::new(Some(&secret), None).expect("verifier"),
            secret,
        )
    }

    fn remember(v: &JwtVerifier, token: &str, user: &str, exp: i64) {
        v.verified.lock().unwrap().insert(
            token.to_owned(),
            Verified {
                user: UserId::parse(user).unwrap(),
                exp,
            },
        );
    }

    #[test]
    fn a_verified_token_is_remembered_and_a_changed_one_is_not() {
        let (v, secret) = verifier();
        let token = issue_token(&secret, "alice", 600).unwrap();
        assert_eq!(v.verify(&token).unwrap().as_str(), "alice");
        assert!(v.verified.lock().unwrap().contains_key(&token));
        // One character inside the signature changed: verified in full, and refused.
        let at = token.len() - 5;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(v.verify(&tampered).is_err());
    }

    #[test]
    fn a_remembered_token_is_honoured_only_until_it_expires() {
        let (v, _) = verifier();
        let now = chrono::Utc::now().timestamp();
        remember(&v, "remembered", "bob", now + 60);
        assert_eq!(v.verify("remembered").unwrap().as_str(), "bob");
        // Within the leeway after exp: still accepted, as full verification would.
        remember(&v, "in-leeway", "bob", now - 10);
        assert!(v.verify("in-leeway").is_ok());
        // Past exp and leeway: verified in full again (and this string is no JWT at all).
        remember(&v, "expired", "bob", now - LEEWAY_SECS as i64 - 5);
        assert!(v.verify("expired").is_err());
    }
}
