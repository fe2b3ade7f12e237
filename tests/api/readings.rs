//! The gateway under every reading of what the Partner-API docs leave open
//! (`docs/upstream-assumptions.md`): the sandbox acts each reading out (its dialect switches),
//! and the money outcomes must come out right under all of them — a purchase whose answer was
//! lost ends `purchased` with upstream's order whenever upstream made one, never `failed`; a
//! refusal delivered through a poll keeps its code; no hold is left behind.

use serde_json::Value;

use checkout_gateway::sandbox::Dialect;

use crate::helpers::*;
use crate::receiver::{Receiver, SECRET};

/// Every order token upstream holds.
fn upstream_orders(app: &TestApp) -> Vec<String> {
    app.sandbox()
        .orders_by_cart()
        .into_values()
        .flatten()
        .collect()
}

/// A purchase upstream made whose answer was lost, and whose order the lookups cannot see
/// for a while (the listing is down): `purchase_unconfirmed` after
/// `checkout.unconfirmed_after_secs`, then — once a later lookup finds the order — `purchased`
/// with it, and the partner is told by the signed webhook `checkout.purchase_confirmed`.
#[tokio::test]
async fn an_unconfirmed_purchase_found_later_becomes_purchased_and_the_partner_is_told() {
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    let app = spawn_app_with(&[
        ("unredeemed.webhook_url", url.as_str()),
        ("unredeemed.webhook_secret", SECRET),
        ("unredeemed.retry_initial_ms", "100"),
        ("checkout.unconfirmed_after_secs", "30"),
        ("sweeper.interval_secs", "1"),
    ])
    .await;
    let id = app.paid("late").await;
    app.sandbox().inject(fault("unredeemed:status=503:1000000"));
    app.sandbox().inject(fault("purchase:drop_after_commit:1"));
    let _ = app.purchase("late", &id).await;
    app.advance(31);
    let unconfirmed = app
        .wait_for_state(&id, "late", "purchase_unconfirmed")
        .await;
    assert_eq!(unconfirmed["error"]["code"], "purchase_unconfirmed");
    assert!(receiver.seen().is_empty(), "told before anything was known");

    // The listing comes back; the next lookup (a minute later) finds the order.
    app.sandbox().clear_faults();
    app.advance(61);
    let purchased = app.wait_for_state(&id, "late", "purchased").await;
    let token = purchased["order"]["order_token"].as_str().expect("a token");
    assert_eq!(upstream_orders(&app), vec![token.to_owned()]);
    let stats = app.sandbox().stats();
    assert_eq!(stats.purchase_calls_by_cart.values().sum::<u32>(), 1);

    receiver
        .wait_until("the purchase's confirmation", |seen| {
            seen.iter()
                .any(|m| m.body["type"] == "checkout.purchase_confirmed")
        })
        .await;
    let seen = receiver.seen();
    let message: &Value = &seen
        .iter()
        .find(|m| m.body["type"] == "checkout.purchase_confirmed")
        .expect("a confirmation")
        .body;
    assert!(seen.iter().all(|m| m.signature_valid));
    assert_eq!(message["data"]["checkout_id"], id.as_str());
    assert_eq!(message["data"]["user_id"], "late");
    assert_eq!(message["data"]["state"], "purchased");
    assert_eq!(message["data"]["order"]["order_token"], token);
    assert_eq!(
        message["data"]["order"]["order_id"],
        purchased["order"]["order_id"]
    );
}

/// The docs' cleanup advice: a client that no longer wants to wait through a reservation's
/// polling deletes the cart. A partner's DELETE of a checkout still `reserving` makes the worker
/// polling it send `DELETE /cart` at its next step: the seats come back without waiting for the
/// reservation to finish.
#[tokio::test]
async fn a_reservation_given_up_while_polling_deletes_its_cart() {
    let app = spawn_app_with(&[
        ("sandbox.force_polling", "true"),
        ("sandbox.poll_wait_secs", "2"),
    ])
    .await;
    let held = app.sandbox().stats().seats_held;
    let resp = app.create_waiting("quitter", 0).await;
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // Upstream holds the seats while the reservation's answer waits to be polled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.sandbox().stats().seats_held == held {
        assert!(std::time::Instant::now() < deadline, "nothing reserved");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let resp = app.release("quitter", &id, 0).await;
    assert_eq!(resp.status(), 202, "the release runs on");
    app.wait_for_state(&id, "quitter", "released").await;
    let stats = app.sandbox().stats();
    assert_eq!(stats.seats_held, held, "{stats:?}");
    assert_eq!(stats.carts_deleted, 1, "{stats:?}");
}

