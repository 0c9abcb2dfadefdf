//! Auth configs: the credentials for a remote MCP server, of four types (`NONE`, `BASIC`,
//! `CLIENT_CREDENTIALS`, `AUTHORIZATION_CODE`), each with optional `custom_headers`.
//!
//! Secret fields (`password`, `client_secret`, custom header values) are write-only: given inline
//! they are sealed together in one envelope per record (one key-provider call per write), given as
//! a Secrets Manager reference only the reference is stored; responses show `{"set": true}`.
//! PATCH is a JSON merge patch over the editable document, where a stored secret appears as
//! `{"set": true}` (keep it), and is written with optimistic locking on `version`.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{new_id, rfc3339, tenant_pk, validate};
use crate::{
    AppState, Error,
    api::{ListParams, Page, Principal},
    crypto::{EncryptionContext, Envelope},
    error::FieldError,
    secrets::SecretRef,
    store::{Body, Condition, Item, TxOp},
};

const SK_PREFIX: &str = "AUTH#";
const PURPOSE: &str = "auth_config.secrets";
const MAX_HEADERS: usize = 32;
const MAX_SCOPES: usize = 50;
const MAX_REDIRECT_URIS: usize = 20;

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
    fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Basic => "BASIC",
            Self::ClientCredentials => "CLIENT_CREDENTIALS",
            Self::AuthorizationCode => "AUTHORIZATION_CODE",
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
}

/// A secret field as sent by a client: the value itself, a Secrets Manager reference
/// `{"secret_arn", "json_key"?}`, or — in a PATCH — `{"set": true}` to keep the stored secret.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(
    untagged,
    expecting = "must be the secret as a string, or {\"secret_arn\": ..., \"json_key\": ...}"
)]
pub enum SecretInput {
    /// The secret value.
    #[schema(value_type = String)]
    Value(SecretString),
    /// A reference, or `{"set": true}`.
    Object(SecretObject),
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("SecretInput::Value([redacted])"),
            Self::Object(o) => f.debug_tuple("SecretInput::Object").field(o).finish(),
        }
    }
}

/// Object form of [`SecretInput`].
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretObject {
    /// `true` keeps the stored secret (PATCH only).
    #[serde(default)]
    pub set: Option<bool>,
    /// Secrets Manager secret ARN.
    #[serde(default)]
    pub secret_arn: Option<String>,
    /// Key inside a JSON secret.
    #[serde(default)]
    pub json_key: Option<String>,
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
    #[serde(default)]
    pub custom_headers: Option<BTreeMap<String, SecretInput>>,
    /// BASIC: user name (no `:`).
    #[serde(default)]
    pub username: Option<String>,
    /// BASIC: password (secret).
    #[serde(default)]
    pub password: Option<SecretInput>,
    /// OAuth: token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// AUTHORIZATION_CODE: authorization endpoint.
    #[serde(default)]
    pub authorization_url: Option<String>,
    /// OAuth: client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// OAuth: client secret (secret; optional for public AUTHORIZATION_CODE clients).
    #[serde(default)]
    pub client_secret: Option<SecretInput>,
    /// OAuth: scopes to request (at most 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub scopes: Option<Vec<String>>,
    /// CLIENT_CREDENTIALS: `audience` parameter.
    #[serde(default)]
    pub audience: Option<String>,
    /// OAuth: RFC 8707 resource indicator.
    #[serde(default)]
    pub resource: Option<String>,
    /// AUTHORIZATION_CODE: redirect URIs a flow may use (1 to 20, each once).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 20)]
    pub allowed_redirect_uris: Option<Vec<String>>,
    /// AUTHORIZATION_CODE: use PKCE S256 (default true).
    #[serde(default)]
    pub use_pkce: Option<bool>,
    /// AUTHORIZATION_CODE: the RFC 7009 revocation endpoint, on the token endpoint's origin;
    /// when set, deleting the config (or voiding its tokens) revokes the refresh token there.
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// OAuth: client authentication at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// The origins (`https://host[:port]`; a URL stands for its origin) of the MCP servers this
    /// config's credentials may be sent to, at most 20. Absent: the first server that uses the
    /// config (or, with `resource`, the resource's origin) binds it. Changing it needs every
    /// secret of the config in the same request.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub allowed_origins: Option<Vec<String>>,
}

/// Where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSlot {
    /// Sealed in the record's envelope.
    Inline,
    /// In Secrets Manager.
    Reference(SecretRef),
}

/// How a secret field appears in responses: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SecretView {
    /// Always true: the secret is set.
    pub set: bool,
    /// The Secrets Manager ARN, for a reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// The JSON key, for a reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_key: Option<String>,
}

