//! OAuth 2.0 client protocol (RFC 6749, RFC 7636, RFC 8707) on the `oauth2` crate, with every
//! request sent through the guarded client ([`crate::net`]) and never following redirects:
//! authorization URLs with PKCE S256 and `state`, the authorization-code, refresh-token and
//! client-credentials grants (`client_secret_basic` with id and secret form-urlencoded before
//! base64, `client_secret_post`, or a public client), and strict token response parsing — an
//! `error` member fails even with HTTP 200, `access_token` and a Bearer `token_type` are required,
//! `expires_in` is defaulted when missing and clamped when out of range, bodies are capped at
//! 1 MiB and never echoed into errors.

pub mod discovery;
mod transport;

use std::{borrow::Cow, time::Duration};

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponse, BasicTokenResponse, BasicTokenType},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::net::{HttpClient, NetError};

/// Largest token response accepted.
pub const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;
/// `expires_in` assumed when the server omits it (conservative: the token is renewed early).
pub const DEFAULT_EXPIRES_IN: u64 = 300;
/// Longest lifetime believed.
pub const MAX_EXPIRES_IN: u64 = 24 * 3600;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with form-urlencoded id and secret (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Post,
    /// Public client: `client_id` in the body, no secret (`none`).
    None,
    /// `client_id` and a signed JWT in the body (`private_key_jwt`, RFC 7523 §2.2): the
    /// [`OAuthClient::client_assertion`].
    PrivateKeyJwt,
}

/// The client as registered at the authorization server.
#[derive(Debug, Clone, Copy)]
pub struct OAuthClient<'a> {
    /// Token endpoint.
    pub token_url: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Client secret (absent for public clients).
    pub client_secret: Option<&'a SecretString>,
    /// Client authentication method.
    pub auth: ClientAuth,
    /// The client assertion, for [`ClientAuth::PrivateKeyJwt`] (one per request: single-use).
    pub client_assertion: Option<&'a SecretString>,
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Optional parameters of a token request.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenParams<'a> {
    /// Scopes to request (client credentials).
    pub scopes: &'a [String],
    /// `audience` parameter.
    pub audience: Option<&'a str>,
    /// RFC 8707 `resource` parameter.
    pub resource: Option<&'a str>,
}

/// Tokens from a token endpoint.
pub struct TokenSet {
    /// The bearer token.
    pub access_token: SecretString,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<SecretString>,
    /// Lifetime in seconds (defaulted and clamped).
    pub expires_in: u64,
    /// Scopes granted, when the server says (RFC 6749 §5.1).
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The endpoint could not be reached.
    #[error("token endpoint unreachable: {0}")]
    Net(#[from] NetError),
    /// The endpoint answered with an OAuth error code (e.g. `invalid_grant`).
    #[error("the token endpoint refused the request: {code}")]
    Refused {
        /// The registered error code (RFC 6749 §5.2), reduced to safe characters.
        code: String,
        /// The HTTP status it came with.
        status: u16,
        /// `Retry-After` seconds, if given.
        retry_after: Option<u64>,
    },
    /// The endpoint answered an HTTP error status without an OAuth error.
    #[error("the token endpoint answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// `Retry-After` seconds, if given.
        retry_after: Option<u64>,
    },
    /// The response is not a valid token response.
    #[error("the token response is invalid: {0}")]
    Invalid(&'static str),
}

impl TokenError {
    /// The grant (refresh token or code) is invalid, expired or revoked.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if code == "invalid_grant")
    }

    /// Worth retrying later: the network, a 5xx or 429, `temporarily_unavailable` or `server_error`.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Net(NetError::Blocked(_)) => false,
            Self::Net(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Refused { code, status, .. } => {
                *status >= 500
                    || *status == 429
                    || code == "temporarily_unavailable"
                    || code == "server_error"
            }
            Self::Invalid(_) => false,
        }
    }

    /// The server's `Retry-After`, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Refused { retry_after, .. } | Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A fresh `state` value: 256 random bits, URL-safe.
pub fn new_state() -> SecretString {
    SecretString::from(CsrfToken::new_random_len(32).into_secret())
}

