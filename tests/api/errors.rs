//! Every error code of the contract this capability can produce, through the public API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn unauthorized_without_or_with_a_bad_or_expired_token() {
    let app = spawn_app().await;
    let url = format!("{}/v1/orders", app.address);
    assert_problem(
        app.client.get(&url).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let bad = app
        .client
        .get(&url)
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 401, "unauthorized").await;
    let expired = checkout_gateway::http::auth::issue_token(
        &secrecy::SecretString::from(JWT_SECRET),
        "u",
        -3600,
    )
    .unwrap();
    let resp = app
        .client
        .get(&url)
        .bearer_auth(expired)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn not_found_for_unknown_malformed_and_other_users_checkouts() {
    let app = spawn_app().await;
    let id = app.reserved("owner").await;
    let other = app
        .request(Method::GET, &format!("/v1/checkouts/{id}"), "intruder")
        .send()
        .await
        .unwrap();
    assert_problem(other, 404, "not_found").await;
    let malformed = app
        .request(Method::GET, "/v1/checkouts/chk_nope", "owner")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 404, "not_found").await;
    let unknown_event = app
        .request(Method::GET, "/v1/events/FFFF000000000000", "owner")
        .send()
        .await
        .unwrap();
    assert_problem(unknown_event, 404, "not_found").await;
    let order = app
        .request(
            Method::GET,
            "/v1/orders/ord_00000000000000000000000000000000",
            "owner",
        )
        .send()
        .await
        .unwrap();
    assert_problem(order, 404, "not_found").await;
}

#[tokio::test]
async fn validation_failed_names_the_field() {
    let app = spawn_app().await;
    let broken = app
        .request(Method::POST, "/v1/checkouts", "v")
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(broken, 422, "validation_failed").await;
    let zero = app
        .request(Method::POST, "/v1/checkouts", "v")
        .json(&json!({"event_id": EVENT, "captcha_token": fresh_captcha(), "tickets": [{"ticket_id": TICKET, "quantity": 0}]}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(zero, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "tickets[0].quantity");
    let unknown_ticket = app.create_checkout("v", EVENT, "999999999999", 1).await;
    let body = assert_problem(unknown_ticket, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "tickets[0].ticket_id");

    let id = app.reserved("v").await;
    let mut payment = payment_body("4588883206000012", "123");
    payment["card"]["expire_month"] = json!(13);
    payment["billing"]["address"]["country"] = json!("FR");
    let resp = app
        .request(Method::PUT, &format!("/v1/checkouts/{id}/payment"), "v")
        .json(&payment)
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 422, "validation_failed").await;
    let fields = problem_fields(&body);
    assert!(fields.contains(&"card.number"), "{fields:?}");
    let text = body.to_string();
    assert!(
        !text.contains("4588883206000012"),
        "card number echoed: {text}"
    );
}

/// A missing or repeated field is named, the gateway's own rules read as written, and no
/// handler quotes a value back (found by review: "missing field `…`" on the parent, "must have
/// # to # digits", and the shared JSON handler echoing a number sent for a string).
#[tokio::test]
async fn field_errors_name_the_field_and_quote_nothing_sent() {
    let app = spawn_app().await;
    let id = app.reserved("words").await;
    let pay = |payment: Value| {
        app.request(Method::PUT, &format!("/v1/checkouts/{id}/payment"), "words")
            .json(&payment)
            .send()
    };
    let mut payment = payment_body(TEST_CARD, "123");
    payment["billing"]["address"]
        .as_object_mut()
        .unwrap()
        .remove("country");
    let body = assert_problem(pay(payment).await.unwrap(), 422, "validation_failed").await;
    assert_eq!(
        body["errors"][0]["field"], "billing.address.country",
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "is required", "{body}");
    let body = assert_problem(
        pay(payment_body(TEST_CARD, "12345")).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "card.cvv", "{body}");
    assert_eq!(body["errors"][0]["message"], "must have 3 to 4 digits");

    let duplicated = app
        .request(Method::POST, "/v1/checkouts", "words")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"event_id": "{EVENT}", "event_id": "{EVENT}", "captcha_token": "x", "tickets": []}}"#
        ))
        .send()
        .await
        .unwrap();
    let body = assert_problem(duplicated, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "event_id", "{body}");
    assert_eq!(body["errors"][0]["message"], "appears more than once");

    let huge = app
        .request(Method::POST, "/v1/checkouts", "words")
        .json(&json!({"event_id": EVENT, "captcha_token": "x",
            "tickets": [{"ticket_id": TICKET, "quantity": 4_294_967_297u64}]}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(huge, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "tickets[0].quantity", "{body}");
    assert_eq!(body["errors"][0]["message"], "is too large", "{body}");

    // The one route read with actix's own JSON extractor (the example app's token).
    let resp = app
        .client
        .post(format!("{}/example/token", app.address))
        .json(&json!({ "user": 4588883206000011u64 }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 422, "validation_failed").await;
    assert!(!body.to_string().contains("4588883206000011"), "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "has the wrong type or value: expected a string"
    );

    let resp = app
        .request(Method::GET, "/v1/orders?limit=1&limit=2", "words")
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "limit", "{body}");
}

#[tokio::test]
async fn captcha_invalid_when_missing_reused_or_wrong() {
    let app = spawn_app().await;
    let token = fresh_captcha();
    let body = json!({"event_id": EVENT, "captcha_token": token, "tickets": [{"ticket_id": TICKET, "quantity": 1}]});
    let first = app
        .request(Method::POST, "/v1/checkouts", "c")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let reused = app
        .request(Method::POST, "/v1/checkouts", "c")
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(reused, 422, "captcha_invalid").await;
    assert_eq!(problem["upstream_code"], 10031);
    assert!(problem["checkout_id"].as_str().unwrap().starts_with("chk_"));
    let wrong = json!({"event_id": EVENT, "captcha_token": "invalid-token", "tickets": [{"ticket_id": TICKET, "quantity": 1}]});
    let resp = app
        .request(Method::POST, "/v1/checkouts", "c")
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 422, "captcha_invalid").await;
    let missing = json!({"event_id": EVENT, "tickets": [{"ticket_id": TICKET, "quantity": 1}]});
    let resp = app
        .request(Method::POST, "/v1/checkouts", "c")
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 422, "captcha_invalid").await;
}

