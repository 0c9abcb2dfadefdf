//! This deployment as an OAuth 2.0 protected resource, for MCP clients that sign in by
//! themselves: the access tokens of an external authorization server (JWTs, RFC 9068 style)
//! verified against the server's published keys, with the audience bound to the exact endpoint
//! URL (RFC 8707), the caller's tenant, user and role read from configured claims, and the
//! endpoint's protected resource metadata (RFC 9728) and `WWW-Authenticate` challenge.
//!
//! Only asymmetric signatures are accepted (RSA, RSA-PSS, ECDSA, EdDSA), each by a key of its own
//! family from the issuer's JWKS: never `none`, never a shared secret, so a key set that also
//! lists symmetric keys cannot be turned against us. The key set is discovered from the issuer's
//! metadata (RFC 8414, else OpenID discovery), fetched through the guarded client, kept for
//! [`KEYS_MAX_AGE`], and fetched again early when a token names an unknown key; a fetch is tried
//! at most every [`REFETCH_COOLDOWN`], failed or not, so neither a flood of made-up key ids nor
//! an issuer that is down makes us hammer it or makes requests queue behind fetches.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, Jwk, PublicKeyUse},
};
use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::{
    config::McpAuthorization,
    model::{principal::Principal, role::Role},
    net::{HttpClient, OutboundRequest, SendOptions},
};

/// How long a fetched key set is used before it is fetched again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// Shortest time between two fetches of the key set.
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;
/// Largest key set or metadata document read.
const MAX_DOCUMENT: usize = 256 * 1024;
/// Longest a key set fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest accepted token, to bound the work a hostile one causes.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The signature algorithms accepted: asymmetric only.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a bearer token was not accepted, in words a client's user can act on (never the token's
/// content). Answered as 401 `invalid_token`, or 403 `insufficient_scope`, or 503 when the
/// issuer's keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// The token is not one this endpoint accepts (RFC 6750 `invalid_token`).
    #[error("{0}")]
    Invalid(String),
    /// The token lacks a scope the endpoint needs (RFC 6750 `insufficient_scope`).
    #[error("The access token lacks the scope {0:?}.")]
    InsufficientScope(String),
    /// The issuer's keys could not be fetched; the token may be fine.
    #[error("{0}")]
    KeysUnavailable(String),
}

/// Protected resource metadata (RFC 9728 §2), as this deployment publishes it for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProtectedResourceMetadata {
    /// The endpoint's URL: the audience its access tokens must name.
    pub resource: String,
    /// The authorization server whose tokens are accepted (none: sign in is not offered, an API
    /// token is the credential).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// How a token is sent: the `Authorization` header only.
    pub bearer_methods_supported: Vec<String>,
    /// The scopes a token must carry, when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// A name for people.
    pub resource_name: String,
}

/// The key set in use, and when it was fetched.
#[derive(Default)]
struct Keys {
    keys: Vec<Jwk>,
    /// When the keys in hand were fetched.
    fetched: Option<Instant>,
    /// When a fetch was last tried, whatever came of it.
    attempted: Option<Instant>,
    /// Why the last fetch failed, while no key is in hand.
    failure: Option<TokenRefusal>,
}

/// Verifies an external authorization server's access tokens (see the module's description).
/// One per process, shared by every request: the key set is fetched once and kept.
pub struct ResourceServer {
    config: McpAuthorization,
    http: HttpClient,
    keys: tokio::sync::Mutex<Keys>,
}

