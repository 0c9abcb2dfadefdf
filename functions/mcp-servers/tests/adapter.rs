//! The mcp-servers function driven through `lambda_http` with API Gateway REST proxy events (stage
//! in the path, authorizer context), including the nested `/{id}/test` route.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use lambda_http::{Context, LambdaEvent, Service, request::LambdaRequest};
use serde_json::{Value, json};
use shared::{
    AppState, api, clock::SystemClock, crypto::LocalKeyProvider, state::aws_config_for_endpoint,
    store::SqliteStore,
};

async fn state(dir: &tempfile::TempDir) -> AppState {
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap());
    let keys = Arc::new(LocalKeyProvider::load_or_create(&dir.path().join("master.key")).unwrap());
    AppState::local(
        store,
        keys,
        &aws_config_for_endpoint("http://127.0.0.1:9").await,
        false,
    )
    .unwrap()
}

/// One REST proxy event for `method` on `path` (route template `resource`), with an optional body.
fn event(method: &str, resource: &str, path: &str, body: Option<Value>) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rest-event.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(
        &text
            .replace("RESOURCE", resource)
            .replace("/prod/PATH", &format!("/prod{path}"))
            .replace("PATH", path)
            .replace("METHOD", method),
    )
    .unwrap();
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    event.to_string()
}

async fn invoke(state: &AppState, event: &str) -> (u16, Value) {
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let router = api::with_fallbacks(mcp_servers::router(state.clone()));
    let mut adapter = lambda_http::Adapter::from(api::lambda::service(router));
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    let response = serde_json::to_value(response).unwrap();
    let body = response["body"]
        .as_str()
        .map_or(Value::Null, |b| serde_json::from_str(b).unwrap());
    (
        u16::try_from(response["statusCode"].as_u64().unwrap()).unwrap(),
        body,
    )
}

#[tokio::test]
async fn every_route_is_reached_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).await;
    let collection = "/ai/api/v1/config/mcp-server";
    let unknown = "01a20a54-d8d5-76a4-a492-c822c4ec23eb";

    let (status, list) = invoke(&state, &event("GET", collection, collection, None)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list, json!({"items": [], "next_token": null}));

    // Lambda mode refuses http:// and private addresses before any connection is made.
    let body = json!({"name": "local", "url": "http://127.0.0.1:9/mcp"});
    let (status, problem) =
        invoke(&state, &event("POST", collection, collection, Some(body))).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "url");

    let item = format!("{collection}/{unknown}");
    let (status, _) = invoke(
        &state,
        &event("GET", &format!("{collection}/{{id}}"), &item, None),
    )
    .await;
    assert_eq!(status, 404);
    let test = format!("{item}/test");
    let (status, problem) = invoke(
        &state,
        &event("POST", &format!("{collection}/{{id}}/test"), &test, None),
    )
    .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["status"], 404);
}