impl From<&SecretSlot> for SecretView {
    fn from(slot: &SecretSlot) -> Self {
        match slot {
            SecretSlot::Inline => Self {
                set: true,
                secret_arn: None,
                json_key: None,
            },
            SecretSlot::Reference(r) => Self {
                set: true,
                secret_arn: Some(r.secret_arn.clone()),
                json_key: r.json_key.clone(),
            },
        }
    }
}

/// An auth config as stored in the record body (secrets only as slots and one envelope).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAuthConfig {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
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
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// Token endpoint client authentication.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Origins of the MCP servers the credentials may be sent to; empty until bound.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The inline secrets, sealed: a JSON object from field path to value.
    pub secrets: Option<Envelope>,
    /// Creator.
    pub created_by: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

/// An auth config as returned by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthConfigView {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Credential type.
    pub auth_type: AuthType,
    /// Custom header names; values are write-only.
    pub custom_headers: BTreeMap<String, SecretView>,
    /// BASIC user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// BASIC password (write-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretView>,
    /// OAuth token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// OAuth authorization endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// OAuth client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth client secret (write-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretView>,
    /// OAuth scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// OAuth audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// OAuth resource indicator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Allowed redirect URIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_redirect_uris: Option<Vec<String>>,
    /// PKCE on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_pkce: Option<bool>,
    /// RFC 7009 revocation endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    /// Token endpoint client authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Origins of the MCP servers the credentials may be sent to (empty: not bound yet; the
    /// first server that uses the config binds it).
    pub allowed_origins: Vec<String>,
    /// AUTHORIZATION_CODE: whether a usable token is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_status: Option<TokenStatus>,
    /// AUTHORIZATION_CODE: when the access token expires, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// AUTHORIZATION_CODE: the scopes granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted_scopes: Option<Vec<String>>,
    /// AUTHORIZATION_CODE: the last successful refresh, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refresh_at: Option<String>,
    /// AUTHORIZATION_CODE: why the last refresh failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refresh_error: Option<String>,
    /// AUTHORIZATION_CODE: when the next refresh is due, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_refresh_at: Option<String>,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

impl StoredAuthConfig {
    fn view(&self, version: u64) -> AuthConfigView {
        AuthConfigView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
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
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            allowed_origins: self.allowed_origins.clone(),
            // Filled from the token item by `with_token_state`; until then: not authorized.
            token_status: (self.auth_type == AuthType::AuthorizationCode)
                .then_some(TokenStatus::NotAuthorized),
            token_expires_at: None,
            granted_scopes: None,
            last_refresh_at: None,
            last_refresh_error: None,
            next_refresh_at: None,
            version,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// Every Secrets Manager reference of the config, by field path.
    fn references(&self) -> Vec<(String, &SecretRef)> {
        let headers = self
            .custom_headers
            .iter()
            .map(|(name, slot)| (format!("custom_headers.{name}"), slot));
        let fields = [
            ("password", &self.password),
            ("client_secret", &self.client_secret),
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
    fn new_references<'a>(&'a self, before: Option<&Self>) -> Vec<(String, &'a SecretRef)> {
        let old = before.map(Self::references).unwrap_or_default();
        self.references()
            .into_iter()
            .filter(|(field, reference)| !old.iter().any(|(f, r)| f == field && r == reference))
            .collect()
    }

    /// Paths of the secrets sealed in this config's envelope.
    fn inline_fields(&self) -> BTreeSet<String> {
        let headers = self
            .custom_headers
            .iter()
            .filter(|(_, slot)| **slot == SecretSlot::Inline)
            .map(|(name, _)| format!("custom_headers.{name}"));
        let fields = [
            ("password", &self.password),
            ("client_secret", &self.client_secret),
        ]
        .into_iter()
        .filter(|(_, slot)| *slot == &Some(SecretSlot::Inline))
        .map(|(name, _)| name.to_owned());
        headers.chain(fields).collect()
    }
}

/// What to do with one secret field after validation.
pub(crate) enum SecretChoice {
    /// Keep the sealed value.
    Keep,
    /// Seal this new value.
    New(SecretString),
    /// A Secrets Manager reference: nothing to seal.
    Ref,
}

impl super::EditableRecord for StoredAuthConfig {
    const SK_PREFIX: &'static str = SK_PREFIX;
    const WHAT: &'static str = "auth config";
    const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "auth_type",
        "custom_headers",
        "username",
        "password",
        "token_url",
        "authorization_url",
        "client_id",
        "client_secret",
        "scopes",
        "audience",
        "resource",
        "allowed_redirect_uris",
        "use_pkce",
        "revocation_url",
        "token_endpoint_auth_method",
        "allowed_origins",
    ];

    /// The document a merge patch applies to: the input shape, stored secrets as `{"set": true}`
    /// and references as `{"secret_arn", "json_key"}`.
    fn editable(&self) -> Value {
        let slot = |s: &SecretSlot| match s {
            SecretSlot::Inline => serde_json::json!({ "set": true }),
            SecretSlot::Reference(r) => serde_json::to_value(r).unwrap_or(Value::Null),
        };
        let mut doc = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                doc.insert(k.to_owned(), v);
            }
        };
        put("name", Value::from(self.name.clone()));
        put(
            "description",
            serde_json::to_value(&self.description).unwrap_or_default(),
        );
        put(
            "auth_type",
            serde_json::to_value(self.auth_type).unwrap_or_default(),
        );
        if !self.custom_headers.is_empty() {
            put(
                "custom_headers",
                Value::Object(
                    self.custom_headers
                        .iter()
                        .map(|(k, v)| (k.clone(), slot(v)))
                        .collect(),
                ),
            );
        }
        put(
            "username",
            serde_json::to_value(&self.username).unwrap_or_default(),
        );
        put(
            "password",
            self.password.as_ref().map(slot).unwrap_or_default(),
        );
        put(
            "token_url",
            serde_json::to_value(&self.token_url).unwrap_or_default(),
        );
        put(
            "authorization_url",
            serde_json::to_value(&self.authorization_url).unwrap_or_default(),
        );
        put(
            "client_id",
            serde_json::to_value(&self.client_id).unwrap_or_default(),
        );
        put(
            "client_secret",
            self.client_secret.as_ref().map(slot).unwrap_or_default(),
        );
        put(
            "scopes",
            serde_json::to_value(&self.scopes).unwrap_or_default(),
        );
        put(
            "audience",
            serde_json::to_value(&self.audience).unwrap_or_default(),
        );
        put(
            "resource",
            serde_json::to_value(&self.resource).unwrap_or_default(),
        );
        put(
            "allowed_redirect_uris",
            serde_json::to_value(&self.allowed_redirect_uris).unwrap_or_default(),
        );
        put(
            "use_pkce",
            serde_json::to_value(self.use_pkce).unwrap_or_default(),
        );
        put(
            "revocation_url",
            serde_json::to_value(&self.revocation_url).unwrap_or_default(),
        );
        put(
            "token_endpoint_auth_method",
            serde_json::to_value(self.token_endpoint_auth_method).unwrap_or_default(),
        );
        if !self.allowed_origins.is_empty() {
            put("allowed_origins", Value::from(self.allowed_origins.clone()));
        }
        Value::Object(doc)
    }
}