/// A PKCE pair (RFC 7636, S256).
pub struct Pkce {
    /// The verifier, kept secret until the code is redeemed.
    pub verifier: SecretString,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorization URL.
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

/// A new PKCE S256 pair.
pub fn new_pkce() -> Pkce {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    Pkce {
        verifier: SecretString::from(verifier.into_secret()),
        challenge: challenge.as_str().to_owned(),
    }
}

/// What goes into an authorization request URL.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationRequest<'a> {
    /// The authorization endpoint.
    pub authorization_url: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Where the browser returns, exactly as registered.
    pub redirect_uri: &'a str,
    /// Scopes to request.
    pub scopes: &'a [String],
    /// The `state` value.
    pub state: &'a SecretString,
    /// The PKCE verifier, when PKCE is on (its S256 challenge is sent).
    pub pkce_verifier: Option<&'a SecretString>,
    /// RFC 8707 `resource` parameter.
    pub resource: Option<&'a str>,
}

/// Builds the URL the user's browser is sent to.
pub fn authorization_url(request: &AuthorizationRequest<'_>) -> Result<Url, TokenError> {
    let auth_url = Url::parse(request.authorization_url)
        .map_err(|_| TokenError::Invalid("authorization_url is not a URL"))?;
    let redirect = RedirectUrl::new(request.redirect_uri.to_owned())
        .map_err(|_| TokenError::Invalid("redirect_uri is not a URL"))?;
    let client = BasicClient::new(ClientId::new(request.client_id.to_owned()))
        .set_auth_uri(AuthUrl::from_url(auth_url));
    let state = request.state.expose_secret().to_owned();
    let mut builder = client
        .authorize_url(move || CsrfToken::new(state))
        .set_redirect_uri(Cow::Owned(redirect))
        .add_scopes(request.scopes.iter().map(|s| Scope::new(s.clone())));
    if let Some(verifier) = request.pkce_verifier {
        let verifier = PkceCodeVerifier::new(verifier.expose_secret().to_owned());
        builder =
            builder.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
    }
    if let Some(resource) = request.resource {
        builder = builder.add_extra_param("resource", resource);
    }
    Ok(builder.url().0)
}

/// The `oauth2` client for a token endpoint.
fn client(
    client: &OAuthClient<'_>,
) -> Result<
    BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    TokenError,
> {
    let token_url =
        Url::parse(client.token_url).map_err(|_| TokenError::Invalid("token_url is not a URL"))?;
    let mut built = BasicClient::new(ClientId::new(client.client_id.to_owned()))
        .set_token_uri(TokenUrl::from_url(token_url))
        .set_auth_type(match client.auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post | ClientAuth::None | ClientAuth::PrivateKeyJwt => {
                AuthType::RequestBody
            }
        });
    let secret_based = matches!(client.auth, ClientAuth::Basic | ClientAuth::Post);
    if let (Some(secret), true) = (client.client_secret, secret_based) {
        built = built.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(built)
}

/// Sends a token request of the `oauth2` crate through the guarded client, with the RFC 8707
/// `resource` parameter when one is given (a macro: each grant's request is its own type).
macro_rules! send_token_request {
    ($request:expr, $oauth:expr, $resource:expr, $http:expr, $timeout:expr) => {{
        let mut request = $request;
        if let Some(resource) = $resource {
            request = request.add_extra_param("resource", resource);
        }
        if let (ClientAuth::PrivateKeyJwt, Some(assertion)) = ($oauth.auth, $oauth.client_assertion)
        {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER_ASSERTION)
                .add_extra_param("client_assertion", assertion.expose_secret().to_owned());
        }
        let transport = transport::Transport::new($http, $timeout);
        let result = request.request_async(&transport).await;
        finish(result, &transport)
    }};
}

/// Requests a token with the client credentials grant (RFC 6749 §4.4).
pub async fn client_credentials(
    http: &HttpClient,
    oauth: &OAuthClient<'_>,
    params: &TokenParams<'_>,
    timeout: Duration,
) -> Result<TokenSet, TokenError> {
    let client = client(oauth)?;
    let mut request = client
        .exchange_client_credentials()
        .add_scopes(params.scopes.iter().map(|s| Scope::new(s.clone())));
    if let Some(audience) = params.audience {
        request = request.add_extra_param("audience", audience);
    }
    send_token_request!(request, oauth, params.resource, http, timeout)
}

