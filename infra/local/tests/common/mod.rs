//! Helpers shared by the `studio-local` integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};

/// Starts the reference MCP server (installed by `infra/scripts/test-deps.sh`) over Streamable
/// HTTP; returns the process (killed on drop) and its `/mcp` URL.
pub async fn server_everything() -> (Child, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.deps/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    );
    assert!(
        std::path::Path::new(script).exists(),
        "server-everything is missing: run `bash infra/scripts/test-deps.sh`"
    );
    let port = shared::testing::child_port();
    let child = Command::new("node")
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
    (child, format!("http://127.0.0.1:{port}/mcp"))
}
