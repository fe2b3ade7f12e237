//! Several `serve` processes on one Postgres, against one sandbox: they share the work
//! without ever updating a cart twice at once, and when one is killed with SIGKILL the
//! others (or its restart) finish or release everything it had in flight.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use checkout_gateway::sandbox::{self, SandboxConfig, SandboxHandle};
use checkout_gateway::tools::testdb::fresh_postgres_url;

use crate::helpers::*;
use crate::process::{Replica, serve};

pub(crate) struct Cluster {
    /// What the sandbox enforces and every replica is configured with.
    quota: Option<f64>,
    pub(crate) database_url: String,
    upstream: String,
    pub(crate) sandbox: SandboxHandle,
    client: reqwest::Client,
}

impl Cluster {
    async fn new() -> Self {
        Self::with_quota(None).await
    }

    async fn with_quota(quota: Option<f64>) -> Self {
        Self::with_sandbox(SandboxConfig {
            force_polling: true,
            poll_wait_secs: 0.3,
            poll_rounds: 2,
            requests_per_second: quota,
            ..SandboxConfig::default()
        })
        .await
    }

    pub(crate) async fn with_sandbox(config: SandboxConfig) -> Self {
        let config = SandboxConfig {
            maintenance: crate::helpers::quiet_maintenance_hours(),
            ..config
        };
        let quota = config.requests_per_second;
        let sandbox = sandbox::spawn(config, TcpListener::bind("127.0.0.1:0").unwrap())
            .await
            .unwrap();
        Self {
            quota,
            database_url: fresh_postgres_url().await,
            upstream: sandbox.base_url(),
            sandbox,
            client: reqwest::Client::new(),
        }
    }

    /// Start a replica and wait until it answers.
    async fn replica(&self, abandon_after_secs: u64) -> Replica {
        let abandon = abandon_after_secs.to_string();
        self.replica_with(&[("APP__CHECKOUT__ABANDON_AFTER_SECS", &abandon)])
            .await
    }

