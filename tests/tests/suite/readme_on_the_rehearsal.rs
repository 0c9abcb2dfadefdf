//! The README's walkthroughs, verbatim with bash, against the deployment rehearsal instead of
//! `studio-local serve` (where `infra/local/tests/cli.rs` runs them): `API` is the stage's URL
//! behind the API Gateway emulator, `SESSION` a session in the rehearsal's table, so every
//! request goes through the authorizer to the function the template routes it to.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, TestStack,
    servers::{self, EverythingTransport},
};
use shared::testing::{readme_walkthrough, run_script};

/// Runs the walkthrough `name` on a fresh rehearsal, with `MCP_URL` naming the reference MCP
/// server; its standard output.
async fn run_on_the_rehearsal(name: &str) -> String {
    let stack = TestStack::start(Backend::Rehearsal).await;
    let everything = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let mcp_url = everything.mcp_url();
    let env = [
        ("API", stack.api.as_str()),
        ("SESSION", stack.session.as_str()),
        ("MCP_URL", mcp_url.as_str()),
    ];
    run_script(&readme_walkthrough(name), &env).await
}

/// Each expected text is in `stdout`, no secret is, and it ends with `last`.
fn assert_output(stdout: &str, expected: &[&str], secrets: &[&str], last: &str) {
    assert!(
        stdout.trim_end().ends_with(last),
        "ends with {last}: {stdout}"
    );
    for text in expected {
        assert!(stdout.contains(text), "{text}: {stdout}");
    }
    for secret in secrets {
        assert!(!stdout.contains(secret), "{secret} echoed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_auth_config_walkthrough() {
    let stdout = run_on_the_rehearsal("auth-configs").await;
    let secrets = ["wx-live-123", "wx-live-456", "s3cret", "gh-client-secret"];
    assert_output(&stdout, &["\"errors\""], &secrets, "204");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mcp_server_walkthrough() {
    let stdout = run_on_the_rehearsal("mcp-servers").await;
    let expected = ["'added': []", "'category': 'connect'"];
    assert_output(&stdout, &expected, &["demo-key", "demo-pass"], "204");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agents_walkthrough() {
    let stdout = run_on_the_rehearsal("agents").await;
    let expected = [
        "['echo', 'get-*']",
        "409",
        "input_json_schema",
        "Echo: hello",
    ];
    assert_output(&stdout, &expected, &["sk-demo-key"], "204\n204\n204");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_policies_walkthrough() {
    let stdout = run_on_the_rehearsal("policies").await;
    let expected = [
        "line 2, column 8: ",
        "The sum of 2 and 3 is 5.",
        "urn:agent-studio:problem:policy-denied",
        "{'a': 5000, 'b': 3}",
        "urn:agent-studio:problem:approval-refused",
        "['read_only']",
        "'decision': 'approval_required'",
        "'arguments': {'a': 5000}",
    ];
    assert_output(
        &stdout,
        &expected,
        &["sk-demo-key"],
        "204\n204\n204\n204\n204",
    );
}
