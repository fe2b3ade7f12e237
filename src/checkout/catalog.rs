//! Event details: the simplified, cached view partners see, and the rules a reservation must
//! satisfy (quantities, price levels, transactability). Concurrent misses for one event cost
//! one upstream call (single flight).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::error::{CheckoutError, ErrorCode, FieldError};
use super::maintenance::{MaintenanceHours, MaintenanceStatus};
use super::model::{Cents, TicketRequest};
use crate::upstream::{PartnerApi, wire};

/// An event as the gateway understands it (parsed once from the wire).
#[derive(Debug, Clone)]
pub struct EventInfo {
    pub event_id: String,
    pub name: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub timezone: Tz,
    pub venue: VenueView,
    /// Ticketmaster's own page for the event, where the docs send users of events that
    /// cannot be sold through the API.
    pub web_url: Option<String>,
    pub transactable: bool,
    pub onsale: Option<DateTime<Utc>>,
    pub offsale: Option<DateTime<Utc>>,
    pub max_tickets: Option<u32>,
    pub currency: String,
    pub ticket_types: Vec<TicketTypeView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VenueView {
    pub name: String,
    pub city: String,
    /// `None` when upstream's event does not say.
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketTypeView {
    pub ticket_id: String,
    pub description: String,
    pub price_levels: Vec<PriceLevelView>,
    pub quantity_rules: QuantityRules,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriceLevelView {
    pub price_level_id: i64,
    pub face_value: f64,
    pub fees: f64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuantityRules {
    pub minimum: u32,
    pub multiple: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<u32>,
    #[serde(skip)]
    pub limit: u32,
}

impl EventInfo {
    pub fn from_wire(w: wire::EventResponse) -> Result<Self, String> {
        let e = w.event;
        let timezone: Tz = e
            .venue
            .location
            .time_zone
            .parse()
            .map_err(|_| format!("unknown time zone {}", e.venue.location.time_zone))?;
        let currency = e.currency_code.clone().unwrap_or_else(|| "USD".into());
        let ticket_types = e
            .tickets
            .iter()
            .map(|t| TicketTypeView {
                ticket_id: t.id.clone(),
                description: t.description.clone(),
                price_levels: t
                    .prices
                    .iter()
                    .map(|p| {
                        let face = p
                            .price_details
                            .iter()
                            .find(|d| d.kind == "face_value")
                            .map_or(p.amount, |d| d.amount.amount);
                        PriceLevelView {
                            price_level_id: p.id,
                            face_value: face,
                            fees: Cents::from_decimal(p.display_amount - face)
                                .max(Cents(0))
                                .as_decimal(),
                            currency: currency.clone(),
                        }
                    })
                    .collect(),
                quantity_rules: QuantityRules {
                    minimum: t.quantities.minimum.max(1),
                    multiple: t.quantities.multiple.max(1),
                    exact: (t.quantities.exact > 0).then_some(t.quantities.exact),
                    limit: t.quantities.limit,
                },
            })
            .collect();
        Ok(Self {
            event_id: e.id,
            name: e.name,
            starts_at: e.eventdate.as_ref().and_then(parse_date),
            timezone,
            venue: VenueView {
                name: e.venue.name,
                city: e.venue.location.address.city,
                region: e.venue.location.address.region.map(|r| r.abbrev),
            },
            web_url: e
                .url
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            transactable: w.api_transactable,
            onsale: e.onsale.as_ref().and_then(parse_date),
            offsale: e.offsale.as_ref().and_then(parse_date),
            max_tickets: e.quantities.map(|q| q.limit),
            currency,
            ticket_types,
        })
    }

    /// Onsale has begun and offsale has not come. An event without `onsale` (a set-up
    /// problem, per the FAQ) is not on sale.
    pub fn on_sale(&self, now: DateTime<Utc>) -> bool {
        self.onsale.is_some_and(|on| on <= now) && self.offsale.is_none_or(|off| now < off)
    }

    /// Check a reservation request against the event's rules.
    pub fn check_request(&self, tickets: &[TicketRequest]) -> Result<(), CheckoutError> {
        if !self.transactable {
            return Err(CheckoutError::refused(
                ErrorCode::EventNotTransactable,
                "this event is not sold through the API",
            ));
        }
        let mut errors = Vec::new();
        if tickets.is_empty() {
            errors.push(FieldError::new(
                "tickets",
                "at least one ticket type is required",
            ));
        }
        let mut total = 0u32;
        for (i, t) in tickets.iter().enumerate() {
            let Some(tt) = self
                .ticket_types
                .iter()
                .find(|tt| tt.ticket_id == t.ticket_id)
            else {
                errors.push(FieldError::new(
                    format!("tickets[{i}].ticket_id"),
                    "unknown ticket type",
                ));
                continue;
            };
            total = total.saturating_add(t.quantity);
            if let Some(msg) = tt.quantity_rules.violation(t.quantity) {
                errors.push(FieldError::new(format!("tickets[{i}].quantity"), msg));
            }
            if let Some(level) = t.price_level_id
                && !tt.price_levels.iter().any(|p| p.price_level_id == level)
            {
                errors.push(FieldError::new(
                    format!("tickets[{i}].price_level_id"),
                    "unknown price level for this ticket type",
                ));
            }
        }
        if let Some(max) = self.max_tickets
            && total > max
        {
            errors.push(FieldError::new(
                "tickets",
                format!("at most {max} tickets per order"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CheckoutError::Validation(errors))
        }
    }
}

impl QuantityRules {
    fn violation(&self, q: u32) -> Option<String> {
        if q == 0 {
            return Some("must be greater than 0".into());
        }
        if let Some(exact) = self.exact
            && q != exact
        {
            return Some(format!("must be exactly {exact}"));
        }
        if q < self.minimum {
            return Some(format!("must be at least {}", self.minimum));
        }
        if !q.is_multiple_of(self.multiple) {
            return Some(format!("must be a multiple of {}", self.multiple));
        }
        if self.limit > 0 && q > self.limit {
            return Some(format!("must be at most {}", self.limit));
        }
        None
    }
}

fn parse_date(d: &wire::DateValue) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&d.value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What `GET /v1/events/{id}` renders.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub event_id: String,
    pub name: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub timezone: String,
    pub venue: VenueView,
    pub web_url: Option<String>,
    pub transactable: bool,
    pub on_sale: bool,
    pub maintenance: MaintenanceView,
    pub max_tickets: Option<u32>,
    pub ticket_types: Vec<TicketTypeView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceView {
    pub in_window: bool,
    pub next_window_starts_at: DateTime<Utc>,
}

impl EventView {
    pub fn render(info: &EventInfo, now: DateTime<Utc>, window: MaintenanceStatus) -> Self {
        Self {
            event_id: info.event_id.clone(),
            name: info.name.clone(),
            starts_at: info.starts_at,
            timezone: info.timezone.name().to_owned(),
            venue: info.venue.clone(),
            web_url: info.web_url.clone(),
            transactable: info.transactable,
            on_sale: info.on_sale(now),
            maintenance: MaintenanceView {
                in_window: window.in_window,
                next_window_starts_at: window.next_window_starts_at,
            },
            max_tickets: info.max_tickets,
            ticket_types: info.ticket_types.clone(),
        }
    }
}

/// An event's cached details and where `now` stands against them: everything its view is
/// rendered from.
#[derive(Debug, Clone)]
pub struct EventSnapshot {
    pub info: Arc<EventInfo>,
    pub now: DateTime<Utc>,
    pub window: MaintenanceStatus,
}

impl EventSnapshot {
    pub fn view(&self) -> EventView {
        EventView::render(&self.info, self.now, self.window)
    }

    /// The parts of the view that change with time alone: snapshots of the same details with
    /// equal keys render the same view.
    pub fn time_key(&self) -> (bool, bool, DateTime<Utc>) {
        (
            self.info.on_sale(self.now),
            self.window.in_window,
            self.window.next_window_starts_at,
        )
    }
}

/// Events remembered at most (details, and ids upstream does not know), and event reads in
/// flight at most; past it the least used are forgotten.
const MAX_EVENTS: u64 = 10_000;

/// How long an id upstream answered 404 for is answered 404 without asking again: a partner
/// (or a hostile user) asking for the same unknown id spends the quota once a minute at most.
pub const UNKNOWN_EVENT_TTL: Duration = Duration::from_secs(60);

/// The event cache with single-flight refresh. Every map is bounded (`moka`): details live
/// `ttl`, unknown ids [`UNKNOWN_EVENT_TTL`], a flight's lock while it is used.
pub struct EventCatalog {
    pub hours: MaintenanceHours,
    entries: moka::sync::Cache<String, Arc<EventInfo>>,
    unknown: moka::sync::Cache<String, ()>,
    flights: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
}

impl EventCatalog {
    pub fn new(ttl: Duration, hours: MaintenanceHours) -> Self {
        Self {
            hours,
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_EVENTS)
                .time_to_live(ttl)
                .build(),
            unknown: moka::sync::Cache::builder()
                .max_capacity(MAX_EVENTS)
                .time_to_live(UNKNOWN_EVENT_TTL)
                .build(),
            // A flight evicted while in use only lets a second read of the same id go.
            flights: moka::sync::Cache::builder()
                .max_capacity(MAX_EVENTS)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// The cached details, or `Err(NotFound)` for an id upstream did not know lately.
    pub fn cached(&self, event_id: &str) -> Option<Result<Arc<EventInfo>, CheckoutError>> {
        if self.unknown.contains_key(event_id) {
            return Some(Err(CheckoutError::NotFound));
        }
        self.entries.get(event_id).map(Ok)
    }

    /// The event's details, read from upstream when not cached, for `asker` (whose share of
    /// the quota queue the read counts against).
    pub async fn get(
        &self,
        api: &PartnerApi,
        event_id: &str,
        asker: Option<&str>,
    ) -> Result<Arc<EventInfo>, CheckoutError> {
        if let Some(known) = self.cached(event_id) {
            return known;
        }
        let flight = self.flights.get_with_by_ref(event_id, Arc::default);
        let _turn = flight.lock().await;
        // Whoever flew before us may have filled the cache.
        if let Some(known) = self.cached(event_id) {
            return known;
        }
        let wire = match api.event(event_id, asker).await {
            Ok(wire) => wire,
            Err(e) if e.kind() == crate::upstream::FailureKind::CartGone => {
                self.unknown.insert(event_id.to_owned(), ());
                return Err(CheckoutError::NotFound);
            }
            Err(e) => return Err(CheckoutError::from(e)),
        };
        let info =
            Arc::new(EventInfo::from_wire(wire).map_err(|reason| {
                CheckoutError::refused(ErrorCode::UpstreamUnavailable, reason)
            })?);
        self.entries.insert(event_id.to_owned(), info.clone());
        Ok(info)
    }
}

/// Event ids are 16 alphanumerics in the docs; anything else is refused before upstream.
pub fn parse_event_id(s: &str) -> Option<&str> {
    let ok = !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(exact: Option<u32>) -> QuantityRules {
        QuantityRules {
            minimum: 2,
            multiple: 2,
            exact,
            limit: 8,
        }
    }

    #[test]
    fn quantity_rules() {
        let r = rules(None);
        assert!(r.violation(0).is_some());
        assert!(r.violation(1).is_some());
        assert!(r.violation(3).is_some());
        assert!(r.violation(4).is_none());
        assert!(r.violation(10).is_some());
        assert!(rules(Some(4)).violation(2).is_some());
    }

    #[test]
    fn event_ids_are_alphanumeric() {
        assert!(parse_event_id("3F004CBB88958BF9").is_some());
        assert!(parse_event_id("../x").is_none());
        assert!(parse_event_id("").is_none());
    }
}
