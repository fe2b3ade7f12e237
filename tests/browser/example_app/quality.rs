//! Every view of the app and of the hosted payment page, on a phone-sized screen: no `serious`
//! or `critical` axe-core violation, nothing wider than the screen. The phone screenshots of
//! the reservation and of the payment page are kept (`<target>/browser-screenshots/`; the
//! README shows the payment page's).

use super::*;
use crate::axe::assert_accessible;
use crate::helpers::TEST_CARD;
use crate::phone::{self, Phone};

#[tokio::test]
async fn every_view_of_the_app_and_the_payment_page_passes_axe_core_and_fits_a_phone() {
    let Some((browser, app)) = start("accessible_on_a_phone").await else {
        return;
    };
    let phone = Phone::emulate(&browser).await;
    let check = async |view: &'static str| {
        assert_accessible(&browser, view).await;
        assert_eq!(phone.overflow_px().await, 0, "{view} is wider than a phone");
    };
    let shots = crate::target_dir().join("browser-screenshots");
    reserve_through_the_app(&browser, &app, check).await;
    phone
        .screenshot_to(&shots.join("example-app-phone.png"))
        .await;
    to_the_payment_page(&browser).await;
    browser
        .step("payment page", check("the payment page"))
        .await;
    let screenshot = shots.join("hosted-page-phone.png");
    phone.screenshot_to(&screenshot).await;
    let scale = phone::SCALE as u32;
    assert_eq!(
        png_size(&screenshot),
        (phone::WIDTH * scale, phone::HEIGHT * scale)
    );
    pay_with(&browser, "4000000000000002").await;
    browser
        .step("declined", async {
            browser.visible("#errors").await;
        })
        .await;
    browser
        .step("declined page", check("the payment page with a refusal"))
        .await;
    pay_with(&browser, TEST_CARD).await;
    back_in_the_app(&browser, "payment_accepted").await;
    browser.step("returned", check("the return page")).await;
    place_order(&browser).await;
    browser.step("order", check("the order")).await;
    browser
        .step("refusal", async {
            ask_for_an_unknown_event(&browser).await;
            refusal_shown(&browser).await;
        })
        .await;
    browser.step("refused", check("a refusal")).await;
    browser.quit().await;
}

/// A PNG's width and height, from its header.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the screenshot");
    assert_eq!(bytes.get(1..4), Some(&b"PNG"[..]), "not a PNG");
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}
