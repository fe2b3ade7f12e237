//! RFC 9457 problem+json responses: every error a partner sees has a stable `code`, and
//! validation errors name each failing field.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::checkout::error::{CheckoutError, ErrorCode, FieldError, Refusal};

/// The problem+json body. Its schema (`Problem` in the OpenAPI document) is derived from it;
/// `code` lists every [`ErrorCode`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(
    as = Problem,
    description = "An RFC 9457 problem: the body of every error answer. `code` is stable; for \
                   `validation_failed`, `errors` names each invalid field."
)]
pub struct ProblemBody {
    /// The problem type: `/problems/{code}`, a reference relative to the URL called (RFC 9457
    /// §3.1.1), to a page that says when the code happens and what the app should do.
    #[serde(rename = "type")]
    #[schema(example = "/problems/sold_out", format = "uri-reference")]
    kind: String,
    /// A short summary of the problem type; the same for every problem with this `code`.
    #[schema(example = "No inventory matches the request")]
    title: &'static str,
    /// The HTTP status of the response.
    #[schema(example = 409)]
    status: u16,
    /// What went wrong with this request, for people.
    detail: String,
    /// The stable, machine-readable error code.
    #[schema(schema_with = crate::http::openapi::problems::code_schema)]
    code: &'static str,
    /// The Partner API's own error code, when upstream refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_code: Option<i64>,
    /// The checkout the failed operation was about, when one was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12")]
    checkout_id: Option<String>,
    /// For `validation_failed`: each invalid field with what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    errors: Vec<FieldErrorBody>,
}

/// One invalid field of a request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorBody {
    /// The field's JSON path in the request, e.g. `tickets[0].quantity`.
    #[schema(example = "tickets[0].quantity")]
    field: String,
    /// What is wrong with it.
    #[schema(example = "must be greater than 0")]
    message: String,
}

/// An error on its way to the partner.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub upstream_code: Option<i64>,
    pub checkout_id: Option<String>,
    pub retry_after: Option<u64>,
    /// The limit that refused the request, for the `RateLimit` header.
    pub rate_limit: Option<u32>,
}

impl ApiError {
    /// The `Retry-After` the answer carries: its own, else its code's.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.or(self.code.default_retry_after())
    }

    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            upstream_code: None,
            checkout_id: None,
            retry_after: None,
            rate_limit: None,
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    /// Over this user's or this address's share (see `admission`).
    pub fn rate_limited(refused: super::admission::Refused) -> Self {
        Self {
            retry_after: Some(crate::checkout::error::whole_seconds(refused.retry_after)),
            rate_limit: Some(refused.limit),
            ..Self::new(
                ErrorCode::RateLimited,
                "too many requests from this user or address",
            )
        }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such resource")
    }

    /// The problem+json body this error answers with.
    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            kind: super::problem_types::type_uri(self.code),
            title: self.code.title(),
            status: self.code.status(),
            detail: self.detail.clone(),
            code: self.code.as_str(),
            upstream_code: self.upstream_code,
            checkout_id: self.checkout_id.clone(),
            errors: self
                .errors
                .iter()
                .map(|e| FieldErrorBody {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::NotFound => Self::not_found(),
            CheckoutError::Validation(errors) => Self::validation(errors),
            // While an operation runs (reserving, paying, purchasing, releasing) the state is of
            // the moment: the answer says when to look again, and so is not kept under an
            // Idempotency-Key (a repeat runs again and meets the settled state).
            e @ CheckoutError::InvalidState { state, .. } => Self {
                retry_after: state.is_pending().then_some(1),
                ..Self::new(ErrorCode::InvalidState, e.to_string())
            },
            CheckoutError::Refused(Refusal {
                code,
                message,
                upstream_code,
                checkout_id,
                retry_after,
            }) => Self {
                upstream_code,
                checkout_id: checkout_id.map(|id| id.to_string()),
                retry_after,
                ..Self::new(code, message)
            },
            CheckoutError::Store(crate::store::StoreError::Conflict) => Self::new(
                ErrorCode::InvalidState,
                "the checkout changed while this request ran; read it and try again",
            ),
            CheckoutError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "the database is unavailable");
                Self {
                    retry_after: Some(2),
                    ..Self::new(
                        ErrorCode::UpstreamUnavailable,
                        "the gateway's database is unavailable; try again shortly (read the \
                         checkout first: an operation already started goes on)",
                    )
                }
            }
            CheckoutError::Store(e) => {
                // The detail stays generic: storage errors can carry internal names.
                tracing::error!(error = %e, "storage failure");
                Self::new(
                    ErrorCode::Internal,
                    "internal error; read the checkout before trying again",
                )
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = self.body();
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        let retry = self.retry_after_secs();
        if let Some(secs) = retry {
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
            if let Some(limit) = self.rate_limit {
                // draft-ietf-httpapi-ratelimit-headers: nothing left until the reset.
                let value = format!("limit={limit}, remaining=0, reset={secs}");
                if let Ok(value) = HeaderValue::from_str(&value) {
                    resp.insert_header(("RateLimit", value));
                }
            }
        }
        if self.code == ErrorCode::Unauthorized {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        // For the access log line (`super::observe`).
        resp.extensions_mut().insert(ProblemCode(self.code));
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// The problem a response carries, as the access log names it.
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub ErrorCode);

/// Malformed JSON in any extractor becomes `validation_failed`, never a plain-text 400.
/// Its words never quote the body (serde's own can: a value in the wrong place could be a card
/// number); the field is named where serde names it.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::ContentType => ApiError::field("body", "must be sent as application/json"),
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than this route accepts",
        ),
        E::Deserialize(e) if e.is_data() => {
            let (child, message) = super::body::describe(&e.to_string());
            ApiError::field(child.as_deref().unwrap_or("body"), message)
        }
        _ => ApiError::field("body", "not valid JSON"),
    }
    .into()
}

/// Unparseable path segments (e.g. a malformed id) are 404s.
pub fn path_error(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::not_found().into()
}

/// Bad query strings name the parameter.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let (child, message) = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => {
            super::body::describe(&e.to_string())
        }
        _ => (None, "is not a valid query string".to_owned()),
    };
    ApiError::field(child.as_deref().unwrap_or("query"), message).into()
}
