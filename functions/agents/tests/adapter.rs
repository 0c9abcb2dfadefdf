//! The agents function driven through `lambda_http` with API Gateway REST proxy events (stage in
//! the path, authorizer context): every route is reached, and references are counted.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use shared::testing::{invoke, local_state, rest_event};

#[tokio::test]
async fn llm_configs_and_agents_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = local_state(dir.path(), false).await;
    let router = || agents::router(state.clone());
    let (llms, agents) = ("/ai/api/v1/config/llm", "/ai/api/v1/config/agent");
    let (llm_item, agent_item) = ("/ai/api/v1/config/llm/{id}", "/ai/api/v1/config/agent/{id}");

    let llm =
        json!({"name": "gpt", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-test-123"});
    let created = invoke(router(), &rest_event("POST", llms, llms, &[], Some(llm))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["api_key"], json!({"set": true}));
    assert!(!created.body.to_string().contains("sk-test-123"));
    let llm_id = created.body["id"].as_str().unwrap().to_owned();

    let unknown = "01a20a54-d8d5-76a4-a492-c822c4ec23eb";
    let agent = json!({
        "name": "helper", "prompt": "Be brief.", "llm_config_id": llm_id,
        "mcp_server_config_ids": [unknown],
    });
    let missing = invoke(
        router(),
        &rest_event("POST", agents, agents, &[], Some(agent)),
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(
        missing.body["errors"][0]["field"],
        "mcp_server_config_ids[0]"
    );

    let agent = json!({
        "name": "helper", "prompt": "Be brief.", "llm_config_id": llm_id,
        "input_json_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    });
    let created = invoke(
        router(),
        &rest_event("POST", agents, agents, &[], Some(agent)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let agent_path = format!("{agents}/{}", created.body["id"].as_str().unwrap());
    let llm_path = format!("{llms}/{llm_id}");

    let listed = invoke(
        router(),
        &rest_event("GET", agents, agents, &[("limit", "10")], None),
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let in_use = invoke(
        router(),
        &rest_event("DELETE", llm_item, &llm_path, &[], None),
    )
    .await;
    assert_eq!(in_use.status, 409, "{}", in_use.body);

    let patched = invoke(
        router(),
        &rest_event(
            "PATCH",
            agent_item,
            &agent_path,
            &[],
            Some(json!({"prompt": "Be kind."})),
        ),
    )
    .await;
    assert_eq!((patched.status, &patched.body["version"]), (200, &json!(2)));
    let got = invoke(
        router(),
        &rest_event("GET", agent_item, &agent_path, &[], None),
    )
    .await;
    assert_eq!(got.body["prompt"], "Be kind.");

    let deleted = invoke(
        router(),
        &rest_event("DELETE", agent_item, &agent_path, &[], None),
    )
    .await;
    assert_eq!(deleted.status, 204);
    let deleted = invoke(
        router(),
        &rest_event("DELETE", llm_item, &llm_path, &[], None),
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let gone = invoke(router(), &rest_event("GET", llm_item, &llm_path, &[], None)).await;
    assert_eq!(gone.status, 404);
}
