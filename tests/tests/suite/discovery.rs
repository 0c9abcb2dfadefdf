//! An OAuth-protected MCP server connected from its URL alone: the auth config is created with
//! `discover_from` (the server's challenge and protected resource metadata, oidc-provider's
//! metadata, a client registered dynamically), then authorized through the real login, and the
//! server's tools are called with the tokens it yields. Failed discoveries name their step and
//! store nothing; input invalid whatever discovery finds is refused before it sends anything.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, Expect, TestStack,
    oidc::{self, OidcOptions},
    servers::{self, FastMcpAuth},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::{readme_walkthrough, run_script};

const REDIRECT_URI: &str = "http://127.0.0.1/callback";

fn discovering(url: &str) -> Value {
    json!({
        "name": "from its URL", "auth_type": "AUTHORIZATION_CODE",
        "discover_from": url, "allowed_redirect_uris": [REDIRECT_URI],
    })
}

/// The field a 400 answer names first.
fn refused_field((status, problem): e2e::Reply) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    problem["errors"][0]["field"].as_str().unwrap().to_owned()
}

async fn an_oauth_server_is_connected_from_its_url_alone(backend: Backend) {
    let api = TestStack::start(backend).await;
    let provider = oidc::start(OidcOptions::default().with_registration()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let url = mcp.mcp_url();

    let config = api
        .post("/auth_configs", discovering(&url))
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(config["discovery"]["issuer"], provider.issuer.as_str());
    assert_eq!(config["discovery"]["registration"], "dynamic");
    assert_eq!(config["token_url"], provider.token_endpoint());
    assert_eq!(
        config["authorization_url"],
        provider.authorization_endpoint()
    );
    assert_eq!(config["resource"], url.as_str());
    assert_eq!(config["allowed_origins"], json!([mcp.base]));
    assert!(config["client_id"].is_string(), "{config}");
    assert_eq!(config["client_secret"], json!({"set": true}));
    // The registration is kept: a second config discovered alike reuses the client, whose secret
    // (kept sealed) then authorizes it.
    let again = api
        .post("/auth_configs", discovering(&url))
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(again["client_id"], config["client_id"]);
    let id = again["id"].as_str().unwrap();
    // Another tenant never gets that client (nor its secret): it registers its own.
    let other = api.with_session(&api.session_for("globex", "bob").await);
    let theirs = other
        .post("/auth_configs", discovering(&url))
        .await
        .answered(StatusCode::CREATED);
    assert_ne!(theirs["client_id"], config["client_id"]);

    let started = api.start_authorization(id, REDIRECT_URI).await;
    let landed = oidc::login(started["authorization_url"].as_str().unwrap(), REDIRECT_URI).await;
    // The provider names itself in its responses (RFC 9207): a response naming another issuer,
    // or none, is refused before its state is used.
    assert_eq!(config["discovery"]["iss_parameter_supported"], true);
    let pairs: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    let query = |iss: Option<&str>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs.iter().filter(|(name, _)| name != "iss") {
            query.append_pair(name, value);
        }
        if let Some(iss) = iss {
            query.append_pair("iss", iss);
        }
        format!("/oauth/callback?{}", query.finish())
    };
    assert_eq!(
        refused_field(api.get(&query(Some("https://mix-up.example.com"))).await),
        "iss"
    );
    assert_eq!(refused_field(api.get(&query(None)).await), "iss");
    let callback = query(Some(&provider.issuer));
    let authorized = api.get(&callback).await.answered(StatusCode::OK);
    assert_eq!(authorized["token_status"], "VALID");

    let server = json!({"name": "oauth", "url": url, "auth_config_id": id});
    let created = api
        .post("/config/mcp-server", server)
        .await
        .answered(StatusCode::CREATED);
    let agent = api.agent_using(&[created["id"].as_str().unwrap()]).await;
    let call = json!({"tool": "add", "arguments": {"a": 40, "b": 2}});
    let sum = api
        .post(&format!("/agent/{agent}/tools/call"), call)
        .await
        .answered(StatusCode::OK);
    assert_eq!(sum["result"]["content"][0]["text"], "42");
}

e2e::on_both_stores!(an_oauth_server_is_connected_from_its_url_alone);

