//! The cart: the captcha solution that opens it (`POST /cart`), the reservation
//! (`PUT /cart/tickets`) and the cart upstream holds, as reserve and add-payment answer it.

use serde::{Deserialize, Serialize};

use crate::upstream::de;

/// `POST /cart` body: the captcha solution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaptchaSolution {
    pub token: String,
}

/// `POST /cart` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartSession {
    pub cart_id: String,
}

/// `PUT /cart/tickets` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReserveRequest {
    pub cart_id: String,
    pub event: ReserveEvent,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReserveEvent {
    pub id: String,
    pub tickets: Vec<ReserveTicket>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReserveTicket {
    pub id: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceRef>,
    /// Optional: best available within these areas (docs' reserve model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub areas: Vec<AreaRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PriceRef {
    pub id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AreaRef {
    pub id: i64,
}

/// Response of reserve and of add-payment: the cart as upstream holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
    pub cart: Cart,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cart {
    /// Seconds the hold lasts from now.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_num"
    )]
    pub hold_time: Option<i64>,
    #[serde(default, deserialize_with = "de::lenient_vec")]
    pub items: Vec<CartItem>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub totals: Option<CartTotals>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartItem {
    #[serde(default, deserialize_with = "de::text")]
    pub end_seat_number: String,
    #[serde(default, deserialize_with = "de::text")]
    pub event_id: String,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub num_seats: u32,
    #[serde(default, deserialize_with = "de::text")]
    pub row: String,
    #[serde(default, deserialize_with = "de::text")]
    pub section: String,
    #[serde(default, deserialize_with = "de::text")]
    pub start_seat_number: String,
    #[serde(default, deserialize_with = "de::lenient_vec")]
    pub tickets: Vec<CartTicket>,
    #[serde(default, deserialize_with = "de::or_default")]
    pub totals: ItemTotals,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartTicket {
    #[serde(default, deserialize_with = "de::lenient_vec")]
    pub charges: Vec<Charge>,
    #[serde(default, deserialize_with = "de::text")]
    pub description: String,
    #[serde(default, deserialize_with = "de::text")]
    pub id: String,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Charge {
    #[serde(deserialize_with = "de::num")]
    pub price: f64,
    #[serde(default = "super::one", deserialize_with = "de::num_or_default")]
    pub quantity: u32,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub tax: f64,
    #[serde(rename = "type", default, deserialize_with = "de::text")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ItemTotals {
    #[serde(default, deserialize_with = "de::text")]
    pub currency_code: String,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub fee: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub grand: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub merchandise: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub tax: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartTotals {
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub delivery: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub fee: f64,
    #[serde(deserialize_with = "de::num")]
    pub grand: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub merchandise: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub tax: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub unpaid: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub upsell: f64,
}
