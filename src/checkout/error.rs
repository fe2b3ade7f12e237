//! The contract's stable error codes, the checkout use cases' error type, and why a change to
//! a checkout's record could not be kept ([`RecordError`]).

use crate::ids::CheckoutId;
use crate::store::StoreError;
use crate::upstream::{FailureKind, UpstreamError};

use super::state::{CheckoutState, InvalidTransition};

/// Every `code` a partner can see, with its HTTP status (CONTRACT.md's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthorized,
    NotFound,
    ValidationFailed,
    CaptchaInvalid,
    EventNotTransactable,
    SoldOut,
    InvalidState,
    HoldExpired,
    PaymentDeclined,
    InvalidSecurityCode,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    MaintenanceWindow,
    RateLimited,
    UpstreamUnavailable,
    /// Not a refusal: the checkout's `error` when a purchase's outcome could not be confirmed.
    PurchaseUnconfirmed,
    /// The request body is larger than any route takes.
    PayloadTooLarge,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 18] = [
        Self::Unauthorized,
        Self::NotFound,
        Self::ValidationFailed,
        Self::CaptchaInvalid,
        Self::EventNotTransactable,
        Self::SoldOut,
        Self::InvalidState,
        Self::HoldExpired,
        Self::PaymentDeclined,
        Self::InvalidSecurityCode,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInUse,
        Self::MaintenanceWindow,
        Self::RateLimited,
        Self::UpstreamUnavailable,
        Self::PurchaseUnconfirmed,
        Self::PayloadTooLarge,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::ValidationFailed => "validation_failed",
            Self::CaptchaInvalid => "captcha_invalid",
            Self::EventNotTransactable => "event_not_transactable",
            Self::SoldOut => "sold_out",
            Self::InvalidState => "invalid_state",
            Self::HoldExpired => "hold_expired",
            Self::PaymentDeclined => "payment_declined",
            Self::InvalidSecurityCode => "invalid_security_code",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::MaintenanceWindow => "maintenance_window",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::PurchaseUnconfirmed => "purchase_unconfirmed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The `Retry-After` a refusal with this code carries when nothing better is known (an
    /// upstream reset time, a quota queue's length): the one rule for the codes that pass.
    pub fn default_retry_after(self) -> Option<u64> {
        match self {
            Self::MaintenanceWindow | Self::RateLimited | Self::UpstreamUnavailable => Some(5),
            _ => None,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::ValidationFailed | Self::CaptchaInvalid | Self::IdempotencyKeyReused => 422,
            Self::EventNotTransactable
            | Self::SoldOut
            | Self::InvalidState
            | Self::IdempotencyKeyInUse => 409,
            Self::HoldExpired => 410,
            Self::PaymentDeclined | Self::InvalidSecurityCode => 402,
            Self::MaintenanceWindow | Self::UpstreamUnavailable => 503,
            Self::RateLimited => 429,
            // Only ever a checkout's `error`, answered with the checkout (202); as a status of
            // its own: upstream's answer was lost on its way back.
            Self::PurchaseUnconfirmed => 502,
            Self::PayloadTooLarge => 413,
            Self::Internal => 500,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Unauthorized => "Missing, invalid or expired user token",
            Self::NotFound => "Not found",
            Self::ValidationFailed => "The request is not valid",
            Self::CaptchaInvalid => "The captcha token is missing, stale or already used",
            Self::EventNotTransactable => "This event cannot be sold through the API",
            Self::SoldOut => "No inventory matches the request",
            Self::InvalidState => "The operation does not fit the checkout's state",
            Self::HoldExpired => "The hold on the tickets ran out",
            Self::PaymentDeclined => "The payment was not accepted",
            Self::InvalidSecurityCode => "The card security code was rejected",
            Self::IdempotencyKeyReused => "The Idempotency-Key was used for a different request",
            Self::IdempotencyKeyInUse => "A request with this Idempotency-Key is still running",
            Self::MaintenanceWindow => "The venue's ticketing system is in nightly maintenance",
            Self::RateLimited => "Too many requests",
            Self::UpstreamUnavailable => "Ticketing is unavailable right now",
            Self::PurchaseUnconfirmed => {
                "The purchase's outcome is not confirmed yet; it must not be sent again"
            }
            Self::PayloadTooLarge => "The request body is too large",
            Self::Internal => "Internal error",
        }
    }

    /// The code an upstream failure becomes for the partner.
    pub fn from_upstream(kind: FailureKind) -> Self {
        match kind {
            FailureKind::CaptchaInvalid => Self::CaptchaInvalid,
            FailureKind::NotTransactable => Self::EventNotTransactable,
            FailureKind::SoldOut => Self::SoldOut,
            FailureKind::PaymentDeclined => Self::PaymentDeclined,
            FailureKind::InvalidSecurityCode => Self::InvalidSecurityCode,
            FailureKind::CartGone => Self::HoldExpired,
            FailureKind::RateLimited => Self::RateLimited,
            FailureKind::Conflict
            | FailureKind::InvalidRequest
            | FailureKind::Misconfigured
            | FailureKind::Unavailable => Self::UpstreamUnavailable,
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path, e.g. `tickets[0].quantity` or `card.number`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A refusal with everything the problem body needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub upstream_code: Option<i64>,
    pub checkout_id: Option<CheckoutId>,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("not found")]
    NotFound,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("cannot {action} a checkout in state {}", state.public().as_str())]
    InvalidState {
        state: CheckoutState,
        action: &'static str,
    },
    #[error("{}", .0.message)]
    Refused(Refusal),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

impl CheckoutError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused(Refusal {
            code,
            message: message.into(),
            upstream_code: None,
            checkout_id: None,
            retry_after: None,
        })
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::InvalidState { .. } => ErrorCode::InvalidState,
            Self::Refused(r) => r.code,
            Self::Store(_) => ErrorCode::Internal,
        }
    }

    pub fn with_checkout(mut self, id: CheckoutId) -> Self {
        if let Self::Refused(r) = &mut self {
            r.checkout_id = Some(id);
        }
        self
    }
}

