//! The MCP connection test against real servers on loopback — the reference server over
//! Streamable HTTP and legacy HTTP+SSE, FastMCP servers behind a bearer token and an API key — and
//! against hostile servers, each of which must end in the right category within the deadline.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    hostile,
    servers::{self, EverythingTransport, FASTMCP_API_KEY, FASTMCP_BEARER, FastMcpAuth},
};
use http::{HeaderMap, HeaderValue};
use shared::{
    mcp::{
        Category, ConnectionTestResult, McpTarget, Stage, TestStatus, Transport, test_connection,
    },
    net::{HttpClient, NetPolicy},
};
use url::Url;

fn local_client() -> HttpClient {
    HttpClient::new(NetPolicy::local()).unwrap()
}

/// A connection test of `url` with `headers`, allowed 20 seconds.
async fn probe(url: &str, headers: &[(&'static str, &str)]) -> ConnectionTestResult {
    probe_within(url, headers, Duration::from_secs(20)).await
}

/// A connection test of `url` without credentials, which the server refuses as unauthorized.
async fn probe_refused(url: &str) -> ConnectionTestResult {
    let result = probe(url, &[]).await;
    assert_eq!(result.category, Some(Category::Unauthorized), "{result:?}");
    result
}

async fn probe_within(
    url: &str,
    headers: &[(&'static str, &str)],
    timeout: Duration,
) -> ConnectionTestResult {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let target = McpTarget {
        url: Url::parse(url).unwrap(),
        headers: map,
        timeout,
    };
    test_connection(&local_client(), &target).await
}

fn tool_names(result: &ConnectionTestResult) -> Vec<&str> {
    result.tools.iter().map(|t| t.name.as_str()).collect()
}

#[tokio::test]
async fn the_reference_server_answers_over_streamable_http() {
    let server = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let result = probe(&server.mcp_url(), &[]).await;
    assert_eq!(result.status, TestStatus::Success, "{result:?}");
    assert_eq!(result.transport, Transport::StreamableHttp);
    assert!(result.tool_count >= 10, "{result:?}");
    assert_eq!(result.tool_count, result.tools.len());
    assert!(tool_names(&result).contains(&"echo"));
    assert!(result.server_info.is_some() && result.protocol_version.is_some());
}

#[tokio::test]
async fn a_legacy_sse_server_is_reached_through_the_fallback() {
    let server = servers::server_everything(EverythingTransport::Sse).await;
    let result = probe(&format!("{}/sse", server.base), &[]).await;
    assert_eq!(result.status, TestStatus::Success, "{result:?}");
    assert_eq!(result.transport, Transport::Sse);
    assert!(tool_names(&result).contains(&"echo"));

    let fast = servers::fastmcp(FastMcpAuth::None, "sse").await;
    let result = probe(&format!("{}/sse", fast.base), &[]).await;
    assert_eq!(result.status, TestStatus::Success, "{result:?}");
    assert_eq!(result.transport, Transport::Sse);
    assert_eq!(tool_names(&result), ["echo", "add"]);
}

#[tokio::test]
async fn a_bearer_protected_server_needs_its_token() {
    let server = servers::fastmcp(FastMcpAuth::Bearer, "http").await;
    let url = server.mcp_url();
    let without = probe_refused(&url).await;
    assert_eq!(without.status, TestStatus::Failed);
    assert_eq!(without.stage, Some(Stage::Initialize));
    assert_eq!(without.http_status, Some(401));
    let bearer = format!("Bearer {FASTMCP_BEARER}");
    let with = probe(&url, &[("authorization", &bearer)]).await;
    assert_eq!(with.status, TestStatus::Success, "{with:?}");
    assert_eq!(tool_names(&with), ["echo", "add"]);
}

#[tokio::test]
async fn an_api_key_protected_server_needs_its_key() {
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let url = server.mcp_url();
    probe_refused(&url).await;
    let with = probe(&url, &[("x-api-key", FASTMCP_API_KEY)]).await;
    assert_eq!(with.status, TestStatus::Success, "{with:?}");
}

#[tokio::test]
async fn a_connection_test_sends_three_posts_and_one_delete() {
    let server = servers::fastmcp(FastMcpAuth::None, "http").await;
    let result = probe(&server.mcp_url(), &[]).await;
    assert_eq!(result.status, TestStatus::Success, "{result:?}");
    let seen = server.requests_seen().await;
    let methods: Vec<&str> = e2e::each(&seen, "method");
    assert_eq!(methods, ["POST", "POST", "POST", "DELETE"], "{seen}");
}

#[tokio::test]
async fn hostile_servers_end_in_the_right_category_within_the_deadline() {
    let base = hostile::start().await;
    let deadline = Duration::from_secs(3);
    let cases = [
        ("never", Stage::Initialize, Category::Timeout),
        ("huge", Stage::ListTools, Category::TooLarge),
        ("endless", Stage::ListTools, Category::Protocol),
        ("html", Stage::Initialize, Category::NotMcp),
        ("metadata-redirect", Stage::Resolve, Category::Blocked),
        ("oauth-private", Stage::Initialize, Category::Unauthorized),
    ];
    for (case, stage, category) in cases {
        let started = std::time::Instant::now();
        let result = probe_within(&format!("{base}/{case}"), &[], deadline).await;
        let elapsed = started.elapsed();
        assert_eq!(result.status, TestStatus::Failed, "{case}: {result:?}");
        assert_eq!(
            (result.stage, result.category),
            (Some(stage), Some(category)),
            "{case}: {result:?}"
        );
        assert!(
            elapsed < deadline + Duration::from_secs(1),
            "{case} took {elapsed:?}"
        );
        assert!(
            !result.message.contains("nginx") && !result.message.contains("10.0.0.5"),
            "{case}: upstream text echoed"
        );
    }
}

#[tokio::test]
async fn private_addresses_are_blocked_without_an_allowlist() {
    let server = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let strict = HttpClient::new(NetPolicy {
        allow_insecure_http: true,
        allow_cidrs: vec![],
    })
    .unwrap();
    let target = McpTarget {
        url: Url::parse(&server.mcp_url()).unwrap(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(5),
    };
    let result = test_connection(&strict, &target).await;
    assert_eq!(
        (result.stage, result.category),
        (Some(Stage::Resolve), Some(Category::Blocked)),
        "{result:?}"
    );
}
