//! What an auth config is: the credentials for a remote MCP server, of four types (`NONE`,
//! `BASIC`, `CLIENT_CREDENTIALS`, `AUTHORIZATION_CODE`), each with optional `custom_headers` — as
//! input, as stored (secrets only as slots and one sealed envelope, see
//! [`crate::model::secret_fields`]) and as shown — and how its own secrets are read back. Validation is
//! in [`crate::model::auth_input`], the resource (create, PATCH, delete and their effect on tokens) in
//! [`crate::model::auth_config`].

use std::collections::{BTreeMap, BTreeSet};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{
    resource::Meta,
    secret_fields::{SecretInput, SecretSlot, SecretView, open_sealed},
};
use crate::{AppState, Error, crypto::Envelope, secrets::SecretRef};

/// Sort-key prefix of auth configs.
pub const SK_PREFIX: &str = "AUTH#";
/// Envelope purpose of an auth config's inline secrets.
pub const PURPOSE: &str = "auth_config.secrets";

/// The kind of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthType {
    /// No credentials beyond `custom_headers` (static bearer tokens and API keys go there).
    None,
    /// HTTP Basic (`username`, `password`).
    Basic,
    /// OAuth 2.0 client credentials grant.
    ClientCredentials,
    /// OAuth 2.0 authorization code grant with PKCE.
    AuthorizationCode,
}

impl AuthType {
    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Basic => "BASIC",
            Self::ClientCredentials => "CLIENT_CREDENTIALS",
            Self::AuthorizationCode => "AUTHORIZATION_CODE",
        }
    }

    /// Every type: the order of the one schema per type in the OpenAPI document.
    pub const ALL: [Self; 4] = [
        Self::None,
        Self::Basic,
        Self::ClientCredentials,
        Self::AuthorizationCode,
    ];

    /// The type-dependent fields (those [`AuthConfigInput::given`] reports) this type takes.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::Basic => &["username", "password"],
            Self::ClientCredentials => &[
                "token_url",
                "client_id",
                "client_secret",
                "scopes",
                "audience",
                "resource",
                "token_endpoint_auth_method",
                "private_key",
            ],
            Self::AuthorizationCode => &[
                "authorization_url",
                "token_url",
                "client_id",
                "client_secret",
                "scopes",
                "resource",
                "allowed_redirect_uris",
                "use_pkce",
                "connection_mode",
                "revocation_url",
                "issuer",
                "token_endpoint_auth_method",
                "private_key",
            ],
        }
    }

    /// The fields this type requires (unless `discover_from` fills them).
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::Basic => &["username", "password"],
            // `client_secret` too, unless the client authenticates with `private_key_jwt`.
            Self::ClientCredentials => &["token_url", "client_id"],
            Self::AuthorizationCode => &[
                "authorization_url",
                "token_url",
                "client_id",
                "allowed_redirect_uris",
            ],
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// `client_id`/`client_secret` in HTTP Basic (form-urlencoded first, RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id`/`client_secret` in the form body.
    ClientSecretPost,
    /// Public client: `client_id` only (PKCE required).
    None,
    /// A JWT signed with the client's private key (RFC 7523 §2.2, OpenID Connect Core §9): the
    /// key given as `private_key`, or one this service holds (KMS) and publishes as a JWKS.
    PrivateKeyJwt,
}

/// OAuth token state of an `AUTHORIZATION_CODE` config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    /// No authorization has completed yet (or the server or client changed since).
    #[default]
    NotAuthorized,
    /// A usable access token is stored.
    Valid,
    /// The access token expired and could not be refreshed yet.
    Expired,
    /// The grant was revoked; a user must authorize again.
    ReauthorizationRequired,
    /// An MCP server needs scopes that were not granted (`required_scopes`): the next
    /// authorization asks for them.
    InsufficientScope,
    /// The MCP server now names another authorization server (`new_authorization_server`): the
    /// tokens are no longer used; discover again (PATCH `discover_from`), then authorize.
    AuthorizationServerChanged,
}

