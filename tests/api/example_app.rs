//! The example partner app's routes over plain HTTP (the app itself runs in Chromium in
//! `tests/browser/`): served with its headers when `example_app.enabled`, a development token
//! route that signs only `example-…` users, and nothing at all when disabled.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn the_example_app_is_served_with_a_strict_policy_when_enabled() {
    let app = spawn_app().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    for (path, content_type) in [
        ("/example/", "text/html; charset=utf-8"),
        ("/example/return", "text/html; charset=utf-8"),
        ("/example/app.js", "text/javascript; charset=utf-8"),
        ("/example/app.css", "text/css; charset=utf-8"),
    ] {
        let resp = get(path).await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
    // The return page is the app itself.
    let index = get("/example/").await.unwrap().text().await.unwrap();
    let back = get("/example/return").await.unwrap().text().await.unwrap();
    assert_eq!(index, back);
    assert!(index.contains(r#"<script src="/example/app.js" defer></script>"#));
    // `/example` leads to the app's root.
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/example", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(resp.headers()["location"], "/example/");
    // The picker lists the sandbox's events.
    let events: Value = get("/example/events").await.unwrap().json().await.unwrap();
    let listed: Vec<&str> = events
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    for id in [EVENT, TINY_EVENT, NOT_TRANSACTABLE_EVENT] {
        assert!(listed.contains(&id), "{id} not in {events}");
    }
}

#[tokio::test]
async fn the_example_token_route_signs_tokens_the_api_accepts_for_example_users_only() {
    let app = spawn_app().await;
    let mint = |user: &str| {
        app.client
            .post(format!("{}/example/token", app.address))
            .json(&json!({ "user": user }))
            .send()
    };
    let resp = mint("example-3f9c").await.expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"], "example-3f9c");
    assert_eq!(body["expires_in"], 3600);
    let token = body["token"].as_str().expect("a token");
    let orders = app
        .client
        .get(format!("{}/v1/orders", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(orders.status(), 200);
    for user in ["alice", "example-", "example-a b", "example-../x"] {
        let body = assert_problem(mint(user).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "user", "{user}: {body}");
    }
}

#[tokio::test]
async fn without_example_app_enabled_there_is_no_example_app() {
    let app = spawn_app_with(&[("example_app.enabled", "false")]).await;
    for (method, path) in [
        ("GET", "/example"),
        ("GET", "/example/"),
        ("GET", "/example/return"),
        ("GET", "/example/app.js"),
        ("GET", "/example/app.css"),
        ("GET", "/example/events"),
        ("POST", "/example/token"),
    ] {
        let resp = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .json(&json!({ "user": "example-a" }))
            .send()
            .await
            .unwrap();
        assert_problem(resp, 404, "not_found").await;
    }
}

#[tokio::test]
async fn without_an_hs256_secret_the_example_app_says_why_it_has_no_token() {
    // A gateway that verifies RS256 tokens only has no key to sign the app's users' tokens
    // with: the app still loads, and its token route says what is missing.
    let app = spawn_app_with(&[
        ("auth.jwt_hs256_secret", ""),
        (
            "auth.jwt_rs256_public_key_pem",
            include_str!("../fixtures/auth/rs256-public.pem"),
        ),
    ])
    .await;
    let page = app
        .client
        .get(format!("{}/example/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let resp = app
        .client
        .post(format!("{}/example/token", app.address))
        .json(&json!({ "user": "example-a" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 500, "internal").await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("auth.jwt_hs256_secret"), "{body}");
}
