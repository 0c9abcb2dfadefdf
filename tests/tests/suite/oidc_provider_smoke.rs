//! The test infrastructure itself, without the product: the authorization server (oidc-provider)
//! runs the authorization-code flow with PKCE browserlessly, issues JWT access tokens for a
//! resource, rotates refresh tokens and revokes the family on reuse, authenticates clients by HTTP
//! Basic and by POST, counts token requests exactly, revokes on demand and fails on demand; the
//! FastMCP server trusts exactly the tokens issued for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{
    oidc::{self, CC_BASIC_SECRET, OidcOptions, OidcProvider},
    servers::{self},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The form of a client-credentials request by the `cc-post` client (`client_secret_post`).
const CC_POST: [(&str, &str); 3] = [
    ("grant_type", "client_credentials"),
    ("client_id", "cc-post"),
    ("client_secret", "post-secret"),
];

const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const SCOPE: &str = "openid offline_access mcp:tools";
const RESOURCE: &str = "http://127.0.0.1:9/mcp";

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(e2e::unique_name("pkce").as_bytes()));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorization_url(
    provider: &OidcProvider,
    client_id: &str,
    challenge: &str,
    resource: &str,
) -> url::Url {
    url::Url::parse_with_params(
        &provider.authorization_endpoint(),
        [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", SCOPE),
            ("state", "state-123"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", resource),
        ],
    )
    .unwrap()
}

/// HTTP Basic client authentication as RFC 6749 §2.3.1 says: of the form-urlencoded id and secret.
fn basic(id: &str, secret: &str) -> String {
    let credentials = format!("{}:{}", form_encode(id), form_encode(secret));
    format!("Basic {}", STANDARD.encode(credentials))
}

/// POSTs `form` to the token endpoint, with `authorization` as the header of that name if given.
async fn token_request(
    provider: &OidcProvider,
    form: &[(&str, &str)],
    authorization: Option<String>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(provider.token_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        );
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Logs in as `web-app` for `resource` and redeems the code; returns the token response.
async fn authorize_web_app(provider: &OidcProvider, resource: &str) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorization_url(provider, "web-app", &challenge, resource);
    let landed = oidc::login(url.as_str(), REDIRECT_URI).await;
    let query: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "state-123");
    assert_eq!(query["iss"], provider.issuer);
    let (status, body) = token_request(
        provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
            ("client_id", "web-app"),
            ("client_secret", "web-secret"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(provider: &OidcProvider, refresh_token: &str) -> (u16, Value) {
    token_request(
        provider,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "web-app"),
            ("client_secret", "web-secret"),
        ],
        None,
    )
    .await
}

/// The claims of a JWT (unverified).
fn jwt_claims(token: &str) -> Value {
    let parts: Vec<_> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

fn string<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test]
async fn the_code_flow_with_pkce_yields_a_jwt_for_the_resource_and_a_refresh_token() {
    let provider = oidc::start(OidcOptions::default().with_access_ttl(120)).await;
    let tokens = authorize_web_app(&provider, RESOURCE).await;
    let claims = jwt_claims(string(&tokens, "access_token"));
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["iss"], provider.issuer);
    assert_eq!(claims["sub"], "e2e-user");
    assert_eq!(claims["scope"], "mcp:tools");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 120);
    let refresh_token = string(&tokens, "refresh_token");

    // Without rotation the refresh token stays and can be used again; the resource is kept.
    for _ in 0..2 {
        let (status, body) = refresh(&provider, refresh_token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["refresh_token"], refresh_token);
        assert_eq!(jwt_claims(string(&body, "access_token"))["aud"], RESOURCE);
    }

    // The signing keys are published where the FastMCP server looks for them.
    let jwks: Value = reqwest::get(provider.jwks_uri())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA", "{jwks}");
    let discovery: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        provider.issuer
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        discovery["authorization_endpoint"],
        provider.authorization_endpoint()
    );
    assert_eq!(discovery["token_endpoint"], provider.token_endpoint());
    assert_eq!(discovery["jwks_uri"], provider.jwks_uri());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
}

