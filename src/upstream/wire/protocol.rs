//! What any call may answer besides its own body: "poll again later", an error or a fault
//! body, and the upstream codes the gateway reads in them; and the OAuth token answer.

use serde::{Deserialize, Serialize};

use crate::upstream::de;

/// A 202 (or any status) body that says "ask again later".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PollingResponse {
    pub polling_url: String,
    /// Seconds; an integer in the docs, decimals accepted; missing: the docs' usual 4.
    #[serde(default = "usual_wait", deserialize_with = "wait_secs")]
    pub wait: f64,
}

fn usual_wait() -> f64 {
    4.0
}

/// `wait` as a number or numeric text; null is the usual 4 s, as missing is.
fn wait_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de::opt_num(d).map(|wait| wait.unwrap_or_else(usual_wait))
}

/// `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    #[serde(default, deserialize_with = "de::text")]
    pub message: String,
    #[serde(deserialize_with = "de::num")]
    pub code: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_num"
    )]
    pub http_code: Option<u16>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub severity: Option<String>,
}

/// Gateway-level fault: `{"fault": {"faultstring", "detail": {"errorcode"}}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultBody {
    pub fault: Fault,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    #[serde(default, deserialize_with = "de::text")]
    pub faultstring: String,
    pub detail: FaultDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultDetail {
    pub errorcode: String,
}

/// `POST /oauth/accesstoken` response; the docs show numbers as strings, the FAQ speaks of
/// "3600 seconds": both forms read.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessTokenResponse {
    #[serde(default, deserialize_with = "de::text")]
    pub issued_at: String,
    #[serde(default, deserialize_with = "de::text")]
    pub scope: String,
    #[serde(default, deserialize_with = "de::text")]
    pub status: String,
    #[serde(default, deserialize_with = "de::text")]
    pub expires_in: String,
    #[serde(default, deserialize_with = "de::text")]
    pub token_type: String,
    #[serde(default, deserialize_with = "de::text")]
    pub client_id: String,
    pub access_token: String,
}

impl std::fmt::Debug for AccessTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenResponse")
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

/// Upstream error codes from the docs and the FAQ.
pub mod codes {
    pub const INVALID_INPUT: i64 = 10002;
    pub const UNAUTHORIZED_CAPTCHA_MISSING: i64 = 10004;
    pub const INVALID_CAPTCHA: i64 = 10031;
    pub const NO_INVENTORY: i64 = 20052;
    pub const PAYMENT_NOT_ACCEPTED: i64 = 20122;
    pub const INVALID_SECURITY_CODE: i64 = 20152;
    pub const INVALID_RESERVE_STRUCTURE: i64 = 21001;
    pub const NOT_TRANSACTABLE: i64 = 90001;

    /// Every code above: an error body with another code is one the docs do not describe.
    pub const DOCUMENTED: [i64; 8] = [
        INVALID_INPUT,
        UNAUTHORIZED_CAPTCHA_MISSING,
        INVALID_CAPTCHA,
        NO_INVENTORY,
        PAYMENT_NOT_ACCEPTED,
        INVALID_SECURITY_CODE,
        INVALID_RESERVE_STRUCTURE,
        NOT_TRANSACTABLE,
    ];

    pub const FAULT_INVALID_API_KEY: &str = "oauth.v2.InvalidApiKey";
    pub const FAULT_INVALID_ACCESS_TOKEN: &str = "oauth.v2.InvalidAccessToken";
    pub const FAULT_QUOTA_VIOLATION: &str = "policies.ratelimit.QuotaViolation";
}
