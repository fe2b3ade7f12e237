//! Signing user tokens with the HS256 secret: for the `token` command
//! (`tools::token::dev_token`, which refuses a production configuration), the example app's
//! token route (`http::example`, which production refuses to serve), the demo, benchmarks and
//! tests. In production, user tokens come from the partner's own identity provider.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::AuthSettings;

#[derive(Debug, Serialize)]
struct Minted<'a> {
    sub: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// What a minted token claims.
#[derive(Debug, Clone, Copy)]
pub struct TokenSpec<'a> {
    pub user: &'a str,
    pub ttl_secs: i64,
    /// `iss`, when the verifier wants one (`auth.jwt_issuer`).
    pub issuer: Option<&'a str>,
    /// `aud`, when the verifier wants one (`auth.jwt_audience`).
    pub audience: Option<&'a str>,
}

/// Sign a token for `user` valid `ttl_secs` from now, with no `iss` or `aud`.
pub fn issue_token(secret: &SecretString, user: &str, ttl_secs: i64) -> Result<String, String> {
    issue_token_with(
        secret,
        &TokenSpec {
            user,
            ttl_secs,
            issuer: None,
            audience: None,
        },
    )
}

/// Why no token was minted for a configuration.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("auth.jwt_hs256_secret is not set: there is no secret to sign a token with")]
    NoSecret,
    #[error("could not sign the token: {0}")]
    Sign(String),
}

/// A token the gateway configured with `auth` accepts: signed with its HS256 secret, with its
/// `iss` and `aud` when it checks them. Callers decide whether minting is allowed at all.
pub fn issue_configured_token(
    auth: &AuthSettings,
    user: &str,
    ttl_secs: i64,
) -> Result<String, MintError> {
    let secret = auth.jwt_hs256_secret.as_ref().ok_or(MintError::NoSecret)?;
    let spec = TokenSpec {
        user,
        ttl_secs,
        issuer: auth.jwt_issuer.as_deref(),
        audience: auth.jwt_audience.as_deref(),
    };
    issue_token_with(secret, &spec).map_err(MintError::Sign)
}

pub fn issue_token_with(secret: &SecretString, spec: &TokenSpec<'_>) -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Minted {
        sub: spec.user,
        exp: now.saturating_add(spec.ttl_secs),
        iat: now,
        iss: spec.issuer,
        aud: spec.audience,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| e.to_string())
}
