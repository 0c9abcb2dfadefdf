//! The oauth function driven through `lambda_http` with API Gateway REST proxy events (stage in
//! the path, authorizer context, query strings as API Gateway passes them).
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use shared::{
    AppState,
    testing::{self, local_state, rest_event},
};

async fn state(dir: &tempfile::TempDir) -> AppState {
    local_state(dir.path(), false).await
}

/// One REST proxy event for `method` on `path` (route template `resource`) with `query` as
/// API Gateway's multi-value parameters.
fn event(method: &str, resource: &str, path: &str, query: &[(&str, &str)]) -> String {
    rest_event(method, resource, path, query, None)
}

async fn invoke(state: &AppState, event: &str) -> (u16, Value) {
    let response = testing::invoke(oauth::router(state.clone()), event).await;
    (response.status, response.body)
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
