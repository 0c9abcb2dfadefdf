//! The MCP server config API end to end: the local stack on loopback against real MCP servers.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, Expect, TestStack,
    servers::{
        self, EverythingTransport, FASTMCP_API_KEY, FASTMCP_BASIC_PASSWORD, FASTMCP_BASIC_USER,
        FASTMCP_BEARER, FastMcpAuth,
    },
};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Re-tests the server config `id`.
async fn retest(api: &TestStack, id: &str) -> (StatusCode, serde_json::Value) {
    api.call(Method::POST, &format!("/config/mcp-server/{id}/test"), None)
        .await
}

#[tokio::test]
async fn a_server_with_an_inline_api_key_is_tested_then_stored_with_its_auth_config() {
    let api = TestStack::start(Backend::Sqlite).await;
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let body = json!({
        "name": "tools", "url": server.mcp_url(), "timeout_seconds": 10,
        "auth_config": {"name": "tools key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}
    });
    let created = api
        .post("/config/mcp-server", body)
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(created["connection_test_result"]["status"], "SUCCESS");
    assert_eq!(created["connection_test_result"]["tool_count"], 2);
    assert_eq!(created["tool_names"], json!(["add", "echo"]));
    assert!(!created.to_string().contains(FASTMCP_API_KEY));
    let auth_id = created["auth_config_id"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    // The auth config exists and is in use.
    api.delete(&format!("/auth_configs/{auth_id}"))
        .await
        .answered(StatusCode::CONFLICT);

    // Re-test: same tools, no changes.
    let result = retest(&api, &id).await.answered(StatusCode::OK);
    assert_eq!(result["status"], "SUCCESS");
    assert_eq!(
        result["tool_changes"],
        json!({"added": [], "removed": [], "changed": []})
    );
    let (_, fetched) = api.get(&format!("/config/mcp-server/{id}")).await;
    assert_eq!(fetched["last_test"]["result"]["status"], "SUCCESS");

    // Deleting the server releases the auth config.
    api.deleted(&format!("/config/mcp-server/{id}")).await;
    api.deleted(&format!("/auth_configs/{auth_id}")).await;
}

#[tokio::test]
async fn a_failed_connection_test_is_422_and_stores_neither_record() {
    let api = TestStack::start(Backend::Sqlite).await;
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let body = json!({
        "name": "tools", "url": server.mcp_url(), "timeout_seconds": 10,
        "auth_config": {"name": "wrong key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": "wrong-key-789"}}
    });
    let problem = api
        .post("/config/mcp-server", body)
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["status"], 422);
    let result = &problem["connection_test_result"];
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["stage"], "initialize");
    assert_eq!(result["category"], "unauthorized");
    assert_eq!(result["http_status"], 401);
    assert!(!problem.to_string().contains("wrong-key-789"));
    assert_eq!(api.count("/config/mcp-server").await, 0);
    assert_eq!(api.count("/auth_configs").await, 0);
}

