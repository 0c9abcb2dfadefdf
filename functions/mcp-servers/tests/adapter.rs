//! The mcp-servers function driven through `lambda_http` with API Gateway REST proxy events (stage
//! in the path, authorizer context), including the nested `/{id}/test` route.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use shared::{
    AppState,
    testing::{self, local_state, rest_event},
};

/// One REST proxy event for `method` on `path` (route template `resource`), with an optional body.
fn event(method: &str, resource: &str, path: &str, body: Option<Value>) -> String {
    rest_event(method, resource, path, &[], body)
}

async fn invoke(state: &AppState, event: &str) -> (u16, Value) {
    let response = testing::invoke(mcp_servers::router(state.clone()), event).await;
    (response.status, response.body)
}

#[tokio::test]
async fn every_route_is_reached_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = local_state(dir.path(), false).await;
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
