//! Cart life: the captcha page, `POST /cart` (captcha solution → cart session),
//! `PUT /cart/tickets` (reserve: quantity rules, contiguous seats, charges and totals, hold) and
//! `DELETE /cart` (release). Reserve and delete are polling-enabled; `POST /cart` too under
//! `unmarked_polling=when_forced`. What DELETE answers for a purchased or an unknown cart is up
//! to the dialect (`delete_purchased`, `delete_unknown`).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;

use super::catalog::{EventDef, TicketDef};
use super::dialect::{CaptchaCache, DeletePurchased, DeleteUnknown};
use super::faults::Operation;
use super::gate::{self, Call};
use super::ids;
use super::polling::{Deferred, OpKind};
use super::reply::{self, Outcome, Reply};
use super::reshape;
use super::state::{Cart, InFlight, Inventory, Reservation, Shared, State};
use crate::upstream::wire;

pub const CAPTCHA_SITEKEY: &str = "6LcSandboxSiteKey0000000000000000checkoutGW";

fn captcha_page() -> String {
    format!(
        r#"<html>
    <head>
        <script src="https://www.google.com/recaptcha/api.js"></script>
        <script>
        function callback(responseText) {{
            location.href = "ticketmaster-g-recaptcha-response://" + responseText;
        }}
        </script>
</head>
<body>
    <div class="g-recaptcha" data-sitekey="{CAPTCHA_SITEKEY}" data-callback="callback"></div>
</body>
</html>
"#
    )
}

/// `GET /captcha`.
pub async fn captcha(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Captcha) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let page =
        Reply::html(captcha_page()).with_header("X-TM-CAPTCHA-V2-SITEKEY", CAPTCHA_SITEKEY.into());
    let page = match shared.lock().dialect.captcha_cache {
        CaptchaCache::Absent => page,
        CaptchaCache::MaxAge => page.with_header("Cache-Control", "max-age=300".into()),
        CaptchaCache::NoStore => page.with_header("Cache-Control", "no-store".into()),
    };
    call.respond(page).await
}

/// The captcha solution's token. No body, no `token`, or an empty one: all "missing", answered
/// at once (a request error, not the operation's outcome).
fn captcha_token(body: &[u8]) -> Outcome<String> {
    let solution: wire::CaptchaSolution =
        serde_json::from_slice(body).map_err(|_| reply::captcha_missing())?;
    if solution.token.trim().is_empty() {
        return Err(reply::captcha_missing());
    }
    Ok(solution.token)
}

/// Any non-empty token is valid once; tokens starting with `invalid` never are.
fn open_session(state: &mut State, token: &str) -> Reply {
    if token.starts_with("invalid") || !state.captcha_seen.insert(token.to_owned()) {
        return reply::captcha_invalid();
    }
    let cart_id = ids::cart_id();
    state.carts.insert(cart_id.clone(), Cart::default());
    Reply::ok(&wire::CartSession { cart_id })
}

/// `POST /cart` (Polling: No; polls when forced under `unmarked_polling=when_forced`).
pub async fn post_cart(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::OpenCart) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let reply = match captcha_token(&body) {
        Err(missing) => missing,
        Ok(token) => {
            let mut state = shared.lock();
            let result = open_session(&mut state, &token);
            // The client has no cart id yet: the polling url carries none.
            let deferred = Deferred {
                cart_id: None,
                event_id: None,
                kind: OpKind::OpenCart,
                result,
            };
            state.answer(&call, &shared.config, deferred)
        }
    };
    call.respond(reply).await
}

/// Checks every line of a reserve request against the event's rules.
fn validate_lines<'e>(
    event: &'e EventDef,
    lines: &[wire::ReserveTicket],
) -> Outcome<Vec<(&'e TicketDef, u32)>> {
    if lines.is_empty() {
        return Err(reply::invalid_input("No tickets requested"));
    }
    let mut checked = Vec::with_capacity(lines.len());
    for line in lines {
        let ticket = event
            .ticket(&line.id)
            .ok_or_else(|| reply::invalid_input("Invalid ticket id"))?;
        if line.price.as_ref().is_some_and(|p| p.id != ticket.price_id) {
            return Err(reply::invalid_input("Invalid price id"));
        }
        let q = line.quantity;
        let rules = &ticket.quantities;
        let fits = q >= 1
            && q >= rules.minimum
            && q <= rules.limit
            && (rules.multiple <= 1 || q % rules.multiple == 0)
            && (rules.exact == 0 || q == rules.exact);
        if !fits {
            return Err(reply::invalid_input("Invalid ticket quantity"));
        }
        checked.push((ticket, q));
    }
    let total: u32 = checked.iter().map(|(_, q)| q).sum();
    if total > event.event_limit {
        return Err(reply::invalid_input("Ticket limit exceeded"));
    }
    Ok(checked)
}

