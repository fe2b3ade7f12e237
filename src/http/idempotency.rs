//! `Idempotency-Key` on mutating calls: the key, the user and a keyed [`Fingerprint`] of the
//! request are stored (never of card data: a payment is fingerprinted without its card number
//! and CVV); a repeat replays the first answer with `Idempotent-Replayed: true`;
//! the same key with a different request is `idempotency_key_reused`; a repeat while the
//! first still runs waits for it (bounded by `Prefer: wait`), then `idempotency_key_in_use`.
//! Answers where nothing happened (validation, auth, refusals before upstream) are not
//! stored, so the client can correct and retry under the same key.
//!
//! The first request renews its claim on the key while it runs (every quarter of
//! `idempotency.takeover_after_secs`). A claim left unrenewed that long is a dead process's
//! (killed, crashed, or its request dropped): a repeat of the same request takes the key over
//! and runs it, rather than answering "in use" until the key expires. Running it again is
//! safe: payment, purchase and release go by the checkout's own state (a purchase is never
//! sent twice), and a create's lost reservation is released by the sweeper as abandoned.

use std::future::Future;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use secrecy::SecretString;
use tokio::time::Instant;

use super::problem::ApiError;
use super::state::AppState;
use crate::checkout::error::ErrorCode;
use crate::checkout::model::UserId;
use crate::checkout::payment::PaymentInput;
use crate::digest::{derived_key, keyed_digest};
use crate::heartbeat::Guard;
use crate::store::{Begin, IdempotencyKey, StoredResponse};

const HEADER: &str = "idempotency-key";

/// How often a repeat waiting on a running key looks again without being woken.
const RECHECK: Duration = Duration::from_secs(1);

/// Codes that mean the request changed nothing: their answers are not kept.
const NOT_STORED: &[ErrorCode] = &[
    ErrorCode::ValidationFailed,
    ErrorCode::Unauthorized,
    ErrorCode::NotFound,
    ErrorCode::PayloadTooLarge,
    ErrorCode::MethodNotAllowed,
    ErrorCode::Internal,
];

/// Whether a refusal is kept for replays: not when its code says nothing changed, nor when
/// the answer is of the moment, which is exactly when it says when to try again
/// (`Retry-After`: upstream unavailable, the quota, the maintenance window, "another
/// operation on this checkout is running"): a repeat runs again instead of replaying a
/// moment that has passed.
fn stored(error: &ApiError) -> bool {
    !NOT_STORED.contains(&error.code) && error.retry_after_secs().is_none()
}

/// Run `handler` at most once per (user, key, route); without a key, just run it.
pub async fn once<F>(
    req: &HttpRequest,
    state: &AppState,
    user: &UserId,
    fingerprint: Fingerprint,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: Future<Output = Result<HttpResponse, ApiError>>,
{
    let Some(key) = key_of(req, user)? else {
        return handler.await;
    };
    let fingerprint = fingerprint.0;
    let wait = state.wait(req, state.max_wait);
    let deadline = Instant::now() + wait;
    let idempotency = &state.context.store.idempotency;
    let takeover_after = state.idempotency_takeover_after;
    let renew_every = takeover_after / 4;
    let mut next_takeover_try = Instant::now();
    loop {
        // Registered before the look, so a settling in between is not missed.
        let changed = state.idempotency_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = state.context.clock.now();
        let expires = now + state.idempotency_ttl;
        match idempotency
            .begin(&key, &fingerprint, now, expires)
            .await
            .map_err(internal)?
        {
            Begin::Started => break,
            Begin::Replay(stored) => {
                state.context.metrics.idempotent_replay();
                return Ok(replay(stored));
            }
            Begin::Mismatch => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used for a different request",
                ));
            }
            Begin::InProgress => {
                // A claim renewed less than `takeover_after` ago is a request still running.
                if Instant::now() >= next_takeover_try {
                    let stale_before = now - as_time_delta(takeover_after);
                    let reclaimed = idempotency
                        .reclaim_stale(&key, &fingerprint, now, stale_before)
                        .await
                        .map_err(internal)?;
                    if reclaimed {
                        break;
                    }
                    next_takeover_try = Instant::now() + renew_every;
                }
                if Instant::now() >= deadline {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyKeyInUse,
                        "a request with this Idempotency-Key is still running",
                    ));
                }
                // Woken when a key settles (this replica's, or another's through the store's
                // change notifications); the slow re-check is for a notification missed.
                let recheck = (Instant::now() + RECHECK)
                    .min(deadline)
                    .min(next_takeover_try);
                tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(recheck) => {}
                }
            }
        }
    }
    let (response, stored) = match renewing(state, &key, renew_every, handler).await {
        Ok(resp) => {
            let (resp, stored) = split(resp).await;
            (Ok(resp), Some(stored))
        }
        Err(e) if !stored(&e) => (Err(e), None),
        Err(e) => {
            let (_, stored) = split(actix_web::ResponseError::error_response(&e)).await;
            (Err(e), Some(stored))
        }
    };
    let result = match &stored {
        Some(s) => idempotency.complete(&key, s).await,
        None => idempotency.abandon(&key).await,
    };
    state.idempotency_changed.notify_waiters();
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record an idempotent answer");
    }
    response
}

