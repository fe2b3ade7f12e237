//! The sandbox's fixed event catalog: which events exist, their ticket types, prices, quantity
//! rules, venues (with time zones, for the maintenance window) and seat layouts.
//!
//! Dates are laid out relative to the sandbox clock at start, so events are always in the future
//! when a sandbox starts. Money is integer cents here; it becomes a JSON number only in
//! [`EventDef::to_wire`] and in the cart built by `cart.rs`.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::upstream::wire;

/// The docs' Seattle event (Event model).
pub const SEATTLE_EVENT: &str = "3F004CBB88958BF9";
/// The FAQ's test event, transactable, with fees.
pub const TEST_EVENT: &str = "000051048D991EE7";
/// An event that exists but cannot be sold through the API.
pub const NOT_TRANSACTABLE_EVENT: &str = "0B004ED9FC825ACB";
/// The docs' example-flow event: two seats in total, sells out.
pub const TINY_EVENT: &str = "09004E6CE6325123";

/// One ticket type with one price level.
#[derive(Debug, Clone)]
pub struct TicketDef {
    pub id: &'static str,
    pub description: &'static str,
    pub price_id: i64,
    pub face_cents: i64,
    pub service_cents: i64,
    pub facility_cents: i64,
    pub distance_cents: i64,
    pub quantities: wire::TicketQuantities,
}

impl TicketDef {
    pub fn fees_cents(&self) -> i64 {
        self.service_cents + self.facility_cents + self.distance_cents
    }
}

/// Where the seats are: every section has the same rows, every row the same seat count.
#[derive(Debug, Clone)]
pub struct SeatLayout {
    pub sections: Vec<&'static str>,
    pub rows: Vec<&'static str>,
    pub seats_per_row: u32,
}

impl SeatLayout {
    pub fn capacity(&self) -> usize {
        self.sections.len() * self.rows.len() * self.seats_per_row as usize
    }
}

#[derive(Debug, Clone)]
pub struct VenueDef {
    pub id: i64,
    pub name: &'static str,
    pub city: &'static str,
    pub region: &'static str,
    pub tz: Tz,
}

