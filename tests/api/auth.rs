//! User tokens through HTTP: every refused token is `401 unauthorized` problem+json, a valid
//! one passes; and the `token` command, which mints development tokens, refuses to run with a
//! production configuration.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::*;

/// The test-only key pair of tests/fixtures/auth.
const RS256_PUBLIC: &str = include_str!("../fixtures/auth/rs256-public.pem");
const RS256_PRIVATE: &str = include_str!("../fixtures/auth/rs256-private.pem");
const ISSUER: &str = "https://id.partner.example/";
const AUDIENCE: &str = "checkout-gateway";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({"sub": "alice", "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE})
}

fn with(key: &str, value: Value) -> Value {
    let mut c = claims();
    let map = c.as_object_mut().expect("an object");
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_owned(), value);
    }
    c
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RS256_PRIVATE.as_bytes()).expect("test key");
    encode(&Header::new(Algorithm::RS256), claims, &key).expect("signs")
}

/// An app that accepts RS256 tokens only, from `ISSUER` for `AUDIENCE`.
async fn rs256_app() -> TestApp {
    spawn_app_with(&[
        ("auth.jwt_hs256_secret", ""),
        ("auth.jwt_rs256_public_key_pem", RS256_PUBLIC),
        ("auth.jwt_issuer", ISSUER),
        ("auth.jwt_audience", AUDIENCE),
    ])
    .await
}

#[tokio::test]
async fn every_refused_token_is_a_401_unauthorized_problem() {
    let app = rs256_app().await;
    let leeway = checkout_gateway::http::auth::LEEWAY_SECS as i64;
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    // HMAC keyed with the public key: anyone could make it.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RS256_PUBLIC.as_bytes()),
    )
    .expect("signs");
    let refused = [
        ("alg none", unsigned),
        ("HS256 keyed with the RS256 public key", confused),
        ("no exp", rs256(&with("exp", Value::Null))),
        ("expired", rs256(&with("exp", json!(now() - leeway - 5)))),
        (
            "another audience",
            rs256(&with("aud", json!("another-api"))),
        ),
        ("no audience", rs256(&with("aud", Value::Null))),
        (
            "another issuer",
            rs256(&with("iss", json!("https://evil.example/"))),
        ),
        (
            "not valid yet",
            rs256(&with("nbf", json!(now() + leeway + 60))),
        ),
    ];
    let url = format!("{}/v1/orders", app.address);
    for (what, token) in refused {
        let resp = app
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let body = assert_problem(resp, 401, "unauthorized").await;
        assert!(body["detail"].is_string(), "{what}: {body}");
    }
    let ok = app
        .client
        .get(&url)
        .bearer_auth(rs256(&claims()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "a valid token with the right iss and aud");
    // nbf in the past is fine.
    let ok = app
        .client
        .get(&url)
        .bearer_auth(rs256(&with("nbf", json!(now() - 60))))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// `checkout-gateway token --user alice` with `env` on top of a clean `APP_*` environment.
fn token_command(env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_checkout-gateway"));
    command.args(["token", "--user", "alice", "--ttl", "60"]);
    for (name, _) in std::env::vars() {
        if name == "APP_ENV" || name.starts_with("APP__") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

#[tokio::test]
async fn the_token_command_refuses_a_production_configuration() {
    // A configuration that passes every production rule: the refusal is the command's own.
    let production = [
        ("APP_ENV", "production"),
        (
            "APP__AUTH__JWT_HS256_SECRET",
            "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c",
        ),
        ("APP__AUTH__JWT_ISSUER", ISSUER),
        ("APP__AUTH__JWT_AUDIENCE", AUDIENCE),
        (
            "APP__SECURITY__SOURCE_ACCOUNT_KEY",
            "1b3d5f7a9c2e4f6a8b0c1d3e5f7a9b2c",
        ),
        ("APP__UPSTREAM__APIKEY", "tm-issued-apikey"),
        (
            "APP__UPSTREAM__BASE_URL",
            "https://app.ticketmaster.com/partners/v1",
        ),
        (
            "APP__DATABASE__URL",
            "postgres://gateway@127.0.0.1:1/gateway",
        ),
        (
            "APP__HOSTED_PAGE__PUBLIC_BASE_URL",
            "https://pay.partner.example",
        ),
    ];
    let out = token_command(&production);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "minted in production: {stderr}");
    assert!(out.stdout.is_empty(), "printed a token in production");
    assert!(
        stderr.contains("refuses a production configuration"),
        "{stderr}"
    );

    // The local profile mints, with the configured issuer and audience: a gateway configured
    // the same way accepts the token.
    let out = token_command(&[
        ("APP_ENV", "local"),
        ("APP__AUTH__JWT_ISSUER", ISSUER),
        ("APP__AUTH__JWT_AUDIENCE", AUDIENCE),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf-8");
    let app = spawn_app_with(&[("auth.jwt_issuer", ISSUER), ("auth.jwt_audience", AUDIENCE)]).await;
    let resp = app
        .client
        .get(format!("{}/v1/orders", app.address))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// The scheme's name is case-insensitive (RFC 9110): `BEARER` and `bearer` pass as `Bearer`
/// does; another scheme is refused (found by review: `BEARER` was a 401).
#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let app = spawn_app().await;
    let token = token_for("cased");
    for (scheme, status) in [
        ("Bearer", 200),
        ("BEARER", 200),
        ("bearer", 200),
        ("Basic", 401),
    ] {
        let resp = app
            .client
            .get(format!("{}/v1/orders", app.address))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{scheme}");
    }
}
