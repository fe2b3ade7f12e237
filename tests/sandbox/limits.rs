//! Gateway-level behaviour over real HTTP: quota and `Rate-Limit*` headers, OAuth tokens,
//! the nightly maintenance window, unredeemed orders by both query kinds.

use checkout_gateway::sandbox::SandboxConfig;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::fixtures::token;
use super::support::*;

#[tokio::test]
async fn over_quota_is_429_with_rate_limit_headers() {
    let config = SandboxConfig {
        requests_per_second: Some(3.0),
        ..fast()
    };
    let sbx = start(config).await;
    let before = Utc::now().timestamp_millis();
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(sbx.send(Req::get(&format!("/event/{SEATTLE}"))).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    // Five quick requests: the first three fit in the second, unless the machine was so slow
    // that a second passed in between (then fewer are refused).
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(!refused.is_empty());
    for r in &answers {
        assert_eq!(r.header("Rate-Limit"), Some("3"));
        assert!(r.header("Rate-Limit-Available").is_some());
        assert!(
            r.header("Rate-Limit-Reset")
                .unwrap()
                .parse::<i64>()
                .unwrap()
                >= before
        );
    }
    assert_eq!(answers[0].header("Rate-Limit-Over"), Some("false"));
    assert_eq!(answers[0].header("Rate-Limit-Available"), Some("2"));
    let over = refused[0];
    assert_eq!(over.header("Rate-Limit-Over"), Some("true"));
    assert_eq!(over.header("Rate-Limit-Available"), Some("0"));
    assert_eq!(
        normalize(&over.body),
        normalize(&fixture("fault_quota_violation.json"))
    );
    let stats = sbx.stats();
    assert_eq!(stats.quota_429s, refused.len() as u64);
    assert!(stats.max_requests_in_any_second >= 4);
    // Every request with the apikey is in the per-second series, refused ones included.
    assert_eq!(
        stats.requests_by_second.iter().sum::<u64>(),
        answers.len() as u64
    );
}

#[tokio::test]
async fn oauth_tokens_are_required_and_can_be_revoked_or_expire() {
    let config = SandboxConfig {
        client_secret: Some("MzK3lcZuLpvGhD9Z".into()),
        require_oauth: true,
        ..fast()
    };
    let sbx = start(config).await;
    let event = || Req::get(&format!("/event/{SEATTLE}"));
    let r = sbx.send(event()).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        normalize(&r.body),
        normalize(&fixture("fault_invalid_access_token.json"))
    );

    assert_eq!(token(&sbx, "sandbox-apikey:wrong").await.status, 401);
    let r = token(&sbx, "sandbox-apikey:MzK3lcZuLpvGhD9Z").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], json!("BearerToken"));
    assert_eq!(r.body["client_id"], json!("sandbox-apikey"));
    *sbx.bearer.lock().unwrap() = Some(r.body["access_token"].as_str().unwrap().into());
    assert_eq!(sbx.send(event()).await.status, 200);

    sbx.admin("/oauth/revoke", json!({})).await;
    let r = sbx.send(event()).await;
    assert_eq!(
        r.body["fault"]["detail"]["errorcode"],
        json!("oauth.v2.InvalidAccessToken")
    );

    let r = token(&sbx, "sandbox-apikey:MzK3lcZuLpvGhD9Z").await;
    assert_eq!(r.status, 200, "{}", r.text);
    *sbx.bearer.lock().unwrap() = Some(r.body["access_token"].as_str().unwrap().into());
    assert_eq!(sbx.send(event()).await.status, 200);
    sbx.advance(3600.0).await;
    assert_eq!(sbx.send(event()).await.status, 401, "tokens last an hour");
}

