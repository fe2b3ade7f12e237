//! Requests waiting on a checkout (`checkout::waiters`): a write here hands its waiters the
//! record it wrote, and a create or a purchase starts its wait from the record it has just
//! written, so neither reads its checkout from the database at all; the notifications of this replica's own writes coming back cost
//! it nothing; a change by another replica still wakes a waiter here, which reads it, and drops
//! this replica's cached read. Postgres: SQLite has no other replicas and no notifications.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;
use crate::metrics::sample;
use crate::read_cache::{read, reads as checkout_reads, serving};

/// How many looks at a checkout requests waiting on it took at `app`, from `source` (`handed`
/// or `database`).
fn wait_reads(app: &TestApp, source: &str) -> f64 {
    let text = app.context.metrics.render();
    sample(
        &text,
        "gateway_checkout_wait_reads_total",
        &[("source", source)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn a_create_and_a_purchase_that_wait_never_read_their_checkout() {
    let app = spawn_app().await;
    serving(&app).await;
    // Upstream takes a moment, so that each request's first look finds its checkout still
    // pending, and the settling write has to reach it.
    app.sandbox().inject(fault("reserve:latency=500:1"));
    app.sandbox().inject(fault("purchase:latency=500:1"));
    let (from_database, handed) = (wait_reads(&app, "database"), wait_reads(&app, "handed"));
    let created = app.create_waiting("waiter-once", 20).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json body");
    assert_eq!(created["state"], "reserved", "{created}");
    assert_eq!(
        wait_reads(&app, "database") - from_database,
        0.0,
        "the create waited from the record it inserted, and was handed the rest"
    );
    assert!(
        wait_reads(&app, "handed") > handed,
        "the settling write was handed over"
    );

    let id = created["id"].as_str().expect("an id");
    let paid = app.pay("waiter-once", id, TEST_CARD, "123").await;
    assert_eq!(paid.status(), 200);
    let (from_database, handed) = (wait_reads(&app, "database"), wait_reads(&app, "handed"));
    let purchased = app.purchase("waiter-once", id).await;
    assert_eq!(purchased.status(), 200);
    let purchased: Value = purchased.json().await.expect("json body");
    assert_eq!(purchased["state"], "purchased", "{purchased}");
    assert_eq!(
        wait_reads(&app, "database") - from_database,
        0.0,
        "the purchase waited from the record it wrote, and was handed the rest"
    );
    assert!(
        wait_reads(&app, "handed") > handed,
        "the order's write was handed over"
    );
}

/// A waits on a checkout B drives; A re-checks on its own only once an hour here, so its
/// read can only come back settled within the wait if B's change woke it.
#[tokio::test]
async fn another_replicas_change_wakes_a_waiter_here_and_drops_the_cache() {
    let slow = [("checkout.wait_recheck_secs", "3600")];
    let a = spawn_app_with(&slow).await;
    let b = a.replica(&slow).await;
    serving(&a).await;
    // B's reservation takes 3 s upstream: A's read finds it pending (and caches that), then
    // waits.
    a.sandbox().inject(fault("reserve:latency=3000:1"));
    let created = b.create_waiting("waiter-foreign", 1).await;
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.expect("json body");
    let id = created["id"].as_str().expect("an id");
    let (from_database, handed) = (wait_reads(&a, "database"), wait_reads(&a, "handed"));
    let waited = a
        .request(
            Method::GET,
            &format!("/v1/checkouts/{id}"),
            "waiter-foreign",
        )
        .send()
        .await
        .expect("request");
    assert_eq!(waited.status(), 200);
    let waited: Value = waited.json().await.expect("json body");
    assert_eq!(waited["state"], "reserved", "{waited}");
    // Its first look, and at least one for B's change: nothing was handed over, A wrote
    // nothing.
    assert!(wait_reads(&a, "database") - from_database >= 2.0);
    assert_eq!(wait_reads(&a, "handed"), handed);
    // What A cached of the pending checkout went with B's change: A reads it anew.
    let misses = checkout_reads(&a, "database");
    let (status, again) = read(&a, id, "waiter-foreign").await;
    assert_eq!(status, 200);
    assert_eq!(again["state"], "reserved", "{again}");
    assert_eq!(checkout_reads(&a, "database"), misses + 1.0);
}
