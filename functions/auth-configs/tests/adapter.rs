//! The auth-configs function driven through `lambda_http` with API Gateway REST proxy events (stage
//! in the path, authorizer context in the request context), proving the routes and the principal
//! work behind API Gateway exactly as locally.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use shared::{
    AppState,
    testing::{self, local_state},
};

async fn state(dir: &tempfile::TempDir) -> AppState {
    local_state(dir.path(), false).await
}

/// Sends one REST proxy event through the Lambda adapter; returns (statusCode, multi-value
/// headers, JSON body).
async fn invoke(state: &AppState, event: &str) -> (u16, Value, Value) {
    let response = testing::invoke(auth_configs::router(state.clone()), event).await;
    (response.status, response.headers, response.body)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The fixture event reading auth config `id` as `user` of `tenant`.
fn get_event(id: &str, tenant: &str, user: &str) -> String {
    fixture("get-by-id-rest.json")
        .replace("ID_PLACEHOLDER", id)
        .replace("TENANT_PLACEHOLDER", tenant)
        .replace("USER_PLACEHOLDER", user)
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
    let (status, _, fetched) = invoke(&state, &get_event(id, "acme", "alice")).await;
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
    let other_tenant = get_event(id, "evil", "mallory");
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
