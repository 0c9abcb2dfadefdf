//! `studio-local probe` against the reference MCP server (installed by `infra/scripts/test-deps.sh`).
#![allow(clippy::unwrap_used)]

use tokio::process::Command;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_studio-local");

async fn probe(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(BIN)
        .arg("probe")
        .args(args)
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), json)
}

#[tokio::test]
async fn probe_reports_success_failure_and_usage_errors_by_exit_code() {
    let (_server, url) = common::server_everything().await;
    let (code, result) = probe(&[&url, "--header", "X-Trace: probe-test", "--timeout", "15"]).await;
    assert_eq!(code, Some(0), "{result}");
    assert_eq!(result["status"], "SUCCESS");
    assert!(result["tool_count"].as_u64().unwrap() >= 10);

    let closed = format!("http://127.0.0.1:{}/mcp", shared::testing::child_port());
    let (code, result) = probe(&[&closed, "--timeout", "5"]).await;
    assert_eq!(code, Some(1));
    assert_eq!(result["category"], "connect", "{result}");

    let (code, _) = probe(&[&url, "--header", "no colon here"]).await;
    assert_eq!(code, Some(2));
    let (code, _) = probe(&["not a url"]).await;
    assert_eq!(code, Some(2));
    let (code, _) = probe(&[]).await;
    assert_eq!(code, Some(2));
}
