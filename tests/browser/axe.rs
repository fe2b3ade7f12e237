//! The accessibility check: axe-core, from the npm registry, run inside the page under test.
//! `scripts/axe` fetches the pinned release (version and integrity in `ci/axe-core`) into
//! `<target>/vendor/axe-core/axe.min.js`; `.ci/run` runs it, and so does the first check of a
//! test run (at once done when the file is there).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::session::Browser;

/// What fails the check.
const FAILING_IMPACTS: &[&str] = &["serious", "critical"];

/// One rule a page breaks, as the check reports it.
#[derive(Debug, Deserialize)]
struct Violation {
    id: String,
    impact: Option<String>,
    help: String,
    /// The CSS selectors of the offending elements.
    nodes: Vec<String>,
}

/// Runs axe-core over the page the browser shows now and fails the test, listing them, on any
/// `serious` or `critical` violation; `label` names the page in the message. Lesser ones are
/// printed. Usable on any page of the gateway (the example app, the hosted payment page).
///
/// Frames are not descended into (`iframes: false`): axe would wait for a frame to run its
/// script, and the only frame the pages hold is sandboxed without scripts (the captcha page);
/// the frame element itself (its title) is still checked.
pub async fn assert_accessible(browser: &Browser, label: &str) {
    let source = axe_source();
    browser
        .driver
        .execute(format!("{source}\nreturn typeof window.axe;"), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{label}: axe-core could not be injected: {e}"));
    let run = r#"
        const done = arguments[arguments.length - 1];
        window.axe
          .run(document, { resultTypes: ['violations'], iframes: false })
          .then((result) => done(JSON.stringify(result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(' ')),
          })))))
          .catch((error) => done(JSON.stringify({ error: String(error) })));
    "#;
    let answer = browser
        .driver
        .execute_async(run, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{label}: axe-core did not run: {e}"));
    let text = answer.json().as_str().unwrap_or_default().to_owned();
    let violations: Vec<Violation> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{label}: axe-core answered {text}: {e}"));
    let (failing, lesser): (Vec<&Violation>, Vec<&Violation>) = violations
        .iter()
        .partition(|v| FAILING_IMPACTS.contains(&v.impact.as_deref().unwrap_or("")));
    for v in &lesser {
        eprintln!(
            "{label}: axe {} ({}): {} — {:?}",
            v.id,
            v.impact.as_deref().unwrap_or("no impact"),
            v.help,
            v.nodes
        );
    }
    assert!(
        failing.is_empty(),
        "{label}: serious or critical accessibility violations:\n{}",
        failing
            .iter()
            .map(|v| format!(
                "- {} ({}): {} at {:?}",
                v.id,
                v.impact.as_deref().unwrap_or(""),
                v.help,
                v.nodes
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// axe.min.js at the pinned version: `scripts/axe` is run once per test binary (it returns at
/// once when the file is there and current, and fetches it otherwise).
fn axe_source() -> String {
    static FETCHED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let fetched = FETCHED.get_or_init(|| {
        let path = crate::target_dir().join("vendor/axe-core/axe.min.js");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/axe");
        let status = Command::new(&script)
            .arg(&path)
            .status()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if !status.success() {
            return Err(format!(
                "scripts/axe could not fetch axe-core ({status}); it needs npm and the npm registry"
            ));
        }
        Ok(path)
    });
    let path = fetched.as_ref().unwrap_or_else(|e| panic!("{e}"));
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()))
}
