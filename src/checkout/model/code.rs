//! The contract's stable error codes ([`ErrorCode`]): every `code` a partner can see, with its
//! HTTP status, title and default `Retry-After`. Vocabulary, like the records around it: a
//! checkout's failure is stored with its code. What an upstream failure becomes is decided
//! above the upstream client, in `checkout::error` (`ErrorCode::from_upstream`).

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
