//! A real OAuth 2.0 authorization server for the tests: npm `oidc-provider@9` (installed into
//! `.deps/` by `infra/scripts/test-deps.sh`) run by `servers/oidc_provider.mjs` on a free loopback
//! port, with an in-memory store, browserless login and consent, and test endpoints to count,
//! revoke and fail token requests.
//!
//! Its clients: `cc-basic` (client credentials, `client_secret_basic`, secret [`CC_BASIC_SECRET`]),
//! `cc-post` (client credentials, `client_secret_post`, `post-secret`), `web-app` (authorization
//! code + refresh token, `client_secret_post`, `web-secret`) and `public-app` (the same grants,
//! no secret). Both authorization-code clients accept exactly the redirect URIs
//! `http://127.0.0.1/callback` and `https://app.example.com/oauth/callback`. PKCE (S256) is
//! required; a `resource` parameter yields a JWT access token with `aud` = resource and scope
//! `mcp:tools`; refresh tokens are always issued to authorization-code clients. Everything signs in
//! as account `e2e-user`. Unlike stock oidc-provider, which takes `client_secret_basic` and
//! `client_secret_post` interchangeably, each client must use its registered method (401
//! `invalid_client` otherwise).

use std::{collections::BTreeMap, time::Duration};

use serde::Deserialize;
use tokio::process::Command;

use crate::servers::{ServerProcess, repo_root, require, spawn};

/// The secret of client `cc-basic`: reserved characters on purpose, so HTTP Basic must
/// form-urlencode it before base64 (RFC 6749 §2.3.1).
pub const CC_BASIC_SECRET: &str = "s3cr:t%+ &=x";

/// How the authorization server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcOptions {
    /// Lifetime of access tokens, in seconds.
    pub access_ttl: u64,
    /// Refresh-token rotation: every refresh returns a new refresh token and consumes the old one;
    /// replaying a consumed one revokes the whole grant (all its tokens).
    pub rotate: bool,
    /// Path of the authorization endpoint (default `/auth`).
    pub authorization_path: &'static str,
    /// Path of the token endpoint (default `/token`).
    pub token_path: &'static str,
    /// The resource (RFC 8707) a token is for when the request names none: such tokens become
    /// JWTs with this `aud`, as for a provider set up for one API. Without it they are opaque.
    pub default_resource: Option<String>,
    /// The scope an authorization request that names none asks for, as a provider's default
    /// scopes (oidc-provider alone denies a request for no scope).
    pub default_scope: Option<&'static str>,
    /// PKCE only when a request uses it (the default requires it of every request).
    pub pkce_optional: bool,
    /// Open dynamic client registration (RFC 7591) at `/reg`.
    pub registration: bool,
    /// A sign-in page for a real browser instead of the browserless login: any login with
    /// password [`LOGIN_PASSWORD`] signs in as the account of that name.
    pub login_form: bool,
    /// Redirect URIs `web-app` and `public-app` accept beyond the built-in ones.
    pub redirect_uris: Vec<String>,
    /// Claims added to every JWT access token (a JSON object), as a provider set up to name
    /// the tenant or role does.
    pub token_claims: Option<serde_json::Value>,
}

/// The password of every account behind [`OidcOptions::login_form`].
pub const LOGIN_PASSWORD: &str = "e2e-password";

impl Default for OidcOptions {
    fn default() -> Self {
        Self {
            access_ttl: 3600,
            rotate: false,
            authorization_path: "/auth",
            token_path: "/token",
            default_resource: None,
            default_scope: None,
            pkce_optional: false,
            registration: false,
            login_form: false,
            redirect_uris: Vec::new(),
            token_claims: None,
        }
    }
}

impl OidcOptions {
    /// The same with refresh-token rotation on.
    pub fn rotating(self) -> Self {
        Self {
            rotate: true,
            ..self
        }
    }

    /// The same with access tokens that live `seconds`.
    pub fn with_access_ttl(self, seconds: u64) -> Self {
        Self {
            access_ttl: seconds,
            ..self
        }
    }

    /// The same with dynamic client registration open.
    pub fn with_registration(self) -> Self {
        Self {
            registration: true,
            ..self
        }
    }

    /// The same with a sign-in page for a real browser, and `redirect_uri` accepted.
    pub fn with_login_form(self, redirect_uri: &str) -> Self {
        let mut redirect_uris = self.redirect_uris;
        redirect_uris.push(redirect_uri.to_owned());
        Self {
            login_form: true,
            redirect_uris,
            ..self
        }
    }

    /// The same with `claims` added to every JWT access token.
    pub fn with_token_claims(self, claims: serde_json::Value) -> Self {
        Self {
            token_claims: Some(claims),
            ..self
        }
    }

    /// The same with PKCE optional.
    pub fn with_optional_pkce(self) -> Self {
        Self {
            pkce_optional: true,
            ..self
        }
    }
}

/// The client every instance also registers: `docs-client`, secret [`DOCS_CLIENT_SECRET`],
/// `client_secret_basic`, grants authorization code, refresh token and client credentials, and
/// the redirect URI of the product documentation's examples, [`DOCS_REDIRECT_URI`].
pub const DOCS_CLIENT_ID: &str = "docs-client";
/// The secret of [`DOCS_CLIENT_ID`].
pub const DOCS_CLIENT_SECRET: &str = "docs-secret";
/// The redirect URI [`DOCS_CLIENT_ID`] accepts.
pub const DOCS_REDIRECT_URI: &str = "https://your-redirect-uri.com/callback";

/// A running authorization server, killed when dropped.
pub struct OidcProvider {
    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash); also the base of every endpoint.
    pub issuer: String,
    authorization_path: &'static str,
    token_path: &'static str,
    _process: ServerProcess,
}

