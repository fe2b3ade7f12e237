//! RFC 9457 problem+json responses: every error a partner sees has a stable `code`, and
//! validation errors name each failing field.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::checkout::error::{CheckoutError, ErrorCode, FieldError, Refusal};

#[derive(Debug, Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldErrorBody>,
}

#[derive(Debug, Serialize)]
struct FieldErrorBody {
    field: String,
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
            retry_after: Some(refused.retry_after.as_secs_f64().ceil().max(1.0) as u64),
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
            e @ CheckoutError::InvalidState { .. } => {
                Self::new(ErrorCode::InvalidState, e.to_string())
            }
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
            CheckoutError::Store(e) => {
                // The detail stays generic: storage errors can carry internal names.
                tracing::error!(error = %e, "storage failure");
                Self::new(
                    ErrorCode::Internal,
                    "internal error; nothing was changed by this request",
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
        let body = ProblemBody {
            kind: format!(
                "https://checkout-gateway.dev/problems/{}",
                self.code.as_str()
            ),
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
        };
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        let retry = self.retry_after.or(match self.code {
            ErrorCode::MaintenanceWindow
            | ErrorCode::RateLimited
            | ErrorCode::UpstreamUnavailable => Some(5),
            _ => None,
        });
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
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// Malformed JSON in any extractor becomes `validation_failed`, never a plain-text 400.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::field("body", format!("not valid JSON: {err}")).into()
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
    ApiError::field("query", err.to_string()).into()
}
