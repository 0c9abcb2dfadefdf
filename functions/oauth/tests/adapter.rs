//! The oauth function driven through `lambda_http` with API Gateway REST proxy events (stage in
//! the path, authorizer context, query strings as API Gateway passes them).
#![allow(clippy::unwrap_used)]

use shared::{
    AppState,
    testing::{self, local_state, rest_event},
};

/// Sends one REST proxy event for `method` on `path` (route template `resource`), with `query`
/// as API Gateway's multi-value parameters, through the Lambda adapter.
async fn send(
    state: &AppState,
    (method, resource, path): (&str, &str, &str),
    query: &[(&str, &str)],
) -> testing::AdapterResponse {
    let event = rest_event(method, resource, path, query, None);
    testing::invoke(oauth::router(state.clone()), &event).await
}

#[tokio::test]
async fn both_routes_are_reached_behind_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state = local_state(dir.path(), false).await;
    let unknown = "01a20a54-d8d5-76a4-a492-c822c4ec23eb";
    let path = format!("/ai/api/v1/oauth/{unknown}/authorize");
    let authorize = (
        "POST",
        "/ai/api/v1/oauth/{auth_config_id}/authorize",
        path.as_str(),
    );
    let reply = send(
        &state,
        authorize,
        &[("redirect_uri", "https://app.example.com/cb")],
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);

    let callback = "/ai/api/v1/oauth/callback";
    let callback = ("GET", callback, callback);
    let reply = send(&state, callback, &[("code", "c"), ("state", "s")]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], "state");

    // A parameter API Gateway passes twice is refused.
    let twice = [("code", "c"), ("state", "s"), ("state", "t")];
    let reply = send(&state, callback, &twice).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["message"], "must be given once");
}
