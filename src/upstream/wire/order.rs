//! Orders: the purchase that commits a cart (`PUT /cart`) and the unredeemed orders listed
//! upstream (`GET /orders/unredeemed`).

use serde::{Deserialize, Serialize};

use crate::upstream::de;

/// `PUT /cart` body: commit the cart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PurchaseRequest {
    pub cart_id: String,
    pub source_account_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PurchaseResponse {
    #[serde(default, deserialize_with = "de::text")]
    pub redemption_url: String,
    #[serde(default, deserialize_with = "de::text")]
    pub tm_app_url: String,
    /// Missing: the checkout's own total stands.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_num"
    )]
    pub grand_total: Option<f64>,
    pub order_token: String,
}

/// `GET /orders/unredeemed` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnredeemedOrders {
    #[serde(default, deserialize_with = "de::lenient_vec")]
    pub data: Vec<UnredeemedOrder>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnredeemedOrder {
    /// Milliseconds since the Unix epoch.
    #[serde(deserialize_with = "de::num")]
    pub purchase_date_time: i64,
    /// 1 = sent, 2 = bounced, 3 = spam (0: not said).
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub email_status: u8,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub event_date_time: i64,
    #[serde(deserialize_with = "de::id")]
    pub event_id: String,
    #[serde(deserialize_with = "de::id")]
    pub order_token: String,
    #[serde(default, deserialize_with = "de::text")]
    pub order_source_account_id: String,
    /// Not used by the gateway; may be missing or null.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub purchase_email_address: Option<String>,
}