/// Redeems an authorization code (RFC 6749 §4.1.3) with the redirect URI of the authorization
/// request and, when PKCE was used, its verifier.
pub async fn exchange_code(
    http: &HttpClient,
    oauth: &OAuthClient<'_>,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&SecretString>,
    resource: Option<&str>,
    timeout: Duration,
) -> Result<TokenSet, TokenError> {
    let client = client(oauth)?;
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|_| TokenError::Invalid("redirect_uri is not a URL"))?;
    let mut request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_redirect_uri(Cow::Owned(redirect));
    if let Some(verifier) = pkce_verifier {
        request =
            request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()));
    }
    send_token_request!(request, oauth, resource, http, timeout)
}

/// Exchanges a refresh token for new tokens (RFC 6749 §6).
pub async fn refresh(
    http: &HttpClient,
    oauth: &OAuthClient<'_>,
    refresh_token: &SecretString,
    resource: Option<&str>,
    timeout: Duration,
) -> Result<TokenSet, TokenError> {
    let client = client(oauth)?;
    let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
    let request = client.exchange_refresh_token(&token);
    send_token_request!(request, oauth, resource, http, timeout)
}

/// Revokes a refresh token at the authorization server (RFC 7009), authenticating as the client
/// does at its token endpoint. Never follows a redirect. Returns the status the server answered
/// (200 means revoked, or already unknown to the server).
pub async fn revoke(
    http: &HttpClient,
    oauth: &OAuthClient<'_>,
    revocation_url: &str,
    refresh_token: &SecretString,
    timeout: Duration,
) -> Result<u16, NetError> {
    use crate::net::{OutboundRequest, SendOptions};
    let url = Url::parse(revocation_url)
        .map_err(|_| NetError::Blocked("the revocation endpoint is not a valid URL".into()))?;
    let (body, authorization) = revocation_form(oauth, refresh_token)?;
    let mut request = OutboundRequest::new(http::Method::POST, url);
    request.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Some(value) = authorization {
        request.headers.insert(http::header::AUTHORIZATION, value);
    }
    request.body = Some(bytes::Bytes::copy_from_slice(body.as_bytes()));
    let options = SendOptions {
        follow_redirects: false,
        deadline: tokio::time::Instant::now() + timeout,
    };
    let response = http.send(request, options).await?;
    Ok(response.status.as_u16())
}

/// The form of a revocation request and, for `client_secret_basic`, its `Authorization` header.
fn revocation_form(
    oauth: &OAuthClient<'_>,
    refresh_token: &SecretString,
) -> Result<(zeroize::Zeroizing<String>, Option<http::HeaderValue>), NetError> {
    let encode =
        |text: &str| -> String { url::form_urlencoded::byte_serialize(text.as_bytes()).collect() };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", refresh_token.expose_secret())
        .append_pair("token_type_hint", "refresh_token");
    let mut authorization = None;
    match (oauth.auth, oauth.client_secret) {
        (ClientAuth::Basic, Some(secret)) => {
            let pair = zeroize::Zeroizing::new(format!(
                "{}:{}",
                encode(oauth.client_id),
                encode(secret.expose_secret())
            ));
            let credentials = zeroize::Zeroizing::new(format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair.as_bytes())
            ));
            let mut value = http::HeaderValue::from_str(&credentials)
                .map_err(|_| NetError::Blocked("the client credentials are not a header".into()))?;
            value.set_sensitive(true);
            authorization = Some(value);
        }
        (ClientAuth::Post, Some(secret)) => {
            form.append_pair("client_id", oauth.client_id)
                .append_pair("client_secret", secret.expose_secret());
        }
        (ClientAuth::PrivateKeyJwt, _) => {
            form.append_pair("client_id", oauth.client_id);
            if let Some(assertion) = oauth.client_assertion {
                form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION)
                    .append_pair("client_assertion", assertion.expose_secret());
            }
        }
        _ => {
            form.append_pair("client_id", oauth.client_id);
        }
    }
    Ok((zeroize::Zeroizing::new(form.finish()), authorization))
}

