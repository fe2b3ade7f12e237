//! Cart behaviour over real HTTP: captcha, reserve rules, polling, one update at a time, hold
//! expiry, delete, url-encoded cart ids, `True-Client-IP`.

use std::time::Duration;

use checkout_gateway::sandbox::SandboxConfig;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn captcha_tokens_are_valid_once() {
    let sbx = start(fast()).await;
    let r = sbx.send(Req::get("/captcha")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let sitekey = r.header("X-TM-CAPTCHA-V2-SITEKEY").unwrap();
    assert!(r.text.contains(sitekey) && r.text.contains("g-recaptcha"));

    let post = |token: serde_json::Value| Req::post("/cart").json(token);
    let r = sbx
        .send(post(json!({"token": "2822b0737710e549a2f74c1e65be19b9"})))
        .await;
    assert_eq!(r.status, 200);
    let r = sbx
        .send(post(json!({"token": "2822b0737710e549a2f74c1e65be19b9"})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some(10031)),
        "a reused token is stale"
    );
    let r = sbx.send(post(json!({"token": "invalid"}))).await;
    assert_eq!(r.code(), Some(10031));
    let r = sbx.send(post(json!({}))).await;
    assert_eq!((r.status, r.code()), (401, Some(10004)));
    let r = sbx
        .send(Req::post("/cart").raw("", "application/json"))
        .await;
    assert_eq!((r.status, r.code()), (401, Some(10004)));
}

#[tokio::test]
async fn reserve_refuses_what_the_event_does_not_allow() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    // CHILD tickets of the test event come in pairs.
    let r = sbx.reserve(&cart, TEST_EVENT, "000000000002", 1).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));
    let r = sbx.reserve(&cart, TEST_EVENT, "999999999999", 1).await;
    assert_eq!(r.code(), Some(10002));
    let r = sbx
        .reserve(&cart, NOT_TRANSACTABLE, "000000000001", 1)
        .await;
    assert_eq!((r.status, r.code()), (403, Some(90001)));
    let bad_structure = json!({"cart_id": cart, "tickets": []});
    let r = sbx
        .send(Req::put("/cart/tickets").json(bad_structure))
        .await;
    assert_eq!((r.status, r.code()), (400, Some(21001)));
    let r = sbx
        .send(Req::put("/cart/tickets").raw("{not json", "application/json"))
        .await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));

    // The test event: 57.39 per adult ticket, 10% service fee.
    let r = sbx.reserve(&cart, TEST_EVENT, "000000000001", 2).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cart"]["totals"]["grand"], json!(114.78));
    let item = &r.body["cart"]["items"][0];
    assert_eq!(item["num_seats"], json!(2));
    assert_eq!(item["start_seat_number"], json!("1"));
    assert_eq!(item["end_seat_number"], json!("2"));

    let r = sbx
        .reserve(&sbx.cart().await, TINY, "000000000001", 2)
        .await;
    assert_eq!(r.status, 200);
    let r = sbx
        .reserve(&sbx.cart().await, TINY, "000000000001", 1)
        .await;
    assert_eq!((r.status, r.code()), (400, Some(20052)), "sold out");
    assert_eq!(sbx.stats().seats_held, 4);
}

#[tokio::test]
async fn polling_hands_out_new_urls_and_counts_early_and_stale_polls() {
    let config = SandboxConfig {
        poll_rounds: 3,
        final_poll_status: 202,
        ..fast()
    };
    let wait = Duration::from_secs_f64(config.poll_wait_secs);
    let sbx = start(config).await;
    let cart = sbx.cart().await;
    let r = sbx
        .send(Sbx::reserve_req(&cart, SEATTLE, SEATTLE_TICKET, 2).force_polling())
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["wait"], json!(0.05));
    let first = r.body["polling_url"].as_str().unwrap().to_owned();
    assert!(
        first.contains("/partners/v1/polling/cart/tickets/PUT/"),
        "{first}"
    );
    assert!(
        first.contains(&format!("cart_id={}", enc(&cart))),
        "{first}"
    );

    let r = sbx.send_url(Req::get(""), &first).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        r.body["polling_url"],
        json!(first),
        "an early poll gets the same answer"
    );
    assert_eq!(sbx.stats().early_polls, 1);

    tokio::time::sleep(wait).await;
    let r = sbx.send_url(Req::get(""), &first).await;
    let second = r.body["polling_url"].as_str().unwrap().to_owned();
    assert_ne!(second, first);

    let r = sbx.send_url(Req::get(""), &first).await;
    assert_eq!(r.status, 404, "the first url is stale now");
    assert_eq!(sbx.stats().stale_polls, 1);

    let r = sbx
        .send_url(Req::get("").without_client_ip(), &second)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some(10002)),
        "polls need True-Client-IP"
    );

    tokio::time::sleep(wait).await;
    let r = sbx.send_url(Req::get(""), &second).await;
    let third = r.body["polling_url"].as_str().unwrap().to_owned();
    tokio::time::sleep(wait).await;
    let r = sbx.send_url(Req::get(""), &third).await;
    assert_eq!(r.status, 202, "final status as configured");
    assert_eq!(r.body["cart_id"], json!(cart));
    assert_eq!(r.body["cart"]["items"][0]["num_seats"], json!(2));

    let r = sbx.send_url(Req::get(""), &third).await;
    assert_eq!(r.status, 404, "delivered once");
    let stats = sbx.stats();
    assert_eq!((stats.early_polls, stats.stale_polls), (1, 2));
    assert_eq!(stats.seats_held, 2);
}

