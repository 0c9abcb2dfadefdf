//! Benchmark: latency of `POST /config/mcp-server` (which runs the connection test and stores the
//! config) against a raw MCP handshake (initialize + initialized + tools/list with a bare HTTP
//! client) to the same local server, interleaved in one run. Prints both p50s and their ratio.
//!
//!     cargo run --release -p e2e --bin bench-connection-test [-- ITERATIONS]

use std::time::{Duration, Instant};

use e2e::{
    Backend, TestStack,
    servers::{self, EverythingTransport},
};
use serde_json::json;

const ACCEPT: &str = "application/json, text/event-stream";

async fn raw_handshake(client: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
    let response = client
        .post(url)
        .header("accept", ACCEPT)
        .json(&init)
        .send()
        .await
        .expect("initialize");
    let session = response
        .headers()
        .get("mcp-session-id")
        .cloned()
        .expect("session id");
    response.text().await.expect("initialize body");
    let notify = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    client
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", session.clone())
        .header("mcp-protocol-version", "2025-11-25")
        .json(&notify)
        .send()
        .await
        .expect("initialized")
        .text()
        .await
        .expect("initialized body");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let body = client
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&list)
        .send()
        .await
        .expect("tools/list")
        .text()
        .await
        .expect("tools/list body");
    assert!(body.contains("echo"), "tools/list answered");
    started.elapsed()
}

async fn create_with_test(
    client: &reqwest::Client,
    stack: &TestStack,
    url: &str,
    n: usize,
) -> Duration {
    let started = Instant::now();
    let response = client
        .post(format!("{}/config/mcp-server", stack.api))
        .header("cookie", format!("sessionid={}", stack.session))
        .json(&json!({"name": format!("bench {n}"), "url": url}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201, "create succeeded");
    response.bytes().await.expect("create body");
    started.elapsed()
}

async fn library_test(http: &shared::net::HttpClient, url: &url::Url) -> Duration {
    let started = Instant::now();
    let target = shared::mcp::McpTarget {
        url: url.clone(),
        headers: http::HeaderMap::new(),
        timeout: Duration::from_secs(10),
    };
    let (result, closer) = shared::mcp::test_connection_then_close(http, &target).await;
    let elapsed = started.elapsed();
    assert_eq!(result.status, shared::mcp::TestStatus::Success);
    closer.close().await;
    elapsed
}

async fn api_only(client: &reqwest::Client, stack: &TestStack, n: usize) -> Duration {
    let started = Instant::now();
    let response = client
        .post(format!("{}/auth_configs", stack.api))
        .header("cookie", format!("sessionid={}", stack.session))
        .json(&json!({"name": format!("bench {n}"), "type": "NONE"}))
        .send()
        .await
        .expect("create auth config");
    assert_eq!(response.status(), 201);
    response.bytes().await.expect("body");
    started.elapsed()
}

fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let server = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let url = format!("{}/mcp", server.base);
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    for n in 0..10 {
        raw_handshake(&client, &url).await;
        create_with_test(&client, &stack, &url, n).await;
    }
    let http = shared::net::HttpClient::new(shared::net::NetPolicy::local()).expect("client");
    let parsed = url::Url::parse(&url).expect("url");
    let (mut raw, mut create, mut library, mut api) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 0..iterations {
        api.push(api_only(&client, &stack, n).await);
        raw.push(raw_handshake(&client, &url).await);
        create.push(create_with_test(&client, &stack, &url, n).await);
        library.push(library_test(&http, &parsed).await);
    }
    println!(
        "API create without a test p50 (auth config, no secrets): {:.2} ms",
        p50(&mut api).as_secs_f64() * 1e3
    );
    println!(
        "library test p50 (no API, no store, close excluded): {:.2} ms",
        p50(&mut library).as_secs_f64() * 1e3
    );
    let (raw_p50, create_p50) = (p50(&mut raw), p50(&mut create));
    println!("iterations: {iterations}");
    println!(
        "raw handshake p50:      {:.2} ms",
        raw_p50.as_secs_f64() * 1e3
    );
    println!(
        "create-with-test p50:   {:.2} ms",
        create_p50.as_secs_f64() * 1e3
    );
    println!(
        "ratio (target <= 1.15): {:.3}",
        create_p50.as_secs_f64() / raw_p50.as_secs_f64()
    );
}
