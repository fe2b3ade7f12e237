//! `POST /v1/checkouts/{id}/payment-session`: the request (a return URL and billing to
//! prefill) and the answer (the hosted page's link and when it expires).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The request. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PaymentSessionRequest)]
pub struct PaymentSessionRequestBody {
    /// Where the page sends the user back, with `checkout_id` and `outcome` added to the
    /// query. Must fit one of the gateway's configured return URLs (`hosted_page.return_urls`):
    /// an app's own scheme or https; no user name, password or fragment.
    #[schema(example = "https://app.partner.example/checkout/return")]
    pub return_url: String,
    /// What the page's billing fields start with (the user can change them). Never card data.
    #[serde(default)]
    pub billing: Option<BillingPrefillBody>,
}

/// The payment's `Billing`, every field optional; a field given must be valid as the payment
/// takes it (blank counts as absent).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BillingPrefill)]
pub struct BillingPrefillBody {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    #[schema(format = Email)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(example = "212-867-5309")]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<AddressPrefillBody>,
}

/// The payment's `Address`, every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AddressPrefill)]
pub struct AddressPrefillBody {
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    /// The state or province abbreviation.
    #[serde(default)]
    #[schema(example = "CA")]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO 3166 alpha-2.
    #[serde(default)]
    #[schema(example = "US")]
    pub country: Option<String>,
}

/// A payment session: open `url` in a browser or WebView. Single use, short-lived.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = PaymentSession)]
pub struct PaymentSessionBody {
    /// The hosted payment page of this session. A credential: whoever holds it can pay the
    /// checkout, so hand it only to the user's own browser, and do not log it.
    #[schema(
        example = "https://pay.partner.example/pay/ps_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY"
    )]
    pub url: String,
    /// When the link stops working: the session's lifetime, or the hold's end if sooner.
    pub expires_at: DateTime<Utc>,
}
