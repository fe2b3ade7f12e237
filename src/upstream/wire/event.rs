//! `GET /event/{event_id}`: the event, its ticket types and prices, the venue.

use serde::{Deserialize, Serialize};

use crate::upstream::de;

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
    #[serde(default = "super::one", deserialize_with = "de::num_or_default")]
    pub minimum: u32,
    #[serde(default = "super::one", deserialize_with = "de::num_or_default")]
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
