//! The sweeper releases abandoned checkouts and expired holds upstream, in the background.

use crate::helpers::*;

const FAST_SWEEP: (&str, &str) = ("sweeper.interval_secs", "1");

/// A sweeper of `app`'s parts whose passes the test runs itself (`sweep_once`).
fn manual_sweeper(app: &TestApp) -> checkout_gateway::jobs::worker::Sweeper {
    checkout_gateway::jobs::worker::Sweeper {
        context: app.context.clone(),
        service: app.service.clone(),
        config: checkout_gateway::jobs::worker::WorkerConfig {
            interval: std::time::Duration::from_secs(1),
            abandon_after: std::time::Duration::from_secs(600),
            batch: 100,
        },
    }
}

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
    let sweeper = manual_sweeper(&app);
    let report = sweeper.sweep_once().await;
    assert_eq!(report.released + report.expired, 0, "{report:?}");
    let body = app
        .get_json(&format!("/v1/checkouts/{id}"), "still-here")
        .await;
    assert_eq!(body["state"], "reserved");
}

/// A lease of this replica whose work stopped without handing it back (a request dropped
/// mid-way) would hold for as long as the replica lives, since leases are not renewed and
/// expire only with their replica: the sweeper gives it back, and only once no work here
/// holds its token.
#[tokio::test]
async fn a_lease_whose_work_here_stopped_is_given_back_by_the_sweeper() {
    let app = spawn_app().await;
    let id = app.reserved("dropped-work").await;
    let id: checkout_gateway::ids::CheckoutId = id.parse().expect("checkout id");
    let store = &app.context.store;
    let token = app.context.liveness.token();
    let now = app.context.clock.now();
    let leased = store.checkouts.try_lease(id, &token, now, now).await;
    assert!(leased.expect("try_lease").is_some());
    let sweeper = manual_sweeper(&app);
    let lease_of = async || {
        let stored = store.checkouts.get(id).await.expect("get").expect("stored");
        stored.lease.map(|l| l.owner)
    };

    let report = sweeper.sweep_once().await;
    assert_eq!(report.orphans, 0, "{report:?}");
    assert_eq!(
        lease_of().await.as_deref(),
        Some(&*token),
        "held work lost its lease"
    );

    drop(token);
    let report = sweeper.sweep_once().await;
    assert_eq!(report.orphans, 1, "{report:?}");
    assert_eq!(lease_of().await, None, "the orphaned lease still holds");
}
