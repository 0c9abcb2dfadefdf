//! The mcp-gateway function driven through `lambda_http` with API Gateway REST proxy events
//! (stage in the path, authorizer context): clients of both revisions are answered with JSON (any
//! instance answers any request), a 2025 client's session is its caller's alone and ends with
//! `DELETE`, the standalone stream is not offered, another tenant's agent is not found.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use shared::{
    api::Principal,
    testing::{AdapterResponse, agent_without_servers, invoke, local_state, rest_event},
};

/// A POST of `message` to `path` with the headers an MCP client sends (and `extra`).
fn mcp_event(path: &str, message: Value, extra: &[(&str, &str)], user: &str) -> String {
    let mut event: Value = serde_json::from_str(&rest_event(
        "POST",
        "/ai/api/v1/mcp/agents/{agent_id}",
        path,
        &[],
        Some(message),
    ))
    .unwrap();
    let mut headers = vec![("Accept", "application/json, text/event-stream")];
    headers.extend_from_slice(extra);
    for (name, value) in headers {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
    event["requestContext"]["authorizer"]["user_id"] = json!(user);
    event["requestContext"]["authorizer"]["principalId"] = json!(user);
    event.to_string()
}

/// The JSON-RPC message of an answer: the body, or the last `data:` of an event stream.
fn message(answer: &AdapterResponse) -> Value {
    match &answer.body {
        Value::String(stream) => stream
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .rfind(|data| !data.trim().is_empty())
            .map(|data| serde_json::from_str(data).unwrap())
            .unwrap_or(Value::Null),
        json => json.clone(),
    }
}

/// A 2025 `initialize`.
fn initialize_again() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "probe", "version": "1"}}})
}

#[tokio::test]
async fn an_mcp_client_is_answered_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = local_state(dir.path(), false).await;
    let alice = Principal::admin("acme", "alice");
    let agent = agent_without_servers(&state, &alice).await;
    let path = format!("/ai/api/v1/mcp/agents/{}", agent);
    let router = mcp_gateway::router(state.clone());

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "probe", "version": "1"}}});
    let answer = invoke(router.clone(), &mcp_event(&path, initialize, &[], "alice")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["content-type"][0], "application/json");
    let session = answer.headers["mcp-session-id"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {}", answer.headers))
        .to_owned();
    let result = &message(&answer)["result"];
    assert_eq!(result["protocolVersion"], "2025-11-25", "{result}");
    assert_eq!(result["serverInfo"]["name"], "agent-studio-connect");
    assert!(result["capabilities"]["tools"].is_object());
    // Session streams are off unless configured (each would hold a Lambda execution).
    assert!(
        result["capabilities"]["tools"]["listChanged"].is_null(),
        "{result}"
    );

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let legacy = [("MCP-Protocol-Version", "2025-11-25")];
    let answer = invoke(
        router.clone(),
        &mcp_event(&path, list.clone(), &legacy, "bob"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        message(&answer)["result"]["tools"],
        json!([]),
        "{}",
        answer.body
    );

    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}});
    let stateless =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}});
    let modern = [
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/list"),
    ];
    let answer = invoke(
        router.clone(),
        &mcp_event(&path, stateless, &modern, "alice"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["content-type"][0], "application/json");
    assert_eq!(answer.body["result"]["tools"], json!([]), "{}", answer.body);

    // The session is alice's: bob naming it is not found; ended, it is not found for alice either.
    let in_session = [
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Session-Id", session.as_str()),
    ];
    let answer = invoke(
        router.clone(),
        &mcp_event(&path, list.clone(), &in_session, "alice"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = invoke(
        router.clone(),
        &mcp_event(&path, list.clone(), &in_session, "bob"),
    )
    .await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let mut end: Value = serde_json::from_str(&rest_event(
        "DELETE",
        "/ai/api/v1/mcp/agents/{agent_id}",
        &path,
        &[],
        None,
    ))
    .unwrap();
    end["headers"]["Mcp-Session-Id"] = json!(session);
    end["multiValueHeaders"]["Mcp-Session-Id"] = json!([session]);
    let end = end.to_string();
    assert_eq!(invoke(router.clone(), &end).await.status, 204);
    assert_eq!(invoke(router.clone(), &end).await.status, 404);
    let answer = invoke(
        router.clone(),
        &mcp_event(&path, list.clone(), &in_session, "alice"),
    )
    .await;
    assert_eq!(answer.status, 404, "{}", answer.body);

    let mut watch: Value = serde_json::from_str(&rest_event(
        "GET",
        "/ai/api/v1/mcp/agents/{agent_id}",
        &path,
        &[],
        None,
    ))
    .unwrap();
    let live = invoke(
        router.clone(),
        &mcp_event(&path, initialize_again(), &[], "alice"),
    )
    .await;
    let live = live.headers["mcp-session-id"][0]
        .as_str()
        .unwrap()
        .to_owned();
    watch["headers"]["Mcp-Session-Id"] = json!(live);
    watch["multiValueHeaders"]["Mcp-Session-Id"] = json!([live]);
    assert_eq!(invoke(router.clone(), &watch.to_string()).await.status, 405);
    let stream = rest_event("GET", "/ai/api/v1/mcp/agents/{agent_id}", &path, &[], None);
    let answer = invoke(router.clone(), &stream).await;
    assert_eq!(answer.status, 405, "{}", answer.body);

    let unknown = "/ai/api/v1/mcp/agents/01900000-0000-7000-8000-000000000000";
    let answer = invoke(router, &mcp_event(unknown, list, &legacy, "alice")).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
}