/// Validated input: the stored shape without secrets and timestamps, plus the secret decisions.
struct Validated {
    config: StoredAuthConfig,
    secrets: Vec<(String, SecretChoice)>,
}

/// Collects field errors while validating input.
pub(crate) struct Checker {
    pub(crate) errors: Vec<FieldError>,
}

impl Checker {
    /// Records `result`'s error against `field`.
    pub(crate) fn check(&mut self, field: impl Into<String>, result: Result<(), String>) {
        if let Err(message) = result {
            self.errors.push(FieldError::new(field, message));
        }
    }

    /// Decides what to do with a secret field: seal a new value, keep the stored one
    /// (`{"set": true}`), or store a reference.
    pub(crate) fn secret(
        &mut self,
        field: &str,
        input: &SecretInput,
        existing: Option<&SecretSlot>,
        check_value: fn(&str) -> Result<(), String>,
    ) -> Option<(SecretSlot, SecretChoice)> {
        match input {
            SecretInput::Value(v) => {
                self.check(field, check_value(v.expose_secret()));
                Some((SecretSlot::Inline, SecretChoice::New(v.clone())))
            }
            SecretInput::Object(SecretObject {
                set: None | Some(true),
                secret_arn: Some(arn),
                json_key,
            }) => {
                self.check(format!("{field}.secret_arn"), validate::secret_arn(arn));
                if let Some(key) = json_key {
                    self.check(format!("{field}.json_key"), validate::text(key, 256));
                }
                let reference = SecretRef {
                    secret_arn: arn.clone(),
                    json_key: json_key.clone(),
                };
                Some((SecretSlot::Reference(reference), SecretChoice::Ref))
            }
            SecretInput::Object(SecretObject {
                set: Some(true),
                secret_arn: None,
                json_key: None,
            }) => match existing {
                Some(slot @ SecretSlot::Inline) => Some((slot.clone(), SecretChoice::Keep)),
                Some(slot @ SecretSlot::Reference(_)) => Some((slot.clone(), SecretChoice::Ref)),
                None => {
                    self.check(
                        field,
                        Err("no secret is stored here to keep; give the value".into()),
                    );
                    None
                }
            },
            SecretInput::Object(_) => {
                self.check(
                    field,
                    Err("must be the secret as a string, or {\"secret_arn\": ..., \"json_key\": ...}".into()),
                );
                None
            }
        }
    }
}