/// Body of `POST /auth_configs` (and the result of applying a merge patch). Which fields are
/// allowed and required depends on `auth_type`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfigInput {
    /// Display name (1 to 200 characters, not only spaces, no control characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Credential type (`type` is accepted as a deprecated alias, never together with it).
    pub auth_type: AuthType,
    /// Extra headers sent to the MCP server (values are secret), at most 32.
    pub custom_headers: Option<BTreeMap<String, SecretInput>>,
    /// BASIC: user name (no `:`).
    pub username: Option<String>,
    /// BASIC: password (secret).
    pub password: Option<SecretInput>,
    /// OAuth: token endpoint.
    pub token_url: Option<String>,
    /// AUTHORIZATION_CODE: authorization endpoint.
    pub authorization_url: Option<String>,
    /// OAuth: client id.
    pub client_id: Option<String>,
    /// OAuth: client secret (secret; optional for public AUTHORIZATION_CODE clients).
    pub client_secret: Option<SecretInput>,
    /// OAuth: scopes to request (at most 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub scopes: Option<Vec<String>>,
    /// CLIENT_CREDENTIALS: `audience` parameter.
    pub audience: Option<String>,
    /// OAuth: RFC 8707 resource indicator.
    pub resource: Option<String>,
    /// AUTHORIZATION_CODE: redirect URIs a flow may use (1 to 20, each once).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 20)]
    pub allowed_redirect_uris: Option<Vec<String>>,
    /// AUTHORIZATION_CODE: use PKCE S256 (default true).
    pub use_pkce: Option<bool>,
    /// AUTHORIZATION_CODE: the RFC 7009 revocation endpoint, on the token endpoint's origin;
    /// when set, deleting the config (or voiding its tokens) revokes the refresh token there.
    pub revocation_url: Option<String>,
    /// OAuth: client authentication at the token endpoint.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// OAuth with `private_key_jwt`: the client's private key, PEM (PKCS#8, SEC 1 or PKCS#1; EC
    /// P-256 signs ES256, RSA of 2048 bits or more RS256), as the value or a Secrets Manager
    /// reference. Absent, this service creates
    /// a key for the config that never leaves the key service (KMS), and publishes its public half
    /// at `client_assertion.jwks_path` for the authorization server.
    pub private_key: Option<SecretInput>,
    /// The origins (`https://host[:port]`; a URL stands for its origin) of the MCP servers this
    /// config's credentials may be sent to, at most 20. Absent: the first server that uses the
    /// config (or, with `resource`, the resource's origin) binds it. Changing it needs every
    /// secret of the config in the same request.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub allowed_origins: Option<Vec<String>>,
    /// AUTHORIZATION_CODE: `shared` (default: one token set for everyone) or `per_user` (each
    /// user connects their own account). Not changeable while tokens exist.
    pub connection_mode: Option<ConnectionMode>,
    /// AUTHORIZATION_CODE: the authorization server's issuer identifier (RFC 8414), an http(s)
    /// URL without query: an authorization response naming another issuer in `iss` (RFC 9207)
    /// is refused, whatever the callback. Discovered with `discover_from`; otherwise, when not
    /// given, read at each authorization from the metadata the authorization endpoint's origin
    /// publishes, if it names exactly this config's endpoints.
    pub issuer: Option<String>,
    /// AUTHORIZATION_CODE, on create: the URL of an OAuth-protected MCP server, from which the
    /// endpoints, `resource`, scopes and (unless `client_id` is given) a client registration are
    /// discovered (MCP authorization: RFC 9728, RFC 8414, RFC 7591). Those fields are then not
    /// given; `allowed_redirect_uris` is.
    pub discover_from: Option<String>,
}

