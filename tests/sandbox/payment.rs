//! Payment and purchase over real HTTP: decryption with the served certificate, the docs' test
//! card, refusals, certificate rotation, exactly-once purchase, purchase through polling.

use std::time::Duration;

use checkout_gateway::sandbox::SandboxConfig;
use rsa::Pkcs1v15Encrypt;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn the_docs_test_card_pays_and_the_key_is_the_certificates() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 2).await.status,
        200
    );
    let r = sbx.pay(&cart, Card::test("50.00")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cart"]["totals"]["grand"], json!(50.0));
    assert_eq!(r.body["cart"]["totals"]["unpaid"], json!(0.0));
    assert!(r.body["cart"]["hold_time"].as_i64().unwrap() <= 299);

    // What the certificate encrypts, the handle's key decrypts.
    let (_, public) = sbx.certificate(&cart).await;
    let cipher = public
        .encrypt(
            &mut rsa::rand_core::OsRng,
            Pkcs1v15Encrypt,
            b"abcdefghijklmnop123",
        )
        .unwrap();
    let plain = sbx
        .handle
        .private_key()
        .decrypt(Pkcs1v15Encrypt, &cipher)
        .unwrap();
    assert_eq!(plain, b"abcdefghijklmnop123");
}

#[tokio::test]
async fn bad_cards_and_amounts_are_refused() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, TEST_EVENT, "000000000001", 1)
            .await
            .status,
        200
    );

    let r = sbx
        .pay(
            &cart,
            Card {
                cvv: "124",
                ..Card::test("57.39")
            },
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some(20152)));
    let r = sbx
        .pay(
            &cart,
            Card {
                number: "4000000000000002",
                ..Card::test("57.39")
            },
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some(20122)));
    let r = sbx.pay(&cart, Card::test("57.00")).await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some(20122)),
        "amount must be the grand total"
    );
    let r = sbx
        .pay(
            &cart,
            Card {
                key_id: Some("paysys-dev.0.us.999"),
                ..Card::test("57.39")
            },
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));

    // Salt that is not 16 alphanumerics: not decryptable data.
    let (key_id, key) = sbx.certificate(&cart).await;
    let bad_salt = key
        .encrypt(
            &mut rsa::rand_core::OsRng,
            Pkcs1v15Encrypt,
            b"short-4588883206000011",
        )
        .map(|c| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(c)
        })
        .unwrap();
    let mut body = fixture("payment_request.json");
    body["cart_id"] = json!(cart);
    body["payment"]["amount"] = json!("57.39");
    body["payment"]["card"]["encryption_key"] = json!(key_id);
    body["payment"]["card"]["number"] = json!(bad_salt);
    body["payment"]["card"]["cin"] = json!(encrypt(&key, "123"));
    let r = sbx.send(Req::put("/cart/payment").json(body.clone())).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));

    // A missing required field.
    body["payment"]["card"]["number"] = json!(encrypt(&key, TEST_CARD));
    body["payment"]["first_name"] = json!("");
    let r = sbx.send(Req::put("/cart/payment").json(body)).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));

    assert_eq!(sbx.pay(&cart, Card::test("57.39")).await.status, 200);
}

#[tokio::test]
async fn a_rotated_certificate_is_refused() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
        200
    );
    let (old_id, old_key) = sbx.certificate(&cart).await;
    let rotated = sbx.admin("/certificate/rotate", json!({})).await;
    let new_id = rotated["id"].as_str().unwrap();
    assert_ne!(new_id, old_id);

    let mut body = fixture("payment_request.json");
    body["cart_id"] = json!(cart);
    body["payment"]["amount"] = json!("25.00");
    body["payment"]["card"]["encryption_key"] = json!(old_id);
    body["payment"]["card"]["number"] = json!(encrypt(&old_key, TEST_CARD));
    body["payment"]["card"]["cin"] = json!(encrypt(&old_key, "123"));
    let r = sbx.send(Req::put("/cart/payment").json(body)).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));
    assert_eq!(r.body["error"]["message"], json!("Invalid encryption key"));

    let (current, _) = sbx.certificate(&cart).await;
    assert_eq!(current, new_id);
    assert_eq!(sbx.pay(&cart, Card::test("25.00")).await.status, 200);
}

#[tokio::test]
async fn a_cart_is_purchased_once() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    assert_eq!(
        sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await.status,
        200
    );
    let r = sbx.purchase(&cart).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)), "no payment yet");
    assert_eq!(sbx.pay(&cart, Card::test("25.00")).await.status, 200);

    let r = sbx
        .send(Req::put("/cart").json(json!({"cart": cart})))
        .await;
    assert_eq!((r.status, r.code()), (400, Some(21001)));

    let r = sbx.purchase(&cart).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["grand_total"], json!(25.0));
    let token = r.body["order_token"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(token).is_ok());
    assert!(r.body["redemption_url"].as_str().unwrap().contains(token));

    let r = sbx.purchase(&cart).await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some(10002)),
        "the cart is closed"
    );
    let stats = sbx.stats();
    assert_eq!(stats.orders, 1);
    assert_eq!(purchase_calls(&stats).get(&cart), Some(&3));
    assert_eq!(stats.seats_held, 0, "sold seats are no longer held");

    let orders: serde_json::Value = sbx
        .client
        .get(sbx.admin_url("/orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orders = orders["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["last4"], json!("0011"));
    assert_eq!(orders[0]["email"], json!("john.doe@ticketmaster.com"));
    assert!(!orders.iter().any(|o| o.to_string().contains(TEST_CARD)));

    // Deleting a purchased cart answers 204 (the docs' only DELETE answer) and never undoes the
    // order: the cart stays closed.
    let r = sbx.send(Req::delete("/cart").query("cart_id", &cart)).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let stats = sbx.stats();
    assert_eq!((stats.orders, stats.carts_deleted), (1, 0));
    let r = sbx.purchase(&cart).await;
    assert_eq!(r.body["error"]["message"], json!("Cart already purchased"));
}

#[tokio::test]
async fn a_purchase_can_be_answered_through_polling() {
    let config = SandboxConfig {
        force_polling: true,
        ..fast()
    };
    let sbx = start(config).await;
    let cart = sbx.cart().await;
    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(r.status, 202);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = sbx
        .send_url(Req::get(""), r.body["polling_url"].as_str().unwrap())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        sbx.pay(&cart, Card::test("25.00")).await.status,
        200,
        "payment never polls"
    );

    let r = sbx.purchase(&cart).await;
    assert_eq!(r.status, 202);
    let url = r.body["polling_url"].as_str().unwrap().to_owned();
    assert!(url.contains("/polling/cart/PUT/"));
    assert_eq!(
        sbx.stats().orders,
        1,
        "the purchase happened; only its answer waits"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = sbx.send_url(Req::get(""), &url).await;
    assert_eq!(r.status, 200);
    assert!(r.body["order_token"].is_string());
    assert_eq!(purchase_calls(&sbx.stats()).get(&cart), Some(&1));
}
