//! `/metrics` on the admin listener: the series move with a purchase, carry no ids, and the
//! exposition passes `promtool check metrics` (required in CI, where `REQUIRE_PROMTOOL=1`).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::*;

/// The value of the first sample of `name` whose labels include every pair of `labels`.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let resp = app
        .client
        .get(format!("{}/metrics", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn a_purchase_moves_the_series() {
    // A sandbox that enforces a quota reports what is left on every answer.
    let app = spawn_app_with(&[
        ("sandbox.requests_per_second", "1000"),
        ("sandbox.force_polling", "true"),
    ])
    .await;
    let before = scrape(&app).await;
    assert_eq!(sample(&before, "gateway_quota_remaining", &[]), Some(-1.0));
    assert_eq!(
        sample(&before, "gateway_checkouts", &[("state", "purchased")]),
        Some(0.0)
    );
    assert_eq!(sample(&before, "gateway_quota_limit", &[]), Some(200.0));

    let id = app.paid("metrics-user").await;
    let resp = app.purchase("metrics-user", &id).await;
    assert_eq!(resp.status(), 200);
    let after = scrape(&app).await;

    let route = [
        ("http_route", "/v1/checkouts/{id}/purchase"),
        ("http_request_method", "POST"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(
        sample(&after, "http_server_request_duration_seconds_count", &route),
        Some(1.0)
    );
    let purchase_ok = [("operation", "purchase"), ("outcome", "ok")];
    assert_eq!(
        sample(
            &after,
            "gateway_upstream_request_duration_seconds_count",
            &purchase_ok
        ),
        Some(1.0)
    );
    for state in ["reserved", "payment_accepted", "purchasing", "purchased"] {
        assert_eq!(
            sample(
                &after,
                "gateway_checkout_transitions_total",
                &[("to", state)]
            ),
            Some(1.0),
            "transition to {state}"
        );
    }
    assert_eq!(
        sample(&after, "gateway_checkouts", &[("state", "purchased")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            "gateway_checkout_purchase_duration_seconds_count",
            &[]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "gateway_certificate_refreshes_total", &[]),
        Some(1.0)
    );
    assert!(
        sample(
            &after,
            "gateway_quota_wait_seconds_count",
            &[("lane", "critical")]
        ) >= Some(1.0)
    );
    let remaining = sample(&after, "gateway_quota_remaining", &[]).unwrap();
    assert!((0.0..1000.0).contains(&remaining), "{remaining}");
    // No checkout id, user or raw path ever becomes a label.
    assert!(!after.contains(&id), "a checkout id leaked into /metrics");
    assert!(!after.contains("metrics-user"));
    every_documented_series_is_exported(&after);
    promtool_check(&after);
}

/// Series that only exist once their event happened (histograms, and counters whose labels
/// come from the event).
const AFTER_THEIR_EVENT: [&str; 2] = [
    "gateway_upstream_rate_limited_total",
    "gateway_job_duration_seconds",
];

/// `docs/metrics.md` (which the alert rules and dashboard are checked against) lists nothing
/// the gateway does not export.
fn every_documented_series_is_exported(text: &str) {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    let documented: Vec<(&str, &str)> = docs
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?;
            let kind = cells.next()?;
            let is_name = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            is_name.then_some((name, kind))
        })
        .collect();
    assert!(documented.len() >= 20, "{documented:?}");
    for (name, kind) in documented {
        if AFTER_THEIR_EVENT.contains(&name) {
            continue;
        }
        let series = if kind == "histogram" {
            format!("{name}_count")
        } else {
            name.to_owned()
        };
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{series}{{"))
                    || l.starts_with(&format!("{series} "))),
            "{series} is documented but not exported"
        );
    }
}

#[tokio::test]
async fn replays_and_unknown_routes_are_counted_without_their_paths() {
    let app = spawn_app().await;
    let id = app.reserved("replay-user").await;
    for _ in 0..2 {
        let resp = app
            .request(
                reqwest::Method::DELETE,
                &format!("/v1/checkouts/{id}"),
                "replay-user",
            )
            .header("Idempotency-Key", "release-once")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    let probe = app
        .request(reqwest::Method::GET, "/v1/no-such-thing-42", "replay-user")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 404);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "gateway_idempotent_replays_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                ("http_route", "unmatched"),
                ("http_response_status_code", "404")
            ]
        ),
        Some(1.0)
    );
    assert!(!text.contains("no-such-thing-42"));
}

/// `promtool check metrics` on the exposition; skipped only where promtool is absent and
/// `REQUIRE_PROMTOOL` is unset (CI sets it and installs promtool).
fn promtool_check(text: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            assert!(
                std::env::var_os("REQUIRE_PROMTOOL").is_none(),
                "promtool is required but could not run: {e}"
            );
            eprintln!("promtool not installed: exposition not linted");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
