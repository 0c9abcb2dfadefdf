//! Authorization discovery for an MCP server, from its URL alone (MCP authorization, 2025-11-25):
//! the server's challenge (`WWW-Authenticate: Bearer resource_metadata=…, scope=…`), its protected
//! resource metadata (RFC 9728; from the challenge, else the well-known URIs in the spec's order),
//! the authorization server's metadata (RFC 8414 path-aware, then OpenID discovery; `issuer` must
//! be the one the URL was built from, and PKCE `S256` must be supported), and dynamic client
//! registration (RFC 7591). Every request goes through the guarded client, follows no redirect
//! and reads at most [`MAX_METADATA_BYTES`]; a failure names the step it happened at.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use url::Url;

use crate::net::{HttpClient, OutboundRequest, SendOptions};

/// Largest metadata or registration document read.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// Longest time one discovery request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where discovery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Asking the MCP server, without credentials, how to authorize.
    Challenge,
    /// Reading its protected resource metadata (RFC 9728).
    ResourceMetadata,
    /// Reading its authorization server's metadata (RFC 8414 / OpenID discovery).
    AuthorizationServerMetadata,
    /// Registering a client (RFC 7591).
    Registration,
}

/// Why discovery failed, and at which step; the message is ours (never a server's text).
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, thiserror::Error,
)]
#[error("{message}")]
pub struct DiscoveryFailure {
    /// The step that failed.
    pub step: Step,
    /// What went wrong, in a sentence a user can act on.
    pub message: String,
}

fn failed(step: Step, message: impl Into<String>) -> DiscoveryFailure {
    DiscoveryFailure {
        step,
        message: message.into(),
    }
}

/// What an MCP server's `WWW-Authenticate: Bearer …` challenge says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `resource_metadata`: where its protected resource metadata is.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the request needs.
    pub scope: Option<String>,
    /// `error`: why the request was refused (`invalid_token`, `insufficient_scope`, …).
    pub error: Option<String>,
}

/// The members of protected resource metadata (RFC 9728) discovery uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResourceMetadata {
    /// The protected resource's identifier: the MCP server's URL (required).
    pub resource: String,
    /// Its authorization servers' issuers.
    pub authorization_servers: Vec<String>,
    /// Scopes it understands.
    pub scopes_supported: Vec<String>,
}

/// The members of authorization server metadata (RFC 8414) discovery uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerMetadata {
    /// The issuer identifier (required, like both endpoints).
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// PKCE methods (MCP requires `S256`).
    pub code_challenge_methods_supported: Vec<String>,
    /// Whether authorization responses carry `iss` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Client authentication methods at the token endpoint (absent: `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Revocation endpoint (RFC 7009).
    pub revocation_endpoint: Option<String>,
    /// Dynamic client registration endpoint (RFC 7591).
    pub registration_endpoint: Option<String>,
    /// Whether client ID metadata documents are accepted as client ids.
    pub client_id_metadata_document_supported: bool,
    /// Scopes.
    pub scopes_supported: Vec<String>,
    /// Where the server's signing keys are published (a JWK set).
    pub jwks_uri: Option<String>,
}

/// A client registered dynamically (RFC 7591).
#[derive(Debug)]
pub struct Registered {
    /// Its client id.
    pub client_id: String,
    /// Its secret, for a confidential client.
    pub client_secret: Option<SecretString>,
    /// How it authenticates at the token endpoint, as registered.
    pub token_endpoint_auth_method: String,
}

/// One discovery request, no redirects followed, its body read up to [`MAX_METADATA_BYTES`].
async fn fetch(
    http: &HttpClient,
    request: OutboundRequest,
    step: Step,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), DiscoveryFailure> {
    let url = request.url.clone();
    let options = SendOptions {
        follow_redirects: false,
        deadline: tokio::time::Instant::now() + REQUEST_TIMEOUT,
    };
    let unreachable =
        |e: crate::net::NetError| failed(step, format!("{url} could not be read: {e}."));
    let response = http.send(request, options).await.map_err(unreachable)?;
    let (status, headers) = (response.status, response.headers.clone());
    let body = response
        .bytes_limited(MAX_METADATA_BYTES)
        .await
        .map_err(unreachable)?;
    Ok((status, headers, body))
}

