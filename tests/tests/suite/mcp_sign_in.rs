//! MCP clients that sign in by themselves: with an external authorization server configured
//! (oidc-provider here), an agent's MCP endpoint challenges a caller without a credential with
//! the RFC 9728 `resource_metadata`, publishes metadata naming that server and the endpoint's
//! URL, and accepts the server's JWT access tokens for exactly that URL, the tenant, user and
//! role read from the configured claims. A token for another audience, of another issuer, with a
//! forged signature or without a tenant is refused with `invalid_token`; the endpoint's tokens
//! open nothing else of the API. The TypeScript SDK's client signs in by itself, from nothing
//! but the endpoint's URL.
#![allow(clippy::unwrap_used)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{
    Backend, Expect, GENEROUS_LIMITS, TestStack,
    oidc::{self, OidcOptions, OidcProvider},
    servers::{self, FastMcpAuth},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use shared::{config::McpAuthorization, resource_server::ResourceServer};

const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Signs `e2e-user` in at `provider` as the public client an MCP client would be, asking for a
/// token for `resource` (RFC 8707); the access token.
async fn sign_in(provider: &OidcProvider, resource: &str) -> String {
    let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&provider.authorization_endpoint()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "public-app")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "mcp:tools")
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", resource);
    let landed = oidc::login(authorize.as_str(), REDIRECT_URI).await;
    let code = landed
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code in {landed}"))
        .1
        .into_owned();
    let answer: Value = reqwest::Client::new()
        .post(provider.token_endpoint())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("client_id", "public-app"),
                    ("code_verifier", &verifier),
                    ("resource", resource),
                ])
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {answer}"))
        .to_owned()
}

/// A `method` request with `params` to `url` with `token` (the 2025-11-25 revision, no
/// session): the HTTP answer.
async fn rpc(url: &str, token: &str, method: &str, params: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
}

/// A `tools/list` to `url` with `token`: the HTTP answer.
async fn list_tools(url: &str, token: &str) -> reqwest::Response {
    rpc(url, token, "tools/list", json!({})).await
}

