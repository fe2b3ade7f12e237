//! `PUT /cart` (commit the purchase, exactly once per cart) and `GET /orders/unredeemed`, whose
//! day windows and email field are read as the dialect says (`days_from_purchase`,
//! `days_before_event`, `unredeemed_email`).
//!
//! Every `PUT /cart` whose body names a cart is counted in `purchase_calls_by_cart`, whatever
//! its outcome, so tests can tell whether a client re-sent a purchase.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};

use super::dialect::{DaysBeforeEvent, DaysFromPurchase, Dialect};
use super::faults::Operation;
use super::gate::{self, Call};
use super::ids;
use super::polling::{Deferred, OpKind};
use super::reply::{self, Outcome, Reply};
use super::reshape;
use super::state::{InFlight, Order, Shared, State};
use crate::upstream::wire;

/// Turns the cart's held seats into an order. The cart is closed afterwards.
fn commit(shared: &Shared, state: &mut State, request: &wire::PurchaseRequest) -> Reply {
    let cart_id = request.cart_id.as_str();
    let Some(cart) = state.carts.get_mut(cart_id) else {
        return reply::cart_not_found();
    };
    if cart.order_token.is_some() {
        return reply::invalid_input("Cart already purchased");
    }
    let Some(reservation) = cart.reservation.clone() else {
        return reply::invalid_input("Cart has no tickets");
    };
    let Some(payment) = cart.payment.clone() else {
        return reply::invalid_input("Payment information required");
    };
    let order_token = ids::order_token();
    cart.order_token = Some(order_token.clone());
    if let Some(inv) = state.inventory.get_mut(reservation.event_id) {
        inv.sell(&reservation.seats);
    }
    state.orders.push(Order {
        order_token: order_token.clone(),
        cart_id: cart_id.to_owned(),
        event_id: reservation.event_id,
        source_account_id: request.source_account_id.clone(),
        email: payment.email,
        last4: payment.last4,
        purchased_at: shared.now(),
        grand_cents: reservation.grand_cents,
        redeemed: false,
    });
    state.stats.orders += 1;
    Reply::ok(&wire::PurchaseResponse {
        redemption_url: format!(
            "https://myorder.ticketmaster.com/redeem?event_id={}&token={order_token}",
            reservation.event_id
        ),
        tm_app_url: format!("ticketmaster:///partners/redeem?token={order_token}"),
        grand_total: Some(reservation.grand_cents as f64 / 100.0),
        order_token,
    })
}

async fn purchase_inner(shared: &Arc<Shared>, call: &Call, body: &[u8]) -> Outcome<Reply> {
    let request: wire::PurchaseRequest = reply::parse_body(body, reply::invalid_structure)?;
    if request.cart_id.is_empty() || request.source_account_id.trim().is_empty() {
        return Err(reply::invalid_structure());
    }
    let cart_id = request.cart_id.as_str();
    let event_id = {
        let mut state = shared.lock();
        *state
            .stats
            .purchase_calls_by_cart
            .entry(cart_id.to_owned())
            .or_default() += 1;
        let cart = state.cart_mut(cart_id)?;
        cart.reservation.as_ref().map(|r| r.event_id)
    };
    if let Some(event_id) = event_id {
        shared.check_maintenance(event_id)?;
    }
    if call.force_polling {
        let mut state = shared.lock();
        state.cart_for_update(cart_id)?;
        let result = commit(shared, &mut state, &request);
        let deferred = Deferred {
            cart_id: Some(cart_id.to_owned()),
            event_id,
            kind: OpKind::Purchase,
            result,
        };
        return Ok(state.defer(call, &shared.config, deferred));
    }
    let _in_flight = InFlight::claim(shared, cart_id)?;
    shared.update_latency().await;
    let mut state = shared.lock();
    Ok(commit(shared, &mut state, &request))
}

/// `PUT /cart` (Polling: Yes).
pub async fn purchase(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Purchase) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let reply = purchase_inner(&shared.into_inner(), &call, &body)
        .await
        .unwrap_or_else(|r| r);
    call.respond(reply).await
}

/// A non-negative whole number of days from the query, if given.
fn days(req: &HttpRequest, name: &str) -> Outcome<Option<i64>> {
    match gate::query_param(req, name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(reply::invalid_input(&format!("Invalid {name}"))),
        },
    }
}

