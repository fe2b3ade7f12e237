//! `GET /certificate` and `PUT /cart/payment`: billing fields checked per the docs' comments,
//! card number and CVV decrypted with the current certificate's key and judged like the docs'
//! sandbox card (`4588883206000011`, CVV `123`), amount compared with the cart's grand total.
//! A key that is not the current certificate's is refused as the dialect's `stale_certificate`
//! says; the payment polls when forced under `unmarked_polling=when_forced`.
//!
//! Card digits exist only inside [`judge_card`], in zeroizing buffers; what is kept of an
//! accepted payment is the last four digits and the email address. Nothing here logs card data.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use super::certificate::{CertState, decrypt_field};
use super::dialect::StaleCertificate;
use super::faults::Operation;
use super::gate::{self, Call};
use super::polling::{Deferred, OpKind};
use super::reply::{self, Outcome, Reply};
use super::reshape;
use super::state::{AcceptedPayment, InFlight, Shared, State};
use crate::upstream::wire;

/// The docs' dummy credit card.
const TEST_CARD: &str = "4588883206000011";
const TEST_CVV: &str = "123";
/// The docs' country table.
const COUNTRIES: [u16; 5] = [840, 124, 36, 484, 554];

/// `GET /certificate?cart_id=`: the cart must exist (the id must have been url-encoded).
pub async fn certificate(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Certificate) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let cart_id = gate::query_param(&req, "cart_id").unwrap_or_default();
    // The dialect's key size changed since the certificate was made: a new one, as a rotation.
    let bits = {
        let state = shared.lock();
        let bits = state.dialect.certificate_key.bits();
        (state.cert.bits != bits).then_some(bits)
    };
    if let Some(bits) = bits
        && CertState::rotate(&shared, bits).await.is_none()
    {
        return call
            .respond(reply::error(500, 500, "Certificate generation failed"))
            .await;
    }
    let reply = {
        // Scoped, not dropped by hand: the lock must be gone before the (maybe delayed) answer.
        let state = shared.lock();
        if state.carts.contains_key(&cart_id) {
            Reply::ok(&state.cert.to_wire())
        } else {
            reply::cart_not_found()
        }
    };
    call.respond(reply).await
}

/// `"69.00"` → 6900. At most two decimals, no sign, no exponent.
fn parse_amount_cents(amount: &str) -> Option<i64> {
    let (whole, frac) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 2 {
        return None;
    }
    let frac_cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac_cents)
}

/// The docs' "Required" comments.
fn check_fields(p: &wire::Payment) -> Outcome<()> {
    let required = [
        ("first_name", &p.first_name),
        ("last_name", &p.last_name),
        ("home_phone", &p.home_phone),
        ("email_address", &p.email_address),
        ("address.line1", &p.address.line1),
        ("address.city", &p.address.city),
        ("address.region.abbrev", &p.address.region.abbrev),
        ("address.postal_code", &p.address.postal_code),
        ("card.number", &p.card.number),
        ("card.cin", &p.card.cin),
        ("card.encryption_key", &p.card.encryption_key),
        ("card.postal_code", &p.card.postal_code),
    ];
    if let Some((name, _)) = required.iter().find(|(_, v)| v.trim().is_empty()) {
        return Err(reply::invalid_input(&format!(
            "Missing required field {name}"
        )));
    }
    if !p.email_address.contains('@') {
        return Err(reply::invalid_input("Invalid email_address"));
    }
    if !COUNTRIES.contains(&p.address.country.id) {
        return Err(reply::invalid_input("Invalid country id"));
    }
    if !(1..=12).contains(&p.card.expire_month) {
        return Err(reply::invalid_input("Invalid card expiration"));
    }
    match p.kind.as_str() {
        "CC" => Ok(()),
        // The sandbox takes card payments only.
        "INVOICE" => Err(reply::payment_not_accepted()),
        _ => Err(reply::invalid_input("Invalid payment type")),
    }
}

/// Decrypts and judges the card; returns the last four digits of an accepted card.
fn judge_card(key: &rsa::RsaPrivateKey, card: &wire::EncryptedCard) -> Outcome<String> {
    let refused = |_| reply::invalid_input("Invalid encrypted card data");
    let number = decrypt_field(key, &card.number).map_err(refused)?;
    let cvv = decrypt_field(key, &card.cin).map_err(refused)?;
    if number.as_str() != TEST_CARD {
        return Err(reply::payment_not_accepted());
    }
    if cvv.as_str() != TEST_CVV {
        return Err(reply::invalid_security_code());
    }
    Ok(number[number.len() - 4..].to_owned())
}

