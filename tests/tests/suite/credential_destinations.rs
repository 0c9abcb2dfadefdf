//! Credentials go only where their owner sent them. Each test gives the service a stored secret
//! (a canary) and a hostile arrangement of servers on loopback, then proves from what a capture
//! server received that the canary never reached a destination it was not entered for.
#![allow(clippy::unwrap_used)]

use e2e::{Backend, Expect, TestStack, capture};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CANARY: &str = "canary-api-key-6f1d";

/// A legacy SSE server redirected to another origin: whatever status the redirect uses, the
/// stream there arrives without the key, its endpoint is refused, and the test fails.
#[tokio::test]
async fn a_legacy_sse_stream_redirected_to_another_origin_never_gets_the_key() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let elsewhere = capture::start().await;
        let configured = capture::redirector(format!("{}/sse", elsewhere.base), status).await;
        let (code, body) = client
            .call(
                Method::POST,
                "/config/mcp-server",
                Some(
                    json!({"name": "redirected", "url": format!("{configured}/sse"),
                    "timeout_seconds": 5,
                    "auth_config": {"name": "k", "auth_type": "NONE",
                                    "custom_headers": {"X-Api-Key": CANARY}}}),
                ),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}: {body}");
        assert!(
            body["connection_test_result"]["message"]
                .as_str()
                .unwrap()
                .contains("another origin"),
            "{body}"
        );
        assert!(
            !elsewhere.saw(CANARY),
            "{status}: {:?}",
            elsewhere.requests()
        );
        assert!(
            elsewhere.requests().iter().all(|r| r.method == "GET"),
            "nothing may be posted to the other origin: {:?}",
            elsewhere.requests()
        );
    }
    assert_eq!(client.count("/config/mcp-server").await, 0);
}

/// Starts an MCP server config on `auth_id` (the connection test makes a token request) and
/// returns the answer's status.
async fn use_config(client: &e2e::ApiClient, auth_id: &str) -> StatusCode {
    let (status, _) = client
        .call(
            Method::POST,
            "/config/mcp-server",
            Some(
                json!({"name": "user", "url": "http://127.0.0.1:9/mcp", "timeout_seconds": 3,
                        "auth_config_id": auth_id}),
            ),
        )
        .await;
    status
}

/// Moving a client secret's token or authorization endpoint to another origin needs the secret
/// in the same request; without it the config is unchanged and the secret still goes only to
/// the origin it was entered for.
#[tokio::test]
async fn a_client_secret_follows_its_endpoints_only_when_given_again() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    let (entered, attacker) = (capture::start().await, capture::start().await);
    let auth_id = client
        .created(
            "/auth_configs",
            json!({"name": "m2m", "auth_type": "CLIENT_CREDENTIALS",
                   "token_url": format!("{}/token", entered.base), "client_id": "svc",
                   "client_secret": CANARY}),
        )
        .await;
    let path = format!("/auth_configs/{auth_id}");
    let (_, before) = client.get(&path).await;

    let cc_moves = [
        json!({"token_url": format!("{}/token", attacker.base)}),
        json!({"token_url": format!("{}/token", attacker.base), "client_secret": {"set": true}}),
        json!({"token_url": format!("{}/token", attacker.base).replace("127.0.0.1", "localhost")}),
    ];
    for patch in cc_moves {
        let (status, problem) = client.patch(&path, patch.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "client_secret", "{problem}");
    }
    let (_, after) = client.get(&path).await;
    assert_eq!(after, before, "a refused PATCH changes nothing");
    use_config(&client, &auth_id).await;
    assert!(entered.saw(CANARY), "the secret goes where it was entered");
    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());

    // The same origin, another path: no secret needed.
    client
        .patch(
            &path,
            json!({"token_url": format!("{}/oauth/token", entered.base)}),
        )
        .await
        .answered(StatusCode::OK);

    // Given again, the new secret goes to the new origin; the old one never does.
    client
        .patch(
            &path,
            json!({"token_url": format!("{}/token", attacker.base),
                        "client_secret": "a-new-secret-for-the-new-server"}),
        )
        .await
        .answered(StatusCode::OK);
    use_config(&client, &auth_id).await;
    assert!(attacker.saw("a-new-secret-for-the-new-server"));
    assert!(!attacker.saw(CANARY));

    // Authorization code: moving the authorization endpoint needs the secret too.
    let ac_id = client
        .created(
            "/auth_configs",
            json!({"name": "ac", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": format!("{}/authorize", entered.base),
                   "token_url": format!("{}/token", entered.base), "client_id": "web",
                   "client_secret": CANARY,
                   "allowed_redirect_uris": ["https://app.example.com/callback"]}),
        )
        .await;
    client
        .patch(
            &format!("/auth_configs/{ac_id}"),
            json!({"authorization_url": format!("{}/authorize", attacker.base)}),
        )
        .await
        .refused_on("client_secret");
}