fn money(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn charge(kind: &str, cents: i64, quantity: u32) -> wire::Charge {
    wire::Charge {
        price: money(cents),
        quantity,
        tax: 0.0,
        kind: kind.into(),
    }
}

/// The docs' cart for these lines on these seats: one item (the seats are adjacent), one
/// ticket entry per ticket type, per-ticket charges, item and cart totals.
fn build_cart(
    event: &EventDef,
    lines: &[(&TicketDef, u32)],
    inv: &Inventory,
    seats: &[usize],
) -> (wire::Cart, i64) {
    // `Inventory::hold` never returns an empty block; the defaults only keep this total.
    let first = inv.position(seats.first().copied().unwrap_or_default());
    let last = inv.position(seats.last().copied().unwrap_or_default());
    let merchandise: i64 = lines
        .iter()
        .map(|(t, q)| t.face_cents * i64::from(*q))
        .sum();
    let fee: i64 = lines
        .iter()
        .map(|(t, q)| t.fees_cents() * i64::from(*q))
        .sum();
    let grand = merchandise + fee;
    let tickets = lines
        .iter()
        .map(|(t, q)| wire::CartTicket {
            charges: vec![
                charge("distance", t.distance_cents, *q),
                charge("face_value", t.face_cents, *q),
                charge("facility", t.facility_cents, *q),
                charge("service", t.service_cents, *q),
            ],
            description: t.description.into(),
            id: t.id.into(),
            quantity: *q,
        })
        .collect();
    let item = wire::CartItem {
        end_seat_number: last.number.to_string(),
        event_id: event.id.into(),
        num_seats: seats.len() as u32,
        row: first.row.into(),
        section: first.section.into(),
        start_seat_number: first.number.to_string(),
        tickets,
        totals: wire::ItemTotals {
            currency_code: "USD".into(),
            fee: money(fee),
            grand: money(grand),
            merchandise: money(merchandise),
            tax: 0.0,
        },
    };
    let cart = wire::Cart {
        hold_time: None,
        items: vec![item],
        totals: Some(wire::CartTotals {
            delivery: 0.0,
            fee: money(fee),
            grand: money(grand),
            merchandise: money(merchandise),
            tax: 0.0,
            unpaid: money(grand),
            upsell: 0.0,
        }),
    };
    (cart, grand)
}

/// Holds seats for `cart_id` (replacing any earlier reservation of that cart) and answers the
/// docs' CartResponse, or 20052 when no adjacent seats are left.
fn hold_seats(
    shared: &Shared,
    state: &mut State,
    event: &EventDef,
    cart_id: &str,
    lines: &[(&TicketDef, u32)],
) -> Reply {
    if state
        .carts
        .get(cart_id)
        .is_some_and(|c| c.order_token.is_some())
    {
        return reply::invalid_input("Cart already purchased");
    }
    state.release_reservation(cart_id);
    let wanted = lines.iter().map(|(_, q)| *q as usize).sum();
    let Some(inv) = state.inventory.get_mut(event.id) else {
        return reply::no_inventory();
    };
    let Some(seats) = inv.hold(wanted, cart_id) else {
        return reply::no_inventory();
    };
    let (cart, grand_cents) = build_cart(event, lines, inv, &seats);
    let hold_secs = shared.config.hold_secs;
    let Some(record) = state.carts.get_mut(cart_id) else {
        // Deleted between the checks and now: give the seats back.
        inv.release(&seats);
        return reply::cart_not_found();
    };
    record.reservation = Some(Reservation {
        event_id: event.id,
        seats,
        cart: cart.clone(),
        grand_cents,
        expires_at: shared.now() + TimeDelta::seconds(hold_secs),
    });
    let hold_style = state.dialect.hold_time;
    Reply::ok(&wire::CartResponse {
        cart_id: Some(cart_id.to_owned()),
        cart: wire::Cart {
            hold_time: Some(hold_secs),
            ..cart
        },
    })
    .map_json(|body| reshape::hold_time(body, hold_style))
}

async fn reserve_inner(shared: &Arc<Shared>, call: &Call, body: &[u8]) -> Outcome<Reply> {
    let request: wire::ReserveRequest = reply::parse_body(body, reply::invalid_structure)?;
    let event = shared
        .catalog
        .event(&request.event.id)
        .ok_or_else(|| reply::invalid_input("Invalid event id"))?;
    shared.check_maintenance(event.id)?;
    if !event.transactable {
        return Err(reply::not_transactable());
    }
    let lines = validate_lines(event, &request.event.tickets)?;
    let cart_id = request.cart_id.as_str();
    if call.force_polling {
        let mut state = shared.lock();
        state.cart_for_update(cart_id)?;
        let result = hold_seats(shared, &mut state, event, cart_id, &lines);
        let deferred = Deferred {
            cart_id: Some(cart_id.to_owned()),
            event_id: Some(event.id),
            kind: OpKind::Reserve,
            result,
        };
        return Ok(state.defer(call, &shared.config, deferred));
    }
    let _in_flight = InFlight::claim(shared, cart_id)?;
    shared.update_latency().await;
    let mut state = shared.lock();
    state.cart_mut(cart_id)?;
    Ok(hold_seats(shared, &mut state, event, cart_id, &lines))
}

/// `PUT /cart/tickets`.
pub async fn reserve(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Reserve) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let reply = reserve_inner(&shared.into_inner(), &call, &body)
        .await
        .unwrap_or_else(|r| r);
    call.respond(reply).await
}

