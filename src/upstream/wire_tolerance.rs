//! The tolerant reader held to account over every recorded reply (`tests/fixtures/upstream/`):
//! for each wire type, an unknown field added to every object changes nothing; and of every
//! field, removed or set to null one at a time, exactly the ones the gateway cannot do without
//! break the read — listed here per type, so loosening or tightening one shows up.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::wire;

/// One recorded reply, the type it is read as, and the fields (as JSON pointers, list indexes
/// as `*`) whose absence must fail the read.
struct Fixture {
    name: &'static str,
    json: &'static str,
    reads: fn(&Value) -> Option<Value>,
    required: &'static [&'static str],
}

/// Reads `value` as `T` and back (so two reads can be compared), or `None` if it does not read.
fn read<T: DeserializeOwned + serde::Serialize>(value: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(value.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

macro_rules! fixture {
    ($file:literal as $ty:ty, required: [$($req:literal),* $(,)?]) => {
        Fixture {
            name: $file,
            json: include_str!(concat!("../../tests/fixtures/upstream/", $file, ".json")),
            reads: read::<$ty>,
            required: &[$($req),*],
        }
    };
}

fn fixtures() -> Vec<Fixture> {
    vec![
        fixture!("event" as wire::EventResponse, required: [
            "/event", "/event/id", "/event/venue", "/event/venue/location",
            "/event/venue/location/time_zone",
        ]),
        fixture!("cart" as wire::CartResponse, required: ["/cart"]),
        fixture!("cart_session" as wire::CartSession, required: ["/cart_id"]),
        fixture!("certificate" as wire::Certificate, required: ["/id", "/value"]),
        fixture!("purchase_response" as wire::PurchaseResponse, required: ["/order_token"]),
        fixture!("purchase_response_example" as wire::PurchaseResponse, required: ["/order_token"]),
        fixture!("unredeemed_orders" as wire::UnredeemedOrders, required: []),
        fixture!("polling" as wire::PollingResponse, required: ["/polling_url"]),
        fixture!("access_token" as wire::AccessTokenResponse, required: ["/access_token"]),
        fixture!("error_no_inventory" as wire::ErrorBody, required: ["/error", "/error/code"]),
        fixture!("error_payment_not_accepted" as wire::ErrorBody, required: ["/error", "/error/code"]),
        fixture!("error_captcha_invalid" as wire::ErrorBody, required: ["/error", "/error/code"]),
        fixture!("fault_invalid_apikey" as wire::FaultBody, required: [
            "/fault", "/fault/detail", "/fault/detail/errorcode",
        ]),
    ]
}

/// Every object's pointer in `value`, and every field's (list indexes written `*`).
fn pointers(value: &Value, at: &str, objects: &mut Vec<String>, fields: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            objects.push(at.to_owned());
            for (key, child) in map {
                let path = format!("{at}/{key}");
                fields.insert(path.clone());
                pointers(child, &path, objects, fields);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, &format!("{at}/{i}"), objects, fields);
            }
        }
        _ => {}
    }
}

/// `path` with list indexes written `*`.
fn generic(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
                "*"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `value` with the field at `path` removed, or set to null.
fn without(value: &Value, path: &str, null: bool) -> Value {
    let mut changed = value.clone();
    let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
    if let Some(Value::Object(map)) = changed.pointer_mut(parent) {
        if null {
            map.insert(key.to_owned(), Value::Null);
        } else {
            map.remove(key);
        }
    }
    changed
}

#[test]
fn unknown_fields_anywhere_change_nothing() {
    for f in fixtures() {
        let original: Value = serde_json::from_str(f.json).expect("fixture JSON");
        let read_first = (f.reads)(&original).unwrap_or_else(|| panic!("{} reads", f.name));
        let (mut objects, mut fields) = (Vec::new(), BTreeSet::new());
        pointers(&original, "", &mut objects, &mut fields);
        let mut extended = original.clone();
        for at in &objects {
            if let Some(Value::Object(map)) = extended.pointer_mut(at) {
                map.insert(
                    "x_added_by_upstream".into(),
                    serde_json::json!({"n": [1, "2"]}),
                );
            }
        }
        assert_eq!((f.reads)(&extended), Some(read_first), "{}", f.name);
    }
}

#[test]
fn only_the_fields_the_gateway_needs_are_required() {
    for f in fixtures() {
        let original: Value = serde_json::from_str(f.json).expect("fixture JSON");
        assert!((f.reads)(&original).is_some(), "{} reads", f.name);
        let (mut objects, mut fields) = (Vec::new(), BTreeSet::new());
        pointers(&original, "", &mut objects, &mut fields);
        for null in [false, true] {
            let breaking: BTreeSet<String> = fields
                .iter()
                .filter(|path| (f.reads)(&without(&original, path, null)).is_none())
                .map(|path| generic(path))
                .collect();
            let required: BTreeSet<String> = f.required.iter().map(|r| r.to_string()).collect();
            let how = if null { "null" } else { "missing" };
            assert_eq!(
                breaking, required,
                "{}: fields that break the read when {how}",
                f.name
            );
        }
    }
}

#[test]
fn numbers_read_as_strings_and_strings_as_numbers() {
    let cart = r#"{"cart": {"hold_time": "299", "items": [{"num_seats": "2", "row": 7,
        "section": "A", "start_seat_number": 1, "end_seat_number": 2,
        "totals": {"grand": "50.00", "currency_code": "USD"}}],
        "totals": {"grand": "50.00", "tax": 0}}}"#;
    let cart: wire::CartResponse = serde_json::from_str(cart).expect("a cart");
    assert_eq!(cart.cart.hold_time, Some(299));
    assert_eq!(cart.cart.items[0].num_seats, 2);
    assert_eq!(cart.cart.items[0].row, "7");
    assert_eq!(cart.cart.totals.map(|t| t.grand), Some(50.0));
    let token = r#"{"access_token": "t", "expires_in": 3599, "issued_at": 1448168101229}"#;
    let token: wire::AccessTokenResponse = serde_json::from_str(token).expect("a token");
    assert_eq!(token.expires_in, "3599");
    let order = r#"{"data": [{"purchase_date_time": "1441341339000", "email_status": "2",
        "event_id": "E", "order_token": "o", "purchase_email_address": null}]}"#;
    let orders: wire::UnredeemedOrders = serde_json::from_str(order).expect("orders");
    assert_eq!(orders.data[0].purchase_date_time, 1_441_341_339_000);
    assert_eq!(orders.data[0].purchase_email_address, None);
}
