//! `GET /v1/checkouts/{id}` from the per-replica read cache (`checkout::reads`): a read is
//! answered from memory after the first, a write here is seen at once, another replica's write
//! once its notification arrives, a lost listener empties the cache, someone else's checkout
//! stays a 404, and `Prefer: wait` returns at another replica's change, not at a re-check.
//! The same on SQLite, where this process's writes are all there are.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use checkout_gateway::store::changes::LISTENER_APPLICATION_NAME;
use checkout_gateway::tools::testdb::fresh_sqlite_url;

use crate::helpers::*;
use crate::metrics::sample;

/// How many checkout reads `app` answered from `source` (`cache` or `database`).
pub(crate) fn reads(app: &TestApp, source: &str) -> f64 {
    let text = app.context.metrics.render();
    sample(&text, "gateway_checkout_reads_total", &[("source", source)]).unwrap_or(0.0)
}

fn resets(app: &TestApp) -> f64 {
    let text = app.context.metrics.render();
    sample(&text, "gateway_checkout_read_cache_resets_total", &[]).unwrap_or(0.0)
}

/// Polls `check` until it holds, failing with `what` after 15 s.
async fn until<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET the checkout without waiting: (status, body).
pub(crate) async fn read(app: &TestApp, id: &str, user: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(format!("{}/v1/checkouts/{id}", app.address))
        .bearer_auth(token_for(user))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

/// Reads `id` until one read is answered from the cache (the notification of the write that
/// made it may drop the first entry); returns that answer.
async fn read_until_cached(app: &TestApp, id: &str, user: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let hits = reads(app, "cache");
        let (status, body) = read(app, id, user).await;
        assert_eq!(status, 200, "{body}");
        if reads(app, "cache") > hits {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no read was answered from the cache"
        );
    }
}

pub(crate) async fn serving(app: &TestApp) {
    until("the read cache serves", || {
        app.service.serves_cached_reads()
    })
    .await;
}

async fn sqlite_app() -> TestApp {
    let url = fresh_sqlite_url();
    spawn_on(url.clone(), &[("database.url", url.as_str())]).await
}

// ---------------------------------------------------------------- one replica

async fn reads_after_the_first_come_from_the_cache(app: TestApp) {
    serving(&app).await;
    let id = app.reserved("cache-reader").await;
    let (_, from_database) = read(&app, &id, "cache-reader").await;
    let cached = read_until_cached(&app, &id, "cache-reader").await;
    assert_eq!(cached, from_database);
    // A hit reads nothing from the database.
    let misses = reads(&app, "database");
    let (status, again) = read(&app, &id, "cache-reader").await;
    assert_eq!((status, &again), (200, &from_database));
    assert_eq!(reads(&app, "database"), misses);
}

async fn a_write_here_is_read_back_at_once(app: TestApp) {
    serving(&app).await;
    let id = app.reserved("cache-writer").await;
    read_until_cached(&app, &id, "cache-writer").await;
    let resp = app.pay("cache-writer", &id, TEST_CARD, "123").await;
    assert_eq!(resp.status(), 200);
    // No wait, no retry: the write replaced (or dropped) the entry before its answer went out.
    let (status, body) = read(&app, &id, "cache-writer").await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "payment_accepted", "{body}");
    assert_eq!(body["payment"]["last4"], "0011", "{body}");
}

/// How many payments and purchases `app` started with the lease `taken` so.
fn leases(app: &TestApp, taken: &str) -> f64 {
    let text = app.context.metrics.render();
    sample(
        &text,
        "gateway_checkout_operation_leases_total",
        &[("taken", taken)],
    )
    .unwrap_or(0.0)
}

/// The record a write here leaves in the cache is the next read's answer, at once (its own
/// change notification, on Postgres, is no newer than it and spoils nothing), and it reads as
/// the database has it.
async fn a_write_here_is_cached_as_the_database_has_it(app: TestApp) {
    serving(&app).await;
    let id = app.reserved("cache-filled").await;
    let hits = reads(&app, "cache");
    let (status, cached) = read(&app, &id, "cache-filled").await;
    assert_eq!(status, 200);
    assert_eq!(
        reads(&app, "cache"),
        hits + 1.0,
        "the reservation's record was cached"
    );
    // As if another replica had written it: the next read is the database's.
    let parsed = id.parse().expect("checkout id");
    app.service.checkout_changed(parsed, None);
    let misses = reads(&app, "database");
    let (_, stored) = read(&app, &id, "cache-filled").await;
    assert_eq!(reads(&app, "database"), misses + 1.0);
    assert_eq!(cached, stored);
}

