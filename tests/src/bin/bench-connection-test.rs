//! Benchmark: latency of `POST /config/mcp-server` (which runs the connection test and stores the
//! config) against a raw MCP handshake (initialize + initialized + tools/list with a bare HTTP
//! client) to the same local server, interleaved in one run. Prints both p50s and their ratio.
//!
//!     cargo run --release -p e2e --bin bench-connection-test [-- ITERATIONS]
//!
//! Samples run back to back (warm), in the order API-only, raw, create, library. Both the raw
//! handshake and the create end their MCP session, so the server holds no more sessions for one
//! than for the other: the raw handshake with an untimed DELETE, the create in the background as
//! it always does; that background DELETE falls into the library sample that follows, never
//! into a raw one.

use std::time::{Duration, Instant};

use e2e::{
    Backend, TestStack,
    servers::{self, EverythingTransport},
};
use serde_json::json;

const ACCEPT: &str = "application/json, text/event-stream";

/// The raw handshake's time; its session is then ended with an untimed DELETE.
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
    // One POST of the session: its answer's body.
    let post = |message: serde_json::Value| {
        let request = client
            .post(url)
            .header("accept", ACCEPT)
            .header("mcp-session-id", session.clone())
            .header("mcp-protocol-version", "2025-11-25")
            .json(&message);
        async move {
            let response = request.send().await.expect("a session request");
            response.text().await.expect("its body")
        }
    };
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let body = post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})).await;
    let elapsed = started.elapsed();
    assert!(body.contains("echo"), "tools/list answered");
    client
        .delete(url)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("DELETE")
        .bytes()
        .await
        .expect("DELETE body");
    elapsed
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
        .json(&json!({"name": format!("bench {n}"), "auth_type": "NONE"}))
        .send()
        .await
        .expect("create auth config");
    assert_eq!(response.status(), 201);
    response.bytes().await.expect("body");
    started.elapsed()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let iterations = e2e::arg(1, 200);
    let server = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let url = server.mcp_url();
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let http = shared::net::HttpClient::new(shared::net::NetPolicy::local()).expect("client");
    let parsed = url::Url::parse(&url).expect("url");
    for n in 0..20 {
        raw_handshake(&client, &url).await;
        create_with_test(&client, &stack, &url, n).await;
        library_test(&http, &parsed).await;
    }
    let (mut raw, mut create, mut library, mut api) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 0..iterations {
        api.push(api_only(&client, &stack, n).await);
        raw.push(raw_handshake(&client, &url).await);
        create.push(create_with_test(&client, &stack, &url, n).await);
        library.push(library_test(&http, &parsed).await);
    }
    println!("iterations: {iterations}");
    println!(
        "API create without a test p50 (auth config, no secrets): {:.2} ms",
        ms(percentile(&mut api, 0.5))
    );
    println!(
        "library test p50 (no API, no store, close excluded): {:.2} ms",
        ms(percentile(&mut library, 0.5))
    );
    let (raw_p50, create_p50) = (percentile(&mut raw, 0.5), percentile(&mut create, 0.5));
    println!(
        "raw handshake p50:      {:.2} ms (p90 {:.2} ms)",
        ms(raw_p50),
        ms(percentile(&mut raw, 0.9))
    );
    println!(
        "create-with-test p50:   {:.2} ms (p90 {:.2} ms)",
        ms(create_p50),
        ms(percentile(&mut create, 0.9))
    );
    println!(
        "ratio (target <= 1.15): {:.3}",
        create_p50.as_secs_f64() / raw_p50.as_secs_f64()
    );
}
