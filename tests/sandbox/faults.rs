//! Fault injection over real HTTP: status faults for the next N calls, latency, a connection
//! dropped after the operation was committed (plain and through polling), the gateway's 429,
//! the textual spec and the admin endpoint.

use std::time::{Duration, Instant};

use checkout_gateway::sandbox::{Fault, FaultKind, Operation, SandboxConfig, SandboxStats};
use chrono::Utc;
use serde_json::{Value, json};

use super::support::*;

fn fault(spec: &str) -> Fault {
    Fault::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

impl Sbx {
    async fn admin_get(&self, path: &str) -> Value {
        let r = self.client.get(self.admin_url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The stats as a client reads them: over HTTP.
    async fn http_stats(&self) -> SandboxStats {
        serde_json::from_value(self.admin_get("/stats").await).unwrap()
    }

    /// Sends `req`, which a fault is to cut off: the transport error.
    async fn dropped(&self, req: Req) -> reqwest::Error {
        match self.try_send(req).await {
            Ok(r) => panic!("expected a dropped connection, got {} {}", r.status, r.text),
            Err(e) => e,
        }
    }
}

fn assert_dropped(e: &reqwest::Error) {
    // The request reached the sandbox and the connection ended before any response head (hyper's
    // IncompleteMessage): not a connect error, not a timeout, and not a body error after a
    // status line had arrived.
    assert!(!e.is_connect(), "{e:?}");
    assert!(!e.is_timeout(), "{e:?}");
    assert!(!e.is_body() && !e.is_decode(), "{e:?}");
    assert!(e.is_request(), "{e:?}");
    assert!(e.status().is_none(), "{e:?}");
}

#[tokio::test]
async fn status_faults_answer_the_next_calls_then_normal_service_resumes() {
    let config = SandboxConfig {
        faults: vec![fault("event:status=500:2"), fault("captcha:status=503:1")],
        ..fast()
    };
    let sbx = start(config).await;
    let event = format!("/event/{SEATTLE}");
    for _ in 0..2 {
        let r = sbx.send(Req::get(&event)).await;
        assert_eq!(r.status, 500);
        assert_eq!(
            r.body,
            json!({"error": {"message": "Internal error occurred", "code": 500,
                "http_code": 500, "severity": "ERROR"}})
        );
    }
    assert_eq!(sbx.send(Req::get(&event)).await.status, 200);
    let r = sbx.send(Req::get("/captcha")).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        json!({"error": {"message": "Service is unavailable", "code": 503,
            "http_code": 503, "severity": "ERROR"}})
    );
    assert_eq!(sbx.send(Req::get("/captcha")).await.status, 200);

    // A 500 on purchase does not purchase: the cart can be bought afterwards.
    let cart = sbx.paid_cart(1).await;
    sbx.handle.inject(fault("purchase:status=500:1"));
    assert_eq!(sbx.purchase(&cart).await.status, 500);
    let stats = sbx.stats();
    assert_eq!(stats.orders, 0);
    assert!(!stats.purchase_calls_by_cart.contains_key(&cart));
    assert_eq!(sbx.purchase(&cart).await.status, 200);

    // `any` covers every operation; the earliest matching fault applies.
    sbx.handle.inject(fault("any:status=503:1"));
    sbx.handle.inject(fault("certificate:status=500:1"));
    let cert = || Req::get("/certificate").query("cart_id", &cart);
    assert_eq!(sbx.send(cert()).await.status, 503);
    assert_eq!(sbx.send(cert()).await.status, 500);
    assert_eq!(sbx.send(cert()).await.status, 200);

    let stats = sbx.stats();
    assert_eq!(stats.faults_injected, 6);
    assert_eq!(stats.faults_by_kind["status"], 6);
    assert_eq!(stats.faults_by_operation["event"], 2);
    assert_eq!(stats.faults_by_operation["certificate"], 2);
    assert_eq!(stats.orders, 1);
}

#[tokio::test]
async fn latency_delays_the_answer_and_the_operation_happens() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    sbx.handle.inject(fault("reserve:latency=400:1"));
    let started = Instant::now();
    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 2).await;
    // A lower bound only: the answer cannot come before the injected delay.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.status, 200, "{}", r.text);
    let stats = sbx.stats();
    assert_eq!(stats.seats_held, 2);
    assert_eq!(stats.faults_by_kind["latency"], 1);
}

