//! An agent's tools at run time, end to end: the catalogue across server-everything and a
//! bearer-protected FastMCP server (colliding names prefixed), tool calls with correct results,
//! refusals that never reach a server, and a call to an OAuth-protected server after its access
//! token expired (refreshed on demand).
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, Expect, TestStack,
    oidc::{self, OidcOptions},
    servers::{self, EverythingTransport, FASTMCP_BEARER, FastMcpAuth, ServerProcess},
    tokens,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::api::Principal;

/// A stack on SQLite.
async fn start() -> TestStack {
    TestStack::start(Backend::Sqlite).await
}

/// An agent (with a new LLM config) over `servers`, optionally with a `tool_allowlist`.
async fn new_agent(api: &TestStack, servers: &[&str], allowlist: Option<Value>) -> String {
    let llm = api.llm_config().await;
    let mut body = json!({
        "name": "helper", "prompt": "Use the tools.", "llm_config_id": llm,
        "mcp_server_config_ids": servers,
    });
    if let Some(allowlist) = allowlist {
        body["tool_allowlist"] = allowlist;
    }
    api.created("/config/agent", body).await
}

/// The names of a catalogue's tools.
fn tool_names(catalogue: &Value) -> Vec<&str> {
    let tools = catalogue["tools"].as_array().unwrap();
    tools.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

/// Calls `tool` of `agent` with `arguments`.
async fn tool_call(api: &TestStack, agent: &str, tool: &str, args: Value) -> (StatusCode, Value) {
    send_call(api, agent, json!({"tool": tool, "arguments": args})).await
}

/// Sends `body` to the tool-call endpoint of `agent`.
async fn send_call(api: &TestStack, agent: &str, body: Value) -> (StatusCode, Value) {
    api.post(&format!("/agent/{agent}/tools/call"), body).await
}

async fn requests_seen(server: &ServerProcess) -> usize {
    server.requests_seen().await.as_array().unwrap().len()
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_agent_lists_and_calls_tools_of_two_servers() {
    let api = start().await;
    let everything = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let fastmcp = servers::fastmcp(FastMcpAuth::Bearer, "http").await;
    let everything_id = api.mcp_server("everything", &everything.mcp_url()).await;
    let fastmcp_id = api
        .created(
            "/config/mcp-server",
            json!({"name": "fastmcp", "url": fastmcp.mcp_url(),
                "auth_config": {"name": "fastmcp bearer", "auth_type": "NONE",
                    "custom_headers": {"Authorization": format!("Bearer {FASTMCP_BEARER}")}}}),
        )
        .await;
    let agent = new_agent(&api, &[&everything_id, &fastmcp_id], None).await;

    let catalogue = api
        .get(&format!("/agent/{agent}/tools"))
        .await
        .answered(StatusCode::OK);
    let names = tool_names(&catalogue);
    // Both servers offer `echo`: each gets its server's name as a prefix; `add` is unique.
    assert!(names.contains(&"everything__echo"), "{names:?}");
    assert!(names.contains(&"fastmcp__echo"), "{names:?}");
    assert!(names.contains(&"add"), "{names:?}");
    assert!(names.iter().all(|n| n.len() <= 64));
    assert_eq!(catalogue["servers"].as_array().unwrap().len(), 2);

    let (status, echoed) =
        tool_call(&api, &agent, "fastmcp__echo", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(text_of(&echoed), "hello");
    assert_eq!(echoed["is_error"], false);
    let sum = tool_call(&api, &agent, "add", json!({"a": 2, "b": 40}))
        .await
        .answered(StatusCode::OK);
    assert_eq!(text_of(&sum), "42");
    let (status, echoed) =
        tool_call(&api, &agent, "everything__echo", json!({"message": "hi"})).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert!(text_of(&echoed).contains("hi"), "{echoed}");

    // Refusals reach no server.
    let before = requests_seen(&fastmcp).await;
    for (body, field) in [
        (json!({"tool": "nope"}), "tool"),
        (
            json!({"tool": "add", "arguments": {"a": "two", "b": 40}}),
            "arguments/a",
        ),
        (json!({"tool": "add", "arguments": {"a": 2}}), "arguments"),
        (json!({"tool": "add", "arguments": [2, 40]}), "arguments"),
        (json!({"tool": "add", "extra": true}), "extra"),
    ] {
        let (status, problem) = send_call(&api, &agent, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{field} in {problem}"
        );
    }
    assert_eq!(requests_seen(&fastmcp).await, before, "no request was made");

    // An allowlist narrows the catalogue; a tool outside it cannot be called.
    let narrow = new_agent(
        &api,
        &[&fastmcp_id],
        Some(json!({fastmcp_id.as_str(): ["ec*"]})),
    )
    .await;
    let (_, catalogue) = api
        .get(&format!("/agent/{narrow}/tools?refresh=true"))
        .await;
    let names = tool_names(&catalogue);
    assert_eq!(names, ["echo"]);
    tool_call(&api, &narrow, "add", json!({"a": 1, "b": 2}))
        .await
        .refused_on("tool");
    api.get("/agent/01a20a54-d8d5-76a4-a492-c822c4ec23eb/tools")
        .await
        .answered(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_oauth_protected_tool_is_called_after_its_token_expired() {
    let api = start().await;
    let provider = oidc::start(OidcOptions::default().with_access_ttl(3600).rotating()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let resource = mcp.mcp_url();
    let alice = Principal::admin("acme", "alice");
    let state = &api.state;
    let auth_id =
        tokens::authorized_config(state, &provider, &alice, "provider", Some(&resource)).await;
    let server = api
        .created(
            "/config/mcp-server",
            json!({"name": "protected", "url": resource, "auth_config_id": auth_id}),
        )
        .await;
    let agent = new_agent(&api, &[&server], None).await;

    // The access token expired a minute ago.
    tokens::rewrite_token(state, "acme", &auth_id, |record| {
        let now = tokens::now();
        record.obtained_at = now - 3660;
        record.expires_at = now - 60;
        record.next_refresh_at = Some(now - 960);
    })
    .await;
    let before = provider.stats().await;
    let sum = tool_call(&api, &agent, "add", json!({"a": 20, "b": 22}))
        .await
        .answered(StatusCode::OK);
    assert_eq!(text_of(&sum), "42");
    let after = provider.stats().await;
    assert_eq!(
        after.by_grant["refresh_token"] - before.by_grant["refresh_token"],
        1,
        "refreshed once, on demand"
    );
    let (_, config) = api.get(&format!("/auth_configs/{auth_id}")).await;
    assert_eq!(config["token_status"], "VALID", "{config}");
    assert!(config["last_refresh_at"].is_string(), "{config}");
}

#[tokio::test]
async fn a_tool_that_hangs_is_504_within_the_server_timeout_and_a_huge_result_is_502() {
    let api = start().await;
    let hostile = e2e::hostile::start().await;
    let slow = api
        .created(
            "/config/mcp-server",
            json!({"name": "slow", "url": format!("{hostile}/slow-tool"), "timeout_seconds": 2}),
        )
        .await;
    let big = api
        .created(
            "/config/mcp-server",
            json!({"name": "big", "url": format!("{hostile}/big-result")}),
        )
        .await;
    let agent = new_agent(&api, &[&slow, &big], None).await;

    let started = std::time::Instant::now();
    let (status, problem) = send_call(&api, &agent, json!({"tool": "slow__work"})).await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{problem}");
    assert!(
        elapsed >= std::time::Duration::from_secs(2) && elapsed < std::time::Duration::from_secs(5),
        "bounded by the server's timeout_seconds: {elapsed:?}"
    );
    let problem = send_call(&api, &agent, json!({"tool": "big__work"}))
        .await
        .answered(StatusCode::BAD_GATEWAY);
    assert!(
        problem["detail"].as_str().unwrap().contains("exceeds"),
        "{problem}"
    );
}
