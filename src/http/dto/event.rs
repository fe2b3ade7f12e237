//! The wire shape of `GET /v1/events/{event_id}` (CONTRACT.md), converted from the catalog's
//! [`EventView`] so the domain type carries no wire or documentation concerns.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::checkout::catalog::{EventView, PriceLevelView, TicketTypeView};

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventBody {
    #[schema(example = "3F004CBB88958BF9")]
    pub event_id: String,
    pub name: String,
    /// When the event starts, when upstream says.
    pub starts_at: Option<DateTime<Utc>>,
    /// The venue's IANA time zone.
    #[schema(example = "America/Los_Angeles")]
    pub timezone: String,
    pub venue: VenueBody,
    /// Ticketmaster's web page for the event (upstream's `url`): where to send users when the
    /// event is not `transactable`, as the Partner-API docs advise.
    #[schema(example = "http://ticketmaster.com/event/3F004CBB88958BF9")]
    pub web_url: Option<String>,
    /// Whether tickets can be bought through this API at all.
    pub transactable: bool,
    /// Whether the on-sale period is open now.
    pub on_sale: bool,
    pub maintenance: MaintenanceBody,
    /// The most tickets one order may hold, when upstream limits it.
    pub max_tickets: Option<u32>,
    pub ticket_types: Vec<TicketTypeBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Venue)]
pub struct VenueBody {
    pub name: String,
    pub city: String,
    /// State or province abbreviation; null when upstream does not give one.
    pub region: Option<String>,
}

/// The venue's nightly maintenance window, when checkouts are refused with
/// `maintenance_window`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Maintenance)]
pub struct MaintenanceBody {
    pub in_window: bool,
    pub next_window_starts_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TicketType)]
pub struct TicketTypeBody {
    #[schema(example = "000002040006")]
    pub ticket_id: String,
    pub description: String,
    pub price_levels: Vec<PriceLevelBody>,
    pub quantity_rules: QuantityRulesBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PriceLevel)]
pub struct PriceLevelBody {
    pub price_level_id: i64,
    /// Per ticket, in `currency`.
    pub face_value: f64,
    /// Per ticket, in `currency`.
    pub fees: f64,
    #[schema(example = "USD")]
    pub currency: String,
}

/// Which quantities of this ticket type a checkout may ask for.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QuantityRules)]
pub struct QuantityRulesBody {
    pub minimum: u32,
    /// The quantity must be a multiple of this.
    pub multiple: u32,
    /// When set, the only quantity allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<u32>,
}

impl From<EventView> for EventBody {
    fn from(v: EventView) -> Self {
        Self {
            event_id: v.event_id,
            name: v.name,
            starts_at: v.starts_at,
            timezone: v.timezone,
            venue: VenueBody {
                name: v.venue.name,
                city: v.venue.city,
                region: v.venue.region,
            },
            web_url: v.web_url,
            transactable: v.transactable,
            on_sale: v.on_sale,
            maintenance: MaintenanceBody {
                in_window: v.maintenance.in_window,
                next_window_starts_at: v.maintenance.next_window_starts_at,
            },
            max_tickets: v.max_tickets,
            ticket_types: v
                .ticket_types
                .into_iter()
                .map(TicketTypeBody::from)
                .collect(),
        }
    }
}

impl From<TicketTypeView> for TicketTypeBody {
    fn from(t: TicketTypeView) -> Self {
        Self {
            ticket_id: t.ticket_id,
            description: t.description,
            price_levels: t
                .price_levels
                .into_iter()
                .map(PriceLevelBody::from)
                .collect(),
            quantity_rules: QuantityRulesBody {
                minimum: t.quantity_rules.minimum,
                multiple: t.quantity_rules.multiple,
                exact: t.quantity_rules.exact,
            },
        }
    }
}

impl From<PriceLevelView> for PriceLevelBody {
    fn from(p: PriceLevelView) -> Self {
        Self {
            price_level_id: p.price_level_id,
            face_value: p.face_value,
            fees: p.fees,
            currency: p.currency,
        }
    }
}
