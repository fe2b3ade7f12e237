//! Request and response bodies shown in the document. Problem examples are rendered by
//! [`ApiError::body`], the code that renders real errors, so they cannot drift from it.

use serde_json::{Value, json};

use crate::checkout::error::{ErrorCode, FieldError};
use crate::http::problem::ApiError;
use crate::upstream::wire;

const CHECKOUT_ID: &str = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12";
const ORDER_ID: &str = "ord_0190b8f3a1b27c4d8e9f0a1b2c3d4e5f";
const EVENT_ID: &str = "3F004CBB88958BF9";

/// `GET /v1/events/{event_id}`.
pub fn event() -> Value {
    json!({
        "event_id": EVENT_ID,
        "name": "The Midnight Orchestra",
        "starts_at": "2026-12-18T03:00:00Z",
        "timezone": "America/Los_Angeles",
        "venue": {"name": "Hollywood Bowl", "city": "Los Angeles", "region": "CA"},
        "transactable": true,
        "on_sale": true,
        "maintenance": {"in_window": false, "next_window_starts_at": "2026-12-01T10:00:00Z"},
        "max_tickets": 8,
        "ticket_types": [{
            "ticket_id": "000002040006",
            "description": "Standard Admission",
            "price_levels": [
                {"price_level_id": 1, "face_value": 49.5, "fees": 7.25, "currency": "USD"}
            ],
            "quantity_rules": {"minimum": 1, "multiple": 1}
        }]
    })
}

/// `POST /v1/checkouts` body.
pub fn create_checkout() -> Value {
    json!({
        "event_id": EVENT_ID,
        "captcha_token": "03AGdBq24PBCbwiDRaS_MJ7Z",
        "tickets": [{"ticket_id": "000002040006", "quantity": 2, "price_level_id": 1}]
    })
}

/// `PUT /v1/checkouts/{id}/payment` body (a test card).
pub fn payment() -> Value {
    json!({
        "card": {"number": "4588883206000011", "cvv": "123", "expire_month": 12, "expire_year": 2028},
        "billing": {
            "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
            "phone": "212-867-5309",
            "address": {"line1": "123 Main Street", "line2": "Suite 4", "city": "Los Angeles",
                        "region": "CA", "postal_code": "90210", "country": "US"}
        }
    })
}

/// `POST /v1/checkouts/{id}/payment-session` body.
pub fn payment_session_request() -> Value {
    json!({
        "return_url": "https://app.partner.example/checkout/return",
        "billing": {
            "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
            "address": {"postal_code": "90210", "country": "US"}
        }
    })
}

/// `POST /v1/checkouts/{id}/payment-session` answer.
pub fn payment_session() -> Value {
    json!({
        "url": "https://pay.partner.example/pay/ps_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY",
        "expires_at": "2026-11-24T18:14:11Z"
    })
}

/// An order as `GET /v1/orders/{order_id}` shows it.
pub fn order() -> Value {
    json!({
        "order_id": ORDER_ID,
        "checkout_id": CHECKOUT_ID,
        "event_id": EVENT_ID,
        "order_token": "6c0f1d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
        "redemption_url": "https://www.ticketmaster.com/redeem/6c0f1d2e",
        "app_url": "ticketmaster://orders/6c0f1d2e",
        "grand_total": 113.5,
        "currency": "USD",
        "created_at": "2026-11-24T18:04:11Z"
    })
}

/// `GET /v1/orders`.
pub fn order_list() -> Value {
    json!({"orders": [order()], "next_cursor": "MTc2NDAwNzQ1MTAwMDpvcmRfMDE5MGI4ZjM"})
}

/// The checkout resource in `state`, with what that state has filled in.
pub fn checkout(state: &str) -> Value {
    let reserved = !matches!(state, "reserving");
    let mut body = json!({
        "id": CHECKOUT_ID,
        "state": state,
        "event_id": EVENT_ID,
        "tickets": [],
        "totals": null,
        "hold_expires_at": null,
        "created_at": "2026-11-24T18:00:02Z",
        "updated_at": "2026-11-24T18:00:04Z"
    });
    if reserved {
        body["tickets"] = json!([{
            "ticket_id": "000002040006", "quantity": 2, "section": "GA", "row": "A",
            "seats": ["12", "13"], "price": 49.5
        }]);
        body["totals"] =
            json!({"currency": "USD", "face": 99.0, "fees": 14.5, "taxes": 0.0, "grand": 113.5});
        body["hold_expires_at"] = json!("2026-11-24T18:10:04Z");
    }
    if matches!(state, "payment_accepted" | "purchasing" | "purchased") {
        body["payment"] = json!({"brand": "visa", "last4": "0011"});
    }
    if state == "purchased" {
        body["order"] = order();
    }
    body
}

/// The problem `code` answers with, as a partner would see it.
pub fn problem(code: ErrorCode) -> Value {
    let detail = match code {
        ErrorCode::Unauthorized => "the bearer token is invalid or expired",
        ErrorCode::NotFound => "no such resource",
        ErrorCode::ValidationFailed => "",
        ErrorCode::CaptchaInvalid => "the captcha token is stale or was already used",
        ErrorCode::EventNotTransactable => "this event is not sold through the API",
        ErrorCode::SoldOut => "no seats match the request",
        ErrorCode::InvalidState => "cannot purchase a checkout in state reserved",
        ErrorCode::HoldExpired => "the hold on the tickets ran out",
        ErrorCode::PaymentDeclined => "the payment was declined",
        ErrorCode::InvalidSecurityCode => "the card security code was rejected",
        ErrorCode::IdempotencyKeyReused => "this Idempotency-Key was used for a different request",
        ErrorCode::IdempotencyKeyInUse => "a request with this Idempotency-Key is still running",
        ErrorCode::MaintenanceWindow => {
            "the venue's ticketing system is in nightly maintenance until 2026-11-25T11:00:00+00:00"
        }
        ErrorCode::RateLimited => "too many requests from this user or address",
        ErrorCode::UpstreamUnavailable => "ticketing did not answer; nothing was changed",
        ErrorCode::PurchaseUnconfirmed => {
            "the purchase was sent but its answer was lost; it is not confirmed either way yet"
        }
        ErrorCode::PayloadTooLarge => "the body is larger than 65536 bytes",
        ErrorCode::MethodNotAllowed => "this route takes GET, DELETE",
        ErrorCode::Internal => "internal error; read the checkout before trying again",
    };
    let error = if code == ErrorCode::ValidationFailed {
        ApiError::validation(vec![
            FieldError::new("tickets[0].quantity", "must be greater than 0"),
            FieldError::new(
                "billing.address.country",
                "must be an ISO 3166 alpha-2 code",
            ),
        ])
    } else {
        ApiError::new(code, detail)
    };
    // Refusals that come from upstream carry its code (the Partner API's numbers); those that
    // end a checkout already created name it.
    let upstream_code = match code {
        ErrorCode::SoldOut => Some(wire::codes::NO_INVENTORY),
        ErrorCode::PaymentDeclined => Some(wire::codes::PAYMENT_NOT_ACCEPTED),
        ErrorCode::InvalidSecurityCode => Some(wire::codes::INVALID_SECURITY_CODE),
        _ => None,
    };
    let about_checkout = upstream_code.is_some() || code == ErrorCode::HoldExpired;
    let error = ApiError {
        upstream_code,
        checkout_id: about_checkout.then(|| CHECKOUT_ID.to_owned()),
        ..error
    };
    serde_json::to_value(error.body()).unwrap_or(Value::Null)
}