#[tokio::test]
async fn the_public_client_needs_the_right_verifier_and_no_secret() {
    let provider = oidc::start(OidcOptions::default()).await;
    for (right_verifier, expected) in [(false, 400), (true, 200)] {
        let (verifier, challenge) = pkce();
        let url = authorization_url(&provider, "public-app", &challenge, RESOURCE);
        let landed = oidc::login(url.as_str(), REDIRECT_URI).await;
        let code = landed
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let sent = if right_verifier { verifier } else { pkce().0 };
        let (status, body) = token_request(
            &provider,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &sent),
                ("client_id", "public-app"),
            ],
            None,
        )
        .await;
        assert_eq!(status, expected, "{body}");
        if right_verifier {
            assert!(body["refresh_token"].is_string(), "{body}");
        } else {
            assert_eq!(body["error"], "invalid_grant");
        }
    }

    // No challenge at all is refused at the authorization endpoint (reported to the client).
    let mut url = authorization_url(&provider, "public-app", "x", RESOURCE);
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let landed = oidc::login(url.as_str(), REDIRECT_URI).await;
    assert!(
        landed
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "invalid_request"),
        "{landed}"
    );
}

#[tokio::test]
async fn with_rotation_a_replayed_refresh_token_revokes_the_whole_family() {
    let provider = oidc::start(OidcOptions::default().rotating()).await;
    let tokens = authorize_web_app(&provider, RESOURCE).await;
    let first = string(&tokens, "refresh_token").to_owned();

    let (status, body) = refresh(&provider, &first).await;
    assert_eq!(status, 200, "{body}");
    let second = string(&body, "refresh_token").to_owned();
    assert_ne!(second, first, "rotated");
    assert_eq!(jwt_claims(string(&body, "access_token"))["aud"], RESOURCE);

    let (status, body) = refresh(&provider, &first).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // The reuse revoked the grant: the newest refresh token is dead too.
    let (status, body) = refresh(&provider, &second).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    let stats = provider.stats().await;
    assert_eq!(stats.by_grant["refresh_token"], 3);
    assert_eq!(stats.refresh_failures, 2);
}

