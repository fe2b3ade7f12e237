//! `POST /oauth/accesstoken`: client-credentials tokens (Basic `apikey:client_secret`, form
//! `grant_type=client_credentials`), valid 3600 s of the sandbox clock, answered in the docs'
//! shape (numbers as strings). Tokens can be revoked all at once through the admin API.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use chrono::TimeDelta;

use super::faults::Operation;
use super::gate;
use super::ids;
use super::reply::{self, Outcome, Reply};
use super::state::Shared;
use crate::upstream::wire;

const TOKEN_LIFETIME_SECS: i64 = 3600;

fn invalid_client() -> Reply {
    reply::fault(
        401,
        "Invalid client identifier",
        "oauth.v2.InvalidClientIdentifier",
    )
}

/// `(apikey, secret)` of a Basic authorization header.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let encoded = gate::header(req, "Authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_owned(), secret.to_owned()))
}

fn issue(shared: &Shared, req: &HttpRequest, body: &[u8]) -> Outcome<Reply> {
    let expected = shared.config.client_secret.as_deref();
    let credentials = basic_credentials(req);
    let valid = match (&credentials, expected) {
        (Some((apikey, secret)), Some(expected)) => {
            *apikey == shared.config.apikey && secret == expected
        }
        _ => false,
    };
    if !valid {
        return Err(invalid_client());
    }
    let grant = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    if grant.as_deref() != Some("client_credentials") {
        return Err(reply::fault(
            400,
            "Unsupported grant type",
            "oauth.v2.UnsupportedGrantType",
        ));
    }
    let now = shared.now();
    let token = ids::alphanumeric(28);
    shared
        .lock()
        .tokens
        .insert(token.clone(), now + TimeDelta::seconds(TOKEN_LIFETIME_SECS));
    Ok(Reply::ok(&wire::AccessTokenResponse {
        issued_at: now.timestamp_millis().to_string(),
        scope: String::new(),
        status: "approved".into(),
        expires_in: (TOKEN_LIFETIME_SECS - 1).to_string(),
        token_type: "BearerToken".into(),
        client_id: shared.config.apikey.clone(),
        access_token: token,
    }))
}

/// `POST /oauth/accesstoken`.
pub async fn access_token(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Oauth) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    call.respond(issue(&shared, &req, &body).unwrap_or_else(|r| r))
        .await
}

/// Forgets every token; returns how many there were.
pub fn revoke_all(shared: &Shared) -> usize {
    let mut state = shared.lock();
    let n = state.tokens.len();
    state.tokens.clear();
    n
}
