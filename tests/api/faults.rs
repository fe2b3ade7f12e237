//! Upstream failing for real (the sandbox's fault injection): lost purchase answers are
//! reconciled, never re-sent; reads are retried; 429s are waited out.

use reqwest::Method;
use serde_json::Value;

use checkout_gateway::sandbox::SandboxStats;

use crate::helpers::*;

/// A purchase answered with `status` and nothing more (the sandbox refuses it before anything
/// happens), with the faults `more` beside it. A 5xx proves nothing either way (the docs'
/// "Internal error occurred"), nor does a status the docs do not define, so no order upstream
/// must never be read as "nothing was charged": the checkout ends `purchase_unconfirmed` once
/// `checkout.unconfirmed_after_secs` has passed with no order found, the purchase is never
/// sent again (the fault applies once: a second send would buy), and its seats are given back.
/// The sandbox's figures after.
async fn unanswered_purchase_ends_unconfirmed_with_the_hold_released(
    user: &str,
    status: u16,
    more: &[&str],
) -> SandboxStats {
    let app = spawn_app_with(&[("checkout.unconfirmed_after_secs", "30")]).await;
    let held = app.sandbox().stats().seats_held;
    let id = app.paid(user).await;
    app.sandbox()
        .inject(fault(&format!("purchase:status={status}:1")));
    for spec in more {
        app.sandbox().inject(fault(spec));
    }
    let _ = app.purchase(user, &id).await;
    // Three lookups find nothing, and still the cart is not deleted: the purchase may be
    // running upstream, and a DELETE beside it would be a second update of the cart in flight.
    eventually("three order lookups", || async {
        app.sandbox()
            .stats()
            .requests_by_operation
            .get("unredeemed")
            .is_some_and(|n| *n >= 6)
    })
    .await;
    let meanwhile = app.sandbox().stats();
    assert_eq!(meanwhile.carts_deleted, 0, "{meanwhile:?}");
    assert_ne!(meanwhile.seats_held, held, "{meanwhile:?}");
    app.advance(31);
    let body = app.wait_for_state(&id, user, "purchase_unconfirmed").await;
    assert_eq!(body["error"]["code"], "purchase_unconfirmed", "{body}");
    assert!(body["order"].is_null(), "{body}");
    let said = body.to_string();
    assert!(!said.contains("nothing was charged"), "{said}");
    // A repeated purchase request answers where it stands, and sends nothing.
    let again = app.purchase(user, &id).await;
    assert_eq!(again.status(), 202);
    let stats = app.sandbox().stats();
    assert_eq!(stats.orders, 0, "{stats:?}");
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        0,
        "{stats:?}"
    );
    assert!(seats_back_to(&app, held).await, "the hold was not released");
    app.sandbox().stats()
}

#[tokio::test]
async fn a_purchase_answered_with_a_5xx_is_never_resent_and_ends_unconfirmed_with_the_hold_released()
 {
    unanswered_purchase_ends_unconfirmed_with_the_hold_released("refused", 500, &[]).await;
}

#[tokio::test]
async fn a_purchase_answered_with_a_status_the_docs_do_not_define_is_never_resent_nor_failed() {
    // A 409, a 403 or a redirect says nothing the docs define about the purchase: it may have
    // been made. (Before, a 409 was read as "busy, not sent" and the purchase sent again; a
    // bare 403 as a refusal, "nothing was charged".)
    let each =
        [("conflict", 409), ("forbidden", 403), ("redirected", 303)].map(|(user, status)| {
            unanswered_purchase_ends_unconfirmed_with_the_hold_released(user, status, &[])
        });
    futures::future::join_all(each).await;
}

#[tokio::test]
async fn a_refused_poll_of_a_purchase_upstream_took_is_reconciled_to_its_order() {
    // Upstream took the purchase (202 and a polling URL) and made the order; the poll is then
    // refused for reasons of its own. That is not the purchase's answer: the order is found,
    // never "failed".
    let app = polling_app_losing_the_next_poll().await;
    let id = app.paid("refused-poll").await;
    app.sandbox().inject(fault("poll:status=403:1"));
    let _ = app.purchase("refused-poll", &id).await;
    let body = app.wait_for_state(&id, "refused-poll", "purchased").await;
    assert!(body["order"]["order_token"].is_string(), "{body}");
    let stats = app.sandbox().stats();
    assert_eq!(stats.orders, 1, "{stats:?}");
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        1,
        "the purchase was sent again: {stats:?}"
    );
}

