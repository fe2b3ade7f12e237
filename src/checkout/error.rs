//! The checkout use cases' error type, what an upstream failure becomes for partners, and why
//! a change to a checkout's record could not be kept ([`RecordError`]). The contract's codes
//! themselves ([`ErrorCode`]) are vocabulary, defined in `model::code` and re-exported here.

use crate::ids::CheckoutId;
use crate::store::StoreError;
use crate::upstream::{FailureKind, UpstreamError};

use super::state::{CheckoutState, InvalidTransition};

pub use super::model::{CodeDoc, ErrorCode, SeenAs};

/// What upstream failures become for partners: decided here, above the upstream client, so
/// the codes themselves stay vocabulary the store may persist (`model::code`).
impl ErrorCode {
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
