//! `Idempotency-Key`: replays, reuse with another request, concurrency, and what is not kept.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn create_body(captcha: &str) -> Value {
    json!({"event_id": EVENT, "captcha_token": captcha, "tickets": [{"ticket_id": TICKET, "quantity": 1}]})
}

#[tokio::test]
async fn a_repeated_create_replays_the_first_answer() {
    let app = spawn_app().await;
    let body = create_body(&fresh_captcha());
    let send = || {
        app.request(Method::POST, "/v1/checkouts", "k")
            .header("Idempotency-Key", "create-1")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    // The captcha token is single-use upstream: a second real create would fail.
    let second = send().await.unwrap();
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers().get("idempotent-replayed").unwrap(), "true");
    assert!(second.headers().get("location").is_some());
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_refused() {
    let app = spawn_app().await;
    let send = |body: Value| {
        app.request(Method::POST, "/v1/checkouts", "k")
            .header("Idempotency-Key", "create-2")
            .json(&body)
            .send()
    };
    assert_eq!(
        send(create_body(&fresh_captcha())).await.unwrap().status(),
        201
    );
    let other = send(create_body(&fresh_captcha())).await.unwrap();
    assert_problem(other, 422, "idempotency_key_reused").await;
}

#[tokio::test]
async fn validation_failures_are_not_kept() {
    let app = spawn_app().await;
    let send = |body: Value| {
        app.request(Method::POST, "/v1/checkouts", "k")
            .header("Idempotency-Key", "create-3")
            .json(&body)
            .send()
    };
    let mut bad = create_body(&fresh_captcha());
    bad["tickets"][0]["quantity"] = json!(0);
    assert_problem(send(bad).await.unwrap(), 422, "validation_failed").await;
    // Corrected under the same key: runs for real (the key was not spent).
    assert_eq!(
        send(create_body(&fresh_captcha())).await.unwrap().status(),
        201
    );
}

#[tokio::test]
async fn a_malformed_key_is_a_validation_error() {
    let app = spawn_app().await;
    let resp = app
        .request(Method::POST, "/v1/checkouts", "k")
        .header("Idempotency-Key", "x".repeat(300))
        .json(&create_body(&fresh_captcha()))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn concurrent_purchases_with_one_key_send_one_purchase() {
    let app = spawn_app().await;
    let id = app.paid("kp").await;
    let path = format!("/v1/checkouts/{id}/purchase");
    let requests = (0..20).map(|_| {
        app.request(Method::POST, &path, "kp")
            .header("Idempotency-Key", "buy-once")
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut orders = std::collections::HashSet::new();
    let mut replayed = 0;
    for resp in responses {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        replayed += usize::from(resp.headers().get("idempotent-replayed").is_some());
        let body: Value = resp.json().await.unwrap();
        orders.insert(body["order"]["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(replayed, 19);
    let stats = app.sandbox().stats();
    assert_eq!(
        stats.purchase_calls_by_cart.values().sum::<u32>(),
        1,
        "{stats:?}"
    );
}

/// The first request renews its claim on the key while it runs, so a repeat that waits longer
/// than `idempotency.takeover_after_secs` still finds it running and does not run it again.
#[tokio::test]
async fn a_first_request_still_running_keeps_its_key() {
    let app = spawn_app_with(&[("idempotency.takeover_after_secs", "1")]).await;
    // Upstream takes 5 s over the reservation: five times the takeover time.
    app.sandbox()
        .inject("reserve:latency=5000:1".parse().unwrap());
    let body = create_body(&fresh_captcha());
    let send = |wait: &str| {
        app.client
            .post(format!("{}/v1/checkouts", app.address))
            .bearer_auth(token_for("slow"))
            .header("Idempotency-Key", "slow-create")
            .header("Prefer", format!("wait={wait}"))
            .json(&body)
            .send()
    };
    let repeat = async {
        // Once the first request's reservation is held up upstream…
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.sandbox().stats().faults_by_operation.get("reserve") != Some(&1) {
            assert!(std::time::Instant::now() < deadline, "no reservation");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // …a repeat waits 3 s (past the takeover time) and finds it still running.
        send("3").await.unwrap()
    };
    let (first, repeat) = tokio::join!(send("20"), repeat);
    assert_problem(repeat, 409, "idempotency_key_in_use").await;
    let first = first.unwrap();
    assert_eq!(first.status(), 201);
    let stats = app.sandbox().stats();
    assert_eq!(
        stats.requests_by_operation.get("open_cart"),
        Some(&1),
        "the create ran twice: {stats:?}"
    );
}

/// Two payments of one checkout under two keys that differ only in card number and CVV (a
/// declined Visa ending 0011, then the accepted one, also a Visa ending 0011) store the same
/// fingerprint; a dump of the whole database holds neither card number and no digest of either
/// body, so nothing stored changes with the card or the CVV.
#[tokio::test]
async fn nothing_stored_for_a_payment_key_changes_with_the_card_number_or_cvv() {
    const DECLINED: &str = "4111111111140011";
    let app = spawn_app().await;
    let id = app.reserved("fp").await;
    let path = format!("/v1/checkouts/{id}/payment");
    let mut bodies = Vec::new();
    for (key, card, cvv, status) in [
        ("pay-1", DECLINED, "999", 402),
        ("pay-2", TEST_CARD, "123", 200),
    ] {
        let body = payment_body(card, cvv);
        let resp = app
            .request(reqwest::Method::PUT, &path, "fp")
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), status, "{card}");
        bodies.push(serde_json::to_vec(&body).expect("json"));
    }

    // The decline is kept: the same key and body again replay it, as a problem.
    let again = app
        .request(reqwest::Method::PUT, &path, "fp")
        .header("Idempotency-Key", "pay-1")
        .json(&payment_body(DECLINED, "999"))
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 402);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["content-type"], "application/problem+json");

    let dump = database_dump(&app);
    let rows: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains("idempotency_keys") && l.contains(&path))
        .collect();
    assert_eq!(rows.len(), 2, "both payments keyed: {rows:?}");
    let fingerprint = |row: &str| {
        // The fingerprint is the only 64-hex-digit value of the row.
        row.split('\'')
            .find(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_owned)
            .expect("a fingerprint")
    };
    assert_eq!(fingerprint(rows[0]), fingerprint(rows[1]));
    for card in [DECLINED, TEST_CARD] {
        assert!(!dump.contains(card), "a card number in the dump");
    }
    // The way fingerprints were made before: a keyed digest of the whole body.
    let key = secrecy::SecretString::from("dev-only-source-account-key");
    for body in &bodies {
        for content in [&body[..], &[]] {
            let parts: [&[u8]; 5] = [b"PUT", b" ", path.as_bytes(), b"\n", content];
            let old = hex::encode(checkout_gateway::digest::keyed_digest(&key, &parts));
            assert!(
                !dump.contains(&old),
                "a digest of a payment body in the dump"
            );
        }
    }
}

/// A body larger than any route takes is refused as 413 problem+json, before anything runs.
#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = spawn_app().await;
    let resp = app
        .request(reqwest::Method::POST, "/v1/checkouts", "big")
        .header("content-type", "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .expect("request");
    let body = assert_problem(resp, 413, "payload_too_large").await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("65536")),
        "{body}"
    );
}

/// A payment answered 503 (upstream failed) under a key is not kept: the same key sent again
/// once upstream is back runs the payment instead of replaying the failure. And upstream's own
/// words never reach the partner's problem.
#[tokio::test]
async fn a_transient_failure_is_not_replayed_under_its_key() {
    let app = spawn_app().await;
    let id = app.reserved("flaky").await;
    let path = format!("/v1/checkouts/{id}/payment");
    let pay = || {
        app.request(Method::PUT, &path, "flaky")
            .header("Idempotency-Key", "pay-once")
            .json(&payment_body(TEST_CARD, "123"))
            .send()
    };
    app.sandbox().inject(fault("payment:status=503:1"));
    let failed = pay().await.expect("request");
    let body = assert_problem(failed, 503, "upstream_unavailable").await;
    assert!(
        !body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("upstream error"),
        "{body}"
    );
    let retried = pay().await.expect("request");
    assert_eq!(retried.status(), 200);
    assert!(
        retried.headers().get("idempotent-replayed").is_none(),
        "ran again"
    );
    // Now the answer is kept: a third send replays it.
    let replayed = pay().await.expect("request");
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
}

/// Paying while the reservation is still running is refused for the moment (`409
/// invalid_state` with `Retry-After`), and that answer is not kept: the same key, once the
/// checkout is reserved, pays (found by review: it replayed the 409 for a day).
#[tokio::test]
async fn a_payment_refused_while_the_reservation_runs_is_not_kept_under_its_key() {
    let app = spawn_app().await;
    app.sandbox().inject(fault("reserve:latency=1500:1"));
    let created = app
        .client
        .post(format!("{}/v1/checkouts", app.address))
        .bearer_auth(token_for("early"))
        .header("Prefer", "wait=0")
        .json(&create_body(&fresh_captcha()))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pay = || {
        app.request(Method::PUT, &format!("/v1/checkouts/{id}/payment"), "early")
            .header("Idempotency-Key", "pay-early")
            .json(&payment_body(TEST_CARD, "123"))
            .send()
    };
    let early = pay().await.unwrap();
    assert_eq!(early.headers().get("retry-after").unwrap(), "1");
    assert_problem(early, 409, "invalid_state").await;
    app.wait_for_state(&id, "early", "reserved").await;
    let again = pay().await.unwrap();
    assert!(again.headers().get("idempotent-replayed").is_none());
    assert_eq!(again.status(), 200);
}

/// A create without its captcha changed nothing: the refusal (`captcha_invalid`, naming the
/// field and every other field's error beside it) is not kept, and the same key with the
/// captcha creates (found by review: the corrected request got `idempotency_key_reused`).
#[tokio::test]
async fn a_create_without_its_captcha_is_not_kept_under_its_key() {
    let app = spawn_app().await;
    let send = |body: Value| {
        app.request(Method::POST, "/v1/checkouts", "forgetful")
            .header("Idempotency-Key", "create-no-captcha")
            .json(&body)
            .send()
    };
    let without = json!({"event_id": EVENT, "captcha_token": " ",
        "tickets": [{"ticket_id": TICKET, "quantity": 0}]});
    let refused = assert_problem(send(without).await.unwrap(), 422, "captcha_invalid").await;
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["captcha_token", "tickets[0].quantity"],
        "{refused}"
    );
    let created = send(create_body(&fresh_captcha())).await.unwrap();
    assert_eq!(created.status(), 201);
    assert!(created.headers().get("idempotent-replayed").is_none());
}

/// One resource has one key scope however its path is spelled: a repeat on an alias of the
/// route replays the first answer instead of running again (found by review: `/v1/%63heckouts`
/// sent the reservation a second time).
#[tokio::test]
async fn a_repeat_on_another_spelling_of_the_path_replays() {
    let app = spawn_app().await;
    let body = create_body(&fresh_captcha());
    let send = |path: &'static str| {
        app.request(Method::POST, path, "alias")
            .header("Idempotency-Key", "create-alias")
            .json(&body)
            .send()
    };
    let first = send("/v1/checkouts").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send("/v1/%63heckouts").await.unwrap();
    assert_eq!(again.status(), 201, "{:?}", again.text().await);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
}
