//! The sweeper releases abandoned checkouts and expired holds upstream, in the background.

use crate::helpers::*;

const FAST_SWEEP: (&str, &str) = ("sweeper.interval_secs", "1");

#[tokio::test]
async fn abandoned_checkouts_are_released_upstream() {
    let app = spawn_app_with(&[FAST_SWEEP, ("sandbox.hold_secs", "3600")]).await;
    let before = app.sandbox().stats();
    let id = app.reserved("walked-away").await;
    assert_eq!(app.sandbox().stats().seats_held, before.seats_held + 2);
    app.advance(601);
    let body = app.wait_for_state(&id, "walked-away", "released").await;
    assert!(body["error"].is_null(), "{body}");
    let after = app.sandbox().stats();
    assert_eq!(after.seats_held, before.seats_held);
    assert_eq!(after.carts_deleted, before.carts_deleted + 1);
}

#[tokio::test]
async fn expired_holds_end_expired_and_hold_nothing() {
    let app = spawn_app_with(&[FAST_SWEEP]).await;
    let before = app.sandbox().stats();
    let id = app.paid("slow-payer").await;
    app.advance(300);
    let body = app.wait_for_state(&id, "slow-payer", "expired").await;
    assert_eq!(body["error"]["code"], "hold_expired");
    assert_eq!(app.sandbox().stats().seats_held, before.seats_held);
}

#[tokio::test]
async fn recent_checkouts_are_left_alone() {
    let app = spawn_app_with(&[FAST_SWEEP]).await;
    let id = app.reserved("still-here").await;
    let sweeper = checkout_gateway::jobs::worker::Sweeper {
        context: app.context.clone(),
        service: app.service.clone(),
        config: checkout_gateway::jobs::worker::WorkerConfig {
            interval: std::time::Duration::from_secs(1),
            abandon_after: std::time::Duration::from_secs(600),
            batch: 100,
        },
    };
    let report = sweeper.sweep_once().await;
    assert_eq!(report.released + report.expired, 0, "{report:?}");
    let body = app
        .get_json(&format!("/v1/checkouts/{id}"), "still-here")
        .await;
    assert_eq!(body["state"], "reserved");
}
