//! A real browser for the console's end-to-end tests: `tests/browser/console.mjs` drives
//! Debian's chromium through npm puppeteer-core (both installed by
//! `infra/scripts/test-deps.sh`) through one scenario, and answers what it saw as JSON.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::Command;

use crate::servers::{repo_root, require};

/// How long one scenario may take (a browser start, a few pages, an OAuth round trip).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the screenshots of the console's main pages are saved (a test artefact).
pub fn screenshot_dir() -> PathBuf {
    repo_root().join("target/console-screenshots")
}

/// Runs `scenario` of `tests/browser/console.mjs` with `params` (which carry at least `base`,
/// the stack's origin, and `session`); panics with the driver's report if it fails.
pub async fn run(scenario: &str, params: serde_json::Value) -> serde_json::Value {
    require(repo_root().join(".deps/node/node_modules/puppeteer-core/package.json"));
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(PathBuf::from(chromium));
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("tests/browser/console.mjs"))
        .arg(scenario)
        .arg(params.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCENARIO_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("browser scenario {scenario} took over {SCENARIO_TIMEOUT:?}"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser scenario {scenario} failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    let result: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("scenario {scenario} answered no JSON ({e}): {stdout}"));
    assert_eq!(
        result["page_errors"],
        serde_json::json!([]),
        "the page logged errors (a Content-Security-Policy violation, a script error) in {scenario}"
    );
    result
}