/// Turns the `oauth2` outcome into a validated [`TokenSet`] or a classified [`TokenError`].
fn finish(
    result: Result<BasicTokenResponse, RequestTokenError<NetError, BasicErrorResponse>>,
    transport: &transport::Transport,
) -> Result<TokenSet, TokenError> {
    let seen = transport.seen();
    let (status, retry_after) = (seen.status, seen.retry_after);
    let response = match result {
        Ok(response) => response,
        Err(RequestTokenError::Request(net)) => return Err(TokenError::Net(net)),
        Err(RequestTokenError::ServerResponse(error)) => {
            return Err(TokenError::Refused {
                code: safe_code(error.error().as_ref()),
                status: seen.original_status,
                retry_after,
            });
        }
        Err(RequestTokenError::Parse(_, body)) if status == 200 => {
            return Err(TokenError::Invalid(diagnose(&body)));
        }
        Err(RequestTokenError::Parse(..) | RequestTokenError::Other(_)) if status != 200 => {
            return Err(TokenError::Status {
                status,
                retry_after,
            });
        }
        Err(_) => {
            return Err(TokenError::Invalid(
                "not a JSON token response (RFC 6749 §5.1)",
            ));
        }
    };
    if *response.token_type() != BasicTokenType::Bearer {
        return Err(TokenError::Invalid("token_type is not Bearer"));
    }
    if response.access_token().secret().is_empty() {
        return Err(TokenError::Invalid("access_token is empty"));
    }
    let expires_in = response
        .expires_in()
        .map_or(DEFAULT_EXPIRES_IN, |d| d.as_secs())
        .clamp(1, MAX_EXPIRES_IN);
    Ok(TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .filter(|t| !t.secret().is_empty())
            .map(|t| SecretString::from(t.secret().clone())),
        expires_in,
        scopes: response
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.to_string()).collect()),
    })
}

/// An OAuth error code (RFC 6749 §5.2 restricts it to printable ASCII) kept to safe characters.
fn safe_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// Names what is wrong with a 200 response that is not a token response, without quoting it.
fn diagnose(body: &[u8]) -> &'static str {
    #[derive(Deserialize)]
    struct Loose {
        access_token: Option<serde_json::Value>,
        token_type: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Loose>(body) {
        Err(_) => "not a JSON object",
        Ok(Loose {
            access_token: None, ..
        }) => "access_token is missing",
        Ok(Loose {
            token_type: None, ..
        }) => "token_type is missing",
        Ok(_) => "a member has the wrong type (access_token, token_type, expires_in, scope)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_carry_256_bits() {
        let a = new_state();
        let b = new_state();
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn authorization_urls_carry_pkce_state_and_the_exact_redirect() {
        let state = new_state();
        let pkce = new_pkce();
        let url = authorization_url(&AuthorizationRequest {
            authorization_url: "https://as.example.com/auth?tenant=x",
            client_id: "web app",
            redirect_uri: "https://app.example.com/cb",
            scopes: &["a".into(), "b".into()],
            state: &state,
            pkce_verifier: Some(&pkce.verifier),
            resource: Some("https://mcp.example.com/mcp"),
        })
        .expect("url");
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["tenant"], "x");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "web app");
        assert_eq!(pairs["redirect_uri"], "https://app.example.com/cb");
        assert_eq!(pairs["scope"], "a b");
        assert_eq!(pairs["state"], state.expose_secret());
        assert_eq!(pairs["code_challenge"], pkce.challenge);
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["resource"], "https://mcp.example.com/mcp");
    }

    #[test]
    fn error_codes_keep_only_safe_characters() {
        assert_eq!(safe_code("invalid_grant<script>"), "invalid_grantscript");
    }

    #[test]
    fn malformed_token_responses_are_named_without_quoting_them() {
        assert_eq!(diagnose(b"<html>"), "not a JSON object");
        assert_eq!(
            diagnose(br#"{"token_type":"Bearer"}"#),
            "access_token is missing"
        );
        assert_eq!(
            diagnose(br#"{"access_token":"x"}"#),
            "token_type is missing"
        );
    }
}
