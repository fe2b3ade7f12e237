//! [`JwtVerifier`]: full verification of a user token, and a bounded cache of tokens that
//! passed it.
//!
//! Full verification: the header's `alg` picks the key configured for that algorithm (HS256
//! secret or RS256 public key; `none` and every other algorithm have no key and are refused,
//! so a token HMAC-signed with the RS256 public key finds no HS256 key to match); then the
//! signature, `exp` (required), `nbf` (when present), `iss` and `aud` (required and checked
//! when `auth.jwt_issuer` / `auth.jwt_audience` are configured) and `sub`. `exp` and `nbf`
//! get [`LEEWAY_SECS`] of clock skew between the issuer and the gateway.
//!
//! An app sends the same token with every call until it expires, so a token that passed full
//! verification is remembered (as Envoy's `jwt_authn` cache does) with its subject and `exp`.
//! Only fully verified tokens enter the cache, so a remembered token has already passed its
//! `nbf`, which only becomes more true with time; `exp` is checked again on every hit. The
//! cache is a [`moka`] cache: at most [`MAX_VERIFIED`] entries (least useful evicted first), each
//! gone when its token expires, and none older than [`MAX_REMEMBERED`].

use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use moka::Expiry;
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::checkout::model::UserId;
use crate::http::problem::ApiError;

/// Seconds of clock skew allowed on `exp` (still accepted this long after it) and `nbf`
/// (already accepted this long before it).
pub const LEEWAY_SECS: u64 = 30;
/// Tokens remembered at most; past it the least useful are forgotten and verified in full on
/// their next use.
const MAX_VERIFIED: u64 = 10_000;
/// The longest a token is remembered even when its `exp` is further away: a bound on how long
/// a long-lived token goes without its signature being checked again.
const MAX_REMEMBERED: Duration = Duration::from_secs(10 * 60);

/// The claims the gateway reads; `iss`, `aud` and `nbf` are checked by `jsonwebtoken` from the
/// raw claims (so an `aud` given as a list is accepted as RFC 7519 allows). `exp` is optional
/// here only so that its absence is refused by the validation, which names it.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    exp: Option<i64>,
}

/// How user tokens are verified (`auth.*`).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwt_hs256_secret: Option<SecretString>,
    pub jwt_rs256_public_key_pem: Option<String>,
    /// `iss` every user token must carry; `None`: not checked (refused in production).
    pub jwt_issuer: Option<String>,
    /// `aud` every user token must carry; `None`: not checked (refused in production).
    pub jwt_audience: Option<String>,
}

/// Verifies user tokens.
pub struct JwtVerifier {
    keys: Vec<(DecodingKey, Validation)>,
    /// Keyed by the token's SHA-256: an entry's size does not depend on the token's (a header
    /// may carry kilobytes), and no bearer token is kept in memory.
    verified: Cache<[u8; 32], Verified>,
}

/// A token that passed full verification.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    user: UserId,
    exp: i64,
}

impl Verified {
    /// Whether full verification would still accept the token's `exp` at `now`.
    fn live_at(&self, now: i64) -> bool {
        self.exp.saturating_add(LEEWAY_SECS as i64) >= now
    }
}

/// Each entry leaves the cache when its token stops being valid (`exp` plus leeway).
struct UntilExpiry;

impl Expiry<[u8; 32], Verified> for UntilExpiry {
    fn expire_after_create(&self, _: &[u8; 32], v: &Verified, _: Instant) -> Option<Duration> {
        let left = v
            .exp
            .saturating_add(LEEWAY_SECS as i64)
            .saturating_sub(chrono::Utc::now().timestamp());
        Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
    }
}

impl JwtVerifier {
    pub fn new(auth: &AuthSettings) -> Result<Self, String> {
        let mut keys = Vec::new();
        if let Some(secret) = &auth.jwt_hs256_secret {
            keys.push((
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                validation(Algorithm::HS256, auth),
            ));
        }
        if let Some(pem) = &auth.jwt_rs256_public_key_pem {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("auth.jwt_rs256_public_key_pem: {e}"))?;
            keys.push((key, validation(Algorithm::RS256, auth)));
        }
        let verified = Cache::builder()
            .max_capacity(MAX_VERIFIED)
            .time_to_live(MAX_REMEMBERED)
            .expire_after(UntilExpiry)
            .build();
        Ok(Self { keys, verified })
    }

    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let key = fingerprint(token);
        // The cache's own expiry runs on its clock and in its own time: `exp` is the rule.
        if let Some(v) = self.verified.get(&key)
            && v.live_at(now)
        {
            return Ok(v.user);
        }
        let verified = self.verify_fully(token)?;
        let user = verified.user.clone();
        self.verified.insert(key, verified);
        Ok(user)
    }

    /// Signature, algorithm and every configured claim check.
    fn verify_fully(&self, token: &str) -> Result<Verified, ApiError> {
        let alg = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("the bearer token is not a JWT"))?
            .alg;
        let Some((key, validation)) = self.keys.iter().find(|(_, v)| v.algorithms.contains(&alg))
        else {
            return Err(ApiError::unauthorized(
                "the bearer token's algorithm is not accepted",
            ));
        };
        let claims = decode::<Claims>(token, key, validation)
            .map_err(|e| refusal(e.kind()))?
            .claims;
        let exp = claims
            .exp
            .ok_or_else(|| refusal(&ErrorKind::MissingRequiredClaim("exp".into())))?;
        let user = UserId::parse(&claims.sub)
            .ok_or_else(|| ApiError::unauthorized("the token's subject is not a valid user id"))?;
        Ok(Verified { user, exp })
    }

    #[cfg(test)]
    pub(super) fn remember(&self, token: &str, user: &str, exp: i64) {
        let user = UserId::parse(user).expect("a test user id");
        self.verified
            .insert(fingerprint(token), Verified { user, exp });
    }

    #[cfg(test)]
    pub(super) fn remembered_count(&self) -> u64 {
        self.verified.run_pending_tasks();
        self.verified.entry_count()
    }

    #[cfg(test)]
    pub(super) fn is_remembered(&self, token: &str) -> bool {
        self.verified.contains_key(&fingerprint(token))
    }
}

fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why a token with a valid shape was refused, for the app's developer: every reason is the
/// same 401 `unauthorized`, and none is reached before the signature matched except
/// `InvalidSignature` itself.
fn refusal(kind: &ErrorKind) -> ApiError {
    let detail = match kind {
        ErrorKind::ExpiredSignature => "the bearer token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the bearer token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "the bearer token's issuer is not accepted".to_owned(),
        ErrorKind::InvalidAudience => "the bearer token is for another audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the bearer token has no `{claim}` claim")
        }
        _ => "the bearer token is invalid".to_owned(),
    };
    ApiError::unauthorized(detail)
}

fn validation(alg: Algorithm, auth: &AuthSettings) -> Validation {
    let mut v = Validation::new(alg);
    let mut required = vec!["exp", "sub"];
    v.leeway = LEEWAY_SECS;
    // `nbf` is optional in a token; when it is there it is honoured (RFC 7519 §4.1.5).
    v.validate_nbf = true;
    // A configured issuer or audience must be present, not merely right when present:
    // `jsonwebtoken` skips the comparison for a missing claim unless it is required.
    if let Some(issuer) = &auth.jwt_issuer {
        v.set_issuer(&[issuer]);
        required.push("iss");
    }
    match &auth.jwt_audience {
        Some(audience) => {
            v.set_audience(&[audience]);
            required.push("aud");
        }
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&required);
    v
}
