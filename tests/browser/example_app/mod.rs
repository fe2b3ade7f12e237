//! The example partner app (`/example/`) in Chromium, walked the way a user walks it.
//!
//! The hosted payment page is not part of these tests: where a test needs a checkout whose
//! payment was accepted, it pays through the API (`PUT …/payment`, from the test's own HTTP
//! client, not the browser), standing in for the page, then brings the browser back the way
//! the page does (`/example/return?checkout_id=…&outcome=…`).
//!
//! # Layout
//! - this file: the steps of a walk through the app, shared by the tests.
//! - [`flow`]: reserve, refusals, the return and the purchase, no card number sent, disabled.
//! - [`quality`]: every view passes axe-core and fits a phone.

use serde_json::Value;

use crate::gateway::gateway;
use crate::helpers::{EVENT, TEST_CARD, TICKET, TestApp};
use crate::network::SentRequest;
use crate::session::Browser;

mod flow;
mod quality;

/// What the app keeps in this tab's sessionStorage.
const STORE: &str = "checkout-gateway-example";

/// A browser session for `test` and a gateway with the example app; `None` when the browser
/// is not installed (the test is skipped).
async fn start(test: &str) -> Option<(Browser, TestApp)> {
    let browser = Browser::start(test).await?;
    Some((browser, gateway(|_| Vec::new()).await))
}

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
/// event's tickets; `on_view` runs on each view as it is shown (named for messages).
async fn reserve_through_the_app(
    browser: &Browser,
    app: &TestApp,
    on_view: impl AsyncFn(&'static str),
) -> Reserved {
    browser.step("open", open(browser, app)).await;
    browser.step("events", on_view("the event picker")).await;
    browser.step("event", pick_event(browser, EVENT)).await;
    browser.step("tickets", on_view("the ticket choice")).await;
    browser
        .step("choose", choose_tickets(browser, TICKET, 2))
        .await;
    let captcha_token = browser.step("captcha", solve_captcha(browser)).await;
    browser.step("solved", on_view("the captcha")).await;
    browser
        .step("reserve", async {
            browser.click("#reserve").await;
            browser.visible("#step-reserved").await;
        })
        .await;
    browser.step("reserved", on_view("the reservation")).await;
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

/// What a walk that checks nothing on the way does on each view.
async fn nothing(_view: &'static str) {}

/// Pays the checkout through the API as its user, standing in for the hosted payment page,
/// and brings the browser back as the page does after an accepted payment.
async fn paid_and_back(browser: &Browser, app: &TestApp, reserved: &Reserved) {
    let resp = app
        .pay(&reserved.user, &reserved.checkout_id, TEST_CARD, "123")
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    browser
        .step("payment accepted", async {
            come_back(browser, app, &reserved.checkout_id, "payment_accepted").await;
            browser.visible("#step-return").await;
        })
        .await;
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

async fn place_order(browser: &Browser) {
    browser
        .step("purchase", async {
            browser.click("#purchase").await;
            browser.visible("#step-order").await;
        })
        .await;
}

/// Asks for an event that does not exist, from the start.
async fn ask_for_an_unknown_event(browser: &Browser) {
    browser.click("#start-over").await;
    browser.visible("#step-event").await;
    browser.type_into("#event-id", "0000000000000000").await;
    browser.click("#show-event").await;
}

/// The refusal the app shows: the `data-code` of its alert (checked to be one).
async fn refusal_shown(browser: &Browser) -> String {
    let error = browser.visible("#error").await;
    assert_eq!(
        error.attr("role").await.expect("an attribute").as_deref(),
        Some("alert")
    );
    error
        .attr("data-code")
        .await
        .expect("an attribute")
        .expect("a code")
}

/// The request the app sent to `path` with `method`, after checking that it was sent as a
/// partner's app sends a write: with an idempotency key and a wait.
fn sent_with_key_and_wait<'a>(
    sent: &'a [SentRequest],
    method: &str,
    path: &str,
) -> &'a SentRequest {
    let request = sent
        .iter()
        .find(|r| r.method == method && r.path() == path)
        .unwrap_or_else(|| panic!("the browser sent no {method} {path}"));
    assert!(request.header("Idempotency-Key").is_some(), "{request:?}");
    assert_eq!(request.header("Prefer"), Some("wait=20"), "{request:?}");
    request
}