    /// A replica with `env` on top of the cluster's settings (2 s leases, 1 s sweeps).
    pub(crate) async fn replica_with(&self, env: &[(&str, &str)]) -> Replica {
        let quota = self.quota.unwrap_or(200.0).to_string();
        let mut all = vec![
            ("APP__DATABASE__URL", self.database_url.clone()),
            ("APP__DATABASE__MAX_CONNECTIONS", "4".into()),
            ("APP__ADMISSION__USER_BURST", "10000".into()),
            ("APP__UPSTREAM__BASE_URL", self.upstream.clone()),
            ("APP__UPSTREAM__REQUESTS_PER_SECOND", quota),
            ("APP__CHECKOUT__LEASE_SECS", "2".into()),
            ("APP__SWEEPER__INTERVAL_SECS", "1".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
        serve(&all).await
    }

    pub(crate) async fn call(
        &self,
        replica: &Replica,
        method: Method,
        path: &str,
        user: &str,
        wait: u32,
    ) -> (u16, Value) {
        self.call_with(replica, method, path, user, wait, None)
            .await
    }

    pub(crate) async fn call_with(
        &self,
        replica: &Replica,
        method: Method,
        path: &str,
        user: &str,
        wait: u32,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", replica.address))
            .bearer_auth(token_for(user))
            .header("Prefer", format!("wait={wait}"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("replica answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn create(&self, replica: &Replica, user: &str, wait: u32) -> String {
        let body = json!({"event_id": EVENT, "captcha_token": fresh_captcha(),
            "tickets": [{"ticket_id": TICKET, "quantity": 1}]});
        let (status, body) = self
            .call_with(
                replica,
                Method::POST,
                "/v1/checkouts",
                user,
                wait,
                Some(body),
            )
            .await;
        assert!(status == 201 || status == 202, "{status} {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn pay(&self, replica: &Replica, user: &str, id: &str) {
        let (status, body) = self
            .call_with(
                replica,
                Method::PUT,
                &format!("/v1/checkouts/{id}/payment"),
                user,
                20,
                Some(payment_body(TEST_CARD, "123")),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Re-read until the checkout is in one of `states` (60 s at most).
    pub(crate) async fn settle(
        &self,
        replica: &Replica,
        user: &str,
        id: &str,
        states: &[&str],
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, body) = self
                .call(
                    replica,
                    Method::GET,
                    &format!("/v1/checkouts/{id}"),
                    user,
                    2,
                )
                .await;
            let state = body["state"].as_str().unwrap_or_default().to_owned();
            if states.contains(&state.as_str()) {
                return body;
            }
            assert!(Instant::now() < deadline, "{id} stuck in {state}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn assert_clean_protocol(&self) {
        let stats = self.sandbox.stats();
        assert_eq!(stats.concurrent_update_violations, 0, "{stats:?}");
        assert_eq!(stats.early_polls, 0, "{stats:?}");
        assert_eq!(stats.stale_polls, 0, "{stats:?}");
        assert!(
            stats.purchase_calls_by_cart.values().all(|n| *n == 1),
            "{stats:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_checkouts_without_overlapping_cart_updates() {
    let cluster = Cluster::new().await;
    let replicas = [
        cluster.replica(600).await,
        cluster.replica(600).await,
        cluster.replica(600).await,
    ];
    let mut ids = Vec::new();
    for i in 0..6 {
        let user = format!("user-{i}");
        // Each step goes to a different replica than the one before.
        let id = cluster.create(&replicas[i % 3], &user, 0).await;
        cluster
            .settle(&replicas[(i + 1) % 3], &user, &id, &["reserved"])
            .await;
        cluster.pay(&replicas[(i + 2) % 3], &user, &id).await;
        ids.push((user, id));
    }
    // Purchases fired at every replica at once, for every checkout.
    let cluster = &cluster;
    let purchases = ids.iter().flat_map(|(user, id)| {
        replicas.iter().map(move |r| async move {
            let path = format!("/v1/checkouts/{id}/purchase");
            cluster.call(r, Method::POST, &path, user, 20).await
        })
    });
    for (status, body) in futures::future::join_all(purchases).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "purchased");
    }
    let stats = cluster.sandbox.stats();
    assert_eq!(stats.orders, 6);
    cluster.assert_clean_protocol();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_checkouts_are_swept_by_some_replica() {
    let cluster = Cluster::new().await;
    let a = cluster.replica(2).await;
    let _b = cluster.replica(2).await;
    let held_before = cluster.sandbox.stats().seats_held;
    let mut ids = Vec::new();
    for i in 0..3 {
        let user = format!("leaver-{i}");
        let id = cluster.create(&a, &user, 20).await;
        ids.push((user, id));
    }
    for (user, id) in &ids {
        cluster.settle(&a, user, id, &["released"]).await;
    }
    assert_eq!(cluster.sandbox.stats().seats_held, held_before);
    cluster.assert_clean_protocol();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_leaves_nothing_unfinished() {
    let cluster = Cluster::new().await;
    // The shortest wait before an unproven purchase is called unconfirmed.
    let env = [
        ("APP__CHECKOUT__ABANDON_AFTER_SECS", "600"),
        ("APP__CHECKOUT__UNCONFIRMED_AFTER_SECS", "30"),
    ];
    let survivor = cluster.replica_with(&env).await;
    let mut purchased = 0;
    for round in 0..2 {
        let mut doomed = cluster.replica_with(&env).await;
        // Three checkouts paid and ready, purchased through the doomed replica…
        let mut buying = Vec::new();
        for i in 0..3 {
            let user = format!("buyer-{round}-{i}");
            let id = cluster.create(&survivor, &user, 20).await;
            cluster.pay(&survivor, &user, &id).await;
            buying.push((user, id));
        }
        for (user, id) in &buying {
            let (status, _) = cluster
                .call(
                    &doomed,
                    Method::POST,
                    &format!("/v1/checkouts/{id}/purchase"),
                    user,
                    0,
                )
                .await;
            // Still running (upstream polls twice): the kill lands mid-purchase.
            assert_eq!(status, 202);
        }
        // …and three reservations started on it…
        let mut reserving = Vec::new();
        for i in 0..3 {
            let user = format!("reserver-{round}-{i}");
            reserving.push((user.clone(), cluster.create(&doomed, &user, 0).await));
        }
        // …when it dies without a word.
        doomed.child.kill().expect("SIGKILL");
        let _ = doomed.child.wait();

        // A purchase the dead replica never sent is sent by the survivor (its send time was
        // not yet written); one it sent is found upstream. Only one killed between writing
        // its send time and sending may stay unproven, honestly: `purchase_unconfirmed`, with
        // no order upstream (the counts below) and its hold freed.
        for (user, id) in &buying {
            let body = cluster
                .settle(&survivor, user, id, &["purchased", "purchase_unconfirmed"])
                .await;
            if body["state"] == "purchased" {
                purchased += 1;
            }
        }
        for (user, id) in &reserving {
            let body = cluster
                .settle(&survivor, user, id, &["reserved", "failed"])
                .await;
            if body["state"] == "reserved" {
                let (status, _) = cluster
                    .call(
                        &survivor,
                        Method::DELETE,
                        &format!("/v1/checkouts/{id}"),
                        user,
                        20,
                    )
                    .await;
                assert_eq!(status, 204);
            }
        }
    }
    let stats = cluster.sandbox.stats();
    // Every order upstream made belongs to exactly one purchased checkout: none lost, none twice.
    assert_eq!(stats.orders, purchased, "{stats:?}");
    assert_eq!(
        stats.purchase_calls_by_cart.len() as u64,
        purchased,
        "{stats:?}"
    );
    assert_eq!(
        stats.seats_held, 0,
        "a hold outlived its checkout: {stats:?}"
    );
    cluster.assert_clean_protocol();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_payment_hands_the_checkout_back_for_a_new_payment() {
    let cluster = Cluster::new().await;
    let survivor = cluster.replica(600).await;
    let mut doomed = cluster.replica(600).await;
    let user = "payer";
    let id = cluster.create(&survivor, user, 20).await;
    cluster.settle(&survivor, user, &id, &["reserved"]).await;
    // Upstream takes 3 s to answer the payment: the replica dies meanwhile.
    cluster
        .sandbox
        .inject("payment:latency=3000:1".parse().unwrap());
    let paying = {
        let (client, url, token) = (
            cluster.client.clone(),
            doomed.address.clone(),
            token_for(user),
        );
        let path = format!("{url}/v1/checkouts/{id}/payment");
        tokio::spawn(async move {
            client
                .put(path)
                .bearer_auth(token)
                .json(&payment_body(TEST_CARD, "123"))
                .send()
                .await
        })
    };
    cluster.settle(&survivor, user, &id, &["paying"]).await;
    doomed.child.kill().expect("SIGKILL");
    let _ = doomed.child.wait();
    assert!(paying.await.unwrap().is_err(), "the dead replica answered");

    // The card died with the request: the checkout is handed back to pay again.
    let body = cluster.settle(&survivor, user, &id, &["reserved"]).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payment was interrupted"),
        "{body}"
    );
    cluster.pay(&survivor, user, &id).await;
    let (status, body) = cluster
        .call(
            &survivor,
            Method::POST,
            &format!("/v1/checkouts/{id}/purchase"),
            user,
            20,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "purchased");
    cluster.assert_clean_protocol();
}

/// A purchase whose replica died holds its `Idempotency-Key` only as long as its claim is
/// renewed: the app's repeat (same key) on another replica takes the key over after
/// `idempotency.takeover_after_secs` and gets the purchase's outcome, instead of
/// `idempotency_key_in_use` until the key expires. The purchase is still sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_takes_over_the_key_of_a_killed_replicas_purchase() {
    let cluster = Cluster::new().await;
    let env = [
        ("APP__CHECKOUT__ABANDON_AFTER_SECS", "600"),
        ("APP__IDEMPOTENCY__TAKEOVER_AFTER_SECS", "2"),
    ];
    let survivor = cluster.replica_with(&env).await;
    let mut doomed = cluster.replica_with(&env).await;
    let user = "repeater";
    let id = cluster.create(&survivor, user, 20).await;
    cluster.pay(&survivor, user, &id).await;
    // Upstream takes the purchase, then 3 s to answer it: the replica dies meanwhile.
    cluster
        .sandbox
        .inject("purchase:latency=3000:1".parse().unwrap());
    let purchase = |replica: &Replica| {
        cluster
            .client
            .post(format!("{}/v1/checkouts/{id}/purchase", replica.address))
            .bearer_auth(token_for(user))
            .header("Idempotency-Key", "buy-it")
            .header("Prefer", "wait=20")
            .send()
    };
    let first = tokio::spawn(purchase(&doomed));
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.sandbox.stats().faults_by_operation.get("purchase") != Some(&1) {
        assert!(
            Instant::now() < deadline,
            "the purchase never reached upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.child.kill().expect("SIGKILL");
    let _ = doomed.child.wait();
    assert!(first.await.unwrap().is_err(), "the dead replica answered");

    let repeat = purchase(&survivor).await.expect("survivor answers");
    let status = repeat.status().as_u16();
    let body: Value = repeat.json().await.unwrap();
    assert!(status == 200 || status == 202, "{status} {body}");
    let body = cluster.settle(&survivor, user, &id, &["purchased"]).await;
    assert!(body["order"]["order_id"].is_string(), "{body}");
    let stats = cluster.sandbox.stats();
    assert_eq!(stats.orders, 1, "{stats:?}");
    cluster.assert_clean_protocol();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_together_stay_within_the_upstream_quota() {
    let cluster = Cluster::with_quota(Some(5.0)).await;
    let replicas = [
        cluster.replica(600).await,
        cluster.replica(600).await,
        cluster.replica(600).await,
    ];
    let cluster = &cluster;
    let buyers = (0..6).map(|i| {
        let replica = &replicas[i % 3];
        async move {
            let user = format!("quota-{i}");
            let id = cluster.create(replica, &user, 30).await;
            cluster.settle(replica, &user, &id, &["reserved"]).await;
            cluster.pay(replica, &user, &id).await;
            let path = format!("/v1/checkouts/{id}/purchase");
            cluster.call(replica, Method::POST, &path, &user, 30).await
        }
    });
    for (status, body) in futures::future::join_all(buyers).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "purchased");
    }
    let stats = cluster.sandbox.stats();
    assert_eq!(stats.quota_429s, 0, "{stats:?}");
    assert!(stats.max_requests_in_any_second <= 5, "{stats:?}");
    assert_eq!(stats.orders, 6);
    cluster.assert_clean_protocol();
}
