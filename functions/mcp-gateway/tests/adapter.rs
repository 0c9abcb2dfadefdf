//! The mcp-gateway function driven through `lambda_http` with API Gateway REST proxy events
//! (stage in the path, authorizer context): an MCP client's `initialize` and `tools/list` are
//! answered with JSON, another tenant's agent is not found.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use shared::{
    api::Principal,
    model::{agent::StoredAgent, llm_config::StoredLlmConfig, resource},
    testing::{invoke, local_state, rest_event},
};

/// A POST of `message` to `path` with the headers an MCP client sends.
fn mcp_event(path: &str, message: Value, protocol_version: Option<&str>) -> String {
    let mut event: Value = serde_json::from_str(&rest_event(
        "POST",
        "/ai/api/v1/mcp/agents/{agent_id}",
        path,
        &[],
        Some(message),
    ))
    .unwrap();
    let mut headers = vec![("Accept", "application/json, text/event-stream")];
    if let Some(version) = protocol_version {
        headers.push(("MCP-Protocol-Version", version));
    }
    for (name, value) in headers {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
    event.to_string()
}

#[tokio::test]
async fn an_mcp_client_is_answered_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = local_state(dir.path(), false).await;
    let alice = Principal::admin("acme", "alice");
    let llm = resource::create::<StoredLlmConfig>(
        &state,
        &alice,
        json!({"name": "bedrock", "provider": "bedrock", "model": "anthropic.claude-sonnet-4"}),
    )
    .await
    .unwrap();
    let agent = resource::create::<StoredAgent>(
        &state,
        &alice,
        json!({"name": "lonely", "prompt": "No tools.", "llm_config_id": llm.meta.id}),
    )
    .await
    .unwrap();
    let path = format!("/ai/api/v1/mcp/agents/{}", agent.meta.id);
    let send = |event: String| {
        let router = mcp_gateway::router(state.clone());
        async move { invoke(router, &event).await }
    };

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "probe", "version": "1"}}});
    let answer = send(mcp_event(&path, initialize, None)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["content-type"][0], "application/json");
    assert_eq!(answer.body["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        answer.body["result"]["serverInfo"]["name"],
        "agent-studio-connect"
    );
    assert!(answer.body["result"]["capabilities"]["tools"].is_object());

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let answer = send(mcp_event(&path, list.clone(), Some("2025-11-25"))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["result"]["tools"], json!([]), "{}", answer.body);

    let unknown = "/ai/api/v1/mcp/agents/01900000-0000-7000-8000-000000000000";
    let answer = send(mcp_event(unknown, list, Some("2025-11-25"))).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
}
