//! Typed upstream failures: every documented error body and fault body, plus transport
//! failures that say whether the request may have reached upstream (which decides whether a
//! purchase outcome is unknown).

use chrono::{DateTime, Utc};

use super::wire::codes;

/// The gateway-level faults the docs name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCode {
    InvalidApiKey,
    InvalidAccessToken,
    QuotaViolation,
    Other(String),
}

impl FaultCode {
    pub fn parse(errorcode: &str) -> Self {
        match errorcode {
            codes::FAULT_INVALID_API_KEY => Self::InvalidApiKey,
            codes::FAULT_INVALID_ACCESS_TOKEN => Self::InvalidAccessToken,
            codes::FAULT_QUOTA_VIOLATION => Self::QuotaViolation,
            other => Self::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// A documented `{"error": {...}}` body.
    #[error("upstream error {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: i64,
        message: String,
    },
    /// A `{"fault": ...}` body other than a quota violation.
    #[error("upstream fault {code:?} (HTTP {status})")]
    Fault { status: u16, code: FaultCode },
    /// Not sent: the partner's user (or the lane) already has its share of the quota queue
    /// waiting. Nothing was spent.
    #[error("the user's share of the upstream quota is in use")]
    QueueFull { retry_after: std::time::Duration },
    /// HTTP 429 / `policies.ratelimit.QuotaViolation`.
    #[error("upstream quota exceeded")]
    RateLimited { reset_at: Option<DateTime<Utc>> },
    /// A status with no body the docs describe (404, 405, 406, 500, 503, …).
    #[error("upstream answered HTTP {status}")]
    Status { status: u16 },
    /// The exchange broke. `maybe_sent` is false only when the request certainly never left
    /// (connection refused); otherwise upstream may have acted on it.
    #[error("upstream unreachable: {reason}")]
    Transport { maybe_sent: bool, reason: String },
    /// A success status with a body that is not what the docs show. `reason` says where and
    /// what (never a value from the body); it goes to the logs, not into the message, which
    /// may reach a partner.
    #[error("upstream sent an answer the gateway could not read")]
    Decode { reason: String },
    /// A polling URL that does not point at the configured upstream (never followed).
    #[error("refusing a polling URL outside the upstream base")]
    ForeignPollingUrl,
    /// The call was never sent: the access token it needs could not be had (`cause` says
    /// why). Nothing reached upstream, whatever the token request itself met.
    #[error("no upstream access token: {cause}")]
    NoToken { cause: Box<UpstreamError> },
    /// A poll answered 404: the operation ended and its answer went to a poll whose response
    /// was lost (or it was never consumed in time). Whether it took effect is unknown; the
    /// caller settles it (a purchase is reconciled, a reservation's cart released, a release
    /// sent again, a payment left for the user to send again).
    #[error("the polling URL is gone: the operation ended and its answer was lost")]
    PollGone,
}

impl From<super::quota::QueueFull> for UpstreamError {
    fn from(full: super::quota::QueueFull) -> Self {
        Self::QueueFull {
            retry_after: full.retry_after,
        }
    }
}

/// What an upstream failure means for the caller, independent of how it was spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    CaptchaInvalid,
    NotTransactable,
    SoldOut,
    PaymentDeclined,
    InvalidSecurityCode,
    /// Upstream refused the request as malformed (10002, 21001, 406): a gateway bug or bad
    /// input that slipped through; never retried.
    InvalidRequest,
    /// The cart is gone (404 on a cart call): the hold expired or was released.
    CartGone,
    /// Another update of the cart is running upstream (409).
    Conflict,
    RateLimited,
    /// Configuration is wrong (apikey refused).
    Misconfigured,
    /// Upstream down, 5xx, or the exchange broke.
    Unavailable,
}