/// The refusal of a card encrypted for a certificate the sandbox does not issue (any more).
fn stale_key(answer: StaleCertificate) -> Reply {
    match answer {
        StaleCertificate::InvalidKey => reply::invalid_input("Invalid encryption key"),
        StaleCertificate::PaymentDeclined => reply::payment_not_accepted(),
    }
}

/// Records an accepted payment (card's last four digits `last4`) on the cart and answers the
/// cart as the docs show it: nothing left unpaid, the hold's remaining time.
fn accept(
    state: &mut State,
    now: DateTime<Utc>,
    request: &wire::PaymentRequest,
    last4: String,
) -> Outcome<Reply> {
    let hold_style = state.dialect.hold_time;
    let cart = state.cart_mut(&request.cart_id)?;
    let reservation = cart
        .reservation
        .as_ref()
        .filter(|r| r.expires_at > now)
        .ok_or_else(reply::cart_not_found)?;
    let mut shown = reservation.cart.clone();
    shown.hold_time = Some((reservation.expires_at - now).num_seconds().max(0));
    if let Some(totals) = shown.totals.as_mut() {
        totals.unpaid = 0.0;
    }
    cart.payment = Some(AcceptedPayment {
        email: request.payment.email_address.clone(),
        last4,
    });
    let answer = wire::CartResponse {
        cart_id: None,
        cart: shown,
    };
    Ok(Reply::ok(&answer).map_json(|body| reshape::hold_time(body, hold_style)))
}

/// Request errors (fields, amount, cart state, maintenance, a concurrent update) are answered
/// at once; the payment's own outcome (key, card, amount, hold) goes through polling when the
/// call polls (`unmarked_polling=when_forced` and polling forced).
async fn payment_inner(shared: &Arc<Shared>, call: &Call, body: &[u8]) -> Outcome<Reply> {
    let request: wire::PaymentRequest = reply::parse_body(body, reply::invalid_input_data_type)?;
    check_fields(&request.payment)?;
    let amount = parse_amount_cents(&request.payment.amount)
        .ok_or_else(|| reply::invalid_input("Invalid amount"))?;
    let cart_id = request.cart_id.as_str();
    let (event_id, grand_cents, cert, dialect) = {
        let mut state = shared.lock();
        let dialect = state.dialect;
        let cart = state.cart_mut(cart_id)?;
        if cart.order_token.is_some() {
            return Err(reply::invalid_input("Cart already purchased"));
        }
        let reservation = cart
            .reservation
            .as_ref()
            .ok_or_else(|| reply::invalid_input("Cart has no tickets"))?;
        let found = (reservation.event_id, reservation.grand_cents);
        (found.0, found.1, state.cert.clone(), dialect)
    };
    shared.check_maintenance(event_id)?;
    let _in_flight = InFlight::claim(shared, cart_id)?;
    let judged = async {
        if request.payment.card.encryption_key != cert.id {
            return Err(stale_key(dialect.stale_certificate));
        }
        let card = request.payment.card.clone();
        // RSA decryption is CPU work: keep it off the async worker.
        let last4 = tokio::task::spawn_blocking(move || judge_card(&cert.key, &card))
            .await
            .map_err(|_| reply::error(500, 500, "Internal error occurred"))??;
        if amount != grand_cents {
            return Err(reply::payment_not_accepted());
        }
        Ok(last4)
    }
    .await;

    if !call.force_polling {
        let last4 = judged?;
        shared.update_latency().await;
        let now = shared.now();
        let mut state = shared.lock();
        return accept(&mut state, now, &request, last4);
    }
    let now = shared.now();
    let mut state = shared.lock();
    let result = judged
        .and_then(|last4| accept(&mut state, now, &request, last4))
        .unwrap_or_else(|refusal| refusal);
    let deferred = Deferred {
        cart_id: Some(cart_id.to_owned()),
        event_id: Some(event_id),
        kind: OpKind::Payment,
        result,
    };
    Ok(state.defer(call, &shared.config, deferred))
}

/// `PUT /cart/payment` (Polling: No; polls when forced under `unmarked_polling=when_forced`).
pub async fn payment(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Payment) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let reply = payment_inner(&shared.into_inner(), &call, &body)
        .await
        .unwrap_or_else(|r| r);
    call.respond(reply).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_to_cents() {
        assert_eq!(parse_amount_cents("69.00"), Some(6900));
        assert_eq!(parse_amount_cents("57.39"), Some(5739));
        assert_eq!(parse_amount_cents("25"), Some(2500));
        assert_eq!(parse_amount_cents("25.5"), Some(2550));
        assert_eq!(parse_amount_cents("25.555"), None);
        assert_eq!(parse_amount_cents("-1.00"), None);
        assert_eq!(parse_amount_cents("1e3"), None);
        assert_eq!(parse_amount_cents(""), None);
    }
}