#[tokio::test]
async fn ticketing_stops_during_the_venues_nightly_maintenance() {
    let config = SandboxConfig {
        maintenance: (2, 3),
        ..fast()
    };
    let clock = clock_of(&config);
    let sbx = start(config).await;
    // A minute before 02:00 in Seattle, then two minutes later (the hold lasts 299 s).
    let la = chrono_tz::America::Los_Angeles;
    let before = la.with_ymd_and_hms(2030, 1, 15, 1, 59, 0).unwrap();
    clock.set(before.with_timezone(&Utc));
    let cart = sbx.cart().await;
    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(r.status, 200);
    sbx.advance(120.0).await;

    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(r.status, 503);
    let unavailable = json!({"error": {"message": "Service is unavailable", "code": 503,
        "http_code": 503, "severity": "ERROR"}});
    assert_eq!(r.body, unavailable);
    let r = sbx.send(Req::delete("/cart").query("cart_id", &cart)).await;
    assert_eq!(r.status, 503);
    let r = sbx.send(Req::get(&format!("/event/{SEATTLE}"))).await;
    assert_eq!(r.status, 200, "event details are not a ticketing call");

    // 02:01 in Seattle is 05:01 in New York: the test event is open.
    let other = sbx.cart().await;
    let r = sbx.reserve(&other, TEST_EVENT, "000000000001", 1).await;
    assert_eq!(r.status, 200);

    // 03:00 in Seattle: the window is over.
    sbx.admin("/clock", json!({"now": "2030-01-15T11:00:00Z"}))
        .await;
    let cart = sbx.cart().await;
    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn unredeemed_orders_by_purchase_age_and_event_proximity() {
    let sbx = start(fast()).await;
    let cart = sbx.paid_cart(1).await;
    let r = sbx.purchase(&cart).await;
    assert_eq!(r.status, 200);
    let token = r.body["order_token"].as_str().unwrap().to_owned();

    let unredeemed = |k: &'static str, v: &'static str| Req::get("/orders/unredeemed").query(k, v);
    let count = |r: &Resp| r.body["data"].as_array().map(Vec::len);
    // Purchased within the last day (the docs' literal reading; the dialect test covers the
    // other).
    let r = sbx.send(unredeemed("days_from_purchase", "1")).await;
    assert_eq!(count(&r), Some(1));
    let order = &r.body["data"][0];
    assert_eq!(order["order_token"], json!(token));
    assert_eq!(
        order["order_source_account_id"],
        json!("30f86cd70ac7216bc596aa2d060a7064")
    );
    assert_eq!(
        order["purchase_email_address"],
        json!("john.doe@ticketmaster.com")
    );
    assert_eq!(order["email_status"], json!(2));
    assert_eq!(
        count(&sbx.send(unredeemed("days_from_purchase", "0")).await),
        Some(0),
        "nothing is within the last 0 days"
    );

    // The Seattle event is dated 30 calendar days out at 19:30 in Los Angeles: between 30 d
    // 2.5 h and 31 d 3.5 h from now depending on the time of day, so 32 always holds it.
    assert_eq!(
        count(&sbx.send(unredeemed("days_before_event", "32")).await),
        Some(1)
    );
    assert_eq!(
        count(&sbx.send(unredeemed("days_before_event", "5")).await),
        Some(0)
    );

    // Two days on, the event is under 29 d 3.5 h away.
    sbx.advance(2.0 * 86400.0).await;
    assert_eq!(
        count(&sbx.send(unredeemed("days_from_purchase", "1")).await),
        Some(0)
    );
    assert_eq!(
        count(&sbx.send(unredeemed("days_from_purchase", "3")).await),
        Some(1)
    );
    assert_eq!(
        count(&sbx.send(unredeemed("days_before_event", "30")).await),
        Some(1)
    );

    let r = sbx.send(Req::get("/orders/unredeemed")).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));
    let r = sbx.send(unredeemed("days_from_purchase", "soon")).await;
    assert_eq!(r.code(), Some(10002));

    sbx.admin(&format!("/orders/{token}/redeem"), json!({}))
        .await;
    assert_eq!(
        count(&sbx.send(unredeemed("days_from_purchase", "3")).await),
        Some(0)
    );
}