impl AuthConfigInput {
    /// Which of the type-dependent fields the input gives.
    pub fn given(&self) -> [(&'static str, bool); 16] {
        [
            ("issuer", self.issuer.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("token_url", self.token_url.is_some()),
            ("authorization_url", self.authorization_url.is_some()),
            ("client_id", self.client_id.is_some()),
            ("client_secret", self.client_secret.is_some()),
            ("scopes", self.scopes.is_some()),
            ("audience", self.audience.is_some()),
            ("resource", self.resource.is_some()),
            (
                "allowed_redirect_uris",
                self.allowed_redirect_uris.is_some(),
            ),
            ("use_pkce", self.use_pkce.is_some()),
            ("connection_mode", self.connection_mode.is_some()),
            ("revocation_url", self.revocation_url.is_some()),
            (
                "token_endpoint_auth_method",
                self.token_endpoint_auth_method.is_some(),
            ),
            ("private_key", self.private_key.is_some()),
        ]
    }
}

/// The signing key this service holds for a `private_key_jwt` config: its reference at the key
/// service and its public JWK (public: served at the JWKS URL without a key-service call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedKey {
    /// `kid` and the key service's key id.
    #[serde(flatten)]
    pub key: crate::crypto::signing::SigningKeyRef,
    /// The public half, as published.
    pub public_jwk: crate::crypto::signing::PublicJwk,
}

/// How a `private_key_jwt` config's assertions are verified: shown on the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClientAssertionView {
    /// The `kid` of the assertions' header.
    pub kid: String,
    /// The path, on this API's origin, of the public JWKS to register at the authorization
    /// server as the client's `jwks_uri` (served without authentication).
    pub jwks_path: String,
    /// The public key itself, to register where a JWKS URL is not accepted.
    pub public_jwk: crate::crypto::signing::PublicJwk,
}

impl ClientAssertionView {
    fn of(key: &ManagedKey) -> Self {
        Self {
            kid: key.key.kid.clone(),
            jwks_path: jwks_path(&key.key.kid),
            public_jwk: key.public_jwk.clone(),
        }
    }
}

/// Where the public JWKS of held signing keys are served: `{JWKS_PREFIX}{kid}`.
pub const JWKS_PREFIX: &str = "/ai/api/v1/oauth/jwks/";

/// The API path of the public JWKS of the key `kid`.
pub fn jwks_path(kid: &str) -> String {
    format!("{JWKS_PREFIX}{kid}")
}

/// Whose tokens an `AUTHORIZATION_CODE` config holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// One token set, authorized once and used by everyone who uses the config.
    #[default]
    Shared,
    /// Each user authorizes their own account; requests made for a user carry that user's
    /// token, never another's.
    PerUser,
}

impl ConnectionMode {
    /// Whether this is the default (kept out of stored records and views).
    pub fn is_shared(&self) -> bool {
        *self == Self::Shared
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How an auth config's OAuth client came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientRegistration {
    /// Registered by hand at the provider (`client_id` given).
    PreRegistered,
    /// Registered by this service at the provider's registration endpoint (RFC 7591).
    Dynamic,
    /// This deployment's client ID metadata document: the client id is its https URL.
    MetadataDocument,
}

/// What discovery found when the config was created from an MCP server's URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Discovery {
    /// The MCP server URL it started from.
    pub from: String,
    /// The authorization server's issuer.
    pub issuer: String,
    /// How the client was registered.
    pub registration: ClientRegistration,
    /// Whether the authorization server puts `iss` in its authorization responses (RFC 9207).
    pub iss_parameter_supported: bool,
}

/// An auth config as stored in the record body (secrets only as slots and one envelope).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAuthConfig {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Credential type (records written before the rename carry it as `type`).
    #[serde(alias = "type")]
    pub auth_type: AuthType,
    /// Custom header names and where their values are.
    pub custom_headers: BTreeMap<String, SecretSlot>,
    /// BASIC user name.
    pub username: Option<String>,
    /// BASIC password.
    pub password: Option<SecretSlot>,
    /// OAuth token endpoint.
    pub token_url: Option<String>,
    /// OAuth authorization endpoint.
    pub authorization_url: Option<String>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<SecretSlot>,
    /// OAuth scopes.
    pub scopes: Option<Vec<String>>,
    /// OAuth audience.
    pub audience: Option<String>,
    /// OAuth resource indicator.
    pub resource: Option<String>,
    /// Allowed redirect URIs.
    pub allowed_redirect_uris: Option<Vec<String>>,
    /// PKCE on or off.
    pub use_pkce: Option<bool>,
    /// RFC 7009 revocation endpoint.
    pub revocation_url: Option<String>,
    /// The authorization server's issuer, as given (RFC 8414).
    pub issuer: Option<String>,
    /// Token endpoint client authentication.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// `private_key_jwt` with a key given: where the PEM is.
    pub private_key: Option<SecretSlot>,
    /// `private_key_jwt` without a key given: the key this service holds for the config.
    pub signing_key: Option<ManagedKey>,
    /// Origins of the MCP servers the credentials may be sent to; empty until bound.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// What discovery found, for a config created with `discover_from`.
    pub discovery: Option<Discovery>,
    /// AUTHORIZATION_CODE: whose tokens the config holds.
    #[serde(default, skip_serializing_if = "ConnectionMode::is_shared")]
    pub connection_mode: ConnectionMode,
    /// Moves on whenever a change voids the config's tokens; tokens obtained under an earlier
    /// epoch are void (every user's at once, for `per_user`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens_epoch: u64,
    /// The inline secrets, sealed: a JSON object from field path to value.
    pub secrets: Option<Envelope>,
}

