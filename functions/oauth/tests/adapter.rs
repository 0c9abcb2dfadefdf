//! The oauth function driven through `lambda_http` with API Gateway REST proxy events (stage in
//! the path, authorizer context, query strings as API Gateway passes them).
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

/// One REST proxy event for `method` on `path` (route template `resource`) with `query` as
/// API Gateway's multi-value parameters.
fn event(method: &str, resource: &str, path: &str, query: &[(&str, &str)]) -> String {
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
    if !query.is_empty() {
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in query {
            single.insert((*name).into(), json!(value));
            multi
                .entry(*name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(json!(value));
        }
        event["queryStringParameters"] = Value::Object(single);
        event["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    event.to_string()
}

async fn invoke(state: &AppState, event: &str) -> (u16, Value) {
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let router = api::with_fallbacks(oauth::router(state.clone()));
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
async fn both_routes_are_reached_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).await;
    let unknown = "01a20a54-d8d5-76a4-a492-c822c4ec23eb";
    let path = format!("/ai/api/v1/oauth/{unknown}/authorize");
    let (status, problem) = invoke(
        &state,
        &event(
            "POST",
            "/ai/api/v1/oauth/{auth_config_id}/authorize",
            &path,
            &[("redirect_uri", "https://app.example.com/cb")],
        ),
    )
    .await;
    assert_eq!(status, 404, "{problem}");

    let callback = "/ai/api/v1/oauth/callback";
    let (status, problem) = invoke(
        &state,
        &event("GET", callback, callback, &[("code", "c"), ("state", "s")]),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "state");

    // A parameter API Gateway passes twice is refused.
    let (status, problem) = invoke(
        &state,
        &event(
            "GET",
            callback,
            callback,
            &[("code", "c"), ("state", "s"), ("state", "t")],
        ),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["message"], "must be given once");
}
