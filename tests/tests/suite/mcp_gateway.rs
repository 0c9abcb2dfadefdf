//! Every agent is an MCP server: MCP clients (the project's own, and FastMCP's `Client` of the
//! Python SDK family) with an API token list the agent's tools and call them at
//! `/ai/api/v1/mcp/agents/{agent_id}`, the upstream reached with the credentials the server
//! config holds; another tenant's agent is not found and an unauthenticated request is
//! challenged.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    Backend, TestStack,
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;
use shared::{
    api::Principal,
    mcp::{self, McpTarget, TestStatus},
    session::{self, CredentialKind},
};

/// An API token of `user` in `tenant` (a member), as `studio-local token` issues one.
async fn api_token(stack: &TestStack, tenant: &str, user: &str) -> String {
    let principal = Principal::member(tenant, user);
    let token = session::create(
        stack.state.store.as_ref(),
        stack.state.clock.as_ref(),
        &principal,
        CredentialKind::ApiToken,
        time::Duration::hours(1),
    )
    .await
    .unwrap();
    token.expose_secret().to_owned()
}

/// The MCP endpoint of `agent`, reached with `token`.
fn endpoint(stack: &TestStack, agent: &str, token: &str) -> McpTarget {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    McpTarget {
        url: format!("{}/mcp/agents/{agent}", stack.api).parse().unwrap(),
        headers,
        timeout: Duration::from_secs(20),
    }
}

async fn a_client_lists_and_calls_an_agents_tools(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let upstream = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let server = stack
        .created(
            "/config/mcp-server",
            json!({"name": "tools", "url": upstream.mcp_url(),
                   "auth_config": {"name": "key", "auth_type": "NONE",
                                   "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}}),
        )
        .await;
    let agent = stack.agent_using(&[&server]).await;
    let target = endpoint(&stack, &agent, &api_token(&stack, "acme", "bob").await);

    // The catalogue, with the upstream's schemas: an MCP client connects as to any server.
    let listed = mcp::test_connection(&stack.state.http, &target).await;
    assert_eq!(listed.status, TestStatus::Success, "{listed:?}");
    let mut names: Vec<&str> = listed.tools.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["add", "echo"], "{listed:?}");
    let add = listed.tools.iter().find(|t| t.name == "add").unwrap();
    let input: serde_json::Value = serde_json::from_str(add.input_schema.get()).unwrap();
    assert_eq!(input["required"], json!(["a", "b"]), "{input}");
    assert!(
        add.output_schema.is_some(),
        "the output schema passes through"
    );

    // A call reaches the upstream with the stored key (it refuses any request without it) and
    // comes back as the upstream sent it.
    let (called, closer) = mcp::call_tool(
        &stack.state.http,
        &target,
        "add",
        json!({"a": 2, "b": 40}),
        None,
    )
    .await;
    closer.close().await;
    let result = called.unwrap();
    assert_eq!(result["content"][0]["text"], "42", "{result}");
    assert_eq!(result["structuredContent"]["result"], 42, "{result}");
    assert_ne!(result["isError"], true, "{result}");

    // Arguments the schema refuses come back as a tool error the model can act on.
    let (called, closer) =
        mcp::call_tool(&stack.state.http, &target, "add", json!({"a": "two"}), None).await;
    closer.close().await;
    let refused = called.unwrap();
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Invalid arguments"),
        "{refused}"
    );

    // The Python SDK family's client sees the same tools and results.
    let python = servers::require(servers::repo_root().join(".deps/venv/bin/python"));
    let script = servers::repo_root().join("tests/clients/fastmcp_client.py");
    let token = api_token(&stack, "acme", "bob").await;
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args([target.url.as_str(), &token, "add", r#"{"a": 20, "b": 22}"#])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut names = e2e::each(&seen["tools"], "name");
    names.sort_unstable();
    assert_eq!(names, ["add", "echo"], "{seen}");
    assert_eq!(seen["result"]["structuredContent"]["result"], 42, "{seen}");
    assert_eq!(seen["result"]["isError"], false, "{seen}");

    // Another tenant's token finds no such agent; no token is challenged.
    let http = reqwest::Client::new();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "probe", "version": "1"}}});
    let url = target.url.as_str();
    let outsider = api_token(&stack, "globex", "carol").await;
    let answer = http
        .post(url)
        .bearer_auth(&outsider)
        .header("Accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let answer = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.headers().contains_key("www-authenticate"));
    // A page of another site cannot use a signed-in user's cookie.
    let answer = http
        .post(url)
        .header("Cookie", format!("sessionid={}", stack.session))
        .header("Origin", "https://evil.example")
        .header("Accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
}

e2e::on_both_stores!(a_client_lists_and_calls_an_agents_tools);
