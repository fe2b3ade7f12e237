//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::auth::JwtVerifier;
use crate::checkout::service::CheckoutService;
use crate::context::AppContext;

pub struct AppState {
    pub context: AppContext,
    pub service: Arc<CheckoutService>,
    pub jwt: JwtVerifier,
    /// Per-user and per-address request rates.
    pub admission: super::admission::Admission,
    pub trusted_proxies: Vec<IpNet>,
    /// Cap on `Prefer: wait`, also the wait of mutating calls that send none.
    pub max_wait: Duration,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: chrono::TimeDelta,
    /// How long a key's claim may go unrenewed before a repeat takes it over.
    pub idempotency_takeover_after: Duration,
    /// Keys the request fingerprints stored with idempotency keys.
    pub fingerprint_key: secrecy::SecretString,
    /// Keys payment fingerprints only (see `idempotency::Fingerprint::of_payment`).
    pub payment_fingerprint_key: secrecy::SecretString,
    /// Woken when an Idempotency-Key settles (here, or on another replica through the
    /// store's change notifications): repeats waiting on a running key look again.
    pub idempotency_changed: std::sync::Arc<tokio::sync::Notify>,
    /// `/readyz`'s answer, refreshed in the background.
    pub readiness: std::sync::Arc<crate::readiness::Readiness>,
    /// Event bodies as last rendered.
    pub events: super::events::RenderedEvents,
    /// Checkout bodies as last rendered from each cached read.
    pub checkouts: super::checkouts::RenderedCheckouts,
    /// The hosted payment page: its origin, who may frame it, its keys.
    pub hosted: super::hosted::HostedPage,
}

impl AppState {
    /// `Prefer: wait=N`, capped; `default` when absent or unparseable.
    pub fn wait(&self, req: &actix_web::HttpRequest, default: Duration) -> Duration {
        prefer_wait(req).unwrap_or(default).min(self.max_wait)
    }
}

fn prefer_wait(req: &actix_web::HttpRequest) -> Option<Duration> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_prefer_wait)
}

/// The `wait` preference of one `Prefer` header value (RFC 7240), in seconds. Negative and
/// non-finite values are malformed and ignored; one too long for a `Duration` means "as long
/// as allowed" (the caller caps it), where `Duration::from_secs_f64` would panic.
pub fn parse_prefer_wait(value: &str) -> Option<Duration> {
    // RFC 7240: the name is case-insensitive, `=` may have spaces around it, and the value
    // may be a quoted string.
    value
        .split([',', ';'])
        .filter_map(|pref| pref.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("wait"))
        .find_map(|(_, n)| n.trim().trim_matches('"').parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| Duration::try_from_secs_f64(n).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_values() {
        let secs = |v: &str| parse_prefer_wait(v).map(|d| d.as_secs_f64());
        assert_eq!(secs("wait=5"), Some(5.0));
        assert_eq!(secs("respond-async, wait=0.5"), Some(0.5));
        assert_eq!(secs("handling=lenient; wait=2"), Some(2.0));
        for spelled in ["wait = 5", "WAIT=5", "wait=\"5\"", "Wait =\"5\""] {
            assert_eq!(secs(spelled), Some(5.0), "{spelled}");
        }
        for ignored in [
            "wait=-1",
            "wait=NaN",
            "wait=inf",
            "wait=x",
            "return=minimal",
        ] {
            assert_eq!(parse_prefer_wait(ignored), None, "{ignored}");
        }
        // Too long for a Duration: the longest wait, not a panic.
        assert_eq!(parse_prefer_wait("wait=1e300"), Some(Duration::MAX));
    }
}