impl UpstreamError {
    /// What a partner may be told: the gateway's own words, never upstream's message text or
    /// a transport's inner error (those go to the logs, through `Display`).
    pub fn partner_detail(&self) -> String {
        match self {
            Self::Api { code, status, .. } => {
                format!("ticketing refused the request (upstream code {code}, HTTP {status})")
            }
            Self::Transport { .. } | Self::NoToken { .. } => {
                "ticketing could not be reached".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn kind(&self) -> FailureKind {
        use FailureKind as K;
        match self {
            Self::Api { code, status, .. } => match *code {
                codes::UNAUTHORIZED_CAPTCHA_MISSING | codes::INVALID_CAPTCHA => K::CaptchaInvalid,
                codes::NOT_TRANSACTABLE => K::NotTransactable,
                codes::NO_INVENTORY => K::SoldOut,
                codes::PAYMENT_NOT_ACCEPTED => K::PaymentDeclined,
                codes::INVALID_SECURITY_CODE => K::InvalidSecurityCode,
                _ => Self::kind_of_status(*status),
            },
            Self::Fault { code, .. } => match code {
                FaultCode::QuotaViolation => K::RateLimited,
                FaultCode::InvalidApiKey | FaultCode::InvalidAccessToken => K::Misconfigured,
                FaultCode::Other(_) => K::Unavailable,
            },
            Self::RateLimited { .. } | Self::QueueFull { .. } => K::RateLimited,
            Self::Status { status } => Self::kind_of_status(*status),
            Self::NoToken { cause } => cause.kind(),
            Self::Transport { .. } | Self::Decode { .. } | Self::PollGone => K::Unavailable,
            Self::ForeignPollingUrl => K::Misconfigured,
        }
    }

    fn kind_of_status(status: u16) -> FailureKind {
        match status {
            404 => FailureKind::CartGone,
            409 => FailureKind::Conflict,
            429 => FailureKind::RateLimited,
            401 | 403 => FailureKind::Misconfigured,
            400 | 405 | 406 | 422 => FailureKind::InvalidRequest,
            _ => FailureKind::Unavailable,
        }
    }

    /// Upstream's numeric code, when it sent one.
    pub fn upstream_code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether upstream may have acted on the request even though no answer arrived.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Transport { maybe_sent, .. } => *maybe_sent,
            Self::Status { status } | Self::Fault { status, .. } => *status >= 500,
            Self::Api { status, .. } => *status >= 500,
            Self::Decode { .. } | Self::PollGone => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64, status: u16) -> UpstreamError {
        UpstreamError::Api {
            status,
            code,
            message: String::new(),
        }
    }

    #[test]
    fn documented_codes_map_to_kinds() {
        assert_eq!(api(10004, 401).kind(), FailureKind::CaptchaInvalid);
        assert_eq!(api(10031, 400).kind(), FailureKind::CaptchaInvalid);
        assert_eq!(api(90001, 403).kind(), FailureKind::NotTransactable);
        assert_eq!(api(20052, 400).kind(), FailureKind::SoldOut);
        assert_eq!(api(20122, 400).kind(), FailureKind::PaymentDeclined);
        assert_eq!(api(20152, 400).kind(), FailureKind::InvalidSecurityCode);
        assert_eq!(api(10002, 400).kind(), FailureKind::InvalidRequest);
        assert_eq!(api(21001, 400).kind(), FailureKind::InvalidRequest);
        assert_eq!(api(10002, 404).kind(), FailureKind::CartGone);
    }

    #[test]
    fn statuses_without_bodies_map_to_kinds() {
        for (status, kind) in [
            (404, FailureKind::CartGone),
            (405, FailureKind::InvalidRequest),
            (406, FailureKind::InvalidRequest),
            (500, FailureKind::Unavailable),
            (503, FailureKind::Unavailable),
        ] {
            assert_eq!(UpstreamError::Status { status }.kind(), kind);
        }
    }

    #[test]
    fn faults_map_to_kinds() {
        let fault = |code| UpstreamError::Fault { status: 401, code };
        assert_eq!(
            fault(FaultCode::InvalidApiKey).kind(),
            FailureKind::Misconfigured
        );
        assert_eq!(
            FaultCode::parse("policies.ratelimit.QuotaViolation"),
            FaultCode::QuotaViolation
        );
    }

    #[test]
    fn only_possibly_delivered_failures_are_unknown_outcomes() {
        let refused = UpstreamError::Transport {
            maybe_sent: false,
            reason: String::new(),
        };
        let dropped = UpstreamError::Transport {
            maybe_sent: true,
            reason: String::new(),
        };
        assert!(!refused.outcome_unknown());
        assert!(dropped.outcome_unknown());
        assert!(UpstreamError::Status { status: 503 }.outcome_unknown());
        assert!(!api(20122, 400).outcome_unknown());
        // A call whose access token could not be had never left, whatever the token
        // request met on its way.
        let no_token = UpstreamError::NoToken {
            cause: Box::new(UpstreamError::Status { status: 503 }),
        };
        assert!(!no_token.outcome_unknown());
        assert_eq!(no_token.kind(), FailureKind::Unavailable);
    }
}
