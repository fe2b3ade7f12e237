//! Where a dialect switch changes the JSON shape of an answer rather than its outcome: the
//! answer is built from the wire types in the docs' shape, then reshaped here as a
//! `serde_json::Value`, so the wire types (shared with the client) keep the docs' shape.

use serde_json::Value;

use super::dialect::{EventRegion, HoldTime, UnredeemedEmail};

/// A cart answer's `cart.hold_time`, as a number (docs) or a string (`"299"`).
pub fn hold_time(body: &mut Value, style: HoldTime) {
    if style == HoldTime::Text
        && let Some(hold) = body.pointer_mut("/cart/hold_time")
        && let Some(secs) = hold.as_i64()
    {
        *hold = Value::String(secs.to_string());
    }
}

/// Every unredeemed order's `purchase_email_address`: kept, `null`, or left out.
pub fn unredeemed_email(body: &mut Value, style: UnredeemedEmail) {
    let Some(orders) = body.get_mut("data").and_then(Value::as_array_mut) else {
        return;
    };
    for order in orders.iter_mut().filter_map(Value::as_object_mut) {
        match style {
            UnredeemedEmail::Present => {}
            UnredeemedEmail::Null => {
                order.insert("purchase_email_address".into(), Value::Null);
            }
            UnredeemedEmail::Absent => {
                order.remove("purchase_email_address");
            }
        }
    }
}

/// An event answer's `event.venue.location.address.region`: kept or left out.
pub fn event_region(body: &mut Value, style: EventRegion) {
    if style == EventRegion::Absent
        && let Some(address) = body
            .pointer_mut("/event/venue/location/address")
            .and_then(Value::as_object_mut)
    {
        address.remove("region");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hold_time_becomes_a_string_only_when_asked() {
        let mut cart = json!({"cart": {"hold_time": 299, "items": []}});
        hold_time(&mut cart, HoldTime::Number);
        assert_eq!(cart["cart"]["hold_time"], json!(299));
        hold_time(&mut cart, HoldTime::Text);
        assert_eq!(cart["cart"]["hold_time"], json!("299"));
    }

    #[test]
    fn unredeemed_emails_are_kept_nulled_or_left_out() {
        let orders = json!({"data": [{"order_token": "a", "purchase_email_address": "x@y.z"}]});
        let mut kept = orders.clone();
        unredeemed_email(&mut kept, UnredeemedEmail::Present);
        assert_eq!(kept, orders);
        let mut nulled = orders.clone();
        unredeemed_email(&mut nulled, UnredeemedEmail::Null);
        assert_eq!(nulled["data"][0]["purchase_email_address"], Value::Null);
        let mut absent = orders;
        unredeemed_email(&mut absent, UnredeemedEmail::Absent);
        assert_eq!(absent, json!({"data": [{"order_token": "a"}]}));
    }

    #[test]
    fn the_region_is_left_out_only_when_asked() {
        let event = json!({"event": {"venue": {"location": {"address": {"city": "Seattle",
            "region": {"abbrev": "WA"}}}}}});
        let mut kept = event.clone();
        event_region(&mut kept, EventRegion::Present);
        assert_eq!(kept, event);
        let mut absent = event;
        event_region(&mut absent, EventRegion::Absent);
        assert_eq!(
            absent["event"]["venue"]["location"]["address"],
            json!({"city": "Seattle"})
        );
    }
}
