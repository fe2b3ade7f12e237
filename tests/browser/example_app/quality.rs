//! Every view of the app, on a phone-sized screen: no `serious` or `critical` axe-core
//! violation, nothing wider than the screen; and a screenshot of the reservation on the phone.

use super::*;
use crate::axe::assert_accessible;
use crate::phone::{self, Phone};

#[tokio::test]
async fn every_view_of_the_example_app_passes_axe_core_and_fits_a_phone() {
    let Some((browser, app)) = start("example_app_accessible").await else {
        return;
    };
    let phone = Phone::emulate(&browser).await;
    let check = async |view: &'static str| {
        assert_accessible(&browser, view).await;
        assert_eq!(phone.overflow_px().await, 0, "{view} is wider than a phone");
    };
    let reserved = reserve_through_the_app(&browser, &app, check).await;
    let screenshot = crate::target_dir()
        .join("browser-screenshots")
        .join("example-app-phone.png");
    phone.screenshot_to(&screenshot).await;
    let scale = phone::SCALE as u32;
    assert_eq!(
        png_size(&screenshot),
        (phone::WIDTH * scale, phone::HEIGHT * scale)
    );
    paid_and_back(&browser, &app, &reserved).await;
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