impl std::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// A verifier for `config`'s issuer, fetching its keys through `http`.
    pub fn new(config: McpAuthorization, http: HttpClient) -> Arc<Self> {
        Arc::new(Self {
            config,
            http,
            keys: tokio::sync::Mutex::new(Keys::default()),
        })
    }

    /// The configuration it verifies with.
    pub fn config(&self) -> &McpAuthorization {
        &self.config
    }

    /// The public URL of the endpoint at `path` (which starts with `/`): the resource its tokens
    /// are for.
    pub fn resource(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_base_url)
    }

    /// The principal of `token`, a JWT that must be for `resource`.
    pub async fn verify(&self, token: &str, resource: &str) -> Result<Principal, TokenRefusal> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("The access token is too long."));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("The access token is not a JWT."))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!(
                "The access token is signed with {:?}, which is not accepted.",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[resource]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
                .map_err(|e| invalid(describe(e.kind(), resource)))?
                .claims;
        self.principal(&claims)
    }

    /// The caller the verified `claims` name, if they name an acceptable one and carry the
    /// required scopes.
    fn principal(
        &self,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<Principal, TokenRefusal> {
        let config = &self.config;
        let id = |claim: &str, what: &str| -> Result<String, TokenRefusal> {
            claims
                .get(claim)
                .and_then(Value::as_str)
                .filter(|v| crate::model::principal::valid_id(v))
                .map(str::to_owned)
                .ok_or_else(|| {
                    invalid(format!(
                        "The access token's {claim:?} claim must name the {what}: 1-64 \
                         characters of A-Z, a-z, 0-9, '.', '_', '-'."
                    ))
                })
        };
        let tenant = id(&config.tenant_claim, "tenant")?;
        let user = id(&config.user_claim, "user")?;
        let role = match claims.get(&config.role_claim) {
            None | Some(Value::Null) => Role::Member,
            Some(Value::String(name)) => name.parse().map_err(|_| unknown_role(config))?,
            // A list of groups or roles: the highest one we know.
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(|n| n.as_str()?.parse::<Role>().ok())
                .max()
                .ok_or_else(|| unknown_role(config))?,
            Some(_) => return Err(unknown_role(config)),
        };
        let granted: Vec<&str> = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        if let Some(missing) = config
            .scopes
            .iter()
            .find(|s| !granted.contains(&s.as_str()))
        {
            return Err(TokenRefusal::InsufficientScope(missing.clone()));
        }
        Ok(Principal::new(tenant, user, role))
    }

    /// The key that signed a token with key id `kid` and algorithm `alg`, fetching the key set
    /// when it is old, or when it lacks that key and was not fetched just now.
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, TokenRefusal> {
        let mut keys = self.keys.lock().await;
        let wanted = keys.fetched.is_none_or(|at| at.elapsed() > KEYS_MAX_AGE)
            || find(&keys.keys, kid, alg).is_none();
        // At most one try per cooldown, failed or not: tokens that name made-up keys, or an
        // issuer that is down, cannot make every request wait for a fetch.
        let due = keys
            .attempted
            .is_none_or(|at| at.elapsed() > REFETCH_COOLDOWN);
        if wanted && due {
            keys.attempted = Some(Instant::now());
            match self.fetch_keys().await {
                Ok(fetched) => {
                    keys.keys = fetched;
                    keys.fetched = Some(Instant::now());
                    keys.failure = None;
                }
                // Keys in hand stay in use while the issuer is unreachable.
                Err(e) => {
                    tracing::warn!(error = %e, "the issuer's key set could not be fetched");
                    keys.failure = Some(e);
                }
            }
        }
        if keys.fetched.is_none() {
            return Err(keys.failure.clone().unwrap_or_else(|| {
                TokenRefusal::KeysUnavailable("The issuer's keys are not fetched yet.".into())
            }));
        }
        let jwk = find(&keys.keys, kid, alg).ok_or_else(|| {
            invalid(
                "The access token is signed by a key the authorization server does not publish.",
            )
        })?;
        DecodingKey::from_jwk(jwk)
            .map_err(|_| invalid("The authorization server's key for this token is unusable."))
    }

    /// The issuer's current key set, usable keys only (a key of a kind we cannot read is left
    /// out rather than failing the set).
    async fn fetch_keys(&self) -> Result<Vec<Jwk>, TokenRefusal> {
        let unavailable = |what: String| TokenRefusal::KeysUnavailable(what);
        let jwks_uri = match &self.config.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let metadata = crate::oauth::discovery::server_metadata(
                    &self.http,
                    &self.config.issuer,
                    false,
                )
                .await
                .map_err(|e| unavailable(format!("The authorization server's metadata: {e}")))?;
                metadata.jwks_uri.ok_or_else(|| {
                    unavailable("The authorization server's metadata names no jwks_uri.".into())
                })?
            }
        };
        let url = Url::parse(&jwks_uri)
            .map_err(|_| unavailable(format!("The jwks_uri {jwks_uri} is not a URL.")))?;
        let mut request = OutboundRequest::new(http::Method::GET, url);
        request.headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let options = SendOptions {
            follow_redirects: true,
            deadline: tokio::time::Instant::now() + FETCH_TIMEOUT,
        };
        let failed = |e: crate::net::NetError| {
            unavailable(format!("The key set at {jwks_uri} could not be read: {e}"))
        };
        let response = self.http.send(request, options).await.map_err(failed)?;
        if !response.status.is_success() {
            return Err(unavailable(format!(
                "The key set at {jwks_uri} answered HTTP {}.",
                response.status.as_u16()
            )));
        }
        let body = response.bytes_limited(MAX_DOCUMENT).await.map_err(failed)?;
        #[derive(serde::Deserialize)]
        struct KeySet {
            keys: Vec<Value>,
        }
        let set: KeySet = serde_json::from_slice(&body)
            .map_err(|_| unavailable(format!("The document at {jwks_uri} is not a JWK set.")))?;
        Ok(set
            .keys
            .into_iter()
            .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
            .collect())
    }
}

