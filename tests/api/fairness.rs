//! One user cannot starve the others: a flood of one user's reads (unknown events, captcha
//! pages) gets that user's share of the quota queue and 429s past it, while another user's
//! whole purchase goes through without upstream ever answering 429. Unknown event ids and the
//! captcha page are remembered, so repeats spend nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use reqwest::Method;

use crate::helpers::*;

/// What the flooder's requests got.
#[derive(Default)]
struct Flood {
    refused_for_share: AtomicU64,
    server_errors: AtomicU64,
    answered: AtomicU64,
}

/// A user's whole purchase, as an app makes it: the event, the captcha page, reserve, pay,
/// purchase. Returns how long it took.
async fn whole_purchase(app: &TestApp, user: &str) -> std::time::Duration {
    let started = Instant::now();
    app.get_json(&format!("/v1/events/{EVENT}"), user).await;
    let captcha = app
        .request(Method::GET, "/v1/captcha", user)
        .send()
        .await
        .expect("captcha");
    assert_eq!(captcha.status(), 200);
    let id = app.paid(user).await;
    let resp = app.purchase(user, &id).await;
    assert_eq!(resp.status(), 200);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_users_reads_leaves_another_users_purchase_its_share() {
    let app = spawn_app_with(&[
        ("upstream.requests_per_second", "4.5"),
        ("sandbox.requests_per_second", "4.5"),
    ])
    .await;
    let alone = whole_purchase(&app, "buyer-alone").await;

    let stop = Arc::new(AtomicBool::new(false));
    let flood = Arc::new(Flood::default());
    let mut flooders = Vec::new();
    for connection in 0..32 {
        let (client, base, stop, flood) = (
            reqwest::Client::new(),
            app.address.clone(),
            stop.clone(),
            flood.clone(),
        );
        flooders.push(tokio::spawn(async move {
            let token = token_for("flooder");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let path = if (connection + n).is_multiple_of(2) {
                    "/v1/captcha".to_owned()
                } else {
                    format!("/v1/events/{:016X}", rand_id(connection, n))
                };
                let Ok(resp) = client
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .header("Prefer", "wait=5")
                    .send()
                    .await
                else {
                    continue;
                };
                flood.answered.fetch_add(1, Ordering::Relaxed);
                if resp.status() == 429 && resp.headers().contains_key("retry-after") {
                    flood.refused_for_share.fetch_add(1, Ordering::Relaxed);
                    // Back in long before Retry-After (20 ms: hostile, yet not a CPU spin
                    // that would measure the test machine instead of the gateway).
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }));
    }
    // The flood is under way before the other user starts.
    eventually("the flood reaches the gateway", || async {
        flood.answered.load(Ordering::Relaxed) >= 32
    })
    .await;
    let flooded = whole_purchase(&app, "buyer-flooded").await;
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.await.expect("flooder");
    }

    let stats = app.sandbox().stats();
    assert_eq!(stats.quota_429s, 0, "upstream answered 429: {stats:?}");
    assert!(
        flood.refused_for_share.load(Ordering::Relaxed) > 0,
        "the flooder was never refused for its share"
    );
    assert_eq!(flood.server_errors.load(Ordering::Relaxed), 0);
    // Figures for the notes; the bound itself is `bench fairness`'s (no timing asserts here).
    eprintln!(
        "whole purchase alone {alone:?}, under a 32-connection flood {flooded:?} ({:.2}×)",
        flooded.as_secs_f64() / alone.as_secs_f64()
    );
}

/// A spread of ids no event has.
fn rand_id(connection: u64, n: u64) -> u64 {
    0xF00D_0000_0000_0000 | (connection << 32) | n
}

#[tokio::test]
async fn an_unknown_event_is_remembered_and_the_captcha_page_is_cached() {
    let app = spawn_app().await;
    let events = || {
        app.sandbox()
            .stats()
            .requests_by_operation
            .get("event")
            .copied()
            .unwrap_or(0)
    };
    let captchas = || {
        app.sandbox()
            .stats()
            .requests_by_operation
            .get("captcha")
            .copied()
            .unwrap_or(0)
    };
    for _ in 0..3 {
        let resp = app
            .request(Method::GET, "/v1/events/0000000000000BAD", "curious")
            .send()
            .await
            .expect("request");
        assert_problem(resp, 404, "not_found").await;
    }
    assert_eq!(events(), 1, "asked upstream once");
    for _ in 0..3 {
        let resp = app
            .request(Method::GET, "/v1/captcha", "curious")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.expect("page").contains("g-recaptcha"));
    }
    assert_eq!(captchas(), 1, "read upstream once");
}