fn validate_input(
    input: AuthConfigInput,
    allow_insecure_http: bool,
    existing: Option<&StoredAuthConfig>,
) -> Result<Validated, Error> {
    let mut c = Checker { errors: Vec::new() };
    let t = input.auth_type;
    c.check("name", validate::text(&input.name, 200));
    if let Some(d) = &input.description {
        if d.chars().count() > 2000 {
            c.check("description", Err("must be at most 2000 characters".into()));
        }
    }

    // Which fields each type takes.
    let allowed: &[&str] = match t {
        AuthType::None => &[],
        AuthType::Basic => &["username", "password"],
        AuthType::ClientCredentials => &[
            "token_url",
            "client_id",
            "client_secret",
            "scopes",
            "audience",
            "resource",
            "token_endpoint_auth_method",
        ],
        AuthType::AuthorizationCode => &[
            "authorization_url",
            "token_url",
            "client_id",
            "client_secret",
            "scopes",
            "resource",
            "allowed_redirect_uris",
            "use_pkce",
            "revocation_url",
            "token_endpoint_auth_method",
        ],
    };
    let present = [
        ("username", input.username.is_some()),
        ("password", input.password.is_some()),
        ("token_url", input.token_url.is_some()),
        ("authorization_url", input.authorization_url.is_some()),
        ("client_id", input.client_id.is_some()),
        ("client_secret", input.client_secret.is_some()),
        ("scopes", input.scopes.is_some()),
        ("audience", input.audience.is_some()),
        ("resource", input.resource.is_some()),
        (
            "allowed_redirect_uris",
            input.allowed_redirect_uris.is_some(),
        ),
        ("use_pkce", input.use_pkce.is_some()),
        ("revocation_url", input.revocation_url.is_some()),
        (
            "token_endpoint_auth_method",
            input.token_endpoint_auth_method.is_some(),
        ),
    ];
    for (field, is_present) in present {
        if is_present && !allowed.contains(&field) {
            c.check(
                field,
                Err(format!("is not allowed for auth_type {}", t.name())),
            );
        }
    }
    let required: &[&str] = match t {
        AuthType::None => &[],
        AuthType::Basic => &["username", "password"],
        AuthType::ClientCredentials => &["token_url", "client_id", "client_secret"],
        AuthType::AuthorizationCode => &[
            "authorization_url",
            "token_url",
            "client_id",
            "allowed_redirect_uris",
        ],
    };
    for field in required {
        if !present.iter().any(|(f, p)| f == field && *p) {
            c.check(
                *field,
                Err(format!("is required for auth_type {}", t.name())),
            );
        }
    }

    let mut secrets = Vec::new();
    let mut custom_headers = BTreeMap::new();
    if let Some(headers) = &input.custom_headers {
        if headers.len() > MAX_HEADERS {
            c.check(
                "custom_headers",
                Err(format!("must have at most {MAX_HEADERS} headers")),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (name, value) in headers {
            let field = format!("custom_headers.{name}");
            c.check(&field, validate::header_name(name, t == AuthType::None));
            if !seen.insert(name.to_ascii_lowercase()) {
                c.check(
                    &field,
                    Err("is given twice (header names are case-insensitive)".into()),
                );
            }
            let existing_slot = existing.and_then(|e| e.custom_headers.get(name));
            if let Some((slot, choice)) =
                c.secret(&field, value, existing_slot, validate::header_value)
            {
                custom_headers.insert(name.clone(), slot);
                secrets.push((field, choice));
            }
        }
    }

    if let Some(username) = &input.username {
        c.check("username", validate::text(username, 256));
        if username.contains(':') {
            c.check(
                "username",
                Err("must not contain ':' (HTTP Basic separates user and password with it)".into()),
            );
        }
    }
    let mut secret_field = |c: &mut Checker,
                            name: &str,
                            input: Option<&SecretInput>,
                            existing: Option<&SecretSlot>| {
        let (slot, choice) = c.secret(name, input?, existing, validate::secret_value)?;
        secrets.push((name.to_owned(), choice));
        Some(slot)
    };
    let password = secret_field(
        &mut c,
        "password",
        input.password.as_ref(),
        existing.and_then(|e| e.password.as_ref()),
    );
    let client_secret = secret_field(
        &mut c,
        "client_secret",
        input.client_secret.as_ref(),
        existing.and_then(|e| e.client_secret.as_ref()),
    );

    for (field, url) in [
        ("token_url", &input.token_url),
        ("authorization_url", &input.authorization_url),
    ] {
        if let Some(url) = url {
            c.check(
                field,
                validate::remote_url(url, allow_insecure_http).map(|_| ()),
            );
        }
    }
    if let Some(client_id) = &input.client_id {
        c.check("client_id", validate::text(client_id, 256));
    }
    if let Some(scopes) = &input.scopes {
        if scopes.len() > MAX_SCOPES {
            c.check(
                "scopes",
                Err(format!("must have at most {MAX_SCOPES} scopes")),
            );
        }
        for (i, s) in scopes.iter().enumerate() {
            c.check(format!("scopes.{i}"), validate::scope(s));
        }
    }
    if let Some(audience) = &input.audience {
        c.check("audience", validate::text(audience, 512));
    }
    if let Some(resource) = &input.resource {
        c.check("resource", validate::resource_uri(resource));
    }
    if let Some(uris) = &input.allowed_redirect_uris {
        if uris.is_empty() {
            c.check(
                "allowed_redirect_uris",
                Err("must list at least one redirect URI".into()),
            );
        }
        if uris.len() > MAX_REDIRECT_URIS {
            c.check(
                "allowed_redirect_uris",
                Err(format!("must list at most {MAX_REDIRECT_URIS} URIs")),
            );
        }
        for (i, uri) in uris.iter().enumerate() {
            c.check(
                format!("allowed_redirect_uris.{i}"),
                validate::redirect_uri(uri, allow_insecure_http),
            );
            if uris[..i].contains(uri) {
                c.check(
                    format!("allowed_redirect_uris.{i}"),
                    Err("is listed twice".into()),
                );
            }
        }
    }

    if let Some(revocation_url) = &input.revocation_url {
        // It receives the refresh token and the client's credentials: only where the token
        // endpoint is.
        match validate::remote_url(revocation_url, allow_insecure_http) {
            Ok(url) => {
                let token_origin = input
                    .token_url
                    .as_deref()
                    .and_then(super::destinations::origin_of);
                if token_origin.is_some()
                    && token_origin != Some(url.origin().ascii_serialization())
                {
                    c.check(
                        "revocation_url",
                        Err("must be on the token_url's origin".into()),
                    );
                }
            }
            Err(message) => c.check("revocation_url", Err(message)),
        }
    }
    let allowed_origins = match &input.allowed_origins {
        Some(origins) => super::destinations::parse_origins(&mut c, origins, allow_insecure_http),
        // Tokens for a resource go to that resource's origin.
        None => input
            .resource
            .as_deref()
            .and_then(super::destinations::origin_of)
            .into_iter()
            .collect(),
    };

    // Client authentication and PKCE.
    let mut method = input.token_endpoint_auth_method;
    match t {
        AuthType::ClientCredentials => {
            if method == Some(TokenEndpointAuthMethod::None) {
                c.check(
                    "token_endpoint_auth_method",
                    Err(
                        "must be client_secret_basic or client_secret_post for CLIENT_CREDENTIALS"
                            .into(),
                    ),
                );
            }
            method.get_or_insert(TokenEndpointAuthMethod::ClientSecretBasic);
        }
        AuthType::AuthorizationCode => {
            let has_secret = input.client_secret.is_some();
            let m = *method.get_or_insert(if has_secret {
                TokenEndpointAuthMethod::ClientSecretBasic
            } else {
                TokenEndpointAuthMethod::None
            });
            match (m, has_secret) {
                (TokenEndpointAuthMethod::None, true) => c.check(
                    "client_secret",
                    Err(
                        "must be absent when token_endpoint_auth_method is none (public client)"
                            .into(),
                    ),
                ),
                (
                    TokenEndpointAuthMethod::ClientSecretBasic
                    | TokenEndpointAuthMethod::ClientSecretPost,
                    false,
                ) => {
                    c.check(
                        "client_secret",
                        Err("is required unless token_endpoint_auth_method is none".into()),
                    );
                }
                _ => {}
            }
            if m == TokenEndpointAuthMethod::None && input.use_pkce == Some(false) {
                c.check(
                    "use_pkce",
                    Err(
                        "must be true for a public client (token_endpoint_auth_method none)".into(),
                    ),
                );
            }
        }
        AuthType::None | AuthType::Basic => {}
    }
    let use_pkce = (t == AuthType::AuthorizationCode).then(|| input.use_pkce.unwrap_or(true));

    if !c.errors.is_empty() {
        return Err(Error::Validation(c.errors));
    }
    Ok(Validated {
        config: StoredAuthConfig {
            id: String::new(),
            name: input.name.trim().to_owned(),
            description: input.description,
            auth_type: t,
            custom_headers,
            username: input.username,
            password,
            token_url: input.token_url,
            authorization_url: input.authorization_url,
            client_id: input.client_id,
            client_secret,
            scopes: input.scopes,
            audience: input.audience,
            resource: input.resource,
            allowed_redirect_uris: input.allowed_redirect_uris,
            use_pkce,
            revocation_url: input.revocation_url,
            token_endpoint_auth_method: method
                .filter(|_| matches!(t, AuthType::ClientCredentials | AuthType::AuthorizationCode)),
            allowed_origins,
            secrets: None,
            created_by: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
        },
        secrets,
    })
}

impl AuthConfigView {
    /// The view with the token state of an `AUTHORIZATION_CODE` config filled in.
    pub fn with_token_state(mut self, token: super::token::TokenState) -> Self {
        if self.auth_type != AuthType::AuthorizationCode {
            return self;
        }
        let at = |seconds: Option<i64>| {
            seconds
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .map(rfc3339)
        };
        self.token_status = Some(token.status);
        self.token_expires_at = at(token.expires_at);
        self.granted_scopes = token.granted_scopes;
        self.last_refresh_at = at(token.last_refresh_at);
        self.last_refresh_error = token.last_refresh_error;
        self.next_refresh_at = at(token.next_refresh_at);
        self
    }
}

/// The view of a stored config with its token state (one extra read for `AUTHORIZATION_CODE`).
pub async fn view_with_tokens(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
    version: u64,
) -> Result<AuthConfigView, Error> {
    let view = config.view(version);
    if config.auth_type != AuthType::AuthorizationCode {
        return Ok(view);
    }
    let token = super::token::token_state(state, tenant_id, config).await?;
    Ok(view.with_token_state(token))
}

/// How the config's client authenticates at the token endpoint.
pub(crate) fn client_auth(config: &StoredAuthConfig) -> crate::oauth::ClientAuth {
    match config.token_endpoint_auth_method {
        Some(TokenEndpointAuthMethod::ClientSecretPost) => crate::oauth::ClientAuth::Post,
        Some(TokenEndpointAuthMethod::None) => crate::oauth::ClientAuth::None,
        Some(TokenEndpointAuthMethod::ClientSecretBasic) | None => {
            if config.client_secret.is_some() {
                crate::oauth::ClientAuth::Basic
            } else {
                crate::oauth::ClientAuth::None
            }
        }
    }
}

/// Parses a JSON document into [`AuthConfigInput`], naming the field of any error.
pub fn parse_input(doc: Value) -> Result<AuthConfigInput, Error> {
    super::parse_document(doc)
}

/// Seals the inline secrets of a record (envelope purpose `purpose`): `secrets` decided by
/// validation, `previous` the envelope and inline fields stored so far (opened only if some are
/// kept and the envelope must change).
pub(crate) async fn seal_secrets(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    purpose: &'static str,
    secrets: Vec<(String, SecretChoice)>,
    previous: Option<(&Envelope, BTreeSet<String>)>,
) -> Result<Option<Envelope>, Error> {
    let changed = secrets
        .iter()
        .any(|(_, c)| matches!(c, SecretChoice::New(_)));
    let kept: BTreeSet<String> = secrets
        .iter()
        .filter(|(_, c)| matches!(c, SecretChoice::Keep))
        .map(|(k, _)| k.clone())
        .collect();
    if !changed {
        if kept.is_empty() {
            return Ok(None);
        }
        // Nothing new and exactly the same inline secrets: the envelope stays as it is, at no
        // key-provider cost.
        if let Some((envelope, inline)) = &previous {
            if *inline == kept {
                return Ok(Some((*envelope).clone()));
            }
        }
    }
    let old = match previous {
        Some((envelope, _)) if !kept.is_empty() => {
            open_sealed(state, tenant_id, id, purpose, envelope).await?
        }
        _ => BTreeMap::new(),
    };
    let mut sealed: BTreeMap<&str, &str> = BTreeMap::new();
    for (field, choice) in &secrets {
        match choice {
            SecretChoice::New(v) => {
                sealed.insert(field, v.expose_secret());
            }
            SecretChoice::Keep => {
                if let Some(v) = old.get(field.as_str()) {
                    sealed.insert(field, v.expose_secret());
                }
            }
            SecretChoice::Ref => {}
        }
    }
    if sealed.is_empty() {
        return Ok(None);
    }
    let plaintext =
        Zeroizing::new(serde_json::to_vec(&sealed).map_err(|e| Error::Internal(e.to_string()))?);
    Ok(Some(
        state
            .crypto
            .seal(&EncryptionContext::new(tenant_id, id, purpose), &plaintext)
            .await?,
    ))
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

/// Opens the secrets a record sealed with [`seal_secrets`] under `purpose`: field → value.
pub(crate) async fn open_sealed(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    purpose: &'static str,
    envelope: &Envelope,
) -> Result<BTreeMap<String, SecretString>, Error> {
    let context = EncryptionContext::new(tenant_id, id, purpose);
    let plaintext = state.crypto.open(&context, envelope).await?;
    serde_json::from_slice(&plaintext)
        .map_err(|_| Error::Internal("sealed secrets are not a JSON object".into()))
}

/// A config ready to be written (alone, or inside a larger transaction).
#[derive(Debug)]
pub struct PreparedAuthConfig {
    /// The item to create.
    pub item: Item,
    /// The response body once written.
    pub view: AuthConfigView,
}

fn sk(id: &str) -> String {
    format!("{SK_PREFIX}{id}")
}

/// The origin of an endpoint URL (`None` when absent or unparsable: validation refused those).
fn origin_of(url: Option<&String>) -> Option<url::Origin> {
    url.and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin())
}

/// A stored client secret goes only to the token endpoint (and, through the browser, with the
/// authorization endpoint's flow) it was entered for: moving `token_url` or `authorization_url`
/// to another origin needs the client secret in the same request — its value, or its Secrets
/// Manager reference named again. Otherwise a caller who never knew the secret could send it to
/// a server of their choosing with the next token request.
fn check_client_secret_destination(
    stored: &StoredAuthConfig,
    config: &StoredAuthConfig,
    merge_patch: &Value,
) -> Result<(), Error> {
    if stored.client_secret.is_none() || config.client_secret.is_none() {
        return Ok(());
    }
    let moved = [
        (&stored.token_url, &config.token_url),
        (&stored.authorization_url, &config.authorization_url),
    ]
    .into_iter()
    .any(|(before, after)| {
        origin_of(before.as_ref()).is_some()
            && origin_of(before.as_ref()) != origin_of(after.as_ref())
    });
    let given_again = match merge_patch.get("client_secret") {
        Some(Value::String(_)) => true,
        Some(Value::Object(object)) => object.contains_key("secret_arn"),
        _ => false,
    };
    if moved && !given_again {
        return Err(Error::field(
            "client_secret",
            "must be given again (the value, or its secret_arn) in the same request that moves \
             token_url or authorization_url to another origin",
        ));
    }
    Ok(())
}

/// Takes the deprecated member `type` of a create body or merge patch as `auth_type` (the
/// documented name). Giving both is refused, naming `type`, even when they agree.
fn accept_type_alias(doc: &mut Value) -> Result<(), Error> {
    let Some(object) = doc.as_object_mut() else {
        return Ok(());
    };
    let Some(value) = object.remove("type") else {
        return Ok(());
    };
    if object.contains_key("auth_type") {
        return Err(Error::field(
            "type",
            "is the deprecated name of auth_type; give only auth_type",
        ));
    }
    object.insert("auth_type".to_owned(), value);
    Ok(())
}

/// Validates `doc` and seals its secrets into a new item, without writing it.
pub async fn prepare_create(
    state: &AppState,
    principal: &Principal,
    mut doc: Value,
) -> Result<PreparedAuthConfig, Error> {
    accept_type_alias(&mut doc)?;
    let input = parse_input(doc)?;
    let Validated {
        mut config,
        secrets,
    } = validate_input(input, state.allow_insecure_http, None)?;
    super::credentials::check_references(state, &principal.tenant_id, config.new_references(None))
        .await?;
    let id = new_id();
    let now = rfc3339(state.clock.now());
    config.id.clone_from(&id);
    config.created_by.clone_from(&principal.user_id);
    config.created_at.clone_from(&now);
    config.updated_at = now;
    config.secrets = seal_secrets(state, &principal.tenant_id, &id, PURPOSE, secrets, None).await?;
    let data = Body::of(&config).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(PreparedAuthConfig {
        item: Item::new(tenant_pk(&principal.tenant_id), sk(&id), data),
        view: config.view(1),
    })
}

/// Creates an auth config from a JSON body.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    doc: Value,
) -> Result<AuthConfigView, Error> {
    let prepared = prepare_create(state, principal, doc).await?;
    state.store.write(TxOp::Create(prepared.item)).await?;
    Ok(prepared.view)
}

/// Loads a stored config and its item version; another tenant's id is simply not found.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredAuthConfig, u64), Error> {
    super::load_record(state, &principal.tenant_id, SK_PREFIX, id, "auth config").await
}

