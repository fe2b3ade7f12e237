//! The recorded payloads pin both sides: every fixture round-trips through its wire type, and
//! every sandbox answer has the recursive key structure of the matching fixture.

use checkout_gateway::sandbox::SandboxConfig;
use checkout_gateway::upstream::wire;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::support::*;

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) {
    let original = fixture(name);
    let parsed: T = serde_json::from_value(original.clone())
        .unwrap_or_else(|e| panic!("{name} does not parse as its wire type: {e}"));
    let again = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        normalize(&again),
        normalize(&original),
        "{name} does not round-trip"
    );
}

#[test]
fn every_fixture_round_trips_through_its_wire_type() {
    round_trip::<wire::EventResponse>("event.json");
    round_trip::<wire::CaptchaSolution>("captcha_solution.json");
    round_trip::<wire::CartSession>("cart_session.json");
    round_trip::<wire::ReserveRequest>("reserve_request.json");
    round_trip::<wire::ReserveRequest>("reserve_request_example.json");
    round_trip::<wire::CartResponse>("cart.json");
    round_trip::<wire::Certificate>("certificate.json");
    round_trip::<wire::PaymentRequest>("payment_request.json");
    round_trip::<wire::PurchaseRequest>("purchase_request.json");
    round_trip::<wire::PurchaseResponse>("purchase_response.json");
    round_trip::<wire::PurchaseResponse>("purchase_response_example.json");
    round_trip::<wire::UnredeemedOrders>("unredeemed_orders.json");
    round_trip::<wire::PollingResponse>("polling.json");
    round_trip::<wire::AccessTokenResponse>("access_token.json");
    for name in [
        "error_invalid_input.json",
        "error_not_transactable.json",
        "error_no_inventory.json",
        "error_captcha_missing.json",
        "error_captcha_invalid.json",
        "error_payment_not_accepted.json",
        "error_invalid_cvv.json",
    ] {
        round_trip::<wire::ErrorBody>(name);
    }
    for name in [
        "fault_invalid_apikey.json",
        "fault_invalid_access_token.json",
        "fault_quota_violation.json",
    ] {
        round_trip::<wire::FaultBody>(name);
    }
}

#[tokio::test]
async fn happy_path_answers_have_the_fixtures_shape() {
    let sbx = start(fast()).await;
    let r = sbx.send(Req::get(&format!("/event/{SEATTLE}"))).await;
    assert_shape("event.json", &r.body);
    let r = sbx.send(Req::get(&format!("/event/{TEST_EVENT}"))).await;
    assert_shape("event.json", &r.body);

    let r = sbx
        .send(Req::post("/cart").json(fixture("captcha_solution.json")))
        .await;
    assert_shape("cart_session.json", &r.body);
    let cart = r.body["cart_id"].as_str().unwrap().to_owned();

    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 1).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_shape("cart.json", &r.body);
    // The docs' example: one 25 USD ticket, no fees.
    let expected = fixture("cart.json");
    assert_eq!(
        normalize(&r.body["cart"]["totals"]),
        normalize(&expected["cart"]["totals"])
    );
    assert_eq!(
        normalize(&r.body["cart"]["items"][0]["tickets"]),
        normalize(&expected["cart"]["items"][0]["tickets"])
    );
    assert_eq!(r.body["cart"]["hold_time"], json!(299));

    let r = sbx
        .send(Req::get("/certificate").query("cart_id", &cart))
        .await;
    assert_shape("certificate.json", &r.body);

    let r = sbx.pay(&cart, Card::test("25.00")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["cart"]["items"].is_array());

    let r = sbx.purchase(&cart).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_shape("purchase_response.json", &r.body);

    let r = sbx
        .send(Req::get("/orders/unredeemed").query("days_from_purchase", "1"))
        .await;
    assert_shape("unredeemed_orders.json", &r.body);

    let cart = sbx.cart().await;
    let r = sbx
        .send(Sbx::reserve_req(&cart, SEATTLE, SEATTLE_TICKET, 1).force_polling())
        .await;
    assert_eq!(r.status, 202);
    assert_shape("polling.json", &r.body);
}

#[tokio::test]
async fn the_docs_example_reserve_request_is_accepted() {
    let sbx = start(fast()).await;
    let cart = sbx.cart().await;
    let mut body = fixture("reserve_request_example.json");
    body["cart_id"] = json!(cart);
    let r = sbx.send(Req::put("/cart/tickets").json(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cart"]["items"][0]["event_id"], json!(TINY));
}

#[tokio::test]
async fn error_answers_have_the_fixtures_shape() {
    let config = SandboxConfig {
        client_secret: Some("secret".into()),
        ..fast()
    };
    let sbx = start(config).await;
    let cart = sbx.cart().await;

    let r = sbx.reserve(&cart, SEATTLE, SEATTLE_TICKET, 11).await;
    assert_eq!((r.status, r.code()), (400, Some(10002)));
    assert_shape("error_invalid_input.json", &r.body);

    let r = sbx
        .reserve(&cart, NOT_TRANSACTABLE, "000000000001", 1)
        .await;
    assert_eq!((r.status, r.code()), (403, Some(90001)));
    assert_shape("error_not_transactable.json", &r.body);

    let r = sbx.reserve(&cart, TINY, "000000000001", 2).await;
    assert_eq!(r.status, 200);
    let other = sbx.cart().await;
    let r = sbx.reserve(&other, TINY, "000000000001", 1).await;
    assert_eq!((r.status, r.code()), (400, Some(20052)));
    assert_shape("error_no_inventory.json", &r.body);

    let r = sbx
        .send(Req::post("/cart").json(json!({"token": ""})))
        .await;
    assert_eq!((r.status, r.code()), (401, Some(10004)));
    assert_shape("error_captcha_missing.json", &r.body);

    let r = sbx
        .send(Req::post("/cart").json(json!({"token": "invalid-solution"})))
        .await;
    assert_eq!((r.status, r.code()), (400, Some(10031)));
    assert_shape("error_captcha_invalid.json", &r.body);

    let paid = sbx.cart().await;
    sbx.reserve(&paid, SEATTLE, SEATTLE_TICKET, 1).await;
    let r = sbx
        .pay(
            &paid,
            Card {
                number: "4000000000000002",
                ..Card::test("25.00")
            },
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some(20122)));
    assert_shape("error_payment_not_accepted.json", &r.body);

    let r = sbx
        .pay(
            &paid,
            Card {
                cvv: "999",
                ..Card::test("25.00")
            },
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some(20152)));
    assert_shape("error_invalid_cvv.json", &r.body);

    let r = sbx
        .send(Req::get(&format!("/event/{SEATTLE}")).without_apikey())
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        normalize(&r.body),
        normalize(&fixture("fault_invalid_apikey.json"))
    );

    let r = token(&sbx, "sandbox-apikey:secret").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_shape("access_token.json", &r.body);
    assert_eq!(r.body["expires_in"], json!("3599"));
}

/// `POST /oauth/accesstoken` with Basic `credentials` (`apikey:secret`).
pub async fn token(sbx: &Sbx, credentials: &str) -> Resp {
    sbx.send(
        Req::post("/oauth/accesstoken")
            .header("Authorization", &basic(credentials))
            .raw(
                "grant_type=client_credentials",
                "application/x-www-form-urlencoded",
            ),
    )
    .await
}

pub fn basic(credentials: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}
