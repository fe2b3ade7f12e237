//! Another user's checkout or order is `404 not_found` on every route, answered exactly as an
//! id that never existed would be, and the intruder's call changes nothing: the owner's
//! checkout keeps its state and upstream sees no call made on the intruder's behalf.
//!
//! Every test works on a real resource of the owner (a reserved or paid checkout, a purchased
//! order), because a 404 for a made-up id proves nothing about ownership.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

const OWNER: &str = "owner";
const INTRUDER: &str = "intruder";
/// An id of the right shape that no checkout has: what "does not exist" answers.
const UNKNOWN_CHECKOUT: &str = "chk_00000000000000000000000000000000";
const UNKNOWN_ORDER: &str = "ord_00000000000000000000000000000000";

/// The upstream calls made so far, per operation: an intruder's request must add none.
fn upstream_calls(app: &TestApp) -> std::collections::BTreeMap<String, u64> {
    app.sandbox().stats().requests_by_operation
}

/// The owner's view of a checkout, read without waiting.
async fn owners_view(app: &TestApp, id: &str) -> Value {
    let resp = app
        .client
        .get(format!("{}/v1/checkouts/{id}", app.address))
        .bearer_auth(token_for(OWNER))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200, "the owner still sees the checkout");
    resp.json().await.expect("json body")
}

/// `resp` is a 404 `not_found` that says no more than the answer for an unknown id did.
async fn assert_same_not_found(resp: reqwest::Response, unknown: reqwest::Response) {
    let foreign = assert_problem(resp, 404, "not_found").await;
    let unknown = assert_problem(unknown, 404, "not_found").await;
    for field in ["type", "title", "detail", "code", "status"] {
        assert_eq!(
            foreign[field], unknown[field],
            "`{field}` tells a foreign resource from a missing one"
        );
    }
    assert!(
        foreign.get("checkout_id").is_none(),
        "the problem names the checkout: {foreign}"
    );
}

/// The checkout's fields an intruder could have changed.
fn fingerprint(checkout: &Value) -> Value {
    serde_json::json!({
        "state": checkout["state"],
        "payment": checkout["payment"],
        "order": checkout["order"],
        "hold_expires_at": checkout["hold_expires_at"],
        "updated_at": checkout["updated_at"],
    })
}

/// `method` on the owner's `owned` path and on the never-existing `unknown` one, both as the
/// intruder: the two answers must be the same 404.
async fn intruder_gets_not_found(app: &TestApp, method: Method, owned: &str, unknown: &str) {
    let send = |path: &str| app.request(method.clone(), path, INTRUDER).send();
    let resp = send(owned).await.unwrap();
    let unknown = send(unknown).await.unwrap();
    assert_same_not_found(resp, unknown).await;
}

#[tokio::test]
async fn another_users_checkout_is_not_found_on_get() {
    let app = spawn_app().await;
    let id = app.reserved(OWNER).await;
    let before = owners_view(&app, &id).await;
    let calls = upstream_calls(&app);

    intruder_gets_not_found(
        &app,
        Method::GET,
        &format!("/v1/checkouts/{id}"),
        &format!("/v1/checkouts/{UNKNOWN_CHECKOUT}"),
    )
    .await;

    assert_eq!(upstream_calls(&app), calls);
    let after = owners_view(&app, &id).await;
    assert_eq!(after["state"], "reserved");
    assert_eq!(fingerprint(&after), fingerprint(&before));
}

#[tokio::test]
async fn another_users_checkout_cannot_be_paid() {
    let app = spawn_app().await;
    let id = app.reserved(OWNER).await;
    let before = owners_view(&app, &id).await;
    let calls = upstream_calls(&app);

    let resp = app.pay(INTRUDER, &id, TEST_CARD, "123").await;
    let unknown = app.pay(INTRUDER, UNKNOWN_CHECKOUT, TEST_CARD, "123").await;
    assert_same_not_found(resp, unknown).await;

    assert_eq!(upstream_calls(&app), calls, "no payment was sent upstream");
    let after = owners_view(&app, &id).await;
    assert_eq!(after["state"], "reserved");
    assert!(after["payment"].is_null(), "{after}");
    assert_eq!(fingerprint(&after), fingerprint(&before));
    // The owner's own payment still goes through.
    assert_eq!(app.pay(OWNER, &id, TEST_CARD, "123").await.status(), 200);
}

#[tokio::test]
async fn another_users_checkout_cannot_be_purchased() {
    let app = spawn_app().await;
    let id = app.paid(OWNER).await;
    let before = owners_view(&app, &id).await;
    let calls = upstream_calls(&app);

    let resp = app.purchase(INTRUDER, &id).await;
    let unknown = app.purchase(INTRUDER, UNKNOWN_CHECKOUT).await;
    assert_same_not_found(resp, unknown).await;

    assert_eq!(upstream_calls(&app), calls, "no purchase was sent upstream");
    assert_eq!(app.sandbox().stats().orders, 0);
    let after = owners_view(&app, &id).await;
    assert_eq!(after["state"], "payment_accepted");
    assert_eq!(fingerprint(&after), fingerprint(&before));
    // The owner's own purchase still goes through, once.
    let bought: Value = app.purchase(OWNER, &id).await.json().await.unwrap();
    assert_eq!(bought["state"], "purchased", "{bought}");
    assert_eq!(app.sandbox().stats().orders, 1);
}