/// Reads one auth config.
pub async fn get(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<AuthConfigView, Error> {
    let (config, version) = load(state, principal, id).await?;
    view_with_tokens(state, &principal.tenant_id, &config, version).await
}

/// Lists the tenant's auth configs, oldest first.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
) -> Result<Page<AuthConfigView>, Error> {
    let page = super::list_records(
        state,
        &principal.tenant_id,
        SK_PREFIX,
        params,
        "auth config",
        |c: StoredAuthConfig, v| (c, v),
    )
    .await?;
    // Token states of the page's AUTHORIZATION_CODE configs, read concurrently.
    let items =
        futures_util::future::try_join_all(page.items.iter().map(|(config, version)| {
            view_with_tokens(state, &principal.tenant_id, config, *version)
        }))
        .await?;
    Ok(Page {
        items,
        next_token: page.next_token,
    })
}

/// Applies a JSON merge patch (RFC 7396) to an auth config, re-validates the whole result and
/// writes it if the version is still the one read (and equals `if_match`, when given: 412
/// otherwise). A write without `if_match` that loses a race is merged again on fresh data.
pub async fn patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    mut merge_patch: Value,
    if_match: Option<u64>,
) -> Result<AuthConfigView, Error> {
    super::check_merge_patch(
        &merge_patch,
        &["id", "version", "created_at", "updated_at", "token_status"],
    )?;
    accept_type_alias(&mut merge_patch)?;
    super::patch_with_retries(
        state,
        &principal.tenant_id,
        id,
        &merge_patch,
        if_match,
        |stored: StoredAuthConfig, version, doc| {
            apply_patch(state, principal, id, &merge_patch, stored, version, doc)
        },
    )
    .await
}

