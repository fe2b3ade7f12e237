//! Upstream protocol details through the gateway: OAuth tokens that are revoked mid-flow,
//! certificates rotated before their 24 h, RS256 user tokens.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

async fn sandbox_admin(app: &TestApp, path: &str) {
    let base = app.sandbox().base_url();
    let root = base.trim_end_matches("/partners/v1");
    let resp = app
        .client
        .post(format!("{root}/_sandbox/{path}"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

#[tokio::test]
async fn a_revoked_oauth_token_is_replaced_and_the_call_retried() {
    let app = spawn_app_with(&[("upstream.client_secret", "oauth-secret")]).await;
    let id = app.paid("o").await;
    sandbox_admin(&app, "oauth/revoke").await;
    // The next upstream call meets 401 InvalidAccessToken, fetches a new token, retries.
    let bought = app.purchase("o", &id).await;
    assert_eq!(bought.status(), 200);
    let body: Value = bought.json().await.unwrap();
    assert_eq!(body["state"], "purchased");
}

#[tokio::test]
async fn a_rotated_certificate_is_fetched_again_and_the_payment_retried_once() {
    let app = spawn_app().await;
    app.paid("r").await;
    let fetched = app.service.certificate_fetches();
    sandbox_admin(&app, "certificate/rotate").await;
    // The cached certificate is still within its 24 h, so the first try uses the old key.
    let id = app.reserved("r").await;
    let paid = app.pay("r", &id, TEST_CARD, "123").await;
    assert_eq!(paid.status(), 200);
    assert_eq!(app.service.certificate_fetches(), fetched + 1);
}

#[tokio::test]
async fn rs256_user_tokens_are_accepted_when_configured() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let public_pem = key.public_key_pem();
    let app = spawn_app_with(&[("auth.jwt_rs256_public_key_pem", public_pem.as_str())]).await;
    let claims = serde_json::json!({"sub": "rs-user", "exp": chrono::Utc::now().timestamp() + 600});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let url = format!("{}/v1/orders", app.address);
    let ok = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The same claims signed with another RSA key are refused.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(other.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let refused = app
        .client
        .get(&url)
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 401, "unauthorized").await;
    let hs256 = app
        .request(Method::GET, "/v1/orders", "hs-user")
        .send()
        .await
        .unwrap();
    assert_eq!(hs256.status(), 200, "HS256 keeps working beside RS256");
}

/// A per-minute budget holds on top of a generous per-second quota: once it is spent, further
/// work queues (the create answers 202 `reserving`) and upstream sees no more requests.
#[tokio::test]
async fn a_per_minute_budget_caps_upstream_requests() {
    let app = spawn_app_with(&[("upstream.requests_per_minute", "6")]).await;
    // The event read takes one of the six and leaves the details cached for the creates.
    let event = app
        .get_json(&format!("/v1/events/{EVENT}"), "budget-a")
        .await;
    assert_eq!(event["event_id"], EVENT);
    let mut states = Vec::new();
    for user in ["budget-a", "budget-b", "budget-c"] {
        let resp = app
            .client
            .post(format!("{}/v1/checkouts", app.address))
            .bearer_auth(token_for(user))
            .header("Prefer", "wait=1")
            .json(&serde_json::json!({
                "event_id": EVENT,
                "captcha_token": fresh_captcha(),
                "tickets": [{"ticket_id": TICKET, "quantity": 1}]
            }))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        states.push(body["state"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        states.iter().any(|s| s == "reserving"),
        "some work must queue: {states:?}"
    );
    assert!(
        app.sandbox().stats().requests <= 6,
        "{:?}",
        app.sandbox().stats()
    );
}