/// The `WWW-Authenticate` of `answer`, which must be a 401.
fn challenge_of(answer: &reqwest::Response) -> String {
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    answer
        .headers()
        .get("www-authenticate")
        .expect("a challenge")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A stack whose MCP endpoints accept `provider`'s tokens, with the tenant in claim `org` (the
/// user in `sub`, the role in `role`).
async fn stack_trusting(provider: &OidcProvider) -> TestStack {
    let issuer = provider.issuer.clone();
    TestStack::start_configured(Backend::Sqlite, GENEROUS_LIMITS, move |state, origin| {
        let config = McpAuthorization {
            issuer,
            public_base_url: origin.to_owned(),
            jwks_uri: None,
            tenant_claim: "org".into(),
            user_claim: "sub".into(),
            role_claim: "role".into(),
            scopes: vec!["mcp:tools".into()],
        };
        state.mcp_authorization = Some(ResourceServer::new(config, state.http.clone()));
    })
    .await
}

#[tokio::test]
async fn an_mcp_client_signs_in_at_the_configured_authorization_server() {
    let provider =
        oidc::start(OidcOptions::default().with_token_claims(json!({"org": "acme"}))).await;
    let stack = stack_trusting(&provider).await;
    let upstream = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let server = stack.api_key_server(&upstream.mcp_url()).await;
    let agent = stack.agent_using(&[&server]).await;
    let url = format!("{}/mcp/agents/{agent}", stack.api);

    // Without a credential: the challenge names the endpoint's metadata and the scope.
    let answer = reqwest::Client::new()
        .post(&url)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    let challenge = challenge_of(&answer);
    let metadata_url = shared::oauth::discovery::parse_bearer_challenge(&challenge)
        .and_then(|c| c.resource_metadata)
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge}"));
    assert!(challenge.contains(r#"scope="mcp:tools""#), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
    let origin = stack.api.trim_end_matches("/ai/api/v1");
    assert_eq!(
        metadata_url,
        format!("{origin}/.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent}")
    );
    // The metadata (public), found by the client as the specification says.
    let metadata: Value = reqwest::get(&metadata_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata,
        json!({"resource": url, "authorization_servers": [provider.issuer],
               "bearer_methods_supported": ["header"], "scopes_supported": ["mcp:tools"],
               "resource_name": "Agent Studio Connect"})
    );

    // Signed in for this endpoint: the agent's tools, as the token's user of the token's tenant.
    let token = sign_in(&provider, &url).await;
    let answer = list_tools(&url, &token).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let listed: Value = answer.json().await.unwrap();
    let mut names = e2e::each(&listed["result"]["tools"], "name");
    names.sort_unstable();
    assert_eq!(names, ["add", "echo"], "{listed}");
    let add = json!({"name": "add", "arguments": {"a": 2, "b": 3}});
    let called: Value = rpc(&url, &token, "tools/call", add)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(called["result"]["isError"], false, "{called}");
    let audit = stack.get("/audit").await.answered(StatusCode::OK);
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["action"]
                .as_str()
                .unwrap_or_default()
                .starts_with("POST /ai/api/v1/mcp/")
        })
        .unwrap_or_else(|| panic!("no tool call audited: {audit}"));
    assert_eq!(entry["actor"], "e2e-user", "{entry}");
    assert_eq!(entry["actor_role"], "member", "{entry}");

    // A token the endpoint must not take: for another endpoint (another agent's), forged, or
    // cut short. Each is `invalid_token`, saying why.
    let elsewhere = sign_in(&provider, &format!("{origin}/ai/api/v1/mcp/agents/other")).await;
    let refused = challenge_of(&list_tools(&url, &elsewhere).await);
    assert!(refused.contains(r#"error="invalid_token""#), "{refused}");
    assert!(refused.contains("another resource"), "{refused}");
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{signed}.{flipped}{}", &signature[1..]);
    let refused = challenge_of(&list_tools(&url, &forged).await);
    assert!(refused.contains("signature"), "{refused}");
    let refused = challenge_of(&list_tools(&url, &format!("{signed}.")).await);
    assert!(refused.contains(r#"error="invalid_token""#), "{refused}");

    // The endpoint's token opens nothing else of the API: the REST routes take API tokens and
    // sessions only.
    let rest = reqwest::Client::new()
        .get(format!("{}/config/agent/{agent}", stack.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), StatusCode::UNAUTHORIZED);
    // And API tokens still work on the endpoint beside the sign-in.
    let api_token = stack.api_token("acme", "bob").await;
    assert_eq!(list_tools(&url, &api_token).await.status(), StatusCode::OK);

    // The TypeScript SDK's client finds all of this by itself: from the challenge to the
    // metadata, to the authorization server, signed in for this endpoint, and back.
    let sdk = servers::require(
        servers::repo_root().join(".deps/node/node_modules/@modelcontextprotocol/sdk"),
    );
    let output = tokio::process::Command::new("node")
        .arg(servers::repo_root().join("tests/clients/typescript_sign_in.mjs"))
        .args([url.as_str(), "add", r#"{"a": 40, "b": 2}"#])
        .env("MCP_SDK_DIR", sdk)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["authorization"]["resource"], url.as_str(), "{seen}");
    assert_eq!(seen["authorization"]["scope"], "mcp:tools", "{seen}");
    let mut names = e2e::each(&seen["tools"], "name");
    names.sort_unstable();
    assert_eq!(names, ["add", "echo"], "{seen}");
    assert_eq!(seen["result"]["structuredContent"]["result"], 42, "{seen}");
}

#[tokio::test]
async fn a_token_of_another_tenant_finds_no_agent_and_another_issuers_is_refused() {
    let provider =
        oidc::start(OidcOptions::default().with_token_claims(json!({"org": "globex"}))).await;
    let stack = stack_trusting(&provider).await;
    // acme's agent, reached with a valid token of tenant globex for its very URL: not found, as
    // any record of another tenant.
    let agent = stack.agent_using(&[]).await;
    let url = format!("{}/mcp/agents/{agent}", stack.api);
    let token = sign_in(&provider, &url).await;
    assert_eq!(
        list_tools(&url, &token).await.status(),
        StatusCode::NOT_FOUND
    );

    // Another authorization server's token for the same URL, naming acme: not this issuer's.
    let other = oidc::start(OidcOptions::default().with_token_claims(json!({"org": "acme"}))).await;
    let token = sign_in(&other, &url).await;
    let refused = challenge_of(&list_tools(&url, &token).await);
    assert!(refused.contains(r#"error="invalid_token""#), "{refused}");
}

#[tokio::test]
async fn a_token_that_names_no_tenant_is_refused_saying_which_claim() {
    let provider = oidc::start(OidcOptions::default()).await;
    let stack = stack_trusting(&provider).await;
    let agent = stack.agent_using(&[]).await;
    let url = format!("{}/mcp/agents/{agent}", stack.api);
    let token = sign_in(&provider, &url).await;
    let refused = challenge_of(&list_tools(&url, &token).await);
    assert!(
        refused.contains("'org' claim must name the tenant"),
        "{refused}"
    );
}
