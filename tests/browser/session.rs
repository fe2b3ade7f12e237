//! One headless Chromium session per test, through the shared chromedriver: a fresh profile,
//! the flags this machine's closed network needs, Chrome's network log on (see `network`), and
//! named steps that leave a screenshot behind when they fail.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use serde_json::{Value, json};
use thirtyfour::{By, Capabilities, WebDriver, WebElement};

use crate::driver::Chromedriver;

/// How long a wait for the page lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Chromium's flags: headless, as root in a container (no sandbox, no GPU), and no
/// connection of its own (no QUIC, first-run, background, component-update or sync traffic):
/// the machine has no internet, and without these Chromium floods it with refused connections.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// A browser session; quit with [`Browser::quit`] (dropped instead, after a failure, the
/// session still ends: thirtyfour quits it, blocking, then the profile is removed).
pub struct Browser {
    pub driver: WebDriver,
    /// Names the screenshots: `<test>-<step>.png`.
    test: String,
    /// The network events of Chrome's log so far (see `network`): the log hands each entry
    /// out once.
    pub(crate) network_events: Mutex<Vec<Value>>,
    /// Dropped after the driver, so the browser has stopped using it.
    profile: Profile,
    _chromedriver: Arc<Chromedriver>,
}

/// Chromium's profile folder, new for one session and removed after it.
struct Profile(PathBuf);

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// A new session for `test`; `None` when the browser is not installed and not required
    /// (the test returns: see `driver`).
    pub async fn start(test: &str) -> Option<Self> {
        let chromedriver = Chromedriver::shared()?;
        let profile = std::env::temp_dir().join(format!(
            "checkout-gateway-browser-{test}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).expect("a fresh Chromium profile");
        let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = Capabilities::new();
        let settings = [
            ("browserName", json!("chrome")),
            (
                "goog:chromeOptions",
                json!({
                    "binary": chromedriver.chromium,
                    "args": args,
                    // Every request the page makes, with its headers and body, as DevTools
                    // events in the `performance` log (read by `network`).
                    "perfLoggingPrefs": {"enableNetwork": true, "enablePage": false},
                }),
            ),
            // `browser`: the page's console, shown when a step fails.
            (
                "goog:loggingPrefs",
                json!({"performance": "ALL", "browser": "ALL"}),
            ),
        ];
        for (key, value) in settings {
            capabilities.set(key, value).expect("a capability");
        }
        let driver = WebDriver::new(chromedriver.url(), capabilities)
            .await
            .expect("a Chromium session");
        Some(Self {
            driver,
            test: test.to_owned(),
            network_events: Mutex::new(Vec::new()),
            profile: Profile(profile),
            _chromedriver: chromedriver,
        })
    }

    /// Runs one named step of the test; when it fails (panics), a screenshot of the page is
    /// written to `<target>/browser-screenshots/<test>-<step>.png` before the failure goes on.
    pub async fn step<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(value) => value,
            Err(panic) => {
                let file: String = format!("{}-{name}", self.test)
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                let path = crate::target_dir()
                    .join("browser-screenshots")
                    .join(format!("{file}.png"));
                match self.screenshot_to(&path).await {
                    Ok(()) => eprintln!("step `{name}` failed: screenshot {}", path.display()),
                    Err(e) => eprintln!("step `{name}` failed; no screenshot: {e}"),
                }
                for entry in self.driver.get_log("browser").await.unwrap_or_default() {
                    eprintln!("console {}: {}", entry.level, entry.message);
                }
                // Ended here, on this runtime: left to the driver's drop, ending it takes
                // thirtyfour's blocking fallback, which waits out its request timeout.
                let _ = self.driver.clone().quit().await;
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// A PNG of what the page shows now, written to `path` (folders made as needed).
    pub async fn screenshot_to(&self, path: &std::path::Path) -> Result<(), String> {
        let png = self
            .driver
            .screenshot_as_png()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    pub async fn goto(&self, url: &str) {
        self.driver
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("could not load {url}: {e}"));
    }

    /// Polls `check` until it holds, failing with `what` after [`PATIENCE`].
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        self.poll(what, || {
            let checked = check();
            async move { checked.await.then_some(()) }
        })
        .await
    }

    /// Polls `look` until it finds something, failing with `what` after [`PATIENCE`].
    pub async fn poll<T, F, Fut>(&self, what: &str, mut look: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = look().await {
                return found;
            }
            assert!(Instant::now() < deadline, "never happened: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects, once it is shown.
    pub async fn visible(&self, css: &str) -> WebElement {
        self.poll(&format!("{css} is shown"), || async {
            let el = self.driver.find(By::Css(css)).await.ok()?;
            el.is_displayed().await.unwrap_or(false).then_some(el)
        })
        .await
    }

    pub async fn click(&self, css: &str) {
        let button = self.visible(css).await;
        self.wait_until(&format!("{css} is enabled"), || async {
            button.is_enabled().await.unwrap_or(false)
        })
        .await;
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("could not click {css}: {e}"));
    }

    /// Replaces what the input `css` holds with `text`, typed as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.visible(css).await;
        input.clear().await.expect("the input clears");
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("could not type into {css}: {e}"));
    }

    /// The text of the element `css` selects, once shown.
    pub async fn text(&self, css: &str) -> String {
        self.visible(css).await.text().await.expect("its text")
    }

    /// Waits until the element `css` shows text containing `part`; returns all of it.
    pub async fn text_containing(&self, css: &str, part: &str) -> String {
        self.poll(&format!("{css} says `{part}`"), || async {
            let el = self.driver.find(By::Css(css)).await.ok()?;
            let text = el.text().await.ok()?;
            text.contains(part).then_some(text)
        })
        .await
    }

    /// The value of a script run in the page (`return …`).
    pub async fn script(&self, source: &str) -> Value {
        self.driver
            .execute(source, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{source}"))
            .json()
            .clone()
    }

    /// Ends the session (then its profile is removed).
    pub async fn quit(self) {
        let Self {
            driver, profile, ..
        } = self;
        let _ = driver.quit().await;
        drop(profile);
    }
}
