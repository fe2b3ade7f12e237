//! Logs of a whole purchase at `trace` level, with OAuth on, hold no secret: not the card
//! number, not the user's JWT, not the apikey, not the OAuth client secret; a panic's message
//! is logged redacted; every request has its access line. Nor do the hosted payment page's:
//! its session token is its credential. A binary of its own because the tracing subscriber
//! and the panic hook are process-global (installed once, by [`captured`], for every test).

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/hosted_support.rs"]
#[allow(dead_code)]
mod hosted_support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use checkout_gateway::config::LogFormat;
use checkout_gateway::telemetry::TelemetryGuard;
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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every test's log lines, JSON at `trace`: the subscriber is installed once per process.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<(Captured, TelemetryGuard)> = OnceLock::new();
    let (captured, _guard) = CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let guard = checkout_gateway::telemetry::init(
            &checkout_gateway::telemetry::TelemetryOptions {
                format: LogFormat::Json,
                level: "trace",
                otlp_endpoint: None,
            },
            move || writer.clone(),
        );
        (captured, guard)
    });
    captured
}

const APIKEY: &str = "log-test-apikey-7f3a9c";
const CLIENT_SECRET: &str = "log-test-client-secret-19be";

#[tokio::test]
async fn a_traced_purchase_logs_no_secret() {
    let captured = captured();
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

    let logs = captured.text();
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

/// The hosted payment page's token is the link's only credential: the access lines and the
/// request spans name its routes by their template, so the raw path is never written (not
/// even for the redactor to mask); the card typed into the page is nowhere either.
#[tokio::test]
async fn the_payment_pages_token_and_card_stay_out_of_the_logs() {
    use hosted_support::*;
    let captured = captured();
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("page-logger").await;
    let url = session_url(&app, "page-logger", &id).await;
    let token = token_of(&url).to_owned();
    let page = load(&url).await;
    assert_eq!(page.status, 200);
    let resp = post(
        &url,
        page.cookie.as_deref(),
        &form(&page.csrf(), TEST_CARD, "123"),
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(load(&url).await.status, 410);

    let logs = captured.text();
    assert!(!logs.contains(&token), "the session token reached the logs");
    assert!(
        !logs.contains(TEST_CARD),
        "the card number reached the logs"
    );
    let page_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""target":"access""#) && l.contains(r#""route":"/pay/{token}""#))
        .collect();
    for status in [200, 303, 410] {
        assert!(
            page_lines
                .iter()
                .any(|l| l.contains(&format!(r#""status":{status}"#))),
            "no access line for the page's {status}"
        );
    }
    assert!(
        page_lines
            .iter()
            .all(|l| l.contains(r#""path":"/pay/{token}""#)),
        "the request span shows another path: {page_lines:?}"
    );
    // Nothing tried to write the raw path for the redactor to catch.
    assert!(
        !logs.contains("/pay/[REDACTED]"),
        "a raw payment-page path was logged"
    );
}

/// A card number a client types into what the logs keep whole — the path of its request, its
/// own `X-Request-Id` — in groups (`4588-8832-…`, `4588%208832…`) is not written: the log's
/// redaction masks unbroken runs only (found by review: such a path was logged verbatim).
#[tokio::test]
async fn a_card_number_in_groups_in_a_path_or_request_id_stays_out_of_the_logs() {
    let captured = captured();
    let app = spawn_app().await;
    for (path, request_id) in [
        ("/v1/events/4588-8832-0600-0011", "grouped-1"),
        ("/v1/events/4588%208832%200600%200011", "grouped-2"),
        ("/v1/events/3F004CBB88958BF9", "5105-1051-0510-5100"),
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(token_for("grouped"))
            .header("X-Request-Id", request_id)
            .send()
            .await
            .unwrap();
        assert!(resp.status().as_u16() < 500, "{path}");
    }
    let logs = captured.text();
    assert!(
        logs.contains(r#""route":"/v1/events/{event_id}""#),
        "no access line"
    );
    for digits in ["8832-0600", "8832%200600", "1051-0510"] {
        assert!(!logs.contains(digits), "{digits} reached the logs");
    }
}
