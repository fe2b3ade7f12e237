//! All mutable sandbox state, in one `Mutex`-protected [`State`], plus the seat inventory and
//! cart records it is made of.
//!
//! The lock is a `std::sync::Mutex`: every critical section is short and synchronous, and no
//! code holds it across an `.await` (work that takes time — decryption, the simulated processing
//! delay — happens between two critical sections, with the cart marked in flight).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::SandboxConfig;
use super::SandboxStats;
use super::catalog::{Catalog, EventDef, SeatLayout};
use super::certificate::CertState;
use super::dialect::Dialect;
use super::faults::FaultPlan;
use super::gate::QuotaWindow;
use super::polling::Polls;
use super::reply::{self, Outcome};
use crate::upstream::wire;

/// Who holds a seat.
#[derive(Debug, Clone, PartialEq)]
pub enum Holder {
    Held(String),
    Sold,
}

/// The seats of one event; index `i` is section-major, then row, then seat.
#[derive(Debug)]
pub struct Inventory {
    layout: SeatLayout,
    holders: Vec<Option<Holder>>,
}

/// A seat's printable position.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatPos {
    pub section: &'static str,
    pub row: &'static str,
    pub number: u32,
}

impl Inventory {
    pub fn new(layout: SeatLayout) -> Self {
        let holders = vec![None; layout.capacity()];
        Self { layout, holders }
    }

    pub fn position(&self, seat: usize) -> SeatPos {
        let per_row = self.layout.seats_per_row as usize;
        let per_section = per_row * self.layout.rows.len();
        SeatPos {
            section: self.layout.sections[seat / per_section],
            row: self.layout.rows[(seat % per_section) / per_row],
            number: (seat % per_row) as u32 + 1,
        }
    }

    /// `n` adjacent free seats in one row (the docs: "Can also occur if the number of available
    /// continuous seats cannot be fulfilled"), held for `cart_id`.
    pub fn hold(&mut self, n: usize, cart_id: &str) -> Option<Vec<usize>> {
        let per_row = self.layout.seats_per_row as usize;
        if n == 0 || n > per_row {
            return None;
        }
        let start = (0..self.holders.len()).step_by(per_row).find_map(|row| {
            (row..=row + per_row - n).find(|&s| self.holders[s..s + n].iter().all(Option::is_none))
        })?;
        let seats: Vec<usize> = (start..start + n).collect();
        for &s in &seats {
            self.holders[s] = Some(Holder::Held(cart_id.to_owned()));
        }
        Some(seats)
    }

    pub fn release(&mut self, seats: &[usize]) {
        for &s in seats {
            if let Some(h) = self.holders.get_mut(s) {
                *h = None;
            }
        }
    }

    pub fn sell(&mut self, seats: &[usize]) {
        for &s in seats {
            if let Some(h) = self.holders.get_mut(s) {
                *h = Some(Holder::Sold);
            }
        }
    }

    /// Held seats per holding cart.
    pub fn holds_by_cart(&self) -> impl Iterator<Item = &str> {
        self.holders.iter().filter_map(|h| match h {
            Some(Holder::Held(cart)) => Some(cart.as_str()),
            _ => None,
        })
    }

    pub fn held(&self) -> usize {
        self.holders
            .iter()
            .filter(|h| matches!(h, Some(Holder::Held(_))))
            .count()
    }
}

/// Seats held by a cart, and the cart as the reserve call answered it.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub event_id: &'static str,
    pub seats: Vec<usize>,
    pub cart: wire::Cart,
    pub grand_cents: i64,
    pub expires_at: DateTime<Utc>,
}

/// What the sandbox keeps of an accepted payment: never card digits beyond the last four.
#[derive(Debug, Clone)]
pub struct AcceptedPayment {
    pub email: String,
    pub last4: String,
}

#[derive(Debug, Default)]
pub struct Cart {
    pub reservation: Option<Reservation>,
    pub payment: Option<AcceptedPayment>,
    /// Set once purchased: the cart is then closed.
    pub order_token: Option<String>,
    /// A polling operation whose result was not yet delivered.
    pub pending_op: Option<u64>,
    /// An updating request is being processed right now.
    pub in_flight: bool,
}

impl Cart {
    pub fn is_busy(&self) -> bool {
        self.in_flight || self.pending_op.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub order_token: String,
    pub cart_id: String,
    pub event_id: &'static str,
    pub source_account_id: String,
    pub email: String,
    pub last4: String,
    pub purchased_at: DateTime<Utc>,
    pub grand_cents: i64,
    pub redeemed: bool,
}

/// Everything that changes while the sandbox runs.
pub struct State {
    pub carts: HashMap<String, Cart>,
    pub inventory: HashMap<&'static str, Inventory>,
    pub captcha_seen: HashSet<String>,
    /// Access token → expiry (sandbox clock).
    pub tokens: HashMap<String, DateTime<Utc>>,
    pub polls: Polls,
    pub orders: Vec<Order>,
    pub quota: QuotaWindow,
    pub cert: CertState,
    pub faults: FaultPlan,
    pub stats: SandboxStats,
    /// Read from here, never from the config: `POST /_sandbox/dialect` changes it.
    pub dialect: Dialect,
}

impl State {
    pub fn cart_mut(&mut self, cart_id: &str) -> Outcome<&mut Cart> {
        self.carts
            .get_mut(cart_id)
            .ok_or_else(reply::cart_not_found)
    }

