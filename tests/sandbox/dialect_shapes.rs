//! The dialect switches that change the shape of an answer rather than its outcome, over real
//! HTTP: every value of `expires_in`, `hold_time`, `unredeemed_email`, `event_region`,
//! `server_errors` and `quota_headers` (the harness and the list of tested switches are in
//! `dialect`).

use checkout_gateway::sandbox::SandboxConfig;
use serde_json::{Value, json};

use super::dialect::{config_in, start_in, values, with_an_order};
use super::fixtures::token;
use super::support::*;

#[tokio::test]
async fn expires_in_and_issued_at_are_strings_or_numbers() {
    for value in values("expires_in") {
        let sbx = start(SandboxConfig {
            client_secret: Some("secret".into()),
            ..config_in("expires_in", value)
        })
        .await;
        let r = token(&sbx, "sandbox-apikey:secret").await;
        assert_eq!(r.status, 200, "{}", r.text);
        match *value {
            "string" => {
                assert_eq!(r.body["expires_in"], json!("3599"));
                assert!(r.body["issued_at"].as_str().unwrap().parse::<i64>().is_ok());
            }
            "number" => {
                assert_eq!(r.body["expires_in"], json!(3599));
                assert!(r.body["issued_at"].is_i64());
            }
            other => panic!("untested value {other}"),
        }
    }
}

#[tokio::test]
async fn hold_time_is_a_number_or_a_string_in_every_cart_answer() {
    for value in values("hold_time") {
        let sbx = start_in("hold_time", value).await;
        let cart = sbx.cart().await;
        let reserved = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
        let paid = sbx.pay(&cart, Card::test("25.00")).await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        let (hold, left) = (
            &reserved.body["cart"]["hold_time"],
            &paid.body["cart"]["hold_time"],
        );
        let seconds_left = match *value {
            "number" => {
                assert_eq!(hold, &json!(299));
                left.as_i64()
            }
            "string" => {
                assert_eq!(hold, &json!("299"));
                left.as_str().and_then(|s| s.parse::<i64>().ok())
            }
            other => panic!("untested value {other}"),
        };
        assert!(seconds_left.is_some_and(|s| s <= 299), "{left}");
    }
}

#[tokio::test]
async fn the_unredeemed_email_is_present_null_or_absent() {
    for value in values("unredeemed_email") {
        let sbx = with_an_order("unredeemed_email", value).await;
        let r = sbx
            .send(Req::get("/orders/unredeemed").query("days_from_purchase", "1"))
            .await;
        let order = r.body["data"][0].as_object().unwrap();
        assert!(order.contains_key("order_token"));
        let email = order.get("purchase_email_address");
        match *value {
            "present" => assert_eq!(email, Some(&json!("john.doe@ticketmaster.com"))),
            "null" => assert_eq!(email, Some(&Value::Null)),
            "absent" => assert_eq!(email, None),
            other => panic!("untested value {other}"),
        }
    }
}

#[tokio::test]
async fn the_event_region_is_present_or_absent() {
    for value in values("event_region") {
        let sbx = start_in("event_region", value).await;
        let r = sbx.send(Req::get(&format!("/event/{SEATTLE}"))).await;
        let address = r.body["event"]["venue"]["location"]["address"]
            .as_object()
            .unwrap();
        assert_eq!(address.get("city"), Some(&json!("Seattle")));
        match *value {
            "present" => assert_eq!(address.get("region"), Some(&json!({"abbrev": "WA"}))),
            "absent" => assert_eq!(address.get("region"), None),
            other => panic!("untested value {other}"),
        }
    }
}

#[tokio::test]
async fn injected_server_errors_have_a_json_or_an_html_body() {
    for value in values("server_errors") {
        let sbx = start_in("server_errors", value).await;
        sbx.admin(
            "/faults",
            json!({"operation": "any", "kind": "status", "status": 503, "count": 1}),
        )
        .await;
        sbx.admin(
            "/faults",
            json!({"operation": "any", "kind": "status", "status": 500, "count": 1}),
        )
        .await;
        for (status, heading) in [
            (503, "503 Service Unavailable"),
            (500, "500 Internal Server Error"),
        ] {
            let r = sbx.send(Req::get(&format!("/event/{SEATTLE}"))).await;
            assert_eq!(r.status, status);
            let content_type = r.header("content-type").unwrap_or_default();
            match *value {
                "json" => {
                    assert!(
                        content_type.starts_with("application/json"),
                        "{content_type}"
                    );
                    assert_eq!(r.code(), Some(i64::from(status)));
                    assert_eq!(r.body["error"]["http_code"], json!(status));
                }
                "html" => {
                    assert!(content_type.starts_with("text/html"), "{content_type}");
                    assert!(
                        r.text.contains(&format!("<h1>{heading}</h1>")),
                        "{}",
                        r.text
                    );
                }
                other => panic!("untested value {other}"),
            }
        }
    }
}

#[tokio::test]
async fn quota_headers_are_named_as_the_dialect_says_or_left_out() {
    const RATE_LIMIT: [&str; 4] = [
        "Rate-Limit",
        "Rate-Limit-Available",
        "Rate-Limit-Over",
        "Rate-Limit-Reset",
    ];
    const QUOTA: [&str; 3] = [
        "Ratelimit-Quota-Limit",
        "Ratelimit-Quota-Remaining",
        "Ratelimit-Quota-Reset",
    ];
    for value in values("quota_headers") {
        let sbx = start(SandboxConfig {
            requests_per_second: Some(1.0),
            ..config_in("quota_headers", value)
        })
        .await;
        let event = || Req::get(&format!("/event/{SEATTLE}"));
        let (admitted, refused) = (sbx.send(event()).await, sbx.send(event()).await);
        assert_eq!((admitted.status, refused.status), (200, 429), "{value}");
        let has = |r: &Resp, names: &[&str]| {
            names
                .iter()
                .map(|n| r.header(n).is_some())
                .collect::<Vec<_>>()
        };
        for r in [&admitted, &refused] {
            let (rate_limit, quota) = (has(r, &RATE_LIMIT), has(r, &QUOTA));
            match *value {
                "rate_limit" => assert_eq!((rate_limit, quota), (vec![true; 4], vec![false; 3])),
                "ratelimit_quota" => {
                    assert_eq!((rate_limit, quota), (vec![false; 4], vec![true; 3]))
                }
                "none" => assert_eq!((rate_limit, quota), (vec![false; 4], vec![false; 3])),
                other => panic!("untested value {other}"),
            }
        }
        if *value == "ratelimit_quota" {
            assert_eq!(admitted.header("Ratelimit-Quota-Limit"), Some("1"));
            assert_eq!(admitted.header("Ratelimit-Quota-Remaining"), Some("0"));
            let reset: i64 = refused
                .header("Ratelimit-Quota-Reset")
                .unwrap()
                .parse()
                .unwrap();
            assert!(reset >= chrono::Utc::now().timestamp_millis() - 1000);
        }
    }
}
