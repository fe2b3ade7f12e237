//! `POST /v1/checkouts/{id}/payment-session`: a link to the hosted payment page for the
//! caller's reserved checkout. The link is a credential, so its answer is never cached
//! (`Cache-Control: no-store`), and under an `Idempotency-Key` it is stored with the token
//! sealed: the database holds a live token nowhere, not even in a replayable answer.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::body::RawBody;
use super::dto::session::{PaymentSessionBody, PaymentSessionRequestBody};
use super::hosted::HostedPage;
use super::idempotency::{self, Fingerprint, StoredInstead};
use super::openapi::headers::IdempotencyKey;
use super::openapi::problems::PaymentSessionProblems;
use super::openapi::{Routes, examples};
use super::parse;
use super::problem::ApiError;
use super::state::AppState;
use crate::checkout::error::ErrorCode;
use crate::checkout::payment_session::{CreatedSession, SessionToken};

pub fn routes(routes: &mut Routes) {
    routes.service(create_payment_session);
}

/// Open a payment session (the hosted payment page)
///
/// For a checkout in `reserved`. Answers a single-use link to the gateway's payment page,
/// where the user enters the card: the partner's app never handles card data. Open `url` in
/// the user's browser or a WebView; the page pays the checkout (as `PUT …/payment` does) and
/// then sends the user to `return_url` with `checkout_id` and `outcome` (`payment_accepted`,
/// `pending`, `failed`, `expired` or `cancelled`) added to its query: read the checkout, then
/// purchase. The link works until `expires_at`, until a payment is accepted for the checkout
/// (through any link or `PUT …/payment`), or until the checkout can no longer be paid; a
/// declined card leaves it usable. Several links may be open for one checkout.
#[utoipa::path(
    tag = "checkouts",
    params(
        ("id" = String, Path, description = "A `chk_…` id", example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12"),
        IdempotencyKey,
    ),
    request_body(content = PaymentSessionRequestBody, example = json!(examples::payment_session_request())),
    responses(
        (status = 201, description = "The payment page's link", body = PaymentSessionBody,
            headers(("Cache-Control" = String, description = "`no-store`: the link is a credential")),
            example = json!(examples::payment_session())),
        PaymentSessionProblems,
    )
)]
#[post("/v1/checkouts/{id}/payment-session")]
async fn create_payment_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let id = super::checkouts::checkout_id(&path)?;
    let user = user.0;
    let fingerprint = Fingerprint::of_body(&state, &req, &body);
    let run = async {
        let request = parse::payment_session_request(&body)?;
        let created = state
            .service
            .create_payment_session(&user, id, request)
            .await?;
        Ok(created_answer(&state.hosted, &created))
    };
    let resp = idempotency::once(&req, &state, &user, fingerprint, run).await?;
    let mut resp = unsealed(&state.hosted, resp).await?;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// What an `Idempotency-Key`'s record keeps of the answer: the token sealed, not the link.
#[derive(Serialize, Deserialize)]
struct Kept {
    sealed_token: String,
    expires_at: DateTime<Utc>,
}

/// 201 with the link, no `Location` (the link is no resource of the API).
fn created_answer(hosted: &HostedPage, created: &CreatedSession) -> HttpResponse {
    let body = PaymentSessionBody {
        url: hosted.session_url(&created.token),
        expires_at: created.expires_at,
    };
    let kept = Kept {
        sealed_token: created.token.seal(&hosted.seal_key),
        expires_at: created.expires_at,
    };
    let mut resp = HttpResponse::Created().json(body);
    resp.extensions_mut().insert(StoredInstead(
        serde_json::to_string(&kept).unwrap_or_default(),
    ));
    resp
}

/// A replayed answer made whole again: the stored copy holds the token sealed.
async fn unsealed(hosted: &HostedPage, resp: HttpResponse) -> Result<HttpResponse, ApiError> {
    let replayed = resp.headers().contains_key("idempotent-replayed");
    if !replayed || resp.status() != StatusCode::CREATED {
        return Ok(resp);
    }
    let (head, body) = resp.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let token = serde_json::from_slice::<Kept>(&bytes)
        .ok()
        .and_then(|kept| {
            Some((
                SessionToken::unseal(&kept.sealed_token, &hosted.seal_key)?,
                kept,
            ))
        });
    let Some((token, kept)) = token else {
        // Sealed under another key (`security.source_account_key` changed since).
        return Err(ApiError::new(
            ErrorCode::Internal,
            "the stored answer to this Idempotency-Key cannot be read; use a new key",
        ));
    };
    let body = PaymentSessionBody {
        url: hosted.session_url(&token),
        expires_at: kept.expires_at,
    };
    let json = serde_json::to_string(&body).unwrap_or_default();
    let mut resp = head.set_body(json);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp.map_into_boxed_body())
}
