//! The auth-configs function driven through `lambda_http` with API Gateway REST proxy events (stage
//! in the path, authorizer context in the request context), proving the routes and the principal
//! work behind API Gateway exactly as locally.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use lambda_http::{Context, LambdaEvent, Service, request::LambdaRequest};
use serde_json::Value;
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

/// Sends one REST proxy event through the Lambda adapter; returns (statusCode, multi-value
/// headers, JSON body).
async fn invoke(state: &AppState, event: &str) -> (u16, Value, Value) {
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let router = api::with_fallbacks(auth_configs::router(state.clone()));
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
        response["multiValueHeaders"].clone(),
        body,
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn a_rest_api_event_with_the_stage_in_the_path_reaches_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).await;

    let (status, headers, created) = invoke(&state, &fixture("create-rest.json")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(headers["etag"][0], "\"1\"");
    assert_eq!(
        created["custom_headers"]["X-Api-Key"],
        serde_json::json!({"set": true})
    );
    assert!(!created.to_string().contains("canary"));

    let id = created["id"].as_str().unwrap();
    let get = fixture("get-by-id-rest.json")
        .replace("ID_PLACEHOLDER", id)
        .replace("TENANT_PLACEHOLDER", "acme")
        .replace("USER_PLACEHOLDER", "alice");
    let (status, _, fetched) = invoke(&state, &get).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, created);

    let (status, _, list) = invoke(&state, &fixture("list-rest.json")).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_authorizer_context_scopes_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).await;
    let (_, _, created) = invoke(&state, &fixture("create-rest.json")).await;
    let id = created["id"].as_str().unwrap();
    let other_tenant = fixture("get-by-id-rest.json")
        .replace("ID_PLACEHOLDER", id)
        .replace("TENANT_PLACEHOLDER", "evil")
        .replace("USER_PLACEHOLDER", "mallory");
    let (status, headers, problem) = invoke(&state, &other_tenant).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"][0], "application/problem+json");
    assert_eq!(problem["status"], 404);
}

#[tokio::test]
async fn an_event_without_an_authorizer_context_is_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).await;
    let mut event: Value = serde_json::from_str(&fixture("list-rest.json")).unwrap();
    event["requestContext"]["authorizer"] = Value::Null;
    let (status, _, problem) = invoke(&state, &event.to_string()).await;
    assert_eq!(status, 401, "{problem}");
}