#[tokio::test]
async fn client_credentials_work_with_basic_and_post_and_are_counted_exactly() {
    let provider = oidc::start(OidcOptions::default()).await;
    assert_eq!(
        provider.stats().await,
        oidc::Stats {
            by_grant: [
                ("authorization_code".to_owned(), 0),
                ("client_credentials".to_owned(), 0),
                ("refresh_token".to_owned(), 0),
            ]
            .into(),
            ..oidc::Stats::default()
        }
    );

    // HTTP Basic of the form-urlencoded id and secret.
    assert_eq!(form_encode(CC_BASIC_SECRET), "s3cr%3At%25%2B+%26%3Dx");
    let (status, body) = token_request(
        &provider,
        &[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("scope", "mcp:tools"),
        ],
        Some(basic("cc-basic", CC_BASIC_SECRET)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(string(&body, "access_token"));
    assert_eq!(
        (&claims["aud"], &claims["client_id"]),
        (&json!(RESOURCE), &json!("cc-basic"))
    );

    // The raw secret in Basic (not form-urlencoded) is refused.
    let raw = format!(
        "Basic {}",
        STANDARD.encode(format!("cc-basic:{CC_BASIC_SECRET}"))
    );
    let (status, body) = token_request(
        &provider,
        &[("grant_type", "client_credentials")],
        Some(raw),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "its `%` does not decode");

    // client_secret_post.
    let (status, body) = token_request(&provider, &CC_POST, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string(), "{body}");

    // Each client must use its registered method.
    let (status, body) = token_request(
        &provider,
        &[("grant_type", "client_credentials")],
        Some(basic("cc-post", "post-secret")),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = token_request(
        &provider,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "cc-basic"),
            ("client_secret", CC_BASIC_SECRET),
        ],
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // One code exchange, one good and one bad refresh.
    let tokens = authorize_web_app(&provider, RESOURCE).await;
    assert_eq!(
        refresh(&provider, string(&tokens, "refresh_token")).await.0,
        200
    );
    assert_eq!(refresh(&provider, "not-a-refresh-token").await.0, 400);

    let stats = provider.stats().await;
    assert_eq!(stats.token_requests, 8, "{stats:?}");
    assert_eq!(stats.by_grant["client_credentials"], 5, "{stats:?}");
    assert_eq!(stats.by_grant["authorization_code"], 1, "{stats:?}");
    assert_eq!(stats.by_grant["refresh_token"], 2, "{stats:?}");
    assert_eq!(stats.refresh_failures, 1, "{stats:?}");
    assert_eq!(stats.injected_failures, 0, "{stats:?}");

    let log = provider.token_log().await;
    let seen: Vec<_> = log
        .iter()
        .map(|r| {
            (
                r.client_id.as_deref().unwrap_or("-"),
                r.client_auth.as_str(),
                r.status,
                r.error.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("cc-basic", "client_secret_basic", 200, "-"),
            ("cc-basic", "client_secret_basic", 400, "invalid_request"),
            ("cc-post", "client_secret_post", 200, "-"),
            ("cc-post", "client_secret_basic", 401, "invalid_client"),
            ("cc-basic", "client_secret_post", 401, "invalid_client"),
            ("web-app", "client_secret_post", 200, "-"),
            ("web-app", "client_secret_post", 200, "-"),
            ("web-app", "client_secret_post", 400, "invalid_grant"),
        ]
    );
    assert_eq!(log[5].grant_type.as_deref(), Some("authorization_code"));
}

#[tokio::test]
async fn revoking_all_grants_makes_the_next_refresh_fail() {
    let provider = oidc::start(OidcOptions::default()).await;
    let tokens = authorize_web_app(&provider, RESOURCE).await;
    let refresh_token = string(&tokens, "refresh_token");
    assert_eq!(refresh(&provider, refresh_token).await.0, 200);

    provider.revoke_all().await;
    let (status, body) = refresh(&provider, refresh_token).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // Logging in again grants again.
    let tokens = authorize_web_app(&provider, RESOURCE).await;
    assert_eq!(
        refresh(&provider, string(&tokens, "refresh_token")).await.0,
        200
    );
}

#[tokio::test]
async fn failing_token_requests_answer_503_the_requested_number_of_times() {
    let provider = oidc::start(OidcOptions::default()).await;
    let form = CC_POST;
    provider.fail_token_requests(1).await;
    let (status, body) = token_request(&provider, &form, None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, body) = token_request(&provider, &form, None).await;
    assert_eq!(status, 200, "{body}");

    provider.fail_token_requests(2).await;
    assert_eq!(token_request(&provider, &form, None).await.0, 503);
    assert_eq!(token_request(&provider, &form, None).await.0, 503);
    assert_eq!(token_request(&provider, &form, None).await.0, 200);

    let stats = provider.stats().await;
    assert_eq!(stats.token_requests, 5);
    assert_eq!(stats.by_grant["client_credentials"], 5);
    assert_eq!(stats.injected_failures, 3);
}

async fn initialize(mcp: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(mcp)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "e2e", "version": "1"},
            },
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn fastmcp_accepts_only_tokens_issued_for_its_own_endpoint() {
    let provider = oidc::start(OidcOptions::default()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let endpoint = mcp.mcp_url();

    let response = initialize(&endpoint, None).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        mcp.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(metadata["resource"], endpoint);
    assert_eq!(metadata["authorization_servers"], json!([provider.issuer]));

    let tokens = authorize_web_app(&provider, &endpoint).await;
    let response = initialize(&endpoint, Some(string(&tokens, "access_token"))).await;
    assert_eq!(response.status(), 200);

    // A token for another resource is refused.
    let other = authorize_web_app(&provider, RESOURCE).await;
    let response = initialize(&endpoint, Some(string(&other, "access_token"))).await;
    assert_eq!(response.status(), 401);

    // So is a token without a resource (opaque); a client-credentials token for it works.
    let (_, opaque) = token_request(&provider, &CC_POST, None).await;
    let response = initialize(&endpoint, Some(string(&opaque, "access_token"))).await;
    assert_eq!(response.status(), 401);
    let (_, machine) = token_request(
        &provider,
        &[
            ("grant_type", "client_credentials"),
            ("resource", &endpoint),
            ("scope", "mcp:tools"),
        ],
        Some(basic("cc-basic", CC_BASIC_SECRET)),
    )
    .await;
    let response = initialize(&endpoint, Some(string(&machine, "access_token"))).await;
    assert_eq!(response.status(), 200);
}
