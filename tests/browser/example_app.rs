//! The example partner app (`/example/`) in Chromium: a user picks the sandbox's event, solves
//! the captcha the sandbox way and reserves; refusals show their problem code and detail; back
//! from the payment page, the app places the order and links its tickets; the browser never
//! sends a card number; every view passes axe-core and fits a phone.
//!
//! The hosted payment page is not part of these tests: where a test needs a checkout whose
//! payment was accepted, it pays through the API (`PUT …/payment`, as the test's own HTTP
//! client, not the browser), standing in for the page, then brings the browser back the way
//! the page does (`/example/return?checkout_id=…&outcome=…`).

use serde_json::Value;

use crate::axe::assert_accessible;
use crate::gateway::gateway;
use crate::helpers::{EVENT, TEST_CARD, TICKET, TINY_EVENT, TestApp, tiny_event_held};
use crate::network::{SentRequest, assert_no_card_number};
use crate::phone::{self, Phone};
use crate::session::Browser;

/// What the app keeps in this tab's sessionStorage.
const STORE: &str = "checkout-gateway-example";

/// The app's state in sessionStorage (user, token, checkout id, …).
async fn stored(browser: &Browser) -> Value {
    let text = browser
        .script(&format!("return sessionStorage.getItem('{STORE}');"))
        .await;
    serde_json::from_str(text.as_str().unwrap_or("{}")).expect("the app's state is JSON")
}

async fn open(browser: &Browser, app: &TestApp) {
    browser.goto(&format!("{}/example/", app.address)).await;
    browser.visible("#step-event").await;
    browser.visible(&format!("#event-{EVENT}")).await;
}

/// Picks `event` from the sandbox's list and shows it.
async fn pick_event(browser: &Browser, event: &str) {
    browser.click(&format!("#event-{event}")).await;
    browser.click("#show-event").await;
    browser.visible("#step-tickets").await;
    browser.text_containing("#event-details", "When").await;
}

async fn choose_tickets(browser: &Browser, ticket: &str, quantity: u32) {
    browser.click(&format!("#ticket-{ticket}")).await;
    browser.type_into("#quantity", &quantity.to_string()).await;
    browser.click("#to-captcha").await;
    browser.visible("#step-captcha").await;
}

/// Waits for the captcha page in its frame, solves it the sandbox way; returns the token.
async fn solve_captcha(browser: &Browser) -> String {
    browser
        .wait_until("the captcha page is shown in its frame", || async {
            let srcdoc = browser
                .script("return document.getElementById('captcha-frame').srcdoc;")
                .await;
            srcdoc
                .as_str()
                .is_some_and(|html| html.contains("g-recaptcha"))
        })
        .await;
    browser.click("#captcha-solve").await;
    let said = browser
        .text_containing("#captcha-result", "example-captcha-")
        .await;
    said.split_whitespace()
        .find(|word| word.starts_with("example-captcha-"))
        .expect("the token is shown")
        .to_owned()
}

/// A reservation made through the app.
struct Reserved {
    checkout_id: String,
    user: String,
    captcha_token: String,
}

/// Event → tickets → captcha → reserve, through the app's pages, for two of the Seattle
/// event's tickets.
async fn reserve_through_the_app(browser: &Browser, app: &TestApp) -> Reserved {
    browser.step("open", open(browser, app)).await;
    browser.step("event", pick_event(browser, EVENT)).await;
    browser
        .step("tickets", choose_tickets(browser, TICKET, 2))
        .await;
    let captcha_token = browser.step("captcha", solve_captcha(browser)).await;
    browser
        .step("reserve", async {
            browser.click("#reserve").await;
            browser.visible("#step-reserved").await;
        })
        .await;
    let state = stored(browser).await;
    Reserved {
        checkout_id: state["checkout_id"]
            .as_str()
            .expect("a checkout")
            .to_owned(),
        user: state["user"].as_str().expect("a user").to_owned(),
        captcha_token,
    }
}

/// Pays the checkout through the API as its user, standing in for the hosted payment page.
async fn pay_as_the_hosted_page_would(app: &TestApp, reserved: &Reserved) {
    let resp = app
        .pay(&reserved.user, &reserved.checkout_id, TEST_CARD, "123")
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

/// Brings the browser back to the app the way the hosted page does.
async fn come_back(browser: &Browser, app: &TestApp, checkout_id: &str, outcome: &str) {
    browser
        .goto(&format!(
            "{}/example/return?checkout_id={checkout_id}&outcome={outcome}",
            app.address
        ))
        .await;
}

/// The request the app sent to `path` with `method`.
fn sent_to<'a>(sent: &'a [SentRequest], method: &str, path: &str) -> &'a SentRequest {
    sent.iter()
        .find(|r| r.method == method && r.path() == path)
        .unwrap_or_else(|| panic!("the browser sent no {method} {path}"))
}

