//! The gateway against `strict_upstream`, an independent Partner-API server that follows the
//! seed docs literally (always polling, OAuth, `True-Client-IP`, a quota, no concurrent cart
//! updates): nothing in a purchase, a release or concurrent purchases may rely on sandbox
//! quirks, and two replicas together must stay within the quota. The first two tests check
//! that the strict server catches what it counts, so the zero counts of the others mean
//! something.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::strict_upstream::{StrictConfig, StrictStats, StrictUpstream, spawn_strict};

const KEY: &str = "GkB8Z037ZfqbLCNtZViAgrEegbsrZ6Ne";
const SECRET: &str = "MzK3lcZuLpvGhD9Z";

fn config(requests_per_second: f64) -> StrictConfig {
    StrictConfig {
        apikey: KEY.into(),
        client_secret: SECRET.into(),
        requests_per_second,
        ..StrictConfig::default()
    }
}

/// A gateway on `strict` configured for the same quota (5/s); `more` adds config keys.
async fn gateway_for(strict: &StrictUpstream, more: &[(&str, &str)]) -> TestApp {
    let url = strict.base_url();
    let mut keys = vec![
        ("upstream.base_url", url.as_str()),
        ("upstream.apikey", KEY),
        ("upstream.client_secret", SECRET),
        ("upstream.requests_per_second", "5"),
    ];
    keys.extend_from_slice(more);
    spawn_app_with(&keys).await
}

/// Every counted breach is zero and nothing was refused.
fn assert_clean(stats: &StrictStats) {
    assert_eq!(stats.missing_bearer, 0, "{stats:#?}");
    assert_eq!(stats.missing_true_client_ip, 0, "{stats:#?}");
    assert_eq!(stats.quota_429s, 0, "{stats:#?}");
    assert_eq!(stats.early_polls, 0, "{stats:#?}");
    assert_eq!(stats.stale_polls, 0, "{stats:#?}");
    assert_eq!(stats.concurrent_updates, 0, "{stats:#?}");
    assert!(stats.refusals.is_empty(), "{stats:#?}");
}