#[derive(Debug, Clone)]
pub struct EventDef {
    pub id: &'static str,
    pub name: &'static str,
    pub transactable: bool,
    pub starts_at: DateTime<Utc>,
    pub venue: VenueDef,
    pub tickets: Vec<TicketDef>,
    pub event_limit: u32,
    pub layout: SeatLayout,
    pub artists: Vec<(i64, &'static str)>,
}

fn cents(c: i64) -> f64 {
    c as f64 / 100.0
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn datetime(t: DateTime<Utc>) -> wire::DateValue {
    wire::DateValue {
        format: "datetime".into(),
        value: rfc3339(t),
    }
}

impl EventDef {
    pub fn ticket(&self, id: &str) -> Option<&TicketDef> {
        self.tickets.iter().find(|t| t.id == id)
    }

    /// The docs' Event model for this event.
    pub fn to_wire(&self) -> wire::EventResponse {
        let tickets = self.tickets.iter().map(ticket_to_wire).collect();
        let bound = |pick: fn(i64, i64) -> bool| {
            let mut best: Option<&TicketDef> = None;
            for t in &self.tickets {
                let total = t.face_cents + t.fees_cents();
                if best.is_none_or(|b| pick(total, b.face_cents + b.fees_cents())) {
                    best = Some(t);
                }
            }
            best.map(|t| wire::PriceRangeBound {
                display_amount: cents(t.face_cents + t.fees_cents()),
                face_value: cents(t.face_cents),
                fees: cents(t.fees_cents()),
            })
        };
        let price_range = bound(|a, b| a > b)
            .zip(bound(|a, b| a < b))
            .map(|(max, min)| wire::PriceRange {
                description: "Prices subject to change".into(),
                max,
                min,
            });
        let onsale = self.starts_at - TimeDelta::days(60);
        let event = wire::Event {
            id: self.id.into(),
            name: self.name.into(),
            tickets,
            currency_code: Some("USD".into()),
            eventdate: Some(datetime(self.starts_at)),
            onsale: Some(datetime(onsale)),
            offsale: Some(datetime(self.starts_at - TimeDelta::hours(2))),
            quantities: Some(wire::EventQuantities {
                limit: self.event_limit,
            }),
            venue: wire::Venue {
                id: self.venue.id,
                location: wire::VenueLocation {
                    address: wire::Address {
                        city: self.venue.city.into(),
                        country: Some(wire::Abbrev {
                            abbrev: "US".into(),
                        }),
                        region: Some(wire::Abbrev {
                            abbrev: self.venue.region.into(),
                        }),
                    },
                    time_zone: self.venue.tz.name().into(),
                },
                markets: vec![wire::Market {
                    id: 42,
                    name: format!("Greater {} Area", self.venue.city),
                }],
                name: self.venue.name.into(),
            },
            url: Some(format!("http://ticketmaster.com/event/{}", self.id)),
            artists: self
                .artists
                .iter()
                .zip(1..)
                .map(|(&(id, name), rank)| wire::Artist {
                    id,
                    name: name.into(),
                    rank,
                    single_performer_or_band: false,
                })
                .collect(),
            event_image: Some(wire::EventImage {
                height: 115,
                location: "http://share.livenation.com/images/default_image.jpg".into(),
                width: 205,
            }),
            facility_fee_rollup: Some(true),
            notes: vec![wire::Note {
                text: format!(
                    "There is a {} ticket limit per household.",
                    self.event_limit
                ),
                kind: "ticketlimittext".into(),
            }],
            presales: vec![wire::Presale {
                format: "daterange".into(),
                label: "Internet Presale".into(),
                value: format!(
                    "{}/{}",
                    rfc3339(onsale - TimeDelta::days(5)),
                    rfc3339(onsale)
                ),
            }],
            price_range,
            promoter: Some(wire::Promoter {
                id: 494,
                name: "PROMOTED BY VENUE".into(),
            }),
            publication: Some(datetime(onsale - TimeDelta::days(30))),
            purchase_organization: Some("TM".into()),
            service_fee_rollup: Some(false),
            statuses: vec![wire::EventStatus {
                kind: "onsale".into(),
                value: rfc3339(onsale),
            }],
            kind: Some(wire::EventKind { id: 0 }),
        };
        wire::EventResponse {
            api_transactable: self.transactable,
            event,
        }
    }
}

fn ticket_to_wire(t: &TicketDef) -> wire::TicketType {
    let detail = |kind: &str, c: i64| wire::PriceDetail {
        amount: wire::Amount {
            amount: cents(c),
            currency: "USD".into(),
        },
        kind: kind.into(),
    };
    let mut price_details = vec![detail("face_value", t.face_cents)];
    if t.service_cents > 0 {
        price_details.push(detail("service_fee", t.service_cents));
    }
    if t.facility_cents > 0 {
        price_details.push(detail("facility_fee", t.facility_cents));
    }
    wire::TicketType {
        description: t.description.into(),
        id: t.id.into(),
        prices: vec![wire::Price {
            amount: cents(t.face_cents),
            display_amount: cents(t.face_cents + t.fees_cents()),
            id: t.price_id,
            price_details,
        }],
        quantities: t.quantities.clone(),
    }
}

/// All events of the sandbox, dated relative to `now`.
#[derive(Debug, Clone)]
pub struct Catalog {
    events: Vec<EventDef>,
}

impl Catalog {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            events: super::events::fixed(now),
        }
    }

    pub fn event(&self, id: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.id == id)
    }

    pub fn events(&self) -> impl Iterator<Item = &EventDef> {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_in_the_future_and_priced_like_the_docs() {
        let now = Utc::now();
        let catalog = Catalog::new(now);
        assert!(catalog.events().all(|e| e.starts_at > now));
        let test = catalog.event(TEST_EVENT).unwrap();
        let adult = test.ticket("000000000001").unwrap();
        assert_eq!(adult.face_cents + adult.fees_cents(), 5739);
        let seattle = catalog.event(SEATTLE_EVENT).unwrap().to_wire();
        assert_eq!(
            seattle.event.venue.location.time_zone,
            "America/Los_Angeles"
        );
        assert_eq!(seattle.event.tickets[0].prices[0].amount, 25.0);
        assert_eq!(catalog.event(TINY_EVENT).unwrap().layout.capacity(), 2);
        assert!(!catalog.event(NOT_TRANSACTABLE_EVENT).unwrap().transactable);
    }
}