/// An auth config as returned by the API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthConfigView {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Credential type.
    pub auth_type: AuthType,
    /// Custom header names; values are write-only.
    pub custom_headers: BTreeMap<String, SecretView>,
    /// BASIC user name.
    pub username: Option<String>,
    /// BASIC password (write-only).
    pub password: Option<SecretView>,
    /// OAuth token endpoint.
    pub token_url: Option<String>,
    /// OAuth authorization endpoint.
    pub authorization_url: Option<String>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth client secret (write-only).
    pub client_secret: Option<SecretView>,
    /// OAuth scopes.
    pub scopes: Option<Vec<String>>,
    /// OAuth audience.
    pub audience: Option<String>,
    /// OAuth resource indicator.
    pub resource: Option<String>,
    /// Allowed redirect URIs.
    pub allowed_redirect_uris: Option<Vec<String>>,
    /// PKCE on or off.
    pub use_pkce: Option<bool>,
    /// RFC 7009 revocation endpoint.
    pub revocation_url: Option<String>,
    /// The authorization server's issuer, as given (RFC 8414).
    pub issuer: Option<String>,
    /// Token endpoint client authentication.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// `private_key_jwt` with a key given: the PEM (write-only).
    pub private_key: Option<SecretView>,
    /// `private_key_jwt` with a key this service holds: its id, public key and JWKS path.
    pub client_assertion: Option<ClientAssertionView>,
    /// Origins of the MCP servers the credentials may be sent to (empty: not bound yet; the
    /// first server that uses the config binds it).
    pub allowed_origins: Vec<String>,
    /// What discovery found, for a config created with `discover_from`.
    pub discovery: Option<Discovery>,
    /// AUTHORIZATION_CODE: `shared` or `per_user`.
    pub connection_mode: Option<ConnectionMode>,
    /// AUTHORIZATION_CODE with `per_user`: how many users have connected their account.
    pub connected_users: Option<u64>,
    /// AUTHORIZATION_CODE: whether a usable token is stored (for `per_user`: the caller's).
    pub token_status: Option<TokenStatus>,
    /// AUTHORIZATION_CODE: when the access token expires, RFC 3339.
    pub token_expires_at: Option<String>,
    /// AUTHORIZATION_CODE: the scopes granted.
    pub granted_scopes: Option<Vec<String>>,
    /// AUTHORIZATION_CODE: the last successful refresh, RFC 3339.
    pub last_refresh_at: Option<String>,
    /// AUTHORIZATION_CODE: why the last refresh failed.
    pub last_refresh_error: Option<String>,
    /// AUTHORIZATION_CODE: when the next refresh is due, RFC 3339.
    pub next_refresh_at: Option<String>,
    /// INSUFFICIENT_SCOPE: the scopes an MCP server asked for (the next authorization asks for
    /// them as well as those granted).
    pub required_scopes: Option<Vec<String>>,
    /// AUTHORIZATION_SERVER_CHANGED: the authorization server the MCP server names now.
    pub new_authorization_server: Option<String>,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
}

