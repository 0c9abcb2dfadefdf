//! LLM configs and agents end to end: the local stack on loopback with a real MCP server behind
//! the referenced server configs. Invalid input, unknown and other tenants' ids are refused
//! precisely and change nothing; references block deletes; create-agent and delete-server races
//! never leave an agent pointing at a deleted server, on SQLite and on DynamoDB Local.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, Expect, TestStack,
    servers::{self, EverythingTransport, ServerProcess},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    stack: TestStack,
    mcp: ServerProcess,
}

impl Api {
    async fn on(backend: Backend) -> Self {
        Self {
            stack: TestStack::start(backend).await,
            mcp: servers::server_everything(EverythingTransport::StreamableHttp).await,
        }
    }

    async fn call_as(
        &self,
        session: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.stack
            .with_session(session)
            .call(method, path, body)
            .await
    }

    async fn server(&self, name: &str) -> String {
        self.stack.mcp_server(name, &self.mcp.mcp_url()).await
    }

    async fn ref_count(&self, sk: &str) -> u64 {
        let item = self.stack.state.store.get("T#acme", sk).await.unwrap();
        item.map_or(0, |item| item.ref_count)
    }

    /// A session of another tenant.
    async fn other_tenant(&self) -> String {
        self.stack.session_for("globex", "bob").await
    }
}

fn agent(llm: &str, servers: &[&str]) -> Value {
    json!({
        "name": "helper",
        "description": "Answers with tools",
        "prompt": "You are a helpful assistant.",
        "llm_config_id": llm,
        "mcp_server_config_ids": servers,
        "input_json_schema": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
    })
}

