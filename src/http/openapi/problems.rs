//! The problem+json responses of the document: the `code` enum (every [`ErrorCode`], built from
//! [`ErrorCode::ALL`] so a new code cannot be left out) and, per operation, one response per
//! status with an example for each code it can answer, rendered by the same code that answers
//! real errors.

use std::collections::BTreeMap;

use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::examples;
use crate::checkout::error::ErrorCode;

/// The content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Problem.code`: a string enum of every code a partner can see.
pub fn code_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "The stable, machine-readable error code (see the responses of each operation).",
        ))
        .enum_values(Some(ErrorCode::ALL.map(ErrorCode::as_str)))
        .examples([serde_json::json!("sold_out")])
}

/// Codes any authenticated call can answer: a bad token, admission, a storage failure.
const EVERY_AUTHENTICATED_CALL: &[ErrorCode] = &[
    ErrorCode::Unauthorized,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
];

/// Codes any `/admin/*` call can answer: a missing or wrong admin token, the admin API off
/// (no `admin.token`: every route answers 404), a storage failure.
const EVERY_ADMIN_CALL: &[ErrorCode] = &[
    ErrorCode::Unauthorized,
    ErrorCode::NotFound,
    ErrorCode::Internal,
];

/// Calls that need no credentials answer only their own codes.
const EVERY_OPEN_CALL: &[ErrorCode] = &[];

/// The responses for `codes` plus `base`, one per status.
pub fn responses(base: &[ErrorCode], codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in base.iter().chain(codes) {
        let group = by_status.entry(code.status()).or_default();
        if !group.contains(code) {
            group.push(*code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.to_string(), RefOr::T(response(status, &codes))))
        .collect()
}

fn response(status: u16, codes: &[ErrorCode]) -> Response {
    let description = codes
        .iter()
        .map(|c| format!("`{}`: {}", c.as_str(), c.title()))
        .collect::<Vec<_>>()
        .join("; ");
    let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem")));
    for code in codes {
        content = content.examples_from_iter([(
            code.as_str(),
            ExampleBuilder::new()
                .summary(code.title())
                .value(Some(examples::problem(*code)))
                .build(),
        )]);
    }
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content.build());
    if matches!(status, 429 | 503) {
        builder = builder.header(
            "Retry-After",
            header(
                Type::Integer,
                "Seconds to wait before trying again.",
                serde_json::json!(5),
            ),
        );
    }
    if status == 429 {
        builder = builder.header(
            "RateLimit",
            header(
                Type::String,
                "The limit that refused the request (draft-ietf-httpapi-ratelimit-headers); \
                 sent when this user's or address's share is used up.",
                serde_json::json!("limit=10, remaining=0, reset=3"),
            ),
        );
    }
    if status == 401 {
        builder = builder.header(
            "WWW-Authenticate",
            header(
                Type::String,
                "The scheme to authenticate with.",
                serde_json::json!("Bearer"),
            ),
        );
    }
    builder.build()
}

fn header(
    kind: Type,
    description: &str,
    example: serde_json::Value,
) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new().schema_type(kind).examples([example]),
        ))
        .description(Some(description))
        .build()
}

/// A unit type whose `IntoResponses` are the problem responses of one operation, its own codes
/// with those of every call of its kind: `responses(..., CreateCheckoutProblems)` in its
/// `#[utoipa::path]`.
macro_rules! problem_set {
    ($base:ident => $($(#[$doc:meta])* $name:ident: [$($code:ident),* $(,)?];)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                responses($base, &[$(ErrorCode::$code),*])
            }
        }
    )*};
}

problem_set! { EVERY_OPEN_CALL =>
    /// `GET /problems/{code}`.
    ProblemTypeProblems: [NotFound];
}

problem_set! { EVERY_ADMIN_CALL =>
    /// `GET /admin/checkouts`.
    AdminCheckoutsProblems: [ValidationFailed];
    /// `GET /admin/unredeemed-orders`.
    AdminUnredeemedProblems: [ValidationFailed, UpstreamUnavailable];
    /// `POST /admin/jobs/unredeemed/run`.
    AdminRunProblems: [ValidationFailed, InvalidState, UpstreamUnavailable];
    /// `GET /admin/webhook-deliveries`.
    AdminDeliveriesProblems: [ValidationFailed];
    /// `POST /admin/webhook-deliveries/{id}/redrive`.
    AdminRedriveProblems: [InvalidState];
}

problem_set! { EVERY_AUTHENTICATED_CALL =>
    /// `GET /v1/events/{event_id}`.
    EventProblems: [NotFound, UpstreamUnavailable];
    /// `GET /v1/captcha`.
    CaptchaProblems: [UpstreamUnavailable];
    /// `POST /v1/checkouts`.
    CreateCheckoutProblems: [
        NotFound, ValidationFailed, CaptchaInvalid, EventNotTransactable, SoldOut,
        IdempotencyKeyReused, IdempotencyKeyInUse, MaintenanceWindow, UpstreamUnavailable,
        PayloadTooLarge,
    ];
    /// `GET /v1/checkouts/{id}`.
    ReadCheckoutProblems: [NotFound];
    /// `PUT /v1/checkouts/{id}/payment`.
    PaymentProblems: [
        NotFound, ValidationFailed, InvalidState, HoldExpired, PaymentDeclined,
        InvalidSecurityCode, IdempotencyKeyReused, IdempotencyKeyInUse, MaintenanceWindow,
        UpstreamUnavailable, PayloadTooLarge,
    ];
    /// `POST /v1/checkouts/{id}/payment-session`.
    PaymentSessionProblems: [
        NotFound, ValidationFailed, InvalidState, HoldExpired, IdempotencyKeyReused,
        IdempotencyKeyInUse, UpstreamUnavailable, PayloadTooLarge,
    ];
    /// `POST /v1/checkouts/{id}/purchase`.
    PurchaseProblems: [
        NotFound, InvalidState, HoldExpired, PaymentDeclined, IdempotencyKeyReused,
        IdempotencyKeyInUse, MaintenanceWindow, UpstreamUnavailable,
    ];
    /// `DELETE /v1/checkouts/{id}`.
    ReleaseProblems: [
        NotFound, InvalidState, IdempotencyKeyReused, IdempotencyKeyInUse, UpstreamUnavailable,
    ];
    /// `GET /v1/orders`.
    OrderListProblems: [ValidationFailed];
    /// `GET /v1/orders/{order_id}`.
    OrderProblems: [NotFound];
}
