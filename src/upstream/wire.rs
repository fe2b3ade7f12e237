//! Wire types of the Partner API, exactly as the seed docs show them.
//!
//! Both the client (deserialising) and the sandbox (serialising) use these, and both are pinned
//! by the recorded payloads in `tests/fixtures/upstream/`, so they cannot agree on a mistake.
//! Money is a JSON number upstream; it becomes integer cents at the domain boundary.
//! Nothing here is a domain type: `checkout` converts with `TryFrom`/functions, never exposes these.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- event details

/// `GET /event/{event_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventResponse {
    pub api_transactable: bool,
    pub event: Event,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub tickets: Vec<TicketType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eventdate: Option<DateValue>,
    /// Missing for events whose set-up is incomplete (FAQ "onsale key not found").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onsale: Option<DateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsale: Option<DateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantities: Option<EventQuantities>,
    pub venue: Venue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DateValue {
    pub format: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventQuantities {
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TicketType {
    pub description: String,
    /// Keep leading zeros: it is a string on the wire.
    pub id: String,
    #[serde(default)]
    pub prices: Vec<Price>,
    pub quantities: TicketQuantities,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Price {
    pub amount: f64,
    pub display_amount: f64,
    pub id: i64,
    #[serde(default)]
    pub price_details: Vec<PriceDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PriceDetail {
    pub amount: Amount,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Amount {
    pub amount: f64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TicketQuantities {
    /// 0 means "no exact quantity required".
    #[serde(default)]
    pub exact: u32,
    pub limit: u32,
    pub minimum: u32,
    pub multiple: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Venue {
    pub id: i64,
    pub location: VenueLocation,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VenueLocation {
    pub address: Address,
    pub time_zone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Address {
    pub city: String,
    pub country: Abbrev,
    pub region: Abbrev,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Abbrev {
    pub abbrev: String,
}

// ---------------------------------------------------------------- captcha and cart session

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

// ---------------------------------------------------------------- reserve

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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PriceRef {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<i64>,
    #[serde(default)]
    pub items: Vec<CartItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<CartTotals>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartItem {
    pub end_seat_number: String,
    pub event_id: String,
    pub num_seats: u32,
    pub row: String,
    pub section: String,
    pub start_seat_number: String,
    #[serde(default)]
    pub tickets: Vec<CartTicket>,
    pub totals: ItemTotals,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartTicket {
    #[serde(default)]
    pub charges: Vec<Charge>,
    pub description: String,
    pub id: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Charge {
    pub price: f64,
    pub quantity: u32,
    pub tax: f64,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemTotals {
    pub currency_code: String,
    pub fee: f64,
    pub grand: f64,
    pub merchandise: f64,
    pub tax: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CartTotals {
    pub delivery: f64,
    pub fee: f64,
    pub grand: f64,
    pub merchandise: f64,
    pub tax: f64,
    pub unpaid: f64,
    pub upsell: f64,
}

// ---------------------------------------------------------------- payment

/// `GET /certificate` response. `value` is a PEM that may use `\r\n` line ends.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    pub id: String,
    pub value: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// `PUT /cart/payment` body. Only ciphertext of the card fields ever exists in this type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentRequest {
    pub cart_id: String,
    pub payment: Payment,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Payment {
    pub first_name: String,
    pub last_name: String,
    pub home_phone: String,
    /// `CC` or `INVOICE`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub email_address: String,
    pub address: PaymentAddress,
    /// Decimal string, e.g. `"69.00"`.
    pub amount: String,
    pub card: EncryptedCard,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentAddress {
    pub line1: String,
    /// Required, but may be empty.
    pub line2: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub city: String,
    pub country: CountryRef,
    pub region: Abbrev,
    pub postal_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CountryRef {
    pub id: u16,
}

/// Card fields as sent: base64 RSA ciphertext of salt + digits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncryptedCard {
    pub number: String,
    pub cin: String,
    pub encryption_key: String,
    pub expire_month: u8,
    pub expire_year: u16,
    pub postal_code: String,
}

// ---------------------------------------------------------------- purchase

/// `PUT /cart` body: commit the cart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PurchaseRequest {
    pub cart_id: String,
    pub source_account_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PurchaseResponse {
    pub redemption_url: String,
    pub tm_app_url: String,
    pub grand_total: f64,
    pub order_token: String,
}

// ---------------------------------------------------------------- orders

/// `GET /orders/unredeemed` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnredeemedOrders {
    #[serde(default)]
    pub data: Vec<UnredeemedOrder>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnredeemedOrder {
    /// Milliseconds since the Unix epoch.
    pub purchase_date_time: i64,
    /// 1 = sent, 2 = bounced, 3 = spam.
    pub email_status: u8,
    pub event_date_time: i64,
    pub event_id: String,
    pub order_token: String,
    pub order_source_account_id: String,
    pub purchase_email_address: String,
}

// ---------------------------------------------------------------- polling, errors, auth

/// A 202 (or any status) body that says "ask again later".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PollingResponse {
    pub polling_url: String,
    /// Seconds; an integer in the docs, decimals accepted.
    pub wait: f64,
}

/// `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    pub message: String,
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// Gateway-level fault: `{"fault": {"faultstring", "detail": {"errorcode"}}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultBody {
    pub fault: Fault,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub faultstring: String,
    pub detail: FaultDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultDetail {
    pub errorcode: String,
}

/// `POST /oauth/accesstoken` response; numbers come as strings.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessTokenResponse {
    pub issued_at: String,
    #[serde(default)]
    pub scope: String,
    pub status: String,
    pub expires_in: String,
    pub token_type: String,
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

    pub const FAULT_INVALID_API_KEY: &str = "oauth.v2.InvalidApiKey";
    pub const FAULT_INVALID_ACCESS_TOKEN: &str = "oauth.v2.InvalidAccessToken";
    pub const FAULT_QUOTA_VIOLATION: &str = "policies.ratelimit.QuotaViolation";
}
