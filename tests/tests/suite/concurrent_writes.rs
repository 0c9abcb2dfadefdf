//! HTTP semantics under concurrency, for every resource, on SQLite and DynamoDB Local: PATCHes
//! racing with the same `If-Match` get exactly one success and 412 for the rest; PATCHes without
//! a precondition all succeed (a write that loses a version race is merged again on fresh data),
//! and the final version counts every write.
#![allow(clippy::unwrap_used)]

use e2e::{ApiClient, Backend, Expect, TestStack, servers};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const IF_MATCH_RACERS: usize = 20;
const BLIND_RACERS: usize = 50;

/// Races PATCHes against `path` (a record at version 1): first `IF_MATCH_RACERS` with
/// `If-Match: "1"`, then `BLIND_RACERS` without a precondition, each setting `field` to its own
/// value.
async fn race(client: &ApiClient, path: &str, field: &str) {
    let conditional = join_all((0..IF_MATCH_RACERS).map(|i| {
        let body = json!({ field: format!("if-match-{i}") });
        async move {
            client
                .call_with_headers(Method::PATCH, path, Some(body), &[("If-Match", "\"1\"")])
                .await
        }
    }))
    .await;
    let won: Vec<&(StatusCode, Value)> = conditional
        .iter()
        .filter(|(status, _)| status.is_success())
        .collect();
    assert_eq!(won.len(), 1, "{path}: {conditional:?}");
    assert_eq!(won[0].1["version"], 2);
    for (status, body) in &conditional {
        assert!(
            status.is_success() || *status == StatusCode::PRECONDITION_FAILED,
            "{path}: {status} {body}"
        );
        if *status == StatusCode::PRECONDITION_FAILED {
            assert_eq!(body["type"], "urn:agent-studio:problem:precondition-failed");
        }
    }

    let blind = join_all((0..BLIND_RACERS).map(|i| {
        let body = json!({ field: format!("blind-{i}") });
        async move { client.patch(path, body).await }
    }))
    .await;
    for (status, body) in &blind {
        assert_eq!(*status, StatusCode::OK, "{path}: {body}");
    }
    let after = client.get(path).await.answered(StatusCode::OK);
    assert_eq!(after["version"], json!(2 + BLIND_RACERS), "{path}: {after}");
    let final_value = after[field].as_str().unwrap();
    assert!(final_value.starts_with("blind-"), "{final_value}");
    // Every blind writer saw its own write applied to a distinct version.
    let mut versions: Vec<u64> = blind
        .iter()
        .map(|(_, body)| body["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), BLIND_RACERS);
}

async fn racing_writers_get_412_or_all_succeed(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let client = stack.client();
    let mcp = servers::fastmcp(servers::FastMcpAuth::None, "http").await;

    let auth = client
        .created(
            "/auth_configs",
            json!({"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": "k"}}),
        )
        .await;
    let server = client.mcp_server("server", &mcp.mcp_url()).await;
    let llm = client.llm_config().await;
    let agent = client
        .created(
            "/config/agent",
            json!({"name": "agent", "prompt": "p", "llm_config_id": llm,
                   "mcp_server_config_ids": [server]}),
        )
        .await;

    race(&client, &format!("/auth_configs/{auth}"), "name").await;
    race(&client, &format!("/config/mcp-server/{server}"), "name").await;
    race(&client, &format!("/config/llm/{llm}"), "name").await;
    race(&client, &format!("/config/agent/{agent}"), "description").await;
}

e2e::on_both_stores!(racing_writers_get_412_or_all_succeed);
