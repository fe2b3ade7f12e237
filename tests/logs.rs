//! Logs of a whole purchase at `trace` level, with OAuth on, hold no secret: not the card
//! number, not the user's JWT, not the apikey, not the OAuth client secret; a panic's message
//! is logged redacted; every request has its access line. A binary of its own because the
//! tracing subscriber and the panic hook are process-global.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use checkout_gateway::config::LogFormat;
use helpers::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const APIKEY: &str = "log-test-apikey-7f3a9c";
const CLIENT_SECRET: &str = "log-test-client-secret-19be";

#[tokio::test]
async fn a_traced_purchase_logs_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _telemetry = checkout_gateway::telemetry::init(
        &checkout_gateway::telemetry::TelemetryOptions {
            format: LogFormat::Json,
            level: "trace",
            otlp_endpoint: None,
        },
        move || writer.clone(),
    );
    let app = spawn_app_with(&[
        ("upstream.apikey", APIKEY),
        ("upstream.client_secret", CLIENT_SECRET),
        ("sandbox.force_polling", "true"),
    ])
    .await;
    let id = app.paid("logged-user").await;
    assert_eq!(app.purchase("logged-user", &id).await.status(), 200);
    let missing = app
        .request(
            reqwest::Method::GET,
            "/v1/checkouts/chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12",
            "logged-user",
        )
        .header("X-Request-Id", "access-log-probe")
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);

    // A panic whose message holds a card number (an `expect` on input, say).
    let panicked = std::thread::spawn(|| panic!("could not parse {TEST_CARD}")).join();
    assert!(panicked.is_err());

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("panicked at") && logs.contains("could not parse [REDACTED]"),
        "the panic was not logged redacted"
    );
    assert!(
        logs.contains("checkout transition"),
        "trace logs were not captured"
    );
    // Dependencies log at trace too (the HTTP client sees every URL and header).
    assert!(
        logs.contains("reqwest") && logs.contains("hyper"),
        "dependency traces missing"
    );
    // One access line per request: route template (never the id), status, request id, problem.
    let access: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""target":"access""#))
        .collect();
    let purchase = access
        .iter()
        .find(|l| l.contains(r#""route":"/v1/checkouts/{id}/purchase""#))
        .expect("an access line for the purchase");
    assert!(purchase.contains(r#""status":200"#), "{purchase}");
    assert!(purchase.contains("latency_ms"), "{purchase}");
    let probe = access
        .iter()
        .find(|l| l.contains("access-log-probe"))
        .expect("the probe's access line, by its request id");
    assert!(probe.contains(r#""status":404"#), "{probe}");
    assert!(probe.contains(r#""problem":"not_found""#), "{probe}");
    assert!(probe.contains(r#""route":"/v1/checkouts/{id}""#), "{probe}");
    let user_token = token_for("logged-user");
    for (what, secret) in [
        ("card number", TEST_CARD),
        ("user JWT", user_token.as_str()),
        ("apikey", APIKEY),
        ("client secret", CLIENT_SECRET),
    ] {
        assert!(!logs.contains(secret), "the {what} reached the logs");
    }
}
