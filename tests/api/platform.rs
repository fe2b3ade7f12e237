//! Health, request ids, and the card-data guarantee over the database.

use reqwest::Method;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(format!("{}/v1/orders", app.address))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    let resp = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("x-request-id").unwrap(), "abc-123");
    let unknown = app.request(Method::GET, "/nope", "x").send().await.unwrap();
    assert_problem(unknown, 404, "not_found").await;
}

#[tokio::test]
async fn a_callers_traceparent_becomes_the_request_id() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(format!("{}/healthz", app.address))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    // A malformed one is ignored: the request still gets an id of its own.
    let resp = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("traceparent", "00-not-a-trace-01")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn no_card_number_or_cvv_reaches_the_database() {
    let app = spawn_app().await;
    let id = app.paid("privacy").await;
    assert_eq!(app.purchase("privacy", &id).await.status(), 200);
    let text = database_dump(&app);
    assert!(text.contains("0011"), "the dump should hold last4");
    assert!(!text.contains(TEST_CARD), "card number in the database");
    assert!(!text.contains("\"cvv\""), "cvv in the database");
}