#[tokio::test]
async fn the_example_app_reserves_through_event_and_captcha_and_shows_the_checkout() {
    let Some(browser) = Browser::start("example_app_reserves").await else {
        return;
    };
    let app = gateway(|_| Vec::new()).await;
    let reserved = reserve_through_the_app(&browser, &app).await;
    browser
        .step("shows the reserved checkout", async {
            let summary = browser
                .text_containing("#checkout-summary", &reserved.checkout_id)
                .await;
            let checkout = app
                .get_json(
                    &format!("/v1/checkouts/{}", reserved.checkout_id),
                    &reserved.user,
                )
                .await;
            assert_eq!(checkout["state"], "reserved", "{checkout}");
            assert_eq!(checkout["event_id"], EVENT);
            assert_eq!(checkout["tickets"][0]["quantity"], 2);
            let row = checkout["tickets"][0]["row"].as_str().expect("a row");
            let grand = checkout["totals"]["grand"].as_f64().expect("a total");
            for shown in ["reserved", &format!("row {row}"), &format!("${grand:.2}")] {
                assert!(summary.contains(shown), "`{shown}` not in:\n{summary}");
            }
        })
        .await;
    browser
        .step("its requests", async {
            let sent = browser.requests_sent().await;
            let create = sent_to(&sent, "POST", "/v1/checkouts");
            // The log does hold bodies and headers: the create carried the captcha token the
            // page made, a fresh idempotency key and a wait.
            assert!(create.body.contains(&reserved.captcha_token), "{create:?}");
            assert!(create.header("Idempotency-Key").is_some(), "{create:?}");
            assert_eq!(create.header("Prefer"), Some("wait=20"));
            assert!(
                create
                    .header("Authorization")
                    .is_some_and(|v| v.starts_with("Bearer ")),
                "{create:?}"
            );
            sent_to(&sent, "POST", "/example/token");
            sent_to(&sent, "GET", &format!("/v1/events/{EVENT}"));
            sent_to(&sent, "GET", "/v1/captcha");
            assert_no_card_number(&sent, TEST_CARD, |_| false);
        })
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn the_example_app_shows_the_problem_code_and_detail_of_a_refusal() {
    let Some(browser) = Browser::start("example_app_refusal").await else {
        return;
    };
    let app = gateway(|_| Vec::new()).await;
    // Someone else holds the tiny event's two seats: the app's reservation is refused.
    let ticket = tiny_event_held(&app).await;
    let refused = app
        .create_checkout("someone-else", TINY_EVENT, &ticket, 2)
        .await;
    assert_eq!(refused.status(), 409);
    let expected: Value = refused.json().await.expect("a problem");
    browser.step("open", open(&browser, &app)).await;
    browser
        .step("event", pick_event(&browser, TINY_EVENT))
        .await;
    browser
        .step("tickets", choose_tickets(&browser, &ticket, 2))
        .await;
    browser.step("captcha", solve_captcha(&browser)).await;
    browser
        .step("refused", async {
            browser.click("#reserve").await;
            let error = browser.visible("#error").await;
            assert_eq!(
                error.attr("data-code").await.expect("an attribute"),
                Some("sold_out".to_owned())
            );
            assert_eq!(browser.text("#error-code").await, "sold_out");
            assert_eq!(
                browser.text("#error-detail").await,
                expected["detail"].as_str().expect("a detail")
            );
            assert_eq!(
                error.attr("role").await.expect("an attribute"),
                Some("alert".to_owned())
            );
        })
        .await;
    browser
        .step("an unknown event", async {
            browser.click("#start-over").await;
            browser.visible("#step-event").await;
            browser.type_into("#event-id", "0000000000000000").await;
            browser.click("#show-event").await;
            assert_eq!(
                browser
                    .visible("#error")
                    .await
                    .attr("data-code")
                    .await
                    .expect("an attribute"),
                Some("not_found".to_owned())
            );
            assert!(!browser.text("#error-detail").await.is_empty());
        })
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn back_from_the_payment_page_the_example_app_places_the_order_and_links_its_tickets() {
    let Some(browser) = Browser::start("example_app_purchase").await else {
        return;
    };
    let app = gateway(|_| Vec::new()).await;
    let reserved = reserve_through_the_app(&browser, &app).await;
    browser
        .step("cancelled", async {
            come_back(&browser, &app, &reserved.checkout_id, "cancelled").await;
            browser.visible("#step-reserved").await;
            browser.text_containing("#status", "cancelled").await;
        })
        .await;
    browser
        .step("another tab's checkout", async {
            come_back(
                &browser,
                &app,
                "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12",
                "cancelled",
            )
            .await;
            let error = browser.visible("#error").await;
            assert_eq!(
                error.attr("data-code").await.expect("an attribute"),
                Some("unknown_checkout".to_owned())
            );
        })
        .await;
    pay_as_the_hosted_page_would(&app, &reserved).await;
    browser
        .step("payment accepted", async {
            come_back(&browser, &app, &reserved.checkout_id, "payment_accepted").await;
            browser.visible("#step-return").await;
            browser
                .text_containing("#return-summary", "payment_accepted")
                .await;
            browser
                .text_containing("#return-summary", "ending 0011")
                .await;
        })
        .await;
    browser
        .step("purchase", async {
            browser.click("#purchase").await;
            browser.visible("#step-order").await;
        })
        .await;
    browser
        .step("the order", async {
            let checkout = app
                .get_json(
                    &format!("/v1/checkouts/{}", reserved.checkout_id),
                    &reserved.user,
                )
                .await;
            assert_eq!(checkout["state"], "purchased", "{checkout}");
            let order = &checkout["order"];
            let order_id = order["order_id"].as_str().expect("an order id");
            browser.text_containing("#order-summary", order_id).await;
            let link = browser.visible("#redemption-link").await;
            assert_eq!(
                link.attr("href").await.expect("an attribute"),
                order["redemption_url"].as_str().map(str::to_owned)
            );
            assert!(stored(&browser).await.get("checkout_id").is_none());
        })
        .await;
    browser
        .step("its requests", async {
            let sent = browser.requests_sent().await;
            let path = format!("/v1/checkouts/{}/purchase", reserved.checkout_id);
            let purchase = sent_to(&sent, "POST", &path);
            assert!(purchase.header("Idempotency-Key").is_some(), "{purchase:?}");
            assert_eq!(purchase.header("Prefer"), Some("wait=20"));
            // The card paid for this checkout (sent by the test, not the browser) crossed
            // none of the browser's requests.
            assert_no_card_number(&sent, TEST_CARD, |_| false);
        })
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn every_view_of_the_example_app_passes_axe_core_and_fits_a_phone() {
    let Some(browser) = Browser::start("example_app_accessible").await else {
        return;
    };
    let app = gateway(|_| Vec::new()).await;
    let phone = Phone::emulate(&browser).await;
    let check = |label: &'static str| {
        let (browser, phone) = (&browser, &phone);
        async move {
            assert_accessible(browser, label).await;
            assert_eq!(phone.overflow_px().await, 0, "{label} scrolls sideways");
        }
    };
    browser.step("open", open(&browser, &app)).await;
    browser.step("events: axe", check("the event picker")).await;
    browser.step("event", pick_event(&browser, EVENT)).await;
    browser
        .step("tickets: axe", check("the ticket choice"))
        .await;
    browser
        .step("tickets", choose_tickets(&browser, TICKET, 2))
        .await;
    browser.step("captcha", solve_captcha(&browser)).await;
    browser.step("captcha: axe", check("the captcha")).await;
    browser
        .step("reserve", async {
            browser.click("#reserve").await;
            browser.visible("#step-reserved").await;
        })
        .await;
    browser
        .step("reserved: axe", check("the reservation"))
        .await;
    let screenshot = crate::target_dir()
        .join("browser-screenshots")
        .join("example-app-phone.png");
    phone.screenshot_to(&screenshot).await;
    assert_eq!(
        png_size(&screenshot),
        (
            phone::WIDTH * phone::SCALE as u32,
            phone::HEIGHT * phone::SCALE as u32
        )
    );
    let state = stored(&browser).await;
    let reserved = Reserved {
        checkout_id: state["checkout_id"]
            .as_str()
            .expect("a checkout")
            .to_owned(),
        user: state["user"].as_str().expect("a user").to_owned(),
        captcha_token: String::new(),
    };
    pay_as_the_hosted_page_would(&app, &reserved).await;
    browser
        .step("returned", async {
            come_back(&browser, &app, &reserved.checkout_id, "payment_accepted").await;
            browser.visible("#step-return").await;
        })
        .await;
    browser
        .step("returned: axe", check("the return page"))
        .await;
    browser
        .step("purchase", async {
            browser.click("#purchase").await;
            browser.visible("#step-order").await;
        })
        .await;
    browser.step("order: axe", check("the order")).await;
    browser
        .step("refusal", async {
            browser.click("#start-over").await;
            browser.type_into("#event-id", "0000000000000000").await;
            browser.click("#show-event").await;
            browser.visible("#error").await;
        })
        .await;
    browser.step("refusal: axe", check("a refusal")).await;
    browser.quit().await;
}

/// A PNG's width and height, from its header.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the screenshot");
    assert_eq!(&bytes[1..4], b"PNG", "not a PNG");
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

#[tokio::test]
async fn without_example_app_enabled_the_browser_finds_no_example_app() {
    let Some(browser) = Browser::start("example_app_disabled").await else {
        return;
    };
    let app = gateway(|_| vec![("example_app.enabled".into(), "false".into())]).await;
    browser
        .step("absent", async {
            browser.goto(&format!("{}/example/", app.address)).await;
            let page = browser.text("body").await;
            assert!(page.contains("\"code\":\"not_found\""), "{page}");
            // Nothing of the app was loaded from the gateway: only the page asked for (and
            // the icon Chromium looks for on its own).
            let asked: Vec<String> = browser
                .requests_sent()
                .await
                .iter()
                .filter(|r| r.url.starts_with(&app.address))
                .map(SentRequest::path)
                .collect();
            assert!(
                asked
                    .iter()
                    .all(|p| p == "/example/" || p == "/favicon.ico"),
                "{asked:?}"
            );
        })
        .await;
    browser.quit().await;
}