fn delete_inner(shared: &Shared, call: &Call, cart_id: Option<String>) -> Outcome<Reply> {
    let cart_id = cart_id.ok_or_else(|| reply::invalid_input("Missing cart_id"))?;
    let mut state = shared.lock();
    let dialect = state.dialect;
    let deleted = |event_id| Deferred {
        cart_id: Some(cart_id.clone()),
        event_id,
        kind: OpKind::Delete,
        result: Reply::empty(204),
    };
    let Some(cart) = state.carts.get(&cart_id) else {
        // Expired, deleted before, or never existed.
        return match dialect.delete_unknown {
            DeleteUnknown::NotFound => Err(reply::cart_not_found()),
            DeleteUnknown::Refused => Err(reply::invalid_input("Cart not found or expired")),
            DeleteUnknown::NoContent => Ok(state.answer(call, &shared.config, deleted(None))),
        };
    };
    let event_id = cart.reservation.as_ref().map(|r| r.event_id);
    if cart.order_token.is_some() {
        // A purchased cart is closed: deleting it never undoes the order, and its (possibly
        // pending) purchase answer stays deliverable, so it is neither removed nor cancelled.
        return match dialect.delete_purchased {
            DeletePurchased::NoContent => Ok(state.answer(call, &shared.config, deleted(event_id))),
            DeletePurchased::Refused => Err(reply::invalid_input("Cart already purchased")),
            DeletePurchased::NotFound => Err(reply::cart_not_found()),
        };
    }
    if let Some(event_id) = event_id {
        shared.check_maintenance(event_id)?;
    }
    state.cancel_pending(&cart_id);
    state.release_reservation(&cart_id);
    state.carts.remove(&cart_id);
    state.stats.carts_deleted += 1;
    Ok(state.answer(call, &shared.config, deleted(event_id)))
}

/// `DELETE /cart?cart_id=`: allowed while another operation is pending, which it cancels.
pub async fn delete(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Delete) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let reply =
        delete_inner(&shared, &call, gate::query_param(&req, "cart_id")).unwrap_or_else(|r| r);
    call.respond(reply).await
}

#[cfg(test)]
mod tests {
    use super::super::catalog::{Catalog, TEST_EVENT};
    use super::*;

    fn line(id: &str, quantity: u32) -> wire::ReserveTicket {
        wire::ReserveTicket {
            id: id.into(),
            quantity,
            price: None,
            areas: Vec::new(),
        }
    }

    #[test]
    fn quantity_rules_are_enforced() {
        let catalog = Catalog::new(chrono::Utc::now());
        let event = catalog.event(TEST_EVENT).unwrap();
        assert!(validate_lines(event, &[line("000000000001", 1)]).is_ok());
        // CHILD is sold in pairs.
        assert!(validate_lines(event, &[line("000000000002", 1)]).is_err());
        assert!(validate_lines(event, &[line("000000000002", 2)]).is_ok());
        assert!(validate_lines(event, &[line("000000000001", 0)]).is_err());
        assert!(validate_lines(event, &[line("000000000001", 9)]).is_err());
        assert!(validate_lines(event, &[line("999", 1)]).is_err());
        assert!(
            validate_lines(event, &[line("000000000001", 8), line("000000000002", 2)]).is_err()
        );
    }

    #[test]
    fn carts_add_up_like_the_docs() {
        let catalog = Catalog::new(chrono::Utc::now());
        let event = catalog.event(TEST_EVENT).unwrap();
        let lines = validate_lines(event, &[line("000000000001", 1)]).unwrap();
        let mut inv = Inventory::new(event.layout.clone());
        let seats = inv.hold(1, "c").unwrap();
        let (cart, grand) = build_cart(event, &lines, &inv, &seats);
        assert_eq!(grand, 5739);
        let totals = cart.totals.unwrap();
        assert_eq!(totals.grand, 57.39);
        assert_eq!(totals.fee, 7.39);
        assert_eq!(cart.items[0].start_seat_number, "1");
    }
}