#[tokio::test]
async fn another_users_checkout_cannot_be_released() {
    let app = spawn_app().await;
    let id = app.reserved(OWNER).await;
    let before = owners_view(&app, &id).await;
    let held = app.sandbox().stats().seats_held;
    assert!(held > 0, "the reservation holds seats");
    let calls = upstream_calls(&app);

    intruder_gets_not_found(
        &app,
        Method::DELETE,
        &format!("/v1/checkouts/{id}"),
        &format!("/v1/checkouts/{UNKNOWN_CHECKOUT}"),
    )
    .await;

    assert_eq!(upstream_calls(&app), calls, "no DELETE was sent upstream");
    let stats = app.sandbox().stats();
    assert_eq!(stats.seats_held, held, "the owner's seats are still held");
    assert_eq!(stats.carts_deleted, 0);
    let after = owners_view(&app, &id).await;
    assert_eq!(after["state"], "reserved");
    assert_eq!(fingerprint(&after), fingerprint(&before));
}

#[tokio::test]
async fn another_users_purchased_checkout_is_not_found_rather_than_invalid_state() {
    // The owner's DELETE of a purchased checkout is 409 invalid_state, the intruder's
    // purchase 200 would replay the order: both would reveal that the checkout exists.
    let app = spawn_app().await;
    let id = app.paid(OWNER).await;
    let bought: Value = app.purchase(OWNER, &id).await.json().await.unwrap();
    assert_eq!(bought["state"], "purchased", "{bought}");
    let before = owners_view(&app, &id).await;

    let delete = app
        .request(Method::DELETE, &format!("/v1/checkouts/{id}"), INTRUDER)
        .send()
        .await
        .unwrap();
    assert_problem(delete, 404, "not_found").await;
    let again = app.purchase(INTRUDER, &id).await;
    let body = assert_problem(again, 404, "not_found").await;
    assert!(body.get("order").is_none(), "{body}");
    let pay = app.pay(INTRUDER, &id, TEST_CARD, "123").await;
    assert_problem(pay, 404, "not_found").await;

    let after = owners_view(&app, &id).await;
    assert_eq!(after["state"], "purchased");
    assert_eq!(fingerprint(&after), fingerprint(&before));
    assert_eq!(app.sandbox().stats().orders, 1);
}

#[tokio::test]
async fn an_idempotency_key_of_the_owner_replays_nothing_for_an_intruder() {
    // Keys are per user: the intruder reusing the owner's key must not get the owner's
    // stored answer (the purchased checkout and its order) back.
    let app = spawn_app().await;
    let id = app.paid(OWNER).await;
    let path = format!("/v1/checkouts/{id}/purchase");
    let owners = app
        .request(Method::POST, &path, OWNER)
        .header("Idempotency-Key", "shared-key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(owners.status(), 200);

    let intruders = app
        .request(Method::POST, &path, INTRUDER)
        .header("Idempotency-Key", "shared-key-1")
        .send()
        .await
        .unwrap();
    assert!(intruders.headers().get("idempotent-replayed").is_none());
    assert_problem(intruders, 404, "not_found").await;
    assert_eq!(app.sandbox().stats().orders, 1);
}

#[tokio::test]
async fn another_users_order_is_not_found_and_not_listed() {
    let app = spawn_app().await;
    let id = app.paid(OWNER).await;
    let bought: Value = app.purchase(OWNER, &id).await.json().await.unwrap();
    assert_eq!(bought["state"], "purchased", "{bought}");
    let order_id = bought["order"]["order_id"].as_str().unwrap().to_owned();

    intruder_gets_not_found(
        &app,
        Method::GET,
        &format!("/v1/orders/{order_id}"),
        &format!("/v1/orders/{UNKNOWN_ORDER}"),
    )
    .await;

    // The intruder's listing, even paged from a cursor next to the owner's order, shows
    // nothing of it.
    let listing = app.get_json("/v1/orders", INTRUDER).await;
    assert_eq!(listing["orders"], serde_json::json!([]), "{listing}");
    assert!(listing["next_cursor"].is_null(), "{listing}");
    assert!(!listing.to_string().contains(&order_id));
    let far_future = format!("99999999999999.{UNKNOWN_ORDER}");
    let paged = app
        .get_json(&format!("/v1/orders?cursor={far_future}"), INTRUDER)
        .await;
    assert!(!paged.to_string().contains(&order_id), "{paged}");

    // The owner's order is untouched and still theirs.
    let owners = app.get_json(&format!("/v1/orders/{order_id}"), OWNER).await;
    assert_eq!(owners["order_id"], order_id.as_str(), "{owners}");
    let list = app.get_json("/v1/orders", OWNER).await;
    assert_eq!(list["orders"][0]["order_id"], order_id.as_str(), "{list}");
    assert_eq!(owners_view(&app, &id).await["state"], "purchased");
}
