//! Rate limits on work that reaches other servers, kept in the store (so they hold across Lambda
//! instances), on SQLite and DynamoDB Local: over a user's limit the answer is 429 with
//! `Retry-After` and nothing is done; other users, and other tenants, are unaffected; a tenant's
//! cap on tests under way stops its users together.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    Backend, TestStack,
    servers::{self, ServerProcess},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::model::limits::Limits;

/// Waits until the per-user (60 s) and per-tenant (25 s) windows both have several seconds left,
/// so that no window turns over while a test counts.
async fn wait_for_quiet_windows() {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if now % 60 < 50 && now % 25 < 18 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn post_as(
    stack: &TestStack,
    session: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(Method::POST, format!("{}{path}", stack.api))
        .header("Cookie", format!("sessionid={session}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn assert_limited(response: &reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "{what}: Retry-After {retry_after}"
    );
}

/// Creates a server config for `mcp` as the user of `session`.
async fn create_server(stack: &TestStack, session: &str, mcp: &ServerProcess) -> reqwest::Response {
    let body = json!({"name": "m", "url": format!("{}/mcp", mcp.base)});
    post_as(stack, session, "/config/mcp-server", Some(body)).await
}

/// Re-tests the server config `id` as the user of `session`.
async fn retest(stack: &TestStack, session: &str, id: &str) -> reqwest::Response {
    post_as(
        stack,
        session,
        &format!("/config/mcp-server/{id}/test"),
        None,
    )
    .await
}

async fn limits_hold_per_user_and_per_tenant(backend: Backend) {
    let limits = Limits {
        tests_per_minute: 3,
        authorize_per_minute: 2,
        tool_calls_per_minute: 100,
        tenant_concurrent_tests: 5,
    };
    let stack = TestStack::start_with_limits(backend, limits).await;
    let mcp = servers::fastmcp(servers::FastMcpAuth::None, "http").await;
    let alice = stack.session.clone();
    let bob = stack.session_for("acme", "bob").await;
    let carol = stack.session_for("globex", "carol").await;
    wait_for_quiet_windows().await;

    // Alice: one create and two re-tests, then the fourth test is refused and nothing runs.
    let created = create_server(&stack, &alice, &mcp).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let retest = retest(&stack, &alice, &id).await;
        assert_eq!(retest.status(), StatusCode::OK);
    }
    let refused = retest(&stack, &alice, &id).await;
    assert_limited(&refused, "alice's fourth test");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:agent-studio:problem:too-many-requests"
    );

    // Bob, same tenant: his own limit, but the tenant's cap (5 tests under way) stops him at 2.
    for _ in 0..2 {
        let retest = retest(&stack, &bob, &id).await;
        assert_eq!(retest.status(), StatusCode::OK);
    }
    let capped = retest(&stack, &bob, &id).await;
    assert_limited(&capped, "the tenant's sixth test");
    assert!(
        capped.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("organisation")
    );

    // Another tenant is unaffected.
    let other = create_server(&stack, &carol, &mcp).await;
    assert_eq!(other.status(), StatusCode::CREATED);

    // OAuth authorize: two a minute.
    let ac = stack
        .client()
        .with_session(&carol)
        .created(
            "/auth_configs",
            json!({
        "name": "ac", "auth_type": "AUTHORIZATION_CODE",
        "authorization_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token", "client_id": "web",
        "client_secret": "s", "allowed_redirect_uris": ["https://app.example.com/callback"]}),
        )
        .await;
    let authorize = format!("/oauth/{ac}/authorize?redirect_uri=https://app.example.com/callback");
    for _ in 0..2 {
        assert_eq!(
            post_as(&stack, &carol, &authorize, None).await.status(),
            StatusCode::OK
        );
    }
    assert_limited(
        &post_as(&stack, &carol, &authorize, None).await,
        "a third authorize",
    );
}

e2e::on_both_stores!(limits_hold_per_user_and_per_tenant);
