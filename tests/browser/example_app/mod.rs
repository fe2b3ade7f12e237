//! The example partner app (`/example/`) and the gateway's hosted payment page (`/pay/…`) in
//! Chromium, walked the way a user walks them.
//!
//! # Layout
//! - this file: the steps of a walk through the app and the page, shared by the tests.
//! - [`flow`]: reserve, refusals, a return for another tab's checkout, the app disabled.
//! - [`hosted`]: the purchase through the hosted page, the card only in its form post; a
//!   declined card; an expired and a used link; cancelling.
//! - [`quality`]: every view of both passes axe-core and fits a phone.

use serde_json::Value;

use crate::gateway::gateway;
use crate::helpers::{EVENT, TICKET, TestApp};
use crate::network::SentRequest;
use crate::session::Browser;

mod flow;
mod hosted;
mod quality;

/// What the app keeps in this tab's sessionStorage.
const STORE: &str = "checkout-gateway-example";

/// A browser session for `test` and a gateway with the example app; `None` when the browser
/// is not installed (the test is skipped).
async fn start(test: &str) -> Option<(Browser, TestApp)> {
    start_with(test, &[]).await
}

/// [`start`], with more configuration. The hosted page may send users back to the app's
/// return page on the gateway's own origin (as `config/local.toml` allows for port 8080).
async fn start_with(test: &str, config: &[(&str, &str)]) -> Option<(Browser, TestApp)> {
    let browser = Browser::start(test).await?;
    let app = gateway(|origin| {
        let mut all = vec![(
            "hosted_page.return_urls".to_owned(),
            format!("{origin}/example/"),
        )];
        all.extend(
            config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        all
    })
    .await;
    Some((browser, app))
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

/// From the reservation, to the gateway's payment page (the app's "Pay" button); returns the
/// page's address.
async fn to_the_payment_page(browser: &Browser) -> String {
    browser
        .step("to the payment page", async {
            browser.click("#to-payment").await;
            let url = browser
                .poll("the payment page is loaded", || async {
                    let url = browser.driver.current_url().await.ok()?;
                    url.path().starts_with("/pay/ps_").then(|| url.to_string())
                })
                .await;
            browser.visible("#card_number").await;
            url
        })
        .await
}

/// Fills the payment page's card fields, as a person types them, and pays.
async fn pay_with(browser: &Browser, card_number: &str) {
    browser
        .step("pay", async {
            browser.type_into("#card_number", card_number).await;
            browser.type_into("#expire_month", "12").await;
            browser.type_into("#expire_year", "2030").await;
            browser.type_into("#cvv", "123").await;
            browser.click("#pay").await;
        })
        .await;
}

/// Waits until the browser is back on the app's return page with `outcome`.
async fn back_in_the_app(browser: &Browser, outcome: &str) {
    browser
        .step("back in the app", async {
            browser
                .wait_until(
                    &format!("back at /example/return with {outcome}"),
                    || async {
                        browser.driver.current_url().await.is_ok_and(|url| {
                            url.path() == "/example/return"
                                && url
                                    .query_pairs()
                                    .any(|(k, v)| k == "outcome" && v == outcome)
                        })
                    },
                )
                .await;
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
