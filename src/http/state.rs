//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::auth::JwtVerifier;
use crate::checkout::service::CheckoutService;

pub struct AppState {
    pub service: Arc<CheckoutService>,
    pub jwt: JwtVerifier,
    /// Per-user and per-address request rates.
    pub admission: super::admission::Admission,
    pub trusted_proxies: Vec<IpNet>,
    /// Cap on `Prefer: wait`, also the wait of mutating calls that send none.
    pub max_wait: Duration,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: chrono::TimeDelta,
    /// Keys the request fingerprints stored with idempotency keys.
    pub fingerprint_key: secrecy::SecretString,
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
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pref| pref.trim().strip_prefix("wait="))
        .find_map(|n| n.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(Duration::from_secs_f64)
}