#[tokio::test]
async fn a_dropped_purchase_is_committed_all_the_same() {
    let sbx = start(fast()).await;
    let cart = sbx.paid_cart(2).await;
    sbx.handle.inject(fault("purchase:drop_after_commit:1"));
    let e = sbx.dropped(Sbx::purchase_req(&cart)).await;
    assert_dropped(&e);

    let stats = sbx.http_stats().await;
    assert_eq!(stats.orders, 1);
    assert_eq!(stats.purchase_calls_by_cart.get(&cart), Some(&1));
    assert_eq!(stats.faults_by_kind["drop_after_commit"], 1);
    let orders = sbx.admin_get("/orders").await;
    assert_eq!(orders["orders"][0]["cart_id"], json!(cart));
    // A client that re-sends learns the cart was bought; the connection works again.
    let again = sbx.purchase(&cart).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["error"]["message"], "Cart already purchased");
}

#[tokio::test]
async fn a_dropped_polling_reserve_still_holds_the_seats() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    sbx.handle.inject(fault("reserve:drop_after_commit"));
    let req = Sbx::reserve_req(&cart, SEATTLE, SEATTLE_TICKET, 2).force_polling();
    assert_dropped(&sbx.dropped(req).await);
    assert_eq!(sbx.http_stats().await.seats_held, 2);
    // The operation completed: the cart is not left busy, and it pays for the held seats.
    let r = sbx.pay(&cart, Card::test("50.00")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Without a count the fault stays until cleared; then polling answers 202 again.
    sbx.handle.clear_faults();
    let req = Sbx::reserve_req(&cart, SEATTLE, SEATTLE_TICKET, 1).force_polling();
    assert_eq!(sbx.send(req).await.status, 202);
}

#[tokio::test]
async fn a_dropped_polling_purchase_still_makes_the_order() {
    let sbx = start(fast()).await;
    let cart = sbx.paid_cart(1).await;
    sbx.handle.inject(fault("purchase:drop_after_commit:1"));
    assert_dropped(&sbx.dropped(Sbx::purchase_req(&cart).force_polling()).await);
    let stats = sbx.http_stats().await;
    assert_eq!(stats.orders, 1);
    assert_eq!(stats.seats_held, 0);
    assert_eq!(stats.purchase_calls_by_cart.get(&cart), Some(&1));
    let again = sbx.purchase(&cart).await;
    assert_eq!(again.body["error"]["message"], "Cart already purchased");
}

#[tokio::test]
async fn rate_limit_is_the_gateways_429_and_nothing_happens() {
    let sbx = start(fast()).await;
    sbx.handle.inject(fault("open_cart:rate_limit=1500:1"));
    let token = format!("tok-{}", uuid::Uuid::new_v4());
    let open = || Req::post("/cart").json(json!({ "token": token }));
    let before = Utc::now().timestamp_millis();
    let r = sbx.send(open()).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        normalize(&r.body),
        normalize(&fixture("fault_quota_violation.json"))
    );
    assert_eq!(r.header("Rate-Limit"), Some("5"));
    assert_eq!(r.header("Rate-Limit-Available"), Some("0"));
    assert_eq!(r.header("Rate-Limit-Over"), Some("true"));
    let reset: i64 = r.header("Rate-Limit-Reset").unwrap().parse().unwrap();
    assert!(reset >= before + 1500, "reset {reset}, sent at {before}");
    // The captcha token was not used up: the same one opens a cart now.
    let r = sbx.send(open()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stats = sbx.stats();
    assert_eq!(stats.quota_429s, 0);
    assert_eq!(stats.faults_by_kind["rate_limit"], 1);
}

