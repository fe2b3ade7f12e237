//! Through the app: a user picks the sandbox's event, solves the captcha the sandbox way and
//! reserves; refusals show their problem code and detail; a return for a checkout the tab
//! does not hold is refused; and without `example_app.enabled` there is no app to load.

use serde_json::Value;

use super::*;
use crate::helpers::{TEST_CARD, TINY_EVENT, tiny_event_held};
use crate::network::assert_no_card_number;

#[tokio::test]
async fn the_example_app_reserves_through_event_and_captcha_and_shows_the_checkout() {
    let Some((browser, app)) = start("example_app_reserves").await else {
        return;
    };
    let reserved = reserve_through_the_app(&browser, &app, nothing).await;
    browser
        .step("shows the reserved checkout", async {
            let summary = browser
                .text_containing("#checkout-summary", &reserved.checkout_id)
                .await;
            let path = format!("/v1/checkouts/{}", reserved.checkout_id);
            let checkout = app.get_json(&path, &reserved.user).await;
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
            let create = sent_with_key_and_wait(&sent, "POST", "/v1/checkouts");
            // The log does hold bodies and headers: the create carried the token the page
            // made, and the user's token.
            assert!(create.body.contains(&reserved.captcha_token), "{create:?}");
            let bearer = create.header("Authorization").unwrap_or_default();
            assert!(bearer.starts_with("Bearer "), "{create:?}");
            for (method, path) in [
                ("POST", "/example/token".to_owned()),
                ("GET", format!("/v1/events/{EVENT}")),
                ("GET", "/v1/captcha".to_owned()),
            ] {
                assert!(
                    sent.iter().any(|r| r.method == method && r.path() == path),
                    "no {method} {path}"
                );
            }
            assert_no_card_number(&sent, TEST_CARD, |_| false);
            // The page came with its policy, as the browser got it.
            let answers = browser.responses_received().await;
            let page = answers
                .iter()
                .find(|r| r.path() == "/example/")
                .expect("the page was answered");
            assert_eq!(page.status, 200);
            let policy = page.header("Content-Security-Policy").unwrap_or_default();
            assert!(policy.contains("script-src 'self'"), "{policy}");
        })
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn the_example_app_shows_the_problem_code_and_detail_of_a_refusal() {
    let Some((browser, app)) = start("example_app_refusal").await else {
        return;
    };
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
        .step("choose", choose_tickets(&browser, &ticket, 2))
        .await;
    browser.step("captcha", solve_captcha(&browser)).await;
    browser
        .step("refused", async {
            browser.click("#reserve").await;
            assert_eq!(refusal_shown(&browser).await, "sold_out");
            assert_eq!(browser.text("#error-code").await, "sold_out");
            assert_eq!(
                browser.text("#error-detail").await,
                expected["detail"].as_str().expect("a detail")
            );
        })
        .await;
    browser
        .step("an unknown event", async {
            ask_for_an_unknown_event(&browser).await;
            assert_eq!(refusal_shown(&browser).await, "not_found");
            assert!(!browser.text("#error-detail").await.is_empty());
        })
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn a_return_for_a_checkout_this_tab_does_not_hold_is_refused() {
    let Some((browser, app)) = start("example_app_foreign_return").await else {
        return;
    };
    browser
        .step("another tab's checkout", async {
            let other = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12";
            come_back(&browser, &app, other, "payment_accepted").await;
            assert_eq!(refusal_shown(&browser).await, "unknown_checkout");
            // Nothing was asked about it: the app does not act on a checkout it did not open.
            let sent = browser.requests_sent().await;
            assert!(
                !sent
                    .iter()
                    .any(|r| r.path().contains(other) && r.kind == "Fetch"),
                "the app asked about {other}"
            );
        })
        .await;
    browser.quit().await;
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
            // The browser was answered 404, and loaded nothing else of the gateway (but the
            // icon Chromium looks for on its own).
            let answers: Vec<(String, u16)> = browser
                .responses_received()
                .await
                .iter()
                .filter(|r| r.url.starts_with(&app.address))
                .map(|r| (r.path(), r.status))
                .collect();
            assert!(
                answers.contains(&("/example/".to_owned(), 404)),
                "{answers:?}"
            );
            assert!(
                answers
                    .iter()
                    .all(|(path, _)| path == "/example/" || path == "/favicon.ico"),
                "{answers:?}"
            );
        })
        .await;
    browser.quit().await;
}