/// One attempt of a PATCH on the record just read and merged (see
/// [`super::patch_with_retries`]).
async fn apply_patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    merge_patch: &Value,
    stored: StoredAuthConfig,
    version: u64,
    doc: Value,
) -> Result<AuthConfigView, Error> {
    let input = parse_input(doc)?;
    let Validated {
        mut config,
        secrets,
    } = validate_input(input, state.allow_insecure_http, Some(&stored))?;
    check_client_secret_destination(&stored, &config, merge_patch)?;
    super::destinations::check_rebinding(&stored, &config, merge_patch)?;
    super::credentials::check_references(
        state,
        &principal.tenant_id,
        config.new_references(Some(&stored)),
    )
    .await?;
    config.id.clone_from(&stored.id);
    config.created_by.clone_from(&stored.created_by);
    config.created_at.clone_from(&stored.created_at);
    config.updated_at = rfc3339(state.clock.now());
    config.secrets = seal_secrets(
        state,
        &principal.tenant_id,
        id,
        PURPOSE,
        secrets,
        stored
            .secrets
            .as_ref()
            .map(|env| (env, stored.inline_fields())),
    )
    .await?;
    let data = Body::of(&config).map_err(|e| Error::Internal(e.to_string()))?;
    let pk = tenant_pk(&principal.tenant_id);
    let item = Item::new(pk.clone(), sk(id), data);
    let mut ops = vec![TxOp::Update {
        item,
        expected_version: version,
    }];
    // Tokens belong to one authorization server and client: a change of either voids them.
    // Tokens belong to one authorization server and client, and go only to the origins they
    // were obtained for: a change of any of these voids them.
    let tokens_void = stored.auth_type != config.auth_type
        || stored.allowed_origins != config.allowed_origins
        || super::token::authorization_code_fingerprint(&stored)
            != super::token::authorization_code_fingerprint(&config);
    if tokens_void {
        super::token::revoke_stored(state, &principal.tenant_id, &stored).await;
        ops.push(TxOp::Delete {
            pk,
            sk: super::token::token_sk(id),
            condition: Condition::None,
        });
    }
    match state.store.transact(ops).await {
        Ok(()) => view_with_tokens(state, &principal.tenant_id, &config, version + 1).await,
        Err(crate::store::StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an auth config unless an MCP server config still references it (409).
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: &str,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let pk = tenant_pk(&principal.tenant_id);
    if !super::is_valid_id(id) {
        return Err(Error::NotFound("auth config"));
    }
    super::retry_lost_races("auth config", || async {
        let item = state
            .store
            .get(&pk, &sk(id))
            .await?
            .ok_or(Error::NotFound("auth config"))?;
        super::check_version("auth config", if_match, item.version)?;
        if item.ref_count > 0 {
            return Err(Error::Conflict(format!(
                "The auth config is used by {} MCP server config(s); change or delete those first.",
                item.ref_count
            )));
        }
        // Its grant goes with it: revoked at the provider first (best effort, bounded).
        if let Ok(config) = item.data.read::<StoredAuthConfig>() {
            super::token::revoke_stored(state, &principal.tenant_id, &config).await;
        }
        let ops = vec![
            TxOp::Delete {
                pk: pk.clone(),
                sk: sk(id),
                condition: Condition::VersionUnreferenced(item.version),
            },
            // Its cached token (if any) goes with it.
            TxOp::Delete {
                pk: pk.clone(),
                sk: super::token::token_sk(id),
                condition: Condition::None,
            },
        ];
        match state.store.transact(ops).await {
            Ok(()) => Ok(()),
            // Changed or newly referenced meanwhile: the next attempt's read says which.
            Err(crate::store::StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
            Err(e) => Err(e.into()),
        }
    })
    .await
}
