//! The dialect over real HTTP: for every switch, every value (taken from `SWITCHES`, so a value
//! added without a test fails) answered as specified — here the switches that change an
//! answer's outcome, in `dialect_shapes` those that change its shape — and the ways to change
//! it at run time (`/_sandbox/dialect`, the handle).

use std::time::Duration;

use checkout_gateway::sandbox::dialect::SWITCHES;
use checkout_gateway::sandbox::{Dialect, SandboxConfig};
use serde_json::{Value, json};

use super::support::*;

/// The values of `switch`, default first.
pub fn values(switch: &str) -> &'static [&'static str] {
    SWITCHES
        .iter()
        .find(|(name, _)| *name == switch)
        .map(|(_, values)| *values)
        .unwrap_or_else(|| panic!("no switch {switch}"))
}

pub fn config_in(switch: &str, value: &str) -> SandboxConfig {
    SandboxConfig {
        dialect: Dialect::parse(&[format!("{switch}={value}")]).unwrap(),
        ..fast()
    }
}

pub async fn start_in(switch: &str, value: &str) -> Sbx {
    start(config_in(switch, value)).await
}

fn delete(cart: &str) -> Req {
    Req::delete("/cart").query("cart_id", cart)
}

/// Waits out the sandbox's (fast) polling `wait` and polls the url of a 202.
async fn poll(sbx: &Sbx, polling: &Resp) -> Resp {
    assert_eq!(polling.status, 202, "{}", polling.text);
    let url = polling.body["polling_url"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(60)).await;
    sbx.send_url(Req::get(""), &url).await
}

/// Every switch has its test, here or in `dialect_shapes`.
#[test]
fn every_switch_is_tested() {
    let tested = [
        "delete_purchased",
        "delete_unknown",
        "days_from_purchase",
        "days_before_event",
        "poll_errors",
        "unmarked_polling",
        "expires_in",
        "hold_time",
        "unredeemed_email",
        "event_region",
        "stale_certificate",
        "certificate_key",
        "server_errors",
        "quota_headers",
        "captcha_cache",
    ];
    let names: Vec<&str> = SWITCHES.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, tested);
}

/// README's "Sandbox dialect" table lists every switch with its values, default first.
#[test]
fn the_readme_lists_every_switch_and_value() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    for (name, values) in SWITCHES {
        let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        let row = format!("| `{name}` | {} |", quoted.join(", "));
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}

#[tokio::test]
async fn delete_purchased_answers_as_the_dialect_says_and_never_undoes_the_order() {
    for value in values("delete_purchased") {
        let sbx = start_in("delete_purchased", value).await;
        let cart = sbx.paid_cart(1).await;
        assert_eq!(sbx.purchase(&cart).await.status, 200);
        let r = sbx.send(delete(&cart)).await;
        match *value {
            "no_content" => assert_eq!((r.status, r.text.as_str()), (204, "")),
            "refused" => assert_eq!((r.status, r.code()), (400, Some(10002)), "{}", r.text),
            "not_found" => assert_eq!((r.status, r.code()), (404, Some(10002)), "{}", r.text),
            other => panic!("untested value {other}"),
        }
        let stats = sbx.stats();
        assert_eq!((stats.orders, stats.seats_held), (1, 0), "{value}");
        let again = sbx.purchase(&cart).await;
        assert_eq!(
            again.body["error"]["message"],
            json!("Cart already purchased")
        );
    }
}

#[tokio::test]
async fn a_204_for_a_purchased_cart_keeps_its_polled_answer_deliverable() {
    let sbx = start_in("delete_purchased", "no_content").await;
    let cart = sbx.paid_cart(1).await;
    let purchase = sbx.send(Sbx::purchase_req(&cart).force_polling()).await;
    let r = sbx.send(delete(&cart)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Deleting through polling too: 202, then 204.
    let deleted = sbx.send(delete(&cart).force_polling()).await;
    assert_eq!(poll(&sbx, &deleted).await.status, 204);
    let r = poll(&sbx, &purchase).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["order_token"].is_string());
    assert_eq!(sbx.stats().orders, 1);
}

#[tokio::test]
async fn delete_unknown_answers_as_the_dialect_says() {
    for value in values("delete_unknown") {
        let sbx = start_in("delete_unknown", value).await;
        // One cart that never existed, one whose hold ran out.
        let expired = sbx.cart().await;
        assert_eq!(
            sbx.reserve(&expired, TINY, "000000000001", 2).await.status,
            200
        );
        sbx.advance(300.0).await;
        for cart in ["bm8gc3VjaCBjYXJ0", expired.as_str()] {
            let r = sbx.send(delete(cart)).await;
            match *value {
                "not_found" => assert_eq!((r.status, r.code()), (404, Some(10002))),
                "refused" => assert_eq!((r.status, r.code()), (400, Some(10002))),
                "no_content" => assert_eq!((r.status, r.text.as_str()), (204, "")),
                other => panic!("untested value {other}"),
            }
        }
    }
}

