//! A phone-sized viewport: 375 × 812 CSS pixels at device scale 2 (an iPhone X-class screen),
//! emulated through DevTools (`Emulation.setDeviceMetricsOverride`, sent through chromedriver's
//! HTTP endpoint). Screenshots taken after it are 750 × 1624 pixels.

use crate::session::Browser;

pub const WIDTH: u32 = 375;
pub const HEIGHT: u32 = 812;
pub const SCALE: f64 = 2.0;

/// The browser, made phone-sized for the rest of its session.
pub struct Phone<'a> {
    browser: &'a Browser,
}

impl<'a> Phone<'a> {
    pub async fn emulate(browser: &'a Browser) -> Self {
        browser
            .driver
            .cdp()
            .emulation()
            .set_device_metrics_override(WIDTH, HEIGHT, SCALE, true)
            .await
            .expect("the phone viewport (Emulation.setDeviceMetricsOverride)");
        Self { browser }
    }

    /// What the phone's screen shows now, as a PNG at `path` (folders made as needed).
    pub async fn screenshot_to(&self, path: &std::path::Path) {
        self.browser
            .screenshot_to(path)
            .await
            .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    }

    /// How far the page is wider than the screen, in CSS pixels (0: it fits, nothing scrolls
    /// sideways). Measured against the screen's width, not `innerWidth`: a phone widens its
    /// layout viewport to fit content that overflows.
    pub async fn overflow_px(&self) -> i64 {
        let widest = self
            .browser
            .script(
                "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth, \
                 ...Array.from(document.querySelectorAll('body *'), \
                   (el) => Math.ceil(el.getBoundingClientRect().right)));",
            )
            .await
            .as_i64()
            .expect("a width");
        (widest - i64::from(WIDTH)).max(0)
    }
}
