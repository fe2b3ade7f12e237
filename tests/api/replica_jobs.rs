//! Three `serve` processes on one Postgres and one sandbox run the unredeemed-orders job once
//! per scheduled time (checked in the run table and by the sandbox's call count), and a run
//! whose replica is killed mid-run is taken over and completed once.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use serde_json::{Value, json};

use checkout_gateway::clock::OffsetClock;
use checkout_gateway::jobs::model::{JobName, JobRun, RunStatus};
use checkout_gateway::sandbox::{self, SandboxConfig, SandboxHandle};
use checkout_gateway::store::Store;
use checkout_gateway::tools::testdb::fresh_postgres_url;

use crate::helpers::*;
use crate::process::{Replica, serve};
use crate::receiver::{Receiver, SECRET};

struct Cluster {
    database_url: String,
    sandbox: SandboxHandle,
    clock: OffsetClock,
    receiver: Receiver,
    client: reqwest::Client,
}

impl Cluster {
    async fn new() -> Self {
        let clock = OffsetClock::default();
        let config = SandboxConfig {
            clock: Arc::new(clock.clone()),
            settable_clock: Some(clock.clone()),
            maintenance: crate::helpers::quiet_maintenance_hours(),
            // The job's query is written for orders "at least a day" old.
            dialect: sandbox::Dialect::parse(&["days_from_purchase=at_least"]).expect("a dialect"),
            ..SandboxConfig::default()
        };
        let sandbox = sandbox::spawn(config, TcpListener::bind("127.0.0.1:0").unwrap())
            .await
            .unwrap();
        Self {
            database_url: fresh_postgres_url().await,
            sandbox,
            clock,
            receiver: Receiver::start().await,
            client: reqwest::Client::new(),
        }
    }

    /// `serve` as `replica-{n}` (its run leases are owned by `replica-{n}-…`).
    async fn replica(&self, n: usize) -> Replica {
        serve(&[
            ("HOSTNAME", format!("replica-{n}")),
            ("APP__DATABASE__URL", self.database_url.clone()),
            ("APP__DATABASE__MAX_CONNECTIONS", "4".into()),
            ("APP__UPSTREAM__BASE_URL", self.sandbox.base_url()),
            ("APP__UPSTREAM__REQUESTS_PER_SECOND", "200".into()),
            ("APP__UNREDEEMED__SCHEDULE", "*/10 * * * * *".into()),
            ("APP__UNREDEEMED__QUERIES", "days_from_purchase=1".into()),
            ("APP__UNREDEEMED__LEASE_SECS", "2".into()),
            ("APP__UNREDEEMED__WEBHOOK_URL", self.receiver.url.clone()),
            ("APP__UNREDEEMED__WEBHOOK_SECRET", SECRET.into()),
            ("APP__UNREDEEMED__RETRY_INITIAL_MS", "200".into()),
        ])
        .await
    }