/// Reads the JSON document at `url`: `None` when the server answers that it has none (404), an
/// error for any other failure.
async fn document<T: DeserializeOwned>(
    http: &HttpClient,
    url: &Url,
    step: Step,
) -> Result<Option<T>, DiscoveryFailure> {
    let mut request = OutboundRequest::new(Method::GET, url.clone());
    request
        .headers
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let (status, _, body) = fetch(http, request, step).await?;
    if status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(failed(
            step,
            format!("{url} answered HTTP {}.", status.as_u16()),
        ));
    }
    serde_json::from_slice(&body).map(Some).map_err(|_| {
        failed(
            step,
            format!("{url} is not a metadata document of the expected form."),
        )
    })
}

/// Longest a credential-less connection attempt may take to meet the server's challenge.
const CHALLENGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the MCP server at `server` how to authorize: a connection test without credentials (in
/// whichever protocol revision the server speaks), whose first 401 answer carries the challenge.
/// A server that answers everything without asking for credentials needs none: discovery has
/// nothing to do.
pub async fn challenge(http: &HttpClient, server: &Url) -> Result<Challenge, DiscoveryFailure> {
    let target = crate::mcp::McpTarget {
        url: server.clone(),
        headers: http::HeaderMap::new(),
        timeout: CHALLENGE_TIMEOUT,
    };
    let result = crate::mcp::test_connection(http, &target).await;
    match (result.status, result.http_status) {
        (_, Some(401)) => Ok(result
            .challenge
            .as_deref()
            .and_then(parse_bearer_challenge)
            .unwrap_or_default()),
        (crate::mcp::TestStatus::Success, _) => Err(failed(
            Step::Challenge,
            "The MCP server answered without credentials instead of asking for authorization \
             (401): it needs no OAuth configuration, or not this one.",
        )),
        _ => Err(failed(
            Step::Challenge,
            format!(
                "The MCP server did not ask for authorization (401): {}",
                result.message
            ),
        )),
    }
}

/// The `resource_metadata` and `scope` parameters of a `Bearer` challenge (RFC 6750 §3):
/// `name=value` or `name="quoted value"` pairs, separated by commas.
pub fn parse_bearer_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, mut rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut challenge = Challenge::default();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "resource_metadata" => challenge.resource_metadata = Some(value),
            "scope" => challenge.scope = Some(value),
            "error" => challenge.error = Some(value),
            _ => {}
        }
        rest = remaining;
    }
    Some(challenge)
}

/// A quoted string's value (backslash escapes undone) and what follows its closing quote.
fn unquote(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (escaped, c) {
            (true, c) => {
                value.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '"') => return (value, &text[i + 1..]),
            (false, c) => value.push(c),
        }
    }
    (value, "")
}

/// The protected resource metadata of the MCP server at `server`: from the challenge's
/// `resource_metadata` when given, else `/.well-known/oauth-protected-resource` with the server's
/// path, then at the root. Its `resource` must be the server's URL.
pub async fn resource_metadata(
    http: &HttpClient,
    server: &Url,
    challenge: &Challenge,
) -> Result<ResourceMetadata, DiscoveryFailure> {
    let step = Step::ResourceMetadata;
    let candidates = match &challenge.resource_metadata {
        Some(url) => {
            let url = Url::parse(url)
                .map_err(|_| failed(step, "The challenge's resource_metadata is not a URL."))?;
            // Only the server's own origin speaks for it.
            if url.origin() != server.origin() {
                return Err(failed(
                    step,
                    "The challenge's resource_metadata is on another origin than the MCP server.",
                ));
            }
            vec![url]
        }
        None => well_known(server, "oauth-protected-resource"),
    };
    for url in &candidates {
        if let Some(metadata) = document::<ResourceMetadata>(http, url, step).await? {
            // A resource broader than the server (its origin, or a path above it) widens what
            // the tokens are good for: it is believed only from that resource's own well-known
            // location (RFC 9728 §3.3), never from a document the server merely points to.
            let exact = same_resource_exactly(&metadata.resource, server);
            let own_location = Url::parse(&metadata.resource).is_ok_and(|resource| {
                well_known(&resource, "oauth-protected-resource").first() == Some(url)
            });
            if !same_resource(&metadata.resource, server) || !(exact || own_location) {
                return Err(failed(
                    step,
                    format!(
                        "The protected resource metadata at {url} is for {}, not for this server.",
                        shown(&metadata.resource)
                    ),
                ));
            }
            if let Some(issuer) = metadata
                .authorization_servers
                .iter()
                .find(|issuer| !plausible_issuer(issuer))
            {
                return Err(failed(
                    step,
                    format!(
                        "The protected resource metadata names an authorization server that is not \
                         an http(s) URL of at most {MAX_ISSUER_LEN} bytes ({} bytes).",
                        issuer.len()
                    ),
                ));
            }
            return Ok(metadata);
        }
    }
    Err(failed(
        step,
        "The MCP server publishes no protected resource metadata (RFC 9728): it does not say \
         which authorization server to use; configure the endpoints by hand.",
    ))
}

