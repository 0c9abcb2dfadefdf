//! `studio-local probe` against the reference MCP server (installed by `infra/scripts/test-deps.sh`).
#![allow(clippy::unwrap_used)]

use std::{process::Stdio, time::Duration};

use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_studio-local");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.deps/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    );
    assert!(
        std::path::Path::new(script).exists(),
        "server-everything is missing: run `bash infra/scripts/test-deps.sh`"
    );
    let port = free_port();
    let _server = Command::new("node")
        .args([script, "streamableHttp"])
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server-everything did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let url = format!("http://127.0.0.1:{port}/mcp");
    let (code, result) = probe(&[&url, "--header", "X-Trace: probe-test", "--timeout", "15"]).await;
    assert_eq!(code, Some(0), "{result}");
    assert_eq!(result["status"], "SUCCESS");
    assert!(result["tool_count"].as_u64().unwrap() >= 10);

    let closed = format!("http://127.0.0.1:{}/mcp", free_port());
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