/// Reserve, pay and purchase as `user`; returns the purchased checkout.
async fn buy(app: &TestApp, user: &str) -> Value {
    let id = app.paid(user).await;
    let resp = app.purchase(user, &id).await;
    assert_eq!(resp.status(), 200, "purchase as {user}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], "purchased", "{body}");
    body
}

/// A raw Partner-API client for checking the strict server itself.
struct Raw {
    base: String,
    client: reqwest::Client,
    bearer: String,
}

impl Raw {
    async fn connect(strict: &StrictUpstream) -> Self {
        let (base, client) = (strict.base_url(), reqwest::Client::new());
        let token: Value = client
            .post(format!("{base}/oauth/accesstoken?apikey={KEY}"))
            .basic_auth(KEY, Some(SECRET))
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(token["expires_in"], "3599");
        let bearer = token["access_token"].as_str().unwrap().to_owned();
        Self {
            base,
            client,
            bearer,
        }
    }

    /// `path` below the base (with the apikey added), or an absolute polling url.
    fn call(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = match path.starts_with("http") {
            true => path.to_owned(),
            false => format!("{}/{path}?apikey={KEY}", self.base),
        };
        self.client
            .request(method, url)
            .bearer_auth(&self.bearer)
            .header("True-Client-IP", "203.0.113.7")
    }

    /// Opens a cart and sends a reserve; returns the reserve body and its polling url.
    async fn reserve(&self, captcha: &str) -> (Value, String) {
        let cart: Value = self
            .call(Method::POST, "cart")
            .json(&json!({"token": captcha}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cart_id = cart["cart_id"].as_str().unwrap();
        assert!(cart_id.contains('+') && cart_id.contains('/') && cart_id.ends_with('='));
        let body = json!({"cart_id": cart_id,
            "event": {"id": EVENT, "tickets": [{"id": TICKET, "quantity": 1}]}});
        let polling = self.call(Method::PUT, "cart/tickets").json(&body);
        (body, self.polling_url(polling).await)
    }

    async fn polling_url(&self, request: reqwest::RequestBuilder) -> String {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 202);
        let polling: Value = resp.json().await.unwrap();
        polling["polling_url"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn the_strict_server_counts_missing_headers_early_polls_conflicts_and_quota() {
    let strict = spawn_strict(StrictConfig {
        poll_wait_secs: 60.0,
        ..config(8.0)
    })
    .await;
    let raw = Raw::connect(&strict).await;
    let captcha = |query: &str| raw.client.get(format!("{}/captcha{query}", raw.base));
    assert_eq!(captcha("").send().await.unwrap().status(), 401);
    let no_bearer = captcha(&format!("?apikey={KEY}")).send().await.unwrap();
    assert_eq!(no_bearer.status(), 401);
    let no_ip = captcha(&format!("?apikey={KEY}")).bearer_auth(&raw.bearer);
    assert_eq!(no_ip.send().await.unwrap().status(), 400);
    let (reserve, url) = raw.reserve("t-1").await;
    // `wait` is 60 s: this poll is early.
    let early = raw.call(Method::GET, &url).send().await.unwrap();
    assert_eq!(early.status(), 202);
    let again = raw.call(Method::PUT, "cart/tickets").json(&reserve);
    assert_eq!(again.send().await.unwrap().status(), 409);
    // Nine calls at once exceed 8/s whatever came before.
    let burst = (0..9).map(|_| raw.call(Method::PUT, "cart/tickets").json(&reserve).send());
    futures::future::join_all(burst).await;

    let stats = strict.stats();
    assert_eq!(stats.missing_bearer, 1, "{stats:#?}");
    assert_eq!(stats.missing_true_client_ip, 1, "{stats:#?}");
    assert_eq!(stats.early_polls, 1, "{stats:#?}");
    assert!(stats.quota_429s >= 1, "{stats:#?}");
    assert_eq!(
        stats.quota_429s + stats.concurrent_updates,
        10,
        "{stats:#?}"
    );
}

#[tokio::test]
async fn the_strict_server_polls_in_rounds_and_counts_stale_polls() {
    let strict = spawn_strict(StrictConfig {
        poll_wait_secs: 0.0,
        ..config(50.0)
    })
    .await;
    let raw = Raw::connect(&strict).await;
    let (_, first) = raw.reserve("t-2").await;
    let second = raw.polling_url(raw.call(Method::GET, &first)).await;
    let third = raw.polling_url(raw.call(Method::GET, &second)).await;
    assert!(first != second && second != third);
    let stale = raw.call(Method::GET, &first).send().await.unwrap();
    assert_eq!(stale.status(), 404);
    let done = raw.call(Method::GET, &third).send().await.unwrap();
    assert_eq!(done.status(), 202, "the docs' Poll answers 202");
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["cart"]["totals"]["grand"], 25);
    assert_eq!(strict.stats().stale_polls, 1);
}

#[tokio::test]
async fn a_whole_purchase_follows_the_docs_literally() {
    let strict = spawn_strict(config(5.0)).await;
    let app = gateway_for(&strict, &[]).await;
    let event = app.get_json(&format!("/v1/events/{EVENT}"), "alice").await;
    assert_eq!(event["transactable"], true, "{event}");
    assert_eq!(event["timezone"], strict.time_zone());

    let bought = buy(&app, "alice").await;
    assert_eq!(bought["totals"]["grand"], bought["order"]["grand_total"]);
    let order_id = bought["order"]["order_id"].as_str().unwrap();
    let orders = app.get_json("/v1/orders", "alice").await;
    assert_eq!(orders["orders"][0]["order_id"], order_id);

    let stats = strict.stats();
    assert_clean(&stats);
    assert_eq!(stats.orders, 1, "{stats:#?}");
    assert_eq!(stats.oauth_tokens_issued, 1, "{stats:#?}");
    let purchases: Vec<u32> = stats.purchases_by_cart.values().copied().collect();
    assert_eq!(purchases, [1], "{stats:#?}");
}

#[tokio::test]
async fn a_released_checkout_deletes_its_cart_upstream() {
    let strict = spawn_strict(config(5.0)).await;
    let app = gateway_for(&strict, &[]).await;
    let id = app.reserved("erin").await;
    assert_eq!(strict.stats().open_carts, 1);
    let resp = app
        .request(Method::DELETE, &format!("/v1/checkouts/{id}"), "erin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let body = app.get_json(&format!("/v1/checkouts/{id}"), "erin").await;
    assert_eq!(body["state"], "released", "{body}");

    let stats = strict.stats();
    assert_clean(&stats);
    assert_eq!(stats.carts_deleted, 1, "{stats:#?}");
    assert_eq!(stats.open_carts, 0, "{stats:#?}");
    assert!(stats.purchases_by_cart.is_empty(), "{stats:#?}");
}

#[tokio::test]
async fn concurrent_purchases_stay_within_the_quota() {
    let strict = spawn_strict(config(5.0)).await;
    let app = gateway_for(&strict, &[]).await;
    let users: Vec<String> = (0..5).map(|i| format!("user-{i}")).collect();
    let started = std::time::Instant::now();
    let bought = futures::future::join_all(users.iter().map(|u| buy(&app, u))).await;
    let orders: std::collections::HashSet<_> = bought
        .iter()
        .map(|b| b["order"]["order_id"].clone())
        .collect();
    assert_eq!(orders.len(), users.len());

    let stats = strict.stats();
    assert_clean(&stats);
    assert_eq!(stats.orders, 5, "{stats:#?}");
    assert_eq!(stats.purchases_by_cart.len(), 5, "{stats:#?}");
    assert!(
        stats.purchases_by_cart.values().all(|n| *n == 1),
        "{stats:#?}"
    );
    // Each purchase needs at least 9 calls (cart, reserve + 3 polls, payment, purchase + 3
    // polls): 45 calls at 5/s cannot take less than 8 s unless the quota was exceeded.
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn replicas_together_stay_within_the_quota() {
    let strict = spawn_strict(config(5.0)).await;
    let first = gateway_for(&strict, &[]).await;
    let shared_db = [("database.url", first.database_url.as_str())];
    let second = gateway_for(&strict, &shared_db).await;
    let users: Vec<String> = (0..3).map(|i| format!("user-{i}")).collect();
    let on_first = futures::future::join_all(users.iter().map(|u| buy(&first, u)));
    let on_second = futures::future::join_all(users.iter().map(|u| buy(&second, u)));
    tokio::join!(on_first, on_second);

    let stats = strict.stats();
    assert_clean(&stats);
    assert_eq!(stats.orders, 6, "{stats:#?}");
    assert!(
        stats.purchases_by_cart.values().all(|n| *n == 1),
        "{stats:#?}"
    );
}
