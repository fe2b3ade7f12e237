//! The gateway under every reading of what the Partner-API docs leave open
//! (`docs/upstream-assumptions.md`): the sandbox acts each reading out (its dialect switches),
//! and the money outcomes must come out right under all of them — a purchase whose answer was
//! lost ends `purchased` with upstream's order whenever upstream made one, never `failed`; a
//! refusal delivered through a poll keeps its code; no hold is left behind.

use serde_json::Value;

use checkout_gateway::sandbox::Fault;

use crate::helpers::*;
use crate::receiver::{Receiver, SECRET};

fn fault(spec: &str) -> Fault {
    spec.parse().expect("fault spec")
}

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
    let resp = app
        .client
        .post(format!("{}/v1/checkouts", app.address))
        .bearer_auth(token_for("quitter"))
        .header("Prefer", "wait=0")
        .json(&serde_json::json!({
            "event_id": EVENT,
            "captcha_token": fresh_captcha(),
            "tickets": [{"ticket_id": TICKET, "quantity": 2}]
        }))
        .send()
        .await
        .expect("request");
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
    let resp = app
        .client
        .delete(format!("{}/v1/checkouts/{id}", app.address))
        .bearer_auth(token_for("quitter"))
        .header("Prefer", "wait=0")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 202, "the release runs on");
    app.wait_for_state(&id, "quitter", "released").await;
    let stats = app.sandbox().stats();
    assert_eq!(stats.seats_held, held, "{stats:?}");
    assert_eq!(stats.carts_deleted, 1, "{stats:?}");
}