/// A DELETE that lands while the reservation's last call is out: the write that settles the
/// reservation returns the partner's release (`store::Written`), and the worker takes the
/// checkout again and deletes the cart. The DELETE waits through it and answers 204
/// (released), never `reserved` with seats still held.
#[tokio::test]
async fn a_release_asked_during_the_reservations_last_call_deletes_the_cart() {
    let app = spawn_app().await;
    app.sandbox().inject(fault("reserve:latency=1500:1"));
    let held = app.sandbox().stats().seats_held;
    let resp = app.create_waiting("late-quitter", 0).await;
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // The reservation takes 1.5 s upstream: the DELETE lands while it is out.
    eventually("the reserve sent", || async {
        let stats = app.sandbox().stats();
        stats
            .requests_by_operation
            .get("reserve")
            .is_some_and(|n| *n > 0)
    })
    .await;
    let resp = app.release("late-quitter", &id, 10).await;
    assert_eq!(resp.status(), 204, "released within the wait");
    let body = app
        .get_json(&format!("/v1/checkouts/{id}"), "late-quitter")
        .await;
    assert_eq!(body["state"], "released", "{body}");
    let stats = app.sandbox().stats();
    assert_eq!(stats.seats_held, held, "{stats:?}");
    assert_eq!(stats.carts_deleted, 1, "{stats:?}");
}

/// The values of one dialect switch, the default first.
fn values_of(switch: &str) -> &'static [&'static str] {
    checkout_gateway::sandbox::dialect::SWITCHES
        .iter()
        .find(|(name, _)| *name == switch)
        .map(|(_, values)| *values)
        .unwrap_or_else(|| panic!("no switch {switch}"))
}

/// Every combination of the values of `switches`, as dialects.
fn every_reading_of(switches: &[&str]) -> Vec<Dialect> {
    let mut readings: Vec<Vec<String>> = vec![Vec::new()];
    for switch in switches {
        readings = readings
            .into_iter()
            .flat_map(|set| {
                values_of(switch).iter().map(move |value| {
                    let mut set = set.clone();
                    set.push(format!("{switch}={value}"));
                    set
                })
            })
            .collect();
    }
    readings
        .iter()
        .map(|set| Dialect::parse(set).expect("a dialect"))
        .collect()
}

/// A purchase upstream made whose answer is lost at `lost_at` (a fault spec), under every
/// reading of what DELETE of a purchased cart answers and of what `days_from_purchase` counts:
/// it ends `purchased` with upstream's order, never `failed`, and upstream sees one purchase.
async fn a_lost_purchase_ends_purchased_under_every_reading(app: &TestApp, lost_at: &str) {
    for (i, dialect) in every_reading_of(&["delete_purchased", "days_from_purchase"])
        .into_iter()
        .enumerate()
    {
        app.sandbox().set_dialect(dialect);
        let user = format!("lost-{i}");
        let id = app.paid(&user).await;
        let before = app.sandbox().orders_by_cart();
        app.sandbox().inject(fault(lost_at));
        let _ = app.purchase(&user, &id).await;
        let body = app.wait_for_state(&id, &user, "purchased").await;
        let made: Vec<(String, Vec<String>)> = app
            .sandbox()
            .orders_by_cart()
            .into_iter()
            .filter(|(cart, _)| !before.contains_key(cart))
            .collect();
        assert_eq!(made.len(), 1, "{dialect}: {made:?}");
        let (cart, tokens) = &made[0];
        assert_eq!(tokens.len(), 1, "{dialect}: {made:?}");
        assert_eq!(
            body["order"]["order_token"],
            tokens[0].as_str(),
            "{dialect}: {body}"
        );
        let calls = app.sandbox().stats().purchase_calls_by_cart[cart];
        assert_eq!(calls, 1, "{dialect}: the purchase was sent again");
    }
}

#[tokio::test]
async fn a_purchase_whose_answer_is_lost_ends_purchased_under_every_reading() {
    let app = spawn_app().await;
    a_lost_purchase_ends_purchased_under_every_reading(&app, "purchase:drop_after_commit:1").await;
}

#[tokio::test]
async fn a_purchase_whose_poll_answer_is_lost_ends_purchased_under_every_reading() {
    let app = spawn_app_with(&[("sandbox.force_polling", "true")]).await;
    a_lost_purchase_ends_purchased_under_every_reading(&app, "poll:drop_after_commit:1").await;
}