/// The metadata of the authorization server `issuer`, from the well-known URIs in the MCP
/// spec's order: RFC 8414 with the issuer's path inserted, then OpenID discovery (path inserted,
/// then appended); for an issuer without a path, RFC 8414 then OpenID discovery. The document's
/// `issuer` must be `issuer` exactly; for the authorization-code grant (`authorization_code`),
/// an authorization endpoint and PKCE `S256` are required as well.
pub async fn server_metadata(
    http: &HttpClient,
    issuer: &str,
    authorization_code: bool,
) -> Result<ServerMetadata, DiscoveryFailure> {
    let step = Step::AuthorizationServerMetadata;
    let url = Url::parse(issuer)
        .ok()
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| {
            failed(
                step,
                format!("The issuer {issuer} is not a URL without query."),
            )
        })?;
    let mut candidates = well_known(&url, "oauth-authorization-server");
    candidates.truncate(1);
    candidates.extend(well_known(&url, "openid-configuration").into_iter().take(1));
    let path = url.path().trim_end_matches('/');
    if !path.is_empty() {
        if let Ok(appended) = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )) {
            candidates.push(appended);
        }
    }
    for candidate in &candidates {
        let Some(metadata) = document::<ServerMetadata>(http, candidate, step).await? else {
            continue;
        };
        if metadata.token_endpoint.is_empty()
            || (authorization_code && metadata.authorization_endpoint.is_empty())
        {
            return Err(failed(
                step,
                format!("The metadata at {candidate} lacks an authorization or token endpoint."),
            ));
        }
        if metadata.issuer != issuer {
            return Err(failed(
                step,
                format!(
                    "The metadata at {candidate} names the issuer {}, not {issuer}.",
                    shown(&metadata.issuer)
                ),
            ));
        }
        if authorization_code
            && !metadata
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256")
        {
            return Err(failed(
                step,
                format!(
                    "The authorization server {issuer} does not advertise PKCE S256, which MCP requires."
                ),
            ));
        }
        return Ok(metadata);
    }
    Err(failed(
        step,
        format!("The authorization server {issuer} publishes no metadata (RFC 8414 or OpenID)."),
    ))
}

/// The well-known URIs of `suffix` for `url`: with the URL's path inserted after the suffix
/// (when it has one), then at the root.
fn well_known(url: &Url, suffix: &str) -> Vec<Url> {
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut candidates = Vec::new();
    if !path.is_empty() {
        candidates.push(format!("{origin}/.well-known/{suffix}{path}"));
    }
    candidates.push(format!("{origin}/.well-known/{suffix}"));
    candidates
        .iter()
        .filter_map(|u| Url::parse(u).ok())
        .collect()
}

/// Longest value a document chose that a diagnosis repeats.
const MAX_SHOWN: usize = 256;

/// A value a server's document chose, as a diagnosis may repeat it: an http(s) URL of at most
/// [`MAX_SHOWN`] bytes, as the URL parser writes it (no control characters, no markup, no
/// spaces); anything else is described, never quoted — a hostile server must not choose the
/// text an API answer or a console page shows.
fn shown(value: &str) -> String {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.as_str().len() <= MAX_SHOWN => {
            url.to_string()
        }
        _ => format!(
            "a value that is not an http(s) URL of at most {MAX_SHOWN} bytes ({} bytes)",
            value.len()
        ),
    }
}

/// Longest authorization server issuer believed.
pub const MAX_ISSUER_LEN: usize = 2048;

/// Whether `issuer` can be an authorization server's issuer: an http(s) URL without query or
/// fragment, of at most [`MAX_ISSUER_LEN`] bytes (what is repeated in answers stays bounded).
pub fn plausible_issuer(issuer: &str) -> bool {
    issuer.len() <= MAX_ISSUER_LEN
        && Url::parse(issuer).is_ok_and(|url| {
            matches!(url.scheme(), "https" | "http")
                && url.query().is_none()
                && url.fragment().is_none()
        })
}

/// Whether `resource` is the server's own URL (a trailing slash aside).
fn same_resource_exactly(resource: &str, server: &Url) -> bool {
    let normalize = |s: &str| s.trim_end_matches('/').to_owned();
    Url::parse(resource).is_ok_and(|r| normalize(r.as_str()) == normalize(server.as_str()))
}

