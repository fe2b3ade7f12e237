//! `PUT /cart` (commit the purchase, exactly once per cart) and `GET /orders/unredeemed`.
//!
//! Every `PUT /cart` whose body names a cart is counted in `purchase_calls_by_cart`, whatever
//! its outcome, so tests can tell whether a client re-sent a purchase.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;

use super::faults::Operation;
use super::gate::{self, Call};
use super::ids;
use super::polling::{Deferred, OpKind};
use super::reply::{self, Outcome, Reply};
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
            cart_id: cart_id.to_owned(),
            event_id,
            kind: OpKind::Purchase,
            result,
        };
        return Ok(state.defer(call, &shared.config, deferred));
    }
    let _in_flight = InFlight::claim(shared, cart_id)?;
    tokio::time::sleep(shared.config.update_latency).await;
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
    let data = state
        .orders
        .iter()
        .filter(|o| !o.redeemed)
        .filter_map(|o| Some((o, shared.catalog.event(o.event_id)?)))
        .filter(|(o, _)| from_purchase.is_none_or(|n| o.purchased_at <= now - TimeDelta::days(n)))
        .filter(|(_, e)| {
            before_event
                .is_none_or(|n| e.starts_at >= now && e.starts_at <= now + TimeDelta::days(n))
        })
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
    Ok(Reply::ok(&wire::UnredeemedOrders { data }))
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