#[tokio::test]
async fn a_server_can_use_an_existing_auth_config_and_a_patch_is_tested_first() {
    let api = TestStack::start(Backend::Sqlite).await;
    let everything = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let bearer = servers::fastmcp(FastMcpAuth::Bearer, "http").await;
    let (_, auth) = api
        .post(
            "/auth_configs",
            json!({"name": "static bearer", "auth_type": "NONE",
                "custom_headers": {"Authorization": format!("Bearer {FASTMCP_BEARER}")}}),
        )
        .await;
    let auth_id = auth["id"].as_str().unwrap();
    let created = api
        .post(
            "/config/mcp-server",
            json!({"name": "fast", "url": bearer.mcp_url(), "auth_config_id": auth_id}),
        )
        .await
        .answered(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();

    let path = format!("/config/mcp-server/{id}");
    let move_to = |url: String| api.patch(&path, json!({ "url": url }));
    // Moving to an endpoint that does not exist fails the test and changes nothing.
    move_to(format!("{}/nope", bearer.base))
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    // Moving it, with its credentials, to another origin is refused before anything is sent.
    move_to(everything.mcp_url()).await.refused_on("url");
    let (_, after) = api.get(&format!("/config/mcp-server/{id}")).await;
    assert_eq!(after["url"], created["url"]);
    assert_eq!(after["version"], 1);

    // Moving to the reference server without auth works; the old auth config is released.
    let moved = api
        .patch(
            &format!("/config/mcp-server/{id}"),
            json!({"url": everything.mcp_url(), "auth_config_id": null, "name": "everything"}),
        )
        .await
        .answered(StatusCode::OK);
    assert_eq!(moved["version"], 2);
    assert!(moved["tool_names"].as_array().unwrap().len() >= 10);
    api.deleted(&format!("/auth_configs/{auth_id}")).await;
}

#[tokio::test]
async fn invalid_server_configs_are_rejected_naming_the_field() {
    let api = TestStack::start(Backend::Sqlite).await;
    let cases = [
        (json!({"name": "x", "url": "ftp://example.com"}), "url"),
        (
            json!({"name": "x", "url": "https://example.com/mcp", "timeout_seconds": 0}),
            "timeout_seconds",
        ),
        (
            json!({"name": "x", "url": "https://example.com/mcp", "auth_config_id": "nope"}),
            "auth_config_id",
        ),
        (
            json!({"name": "x", "url": "https://example.com/mcp", "auth_config": {"name": "a", "auth_type": "BASIC", "username": "u"}}),
            "auth_config.password",
        ),
        (json!({"url": "https://example.com/mcp"}), "name"),
        (
            json!({"name": "x", "url": "https://example.com/mcp", "colour": 1}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = api.post("/config/mcp-server", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    // A well-formed id that names no auth config of this tenant is an unknown reference (404
    // naming the field), as for an agent's references.
    let problem = api
        .post("/config/mcp-server", json!({"name": "x", "url": "https://example.com/mcp", "auth_config_id": "01a20a54-d8d5-76a4-a492-c822c4ec23eb"}))
        .await.answered(StatusCode::NOT_FOUND);
    assert_eq!(
        problem["type"],
        "urn:agent-studio:problem:reference-not-found"
    );
    assert_eq!(problem["errors"][0]["field"], "auth_config_id");
    assert_eq!(api.count("/config/mcp-server").await, 0);
    api.get("/config/mcp-server/01a20a54-d8d5-76a4-a492-c822c4ec23eb")
        .await
        .answered(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn basic_credentials_reach_a_basic_protected_server() {
    let api = TestStack::start(Backend::Sqlite).await;
    let server = servers::fastmcp(FastMcpAuth::Basic, "http").await;
    let body = |password: &str| {
        json!({"name": "basic", "url": server.mcp_url(),
            "auth_config": {"name": "basic", "auth_type": "BASIC", "username": FASTMCP_BASIC_USER, "password": password}})
    };
    let problem = api
        .call(Method::POST, "/config/mcp-server", Some(body("wrong")))
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["connection_test_result"]["category"],
        "unauthorized"
    );
    let created = api
        .call(
            Method::POST,
            "/config/mcp-server",
            Some(body(FASTMCP_BASIC_PASSWORD)),
        )
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(created["tool_names"], json!(["add", "echo"]));
}

#[tokio::test]
async fn a_referenced_server_cannot_be_deleted_and_dynamodb_keeps_the_same_rules() {
    let api = TestStack::start(Backend::DynamoDb).await;
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let body = json!({"name": "tools", "url": server.mcp_url(),
        "auth_config": {"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}});
    let created = api
        .post("/config/mcp-server", body)
        .await
        .answered(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let auth_id = created["auth_config_id"].as_str().unwrap();

    // An agent referencing the server (agents arrive with their own issue; the reference is the
    // same counted reference their transaction will add).
    let reference = |delta| shared::store::TxOp::AdjustRefs {
        pk: "T#acme".into(),
        sk: format!("MCP#{id}"),
        delta,
    };
    api.state.store.write(reference(1)).await.unwrap();
    api.delete(&format!("/config/mcp-server/{id}"))
        .await
        .answered(StatusCode::CONFLICT);
    api.delete(&format!("/auth_configs/{auth_id}"))
        .await
        .answered(StatusCode::CONFLICT);
    api.state.store.write(reference(-1)).await.unwrap();
    api.deleted(&format!("/config/mcp-server/{id}")).await;
    api.deleted(&format!("/auth_configs/{auth_id}")).await;

    // A failed test on DynamoDB stores nothing either.
    let bad = json!({"name": "tools", "url": server.mcp_url(),
        "auth_config": {"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": "nope"}}});
    api.post("/config/mcp-server", bad)
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.count("/config/mcp-server").await, 0);
    assert_eq!(api.count("/auth_configs").await, 0);
}

#[tokio::test]
async fn client_credentials_tokens_are_requested_once_and_reused_until_the_config_changes() {
    let api = TestStack::start(Backend::Sqlite).await;
    let secret = "s3cr:et%+ &=x";
    let tokens = e2e::token_server::start("agent-studio", secret).await;
    let server = servers::fastmcp(FastMcpAuth::Bearer, "http").await;
    for method in ["client_secret_basic", "client_secret_post"] {
        let body = json!({"name": method, "url": server.mcp_url(),
            "auth_config": {"name": method, "auth_type": "CLIENT_CREDENTIALS", "token_url": tokens.token_url,
                "client_id": "agent-studio", "client_secret": secret, "scopes": ["mcp"],
                "token_endpoint_auth_method": method}});
        let (status, created) = api.post("/config/mcp-server", body).await;
        assert_eq!(status, StatusCode::CREATED, "{method}: {created}");
    }
    assert_eq!(tokens.requests(), 2, "one token per auth config");

    let (_, list) = api.get("/config/mcp-server").await;
    let first = list["items"][0]["id"].as_str().unwrap().to_owned();
    let auth_id = list["items"][0]["auth_config_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let (_, result) = retest(&api, &first).await;
        assert_eq!(result["status"], "SUCCESS", "{result}");
    }
    assert_eq!(tokens.requests(), 2, "the cached token is reused");

    // A new secret makes the cached token stale: the next test requests a token, which the
    // endpoint refuses.
    api.patch(
        &format!("/auth_configs/{auth_id}"),
        json!({"client_secret": "rotated"}),
    )
    .await
    .answered(StatusCode::OK);
    let (_, result) = retest(&api, &first).await;
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["stage"], "auth");
    assert_eq!(result["category"], "unauthorized");
    assert!(!result.to_string().contains("rotated"));
    assert_eq!(tokens.requests(), 3);
}

#[tokio::test]
async fn an_authorization_code_config_without_a_token_fails_at_the_auth_stage() {
    let api = TestStack::start(Backend::Sqlite).await;
    let server = servers::fastmcp(FastMcpAuth::Bearer, "http").await;
    let body = json!({"name": "oauth", "url": server.mcp_url(),
        "auth_config": {"name": "oauth", "auth_type": "AUTHORIZATION_CODE",
            "authorization_url": "https://auth.example.com/authorize", "token_url": "https://auth.example.com/token",
            "client_id": "web", "allowed_redirect_uris": ["https://app.example.com/cb"]}});
    let problem = api
        .post("/config/mcp-server", body)
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    let result = &problem["connection_test_result"];
    assert_eq!(result["stage"], "auth");
    assert_eq!(result["category"], "unauthorized");
    assert!(
        result["message"].as_str().unwrap().contains("authoriz"),
        "{result}"
    );
    assert_eq!(api.count("/auth_configs").await, 0);
}

/// Tool pinning: the tools of the creating test are approved; a server that later changes a
/// tool's description (or adds one) gets them pending — hidden from agents, a call refused with
/// 409 naming the approval endpoint — until someone approves them.
async fn changed_tools_wait_for_approval(backend: Backend) {
    let api = TestStack::start(backend).await;
    let server = servers::fastmcp(FastMcpAuth::None, "http").await;
    let url = server.mcp_url();
    let id = api.mcp_server("tools", &url).await;
    let agent = api.agent_using(&[&id]).await;
    let (_, created) = api.get(&format!("/config/mcp-server/{id}")).await;
    assert!(created.get("pending_tools").is_none(), "{created}");

    // The server changes under the agent: echo's description, and a new tool.
    let mutated = reqwest::Client::new()
        .post(format!("{}/_mutate", server.base))
        .send()
        .await
        .unwrap();
    assert!(mutated.status().is_success());
    let result = retest(&api, &id).await.answered(StatusCode::OK);
    assert_eq!(
        result["tool_changes"],
        json!({"added": ["read_file"], "removed": [], "changed": ["echo"]})
    );
    let (_, config) = api.get(&format!("/config/mcp-server/{id}")).await;
    let pending = &config["pending_tools"];
    assert_eq!(pending["added"], json!(["read_file"]), "{config}");
    assert_eq!(pending["changed"], json!(["echo"]), "{config}");
    let shown: Vec<&str> = e2e::each(&pending["tools"], "description");
    assert!(
        shown.iter().any(|d| d.contains("attacker.example")),
        "{shown:?}"
    );

    // Agents see only what was approved, as it was approved.
    let (_, catalogue) = api.get(&format!("/agent/{agent}/tools")).await;
    let names: Vec<&str> = e2e::each(&catalogue["tools"], "name");
    assert_eq!(names, ["add"], "{catalogue}");
    assert_eq!(
        catalogue["servers"][0]["pending_tools"],
        json!(["read_file", "echo"])
    );
    let call = json!({"tool": "echo", "arguments": {"message": "hi"}});
    let seen = server.requests_seen().await;
    let problem = api
        .post(&format!("/agent/{agent}/tools/call"), call.clone())
        .await
        .answered(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("/config/mcp-server/{id}/tools/approve")),
        "{problem}"
    );
    assert_eq!(server.requests_seen().await, seen, "nothing was sent");

    // Approving a tool that is not pending changes nothing; approving echo lets it through.
    let approve = format!("/config/mcp-server/{id}/tools/approve");
    api.post(&approve, json!({"tools": ["add"]}))
        .await
        .answered(StatusCode::BAD_REQUEST);
    let approved = api
        .post(&approve, json!({"tools": ["echo"]}))
        .await
        .answered(StatusCode::OK);
    assert_eq!(approved["pending_tools"]["added"], json!(["read_file"]));
    api.post(&format!("/agent/{agent}/tools/call"), call)
        .await
        .answered(StatusCode::OK);
    let approved = api
        .post(&approve, json!({"all": true}))
        .await
        .answered(StatusCode::OK);
    assert!(approved.get("pending_tools").is_none(), "{approved}");
    let (_, catalogue) = api.get(&format!("/agent/{agent}/tools")).await;
    assert_eq!(
        catalogue["tools"].as_array().unwrap().len(),
        3,
        "{catalogue}"
    );
}

e2e::on_both_stores!(changed_tools_wait_for_approval);
e2e::on_the_rehearsal!(changed_tools_wait_for_approval);