/// Whether a metadata document's `resource` names `server`: the same origin, and the server's
/// path is the resource's path or lies under it (a resource may protect a whole origin or path,
/// RFC 8707 §2); a trailing slash aside. Never another origin.
fn same_resource(resource: &str, server: &Url) -> bool {
    let Ok(resource) = Url::parse(resource) else {
        return false;
    };
    if resource.origin() != server.origin()
        || resource.query().is_some()
        || resource.fragment().is_some()
    {
        return false;
    }
    let prefix = resource.path().trim_end_matches('/');
    let path = server.path().trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Registers a client for `redirect_uris` at `endpoint` (RFC 7591): a confidential web client
/// of the authorization-code grant with refresh tokens, authenticating with `auth_method`.
pub async fn register(
    http: &HttpClient,
    endpoint: &str,
    redirect_uris: &[String],
    auth_method: &str,
) -> Result<Registered, DiscoveryFailure> {
    let step = Step::Registration;
    let url = Url::parse(endpoint)
        .map_err(|_| failed(step, "The registration endpoint is not a URL."))?;
    let body = serde_json::json!({
        "client_name": "Agent Studio Connect",
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
        "application_type": "web",
    });
    let mut request = OutboundRequest::new(Method::POST, url);
    request.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    request.body = Some(Bytes::from(body.to_string()));
    let (status, _, body) = fetch(http, request, step).await?;
    if !status.is_success() {
        return Err(failed(
            step,
            format!(
                "The authorization server refused to register a client (HTTP {}).",
                status.as_u16()
            ),
        ));
    }
    #[derive(Deserialize)]
    struct Answer {
        client_id: String,
        client_secret: Option<SecretString>,
        token_endpoint_auth_method: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|_| failed(step, "The registration answer holds no client_id."))?;
    let token_endpoint_auth_method = answer
        .token_endpoint_auth_method
        .unwrap_or_else(|| auth_method.to_owned());
    Ok(Registered {
        client_id: answer.client_id,
        // A public client has no use for a secret, even when the server hands one out.
        client_secret: answer
            .client_secret
            .filter(|_| token_endpoint_auth_method != "none"),
        token_endpoint_auth_method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documents_own_text_is_never_repeated() {
        assert_eq!(shown("https://as.example/x"), "https://as.example/x");
        for hostile in [
            "Your account is locked: call +1 555 0100",
            "javascript:alert(1)",
            "https://as.example/<script>",
        ] {
            let text = shown(hostile);
            assert!(!text.contains("call") && !text.contains("alert"), "{text}");
        }
        let long = format!("https://as.example/{}", "a".repeat(300));
        assert!(
            shown(&long).starts_with("a value"),
            "long URLs are described"
        );
    }

    #[test]
    fn bearer_challenges_are_read_with_quoted_and_bare_values() {
        let c = parse_bearer_challenge(
            r#"Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
        )
        .unwrap();
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.scope.as_deref(), Some("files:read files:write"));
        let bare = parse_bearer_challenge("Bearer scope=read, realm=\"x\\\"y\"").unwrap();
        assert_eq!(bare.scope.as_deref(), Some("read"));
        assert!(parse_bearer_challenge("Basic realm=\"x\"").is_none());
        assert_eq!(
            parse_bearer_challenge("Bearer").unwrap(),
            Challenge::default()
        );
    }

    #[test]
    fn well_known_uris_follow_the_spec_order() {
        let server = Url::parse("https://mcp.example.com/tenant/mcp").unwrap();
        let uris: Vec<String> = well_known(&server, "oauth-protected-resource")
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            uris,
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/tenant/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        let root = Url::parse("https://as.example.com").unwrap();
        assert_eq!(well_known(&root, "openid-configuration").len(), 1);
        assert!(same_resource(
            "https://mcp.example.com/tenant/mcp/",
            &server
        ));
        assert!(!same_resource(
            "https://evil.example.com/tenant/mcp",
            &server
        ));
        assert!(same_resource("https://mcp.example.com", &server));
        assert!(same_resource("https://mcp.example.com/tenant", &server));
        assert!(!same_resource("https://mcp.example.com/ten", &server));
        assert!(!same_resource(
            "https://mcp.example.com/tenant/mcp/x",
            &server
        ));
        assert!(!same_resource("http://mcp.example.com/tenant/mcp", &server));
    }
}
