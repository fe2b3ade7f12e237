//! The purchase flow end to end, and the guarantees around it.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_whole_purchase_through_the_gateway() {
    let app = spawn_app().await;
    let event = app.get_json(&format!("/v1/events/{EVENT}"), "alice").await;
    assert_eq!(event["transactable"], true);
    assert_eq!(event["timezone"], "America/Los_Angeles");
    assert_eq!(event["ticket_types"][0]["ticket_id"], TICKET);
    assert!(event["maintenance"]["next_window_starts_at"].is_string());

    let id = app.reserved("alice").await;
    let paid = app.pay("alice", &id, TEST_CARD, "123").await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["state"], "payment_accepted");
    assert_eq!(paid["payment"]["last4"], "0011");
    assert_eq!(paid["payment"]["brand"], "visa");

    let bought = app.purchase("alice", &id).await;
    assert_eq!(bought.status(), 200);
    let bought: Value = bought.json().await.unwrap();
    assert_eq!(bought["state"], "purchased");
    let order_id = bought["order"]["order_id"].as_str().unwrap().to_owned();
    assert!(order_id.starts_with("ord_"));
    assert!(
        bought["order"]["redemption_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(bought["order"]["grand_total"], bought["totals"]["grand"]);

    let orders = app.get_json("/v1/orders", "alice").await;
    assert_eq!(orders["orders"][0]["order_id"], order_id.as_str());
    let order = app
        .request(Method::GET, &format!("/v1/orders/{order_id}"), "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 200);
    let stats = app.sandbox().stats();
    assert_eq!(stats.orders, 1);
    assert_eq!(stats.concurrent_update_violations, 0);
}

#[tokio::test]
async fn forced_polling_is_followed_without_early_or_stale_polls() {
    let app = spawn_app_with(&[
        ("sandbox.force_polling", "true"),
        ("upstream.force_polling", "true"),
    ])
    .await;
    let id = app.paid("bob").await;
    let bought = app.purchase("bob", &id).await;
    assert_eq!(bought.status(), 200);
    let bought: Value = bought.json().await.unwrap();
    assert_eq!(bought["state"], "purchased");
    let stats = app.sandbox().stats();
    assert_eq!(stats.early_polls, 0, "{stats:?}");
    assert_eq!(stats.stale_polls, 0, "{stats:?}");
    assert_eq!(stats.concurrent_update_violations, 0, "{stats:?}");
    assert_eq!(stats.missing_true_client_ip, 0, "{stats:?}");
}

#[tokio::test]
async fn a_short_wait_answers_202_and_the_checkout_settles_later() {
    let app = spawn_app_with(&[
        ("sandbox.force_polling", "true"),
        ("sandbox.poll_wait_secs", "1"),
    ])
    .await;
    let resp = app
        .client
        .post(format!("{}/v1/checkouts", app.address))
        .bearer_auth(token_for("carol"))
        .header("Prefer", "wait=0")
        .json(
            &serde_json::json!({"event_id": EVENT, "captcha_token": fresh_captcha(),
            "tickets": [{"ticket_id": TICKET, "quantity": 1}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(resp.headers().get("retry-after").is_some());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], "reserving");
    let settled = app.get_json(&location, "carol").await;
    assert_eq!(settled["state"], "reserved");
}

#[tokio::test]
async fn concurrent_purchases_send_one_purchase_and_agree_on_the_order() {
    let app = spawn_app().await;
    let id = app.paid("dave").await;
    let requests = (0..20).map(|_| app.purchase("dave", &id));
    let responses = futures::future::join_all(requests).await;
    let mut orders = std::collections::HashSet::new();
    for resp in responses {
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        orders.insert(body["order"]["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(orders.len(), 1, "{orders:?}");
    let stats = app.sandbox().stats();
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        1,
        "{stats:?}"
    );
    assert_eq!(stats.concurrent_update_violations, 0);
}

#[tokio::test]
async fn delete_releases_the_hold_and_is_idempotent() {
    let app = spawn_app().await;
    let id = app.reserved("erin").await;
    let held = app.sandbox().stats().seats_held;
    assert!(held >= 2);
    for _ in 0..2 {
        let resp = app
            .request(Method::DELETE, &format!("/v1/checkouts/{id}"), "erin")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    assert_eq!(app.sandbox().stats().seats_held, held - 2);
    let body = app.get_json(&format!("/v1/checkouts/{id}"), "erin").await;
    assert_eq!(body["state"], "released");
}

#[tokio::test]
async fn a_declined_card_keeps_the_hold_and_another_card_can_follow() {
    let app = spawn_app().await;
    let id = app.reserved("fay").await;
    let declined = app.pay("fay", &id, "4000000000000002", "123").await;
    let body = assert_problem(declined, 402, "payment_declined").await;
    assert_eq!(body["upstream_code"], 20122);
    let again = app.pay("fay", &id, TEST_CARD, "123").await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn fifty_mixed_concurrent_calls_never_overlap_upstream() {
    let app = spawn_app_with(&[
        ("sandbox.force_polling", "true"),
        ("sandbox.poll_wait_secs", "0.1"),
    ])
    .await;
    let id = app.reserved("mixed").await;
    let path = format!("/v1/checkouts/{id}");
    let calls = (0..50).map(|i| {
        let req = match i % 5 {
            0 | 1 => app.request(Method::GET, &path, "mixed"),
            2 => app
                .request(Method::PUT, &format!("{path}/payment"), "mixed")
                .json(&payment_body(TEST_CARD, "123")),
            3 => app.request(Method::POST, &format!("{path}/purchase"), "mixed"),
            _ => app.request(Method::DELETE, &path, "mixed"),
        };
        req.send()
    });
    for resp in futures::future::join_all(calls).await {
        let status = resp.unwrap().status().as_u16();
        assert!(status < 500, "a 5xx among the mixed calls: {status}");
    }
    let body = app.get_json(&path, "mixed").await;
    let state = body["state"].as_str().unwrap();
    assert!(
        ["purchased", "released", "payment_accepted", "reserved"].contains(&state),
        "{body}"
    );
    let stats = app.sandbox().stats();
    assert_eq!(stats.concurrent_update_violations, 0, "{stats:?}");
    assert_eq!(stats.early_polls, 0, "{stats:?}");
    assert_eq!(stats.stale_polls, 0, "{stats:?}");
    assert!(
        stats.purchase_calls_by_cart.values().all(|n| *n <= 1),
        "{stats:?}"
    );
}
