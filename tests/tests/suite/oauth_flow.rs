//! The OAuth flows end to end against a certified authorization server (oidc-provider) on
//! loopback: authorization code with PKCE through authorize → login/consent → callback, a FastMCP
//! server that accepts only that provider's tokens, client credentials with both client
//! authentication methods, single-flight refresh under rotation, revocation, and every rejected
//! callback made without a token request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{
    Backend, TestStack,
    oidc::{self, OidcOptions, OidcProvider},
    servers::{self, ServerProcess},
    tokens,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::{
    api::Principal,
    model::{auth_config::StoredAuthConfig, credentials, resource},
    store::TxOp,
};

const REDIRECT_URI: &str = "http://127.0.0.1/callback";

struct Setup {
    stack: TestStack,
    provider: OidcProvider,
    mcp: ServerProcess,
}

impl Setup {
    async fn start(options: OidcOptions) -> Self {
        let provider = oidc::start(options).await;
        let mcp = servers::fastmcp_oauth(&provider.issuer).await;
        Self {
            stack: TestStack::start(Backend::Sqlite).await,
            provider,
            mcp,
        }
    }

    fn resource(&self) -> String {
        self.mcp.mcp_url()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, body) = self.stack.call(method, path, body).await;
        (status.as_u16(), body)
    }

    async fn call_as(
        &self,
        session: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, body) = self
            .stack
            .with_session(session)
            .call(method, path, body)
            .await;
        (status.as_u16(), body)
    }

    /// Applies a merge patch to the auth config `id`.
    async fn patch_config(&self, id: &str, patch: Value) -> e2e::Reply {
        self.stack
            .patch(&format!("/auth_configs/{id}"), patch)
            .await
    }

    /// Creates an AUTHORIZATION_CODE auth config for the provider's `web-app` client.
    async fn auth_code_config(&self) -> String {
        let (status, body) = self
            .stack.post("/auth_configs", json!({
                    "name": "provider",
                    "auth_type": "AUTHORIZATION_CODE",
                    "authorization_url": self.provider.authorization_endpoint(),
                    "token_url": self.provider.token_endpoint(),
                    "client_id": "web-app",
                    "client_secret": "web-secret",
                    "token_endpoint_auth_method": "client_secret_post",
                    "allowed_redirect_uris": [REDIRECT_URI, "https://app.example.com/oauth/callback"],
                    "scopes": ["openid", "offline_access", "mcp:tools"],
                    "resource": self.resource(),
                }))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["token_status"], "NOT_AUTHORIZED");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn authorize(&self, id: &str) -> Value {
        self.stack.start_authorization(id, REDIRECT_URI).await
    }

    async fn callback(&self, query: &str) -> (reqwest::StatusCode, Value) {
        self.stack.get(&format!("/oauth/callback?{query}")).await
    }

    /// Runs authorize → login/consent → callback; returns the callback's body.
    async fn authorize_fully(&self, id: &str) -> Value {
        let started = self.authorize(id).await;
        let landed =
            oidc::login(started["authorization_url"].as_str().unwrap(), REDIRECT_URI).await;
        let (status, body) = self.callback(landed.query().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    fn principal(&self) -> Principal {
        Principal::admin("acme", "alice")
    }

    /// Moves the stored token's expiry to `seconds` from now (time passing).
    async fn expire_token_in(&self, id: &str, seconds: i64) {
        tokens::rewrite_token(&self.stack.state, "acme", id, |record| {
            let now = tokens::now();
            record.expires_at = now + seconds;
            record.obtained_at = now - 3600;
            record.next_refresh_at = Some(now);
        })
        .await;
    }

    async fn credentials(
        &self,
        id: &str,
    ) -> Result<credentials::Credentials, credentials::CredentialError> {
        let state = &self.stack.state;
        let (config, _) =
            resource::load::<StoredAuthConfig>(state, &self.principal().tenant_id, id)
                .await
                .unwrap();
        // For the MCP server the config's tokens are for.
        credentials::credential_headers(
            state,
            "acme",
            &self.principal().user_id,
            &config,
            &url::Url::parse(&self.resource()).unwrap(),
            None,
            std::time::Duration::from_secs(10),
        )
        .await
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn authorization_code_flow_ends_in_a_server_config_behind_the_provider() {
    let setup = Setup::start(OidcOptions::default()).await;
    let id = setup.auth_code_config().await;

    // Without tokens, a server config using it fails at the auth stage.
    let server = json!({"name": "protected", "url": setup.resource(), "auth_config_id": id});
    let (status, body) = setup.stack.post("/config/mcp-server", server.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["connection_test_result"]["stage"], "auth");

    let started = setup.authorize(&id).await;
    let url = url::Url::parse(started["authorization_url"].as_str().unwrap()).unwrap();
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["code_challenge_method"], "S256");
    assert_eq!(pairs["redirect_uri"], REDIRECT_URI);
    assert_eq!(pairs["state"], started["state"].as_str().unwrap());
    assert!(started["state"].as_str().unwrap().len() >= 22, "≥ 128 bits");

    let landed = oidc::login(url.as_str(), REDIRECT_URI).await;
    let before = setup.provider.stats().await;
    let (status, config) = setup.callback(landed.query().unwrap()).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["token_status"], "VALID");
    assert!(config["token_expires_at"].is_string(), "{config}");
    assert!(
        config["granted_scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("mcp:tools")),
        "{config}"
    );
    assert_eq!(
        setup.provider.stats().await.token_requests,
        before.token_requests + 1,
        "the code is redeemed exactly once"
    );
    let (status, shown) = setup.stack.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["token_status"], "VALID");
    assert!(!shown.to_string().contains("access_token"));

    // The replayed callback is refused without a token request.
    let (status, body) = setup.callback(landed.query().unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "state");
    assert_eq!(
        setup.provider.stats().await.token_requests,
        before.token_requests + 1
    );

    // The FastMCP server accepts only the provider's tokens: the server config now works.
    let (status, body) = setup.stack.post("/config/mcp-server", server).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["connection_test_result"]["status"], "SUCCESS");
    let tools = body["tool_names"].as_array().unwrap();
    assert!(tools.contains(&json!("echo")), "{body}");

    // Changing the client voids the tokens.
    let (status, body) = setup
        .patch_config(&id, json!({"client_id": "public-app"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_status"], "NOT_AUTHORIZED");
}

#[tokio::test]
async fn deleting_an_authorized_config_revokes_its_grant_at_the_provider() {
    let setup = Setup::start(OidcOptions::default()).await;
    for (revocation_path, revoked) in [("/token/revocation", 1), ("/no-such-endpoint", 0)] {
        let id = setup.auth_code_config().await;
        let (status, body) = setup
            .patch_config(
                &id,
                json!({"revocation_url": format!("{}{revocation_path}", setup.provider.issuer)}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        setup.authorize_fully(&id).await;
        let before = setup.provider.stats().await.revocations;
        // A revocation that fails never blocks the delete.
        let (status, _) = setup.stack.delete(&format!("/auth_configs/{id}")).await;
        assert_eq!(status, 204);
        assert_eq!(
            setup.provider.stats().await.revocations - before,
            revoked,
            "{revocation_path}"
        );
    }
    // The endpoint receives the refresh token and client credentials: only on the token origin.
    let id = setup.auth_code_config().await;
    let (status, problem) = setup
        .patch_config(
            &id,
            json!({"revocation_url": "https://elsewhere.example.com/revoke"}),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "revocation_url");
}

/// A change that voids an authorized config's tokens revokes its refresh token at the provider
/// once the change is written, exactly once; a change refused first revokes nothing.
#[tokio::test]
async fn a_change_that_voids_tokens_revokes_them_once_written() {
    let setup = Setup::start(OidcOptions::default()).await;
    let id = setup.auth_code_config().await;
    let revocation =
        json!({"revocation_url": format!("{}/token/revocation", setup.provider.issuer)});
    let (status, body) = setup.patch_config(&id, revocation).await;
    assert_eq!(status, 200, "{body}");
    setup.authorize_fully(&id).await;
    let before = setup.provider.stats().await.revocations;
    // Refused (the client secret does not follow a token endpoint elsewhere): nothing revoked.
    let (status, problem) = setup
        .patch_config(&id, json!({"token_url": "http://localhost:9/token"}))
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(setup.provider.stats().await.revocations, before);
    let (status, body) = setup
        .patch_config(&id, json!({"scopes": ["openid"], "client_id": "web-app-2"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_status"], "NOT_AUTHORIZED");
    assert_eq!(setup.provider.stats().await.revocations, before + 1);
}

/// A public client has no secret to give again, so its endpoints move without one: the refresh
/// token it held is revoked where it was obtained, and nothing — no refresh token, no code, no
/// request at all — reaches the new endpoints, which can only start a new authorization.
#[tokio::test]
async fn a_public_clients_endpoints_moved_without_a_secret_take_no_token_along() {
    let setup = Setup::start(OidcOptions::default()).await;
    let issuer = &setup.provider.issuer;
    let (status, body) = setup
        .stack
        .post(
            "/auth_configs",
            json!({"name": "public", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": setup.provider.authorization_endpoint(),
                   "token_url": setup.provider.token_endpoint(),
                   "revocation_url": format!("{issuer}/token/revocation"),
                   "client_id": "public-app", "allowed_redirect_uris": [REDIRECT_URI],
                   "scopes": ["openid", "offline_access"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    setup.authorize_fully(&id).await;
    let before = setup.provider.stats().await.revocations;
    let elsewhere = e2e::capture::start().await;
    let (status, moved) = setup
        .patch_config(
            &id,
            json!({"authorization_url": format!("{}/authorize", elsewhere.base),
                   "token_url": format!("{}/token", elsewhere.base),
                   "revocation_url": format!("{}/revoke", elsewhere.base)}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["token_status"], "NOT_AUTHORIZED");
    assert_eq!(setup.provider.stats().await.revocations, before + 1);
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[tokio::test]
async fn pkce_is_optional_for_a_confidential_client_as_documented() {
    let setup = Setup::start(OidcOptions::default().with_optional_pkce()).await;
    let id = setup.auth_code_config().await;
    let (status, body) = setup.patch_config(&id, json!({"use_pkce": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["use_pkce"], false);
    let started = setup.authorize(&id).await;
    let url = url::Url::parse(started["authorization_url"].as_str().unwrap()).unwrap();
    assert!(
        !url.query_pairs()
            .any(|(k, _)| k.starts_with("code_challenge")),
        "{url}"
    );
    let landed = oidc::login(url.as_str(), REDIRECT_URI).await;
    let (status, config) = setup.callback(landed.query().unwrap()).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["token_status"], "VALID");
}

#[tokio::test]
async fn rejected_callbacks_make_no_token_request() {
    let setup = Setup::start(OidcOptions::default()).await;
    let id = setup.auth_code_config().await;
    let requests = || async { setup.provider.stats().await.token_requests };
    let start = requests().await;

    // A redirect URI outside the allowlist.
    let (status, body) = setup
        .call(
            reqwest::Method::POST,
            &format!(
                "/oauth/{id}/authorize?redirect_uri={}",
                urlencode("http://127.0.0.1/callback/other")
            ),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "redirect_uri");

    // An unknown state.
    let (status, body) = setup.callback("code=abc&state=not-a-state").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "state");

    // A state started by another user of the same tenant.
    let started = setup.authorize(&id).await;
    let landed = oidc::login(started["authorization_url"].as_str().unwrap(), REDIRECT_URI).await;
    let bob = shared::session::create(
        setup.stack.state.store.as_ref(),
        &shared::clock::SystemClock,
        &Principal::admin("acme", "bob"),
        shared::session::CredentialKind::Session,
        time::Duration::hours(1),
    )
    .await
    .unwrap();
    let (status, body) = setup
        .call_as(
            bob.expose_secret(),
            reqwest::Method::GET,
            &format!("/oauth/callback?{}", landed.query().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("another user"),
        "{body}"
    );

    // An expired state (its ten minutes have passed).
    let state_value = started["state"].as_str().unwrap();
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(state_value.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let store = &setup.stack.state.store;
    let item = store
        .get(&format!("STATE#{hash}"), "STATE")
        .await
        .unwrap()
        .expect("the state is stored under its hash");
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    store
        .write(TxOp::Update {
            expected_version: item.version,
            item: item.clone().expiring_at(past),
        })
        .await
        .unwrap();
    let (status, body) = setup.callback(landed.query().unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "state");

    // The user declined: the state is consumed and the error code reported; the server's own
    // error_description is not echoed.
    let started = setup.authorize(&id).await;
    let state_value = started["state"].as_str().unwrap();
    let (status, body) = setup
        .callback(&format!(
            "error=access_denied&error_description={}&state={state_value}",
            urlencode("no <script>\u{1b}[31m")
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("access_denied"), "{body}");
    assert!(!message.contains('\u{1b}'), "{body}");
    assert!(!body.to_string().contains("script"), "{body}");
    let (status, _) = setup
        .callback(&format!("code=whatever&state={state_value}"))
        .await;
    assert_eq!(status, 400, "a declined state cannot be used again");

    assert_eq!(
        requests().await,
        start,
        "no rejected callback reached the token endpoint"
    );
}

#[tokio::test]
async fn client_credentials_work_with_basic_and_post_client_authentication() {
    let setup = Setup::start(OidcOptions::default()).await;
    for (client_id, secret, method) in [
        ("cc-basic", "s3cr:t%+ &=x", "client_secret_basic"),
        ("cc-post", "post-secret", "client_secret_post"),
    ] {
        let server = json!({
            "name": format!("cc {method}"),
            "url": setup.resource(),
            "auth_config": {
                "name": format!("cc {method}"),
                "auth_type": "CLIENT_CREDENTIALS",
                "token_url": setup.provider.token_endpoint(),
                "client_id": client_id,
                "client_secret": secret,
                "token_endpoint_auth_method": method,
                "scopes": ["mcp:tools"],
                "resource": setup.resource(),
            },
        });
        let (status, body) = setup.stack.post("/config/mcp-server", server).await;
        assert_eq!(status, 201, "{method}: {body}");
        assert_eq!(body["connection_test_result"]["status"], "SUCCESS");
    }
    let stats = setup.provider.stats().await;
    assert_eq!(stats.by_grant.get("client_credentials").copied(), Some(2));
}

#[tokio::test]
async fn concurrent_refreshes_make_one_token_request_under_rotation() {
    let setup = Setup::start(OidcOptions::default().rotating()).await;
    let id = setup.auth_code_config().await;
    setup.authorize_fully(&id).await;
    let old = setup.credentials(&id).await.unwrap().headers["authorization"].clone();
    setup.expire_token_in(&id, 60).await;
    let before = setup.provider.stats().await;

    let calls = (0..20).map(|_| setup.credentials(&id));
    let results = futures_util::future::join_all(calls).await;
    let tokens: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every caller gets a token").headers["authorization"].clone())
        .collect();
    let after = setup.provider.stats().await;
    assert_eq!(
        after.by_grant.get("refresh_token").copied().unwrap_or(0)
            - before.by_grant.get("refresh_token").copied().unwrap_or(0),
        1,
        "exactly one refresh request"
    );
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "all callers share the new token"
    );
    assert_ne!(tokens[0], old);

    // The rotated refresh token works for the next refresh (the family is intact).
    setup.expire_token_in(&id, 60).await;
    let next = setup.credentials(&id).await.unwrap().headers["authorization"].clone();
    assert_ne!(next, tokens[0]);
    let (status, shown) = setup.stack.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["token_status"], "VALID", "{shown}");
    assert!(shown["last_refresh_at"].is_string(), "{shown}");
}

#[tokio::test]
async fn a_revoked_grant_requires_reauthorization() {
    let setup = Setup::start(OidcOptions::default()).await;
    let id = setup.auth_code_config().await;
    setup.authorize_fully(&id).await;
    setup.provider.revoke_all().await;
    setup.expire_token_in(&id, -1).await;
    let error = setup.credentials(&id).await.expect_err("no token");
    assert!(
        matches!(error, credentials::CredentialError::ReauthorizationRequired),
        "{error:?}"
    );
    let (status, shown) = setup.stack.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["token_status"], "REAUTHORIZATION_REQUIRED", "{shown}");
    assert!(
        shown["last_refresh_error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );

    // Authorizing again restores it.
    let body = setup.authorize_fully(&id).await;
    assert_eq!(body["token_status"], "VALID");
}

use shared::testing::{readme_walkthrough, run_script as run_bash};

#[tokio::test]
async fn the_readme_oauth_walkthrough_runs_verbatim() {
    let setup = Setup::start(OidcOptions::default()).await;
    let base = [
        ("API", setup.stack.api.as_str()),
        ("SESSION", setup.stack.session.as_str()),
        ("AS", setup.provider.issuer.as_str()),
    ];
    let started = run_bash(&readme_walkthrough("oauth-start"), &base).await;
    let auth_id = started
        .lines()
        .find_map(|line| line.strip_prefix("AUTH_ID="))
        .expect("the walkthrough prints AUTH_ID")
        .to_owned();
    let authorization_url = started
        .lines()
        .find(|line| line.starts_with("http"))
        .expect("the walkthrough prints the authorization URL");
    let landed = oidc::login(authorization_url, REDIRECT_URI).await;
    let query = landed.query().unwrap().to_owned();
    let mut env = base.to_vec();
    env.push(("CALLBACK_QUERY", &query));
    env.push(("AUTH_ID", &auth_id));
    let finished = run_bash(&readme_walkthrough("oauth-finish"), &env).await;
    let lines: Vec<_> = finished.lines().collect();
    assert_eq!(lines[0], "VALID", "{finished}");
    assert!(lines[1].contains('T'), "an RFC 3339 expiry: {finished}");
    assert!(lines[2].contains("already used"), "{finished}");
}

#[tokio::test]
async fn a_failing_token_endpoint_keeps_the_tokens_and_records_the_error() {
    let setup = Setup::start(OidcOptions::default()).await;
    let id = setup.auth_code_config().await;
    setup.authorize_fully(&id).await;
    let old = setup.credentials(&id).await.unwrap().headers["authorization"].clone();
    // Due, but still valid for a minute: a 503 from the token endpoint keeps the old token.
    setup.expire_token_in(&id, 60).await;
    setup.provider.fail_token_requests(1).await;
    let kept = setup
        .credentials(&id)
        .await
        .expect("the old token is still usable");
    assert_eq!(kept.headers["authorization"], old);
    let (status, shown) = setup.stack.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["token_status"], "VALID", "{shown}");
    let error = shown["last_refresh_error"].as_str().unwrap();
    assert!(
        error.contains("temporarily_unavailable") || error.contains("503"),
        "{shown}"
    );
    assert!(shown["next_refresh_at"].is_string(), "backed off: {shown}");
    // Backing off: the next use does not hammer the token endpoint.
    let before = setup.provider.stats().await.token_requests;
    setup.credentials(&id).await.unwrap();
    assert_eq!(setup.provider.stats().await.token_requests, before);
}

#[tokio::test]
async fn a_key_this_service_holds_authenticates_the_client_with_private_key_jwt() {
    let setup = Setup::start(OidcOptions::default().with_registration()).await;
    // The config first: its key is created with it, and published.
    let (status, created) = setup
        .stack
        .post(
            "/auth_configs",
            json!({"name": "m2m with a held key", "auth_type": "CLIENT_CREDENTIALS",
                   "token_url": setup.provider.token_endpoint(), "client_id": "not-yet",
                   "token_endpoint_auth_method": "private_key_jwt",
                   "scopes": ["mcp:tools"], "resource": setup.resource()}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let assertion = &created["client_assertion"];
    assert_eq!(assertion["public_jwk"]["kty"], "EC", "{created}");
    assert!(created.get("client_secret").is_none() && created.get("private_key").is_none());
    let jwk = assertion["public_jwk"].as_object().unwrap();
    assert!(
        !jwk.contains_key("d"),
        "no private part is ever shown: {created}"
    );

    // The JWKS is public: the authorization server reads it without any credential.
    let origin = setup.stack.api.trim_end_matches("/ai/api/v1").to_owned();
    let jwks_url = format!("{origin}{}", assertion["jwks_path"].as_str().unwrap());
    let jwks: Value = reqwest::get(&jwks_url).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0], assertion["public_jwk"], "{jwks}");

    // The operator registers the client with that key at the authorization server.
    let registered: Value = reqwest::Client::new()
        .post(format!("{}/reg", setup.provider.issuer))
        .json(
            &json!({"grant_types": ["client_credentials"], "response_types": [],
                      "redirect_uris": [], "token_endpoint_auth_method": "private_key_jwt",
                      "token_endpoint_auth_signing_alg": "ES256", "jwks": jwks,
                      "scope": "mcp:tools"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"));
    let (status, patched) = setup
        .patch_config(&id, json!({"client_id": client_id}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["client_assertion"]["kid"], assertion["kid"],
        "a new client id at the same server keeps the key"
    );

    // The connection test gets a token with the assertion alone: no secret exists.
    let (status, server) = setup
        .stack
        .post(
            "/config/mcp-server",
            json!({"name": "held key", "url": setup.resource(), "auth_config_id": id}),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    assert_eq!(
        server["connection_test_result"]["status"], "SUCCESS",
        "{server}"
    );
    let log = setup.provider.token_log().await;
    let last = log.last().unwrap();
    assert_eq!(
        (
            last.client_id.as_deref(),
            last.client_auth.as_str(),
            last.status
        ),
        (Some(client_id), "client_assertion", 200),
        "{log:?}"
    );

    // Pointing the token endpoint at another origin replaces the key: what the old key signs
    // for never goes there.
    let (status, _) = setup
        .stack
        .delete(&format!(
            "/config/mcp-server/{}",
            server["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 204);
    let (status, moved) = setup
        .patch_config(&id, json!({"token_url": "http://127.0.0.2:9/token"}))
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_ne!(
        moved["client_assertion"]["kid"], assertion["kid"],
        "{moved}"
    );
    assert_eq!(reqwest::get(&jwks_url).await.unwrap().status(), 404);

    // Deleting the config unpublishes its key.
    let new_jwks = format!(
        "{origin}{}",
        moved["client_assertion"]["jwks_path"].as_str().unwrap()
    );
    assert_eq!(reqwest::get(&new_jwks).await.unwrap().status(), 200);
    let (status, _) = setup.stack.delete(&format!("/auth_configs/{id}")).await;
    assert_eq!(status, 204);
    assert_eq!(reqwest::get(&new_jwks).await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_readme_private_key_jwt_walkthrough_runs_verbatim() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let env = [
        ("API", stack.api.as_str()),
        ("SESSION", stack.session.as_str()),
    ];
    let printed = run_bash(&readme_walkthrough("private-key-jwt"), &env).await;
    assert_eq!(printed.trim(), "EC", "{printed}");
}