/// What the token endpoint has seen, from `GET /_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Stats {
    /// Every POST to the token endpoint, whatever it was answered (injected 503s included).
    pub token_requests: u64,
    /// The same requests by `grant_type`; `authorization_code`, `refresh_token` and
    /// `client_credentials` are always present.
    pub by_grant: BTreeMap<String, u64>,
    /// `refresh_token` requests the provider refused (e.g. `invalid_grant`); injected 503s are not
    /// counted here.
    pub refresh_failures: u64,
    /// Requests answered with a 503 by [`OidcProvider::fail_token_requests`].
    pub injected_failures: u64,
    /// Revocation requests (RFC 7009, `/token/revocation`) the provider accepted.
    #[serde(default)]
    pub revocations: u64,
}

/// One token request, from `GET /_token_log`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenRequest {
    /// The `grant_type` parameter, if any.
    pub grant_type: Option<String>,
    /// The client id, from HTTP Basic or the `client_id` parameter.
    pub client_id: Option<String>,
    /// How the client authenticated: `client_secret_basic`, `client_secret_post`,
    /// `client_assertion` or `none`.
    pub client_auth: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The OAuth `error` of a refused request.
    pub error: Option<String>,
}

/// Starts the authorization server on a free loopback port; returns once it accepts connections.
pub async fn start(options: OidcOptions) -> OidcProvider {
    require(repo_root().join(".deps/node/node_modules/oidc-provider/package.json"));
    let port = shared::testing::child_port();
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("tests/servers/oidc_provider.mjs"))
        .args([
            "--port",
            &port.to_string(),
            "--access-ttl",
            &options.access_ttl.to_string(),
            "--authorization-path",
            options.authorization_path,
            "--token-path",
            options.token_path,
        ]);
    if options.rotate {
        command.arg("--rotate");
    }
    if let Some(resource) = &options.default_resource {
        command.args(["--default-resource", resource]);
    }
    if options.pkce_optional {
        command.arg("--pkce-optional");
    }
    if let Some(scope) = options.default_scope {
        command.args(["--default-scope", scope]);
    }
    if options.registration {
        command.arg("--registration");
    }
    if options.login_form {
        command.arg("--login-form");
    }
    for uri in &options.redirect_uris {
        command.args(["--redirect-uri", uri]);
    }
    if let Some(claims) = &options.token_claims {
        command.args(["--token-claims", &claims.to_string()]);
    }
    let process = spawn(command, port).await;
    OidcProvider {
        issuer: process.base.clone(),
        authorization_path: options.authorization_path,
        token_path: options.token_path,
        _process: process,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

impl OidcProvider {
    /// The authorization endpoint, `<issuer>/auth` unless configured otherwise.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}{}", self.issuer, self.authorization_path)
    }

    /// The token endpoint, `<issuer>/token` unless configured otherwise.
    pub fn token_endpoint(&self) -> String {
        format!("{}{}", self.issuer, self.token_path)
    }

    /// The signing keys, `<issuer>/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The token endpoint's counters so far.
    pub async fn stats(&self) -> Stats {
        let response = client()
            .get(format!("{}/_stats", self.issuer))
            .send()
            .await
            .expect("GET /_stats");
        assert!(response.status().is_success(), "GET /_stats: {response:?}");
        response.json().await.expect("the stats as JSON")
    }

    /// Every token request so far, oldest first.
    pub async fn token_log(&self) -> Vec<TokenRequest> {
        let response = client()
            .get(format!("{}/_token_log", self.issuer))
            .send()
            .await
            .expect("GET /_token_log");
        assert!(
            response.status().is_success(),
            "GET /_token_log: {response:?}"
        );
        response.json().await.expect("the token log as JSON")
    }

    /// Revokes every grant of the test account, with every token issued from it: the next
    /// refresh answers `invalid_grant`. (JWT access tokens already issued stay verifiable until
    /// they expire: resource servers check them offline.)
    pub async fn revoke_all(&self) {
        self.post(&format!("{}/_revoke_all", self.issuer)).await;
    }

    /// Makes the next `n` token requests answer HTTP 503 with
    /// `{"error": "temporarily_unavailable", ...}`, without reaching the provider.
    pub async fn fail_token_requests(&self, n: u32) {
        self.post(&format!("{}/_fail_token/{n}", self.issuer)).await;
    }

    async fn post(&self, url: &str) {
        let response = client()
            .post(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert!(response.status().is_success(), "POST {url}: {response:?}");
    }
}

/// Plays the browser: follows `authorization_url` through the provider's login and consent (a
/// cookie jar carries its session) and stops at the first redirect to `redirect_uri`, which it does
/// not request. Returns that redirect's URL, with `code`, `state` and `iss` (or `error`) in its
/// query. Panics if the provider answers anything else.
pub async fn login(authorization_url: &str, redirect_uri: &str) -> url::Url {
    let target = redirect_uri.to_owned();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().as_str().starts_with(&target) {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .expect("an HTTP client");
    let response = browser
        .get(authorization_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {authorization_url}: {e}"));
    let status = response.status();
    let base = response.url().clone();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) if status.is_redirection() => {
            let landed = base.join(&location).expect("a valid Location");
            assert!(
                landed.as_str().starts_with(redirect_uri),
                "the provider redirected to {landed}, not to {redirect_uri}"
            );
            landed
        }
        _ => {
            let body = response.text().await.unwrap_or_default();
            panic!(
                "the authorization ended at {base} with {status} instead of a redirect to {redirect_uri}: {body}"
            )
        }
    }
}
