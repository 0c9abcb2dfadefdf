//! The agent-tools function driven through `lambda_http` with API Gateway REST proxy events
//! (stage in the path, authorizer context): both routes are reached, and an agent without
//! servers has an empty catalogue and refuses every tool.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use shared::{
    api::Principal,
    testing::{agent_without_servers, invoke, local_state, rest_event},
};

#[tokio::test]
async fn both_routes_are_reached_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = local_state(dir.path(), false).await;
    let alice = Principal::admin("acme", "alice");
    let created = agent_without_servers(&state, &alice).await;
    let tools = format!("/ai/api/v1/agent/{}/tools", created);
    let call = format!("{tools}/call");
    let send = |event: String| {
        let router = agent_tools::router(state.clone());
        async move { invoke(router, &event).await }
    };
    let catalogue = |refresh| {
        rest_event(
            "GET",
            "/ai/api/v1/agent/{id}/tools",
            &tools,
            &[("refresh", refresh)],
            None,
        )
    };

    let listed = send(catalogue("false")).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["tools"], json!([]));

    let bad_query = send(catalogue("maybe")).await;
    assert_eq!(bad_query.status, 400, "{}", bad_query.body);

    let refused = send(rest_event(
        "POST",
        "/ai/api/v1/agent/{id}/tools/call",
        &call,
        &[],
        Some(json!({"tool": "echo", "arguments": {}})),
    ))
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["field"], "tool");
}