/// Runs `handler` while renewing the claim on `key` every `every`, so repeats see it running
/// (the heartbeat guard stops with the handler, however it ends). A renewal that fails is
/// logged and tried again at the next tick: the claim lapses only after four missed ones.
async fn renewing<F: Future>(
    state: &AppState,
    key: &IdempotencyKey,
    every: Duration,
    handler: F,
) -> F::Output {
    let (context, key) = (state.context.clone(), key.clone());
    let _heartbeat = Guard::spawn(every, "an Idempotency-Key claim".into(), move || {
        let (context, key) = (context.clone(), key.clone());
        // `false`: not in progress any more (completed by a repeat that took the key over
        // while this one was stalled, or purged): there is no claim left to keep.
        async move {
            let renewals = &context.store.renewals.idempotency;
            renewals.renew(&key, context.clock.now()).await
        }
    });
    handler.await
}

/// `takeover_after` is at most an hour (configuration checks it), far inside `TimeDelta`'s
/// range; the fallback is that bound.
fn as_time_delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::hours(1))
}

fn key_of(req: &HttpRequest, user: &UserId) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| ApiError::field("Idempotency-Key", "1–255 visible ASCII characters"))?;
    Ok(Some(IdempotencyKey {
        scope: format!("{} {}", req.method(), canonical_path(req)),
        user: user.clone(),
        key: key.to_owned(),
    }))
}

/// The resource a request names, as the router read it: its route with each id as the route
/// reads it (ids are case-insensitive), so that one resource has one key however its path was
/// spelled (`/v1/%63heckouts`, an id in capitals: found by review to run a repeat again).
fn canonical_path(req: &HttpRequest) -> String {
    // The path the router matched: percent-encoded letters decoded (`req.path()` keeps them,
    // and `match_pattern` re-reads that, finding no route).
    let mut path = req.match_info().as_str().to_owned();
    for (_, value) in req.match_info().iter() {
        // The routes' own text is lower case: only an id holding capitals changes here.
        path = path.replace(value, &value.to_ascii_lowercase());
    }
    path
}

/// What a repeat under the same key must match to be the same request: a keyed digest, so a
/// stored fingerprint reveals nothing about the request.
pub struct Fingerprint(String);

impl Fingerprint {
    /// Method, path and body: for requests whose body holds no card data.
    pub fn of_body(state: &AppState, req: &HttpRequest, body: &[u8]) -> Self {
        Self::of(&state.fingerprint_key, req, body)
    }

    /// A payment, by method, path and [`PaymentInput::identity`] (brand, last4, expiry,
    /// billing) under a key of its own: nothing stored changes with the card number or the
    /// CVV, and the digest shares no key with the `source_account_id` pseudonyms.
    pub fn of_payment(state: &AppState, req: &HttpRequest, payment: &PaymentInput) -> Self {
        Self::of(
            &state.payment_fingerprint_key,
            req,
            payment.identity().as_bytes(),
        )
    }

    fn of(key: &SecretString, req: &HttpRequest, content: &[u8]) -> Self {
        let path = canonical_path(req);
        let parts: [&[u8]; 5] = [
            req.method().as_str().as_bytes(),
            b" ",
            path.as_bytes(),
            b"\n",
            content,
        ];
        Self(hex::encode(keyed_digest(key, &parts)))
    }
}

/// The key payment fingerprints are made with, derived from `source_account_key` for this
/// one use (HMAC with a fixed label), so one secret in configuration still serves both.
pub fn payment_fingerprint_key(source_account_key: &SecretString) -> SecretString {
    derived_key(
        source_account_key,
        b"checkout-gateway/idempotency/payment-fingerprint/v1",
    )
}

/// What a response's stored copy holds instead of its body: for an answer holding a secret
/// that must not be stored as is (a payment session's link). The route that set it turns the
/// replayed copy back into its answer.
#[derive(Debug, Clone)]
pub struct StoredInstead(pub String);

/// The response's bytes (or what it says to store instead), and the response rebuilt.
async fn split(resp: HttpResponse) -> (HttpResponse, StoredResponse) {
    let status = resp.status().as_u16();
    let instead = resp.extensions().get::<StoredInstead>().cloned();
    let (head, body) = resp.into_parts();
    let bytes = body.try_into_bytes().unwrap_or_default();
    let stored = StoredResponse {
        status,
        body: match instead {
            Some(StoredInstead(body)) => body,
            None => String::from_utf8_lossy(&bytes).into_owned(),
        },
    };
    (head.set_body(BoxBody::new(bytes)), stored)
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = HttpResponse::build(status);
    // What is kept is either a handler's JSON answer (2xx) or an `ApiError`'s problem
    // (every other status): the status says which.
    resp.insert_header((
        header::CONTENT_TYPE,
        if status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        },
    ));
    resp.insert_header(("Idempotent-Replayed", HeaderValue::from_static("true")));
    // A still-running checkout is read again after a while, as the first answer said.
    if stored.status == 202 {
        resp.insert_header((header::RETRY_AFTER, 1));
    }
    // A created or still-running checkout points at itself, as the first answer did.
    if matches!(stored.status, 201 | 202)
        && let Some(id) = serde_json::from_str::<serde_json::Value>(&stored.body)
            .ok()
            .and_then(|b| b["id"].as_str().map(str::to_owned))
    {
        resp.insert_header((header::LOCATION, format!("/v1/checkouts/{id}")));
    }
    if status == StatusCode::NO_CONTENT {
        return resp.finish();
    }
    resp.body(stored.body)
}

fn internal(e: crate::store::StoreError) -> ApiError {
    ApiError::from(crate::checkout::error::CheckoutError::Store(e))
}