/// A reserve refused as sold out, its answer delivered through a poll under each reading of
/// how an error comes through one (a 202 carrying the error, or the error's own status): the
/// partner gets 409 `sold_out` either way, never a 503.
#[tokio::test]
async fn a_sold_out_answered_through_a_poll_is_sold_out_under_every_reading() {
    let app = spawn_app_with(&[("sandbox.force_polling", "true")]).await;
    let ticket = tiny_event_held(&app).await;
    for dialect in every_reading_of(&["poll_errors"]) {
        app.sandbox().set_dialect(dialect);
        let late = app.create_checkout("late", TINY_EVENT, &ticket, 2).await;
        let body = assert_problem(late, 409, "sold_out").await;
        assert_eq!(body["upstream_code"], 20052, "{dialect}: {body}");
        let id = body["checkout_id"].as_str().expect("the checkout named");
        let checkout = app.get_json(&format!("/v1/checkouts/{id}"), "late").await;
        assert_eq!(checkout["state"], "failed", "{dialect}");
        assert_eq!(checkout["error"]["code"], "sold_out", "{dialect}");
    }
}

/// A release, and a hold that ran out, under every reading of what DELETE of a live, an
/// expired or an unknown cart answers and of the form `hold_time` takes: `released` /
/// `expired`, no seat held, and nothing owed afterwards.
#[tokio::test]
async fn releases_and_expired_holds_leave_nothing_held_under_every_reading() {
    let app = spawn_app_with(&[("sweeper.interval_secs", "1")]).await;
    let held = app.sandbox().stats().seats_held;
    for (i, dialect) in every_reading_of(&["delete_unknown", "hold_time"])
        .into_iter()
        .enumerate()
    {
        app.sandbox().set_dialect(dialect);
        let user = format!("release-{i}");
        let released = app.reserved(&user).await;
        let resp = app
            .request(
                reqwest::Method::DELETE,
                &format!("/v1/checkouts/{released}"),
                &user,
            )
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 204, "{dialect}");
        let expiring = app.reserved(&user).await;
        let body = app
            .get_json(&format!("/v1/checkouts/{expiring}"), &user)
            .await;
        let hold =
            chrono::DateTime::parse_from_rfc3339(body["hold_expires_at"].as_str().expect("a hold"))
                .expect("a time");
        let now = checkout_gateway::clock::Clock::now(&app.clock);
        let secs = (hold.with_timezone(&chrono::Utc) - now).num_seconds();
        // The sandbox holds 299 s; the gateway counts from the reserve, less its margin.
        assert!((280..=290).contains(&secs), "{dialect}: {secs} s");
        app.advance(300);
        let body = app.wait_for_state(&expiring, &user, "expired").await;
        assert_eq!(body["error"]["code"], "hold_expired", "{dialect}");
        assert!(seats_back_to(&app, held).await, "{dialect}: seats held");
        // The sandbox frees an expired hold itself; the owed DELETE is settled in the
        // background after the state turned, so wait for it rather than race it.
        let id = expiring.parse().expect("an id");
        eventually(&format!("{dialect}: the owed deletion settled"), || async {
            let stored = app.context.store.checkouts.get(id).await;
            stored
                .expect("read")
                .expect("the checkout")
                .operation
                .is_none()
        })
        .await;
    }
}

/// A payment under a certificate of each key size the docs allow a reading of (the example's
/// 1024 bits, or 2048): the card fields are encrypted under either, and a change of size at
/// upstream is a rotation the gateway follows (one more certificate fetch).
#[tokio::test]
async fn a_payment_goes_through_under_every_certificate_key() {
    let app = spawn_app().await;
    for dialect in every_reading_of(&["certificate_key"]) {
        app.sandbox().set_dialect(dialect);
        let id = app.reserved("key").await;
        let paid = app.pay("key", &id, TEST_CARD, "123").await;
        assert_eq!(paid.status(), 200, "{dialect}");
        let body: serde_json::Value = paid.json().await.expect("json");
        assert_eq!(body["state"], "payment_accepted", "{dialect}");
    }
}

/// A rotated certificate under both readings of what a stale key gets (a refusal naming the
/// key, or a plain "Payment Not Accepted"): the payment is retried once with the new
/// certificate and accepted; a real decline stays a decline.
#[tokio::test]
async fn a_stale_certificate_is_replaced_under_every_reading() {
    let app = spawn_app().await;
    let origin = app.sandbox().base_url().replace("/partners/v1", "");
    for dialect in every_reading_of(&["stale_certificate"]) {
        app.sandbox().set_dialect(dialect);
        app.paid("warm").await;
        let fetched = app.service.certificate_fetches();
        let rotated = app
            .client
            .post(format!("{origin}/_sandbox/certificate/rotate"))
            .send()
            .await
            .expect("rotate");
        assert!(rotated.status().is_success(), "{dialect}");
        let id = app.reserved("stale").await;
        let paid = app.pay("stale", &id, TEST_CARD, "123").await;
        assert_eq!(paid.status(), 200, "{dialect}");
        assert_eq!(app.service.certificate_fetches(), fetched + 1, "{dialect}");
        let declined = app.reserved("declined").await;
        let resp = app
            .pay("declined", &declined, "4000000000000002", "123")
            .await;
        assert_problem(resp, 402, "payment_declined").await;
    }
}