#[tokio::test]
async fn one_update_per_cart_at_a_time() {
    let config = SandboxConfig {
        update_latency: Duration::from_millis(300),
        ..fast()
    };
    let sbx = start(config).await;
    let cart = sbx.cart().await;
    let r = sbx
        .send(Sbx::reserve_req(&cart, SEATTLE, SEATTLE_TICKET, 1).force_polling())
        .await;
    assert_eq!(r.status, 202);
    let polling_url = r.body["polling_url"].as_str().unwrap().to_owned();

    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body,
        json!({"error": {"message": "Concurrent cart update", "code": 409, "http_code": 409,
            "severity": "ERROR"}})
    );
    let r = sbx.pay(&cart, Card::test("25.00")).await;
    assert_eq!(r.status, 409);
    let r = sbx.purchase(&cart).await;
    assert_eq!(r.status, 409);
    assert_eq!(sbx.stats().concurrent_update_violations, 3);
    assert_eq!(purchase_calls(&sbx.stats()).get(&cart), Some(&1));

    // DELETE is allowed while polling and cancels the pending reserve.
    let r = sbx.send(Req::delete("/cart").query("cart_id", &cart)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = sbx.send_url(Req::get(""), &polling_url).await;
    assert_eq!(r.status, 404);
    assert_eq!(sbx.stats().seats_held, 0);

    // Two overlapping updates without polling: the second one is refused.
    let cart = sbx.cart().await;
    let (a, b) = tokio::join!(sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 2).await
    });
    assert_eq!((a.status, b.status), (200, 409));
    assert_eq!(sbx.stats().concurrent_update_violations, 4);
}

#[tokio::test]
async fn an_expired_hold_frees_its_seats() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, TINY, "000000000001", 2).await.status,
        200
    );
    let other = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&other, TINY, "000000000001", 1).await.code(),
        Some(20052)
    );

    sbx.advance(300.0).await;
    assert_eq!(sbx.stats().seats_held, 0);
    let r = sbx
        .send(Req::get("/certificate").query("cart_id", &cart))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["message"].as_str()),
        (404, Some("Cart not found or expired"))
    );
    assert_eq!(r.code(), Some(10002));
    let r = sbx.purchase(&cart).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        sbx.reserve(&other, TINY, "000000000001", 1).await.status,
        200
    );
}

#[tokio::test]
async fn delete_releases_the_seats() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, TINY, "000000000001", 2).await.status,
        200
    );
    assert_eq!(sbx.stats().seats_held, 2);
    let r = sbx.send(Req::delete("/cart").query("cart_id", &cart)).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let stats = sbx.stats();
    assert_eq!((stats.seats_held, stats.carts_deleted), (0, 1));
    let r = sbx.send(Req::delete("/cart").query("cart_id", &cart)).await;
    assert_eq!(r.status, 404);

    // Through polling: 202, then 204 on the final poll.
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, TINY, "000000000001", 2).await.status,
        200
    );
    let r = sbx
        .send(Req::delete("/cart").query("cart_id", &cart).force_polling())
        .await;
    assert_eq!(r.status, 202);
    assert!(
        r.body["polling_url"]
            .as_str()
            .unwrap()
            .contains("/polling/cart/DELETE/")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = sbx
        .send_url(Req::get(""), r.body["polling_url"].as_str().unwrap())
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(sbx.stats().seats_held, 0);
}

#[tokio::test]
async fn cart_ids_must_be_url_encoded() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert!(cart.contains('+') && cart.contains('/') && cart.contains('='));
    let encoded = format!(
        "{}/certificate?apikey={}&cart_id={}",
        sbx.base,
        sbx.apikey,
        enc(&cart)
    );
    assert_eq!(sbx.send_url(Req::get(""), &encoded).await.status, 200);
    // Not encoded: the `+` is read as a space, so the cart is not found.
    let raw = format!(
        "{}/certificate?apikey={}&cart_id={cart}",
        sbx.base, sbx.apikey
    );
    assert_eq!(sbx.send_url(Req::get(""), &raw).await.status, 404);
    let raw_delete = format!("{}/cart?apikey={}&cart_id={cart}", sbx.base, sbx.apikey);
    assert_eq!(sbx.send_url(Req::delete(""), &raw_delete).await.status, 404);
    let r = sbx.send(Req::delete("/cart").query("cart_id", &cart)).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn ticketing_calls_need_true_client_ip_and_both_prefixes_work() {
    let sbx = start(fast()).await;
    let r = sbx
        .send(
            Req::post("/cart")
                .json(json!({"token": "t1"}))
                .without_client_ip(),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));
    assert_eq!(sbx.stats().missing_true_client_ip, 1);
    // Event details are not a ticketing call.
    let r = sbx
        .send(Req::get(&format!("/event/{SEATTLE}")).without_client_ip())
        .await;
    assert_eq!(r.status, 200);

    let staging = sbx.base.replace("/partners/v1", "/partners-sandbox/v1");
    let url = format!("{staging}/event/{TINY}?apikey={}", sbx.apikey);
    let r = sbx.send_url(Req::get(""), &url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["event"]["id"], json!(TINY));
    let url = format!("{staging}/event/FFFFFFFFFFFFFFFF?apikey={}", sbx.apikey);
    let r = sbx.send_url(Req::get(""), &url).await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"].is_object());
    let url = format!("{staging}/event/{TINY}?apikey=wrong");
    assert_eq!(sbx.send_url(Req::get(""), &url).await.status, 401);
}
