//! Tests in a real browser: headless Chromium, driven through chromedriver (WebDriver), against
//! a gateway running in-process on a loopback port (`tests/api`'s `TestApp`: a fresh Postgres
//! database and the in-process sandbox).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them each
//! test says loudly that it was skipped, or fails when `REQUIRE_BROWSER=1`. A failing step
//! leaves a screenshot at `<target>/browser-screenshots/<test>-<step>.png`.
//!
//! # Layout
//! - [`driver`]: the chromedriver process; [`session`]: a browser per test, its steps.
//! - [`network`]: what the browser sent and got (Chrome's network log).
//! - [`axe`]: the accessibility check; [`phone`]: a phone-sized viewport; [`checks`]: that
//!   these checks fail when they should.
//! - [`gateway`]: the gateway under test.
//! - [`example_app`]: the example partner app at `/example/` and the hosted payment page it
//!   sends the user to, end to end.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod axe;
mod checks;
mod driver;
mod gateway;
mod network;
mod phone;
mod session;

mod example_app;

use std::path::PathBuf;

/// Cargo's target folder (where this test binary was built: `<target>/debug/deps/`), so that
/// screenshots land beside the build whatever `CARGO_TARGET_DIR` says.
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}
