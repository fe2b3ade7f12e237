//! The harness's own checks fail when they should: a check that cannot fail would pass every
//! page. Each runs on a small page of its own (a `data:` URL, no gateway).

use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;

use crate::axe::assert_accessible;
use crate::network::{SentRequest, assert_no_card_number};
use crate::phone::Phone;
use crate::session::Browser;

/// A page with a text field no label names (axe's `label` rule, impact critical).
const UNLABELLED: &str = "data:text/html,<!doctype html><html lang=en><title>t</title>\
    <main><h1>Form</h1><input type=text></main></html>";

/// A page with a box wider than a phone.
const TOO_WIDE: &str = "data:text/html,<!doctype html><html lang=en>\
    <meta name=viewport content='width=device-width'><title>t</title>\
    <main><div style='width:600px'>wide</div></main></html>";

#[tokio::test]
async fn the_accessibility_check_fails_a_page_with_an_unlabelled_field() {
    let Some(browser) = Browser::start("check_axe").await else {
        return;
    };
    browser.goto(UNLABELLED).await;
    let outcome = AssertUnwindSafe(assert_accessible(&browser, "the unlabelled page"))
        .catch_unwind()
        .await;
    let panic = outcome.expect_err("an unlabelled field fails the check");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("label (critical)"), "{message}");
    browser.quit().await;
}

#[tokio::test]
async fn the_phone_sees_a_page_wider_than_its_screen() {
    let Some(browser) = Browser::start("check_phone").await else {
        return;
    };
    let phone = Phone::emulate(&browser).await;
    browser.goto(TOO_WIDE).await;
    assert!(phone.overflow_px().await >= 600 - 375);
    browser.quit().await;
}

#[test]
fn a_card_number_is_found_however_it_is_written() {
    let request = |url: &str, body: &str| SentRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: body.into(),
        kind: "Fetch".into(),
    };
    let card = "4588883206000011";
    for carrying in [
        request("http://gw/x", "card_number=4588883206000011"),
        request("http://gw/x", "card_number=4588+8832+0600+0011"),
        request("http://gw/x", "{\"n\":\"4588 8832 0600 0011\"}"),
        request("http://gw/x?n=4588-8832-0600-0011", ""),
        request("http://gw/x?n=4588%208832%200600%200011", ""),
    ] {
        assert!(request_fails(&carrying, card), "{carrying:?}");
    }
    assert!(!request_fails(&request("http://gw/x", "last4=0011"), card));
    // The hosted page's own form post may carry it.
    let post = request("http://gw/pay/ps_x", "card_number=4588883206000011");
    assert_no_card_number(std::slice::from_ref(&post), card, |r| {
        r.path().starts_with("/pay/")
    });
}

fn request_fails(request: &SentRequest, card: &str) -> bool {
    std::panic::catch_unwind(|| {
        assert_no_card_number(std::slice::from_ref(request), card, |_| false)
    })
    .is_err()
}