/// Every answer of the local stack, its authorizer's 401 and the OAuth callback included, is
/// uncacheable, unsniffable and sends no referrer.
#[tokio::test]
async fn every_answer_of_the_stack_carries_the_security_headers() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let session = format!("sessionid={}", stack.session);
    for (path, cookie) in [
        ("/auth_configs", Some(session.as_str())),
        ("/auth_configs", None),
        (
            "/oauth/callback?code=c&state=unknown",
            Some(session.as_str()),
        ),
        ("/openapi.json", None),
        ("/no/such/route", Some(session.as_str())),
    ] {
        let mut request = http.get(format!("{}{path}", stack.api));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
}

/// Static secrets are bound to the origin they were entered for: an inline config to its
/// server's, a config created on its own to the first server that uses it. Attaching the config
/// to a server elsewhere, or moving its server elsewhere, is refused before anything is sent,
/// until a PATCH gives the secrets again together with the new `allowed_origins`.
#[tokio::test]
async fn static_secrets_go_only_to_the_origins_they_were_entered_for() {
    use e2e::servers::{self, FASTMCP_API_KEY, FastMcpAuth};
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    let legit = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let legit_url = legit.mcp_url();
    let attacker = capture::start().await;
    let attacker_url = attacker.mcp_url();

    // Inline: bound to the server it was created with.
    let inline = client
        .post(
            "/config/mcp-server",
            json!({"name": "legit", "url": legit_url,
                "auth_config": {"name": "key", "auth_type": "NONE",
                                "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}}),
        )
        .await
        .answered(StatusCode::CREATED);
    let inline_auth = inline["auth_config_id"].as_str().unwrap().to_owned();
    let (_, auth) = client.get(&format!("/auth_configs/{inline_auth}")).await;
    assert_eq!(auth["allowed_origins"], json!([legit.base]));

    // On its own: unbound until its first server binds it.
    let own_auth = client
        .created(
            "/auth_configs",
            json!({"name": "own", "auth_type": "NONE",
                   "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}),
        )
        .await;
    let (_, unbound) = client.get(&format!("/auth_configs/{own_auth}")).await;
    assert_eq!(unbound["allowed_origins"], json!([]));
    // A first server whose test fails does not keep the binding it took for its test.
    let not_mcp = capture::start().await;
    client
        .call(
            Method::POST,
            "/config/mcp-server",
            Some(json!({"name": "typo", "url": not_mcp.mcp_url(),
                        "auth_config_id": own_auth, "timeout_seconds": 3})),
        )
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
    let (_, still_unbound) = client.get(&format!("/auth_configs/{own_auth}")).await;
    assert_eq!(still_unbound["allowed_origins"], json!([]));
    let own_server = client
        .created(
            "/config/mcp-server",
            json!({"name": "first", "url": legit_url, "auth_config_id": own_auth}),
        )
        .await;
    let (_, bound) = client.get(&format!("/auth_configs/{own_auth}")).await;
    assert_eq!(bound["allowed_origins"], json!([legit.base]));

    for auth_id in [&inline_auth, &own_auth] {
        client
            .post(
                "/config/mcp-server",
                json!({"name": "steal", "url": attacker_url, "auth_config_id": auth_id}),
            )
            .await
            .refused_on("auth_config_id");
    }
    client
        .patch(
            &format!("/config/mcp-server/{own_server}"),
            json!({"url": attacker_url}),
        )
        .await
        .refused_on("url");
    // Widening the binding needs the secret again.
    client
        .patch(
            &format!("/auth_configs/{own_auth}"),
            json!({"allowed_origins": [legit.base, attacker.base]}),
        )
        .await
        .refused_on("allowed_origins");
    assert!(
        attacker.requests().is_empty(),
        "nothing reached the other origin: {:?}",
        attacker.requests()
    );

    // Given again, the secret may go there: the new value, which the caller knows.
    client
        .patch(
            &format!("/auth_configs/{own_auth}"),
            json!({"allowed_origins": [legit.base, attacker.base],
                        "custom_headers": {"X-Api-Key": "a-key-for-the-new-server"}}),
        )
        .await
        .answered(StatusCode::OK);
    let (status, _) = client
        .post(
            "/config/mcp-server",
            json!({"name": "now allowed", "url": attacker_url, "auth_config_id": own_auth}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the capture server is no MCP server"
    );
    assert!(attacker.saw("a-key-for-the-new-server"));
    assert!(!attacker.saw(FASTMCP_API_KEY));
}

/// An OAuth config that names a `resource` sends its tokens only to that resource's origin.
#[tokio::test]
async fn oauth_tokens_for_a_resource_are_bound_to_its_origin() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    let attacker = capture::start().await;
    let auth_id = client
        .created(
            "/auth_configs",
            json!({"name": "m2m", "auth_type": "CLIENT_CREDENTIALS",
                   "token_url": format!("{}/token", attacker.base), "client_id": "svc",
                   "client_secret": CANARY, "resource": "https://mcp.example.com/mcp"}),
        )
        .await;
    let (_, auth) = client.get(&format!("/auth_configs/{auth_id}")).await;
    assert_eq!(auth["allowed_origins"], json!(["https://mcp.example.com"]));
    client
        .call(
            Method::POST,
            "/config/mcp-server",
            Some(json!({"name": "elsewhere", "url": attacker.mcp_url(),
                        "auth_config_id": auth_id})),
        )
        .await
        .answered(StatusCode::BAD_REQUEST);
    assert!(attacker.requests().is_empty(), "not even a token request");
}

/// Credential production itself refuses a destination the credentials were not entered for,
/// before resolving or decrypting anything (defence in depth behind the attach checks).
#[tokio::test]
async fn credentials_are_not_produced_for_another_origin() {
    use shared::model::{auth_config::StoredAuthConfig, credentials, resource};
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    let auth_id = client
        .created(
            "/auth_configs",
            json!({"name": "bound", "auth_type": "NONE", "allowed_origins": ["https://mcp.example.com"],
                   "custom_headers": {"X-Api-Key": CANARY}}),
        )
        .await;
    let principal = shared::api::Principal::admin("acme", "alice");
    let (config, _) =
        resource::load::<StoredAuthConfig>(&stack.state, &principal.tenant_id, &auth_id)
            .await
            .unwrap();
    let produce = |url: &'static str| {
        let (state, config) = (stack.state.clone(), config.clone());
        async move {
            credentials::credential_headers(
                &state,
                "acme",
                "alice",
                &config,
                &url::Url::parse(url).unwrap(),
                None,
                std::time::Duration::from_secs(5),
            )
            .await
        }
    };
    assert!(matches!(
        produce("https://elsewhere.example.com/mcp").await,
        Err(credentials::CredentialError::NotForThisOrigin)
    ));
    let headers = produce("https://mcp.example.com/mcp")
        .await
        .unwrap()
        .headers;
    assert_eq!(headers["x-api-key"], CANARY);
}