/// The name metadata gives every endpoint.
pub const RESOURCE_NAME: &str = "Agent Studio Connect";

impl ProtectedResourceMetadata {
    /// The metadata of the endpoint at `resource`: with `authorization` configured, its issuer
    /// and scopes; without, none (an API token or the console's session is the credential).
    pub fn new(resource: String, authorization: Option<&McpAuthorization>) -> Self {
        Self {
            resource,
            authorization_servers: authorization
                .map(|a| vec![a.issuer.clone()])
                .unwrap_or_default(),
            bearer_methods_supported: vec!["header".into()],
            scopes_supported: authorization.map(|a| a.scopes.clone()).unwrap_or_default(),
            resource_name: RESOURCE_NAME.into(),
        }
    }
}

/// The key of `keys` for a token with key id `kid` (any key when the token names none) that
/// can verify `alg`: its own family, for signing, and the same algorithm when it names one.
fn find<'a>(keys: &'a [Jwk], kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |jwk: &&Jwk| {
        let family = matches!(
            (&jwk.algorithm, alg),
            (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES256 | Algorithm::ES384
            ) | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
        );
        let usable =
            !matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature);
        let same_alg = jwk
            .common
            .key_algorithm
            .is_none_or(|a| a == jsonwebtoken::jwk::KeyAlgorithm::from(alg));
        family && usable && same_alg
    };
    let mut candidates = keys.iter().filter(fits);
    match kid {
        Some(kid) => candidates.find(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
        None => {
            let only = candidates.next()?;
            // Without a key id, only an unambiguous key is used.
            candidates.next().is_none().then_some(only)
        }
    }
}

fn invalid(message: impl Into<String>) -> TokenRefusal {
    TokenRefusal::Invalid(message.into())
}

fn unknown_role(config: &McpAuthorization) -> TokenRefusal {
    invalid(format!(
        "The access token's {:?} claim must be \"member\" or \"admin\" (or a list holding one).",
        config.role_claim
    ))
}

/// Words for why the token's signature or claims were not accepted.
fn describe(kind: &ErrorKind, resource: &str) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "The access token has expired.".into(),
        ErrorKind::ImmatureSignature => "The access token is not valid yet.".into(),
        ErrorKind::InvalidAudience => {
            format!("The access token is for another resource: its audience must be {resource}.")
        }
        ErrorKind::InvalidIssuer => {
            "The access token was issued by another authorization server.".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("The access token has no {claim:?} claim.")
        }
        ErrorKind::InvalidSignature => "The access token's signature is not valid.".into(),
        _ => "The access token is not a valid JWT.".into(),
    }
}

