//! Wire types of the Partner API, exactly as the seed docs show them.
//!
//! Both the client (deserialising) and the sandbox (serialising) use these, and both are pinned
//! by the recorded payloads in `tests/fixtures/upstream/`, so they cannot agree on a mistake.
//! Money is a JSON number upstream; it becomes integer cents at the domain boundary.
//! Nothing here is a domain type: `checkout` converts with `TryFrom`/functions, never exposes these.
//!
//! Reading is tolerant ([`super::de`]): only what the gateway uses is required; numbers may come
//! as strings and the reverse; optional parts that are missing, null or unreadable are `None`
//! or left out; unknown fields are ignored. Writing (the sandbox) keeps the docs' shapes.

use serde::{Deserialize, Serialize};

use super::de;

// ---------------------------------------------------------------- event details

/// `GET /event/{event_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventResponse {
    #[serde(default, deserialize_with = "de::flag")]
    pub api_transactable: bool,
    pub event: Event,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: String,
    #[serde(default, deserialize_with = "de::text")]
    pub name: String,
    #[serde(default, deserialize_with = "de::lenient_vec")]
    pub tickets: Vec<TicketType>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub currency_code: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub eventdate: Option<DateValue>,
    /// Missing for events whose set-up is incomplete (FAQ "onsale key not found").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub onsale: Option<DateValue>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub offsale: Option<DateValue>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub quantities: Option<EventQuantities>,
    pub venue: Venue,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub url: Option<String>,
    // The remaining fields are shown by the docs' Event model; they are optional so that an
    // event with an incomplete set-up still parses.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::lenient_vec"
    )]
    pub artists: Vec<Artist>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub event_image: Option<EventImage>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub facility_fee_rollup: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::lenient_vec"
    )]
    pub notes: Vec<Note>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::lenient_vec"
    )]
    pub presales: Vec<Presale>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub price_range: Option<PriceRange>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub promoter: Option<Promoter>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub publication: Option<DateValue>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub purchase_organization: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub service_fee_rollup: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::lenient_vec"
    )]
    pub statuses: Vec<EventStatus>,
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub kind: Option<EventKind>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artist {
    pub id: i64,
    pub name: String,
    pub rank: u32,
    pub single_performer_or_band: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventImage {
    pub height: u32,
    pub location: String,
    pub width: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Note {
    pub text: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `format` is `daterange`; `value` is `start/end` in RFC 3339.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Presale {
    pub format: String,
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PriceRange {
    pub description: String,
    pub max: PriceRangeBound,
    pub min: PriceRangeBound,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PriceRangeBound {
    pub display_amount: f64,
    pub face_value: f64,
    pub fees: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Promoter {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventStatus {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventKind {
    pub id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DateValue {
    pub format: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventQuantities {
    #[serde(deserialize_with = "de::num")]
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TicketType {
    #[serde(default, deserialize_with = "de::text")]
    pub description: String,
    /// Keep leading zeros: it is a string on the wire.
    pub id: String,
    #[serde(default, deserialize_with = "de::lenient_vec")]
    pub prices: Vec<Price>,
    #[serde(default, deserialize_with = "de::or_default")]
    pub quantities: TicketQuantities,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Price {
    #[serde(deserialize_with = "de::num")]
    pub amount: f64,
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub display_amount: f64,
    #[serde(deserialize_with = "de::num")]
    pub id: i64,
    #[serde(default, deserialize_with = "de::lenient_vec")]
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
    #[serde(deserialize_with = "de::num")]
    pub amount: f64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TicketQuantities {
    /// 0 means "no exact quantity required".
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub exact: u32,
    /// 0 when upstream does not say: the event's own limit applies.
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub limit: u32,
    #[serde(default = "one", deserialize_with = "de::num_or_default")]
    pub minimum: u32,
    #[serde(default = "one", deserialize_with = "de::num_or_default")]
    pub multiple: u32,
}

/// Missing quantity rules allow any quantity from one.
impl Default for TicketQuantities {
    fn default() -> Self {
        Self {
            exact: 0,
            limit: 0,
            minimum: 1,
            multiple: 1,
        }
    }
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Venue {
    #[serde(default, deserialize_with = "de::num_or_default")]
    pub id: i64,
    pub location: VenueLocation,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::lenient_vec"
    )]
    pub markets: Vec<Market>,
    #[serde(default, deserialize_with = "de::text")]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Market {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VenueLocation {
    #[serde(default, deserialize_with = "de::or_default")]
    pub address: Address,
    pub time_zone: String,
}

/// Only the city and region are shown to partners; an event without either still reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Address {
    #[serde(default, deserialize_with = "de::text")]
    pub city: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub country: Option<Abbrev>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::lenient"
    )]
    pub region: Option<Abbrev>,
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
    #[serde(default = "one", deserialize_with = "de::num_or_default")]
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

// ---------------------------------------------------------------- payment

/// `GET /certificate` response. `value` is a PEM that may use `\r\n` line ends.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    #[serde(deserialize_with = "de::id")]
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

// ---------------------------------------------------------------- orders

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

// ---------------------------------------------------------------- polling, errors, auth

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

    pub const FAULT_INVALID_API_KEY: &str = "oauth.v2.InvalidApiKey";
    pub const FAULT_INVALID_ACCESS_TOKEN: &str = "oauth.v2.InvalidAccessToken";
    pub const FAULT_QUOTA_VIOLATION: &str = "policies.ratelimit.QuotaViolation";
}
