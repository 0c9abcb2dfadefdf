//! The audit log end to end, on both stores: creates, changes, deletes, re-tests, approvals and
//! tool calls are recorded with actor, action, target and outcome — newest first, per target on
//! request, per tenant only — and never a secret or an argument value.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, TestStack,
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["status"].as_u64().unwrap()
            )
        })
        .collect()
}

async fn every_change_is_recorded_without_secrets(backend: Backend) {
    let api = TestStack::start(backend).await;
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let body = json!({
        "name": "tools", "url": format!("{}/mcp", server.base),
        "auth_config": {"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}
    });
    let server_id = api.created("/config/mcp-server", body).await;
    let agent = json!({"name": "a", "prompt": "p", "llm_config_id": api.llm_config().await,
                       "mcp_server_config_ids": [server_id]});
    let agent = api.created("/config/agent", agent).await;
    let call = json!({"tool": "echo", "arguments": {"message": "argument-value-7f3a"}});
    let (status, _) = api.post(&format!("/agent/{agent}/tools/call"), call).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .patch(&format!("/config/agent/{agent}"), json!({"prompt": "q"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("/config/llm", json!({"name": ""})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, page) = api.get("/audit").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        actions(&page),
        [
            "POST /ai/api/v1/config/llm 400",
            "PATCH /ai/api/v1/config/agent/{id} 200",
            "POST /ai/api/v1/agent/{id}/tools/call 200",
            "POST /ai/api/v1/config/agent 201",
            "POST /ai/api/v1/config/llm 201",
            "POST /ai/api/v1/config/mcp-server 201",
        ]
    );
    let text = page.to_string();
    assert!(!text.contains(FASTMCP_API_KEY) && !text.contains("argument-value-7f3a"));
    assert!(!text.contains("sk-e2e-secret"), "{text}");
    let first = &page["items"][1];
    assert_eq!(
        (&first["actor"], &first["target"], &first["outcome"]),
        (&json!("alice"), &json!(agent), &json!("success"))
    );

    // One record's entries; another tenant's log is its own.
    let (_, mine) = api.get(&format!("/audit?target={agent}")).await;
    assert_eq!(
        actions(&mine),
        [
            "PATCH /ai/api/v1/config/agent/{id} 200",
            "POST /ai/api/v1/agent/{id}/tools/call 200",
            "POST /ai/api/v1/config/agent 201",
        ]
    );
    let (status, refused) = api.get("/audit?target=not-an-id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let other = api.with_session(&api.session_for("globex", "bob").await);
    let (_, theirs) = other.get("/audit").await;
    assert_eq!(theirs["items"], json!([]));
    let (_, paged) = api.get("/audit?limit=2").await;
    assert_eq!(paged["items"].as_array().unwrap().len(), 2);
    let next = paged["next_token"].as_str().unwrap();
    let (_, rest) = api.get(&format!("/audit?limit=10&next_token={next}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 4);
}

e2e::on_both_stores!(every_change_is_recorded_without_secrets);
