//! Per-user OAuth connections against oidc-provider and an OAuth-protected FastMCP server, on
//! both stores: two users of one tenant connect their own accounts to one `per_user` auth config;
//! each user's requests carry their own token; a user who has not connected gets a 409
//! `authorization-required` and nothing is sent anywhere; nobody finishes another user's flow;
//! one refresh pass refreshes every user's due token exactly once; disconnecting one user leaves
//! the other connected; the mode cannot change while tokens exist; a change of the client voids
//! every user's tokens; deleting the config sweeps every user's tokens; background health checks
//! act with the connection of whoever last pointed the server, never another user's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{
    Backend, Expect, TestStack,
    oidc::{self, OidcOptions, OidcProvider},
    servers,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::{
    model::{auth_config::StoredAuthConfig, credentials, refresh_pass, resource},
    testing::rewrite_token,
};
use std::time::Duration;

const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The `Authorization` header the user's requests to `url` carry through config `id`.
async fn bearer_of(stack: &TestStack, user: &str, id: &str, url: &str) -> String {
    let (config, _) = resource::load::<StoredAuthConfig>(&stack.state, "acme", id)
        .await
        .unwrap();
    let credentials = credentials::credential_headers(
        &stack.state,
        "acme",
        user,
        &config,
        &url::Url::parse(url).unwrap(),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    credentials.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn refresh_requests(provider: &OidcProvider) -> u64 {
    let stats = provider.stats().await;
    stats.by_grant.get("refresh_token").copied().unwrap_or(0)
}

async fn each_user_connects_and_acts_as_themselves(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let provider = oidc::start(OidcOptions::default().with_registration()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let url = mcp.mcp_url();
    let alice = stack.client();
    let bob = alice.with_session(&stack.session_for("acme", "bob").await);

    let config = alice
        .post(
            "/auth_configs",
            json!({"name": "per user", "auth_type": "AUTHORIZATION_CODE", "discover_from": url,
                   "allowed_redirect_uris": [REDIRECT_URI], "connection_mode": "per_user"}),
        )
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(
        (&config["connection_mode"], &config["connected_users"]),
        (&json!("per_user"), &json!(0))
    );
    let id = config["id"].as_str().unwrap().to_owned();
    let path = format!("/auth_configs/{id}");

    // Alice connects; Bob still sees the config as not authorized (for him).
    let connected = alice.connect(&id, REDIRECT_URI).await;
    assert_eq!(connected["token_status"], "VALID");
    assert_eq!(connected["connected_users"], 1);
    let (_, seen_by_bob) = bob.get(&path).await;
    assert_eq!(seen_by_bob["token_status"], "NOT_AUTHORIZED");
    assert_eq!(seen_by_bob["connected_users"], 1);

    // Bob cannot finish a flow Alice started.
    let started = alice.start_authorization(&id, REDIRECT_URI).await;
    let landed = oidc::login(started["authorization_url"].as_str().unwrap(), REDIRECT_URI).await;
    bob.get(&format!("/oauth/callback?{}", landed.query().unwrap()))
        .await
        .refused_on("state");

    // The server config is tested with Alice's token; an agent calls a tool for each user.
    let server = json!({"name": "oauth", "url": url, "auth_config_id": id});
    let server = alice.created("/config/mcp-server", server).await;
    let agent = alice.agent_using(&[&server]).await;
    let call_path = format!("/agent/{agent}/tools/call");
    let call = json!({"tool": "add", "arguments": {"a": 40, "b": 2}});
    let sum = alice
        .post(&call_path, call.clone())
        .await
        .answered(StatusCode::OK);
    assert_eq!(sum["result"]["content"][0]["text"], "42");

    // Bob has not connected: a 409 of its own type, and nothing is sent anywhere.
    let (server_requests, token_requests) = (
        mcp.requests_seen().await,
        provider.stats().await.token_requests,
    );
    let problem = bob
        .post(&call_path, call.clone())
        .await
        .answered(StatusCode::CONFLICT);
    assert_eq!(
        problem["type"],
        "urn:agent-studio:problem:authorization-required"
    );
    assert_eq!(problem["reauthorization"]["auth_config_id"], id.as_str());
    assert_eq!(
        problem["reauthorization"]["authorize_endpoint"],
        format!("/ai/api/v1/oauth/{id}/authorize")
    );
    assert_eq!(mcp.requests_seen().await, server_requests);
    assert_eq!(provider.stats().await.token_requests, token_requests);

    // Bob connects his own account: two users, two token sets.
    let connected = bob.connect(&id, REDIRECT_URI).await;
    assert_eq!(connected["connected_users"], 2);
    bob.post(&call_path, call.clone())
        .await
        .answered(StatusCode::OK);
    let (alice_token, bob_token) = (
        bearer_of(&stack, "alice", &id, &url).await,
        bearer_of(&stack, "bob", &id, &url).await,
    );
    assert_ne!(alice_token, bob_token);
    let list = bob.get("/oauth/connections").await.answered(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["auth_config_id"], id.as_str());
    assert_eq!(list["items"][0]["token_status"], "VALID");

    // Bob re-points the server (tested with his own token); background checks act as him from
    // then on, never with Alice's account: once he disconnects, they find auth_required, though
    // Alice, who created the server, is connected.
    let server_path = format!("/config/mcp-server/{server}");
    bob.patch(&server_path, json!({"timeout_seconds": 20}))
        .await
        .answered(StatusCode::OK);
    bob.call(Method::DELETE, &format!("/oauth/connections/{id}"), None)
        .await
        .answered(StatusCode::NO_CONTENT);
    let health = shared::model::server_checks::HealthSettings::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    shared::model::server_checks::run_all(&stack.state, &health, deadline).await;
    let (_, checked) = alice.get(&server_path).await;
    assert_eq!(checked["health"]["status"], "auth_required", "{checked}");
    bob.connect(&id, REDIRECT_URI).await;
    shared::model::server_checks::run_all(&stack.state, &health, deadline).await;
    let (_, checked) = alice.get(&server_path).await;
    assert_eq!(checked["health"]["status"], "healthy", "{checked}");

    // One pass refreshes each user's due token exactly once.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for user in ["alice", "bob"] {
        rewrite_token(&stack.state, "acme", &format!("{id}#{user}"), |record| {
            record.next_refresh_at = Some(now - 1);
        })
        .await;
    }
    let before = refresh_requests(&provider).await;
    let settings = refresh_pass::PassSettings::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let report = refresh_pass::run(&stack.state, &settings, deadline).await;
    assert_eq!(report.refreshed, 2, "{report:?}");
    assert_eq!(refresh_requests(&provider).await, before + 2);
    assert_ne!(bearer_of(&stack, "alice", &id, &url).await, alice_token);

    // The mode cannot change while tokens exist.
    alice
        .patch(&path, json!({"connection_mode": "shared"}))
        .await
        .answered(StatusCode::CONFLICT);

    // Alice disconnects; Bob stays connected.
    alice
        .call(Method::DELETE, &format!("/oauth/connections/{id}"), None)
        .await
        .answered(StatusCode::NO_CONTENT);
    alice
        .post(&call_path, call.clone())
        .await
        .answered(StatusCode::CONFLICT);
    bob.post(&call_path, call.clone())
        .await
        .answered(StatusCode::OK);
    let (_, config) = bob.get(&path).await;
    assert_eq!(
        (&config["token_status"], &config["connected_users"]),
        (&json!("VALID"), &json!(1))
    );
    let (_, list) = alice.get("/oauth/connections").await;
    assert_eq!(list["items"], json!([]));
    alice
        .call(Method::DELETE, &format!("/oauth/connections/{id}"), None)
        .await
        .answered(StatusCode::NOT_FOUND);

    // A change of what the tokens depend on (here the client) voids every user's at once.
    alice
        .patch(
            &path,
            json!({"client_id": "another-client", "client_secret": "another-secret"}),
        )
        .await
        .answered(StatusCode::OK);
    let (_, config) = bob.get(&path).await;
    assert_eq!(
        (&config["token_status"], &config["connected_users"]),
        (&json!("NOT_AUTHORIZED"), &json!(0))
    );
    bob.post(&call_path, call.clone())
        .await
        .answered(StatusCode::CONFLICT);

    // Deleting the config (after what uses it) leaves Bob's tokens to the scheduled sweep.
    for path in [
        format!("/config/agent/{agent}"),
        format!("/config/mcp-server/{server}"),
        path.clone(),
    ] {
        let (status, body) = alice.call(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
    }
    let report = refresh_pass::run(&stack.state, &settings, deadline).await;
    assert_eq!(report.swept_tokens, 1, "{report:?}");
    let left = shared::model::token::load(&stack.state, "acme", &format!("{id}#bob"))
        .await
        .unwrap();
    assert!(left.is_none());
    let (_, list) = bob.get("/oauth/connections").await;
    assert_eq!(list["items"], json!([]));
}

e2e::on_both_stores!(each_user_connects_and_acts_as_themselves);
e2e::on_the_rehearsal!(each_user_connects_and_acts_as_themselves);

#[tokio::test]
async fn the_readme_per_user_walkthrough_runs_verbatim() {
    use shared::testing::{readme_walkthrough, run_script};
    let stack = TestStack::start(Backend::Sqlite).await;
    let provider = oidc::start(OidcOptions::default().with_registration()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let url = mcp.mcp_url();
    let bob = stack.session_for("acme", "bob").await;
    let base = [
        ("API", stack.api.as_str()),
        ("SESSION", stack.session.as_str()),
        ("BOB_SESSION", bob.as_str()),
        ("MCP_URL", url.as_str()),
    ];
    let started = run_script(&readme_walkthrough("per-user-start"), &base).await;
    let auth_id = started
        .lines()
        .find_map(|line| line.strip_prefix("AUTH_ID="))
        .expect("the walkthrough prints AUTH_ID");
    let urls: Vec<&str> = started
        .lines()
        .filter(|line| line.starts_with("http"))
        .collect();
    assert_eq!(urls.len(), 2, "{started}");
    let alice = oidc::login(urls[0], REDIRECT_URI).await;
    let bob_landed = oidc::login(urls[1], REDIRECT_URI).await;
    let mut env = base.to_vec();
    env.extend([
        ("AUTH_ID", auth_id),
        ("ALICE_QUERY", alice.query().unwrap()),
        ("BOB_QUERY", bob_landed.query().unwrap()),
    ]);
    let finished = run_script(&readme_walkthrough("per-user-finish"), &env).await;
    let lines: Vec<&str> = finished.lines().collect();
    assert_eq!(
        lines,
        ["VALID", "2", "VALID", "204", "NOT_AUTHORIZED", "VALID"],
        "{finished}"
    );
}
