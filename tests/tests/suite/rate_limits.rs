//! Rate limits on work that reaches other servers, kept in the store (so they hold across Lambda
//! instances), on SQLite and DynamoDB Local: over a user's limit the answer is 429 with
//! `Retry-After` and nothing is done; other users, and other tenants, are unaffected; a tenant's
//! cap counts tests actually under way (quick tests one after the other never reach it; tests
//! that are running stop the tenant's other users until they end).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    Backend, TestStack,
    servers::{self, ServerProcess},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::model::limits::Limits;

/// Waits until the per-user window (60 s) has enough seconds left that it does not turn over
/// while the test counts.
async fn wait_for_quiet_windows() {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if now % 60 < 35 {
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
    let body = json!({"name": "m", "url": mcp.mcp_url()});
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
        tests_per_minute: 4,
        authorize_per_minute: 2,
        tool_calls_per_minute: 100,
        tenant_concurrent_tests: 2,
    };
    let stack = TestStack::start_with_limits(backend, limits).await;
    let mcp = servers::fastmcp(servers::FastMcpAuth::None, "http").await;
    let hostile = e2e::hostile::start().await;
    let alice = stack.session.clone();
    let bob = stack.session_for("acme", "bob").await;
    let dave = stack.session_for("acme", "dave").await;
    let erin = stack.session_for("acme", "erin").await;
    let carol = stack.session_for("globex", "carol").await;
    wait_for_quiet_windows().await;

    // Alice: one create and three re-tests one after the other, twice as many as the tenant may
    // run at once (each ends before the next), then the fifth test is refused and nothing runs.
    let created = create_server(&stack, &alice, &mcp).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let retest = retest(&stack, &alice, &id).await;
        assert_eq!(retest.status(), StatusCode::OK);
    }
    let refused = retest(&stack, &alice, &id).await;
    assert_limited(&refused, "alice's fifth test");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:agent-studio:problem:too-many-requests"
    );
    assert!(problem["detail"].as_str().unwrap().contains("a minute"));

    // Bob, same tenant: his first test runs, whatever Alice ran before.
    assert_eq!(retest(&stack, &bob, &id).await.status(), StatusCode::OK);

    // Dave and Erin each start a test against a server that never answers (4 s): while both
    // run, the tenant's cap (two at once) stops Bob, and only the tenant.
    let never = json!({"name": "slow", "url": format!("{hostile}/never"), "timeout_seconds": 4});
    let slow: Vec<_> = [dave, erin]
        .into_iter()
        .map(|session| {
            let (stack_api, body) = (stack.api.clone(), never.clone());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{stack_api}/config/mcp-server"))
                    .header("Cookie", format!("sessionid={session}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let capped = retest(&stack, &bob, &id).await;
    assert_limited(&capped, "a third test at once");
    assert!(
        capped.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("organisation")
    );
    let other = create_server(&stack, &carol, &mcp).await;
    assert_eq!(other.status(), StatusCode::CREATED, "another tenant");
    for test in slow {
        assert_eq!(test.await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Once they end, their slots are free again.
    assert_eq!(retest(&stack, &bob, &id).await.status(), StatusCode::OK);

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