/// A payment and a purchase starting from a checkout this replica holds, free, in its cache
/// take the lease in the write that starts them: no statement of its own. The record each
/// step's last write left there is enough: no read in between.
async fn a_cached_checkout_is_leased_by_the_write_that_starts_an_operation(app: TestApp) {
    serving(&app).await;
    let user = "cache-lessee";
    let id = app.reserved(user).await;
    let before = version_of(&app, &id).await;
    let resp = app.pay(user, &id, TEST_CARD, "123").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        (leases(&app, "with_write"), leases(&app, "own_statement")),
        (1.0, 0.0)
    );
    // `paying` (with the lease) and the settled payment: two writes.
    assert_eq!(version_of(&app, &id).await, before + 2);
    let before = version_of(&app, &id).await;
    let resp = app.purchase(user, &id).await;
    let body: Value = resp.json().await.expect("json body");
    assert_eq!(body["state"], "purchased", "{body}");
    assert_eq!(
        (leases(&app, "with_write"), leases(&app, "own_statement")),
        (2.0, 0.0)
    );
    assert_eq!(leases(&app, "stale_record"), 0.0);
    // `purchasing` (with the lease) and the order, which frees it.
    assert_eq!(version_of(&app, &id).await, before + 2);
    let stored = app
        .context
        .store
        .checkouts
        .get(id.parse().expect("id"))
        .await;
    assert_eq!(stored.expect("get").expect("stored").lease, None);
}

/// The version of checkout `id` as the database has it: one more per write.
async fn version_of(app: &TestApp, id: &str) -> i64 {
    let stored = app
        .context
        .store
        .checkouts
        .get(id.parse().expect("id"))
        .await;
    stored.expect("get").expect("stored").version
}

async fn someone_elses_checkout_is_unknown_through_the_cache(app: TestApp) {
    serving(&app).await;
    let id = app.reserved("cache-owner").await;
    read_until_cached(&app, &id, "cache-owner").await;
    let theirs = app
        .request(
            Method::GET,
            &format!("/v1/checkouts/{id}"),
            "cache-stranger",
        )
        .send()
        .await
        .expect("request");
    let theirs = assert_problem(theirs, 404, "not_found").await;
    let unknown = app
        .request(
            Method::GET,
            "/v1/checkouts/chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12",
            "cache-stranger",
        )
        .send()
        .await
        .expect("request");
    let unknown = assert_problem(unknown, 404, "not_found").await;
    assert_eq!(theirs["detail"], unknown["detail"]);
    // The owner's entry is still there and still theirs.
    let hits = reads(&app, "cache");
    let (status, _) = read(&app, &id, "cache-owner").await;
    assert_eq!(status, 200);
    assert_eq!(reads(&app, "cache"), hits + 1.0);
}

#[tokio::test]
async fn postgres_reads_after_the_first_come_from_the_cache() {
    reads_after_the_first_come_from_the_cache(spawn_app().await).await;
}

#[tokio::test]
async fn sqlite_reads_after_the_first_come_from_the_cache() {
    reads_after_the_first_come_from_the_cache(sqlite_app().await).await;
}

#[tokio::test]
async fn postgres_a_write_here_is_read_back_at_once() {
    a_write_here_is_read_back_at_once(spawn_app().await).await;
}

#[tokio::test]
async fn sqlite_a_write_here_is_read_back_at_once() {
    a_write_here_is_read_back_at_once(sqlite_app().await).await;
}

#[tokio::test]
async fn postgres_a_write_here_is_cached_as_the_database_has_it() {
    a_write_here_is_cached_as_the_database_has_it(spawn_app().await).await;
}

#[tokio::test]
async fn sqlite_a_write_here_is_cached_as_the_database_has_it() {
    a_write_here_is_cached_as_the_database_has_it(sqlite_app().await).await;
}

#[tokio::test]
async fn postgres_a_cached_checkout_is_leased_by_the_write_that_starts_an_operation() {
    a_cached_checkout_is_leased_by_the_write_that_starts_an_operation(spawn_app().await).await;
}

#[tokio::test]
async fn sqlite_a_cached_checkout_is_leased_by_the_write_that_starts_an_operation() {
    a_cached_checkout_is_leased_by_the_write_that_starts_an_operation(sqlite_app().await).await;
}

