//! OAuth 2.0 token requests through the guarded client: the client credentials grant (RFC 6749
//! §4.4) with `client_secret_basic` (id and secret form-urlencoded before base64, §2.3.1) or
//! `client_secret_post`, and strict token response parsing: an `error` member fails even with
//! HTTP 200, `access_token` and `token_type` are required, `expires_in` is defaulted and clamped.
//! Token requests never follow redirects.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{HeaderValue, Method, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::net::{HttpClient, NetError, OutboundRequest, SendOptions};

/// Largest token response accepted.
pub const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;
/// `expires_in` assumed when the server omits it.
pub const DEFAULT_EXPIRES_IN: u64 = 300;
/// Longest lifetime believed.
pub const MAX_EXPIRES_IN: u64 = 24 * 3600;

/// How the client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with form-urlencoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
}

/// A client credentials request.
#[derive(Debug)]
pub struct ClientCredentialsRequest<'a> {
    /// Token endpoint.
    pub token_url: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Client secret.
    pub client_secret: &'a SecretString,
    /// Client authentication method.
    pub auth: ClientAuth,
    /// Scopes to request.
    pub scopes: &'a [String],
    /// `audience` parameter.
    pub audience: Option<&'a str>,
    /// RFC 8707 `resource` parameter.
    pub resource: Option<&'a str>,
}

/// A token from a token endpoint.
pub struct AccessToken {
    /// The bearer token.
    pub access_token: SecretString,
    /// Lifetime in seconds (defaulted and clamped).
    pub expires_in: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The endpoint could not be reached.
    #[error("token endpoint unreachable: {0}")]
    Net(#[from] NetError),
    /// The endpoint answered with an OAuth error (e.g. `invalid_client`).
    #[error("the token endpoint refused the request: {0}")]
    Refused(String),
    /// The endpoint answered an unexpected HTTP status without an OAuth error.
    #[error("the token endpoint answered HTTP {0}")]
    Status(u16),
    /// The response is not a valid token response.
    #[error("the token response is invalid: {0}")]
    Invalid(&'static str),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
}

/// Encodes a client id or secret for HTTP Basic as RFC 6749 §2.3.1 requires.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The token request for the client credentials grant.
fn token_request(request: &ClientCredentialsRequest<'_>) -> Result<OutboundRequest, TokenError> {
    let url =
        Url::parse(request.token_url).map_err(|_| TokenError::Invalid("token_url is not a URL"))?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if !request.scopes.is_empty() {
        form.append_pair("scope", &request.scopes.join(" "));
    }
    if let Some(audience) = request.audience {
        form.append_pair("audience", audience);
    }
    if let Some(resource) = request.resource {
        form.append_pair("resource", resource);
    }
    let mut outbound = OutboundRequest::new(Method::POST, url);
    match request.auth {
        ClientAuth::Basic => {
            let pair = format!(
                "{}:{}",
                form_encode(request.client_id),
                form_encode(request.client_secret.expose_secret())
            );
            let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
                .map_err(|_| TokenError::Invalid("client credentials are not header-safe"))?;
            value.set_sensitive(true);
            outbound.headers.insert(header::AUTHORIZATION, value);
        }
        ClientAuth::Post => {
            form.append_pair("client_id", request.client_id);
            form.append_pair("client_secret", request.client_secret.expose_secret());
        }
    }
    outbound
        .headers
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    outbound.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    outbound.body = Some(Bytes::from(form.finish()));
    Ok(outbound)
}

/// Requests a token with the client credentials grant.
pub async fn client_credentials(
    http: &HttpClient,
    request: &ClientCredentialsRequest<'_>,
    timeout: Duration,
) -> Result<AccessToken, TokenError> {
    let outbound = token_request(request)?;
    let options = SendOptions {
        follow_redirects: false,
        deadline: Instant::now() + timeout,
    };
    let response = http.send(outbound, options).await?;
    let status = response.status;
    let body = response.bytes_limited(MAX_TOKEN_RESPONSE).await?;
    let parsed: Option<TokenResponse> = serde_json::from_slice(&body).ok();
    if let Some(error) = parsed.as_ref().and_then(|p| p.error.as_deref()) {
        // The error code is a registered token (RFC 6749 §5.2); keep only safe characters.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(TokenError::Refused(code));
    }
    if !status.is_success() {
        return Err(TokenError::Status(status.as_u16()));
    }
    let parsed = parsed.ok_or(TokenError::Invalid("not a JSON object"))?;
    let access_token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Invalid("access_token is missing"))?;
    let token_type = parsed
        .token_type
        .ok_or(TokenError::Invalid("token_type is missing"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Invalid("token_type is not Bearer"));
    }
    let expires_in = match parsed.expires_in {
        None => DEFAULT_EXPIRES_IN,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(DEFAULT_EXPIRES_IN)
            .clamp(1, MAX_EXPIRES_IN),
    };
    Ok(AccessToken {
        access_token: SecretString::from(access_token),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        assert_eq!(form_encode("a:b%c+d &e=f"), "a%3Ab%25c%2Bd+%26e%3Df");
    }
}