    /// A purchase through `replica`; a day later upstream lists it as unredeemed.
    async fn buy(&self, replica: &Replica, user: &str) {
        let call = |method: reqwest::Method, path: String, body: Option<Value>| {
            let mut req = self
                .client
                .request(method, format!("{}{path}", replica.address))
                .bearer_auth(token_for(user))
                .header("Prefer", "wait=20");
            if let Some(body) = body {
                req = req.json(&body);
            }
            req.send()
        };
        let created: Value = call(
            reqwest::Method::POST,
            "/v1/checkouts".into(),
            Some(json!({"event_id": EVENT, "captcha_token": fresh_captcha(),
                        "tickets": [{"ticket_id": TICKET, "quantity": 1}]})),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = created["id"].as_str().expect("checkout id").to_owned();
        let paid = call(
            reqwest::Method::PUT,
            format!("/v1/checkouts/{id}/payment"),
            Some(payment_body(TEST_CARD, "123")),
        )
        .await
        .unwrap();
        assert_eq!(paid.status(), 200);
        let bought: Value = call(
            reqwest::Method::POST,
            format!("/v1/checkouts/{id}/purchase"),
            None,
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(bought["state"], "purchased", "{bought}");
    }

    fn unredeemed_calls(&self) -> u64 {
        let stats = self.sandbox.stats();
        stats
            .requests_by_operation
            .get("unredeemed")
            .copied()
            .unwrap_or(0)
    }
}

/// Wait (at most `secs`) until `done` holds for the runs (latest first).
async fn runs_until(store: &Store, secs: u64, done: impl Fn(&[JobRun]) -> bool) -> Vec<JobRun> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let runs = store
            .jobs
            .list_runs(JobName::Unredeemed, 100)
            .await
            .unwrap();
        if done(&runs) {
            return runs;
        }
        assert!(Instant::now() < deadline, "runs never got there: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn three_replicas_run_each_scheduled_time_once_and_finish_a_killed_runners_run() {
    let cluster = Cluster::new().await;
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(Some(cluster.replica(n).await));
    }
    let store = Store::connect(&cluster.database_url).await.unwrap();
    cluster.buy(replicas[0].as_ref().unwrap(), "ann").await;
    cluster.buy(replicas[1].as_ref().unwrap(), "ben").await;
    cluster.clock.advance(TimeDelta::days(2));
    // Runs that started before the orders were a day old (upstream's clock moved) find none.
    let aged = chrono::Utc::now();
    let after_aging = |r: &&JobRun| r.status == RunStatus::Succeeded && r.started_at > aged;

    // Two scheduled times pass with everyone up.
    let runs = runs_until(&store, 40, |runs| {
        runs.iter().filter(after_aging).count() >= 2
    })
    .await;
    let ok: Vec<&JobRun> = runs.iter().filter(after_aging).collect();
    assert_eq!(
        ok[0].scheduled_at - ok[1].scheduled_at,
        TimeDelta::seconds(10),
        "consecutive scheduled times, one run each: {runs:?}"
    );
    assert!(
        ok.iter().all(|r| r.attempts == 1 && r.known_orders == 2),
        "{runs:?}"
    );

    // The next run is slow upstream; its runner is killed mid-run.
    cluster
        .sandbox
        .inject("unredeemed:latency=4000:1".parse().unwrap());
    let before: Vec<_> = runs.iter().map(|r| r.id).collect();
    let runs = runs_until(&store, 20, |runs| {
        runs.iter()
            .any(|r| !before.contains(&r.id) && r.status == RunStatus::Running)
    })
    .await;
    let slow = runs
        .iter()
        .find(|r| !before.contains(&r.id))
        .cloned()
        .unwrap();
    let owner = slow.lease.as_ref().expect("leased").owner.clone();
    let killed: usize = owner["replica-".len()..]
        .split('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("owner names its replica");
    replicas[killed] = None; // SIGKILL
    let runs = runs_until(&store, 20, |runs| {
        runs.iter()
            .any(|r| r.id == slow.id && r.status == RunStatus::Succeeded)
    })
    .await;
    let finished = runs.iter().find(|r| r.id == slow.id).unwrap();
    assert_eq!(finished.attempts, 2, "taken over once: {finished:?}");
    assert_eq!(finished.scheduled_at, slow.scheduled_at);
    assert_eq!(finished.known_orders, 2);
    let findings = store.jobs.findings(slow.id).await.unwrap();
    assert_eq!(findings.len(), 2, "recorded once per order: {findings:?}");

    // Every message of that run reaches the receiver exactly once (it answers 200).
    let receiver = &cluster.receiver;
    receiver
        .wait_until("the taken-over run's messages", |seen| {
            seen.iter()
                .filter(|r| r.body["data"]["run_id"] == slow.id.to_string())
                .count()
                >= 2
        })
        .await;

    drop(replicas);
    let runs = store
        .jobs
        .list_runs(JobName::Unredeemed, 100)
        .await
        .unwrap();
    let claims = runs.iter().map(|r| r.attempts).sum::<i64>() as u64;
    let calls = cluster.unredeemed_calls();
    // One upstream call per claim: no replica ran a time it did not own. (A replica stopped
    // between claiming and calling leaves a claim without a call.)
    assert!(
        calls <= claims && calls + 1 >= claims,
        "{calls} upstream calls for {claims} claims: {runs:?}"
    );
    // At least once, and deduplicable: every (run, order) has exactly one message id.
    let seen = receiver.seen();
    assert!(seen.iter().all(|r| r.signature_valid));
    let mut pairs: Vec<(String, String, String)> = seen
        .iter()
        .map(|r| {
            let data = &r.body["data"];
            (
                data["run_id"].as_str().unwrap_or_default().to_owned(),
                data["order_token"].as_str().unwrap_or_default().to_owned(),
                r.id.clone(),
            )
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    let mut keys: Vec<_> = pairs.iter().map(|(run, order, _)| (run, order)).collect();
    let distinct_ids = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), distinct_ids, "one message id per (run, order)");
}