/// A whole purchase, the event read and the unredeemed-orders listing under the literal
/// dialect and under its opposite (every switch at its other reading at once: numbers as
/// strings, an event without a region, errors and polls on calls marked "Polling: No", HTML
/// 5xx bodies, the other quota header family, a null email …), with OAuth, forced polling and
/// a quota: nothing the gateway reads is unreadable.
#[tokio::test]
async fn a_whole_purchase_works_under_the_literal_and_the_opposite_readings() {
    for preset in ["literal", "opposite"] {
        let app = spawn_app_with(&[
            ("sandbox.dialect", preset),
            ("sandbox.force_polling", "true"),
            ("sandbox.requests_per_second", "100"),
            ("upstream.client_secret", "MzK3lcZuLpvGhD9Z"),
            ("admin.token", "admin-token-for-readings-tests-0123456789"),
        ])
        .await;
        let event = app.get_json(&format!("/v1/events/{EVENT}"), "whole").await;
        assert_eq!(event["event_id"], EVENT, "{preset}: {event}");
        assert!(event["web_url"].is_string(), "{preset}: {event}");
        let id = app.paid("whole").await;
        let resp = app.purchase("whole", &id).await;
        assert_eq!(resp.status(), 200, "{preset}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["state"], "purchased", "{preset}: {body}");
        let listed = app
            .client
            .get(format!(
                "{}/admin/unredeemed-orders?days_from_purchase=0",
                app.admin_address
            ))
            .bearer_auth("admin-token-for-readings-tests-0123456789")
            .send()
            .await
            .expect("listing");
        assert_eq!(listed.status(), 200, "{preset}");
        let metrics = app
            .client
            .get(format!("{}/metrics", app.admin_address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let unreadable: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("gateway_upstream_unreadable_total") && !l.ends_with(" 0"))
            .collect();
        assert!(unreadable.is_empty(), "{preset}: {unreadable:?}");
    }
}

/// Every documented refusal that can come through a poll, under both readings of how it comes
/// (a 202 carrying the error, or its own status), with the calls marked "Polling: No" polling
/// too: a stale captcha is `captcha_invalid`, a declined card `payment_declined`, a wrong CVV
/// `invalid_security_code` — never `upstream_unavailable`.
#[tokio::test]
async fn refusals_through_polls_keep_their_codes_under_every_reading() {
    let app = spawn_app_with(&[("sandbox.force_polling", "true")]).await;
    for dialect in every_reading_of(&["poll_errors", "unmarked_polling"]) {
        app.sandbox().set_dialect(dialect);
        let stale = app
            .request(reqwest::Method::POST, "/v1/checkouts", "refused")
            .json(&serde_json::json!({
                "event_id": EVENT,
                "captcha_token": "invalid-token",
                "tickets": [{"ticket_id": TICKET, "quantity": 1}]
            }))
            .send()
            .await
            .expect("request");
        assert_problem(stale, 422, "captcha_invalid").await;
        let id = app.reserved("refused").await;
        let declined = app.pay("refused", &id, "4000000000000002", "123").await;
        assert_problem(declined, 402, "payment_declined").await;
        let wrong_cvv = app.pay("refused", &id, TEST_CARD, "999").await;
        assert_problem(wrong_cvv, 402, "invalid_security_code").await;
        let accepted = app.pay("refused", &id, TEST_CARD, "123").await;
        assert_eq!(accepted.status(), 200, "{dialect}");
    }
}

/// The captcha page under every reading of what upstream says about caching it: served again
/// from the gateway's cache unless upstream says `no-store`, the same page either way.
#[tokio::test]
async fn the_captcha_page_is_cached_only_as_upstream_allows_under_every_reading() {
    for dialect in every_reading_of(&["captcha_cache"]) {
        // A fresh app per reading: the cache of one reading must not serve the next.
        let app = spawn_app().await;
        app.sandbox().set_dialect(dialect);
        for _ in 0..3 {
            let resp = app
                .request(reqwest::Method::GET, "/v1/captcha", "reader")
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 200, "{dialect}");
            assert!(resp.text().await.expect("page").contains("g-recaptcha"));
        }
        let reads = app.sandbox().stats().requests_by_operation["captcha"];
        let expected =
            if dialect.captcha_cache == checkout_gateway::sandbox::dialect::CaptchaCache::NoStore {
                3
            } else {
                1
            };
        assert_eq!(reads, expected, "{dialect}");
    }
}