#[tokio::test]
async fn invalid_agents_are_refused_precisely_and_change_nothing() {
    let api = Api::on(Backend::Sqlite).await;
    let llm = api.stack.llm_config().await;
    let server = api.server("everything").await;
    let unknown = "01a20a54-d8d5-76a4-a492-c822c4ec23eb";

    let mut bad_schema = agent(&llm, &[&server]);
    bad_schema["input_json_schema"] = json!({"type": "object", "properties": {"q": {"type": 12}}});
    let mut twice = agent(&llm, &[&server, &server]);
    twice["name"] = json!("twice");
    let mut stray_allowlist = agent(&llm, &[&server]);
    stray_allowlist["tool_allowlist"] = json!({unknown: ["echo"]});
    let mut bad_glob = agent(&llm, &[&server]);
    bad_glob["tool_allowlist"] = json!({server.as_str(): ["ec*ho"]});
    for (body, field) in [
        (bad_schema, "input_json_schema"),
        (twice, "mcp_server_config_ids[1]"),
        (stray_allowlist, &format!("tool_allowlist.{unknown}")),
        (bad_glob, &format!("tool_allowlist.{server}[0]")),
        (
            json!({"name": "x", "prompt": "p", "llm_config_id": "nope"}),
            "llm_config_id",
        ),
        (
            json!({"name": "x", "prompt": " ", "llm_config_id": llm}),
            "prompt",
        ),
    ] {
        let problem = api
            .stack
            .post("/config/agent", body)
            .await
            .answered(StatusCode::BAD_REQUEST);
        let fields: Vec<_> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert!(fields.iter().any(|f| f == field), "{field} in {problem}");
    }

    // Ids that do not exist, or exist in another tenant: 404 naming each, nothing written.
    let problem = api
        .stack
        .call(
            Method::POST,
            "/config/agent",
            Some(agent(unknown, &[&server, unknown])),
        )
        .await
        .answered(StatusCode::NOT_FOUND);
    let fields: Vec<_> = e2e::each(&problem["errors"], "field");
    assert_eq!(fields, ["llm_config_id", "mcp_server_config_ids[1]"]);
    let globex = api.other_tenant().await;
    api.call_as(
        &globex,
        Method::POST,
        "/config/agent",
        Some(agent(&llm, &[&server])),
    )
    .await
    .answered(StatusCode::NOT_FOUND);
    assert_eq!(api.stack.count("/config/agent").await, 0);
    assert_eq!(api.ref_count(&format!("MCP#{server}")).await, 0);
    assert_eq!(api.ref_count(&format!("LLM#{llm}")).await, 0);

    // An LLM config needs its key (except on Bedrock) and a base URL for compatible servers.
    let problem = api
        .stack
        .post(
            "/config/llm",
            json!({"name": "local", "provider": "openai_compatible", "model": "llama"}),
        )
        .await
        .answered(StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
    assert_eq!(api.stack.count("/config/llm").await, 1);
}

#[tokio::test]
async fn references_are_counted_through_create_patch_and_delete() {
    let api = Api::on(Backend::Sqlite).await;
    let llm = api.stack.llm_config().await;
    let (a, b) = (api.server("a").await, api.server("b").await);
    let id = api
        .stack
        .created("/config/agent", agent(&llm, &[&a, &b]))
        .await;
    let got = api
        .stack
        .get(&format!("/config/agent/{id}"))
        .await
        .answered(StatusCode::OK);
    assert_eq!(got["mcp_server_config_ids"], json!([a, b]));
    assert_eq!(got["input_json_schema"]["required"], json!(["question"]));

    for (path, what) in [
        (format!("/config/mcp-server/{a}"), "server"),
        (format!("/config/llm/{llm}"), "LLM config"),
    ] {
        let (status, problem) = api.stack.delete(&path).await;
        assert_eq!(status, StatusCode::CONFLICT, "{what}: {problem}");
    }

    // Dropping server a moves its reference away; it can go, b cannot.
    let patched = api
        .stack.patch(&format!("/config/agent/{id}"), json!({"mcp_server_config_ids": [b], "tool_allowlist": {b.as_str(): ["echo", "get-*"]}}))
        .await.answered(StatusCode::OK);
    assert_eq!(patched["version"], 2);
    assert_eq!(api.ref_count(&format!("MCP#{a}")).await, 0);
    assert_eq!(api.ref_count(&format!("MCP#{b}")).await, 1);
    api.stack.deleted(&format!("/config/mcp-server/{a}")).await;

    // A patch naming a deleted server is 404 and leaves the agent as it was.
    let problem = api
        .stack
        .patch(
            &format!("/config/agent/{id}"),
            json!({"mcp_server_config_ids": [b, a], "tool_allowlist": null}),
        )
        .await
        .answered(StatusCode::NOT_FOUND);
    assert_eq!(problem["errors"][0]["field"], "mcp_server_config_ids[1]");
    let (_, unchanged) = api.stack.get(&format!("/config/agent/{id}")).await;
    assert_eq!(unchanged["version"], 2);

    api.stack.deleted(&format!("/config/agent/{id}")).await;
    assert_eq!(api.ref_count(&format!("MCP#{b}")).await, 0);
    assert_eq!(api.ref_count(&format!("LLM#{llm}")).await, 0);
    for path in [
        format!("/config/mcp-server/{b}"),
        format!("/config/llm/{llm}"),
    ] {
        api.stack.deleted(&path).await;
    }
}

/// 20 servers; for each, a create-agent and a delete-server sent at once. Either the agent wins
/// (server kept, delete 409) or the delete does (agent 404): never both.
async fn create_and_delete_races_never_orphan_an_agent(backend: Backend) {
    let api = Api::on(backend).await;
    let llm = api.stack.llm_config().await;
    let mut servers = Vec::new();
    for i in 0..20 {
        servers.push(api.server(&format!("s{i}")).await);
    }
    let (api, llm) = (&api, &llm);
    let races = servers.iter().map(|server| async move {
        let path = format!("/config/mcp-server/{server}");
        let create = api
            .stack
            .call(Method::POST, "/config/agent", Some(agent(llm, &[server])));
        let delete = api.stack.delete(&path);
        let ((created, _), (deleted, _)) = tokio::join!(create, delete);
        (server.clone(), created, deleted)
    });
    let outcomes = futures_util::future::join_all(races).await;
    for (server, created, deleted) in &outcomes {
        match (*created, *deleted) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {
                api.stack
                    .get(&format!("/config/mcp-server/{server}"))
                    .await
                    .answered(StatusCode::OK);
                assert_eq!(api.ref_count(&format!("MCP#{server}")).await, 1);
            }
            (StatusCode::NOT_FOUND, StatusCode::NO_CONTENT) => {}
            other => panic!("create/delete of {server} ended {other:?}"),
        }
    }
    // Whatever won, every stored agent points at servers that exist.
    let (_, agents) = api.stack.get("/config/agent?limit=200").await;
    for agent in agents["items"].as_array().unwrap() {
        for server in agent["mcp_server_config_ids"].as_array().unwrap() {
            let (status, _) = api
                .stack
                .get(&format!("/config/mcp-server/{}", server.as_str().unwrap()))
                .await;
            assert_eq!(status, StatusCode::OK, "agent {} is orphaned", agent["id"]);
        }
    }
    let created = outcomes
        .iter()
        .filter(|(_, c, _)| *c == StatusCode::CREATED)
        .count();
    eprintln!("agents won {created} of 20 races");
    assert_eq!(agents["items"].as_array().unwrap().len(), created);
    assert_eq!(api.ref_count(&format!("LLM#{llm}")).await, created as u64);
}

e2e::on_both_stores!(create_and_delete_races_never_orphan_an_agent);