    /// The cart, if no other update of it is in progress; counts a violation otherwise.
    pub fn cart_for_update(&mut self, cart_id: &str) -> Outcome<&mut Cart> {
        let Some(cart) = self.carts.get_mut(cart_id) else {
            return Err(reply::cart_not_found());
        };
        if cart.is_busy() {
            self.stats.concurrent_update_violations += 1;
            return Err(reply::concurrent_update());
        }
        Ok(cart)
    }

    /// Frees the seats of `cart_id`'s reservation (if any, and if not purchased).
    pub fn release_reservation(&mut self, cart_id: &str) {
        let Some(cart) = self.carts.get_mut(cart_id) else {
            return;
        };
        if cart.order_token.is_some() {
            return;
        }
        if let Some(r) = cart.reservation.take()
            && let Some(inv) = self.inventory.get_mut(r.event_id)
        {
            inv.release(&r.seats);
        }
        cart.payment = None;
    }

    /// Drops carts whose hold ran out by the sandbox clock, freeing their seats.
    pub fn expire_holds(&mut self, now: DateTime<Utc>) {
        let expired: Vec<String> = self
            .carts
            .iter()
            .filter(|(_, c)| {
                c.order_token.is_none()
                    && c.reservation.as_ref().is_some_and(|r| r.expires_at <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.release_reservation(&id);
            self.carts.remove(&id);
        }
    }

    pub fn snapshot(&self) -> SandboxStats {
        let mut stats = self.stats.clone();
        stats.seats_held = self.inventory.values().map(|i| i.held() as u64).sum();
        stats
    }
}

/// The sandbox as every handler sees it: fixed configuration and catalog, and the locked state.
pub struct Shared {
    pub config: SandboxConfig,
    pub catalog: Catalog,
    state: Mutex<State>,
}

impl Shared {
    pub fn new(config: SandboxConfig, cert: CertState) -> Arc<Self> {
        let catalog = Catalog::new(config.clock.now());
        let inventory = catalog
            .events()
            .map(|e| {
                let mut layout = e.layout.clone();
                if let Some(seats) = config.seats_per_row {
                    layout.seats_per_row = seats;
                }
                (e.id, Inventory::new(layout))
            })
            .collect();
        let state = State {
            carts: HashMap::new(),
            inventory,
            captcha_seen: HashSet::new(),
            tokens: HashMap::new(),
            polls: Polls::default(),
            orders: Vec::new(),
            quota: QuotaWindow::default(),
            cert,
            faults: FaultPlan::new(&config.faults),
            stats: SandboxStats::default(),
            dialect: config.dialect,
        };
        Arc::new(Self {
            config,
            catalog,
            state: Mutex::new(state),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }

    /// An update's time upstream (`update_latency`), during which the cart counts as being
    /// updated. None at all when it is zero: a zero-length `sleep` still waits for the timer's
    /// next tick (up to a millisecond), which every "zero-latency" update paid.
    pub async fn update_latency(&self) {
        if !self.config.update_latency.is_zero() {
            tokio::time::sleep(self.config.update_latency).await;
        }
    }

    /// Locks the state. A panic inside a critical section cannot leave the state half-updated
    /// in a way that matters more than stopping the sandbox would, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when the event's venue is inside its nightly maintenance window right now.
    pub fn in_maintenance(&self, event: &EventDef) -> bool {
        use chrono::Timelike;
        let (start, end) = self.config.maintenance;
        let hour = self.now().with_timezone(&event.venue.tz).hour();
        if start <= end {
            (start..end).contains(&hour)
        } else {
            hour >= start || hour < end
        }
    }

    /// 503 when the event's venue is in maintenance.
    pub fn check_maintenance(&self, event_id: &str) -> Outcome<()> {
        match self.catalog.event(event_id) {
            Some(e) if self.in_maintenance(e) => Err(reply::maintenance()),
            _ => Ok(()),
        }
    }
}

/// Marks a cart as being updated for as long as it lives; clears the mark when dropped, even if
/// the request future is dropped half-way.
pub struct InFlight {
    shared: Arc<Shared>,
    cart_id: String,
}

impl InFlight {
    /// Claims `cart_id` for an update: 404 if unknown, 409 if busy.
    pub fn claim(shared: &Arc<Shared>, cart_id: &str) -> Outcome<Self> {
        shared.lock().cart_for_update(cart_id)?.in_flight = true;
        Ok(Self {
            shared: Arc::clone(shared),
            cart_id: cart_id.to_owned(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(cart) = self.shared.lock().carts.get_mut(&self.cart_id) {
            cart.in_flight = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(rows: usize, per_row: u32) -> SeatLayout {
        SeatLayout {
            sections: vec!["S"],
            rows: ["A", "B", "C"][..rows].to_vec(),
            seats_per_row: per_row,
        }
    }

    #[test]
    fn holds_are_contiguous_within_a_row() {
        let mut inv = Inventory::new(layout(2, 3));
        assert_eq!(inv.hold(2, "a"), Some(vec![0, 1]));
        // Two seats do not fit in row A any more; they go to row B.
        assert_eq!(inv.hold(2, "b"), Some(vec![3, 4]));
        assert_eq!(inv.position(4).row, "B");
        assert_eq!(inv.position(4).number, 2);
        assert_eq!(inv.hold(4, "c"), None);
        assert_eq!(inv.held(), 4);
        inv.release(&[0, 1]);
        inv.sell(&[3, 4]);
        assert_eq!(inv.held(), 0);
        assert_eq!(inv.hold(3, "d"), Some(vec![0, 1, 2]));
    }
}