impl StoredAuthConfig {
    /// The view at `version`, without token state (see [`AuthConfigView::with_token_state`]).
    pub fn view_at(&self, version: u64) -> AuthConfigView {
        AuthConfigView {
            meta: self.meta.clone(),
            auth_type: self.auth_type,
            custom_headers: self
                .custom_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.into()))
                .collect(),
            username: self.username.clone(),
            password: self.password.as_ref().map(Into::into),
            token_url: self.token_url.clone(),
            authorization_url: self.authorization_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.as_ref().map(Into::into),
            scopes: self.scopes.clone(),
            audience: self.audience.clone(),
            resource: self.resource.clone(),
            allowed_redirect_uris: self.allowed_redirect_uris.clone(),
            use_pkce: self.use_pkce,
            revocation_url: self.revocation_url.clone(),
            issuer: self.issuer.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            private_key: self.private_key.as_ref().map(Into::into),
            client_assertion: self.signing_key.as_ref().map(ClientAssertionView::of),
            allowed_origins: self.allowed_origins.clone(),
            discovery: self.discovery.clone(),
            connection_mode: (self.auth_type == AuthType::AuthorizationCode)
                .then_some(self.connection_mode),
            connected_users: None,
            // Filled from the token item by `with_token_state`; until then: not authorized.
            token_status: (self.auth_type == AuthType::AuthorizationCode)
                .then_some(TokenStatus::NotAuthorized),
            token_expires_at: None,
            granted_scopes: None,
            last_refresh_at: None,
            last_refresh_error: None,
            next_refresh_at: None,
            required_scopes: None,
            new_authorization_server: None,
            version,
        }
    }

    /// Every Secrets Manager reference of the config, by field path.
    pub fn secret_references(&self) -> Vec<(String, &SecretRef)> {
        let headers = self
            .custom_headers
            .iter()
            .map(|(name, slot)| (format!("custom_headers.{name}"), slot));
        let fields = [
            ("password", &self.password),
            ("client_secret", &self.client_secret),
            ("private_key", &self.private_key),
        ]
        .into_iter()
        .filter_map(|(name, slot)| Some((name.to_owned(), slot.as_ref()?)));
        headers
            .chain(fields)
            .filter_map(|(field, slot)| match slot {
                SecretSlot::Reference(reference) => Some((field, reference)),
                SecretSlot::Inline => None,
            })
            .collect()
    }

    /// The references of this config that `before` did not already have at the same field.
    pub fn new_references<'a>(&'a self, before: Option<&Self>) -> Vec<(String, &'a SecretRef)> {
        let old = before.map(Self::secret_references).unwrap_or_default();
        self.secret_references()
            .into_iter()
            .filter(|(field, reference)| !old.iter().any(|(f, r)| f == field && r == reference))
            .collect()
    }

    /// Paths of the secrets sealed in this config's envelope.
    pub fn inline_fields(&self) -> BTreeSet<String> {
        let headers = self
            .custom_headers
            .iter()
            .filter(|(_, slot)| **slot == SecretSlot::Inline)
            .map(|(name, _)| format!("custom_headers.{name}"));
        let fields = [
            ("password", &self.password),
            ("client_secret", &self.client_secret),
            ("private_key", &self.private_key),
        ]
        .into_iter()
        .filter(|(_, slot)| *slot == &Some(SecretSlot::Inline))
        .map(|(name, _)| name.to_owned());
        headers.chain(fields).collect()
    }
}

impl AuthConfigView {
    /// The view with the token state of an `AUTHORIZATION_CODE` config filled in.
    pub fn with_token_state(mut self, token: TokenState) -> Self {
        if self.auth_type != AuthType::AuthorizationCode {
            return self;
        }
        let at = |seconds: Option<i64>| {
            seconds
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .map(crate::model::rfc3339)
        };
        self.token_status = Some(token.status);
        self.token_expires_at = at(token.expires_at);
        self.granted_scopes = token.granted_scopes;
        self.last_refresh_at = at(token.last_refresh_at);
        self.last_refresh_error = token.last_refresh_error;
        self.next_refresh_at = at(token.next_refresh_at);
        self.required_scopes = (!token.required_scopes.is_empty()).then_some(token.required_scopes);
        self.new_authorization_server = token.moved_to;
        self
    }
}

