//! Wire → domain conversions for what upstream returns about a cart and an order.

use chrono::{DateTime, TimeDelta, Utc};

use super::model::{Cents, TicketLine, Totals};
use crate::upstream::wire;

/// How long a hold lasts when upstream's cart does not say (the docs' example: 299 s).
const DEFAULT_HOLD_SECS: i64 = 299;
/// Upstream holds last minutes. A longer `hold_time` is not believed: clamped, no value upstream
/// sends can overflow the clock (`TimeDelta::seconds` panics past ±2⁶³ ms).
const LONGEST_HOLD_SECS: i64 = 24 * 3600;

/// Taken off every hold: the gateway must never believe a hold lasts longer than upstream's
/// (a payment sent into an expired hold fails; a release sent a little early costs nothing).
const HOLD_MARGIN_SECS: i64 = 10;

/// When the hold on `cart` ends, counted from `sent_at`, when the reserve was sent: upstream's
/// `hold_time` counts from when it reserved, which is no earlier (an answer delivered through
/// polling may come much later), less a margin.
pub fn hold_expires_at(cart: &wire::Cart, sent_at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = cart
        .hold_time
        .unwrap_or(DEFAULT_HOLD_SECS)
        .clamp(0, LONGEST_HOLD_SECS);
    sent_at + TimeDelta::seconds((secs - HOLD_MARGIN_SECS).max(0))
}

/// Seats of a block: the numeric range start..=end when both ends are numbers, else the
/// two ends as given.
fn seats(item: &wire::CartItem) -> Vec<String> {
    match (
        item.start_seat_number.parse::<u32>(),
        item.end_seat_number.parse::<u32>(),
    ) {
        (Ok(a), Ok(b)) if a <= b && b - a < 100 => (a..=b).map(|n| n.to_string()).collect(),
        _ if item.start_seat_number == item.end_seat_number => {
            vec![item.start_seat_number.clone()]
        }
        _ => vec![item.start_seat_number.clone(), item.end_seat_number.clone()],
    }
}

pub fn lines(cart: &wire::Cart) -> Vec<TicketLine> {
    cart.items
        .iter()
        .map(|item| TicketLine {
            ticket_id: item
                .tickets
                .first()
                .map(|t| t.id.clone())
                .unwrap_or_default(),
            quantity: item.num_seats,
            section: item.section.clone(),
            row: item.row.clone(),
            seats: seats(item),
            price: Cents::from_decimal(item.totals.grand),
        })
        .collect()
}

/// Face value is the `face_value` charges; every other charge is a fee; tax and grand come
/// from the cart totals (upstream's own arithmetic wins).
pub fn totals(cart: &wire::Cart, fallback_currency: &str) -> Totals {
    let mut face = Cents(0);
    let mut fees = Cents(0);
    for charge in cart
        .items
        .iter()
        .flat_map(|i| &i.tickets)
        .flat_map(|t| &t.charges)
    {
        let amount = Cents::from_decimal(charge.price * f64::from(charge.quantity));
        if charge.kind == "face_value" {
            face.0 += amount.0;
        } else {
            fees.0 += amount.0;
        }
    }
    let currency = cart
        .items
        .first()
        .map(|i| i.totals.currency_code.clone())
        .unwrap_or_else(|| fallback_currency.to_owned());
    let (taxes, grand) = match &cart.totals {
        Some(t) => (Cents::from_decimal(t.tax), Cents::from_decimal(t.grand)),
        None => (Cents(0), Cents(face.0 + fees.0)),
    };
    Totals {
        currency,
        face,
        fees,
        taxes,
        grand,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cart() -> wire::Cart {
        let fixture = include_str!("../../tests/fixtures/upstream/cart.json");
        serde_json::from_str::<wire::CartResponse>(fixture)
            .unwrap()
            .cart
    }

    #[test]
    fn a_hold_counts_from_the_reserve_less_a_margin_whatever_form_its_time_takes() {
        let sent = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a valid time");
        for hold_time in ["299", "\"299\""] {
            let json = format!(r#"{{"cart": {{"hold_time": {hold_time}, "items": []}}}}"#);
            let cart = serde_json::from_str::<wire::CartResponse>(&json)
                .expect("a cart")
                .cart;
            assert_eq!(hold_expires_at(&cart, sent), sent + TimeDelta::seconds(289));
        }
        let cart: wire::Cart = serde_json::from_str(r#"{"hold_time": 3}"#).expect("a cart");
        assert_eq!(hold_expires_at(&cart, sent), sent);
    }

    #[test]
    fn the_docs_cart_becomes_one_line_with_totals() {
        let c = cart();
        let lines = lines(&c);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].ticket_id, "000002040006");
        assert_eq!(lines[0].seats, vec!["7"]);
        assert_eq!(lines[0].section, "CLB234");
        let t = totals(&c, "USD");
        assert_eq!(t.face, Cents(2500));
        assert_eq!(t.fees, Cents(0));
        assert_eq!(t.grand, Cents(2500));
        assert_eq!(t.currency, "USD");
    }
}