#[tokio::test]
async fn reads_and_polls_are_retried_through_5xx() {
    let app = spawn_app_with(&[("sandbox.force_polling", "true")]).await;
    app.sandbox().inject(fault("event:status=503:2"));
    let event = app
        .request(Method::GET, &format!("/v1/events/{EVENT}"), "r")
        .send()
        .await
        .unwrap();
    assert_eq!(event.status(), 200);
    app.sandbox().inject(fault("poll:status=500:2"));
    app.reserved("r").await;
    assert!(app.sandbox().stats().faults_injected >= 4);
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_purchase_still_happens_once() {
    let app = spawn_app().await;
    let id = app.paid("q").await;
    app.sandbox().inject(fault("purchase:rate_limit=300:1"));
    let resp = app.purchase("q", &id).await;
    assert_eq!(resp.status(), 200);
    let stats = app.sandbox().stats();
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        1,
        "{stats:?}"
    );
    assert_eq!(stats.orders, 1);
}

/// Every send of the purchase refused at the API's gate (the quota's 429, which upstream
/// answers before acting): after the driver's retries it fails — nothing left, so nothing was
/// charged, and the partner may start again — never `purchase_unconfirmed` ("may have been
/// charged"), which was the answer before.
#[tokio::test]
async fn a_purchase_refused_at_the_gate_every_time_fails_as_never_sent() {
    let app = spawn_app().await;
    let id = app.paid("gated").await;
    app.sandbox().inject(fault("purchase:rate_limit=20"));
    let _ = app.purchase("gated", &id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let body = loop {
        let body = app.get_json(&format!("/v1/checkouts/{id}"), "gated").await;
        let state = body["state"].as_str().unwrap_or_default().to_owned();
        if state != "purchasing" || std::time::Instant::now() >= deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(body["state"], "failed", "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    let stats = app.sandbox().stats();
    assert_eq!(stats.orders, 0, "{stats:?}");
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        0,
        "{stats:?}"
    );
}

/// The quota queue outlasts `Prefer: wait`: the payment answers 202 `paying` at once and
/// still completes in the background, without a second payment call.
#[tokio::test]
async fn a_payment_stuck_behind_the_quota_answers_202_and_completes() {
    let app = spawn_app().await;
    let id = app.reserved("slow-pay").await;
    // Upstream says "over quota for 3 s": the gateway pauses its sends until then.
    app.sandbox().inject(fault("payment:rate_limit=3000:1"));
    let resp = app
        .client
        .put(format!("{}/v1/checkouts/{id}/payment", app.address))
        .bearer_auth(token_for("slow-pay"))
        .header("Prefer", "wait=0.5")
        .json(&payment_body(TEST_CARD, "123"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["location"], format!("/v1/checkouts/{id}"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], "paying");
    let done = app
        .wait_for_state(&id, "slow-pay", "payment_accepted")
        .await;
    assert_eq!(done["payment"]["last4"], "0011");
}

/// An uncached event read whose fetch waits behind the quota answers 429 `rate_limited` with
/// `Retry-After` instead of hanging; the fetch goes on, and the retry finds it cached.
#[tokio::test]
async fn an_event_read_stuck_behind_the_quota_answers_429_and_the_fetch_goes_on() {
    let app = spawn_app().await;
    app.sandbox().inject(fault("event:rate_limit=3000:1"));
    let resp = app
        .client
        .get(format!("{}/v1/events/{EVENT}", app.address))
        .bearer_auth(token_for("reader"))
        .header("Prefer", "wait=0.5")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, 429, "rate_limited").await;
    let requests_after_refusal = app.sandbox().stats().requests;
    // Without a Prefer header the read waits (up to http.max_wait_secs) for the shared fetch.
    let resp = app
        .request(Method::GET, &format!("/v1/events/{EVENT}"), "reader")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // One retried fetch served both readers: the 429'd call plus one more at most.
    assert!(app.sandbox().stats().requests <= requests_after_refusal + 1);
}

/// `Prefer: wait=0` on a read that must ask upstream (an uncached event, the captcha page)
/// still gives the fetch its second: with nothing queued it answers, where it used to answer
/// 429 "quota saturated" at once (found by review).
#[tokio::test]
async fn a_read_asked_not_to_wait_still_fetches_what_is_not_cached() {
    let app = spawn_app().await;
    for path in [format!("/v1/events/{EVENT}"), "/v1/captcha".to_owned()] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(token_for("hasty"))
            .header("Prefer", "wait=0")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}

/// The sandbox answers every updating call with a poll; the next poll's answer is then lost
/// after the operation completed (`poll:drop_after_commit`), and polling again finds the URL
/// gone (404).
async fn polling_app_losing_the_next_poll() -> TestApp {
    spawn_app_with(&[("sandbox.force_polling", "true")]).await
}

#[tokio::test]
async fn a_purchase_whose_poll_answer_is_lost_is_reconciled_to_the_order_upstream_made() {
    let app = polling_app_losing_the_next_poll().await;
    let id = app.paid("lost-poll").await;
    app.sandbox().inject(fault("poll:drop_after_commit:1"));
    let _ = app.purchase("lost-poll", &id).await;
    let body = app.wait_for_state(&id, "lost-poll", "purchased").await;
    let stats = app.sandbox().stats();
    assert_eq!(stats.orders, 1, "{stats:?}");
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        1,
        "the purchase was sent again: {stats:?}"
    );
    assert!(body["order"]["order_token"].is_string(), "{body}");
}

#[tokio::test]
async fn a_reservation_whose_poll_answer_is_lost_fails_and_gives_its_seats_back() {
    let app = polling_app_losing_the_next_poll().await;
    let held = app.sandbox().stats().seats_held;
    app.sandbox().inject(fault("poll:drop_after_commit:1"));
    let id = created_id(&app, "lost-reserve").await;
    let body = app.wait_for_state(&id, "lost-reserve", "failed").await;
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert!(seats_back_to(&app, held).await, "seats stay held");
}

/// Creates a checkout of two tickets for `user`; its id, whether the create answered the
/// checkout or a problem naming it.
async fn created_id(app: &TestApp, user: &str) -> String {
    let resp = app.create_checkout(user, EVENT, TICKET, 2).await;
    let body: Value = resp.json().await.unwrap();
    body["id"]
        .as_str()
        .or(body["checkout_id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_release_whose_poll_answer_is_lost_is_sent_again_and_ends_released() {
    let app = polling_app_losing_the_next_poll().await;
    let held = app.sandbox().stats().seats_held;
    let id = app.reserved("lost-release").await;
    app.sandbox().inject(fault("poll:drop_after_commit:1"));
    let _ = app
        .request(
            Method::DELETE,
            &format!("/v1/checkouts/{id}"),
            "lost-release",
        )
        .send()
        .await
        .unwrap();
    app.wait_for_state(&id, "lost-release", "released").await;
    assert_eq!(app.sandbox().stats().seats_held, held);
}

/// Two purchases of one user for one event: the first is slow to answer (its order is made
/// upstream at once), the second gets a 5xx and never happens. The second is not sent while the
/// first is unsettled, and it must not take the first's order, though upstream's order listing
/// cannot tell them apart (found by the soak): it ends unconfirmed, with no order.
#[tokio::test]
async fn a_lost_purchase_never_takes_the_order_of_the_same_users_other_purchase() {
    let app = spawn_app_with(&[("checkout.unconfirmed_after_secs", "30")]).await;
    let slow = app.paid("twin").await;
    let lost = app.paid("twin").await;
    app.sandbox().inject(fault("purchase:latency=4000:1"));
    let slow_purchase = app.purchase("twin", &slow);
    let lose_the_other = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while app.sandbox().stats().orders == 0 {
            assert!(std::time::Instant::now() < deadline, "no order upstream");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        app.sandbox().inject(fault("purchase:status=500:1"));
        let _ = app.purchase("twin", &lost).await;
    };
    tokio::join!(slow_purchase, lose_the_other);
    let slow_body = app.wait_for_state(&slow, "twin", "purchased").await;
    app.advance(31);
    let lost_body = app
        .wait_for_state(&lost, "twin", "purchase_unconfirmed")
        .await;
    assert!(lost_body["order"].is_null(), "{lost_body}");

    let upstream: Vec<String> = app
        .sandbox()
        .orders_by_cart()
        .into_values()
        .flatten()
        .collect();
    assert_eq!(
        upstream,
        vec![
            slow_body["order"]["order_token"]
                .as_str()
                .unwrap()
                .to_owned()
        ],
        "{slow_body}"
    );
}

/// A reservation made upstream whose answer is lost fails, and its cart's deletion is refused
/// once: the `failed` checkout still owes the deletion, and a resumer sends it again when the
/// lease runs out, so the seats do not stay held (found by the soak).
#[tokio::test]
async fn a_failed_checkouts_refused_cart_deletion_is_sent_again() {
    let app = spawn_app_with(&[("checkout.lease_secs", "2"), ("sweeper.interval_secs", "1")]).await;
    let held = app.sandbox().stats().seats_held;
    app.sandbox().inject(fault("reserve:drop_after_commit:1"));
    app.sandbox().inject(fault("delete:status=503:1"));
    let id = created_id(&app, "refused-delete").await;
    app.wait_for_state(&id, "refused-delete", "failed").await;
    assert!(seats_back_to(&app, held).await, "seats stay held");
    let stats = app.sandbox().stats();
    assert_eq!(
        stats.faults_by_operation.get("delete"),
        Some(&1),
        "the first deletion was not refused: {stats:?}"
    );
    assert!(stats.carts_deleted >= 1, "{stats:?}");
}

/// A purchase answered with a 5xx (it never happened) whose cart deletion then goes through
/// with its answer lost: later deletions find the cart gone (404). That proves nothing about the
/// purchase either, and the checkout still ends `purchase_unconfirmed`, not stuck for good
/// (found by the soak) and not "failed, nothing charged".
#[tokio::test]
async fn a_lost_purchase_whose_cart_deletion_answer_is_lost_still_ends_unconfirmed() {
    let stats = unanswered_purchase_ends_unconfirmed_with_the_hold_released(
        "gone-cart",
        500,
        &["delete:drop_after_commit:1"],
    )
    .await;
    assert_eq!(
        stats.faults_by_operation.get("delete"),
        Some(&1),
        "no deletion answer was lost: {stats:?}"
    );
}

/// The send time of a purchase goes out with the write that starts it. A purchase that then
/// waits behind an older unsettled purchase of the same user and event has not been sent, and
/// its record says so while it waits (no send time), so a worker taking it over would send it,
/// not reconcile it. Both end purchased, each with its own order.
#[tokio::test]
async fn a_purchase_waiting_behind_the_same_users_older_one_is_recorded_as_not_sent() {
    let app = spawn_app().await;
    let first = app.paid("queued").await;
    let second = app.paid("queued").await;
    app.sandbox().inject(fault("purchase:latency=3000:1"));
    let first_purchase = app.purchase("queued", &first);
    let second_id: checkout_gateway::ids::CheckoutId = second.parse().expect("id");
    let watch_the_second = async {
        // Only once the first purchase is on its way upstream is the second one asked for.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while purchases_heard(&app) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the first purchase never went out"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Answered at once (`wait=0`), while the purchase goes on.
        let path = format!("/v1/checkouts/{second}/purchase");
        let sent = app.post_waiting(&path, "queued", 0, None).await;
        assert!(sent.status().is_success(), "{}", sent.status());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let stored = app.context.store.checkouts.get(second_id).await;
            let stored = stored.expect("get").expect("stored");
            if stored.state.as_str() == "purchasing" && stored.purchase_started_at.is_none() {
                return true;
            }
            if stored.state.as_str() != "purchasing" || std::time::Instant::now() > deadline {
                return false;
            }
            // The poll's pace; the first purchase stays in flight for 3 s.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let (_, seen_waiting) = tokio::join!(first_purchase, watch_the_second);
    assert!(seen_waiting, "the waiting purchase kept a send time");
    let first_body = app.wait_for_state(&first, "queued", "purchased").await;
    let second_body = app.wait_for_state(&second, "queued", "purchased").await;
    assert_ne!(
        first_body["order"]["order_token"],
        second_body["order"]["order_token"]
    );
    assert!(
        first_body["order"]["order_token"].is_string(),
        "{first_body}"
    );
    assert_eq!(app.sandbox().stats().orders, 2);
}

fn purchases_heard(app: &TestApp) -> u64 {
    let stats = app.sandbox().stats();
    stats
        .requests_by_operation
        .get("purchase")
        .copied()
        .unwrap_or(0)
}