/// One unredeemed order bought now on the Seattle event (30 to 31 days out).
pub async fn with_an_order(switch: &str, value: &str) -> Sbx {
    let sbx = start_in(switch, value).await;
    let cart = sbx.paid_cart(1).await;
    assert_eq!(sbx.purchase(&cart).await.status, 200);
    sbx
}

async fn listed(sbx: &Sbx, query: &str, days: &str) -> usize {
    let r = sbx
        .send(Req::get("/orders/unredeemed").query(query, days))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn days_from_purchase_is_within_or_at_least() {
    for value in values("days_from_purchase") {
        let sbx = with_an_order("days_from_purchase", value).await;
        let now = [
            listed(&sbx, "days_from_purchase", "0").await,
            listed(&sbx, "days_from_purchase", "1").await,
        ];
        sbx.advance(2.0 * 86400.0).await;
        let later = listed(&sbx, "days_from_purchase", "1").await;
        match *value {
            "within" => assert_eq!((now, later), ([0, 1], 0)),
            "at_least" => assert_eq!((now, later), ([1, 0], 1)),
            other => panic!("untested value {other}"),
        }
    }
}

#[tokio::test]
async fn days_before_event_is_within_or_at_least() {
    for value in values("days_before_event") {
        let sbx = with_an_order("days_before_event", value).await;
        let listed = [
            listed(&sbx, "days_before_event", "5").await,
            listed(&sbx, "days_before_event", "32").await,
        ];
        match *value {
            "within" => assert_eq!(listed, [0, 1]),
            "at_least" => assert_eq!(listed, [1, 0]),
            other => panic!("untested value {other}"),
        }
    }
}

#[tokio::test]
async fn a_failed_polled_operation_answers_202_or_its_own_status() {
    for value in values("poll_errors") {
        let sbx = start_in("poll_errors", value).await;
        let first = sbx.cart().await;
        assert_eq!(
            sbx.reserve(&first, TINY, "000000000001", 2).await.status,
            200
        );
        let cart = sbx.cart().await;
        let polling = sbx
            .send(Sbx::reserve_req(&cart, TINY, "000000000001", 1).force_polling())
            .await;
        let r = poll(&sbx, &polling).await;
        assert_eq!(r.code(), Some(20052), "{}", r.text);
        match *value {
            "in_202" => assert_eq!(r.status, 202),
            "own_status" => assert_eq!(r.status, 400),
            other => panic!("untested value {other}"),
        }
    }
}

#[tokio::test]
async fn the_unmarked_calls_poll_when_forced_only_if_the_dialect_says_so() {
    for value in values("unmarked_polling") {
        let sbx = start_in("unmarked_polling", value).await;
        let token = json!({ "token": format!("tok-{value}") });
        let opened = sbx
            .send(Req::post("/cart").json(token).force_polling())
            .await;
        let missing = sbx
            .send(Req::post("/cart").json(json!({})).force_polling())
            .await;
        assert_eq!(missing.status, 401, "a request error is answered at once");
        let (session, payment) = match *value {
            "never" => {
                assert_eq!(opened.status, 200, "{}", opened.text);
                let cart = opened.body["cart_id"].as_str().unwrap().to_owned();
                assert_eq!(
                    sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
                    200
                );
                (opened, pay_forced(&sbx, &cart).await)
            }
            "when_forced" => {
                let url = opened.body["polling_url"].as_str().unwrap_or_default();
                assert!(url.contains("/polling/cart/POST/"), "{}", opened.text);
                assert!(!url.contains("cart_id="), "{url}");
                let session = poll(&sbx, &opened).await;
                let cart = session.body["cart_id"].as_str().unwrap().to_owned();
                assert_eq!(
                    sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
                    200
                );
                let polling = pay_forced(&sbx, &cart).await;
                let url = polling.body["polling_url"].as_str().unwrap_or_default();
                assert!(
                    url.contains("/polling/cart/payment/PUT/"),
                    "{}",
                    polling.text
                );
                // The cart waits for the payment's poll: another update is refused.
                assert_eq!(
                    sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
                    409
                );
                (session, poll(&sbx, &polling).await)
            }
            other => panic!("untested value {other}"),
        };
        assert_eq!(session.status, 200, "{}", session.text);
        assert!(session.body["cart_id"].is_string());
        assert_eq!(payment.status, 200, "{}", payment.text);
        assert_eq!(payment.body["cart"]["totals"]["unpaid"], json!(0.0));
    }
}

async fn pay_forced(sbx: &Sbx, cart: &str) -> Resp {
    let (key_id, key) = sbx.certificate(cart).await;
    let mut body = fixture("payment_request.json");
    body["cart_id"] = json!(cart);
    body["payment"]["amount"] = json!("25.00");
    body["payment"]["card"]["number"] = json!(encrypt(&key, TEST_CARD));
    body["payment"]["card"]["cin"] = json!(encrypt(&key, "123"));
    body["payment"]["card"]["encryption_key"] = json!(key_id);
    sbx.send(Req::put("/cart/payment").json(body).force_polling())
        .await
}
#[tokio::test]
async fn a_stale_certificate_is_an_invalid_key_or_a_declined_payment() {
    for value in values("stale_certificate") {
        let sbx = start_in("stale_certificate", value).await;
        let cart = sbx.cart().await;
        assert_eq!(
            sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
            200
        );
        let (old_id, _) = sbx.certificate(&cart).await;
        sbx.admin("/certificate/rotate", json!({})).await;
        let stale = Card {
            key_id: Some(&old_id),
            ..Card::test("25.00")
        };
        let r = sbx.pay(&cart, stale).await;
        let refusal = (r.status, r.code(), r.body["error"]["message"].as_str());
        match *value {
            "invalid_key" => {
                assert_eq!(refusal, (400, Some(10002), Some("Invalid encryption key")))
            }
            "payment_declined" => {
                assert_eq!(refusal, (400, Some(20122), Some("Payment Not Accepted")))
            }
            other => panic!("untested value {other}"),
        }
        assert_eq!(sbx.pay(&cart, Card::test("25.00")).await.status, 200);
    }
}
/// The certificate's key is as long as `certificate_key` says, from the start and after a
/// change at run time (a new certificate, the old id refused), and payments under it go through.
#[tokio::test]
async fn the_certificate_key_follows_the_switch() {
    use rsa::traits::PublicKeyParts;
    for value in values("certificate_key") {
        let bits = |v: &str| if v == "rsa1024" { 1024 } else { 2048 };
        let sbx = start_in("certificate_key", value).await;
        let cart = sbx.cart().await;
        assert_eq!(
            sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
            200
        );
        let (first_id, key) = sbx.certificate(&cart).await;
        assert_eq!(key.size() * 8, bits(value), "{value}");
        assert_eq!(
            sbx.pay(&cart, Card::test("25.00")).await.status,
            200,
            "{value}"
        );

        let other = values("certificate_key")
            .iter()
            .find(|v| *v != value)
            .expect("two values");
        sbx.admin(
            "/dialect",
            json!({"dialect": [format!("certificate_key={other}")]}),
        )
        .await;
        let (id, key) = sbx.certificate(&cart).await;
        assert_eq!(key.size() * 8, bits(other), "{value} → {other}");
        assert_ne!(id, first_id, "a new certificate, as a rotation");
        let stale = Card {
            key_id: Some(&first_id),
            ..Card::test("25.00")
        };
        assert_eq!(sbx.pay(&cart, stale).await.status, 400, "{value} → {other}");
        assert_eq!(sbx.pay(&cart, Card::test("25.00")).await.status, 200);
    }
}
#[tokio::test]
async fn the_admin_endpoint_reads_and_changes_the_dialect_at_run_time() {
    let sbx = start(fast()).await;
    let url = sbx.admin_url("/dialect");
    let get = || async {
        sbx.client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        get().await,
        json!({ "dialect": Dialect::default().switches() })
    );

    let changed = sbx
        .admin(
            "/dialect",
            json!(["hold_time=string", "delete_purchased=refused"]),
        )
        .await;
    let expected = Dialect::parse(&["hold_time=string", "delete_purchased=refused"]).unwrap();
    assert_eq!(changed, json!({ "dialect": expected.switches() }));
    assert_eq!(get().await, changed);
    assert_eq!(sbx.handle.dialect(), expected);
    let cart = sbx.cart().await;
    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(
        r.body["cart"]["hold_time"],
        json!("299"),
        "the next call is answered in it"
    );

    // Applied on top of the current dialect; what GET answers can be posted back.
    let changed = sbx
        .admin(
            "/dialect",
            json!({"dialect": ["opposite", "hold_time=number"]}),
        )
        .await;
    let mut expected = Dialect::opposite();
    expected.apply(&["hold_time=number"]).unwrap();
    assert_eq!(changed["dialect"], json!(expected.switches()));
    for bad in [
        json!(["hold_time=sometimes"]),
        json!(["no_such=switch"]),
        json!("literal"),
        json!({"x": 1}),
    ] {
        let r = sbx.client.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid dialect"),
            "{body}"
        );
    }
    assert_eq!(
        sbx.handle.dialect(),
        expected,
        "a refused change changes nothing"
    );

    sbx.handle.set_dialect(Dialect::default());
    assert_eq!(
        get().await,
        json!({ "dialect": Dialect::default().switches() })
    );
}

#[tokio::test]
async fn the_captcha_page_says_what_the_dialect_says_about_caching() {
    for value in values("captcha_cache") {
        let sbx = start_in("captcha_cache", value).await;
        let page = sbx.send(Req::get("/captcha")).await;
        assert_eq!(page.status, 200);
        let header = page
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        let expected = match *value {
            "absent" => None,
            "max_age" => Some("max-age=300".to_owned()),
            "no_store" => Some("no-store".to_owned()),
            other => panic!("untested value {other}"),
        };
        assert_eq!(header, expected, "{value}");
    }
}