#[tokio::test]
async fn event_not_transactable() {
    let app = spawn_app().await;
    let event: Value = app
        .request(
            Method::GET,
            &format!("/v1/events/{NOT_TRANSACTABLE_EVENT}"),
            "n",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(event["transactable"], false);
    let ticket = event["ticket_types"][0]["ticket_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .create_checkout("n", NOT_TRANSACTABLE_EVENT, &ticket, 1)
        .await;
    assert_problem(resp, 409, "event_not_transactable").await;
}

/// Sold out, with upstream's code; upstream's own words ("No inventory found to match
/// request") stay in the logs: the partner reads the gateway's, in the problem and in the
/// failed checkout.
#[tokio::test]
async fn sold_out_when_the_inventory_is_gone() {
    let app = spawn_app().await;
    let ticket = tiny_event_held(&app).await;
    let second = app.create_checkout("s2", TINY_EVENT, &ticket, 2).await;
    let body = assert_problem(second, 409, "sold_out").await;
    assert_eq!(body["upstream_code"], 20052);
    assert!(!body.to_string().contains("No inventory found"), "{body}");
    let id = body["checkout_id"].as_str().expect("named");
    let checkout = app.get_json(&format!("/v1/checkouts/{id}"), "s2").await;
    assert!(
        !checkout.to_string().contains("No inventory found"),
        "{checkout}"
    );
}

#[tokio::test]
async fn invalid_state_for_purchase_before_payment_and_delete_after_purchase() {
    let app = spawn_app().await;
    let id = app.reserved("i").await;
    assert_problem(app.purchase("i", &id).await, 409, "invalid_state").await;
    let pay_ok = app.pay("i", &id, TEST_CARD, "123").await;
    assert_eq!(pay_ok.status(), 200);
    assert_eq!(app.purchase("i", &id).await.status(), 200);
    let del = app
        .request(Method::DELETE, &format!("/v1/checkouts/{id}"), "i")
        .send()
        .await
        .unwrap();
    assert_problem(del, 409, "invalid_state").await;
    let pay_again = app.pay("i", &id, TEST_CARD, "123").await;
    assert_problem(pay_again, 409, "invalid_state").await;
}

#[tokio::test]
async fn hold_expired_after_the_hold_runs_out() {
    let app = spawn_app().await;
    let id = app.reserved("h").await;
    app.advance(300);
    let resp = app.pay("h", &id, TEST_CARD, "123").await;
    assert_problem(resp, 410, "hold_expired").await;
    let body = app.get_json(&format!("/v1/checkouts/{id}"), "h").await;
    assert_eq!(body["state"], "expired");
}

#[tokio::test]
async fn payment_declined_and_invalid_security_code() {
    let app = spawn_app().await;
    let id = app.reserved("p").await;
    let declined = assert_problem(
        app.pay("p", &id, "4000000000000002", "123").await,
        402,
        "payment_declined",
    )
    .await;
    assert_eq!(declined["upstream_code"], 20122);
    let cvv = assert_problem(
        app.pay("p", &id, TEST_CARD, "999").await,
        402,
        "invalid_security_code",
    )
    .await;
    assert_eq!(cvv["upstream_code"], 20152);
}

#[tokio::test]
async fn maintenance_window_refuses_up_front_with_retry_after() {
    let app = spawn_app_with(&[
        ("maintenance.start_hour", "2"),
        ("maintenance.end_hour", "3"),
    ])
    .await;
    // 02:30 in Los Angeles (PST, UTC-8) on a winter night.
    let tz_now = chrono::DateTime::parse_from_rfc3339("2027-01-15T10:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock.set(tz_now);
    let before = app.sandbox().stats().requests;
    let resp = app.create_checkout("m", EVENT, TICKET, 1).await;
    let retry = resp
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(retry > 0 && retry <= 1800, "{retry}");
    assert_problem(resp, 503, "maintenance_window").await;
    let event = app.get_json(&format!("/v1/events/{EVENT}"), "m").await;
    assert_eq!(event["maintenance"]["in_window"], true);
    // Only the event details were fetched: no ticketing call was spent.
    assert!(app.sandbox().stats().requests <= before + 1);
}

#[tokio::test]
async fn the_maintenance_window_follows_configuration() {
    // The docs also describe a 12–2 AM window.
    let app = spawn_app_with(&[
        ("maintenance.start_hour", "0"),
        ("maintenance.end_hour", "2"),
    ])
    .await;
    // 01:30 in Los Angeles (PST): inside 0–2, outside the default 2–3.
    let at = chrono::DateTime::parse_from_rfc3339("2027-01-15T09:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock.set(at);
    assert_problem(
        app.create_checkout("m", EVENT, TICKET, 1).await,
        503,
        "maintenance_window",
    )
    .await;
    // 02:30 is outside this window.
    app.advance(3600);
    assert_eq!(
        app.create_checkout("m", EVENT, TICKET, 1).await.status(),
        201
    );
}

#[tokio::test]
async fn rate_limited_when_one_user_calls_too_often() {
    let app = spawn_app_with(&[
        ("admission.user_requests_per_second", "0.5"),
        ("admission.user_burst", "2"),
    ])
    .await;
    for _ in 0..2 {
        let ok = app
            .request(Method::GET, "/v1/orders", "greedy")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
    let refused = app
        .request(Method::GET, "/v1/orders", "greedy")
        .send()
        .await
        .unwrap();
    let retry = refused
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let rate_limit = refused
        .headers()
        .get("ratelimit")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(rate_limit.contains("remaining=0"), "{rate_limit}");
    assert_problem(refused, 429, "rate_limited").await;
    // Another user is unaffected.
    let other = app
        .request(Method::GET, "/v1/orders", "modest")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

/// A route asked with a method it does not take answers `405 method_not_allowed` with `Allow`;
/// an unknown route still answers 404 (found by review: both were 404).
#[tokio::test]
async fn a_wrong_method_on_a_route_is_405_with_allow() {
    let app = spawn_app().await;
    let id = app.reserved("methods").await;
    for (method, path, allow) in [
        (Method::PATCH, format!("/v1/checkouts/{id}"), "GET, DELETE"),
        (Method::GET, "/v1/checkouts".to_owned(), "POST"),
        (Method::POST, format!("/v1/checkouts/{id}/payment"), "PUT"),
    ] {
        let resp = app
            .request(method.clone(), &path, "methods")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some(allow.to_owned()),
            "{method} {path}"
        );
        assert_problem(resp, 405, "method_not_allowed").await;
    }
    let unknown = app
        .request(Method::GET, "/v1/nowhere", "methods")
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404, "not_found").await;
}