/// Which unredeemed orders a query asks for, read as the dialect says.
#[derive(Debug, Clone, Copy)]
struct Window {
    now: DateTime<Utc>,
    from_purchase: Option<i64>,
    before_event: Option<i64>,
    dialect: Dialect,
}

impl Window {
    fn holds_purchase(&self, purchased_at: DateTime<Utc>) -> bool {
        self.from_purchase.is_none_or(|n| {
            let since = self.now - TimeDelta::days(n);
            match self.dialect.days_from_purchase {
                DaysFromPurchase::Within => purchased_at > since,
                DaysFromPurchase::AtLeast => purchased_at <= since,
            }
        })
    }

    fn holds_event(&self, starts_at: DateTime<Utc>) -> bool {
        self.before_event.is_none_or(|n| {
            let until = self.now + TimeDelta::days(n);
            match self.dialect.days_before_event {
                DaysBeforeEvent::Within => starts_at >= self.now && starts_at <= until,
                DaysBeforeEvent::AtLeast => starts_at >= until,
            }
        })
    }
}

fn unredeemed(shared: &Shared, req: &HttpRequest) -> Outcome<Reply> {
    let from_purchase = days(req, "days_from_purchase")?;
    let before_event = days(req, "days_before_event")?;
    if from_purchase.is_none() && before_event.is_none() {
        return Err(reply::invalid_input(
            "days_from_purchase or days_before_event is required",
        ));
    }
    let now = shared.now();
    let state = shared.lock();
    let window = Window {
        now,
        from_purchase,
        before_event,
        dialect: state.dialect,
    };
    let data = state
        .orders
        .iter()
        .filter(|o| !o.redeemed)
        .filter_map(|o| Some((o, shared.catalog.event(o.event_id)?)))
        .filter(|(o, e)| window.holds_purchase(o.purchased_at) && window.holds_event(e.starts_at))
        .map(|(o, e)| wire::UnredeemedOrder {
            purchase_date_time: o.purchased_at.timestamp_millis(),
            // The sandbox's emails always bounce: that is why these orders are unredeemed.
            email_status: 2,
            event_date_time: e.starts_at.timestamp_millis(),
            event_id: o.event_id.into(),
            order_token: o.order_token.clone(),
            order_source_account_id: o.source_account_id.clone(),
            purchase_email_address: Some(o.email.clone()),
        })
        .collect();
    let email = window.dialect.unredeemed_email;
    Ok(Reply::ok(&wire::UnredeemedOrders { data })
        .map_json(|body| reshape::unredeemed_email(body, email)))
}

/// `GET /orders/unredeemed?days_from_purchase=N|days_before_event=N`.
pub async fn unredeemed_orders(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Unredeemed) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    call.respond(unredeemed(&shared, &req).unwrap_or_else(|r| r))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(from_purchase: Option<i64>, before_event: Option<i64>, switches: &[&str]) -> Window {
        Window {
            now: Utc::now(),
            from_purchase,
            before_event,
            dialect: Dialect::parse(switches).expect("valid switches"),
        }
    }

    #[test]
    fn days_from_purchase_is_within_or_at_least() {
        let within = window(Some(1), None, &["days_from_purchase=within"]);
        let at_least = window(Some(1), None, &["days_from_purchase=at_least"]);
        let an_hour_ago = within.now - TimeDelta::hours(1);
        let two_days_ago = within.now - TimeDelta::days(2);
        assert!(within.holds_purchase(an_hour_ago) && !within.holds_purchase(two_days_ago));
        assert!(!at_least.holds_purchase(an_hour_ago) && at_least.holds_purchase(two_days_ago));
        // N = 0: nothing is within the last 0 days; everything is at least 0 days old.
        let now = within.now;
        assert!(!window(Some(0), None, &["days_from_purchase=within"]).holds_purchase(now));
        assert!(window(Some(0), None, &["days_from_purchase=at_least"]).holds_purchase(now));
    }

    #[test]
    fn days_before_event_is_within_or_at_least() {
        let within = window(None, Some(5), &["days_before_event=within"]);
        let at_least = window(None, Some(5), &["days_before_event=at_least"]);
        let soon = within.now + TimeDelta::days(2);
        let later = within.now + TimeDelta::days(30);
        let past = within.now - TimeDelta::days(1);
        assert!(within.holds_event(soon) && !within.holds_event(later));
        assert!(!within.holds_event(past));
        assert!(!at_least.holds_event(soon) && at_least.holds_event(later));
        assert!(!at_least.holds_event(past));
    }
}