#[test]
fn fault_specs_parse_and_print_back() {
    let cases = [
        (
            "purchase:drop_after_commit:1",
            Operation::Purchase,
            FaultKind::DropAfterCommit,
            Some(1),
        ),
        (
            "any:status=503:3",
            Operation::Any,
            FaultKind::Status { status: 503 },
            Some(3),
        ),
        (
            "reserve:latency=2000",
            Operation::Reserve,
            FaultKind::Latency { latency_ms: 2000 },
            None,
        ),
        (
            "poll:rate_limit=1500:2",
            Operation::Poll,
            FaultKind::RateLimit { reset_ms: 1500 },
            Some(2),
        ),
    ];
    for (spec, operation, kind, count) in cases {
        let f = fault(spec);
        assert_eq!((f.operation, f.kind, f.count), (operation, kind, count));
        assert_eq!(f.to_string(), spec);
        assert_eq!(spec.parse::<Fault>(), Ok(f));
    }
    // Defaults: status 500, reset 1000 ms.
    assert_eq!(
        fault("open_cart:status").kind,
        FaultKind::Status { status: 500 }
    );
    assert_eq!(
        fault("oauth:rate_limit:1").kind,
        FaultKind::RateLimit { reset_ms: 1000 }
    );
    assert_eq!(fault("unredeemed:status=503").count, None);
}

#[test]
fn bad_fault_specs_are_refused_with_a_reason() {
    let cases = [
        ("", "expected operation:kind"),
        ("purchase", "expected operation:kind"),
        ("a:b:c:d", "expected operation:kind"),
        ("checkout:status", "unknown operation"),
        ("purchase:explode", "unknown fault kind"),
        ("any:status=200", "from 300 to 599"),
        ("any:status=429", "rate_limit"),
        ("reserve:latency", "needs a value"),
        ("reserve:latency=-5", "whole number"),
        ("purchase:drop_after_commit=5", "takes no value"),
        ("any:status:0", "at least 1"),
        ("any:status:x", "whole number"),
    ];
    for (spec, reason) in cases {
        let e = Fault::parse(spec).expect_err(spec).to_string();
        assert!(e.contains(reason), "{spec:?}: {e}");
    }
}

#[tokio::test]
async fn the_admin_endpoint_adds_lists_and_clears_faults() {
    let sbx = start(fast()).await;
    let url = sbx.admin_url("/faults");
    let added = sbx
        .admin(
            "/faults",
            json!({"operation": "event", "kind": "status", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(added["count"], 2);
    sbx.admin(
        "/faults",
        json!({"operation": "purchase", "kind": "drop_after_commit", "count": 1}),
    )
    .await;
    sbx.admin(
        "/faults",
        json!({"operation": "poll", "kind": "rate_limit", "reset_ms": 1500}),
    )
    .await;
    for bad in [
        json!({"operation": "event", "kind": "status", "status": 200}),
        json!({"operation": "event", "kind": "status", "status": 429}),
        json!({"operation": "event", "kind": "latency"}),
        json!({"operation": "event", "kind": "status", "latency_ms": 5}),
        json!({"operation": "nowhere", "kind": "status"}),
        json!({"operation": "event", "kind": "status", "count": 0}),
        json!({"operation": "event", "kind": "status", "colour": "red"}),
    ] {
        let r = sbx.client.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid fault")
        );
    }

    assert_eq!(
        sbx.send(Req::get(&format!("/event/{SEATTLE}")))
            .await
            .status,
        503
    );
    let listed = sbx.admin_get("/faults").await;
    assert_eq!(
        listed["faults"],
        json!([
            {"operation": "event", "kind": "status", "status": 503, "count": 1},
            {"operation": "purchase", "kind": "drop_after_commit", "count": 1},
            {"operation": "poll", "kind": "rate_limit", "reset_ms": 1500},
        ])
    );
    let r = sbx.client.delete(&url).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"cleared": 3}));
    assert_eq!(sbx.admin_get("/faults").await, json!({"faults": []}));
    assert_eq!(
        sbx.send(Req::get(&format!("/event/{SEATTLE}")))
            .await
            .status,
        200
    );
}