/// A record in the cache that is no longer the database's (on SQLite only this process
/// writes, so a write behind the service's back is the way to make one) fails the write that
/// would have taken the lease with it; the payment then takes the lease by a statement of its
/// own and goes through.
#[tokio::test]
async fn a_stale_cached_checkout_falls_back_to_a_lease_of_its_own() {
    let app = sqlite_app().await;
    let user = "cache-stale";
    let id = app.reserved(user).await;
    read_until_cached(&app, &id, user).await;
    let parsed = id.parse().expect("checkout id");
    let checkouts = &app.context.store.checkouts;
    let token = app.context.liveness.token();
    let now = app.context.clock.now();
    let leased = checkouts.try_lease(parsed, &token, now, now).await;
    assert!(leased.expect("try_lease").is_some());
    checkouts
        .release_lease(parsed, &token)
        .await
        .expect("release_lease");
    let behind_the_cache = version_of(&app, &id).await;
    let resp = app.pay(user, &id, TEST_CARD, "123").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json body");
    assert_eq!(body["state"], "payment_accepted", "{body}");
    assert_eq!(
        (
            leases(&app, "with_write"),
            leases(&app, "stale_record"),
            leases(&app, "own_statement")
        ),
        (0.0, 1.0, 1.0)
    );
    // Its own lease, `paying` and the settled payment.
    assert_eq!(version_of(&app, &id).await, behind_the_cache + 3);
}

#[tokio::test]
async fn postgres_someone_elses_checkout_is_unknown_through_the_cache() {
    someone_elses_checkout_is_unknown_through_the_cache(spawn_app().await).await;
}

#[tokio::test]
async fn sqlite_someone_elses_checkout_is_unknown_through_the_cache() {
    someone_elses_checkout_is_unknown_through_the_cache(sqlite_app().await).await;
}

#[tokio::test]
async fn a_lost_listener_empties_the_cache() {
    let app = spawn_app().await;
    serving(&app).await;
    let id = app.reserved("cache-listener").await;
    read_until_cached(&app, &id, "cache-listener").await;
    let before = resets(&app);
    let pool = sqlx::PgPool::connect(&app.database_url)
        .await
        .expect("connect");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(&pool)
    .await
    .expect("terminate the listener");
    assert_eq!(killed, [true], "one listener connection");
    until("the lost listener is noticed", || resets(&app) > before).await;
    serving(&app).await;
    // Listening again, but what was cached before the loss is never served: a miss.
    let misses = reads(&app, "database");
    let (status, _) = read(&app, &id, "cache-listener").await;
    assert_eq!(status, 200);
    assert_eq!(reads(&app, "database"), misses + 1.0);
}

// ---------------------------------------------------------------- two replicas

#[tokio::test]
async fn another_replicas_write_is_read_after_its_notification() {
    let a = spawn_app().await;
    let b = a.replica(&[]).await;
    serving(&a).await;
    let id = a.reserved("cache-two").await;
    read_until_cached(&a, &id, "cache-two").await;
    let released = b
        .request(Method::DELETE, &format!("/v1/checkouts/{id}"), "cache-two")
        .send()
        .await
        .expect("request");
    assert!(released.status().is_success(), "{}", released.status());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = read(&a, &id, "cache-two").await;
        assert_eq!(status, 200);
        if body["state"] == "released" {
            break;
        }
        assert!(Instant::now() < deadline, "A never saw B's release: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The waiting read re-checks on its own only once an hour here: it can only come back
/// settled within its 20 s wait if B's change woke it.
#[tokio::test]
async fn a_waiting_read_returns_at_another_replicas_change() {
    let slow = [("checkout.wait_recheck_secs", "3600")];
    let a = spawn_app_with(&slow).await;
    let b = a.replica(&slow).await;
    serving(&a).await;
    // B's reservation takes 3 s upstream: A's read finds it pending and waits.
    a.sandbox().inject(fault("reserve:latency=3000:1"));
    let created = b.create_waiting("cache-waiter", 1).await;
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.expect("json body");
    let id = created["id"].as_str().expect("an id");
    // `request` asks for `Prefer: wait=20`.
    let resp = a
        .request(Method::GET, &format!("/v1/checkouts/{id}"), "cache-waiter")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json body");
    assert_eq!(body["state"], "reserved", "{body}");
    assert_eq!(body["tickets"][0]["quantity"], 2, "{body}");
}