/// Why a change to a checkout could not be kept: the store failed (or the row moved under its
/// lease), or the change does not fit the checkout's state. Never upstream's doing.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
}

impl From<RecordError> for CheckoutError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(e) => e.into(),
            RecordError::Transition(e) => e.into(),
        }
    }
}

/// A change that does not fit the checkout's state.
impl From<InvalidTransition> for CheckoutError {
    fn from(e: InvalidTransition) -> Self {
        Self::InvalidState {
            state: e.from,
            action: "change",
        }
    }
}

impl From<UpstreamError> for CheckoutError {
    fn from(e: UpstreamError) -> Self {
        Self::Refused(e.into())
    }
}

/// What partners are told of an upstream failure.
impl From<UpstreamError> for Refusal {
    fn from(e: UpstreamError) -> Self {
        let code = ErrorCode::from_upstream(e.kind());
        let retry_after = match (&e, code) {
            (UpstreamError::RateLimited { reset_at: Some(at) }, _) => {
                Some((*at - chrono::Utc::now()).num_seconds().max(1) as u64)
            }
            (UpstreamError::QueueFull { retry_after }, _) => Some(whole_seconds(*retry_after)),
            _ => code.default_retry_after(),
        };
        // Upstream's own words stay in the logs; the partner gets the gateway's.
        tracing::info!(error = %e, code = code.as_str(), "upstream refused or failed");
        Self {
            code,
            message: e.partner_detail(),
            upstream_code: e.upstream_code(),
            checkout_id: None,
            retry_after,
        }
    }
}

/// `wait` as a `Retry-After` value: whole seconds, rounded up, at least one.
pub fn whole_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_contract_statuses() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::HoldExpired.status(), 410);
        assert_eq!(ErrorCode::PaymentDeclined.status(), 402);
        assert_eq!(ErrorCode::IdempotencyKeyReused.status(), 422);
        assert_eq!(ErrorCode::MaintenanceWindow.status(), 503);
    }
}