#[tokio::test]
async fn the_readme_discovery_walkthrough_runs_verbatim() {
    let api = TestStack::start(Backend::Sqlite).await;
    let provider = oidc::start(OidcOptions::default().with_registration()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let url = mcp.mcp_url();
    let base = [
        ("API", api.api.as_str()),
        ("SESSION", api.session.as_str()),
        ("MCP_URL", url.as_str()),
    ];
    let started = run_script(&readme_walkthrough("oauth-discover"), &base).await;
    assert!(started.contains("'registration': 'dynamic'"), "{started}");
    let auth_id = started
        .lines()
        .find_map(|line| line.strip_prefix("AUTH_ID="))
        .expect("the walkthrough prints AUTH_ID");
    let authorization_url = started.lines().find(|line| line.starts_with("http"));
    let landed = oidc::login(
        authorization_url.expect("an authorization URL"),
        REDIRECT_URI,
    )
    .await;
    let query = landed.query().unwrap();
    let mut env = base.to_vec();
    env.extend([("CALLBACK_QUERY", query), ("AUTH_ID", auth_id)]);
    let finished = run_script(&readme_walkthrough("oauth-finish"), &env).await;
    assert_eq!(finished.lines().next(), Some("VALID"), "{finished}");
}

/// Input that is invalid whatever discovery would find is refused before discovery sends
/// anything: every such field named at once, nothing requested from the server.
#[tokio::test]
async fn invalid_input_is_refused_before_discovery_sends_anything() {
    let api = TestStack::start(Backend::Sqlite).await;
    let server = e2e::capture::start().await;
    let mut body = discovering(&server.mcp_url());
    body["name"] = json!("");
    body["custom_headers"] = json!({"Host": "evil.example"});
    let problem = api
        .post("/auth_configs", body)
        .await
        .answered(StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = e2e::each(&problem["errors"], "field");
    assert!(fields.contains(&"name"), "{problem}");
    assert!(
        fields.iter().any(|f| f.starts_with("custom_headers")),
        "{problem}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_eq!(api.count("/auth_configs").await, 0);
}

#[tokio::test]
async fn a_failed_discovery_names_its_step_and_stores_nothing() {
    let api = TestStack::start(Backend::Sqlite).await;
    // A server that needs no authorization answers the credential-less initialize.
    let open = servers::fastmcp(FastMcpAuth::None, "http").await;
    let problem = api
        .post("/auth_configs", discovering(&open.mcp_url()))
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "urn:agent-studio:problem:discovery-failed");
    assert_eq!(problem["discovery_failure"]["step"], "challenge");
    // A server that never answers holds discovery no longer than its bounds.
    let hostile = e2e::hostile::start().await;
    let problem = api
        .post("/auth_configs", discovering(&format!("{hostile}/never")))
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["discovery_failure"]["step"], "challenge");

    // A server cannot widen its tokens' audience to the whole origin by pointing at a document
    // of its own: a broader resource is believed only from that resource's own well-known URL.
    let problem = api
        .post("/auth_configs", discovering(&format!("{hostile}/widening")))
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["discovery_failure"]["step"], "resource_metadata");
    let why = problem["discovery_failure"]["message"].as_str().unwrap();
    assert!(why.contains("not for this server"), "{why}");

    // A provider without dynamic registration needs a pre-registered client.
    let provider = oidc::start(OidcOptions::default()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let url = mcp.mcp_url();
    let problem = api
        .post("/auth_configs", discovering(&url))
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["discovery_failure"]["step"], "registration");
    assert_eq!(api.count("/auth_configs").await, 0);

    // With one, discovery fills in the rest.
    let mut body = discovering(&url);
    body["client_id"] = json!("web-app");
    body["client_secret"] = json!("web-secret");
    let config = api
        .post("/auth_configs", body)
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(config["discovery"]["registration"], "pre_registered");

    // Discovered fields are not given beside discover_from; a PATCH naming it discovers again
    // (here the same server: the pre-registered client stays, its secret kept).
    let mut both = discovering(&url);
    both["token_url"] = json!("https://elsewhere.example.com/token");
    assert_eq!(
        refused_field(api.post("/auth_configs", both).await),
        "token_url"
    );
    let path = format!("/auth_configs/{}", config["id"].as_str().unwrap());
    let again = api
        .patch(&path, json!({"discover_from": url}))
        .await
        .answered(StatusCode::OK);
    assert_eq!(again["discovery"], config["discovery"]);
    assert_eq!(
        (&again["client_id"], &again["client_secret"]),
        (&json!("web-app"), &json!({"set": true}))
    );
    let mut beside = json!({"discover_from": url, "scopes": ["x"]});
    assert_eq!(
        refused_field(api.patch(&path, beside.take()).await),
        "scopes"
    );

    // What discovery found stays while the server and client do, and goes when they are moved.
    let kept = api
        .patch(&path, json!({"description": "kept"}))
        .await
        .answered(StatusCode::OK);
    assert_eq!(kept["discovery"]["issuer"], provider.issuer.as_str());
    let elsewhere = json!({
        "authorization_url": "https://as.example.com/auth", "token_url": "https://as.example.com/token",
        "revocation_url": null, "client_secret": "web-secret",
    });
    let moved = api.patch(&path, elsewhere).await.answered(StatusCode::OK);
    assert!(moved.get("discovery").is_none(), "{moved}");
}
e2e::on_the_rehearsal!(an_oauth_server_is_connected_from_its_url_alone,);