/// The `WWW-Authenticate` value of a 401 or 403 of the endpoint whose metadata is at
/// `metadata_url` (RFC 9728 §5.1), with the refusal's error when a token was refused.
pub fn challenge(metadata_url: &str, scopes: &[String], refusal: Option<&TokenRefusal>) -> String {
    let quoted = |text: &str| text.replace(['"', '\\'], "'");
    let mut value = format!(
        r#"Bearer realm="agent-studio-connect", resource_metadata="{}""#,
        quoted(metadata_url)
    );
    if !scopes.is_empty() {
        value.push_str(&format!(r#", scope="{}""#, quoted(&scopes.join(" "))));
    }
    match refusal {
        Some(TokenRefusal::InsufficientScope(_)) => {
            value.push_str(r#", error="insufficient_scope""#)
        }
        Some(refusal @ TokenRefusal::Invalid(_)) => value.push_str(&format!(
            r#", error="invalid_token", error_description="{}""#,
            quoted(&refusal.to_string())
        )),
        _ => {}
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A key-set server on loopback that answers 503 and counts what it is asked.
    async fn failing_issuer() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { http::StatusCode::SERVICE_UNAVAILABLE }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{address}"), asked)
    }

    #[tokio::test]
    async fn an_issuer_that_is_down_is_asked_once_per_cooldown_whatever_the_tokens() {
        let (issuer, asked) = failing_issuer().await;
        let config = McpAuthorization {
            issuer: issuer.clone(),
            public_base_url: "http://127.0.0.1".into(),
            jwks_uri: Some(format!("{issuer}/jwks")),
            tenant_claim: "tenant_id".into(),
            user_claim: "sub".into(),
            role_claim: "role".into(),
            scopes: Vec::new(),
        };
        let http = HttpClient::new(crate::net::NetPolicy::local()).unwrap();
        let server = ResourceServer::new(config, http);
        // Tokens naming made-up keys, as many as an attacker likes.
        for kid in ["a", "b", "c", "d"] {
            let header = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
            );
            let refused = server
                .verify(&format!("{header}.e30.c2ln"), "http://127.0.0.1/x")
                .await
                .unwrap_err();
            assert!(
                matches!(refused, TokenRefusal::KeysUnavailable(_)),
                "{refused:?}"
            );
        }
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn the_challenge_names_the_metadata_and_the_refusal() {
        let url = "https://studio.example.com/.well-known/oauth-protected-resource/x";
        assert_eq!(
            challenge(url, &[], None),
            format!(r#"Bearer realm="agent-studio-connect", resource_metadata="{url}""#)
        );
        let refused = challenge(
            url,
            &["mcp:tools".into()],
            Some(&invalid("The access token has \"expired\".")),
        );
        assert!(refused.ends_with(
            r#", scope="mcp:tools", error="invalid_token", error_description="The access token has 'expired'.""#
        ));
    }

    #[test]
    fn only_a_key_of_the_tokens_family_and_id_is_used() {
        let keys: Vec<Jwk> = serde_json::from_value(serde_json::json!([
            {"kty": "oct", "kid": "k1", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "k1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "RSA", "kid": "k2", "use": "enc", "n": "0vx7", "e": "AQAB"},
        ]))
        .unwrap();
        // A token that says HS256 never gets here; one that says RS256 with kid k1 finds no
        // RSA key k1, and the shared secret is never taken for it.
        assert!(find(&keys, Some("k1"), Algorithm::RS256).is_none());
        assert!(find(&keys, Some("k1"), Algorithm::ES256).is_some());
        // An encryption key does not verify signatures.
        assert!(find(&keys, Some("k2"), Algorithm::RS256).is_none());
        // Without a key id, only an unambiguous key.
        assert!(find(&keys, None, Algorithm::ES256).is_some());
    }
}
