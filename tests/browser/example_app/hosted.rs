//! The whole purchase in the browser: the example app opens a payment session, the gateway's
//! hosted page takes the card, and back in the app the order is placed. The card number
//! crosses one request only, the page's own form post to the gateway; a declined card is shown
//! on the page, which then takes another; a link past its time or already used is refused with
//! a way back to the app; cancelling returns to the app with the seats still held.

use super::*;
use crate::helpers::TEST_CARD;
use crate::network::{SentRequest, assert_no_card_number};

/// The sandbox declines it.
const DECLINED_CARD: &str = "4000000000000002";

/// The page's own form post, the one request that carries the card.
fn is_the_pages_form_post(request: &SentRequest) -> bool {
    request.method == "POST" && request.path().starts_with("/pay/ps_")
}

#[tokio::test]
async fn a_purchase_completes_through_the_hosted_page_and_only_its_form_post_carries_the_card() {
    let Some((browser, app)) = start("hosted_page_purchase").await else {
        return;
    };
    let reserved = reserve_through_the_app(&browser, &app, nothing).await;
    let page_url = to_the_payment_page(&browser).await;
    browser
        .step("the page", async {
            // The billing the app passed in the session, ready to change.
            let first_name = browser.visible("#first_name").await;
            assert_eq!(first_name.value().await.unwrap().as_deref(), Some("John"));
            let answers = browser.responses_received().await;
            let page = answers
                .iter()
                .find(|r| r.url == page_url)
                .expect("the page was answered");
            assert_eq!(page.status, 200);
            let policy = page.header("Content-Security-Policy").unwrap_or_default();
            for directive in [
                "default-src 'none'",
                "script-src 'self'",
                "form-action 'self'",
                "frame-ancestors 'none'",
            ] {
                assert!(policy.contains(directive), "{policy}");
            }
            assert_eq!(page.header("X-Frame-Options"), Some("DENY"));
            assert_eq!(page.header("Cache-Control"), Some("no-store"));
            assert_eq!(page.header("Referrer-Policy"), Some("no-referrer"));
        })
        .await;
    pay_with(&browser, TEST_CARD).await;
    back_in_the_app(&browser, "payment_accepted").await;
    browser
        .step("paid", async {
            let summary = browser
                .text_containing("#return-summary", "payment_accepted")
                .await;
            assert!(summary.contains("ending 0011"), "{summary}");
        })
        .await;
    place_order(&browser).await;
    browser
        .step("the order", async {
            let path = format!("/v1/checkouts/{}", reserved.checkout_id);
            let checkout = app.get_json(&path, &reserved.user).await;
            assert_eq!(checkout["state"], "purchased", "{checkout}");
            let order = &checkout["order"];
            browser
                .text_containing("#order-summary", order["order_id"].as_str().unwrap())
                .await;
            let link = browser.visible("#redemption-link").await;
            assert_eq!(
                link.attr("href").await.expect("an attribute"),
                order["redemption_url"].as_str().map(str::to_owned)
            );
        })
        .await;
    browser
        .step("the card's way", async {
            let sent = browser.requests_sent().await;
            let posts: Vec<&SentRequest> =
                sent.iter().filter(|r| is_the_pages_form_post(r)).collect();
            assert_eq!(posts.len(), 1, "{posts:?}");
            // The log holds the body: the card is seen where it was sent, to the gateway.
            assert!(posts[0].carries_card_number(TEST_CARD), "{:?}", posts[0]);
            assert!(posts[0].url.starts_with(&app.address), "{}", posts[0].url);
            assert_no_card_number(&sent, TEST_CARD, is_the_pages_form_post);
            let purchase = format!("/v1/checkouts/{}/purchase", reserved.checkout_id);
            sent_with_key_and_wait(&sent, "POST", &purchase);
            let state = stored(&browser).await.to_string();
            assert!(!state.contains(TEST_CARD), "{state}");
        })
        .await;
    browser
        .step("a used link", link_over(&browser, &page_url, "used"))
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn a_declined_card_is_shown_on_the_page_which_then_takes_another() {
    let Some((browser, app)) = start("hosted_page_declined").await else {
        return;
    };
    reserve_through_the_app(&browser, &app, nothing).await;
    let page_url = to_the_payment_page(&browser).await;
    pay_with(&browser, DECLINED_CARD).await;
    browser
        .step("declined", async {
            let errors = browser.visible("#errors").await;
            assert_eq!(
                errors.attr("data-code").await.unwrap().as_deref(),
                Some("payment_declined")
            );
            assert_eq!(errors.attr("role").await.unwrap().as_deref(), Some("alert"));
            let url = browser.driver.current_url().await.unwrap();
            assert_eq!(url.as_str(), page_url, "still on the page");
            // The card is asked again, the billing kept.
            let card = browser.visible("#card_number").await;
            assert_eq!(card.value().await.unwrap().as_deref(), Some(""));
            let first_name = browser.visible("#first_name").await;
            assert_eq!(first_name.value().await.unwrap().as_deref(), Some("John"));
        })
        .await;
    pay_with(&browser, TEST_CARD).await;
    back_in_the_app(&browser, "payment_accepted").await;
    browser
        .text_containing("#return-summary", "payment_accepted")
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn an_expired_link_leads_back_to_the_app_and_cancelling_keeps_the_seats() {
    let Some((browser, app)) = start_with(
        "hosted_page_expired",
        &[("hosted_page.session_ttl_secs", "30")],
    )
    .await
    else {
        return;
    };
    reserve_through_the_app(&browser, &app, nothing).await;
    let page_url = to_the_payment_page(&browser).await;
    app.advance(31);
    browser
        .step("expired", link_over(&browser, &page_url, "expired"))
        .await;
    browser.step("back", browser.click("#back")).await;
    still_reserved_after(&browser, "expired").await;
    // A new session, a new link; then the user changes their mind.
    let second_url = to_the_payment_page(&browser).await;
    assert_ne!(second_url, page_url);
    browser.step("cancel", browser.click("#cancel")).await;
    still_reserved_after(&browser, "cancelled").await;
    browser.quit().await;
}

/// Loads a payment link that no longer takes a payment: the page says why (`reason`), with
/// 410 Gone.
async fn link_over(browser: &Browser, page_url: &str, reason: &str) {
    browser.goto(page_url).await;
    let notice = browser.visible("#notice").await;
    assert_eq!(
        notice.attr("data-reason").await.unwrap().as_deref(),
        Some(reason)
    );
    let answers = browser.responses_received().await;
    let last = answers.iter().rev().find(|r| r.url == page_url).unwrap();
    assert_eq!(last.status, 410);
}

/// Back in the app from the payment page with `outcome`, the checkout still reserved and the
/// app saying so.
async fn still_reserved_after(browser: &Browser, outcome: &str) {
    back_in_the_app(browser, outcome).await;
    browser
        .step("still reserved", async {
            browser.visible("#step-reserved").await;
            browser.text_containing("#status", outcome).await;
        })
        .await;
}
