//! The unredeemed-orders job against the sandbox: orders placed through the gateway, the
//! clock set forward, users found for both query kinds, an unknown account reported; signed
//! webhooks seen once, retried on 500s and timeouts, dead-lettered, re-driven; the admin
//! token; the catch-up rule after every replica was down.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use checkout_gateway::jobs::model::{DeliveryStatus, JobName, RunStatus, Trigger};
use checkout_gateway::store::Store;

use crate::helpers::*;
use crate::receiver::{Mode, Receiver, SECRET};

const ADMIN_TOKEN: &str = "test-admin-token";
const DAY: i64 = 86_400;

/// A purchase through the gateway's public API; returns the order token.
async fn buy(app: &TestApp, user: &str, event: &str, ticket: &str) -> String {
    let resp = app.create_checkout(user, event, ticket, 1).await;
    assert_eq!(resp.status(), 201, "create");
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.pay(user, &id, TEST_CARD, "123").await.status(), 200);
    let resp = app.purchase(user, &id).await;
    assert_eq!(resp.status(), 200, "purchase");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], "purchased", "{body}");
    body["order"]["order_token"].as_str().unwrap().to_owned()
}

async fn admin(app: &TestApp, method: Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, format!("{}{path}", app.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request")
}

async fn admin_json(app: &TestApp, method: Method, path: &str) -> Value {
    let resp = admin(app, method, path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json")
}

/// `user_id` per order token of a listing.
fn users_by_token(orders: &Value) -> Vec<(String, Value)> {
    let mut pairs: Vec<(String, Value)> = orders
        .as_array()
        .expect("array")
        .iter()
        .map(|o| {
            (
                o["order_token"].as_str().unwrap().to_owned(),
                o["user_id"].clone(),
            )
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

fn sorted(mut pairs: Vec<(String, Value)>) -> Vec<(String, Value)> {
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

async fn store_of(app: &TestApp) -> Store {
    Store::connect(&app.database_url).await.expect("store")
}

fn webhook_app_overrides(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("admin.token", ADMIN_TOKEN.into()),
        ("unredeemed.webhook_url", receiver.url.clone()),
        ("unredeemed.webhook_secret", SECRET.into()),
        ("unredeemed.webhook_timeout_secs", "1".into()),
        ("unredeemed.retry_initial_ms", "100".into()),
        ("unredeemed.retry_max_secs", "1".into()),
        ("unredeemed.retry_for_secs", "60".into()),
        ("unredeemed.queries", "days_from_purchase=1".into()),
        (AT_LEAST.0, AT_LEAST.1.into()),
    ]
}

/// These tests are about the job's mechanics, written for orders "at least N days" old: the
/// sandbox reads `days_from_purchase` that way here (the literal reading, "within", is the
/// default; `docs/upstream-assumptions.md` row 3, and the operator's queries choose).
const AT_LEAST: (&str, &str) = ("sandbox.dialect", "days_from_purchase=at_least");

async fn spawn_with(owned: &[(&'static str, String)]) -> TestApp {
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(&pairs).await
}

#[tokio::test]
async fn users_are_found_for_both_query_kinds_and_an_unknown_account_is_reported() {
    let app = spawn_app_with(&[("admin.token", ADMIN_TOKEN), AT_LEAST]).await;
    // Another system on the same apikey: its buyer's source_account_id means nothing here.
    let sandbox_url = app.sandbox().base_url();
    let other = spawn_app_with(&[("upstream.base_url", sandbox_url.as_str())]).await;

    // The sandbox dates events by calendar day in the venue's zone: the near one starts
    // between 5 d 0.5 h and 6 d 1.5 h from now, whatever the time of day (so "4 days before
    // the event" after 3 days always holds it, and never the far one).
    let near = buy(&app, "near-user", TINY_EVENT, "000000000001").await;
    let far = buy(&app, "far-user", EVENT, TICKET).await; // event in 30 days
    let stranger = buy(&other, "stranger", EVENT, TICKET).await;
    // Three days later (the in-process sandbox shares the app's clock).
    app.advance(3 * DAY);

    let listed = admin_json(
        &app,
        Method::GET,
        "/admin/unredeemed-orders?days_from_purchase=1",
    )
    .await;
    assert_eq!(
        users_by_token(&listed["orders"]),
        sorted(vec![
            (near.clone(), "near-user".into()),
            (far.clone(), "far-user".into()),
            (stranger.clone(), Value::Null),
        ])
    );
    let listed = admin_json(
        &app,
        Method::GET,
        "/admin/unredeemed-orders?days_before_event=4",
    )
    .await;
    assert_eq!(
        users_by_token(&listed["orders"]),
        vec![(near.clone(), "near-user".into())]
    );

    // The job records the same, per query kind, and keeps the unknown account.
    let report = admin_json(
        &app,
        Method::POST,
        "/admin/jobs/unredeemed/run?queries=days_from_purchase=1",
    )
    .await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(
        (report["known"].as_u64(), report["unknown"].as_u64()),
        (Some(2), Some(1))
    );
    let found: Vec<(String, Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["order_token"].as_str().unwrap().to_owned(),
                f["user_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        sorted(found),
        sorted(vec![
            (near.clone(), "near-user".into()),
            (far, "far-user".into()),
            (stranger, Value::Null),
        ])
    );
    let report = admin_json(
        &app,
        Method::POST,
        "/admin/jobs/unredeemed/run?queries=days_before_event=4",
    )
    .await;
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["user_id"], "near-user");
    assert_eq!(findings[0]["query"], "days_before_event=4");
    assert!(
        findings[0]["order_id"]
            .as_str()
            .unwrap()
            .starts_with("ord_")
    );

    let runs = store_of(&app)
        .await
        .jobs
        .list_runs(JobName::Unredeemed, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r.trigger == Trigger::Manual && r.status == RunStatus::Succeeded)
    );
    assert_eq!(
        (runs[1].known_orders, runs[1].unknown_orders),
        (2, 1),
        "the unknown account is counted in the run record"
    );
}

#[tokio::test]
async fn admin_routes_want_the_token_and_are_off_without_one() {
    let app = spawn_app_with(&[("admin.token", ADMIN_TOKEN)]).await;
    let url = format!("{}/admin/webhook-deliveries?status=dead", app.admin_address);
    let missing = app.client.get(&url).send().await.unwrap();
    assert_problem(missing, 401, "unauthorized").await;
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401, "unauthorized").await;
    let run = app
        .client
        .post(format!("{}/admin/jobs/unredeemed/run", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_problem(run, 401, "unauthorized").await;
    let ok = app
        .client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let off = spawn_app().await;
    let resp = off
        .client
        .get(format!("{}/admin/checkouts", off.admin_address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn each_finding_is_delivered_signed_and_once() {
    let receiver = Receiver::start().await;
    let app = spawn_with(&webhook_app_overrides(&receiver)).await;
    let first = buy(&app, "alice", EVENT, TICKET).await;
    let second = buy(&app, "bob", TINY_EVENT, "000000000001").await;
    app.advance(2 * DAY);

    let report = admin_json(&app, Method::POST, "/admin/jobs/unredeemed/run").await;
    assert_eq!(report["queued"], 2, "{report}");
    let store = store_of(&app).await;
    wait_for(&store, DeliveryStatus::Delivered, 2).await;

    let seen = receiver.seen();
    assert_eq!(
        seen.len(),
        2,
        "each message once when the receiver answers 200: {seen:?}"
    );
    assert!(seen.iter().all(|r| r.signature_valid && r.answered == 200));
    let mut delivered: Vec<(String, String)> = seen
        .iter()
        .map(|r| {
            let data = &r.body["data"];
            (
                data["order_token"].as_str().unwrap().to_owned(),
                data["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    delivered.sort();
    let mut expected = vec![(first, "alice".to_owned()), (second, "bob".to_owned())];
    expected.sort();
    assert_eq!(delivered, expected);
    let body = &seen[0].body;
    assert_eq!(body["type"], "order.unredeemed");
    assert!(
        body["data"]["order"]["redemption_url"].is_string(),
        "{body}"
    );
    for r in &seen {
        // Only the user id and the order's public fields: no card data, no email.
        assert!(
            !r.raw.contains(&TEST_CARD[12..]) && !r.raw.contains('@'),
            "{}",
            r.raw
        );
    }
    // A further pass sends nothing again.
    let pass = app
        .running_jobs()
        .delivery
        .as_ref()
        .unwrap()
        .deliver_due()
        .await;
    assert_eq!(pass.delivered, 0);
    assert_eq!(receiver.seen().len(), 2);
}

#[tokio::test]
async fn failures_are_retried_then_dead_lettered_and_a_redrive_delivers() {
    let receiver = Receiver::start().await;
    receiver.set_mode(Mode::Fail);
    let app = spawn_with(&webhook_app_overrides(&receiver)).await;
    buy(&app, "carol", EVENT, TICKET).await;
    app.advance(2 * DAY);
    admin_json(&app, Method::POST, "/admin/jobs/unredeemed/run").await;

    receiver
        .wait_until("two refused attempts", |seen| {
            seen.iter().filter(|r| r.answered == 500).count() >= 2
        })
        .await;
    let id = receiver.seen()[0].id.clone();
    assert!(
        receiver.seen().iter().all(|r| r.id == id),
        "retries keep the id"
    );
    receiver.set_mode(Mode::Stall(Duration::from_secs(3)));
    receiver
        .wait_until("an unanswered attempt", |seen| {
            seen.iter().any(|r| r.answered == 0)
        })
        .await;
    receiver.set_mode(Mode::Fail);
    let store = store_of(&app).await;
    let timed_out = wait_for_delivery(&store, &id, |d| {
        d.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer"))
    })
    .await;
    assert_eq!(
        timed_out.status,
        DeliveryStatus::Pending,
        "a timeout is retried"
    );

    // Past the retry period: the next failure dead-letters the message.
    app.advance(61);
    wait_for(&store, DeliveryStatus::Dead, 1).await;
    let dead = admin_json(&app, Method::GET, "/admin/webhook-deliveries?status=dead").await;
    let dead = dead["deliveries"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], id.as_str());
    assert!(dead[0]["attempts"].as_i64().unwrap() >= 3, "{dead:?}");
    assert_eq!(receiver.accepted(&id), 0);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.admin_address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_webhook_dead_letters") && l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"dead_lettered\""), "{metrics}");

    receiver.set_mode(Mode::Accept);
    let redriven = admin(
        &app,
        Method::POST,
        &format!("/admin/webhook-deliveries/{id}/redrive"),
    )
    .await;
    assert_eq!(redriven.status(), 200);
    receiver
        .wait_until("the re-driven message", |_| receiver.accepted(&id) == 1)
        .await;
    let delivered = wait_for_delivery(&store, &id, |d| d.status == DeliveryStatus::Delivered).await;
    assert!(delivered.delivered_at.is_some());
    let again = admin(
        &app,
        Method::POST,
        &format!("/admin/webhook-deliveries/{id}/redrive"),
    )
    .await;
    assert_problem(again, 409, "invalid_state").await;
}

#[tokio::test]
async fn a_missed_schedule_is_caught_up_once_when_a_replica_comes_back() {
    let every_minute = [
        ("unredeemed.enabled", "true"),
        ("unredeemed.schedule", "0 * * * * *"),
    ];
    let first = spawn_app_with(&every_minute).await;
    // Every clock setting lands 5 s into a minute, so the real seconds a step takes never
    // carry it into the next minute (which would make one more time due). Read after the
    // app started: a replica never reaches back to a time before its start, so a minute
    // boundary crossed while it booted would leave the first time never due.
    let now = chrono::Utc::now();
    let base = now - chrono::TimeDelta::seconds(now.timestamp() % 60 - 5);
    let minutes = chrono::TimeDelta::minutes;
    first.set_clock(base + minutes(1));
    let store = store_of(&first).await;
    let runs = wait_for_runs(&store, 1).await;
    let first_time = runs[0].scheduled_at;
    let database_url = first.database_url.clone();
    drop(first);

    // Every replica was down for ten scheduled times; one comes back.
    let mut overrides = every_minute.to_vec();
    overrides.push(("database.url", database_url.as_str()));
    let back = spawn_app_with(&overrides).await;
    back.set_clock(base + minutes(12));
    let runs = wait_for_runs(&store, 2).await;
    let caught_up = runs[0].scheduled_at;
    let latest_due = caught_up.timestamp() - caught_up.timestamp() % 60;
    assert_eq!(caught_up.timestamp(), latest_due);
    assert!(
        caught_up - first_time >= chrono::TimeDelta::minutes(10),
        "{caught_up} vs {first_time}"
    );
    // The next minute is one more run: nothing was queued up behind the catch-up.
    back.set_clock(base + minutes(13));
    let runs = wait_for_runs(&store, 3).await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(
        runs[0].scheduled_at - caught_up,
        chrono::TimeDelta::minutes(1)
    );
    assert!(
        runs.iter()
            .all(|r| r.trigger == Trigger::Schedule && r.attempts == 1)
    );
}

/// Wait (at most 20 s) until `n` scheduled runs have succeeded; latest first.
async fn wait_for_runs(store: &Store, n: usize) -> Vec<checkout_gateway::jobs::model::JobRun> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = store.jobs.list_runs(JobName::Unredeemed, 50).await.unwrap();
        let done = runs
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count();
        if done >= n {
            return runs;
        }
        assert!(Instant::now() < deadline, "waited for {n} runs: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for(store: &Store, status: DeliveryStatus, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = store.jobs.list_deliveries(status, 100).await.unwrap();
        if found.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {n} {status:?} deliveries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_delivery(
    store: &Store,
    id: &str,
    done: impl Fn(&checkout_gateway::jobs::model::Delivery) -> bool,
) -> checkout_gateway::jobs::model::Delivery {
    let id = id.parse().expect("delivery id");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let delivery = store.jobs.get_delivery(id).await.unwrap().expect("exists");
        if done(&delivery) {
            return delivery;
        }
        assert!(
            Instant::now() < deadline,
            "delivery never got there: {delivery:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A manual run whose caller goes away mid-way (its admin request dropped, here its future
/// aborted while upstream is slow) is not left `running` with a lease renewed forever: it is
/// recorded `failed`, interrupted, and its lease is no longer renewed.
#[tokio::test]
async fn a_manual_run_dropped_mid_way_is_released() {
    let app = spawn_app().await;
    app.sandbox().inject(fault("unredeemed:latency=30000"));
    let job = app.running_jobs().unredeemed.clone();
    let run = tokio::spawn(async move {
        let request = checkout_gateway::jobs::unredeemed::RunRequest::Manual { queries: None };
        job.run(request).await.map(|_| ())
    });
    let store = store_of(&app).await;
    let runs = || async {
        store
            .jobs
            .list_runs(JobName::Unredeemed, 10)
            .await
            .expect("runs")
    };
    eventually("the run started", || async {
        runs().await.iter().any(|r| r.status == RunStatus::Running)
    })
    .await;
    run.abort();
    assert!(run.await.is_err(), "aborted mid-way");
    eventually("the run released", || async {
        runs().await.iter().all(|r| r.status == RunStatus::Failed)
    })
    .await;
    let released = runs().await;
    let error = released[0].error.clone().unwrap_or_default();
    assert!(error.contains("interrupted"), "{error}");
    assert!(released[0].finished_at.is_some());
}

/// `checkout-gateway jobs unredeemed` builds the store and the upstream client only: here the
/// listen addresses it is given are taken (by a running app), and it still runs and records
/// the run — it never binds an HTTP server.
#[tokio::test]
async fn the_command_line_run_needs_no_http_server() {
    use checkout_gateway::config::{LoadOptions, Settings};
    use checkout_gateway::startup::once::{self, CliRun};
    use checkout_gateway::upstream::UnredeemedQuery;

    let app = spawn_app().await;
    let token = buy(&app, "cli-user", EVENT, TICKET).await;
    let sandbox_url = app.sandbox().base_url();
    let (quiet_start, quiet_end) = quiet_maintenance_hours();
    let (quiet_start, quiet_end) = (quiet_start.to_string(), quiet_end.to_string());
    let taken = |address: &str| address.trim_start_matches("http://").to_owned();
    let (public, admin) = (taken(&app.address), taken(&app.admin_address));
    let settings = Settings::load(&LoadOptions::local_with(&[
        ("database.url", app.database_url.as_str()),
        ("upstream.base_url", sandbox_url.as_str()),
        ("http.listen", public.as_str()),
        ("admin.listen", admin.as_str()),
        ("maintenance.start_hour", quiet_start.as_str()),
        ("maintenance.end_hour", quiet_end.as_str()),
    ]))
    .expect("settings");

    let request = CliRun {
        query: Some(UnredeemedQuery::DaysFromPurchase(1)),
        json: true,
    };
    once::run(settings, request).await.expect("the run");

    let store = store_of(&app).await;
    let runs = store
        .jobs
        .list_runs(JobName::Unredeemed, 10)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].trigger, Trigger::Manual);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    let findings = store.jobs.findings(runs[0].id).await.expect("findings");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].order_token, token);
    assert_eq!(
        findings[0].user_id.as_ref().map(|u| u.as_str()),
        Some("cli-user")
    );
}

/// A run that fails (upstream unreachable) fails the command too: a script or an operator
/// following the runbook sees it in the exit status (found by review: it exited 0).
#[tokio::test]
async fn a_failed_command_line_run_is_an_error() {
    use checkout_gateway::config::{LoadOptions, Settings};
    use checkout_gateway::startup::once::{self, CliRun};

    let app = spawn_app().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("addr").port()
    };
    let unreachable = format!("http://127.0.0.1:{closed}/partners/v1");
    let (public, admin) = (free_address(), free_address());
    let settings = Settings::load(&LoadOptions::local_with(&[
        ("database.url", app.database_url.as_str()),
        ("upstream.base_url", unreachable.as_str()),
        ("upstream.timeout_secs", "1"),
        ("http.listen", public.as_str()),
        ("admin.listen", admin.as_str()),
    ]))
    .expect("settings");
    let request = CliRun {
        query: None,
        json: true,
    };
    let outcome = once::run(settings, request).await;
    assert!(outcome.is_err(), "a failed run exited cleanly");
    let runs = store_of(&app)
        .await
        .jobs
        .list_runs(JobName::Unredeemed, 10)
        .await
        .expect("runs");
    assert_eq!(runs[0].status, RunStatus::Failed, "{runs:?}");
}

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("addr").to_string()
}
