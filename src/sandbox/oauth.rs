//! `POST /oauth/accesstoken`: client-credentials tokens (Basic `apikey:client_secret`, form
//! `grant_type=client_credentials`), valid 3600 s of the sandbox clock, answered in the docs'
//! shape: `expires_in` and `issued_at` are strings, or numbers under `expires_in=number` (the
//! answer is made here, not from the client's wire type, so it can take either shape). Tokens
//! can be revoked all at once through the admin API.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use chrono::TimeDelta;

use super::dialect::ExpiresIn;
use super::faults::Operation;
use super::gate;
use super::ids;
use super::reply::{self, Outcome, Reply};
use super::state::Shared;

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
    let style = {
        let mut state = shared.lock();
        state
            .tokens
            .insert(token.clone(), now + TimeDelta::seconds(TOKEN_LIFETIME_SECS));
        state.dialect.expires_in
    };
    let number = |n: i64| match style {
        ExpiresIn::Text => serde_json::Value::String(n.to_string()),
        ExpiresIn::Number => n.into(),
    };
    Ok(Reply::ok(&serde_json::json!({
        "issued_at": number(now.timestamp_millis()),
        "scope": "",
        "status": "approved",
        "expires_in": number(TOKEN_LIFETIME_SECS - 1),
        "token_type": "BearerToken",
        "client_id": shared.config.apikey,
        "access_token": token,
    })))
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