/// The token state shown on an auth config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenState {
    /// `NOT_AUTHORIZED`, `VALID`, `EXPIRED`, `REAUTHORIZATION_REQUIRED`, `INSUFFICIENT_SCOPE`
    /// or `AUTHORIZATION_SERVER_CHANGED`.
    pub status: TokenStatus,
    /// Access token expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Scopes granted.
    pub granted_scopes: Option<Vec<String>>,
    /// Last successful refresh, Unix seconds.
    pub last_refresh_at: Option<i64>,
    /// Why the last refresh failed.
    pub last_refresh_error: Option<String>,
    /// When a refresh is next due, Unix seconds.
    pub next_refresh_at: Option<i64>,
    /// Scopes an MCP server asked for beyond those granted.
    pub required_scopes: Vec<String>,
    /// The authorization server the MCP server names now.
    pub moved_to: Option<String>,
}

/// How the config's client authenticates at the token endpoint.
pub fn client_auth(config: &StoredAuthConfig) -> crate::oauth::ClientAuth {
    match config.token_endpoint_auth_method {
        Some(TokenEndpointAuthMethod::ClientSecretPost) => crate::oauth::ClientAuth::Post,
        Some(TokenEndpointAuthMethod::None) => crate::oauth::ClientAuth::None,
        Some(TokenEndpointAuthMethod::PrivateKeyJwt) => crate::oauth::ClientAuth::PrivateKeyJwt,
        Some(TokenEndpointAuthMethod::ClientSecretBasic) | None => {
            if config.client_secret.is_some() {
                crate::oauth::ClientAuth::Basic
            } else {
                crate::oauth::ClientAuth::None
            }
        }
    }
}

/// Opens a config's sealed secrets: field path → value.
pub async fn open_secrets(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    envelope: &Envelope,
) -> Result<BTreeMap<String, SecretString>, Error> {
    open_sealed(state, tenant_id, id, PURPOSE, envelope).await
}

/// The config's client secret, resolved: an inline one costs one decryption, a reference one
/// (cached) Secrets Manager lookup; `None` for a public client.
pub async fn client_secret(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
) -> Result<Option<SecretString>, CredentialError> {
    match &config.client_secret {
        None => Ok(None),
        Some(SecretSlot::Reference(reference)) => {
            Ok(Some(state.secrets.resolve(tenant_id, reference).await?))
        }
        Some(SecretSlot::Inline) => {
            let envelope = config.secrets.as_ref().ok_or_else(|| {
                CredentialError::Internal("inline client_secret without envelope".into())
            })?;
            let mut opened = open_secrets(state, tenant_id, &config.meta.id, envelope)
                .await
                .map_err(|e| CredentialError::Internal(e.to_string()))?;
            opened
                .remove("client_secret")
                .map(Some)
                .ok_or_else(|| CredentialError::Internal("sealed client_secret is missing".into()))
        }
    }
}

/// Why an auth config could not produce credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// AUTHORIZATION_CODE without a stored token: a user must authorize first.
    #[error("the auth config has no token yet; start the OAuth authorization for it first")]
    NotAuthorized,
    /// AUTHORIZATION_CODE whose grant was revoked: a user must authorize again.
    #[error(
        "the authorization server no longer accepts the grant; authorize the auth config again"
    )]
    ReauthorizationRequired,
    /// The access token expired and could not be refreshed.
    #[error("the access token expired and could not be refreshed: {0}")]
    Expired(String),
    /// A Secrets Manager reference could not be resolved.
    #[error("a secret reference could not be resolved: {0}")]
    Secret(#[from] crate::secrets::SecretError),
    /// The MCP server now names another authorization server than the config's.
    #[error(
        "the MCP server now uses the authorization server {0}; discover the auth config again \
         (PATCH discover_from) and authorize it"
    )]
    AuthorizationServerChanged(String),
    /// The server is not on an origin the credentials were entered for.
    #[error(
        "the auth config's credentials were not entered for this server's origin; nothing was sent"
    )]
    NotForThisOrigin,
    /// The token endpoint refused or failed.
    #[error("{0}")]
    Token(#[from] crate::oauth::TokenError),
    /// Decryption or another internal failure.
    #[error("credentials are unavailable: {0}")]
    Internal(String),
}

crate::model::resource::record!(StoredAuthConfig => AuthConfigView);
