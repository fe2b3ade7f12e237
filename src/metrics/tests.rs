//! The series as documented: names, labels, bounded values.

use super::*;
use crate::checkout::state::CheckoutState;

#[test]
fn series_are_named_as_documented() {
    let m = Metrics::new();
    m.http_request("GET", "/v1/checkouts/{id}", 200, Duration::from_millis(3));
    m.upstream_call(UpstreamCall {
        operation: "reserve",
        outcome: UpstreamOutcome::RateLimited,
        error_code: Some(10001),
        elapsed: Duration::from_millis(20),
    });
    m.quota_remaining(7);
    m.checkouts_by_state(&[(CheckoutState::Purchased, 2)]);
    let text = m.render();
    for needle in [
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/v1/checkouts/{id}"} 1"#,
        r#"gateway_upstream_rate_limited_total{operation="reserve"} 1"#,
        r#"error_code="10001""#,
        "gateway_quota_remaining 7",
        r#"gateway_checkouts{state="purchased"} 2"#,
        r#"gateway_checkouts{state="reserving"} 0"#,
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn unknown_methods_do_not_become_labels() {
    assert_eq!(known_method("BREW"), "_OTHER");
    assert_eq!(known_method("GET"), "GET");
}
