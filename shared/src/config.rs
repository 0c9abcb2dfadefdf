//! Typed configuration, read from the environment once at start-up. A missing or malformed
//! variable fails the function's init with a message naming the variable.

use std::ops::RangeInclusive;
use std::path::PathBuf;

/// Where records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// DynamoDB single table (`STORE_BACKEND=dynamodb`, `TABLE_NAME`).
    DynamoDb {
        /// Table name (`TABLE_NAME`).
        table_name: String,
    },
    /// Embedded SQLite file (`STORE_BACKEND=sqlite`, `SQLITE_PATH`).
    Sqlite {
        /// Database file (`SQLITE_PATH`).
        path: PathBuf,
    },
}

/// Where data keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// AWS KMS (`KEY_BACKEND=kms`, `KMS_KEY_ID`).
    Kms {
        /// Key id, ARN or alias (`KMS_KEY_ID`).
        key_id: String,
    },
    /// A local 256-bit master key file (`KEY_BACKEND=local`, `LOCAL_KEY_FILE`), created 0600 if absent.
    LocalFile {
        /// Key file path (`LOCAL_KEY_FILE`).
        path: PathBuf,
    },
}

/// The configuration every function reads at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Record store.
    pub store: StoreConfig,
    /// Key provider for envelope encryption.
    pub keys: KeyConfig,
    /// `ALLOW_INSECURE_HTTP`: accept `http://` URLs for remote servers (local and test mode only).
    pub allow_insecure_http: bool,
    /// `OUTBOUND_ALLOW_CIDRS`: comma-separated ranges outbound requests may reach despite the
    /// private/special-purpose deny rules (private deployments, tests).
    pub outbound_allow_cidrs: Vec<ipnet::IpNet>,
    /// Rate limits (`RATE_LIMIT_TESTS_PER_MINUTE`, `RATE_LIMIT_AUTHORIZE_PER_MINUTE`,
    /// `RATE_LIMIT_TOOL_CALLS_PER_MINUTE`, `TENANT_MAX_CONCURRENT_TESTS`; see
    /// [`Limits`] for the defaults).
    pub limits: Limits,
    /// This service's own OAuth client identity, published as a client ID metadata document
    /// (`PUBLIC_BASE_URL`, `CLIENT_METADATA_URL`, `CLIENT_REDIRECT_URIS`); none when
    /// `PUBLIC_BASE_URL` is unset.
    pub client_identity: Option<ClientIdentity>,
    /// `EVENT_BUS_NAME`: the EventBridge bus events are put on; none when unset.
    pub event_bus_name: Option<String>,
    /// `RECENT_RECORDS_SECONDS` (0–30, default 2): how long a warm instance may use an agent,
    /// server or auth config it read for a tool call before reading it again; 0 reads every time.
    /// Another instance's change is seen at most this late (this instance's own at once).
    pub recent_records: std::time::Duration,
    /// The external authorization server of the agents' MCP endpoints, when one is configured
    /// (`MCP_AUTH_ISSUER` and the rest of [`McpAuthorization`]).
    pub mcp_authorization: Option<McpAuthorization>,
    /// `MCP_SESSION_STREAMS` (default false): whether an MCP session may open its standalone
    /// stream of tool changes (`GET`). In AWS each open stream holds one execution of the
    /// function for as long as it lasts, out of its reserved concurrency.
    pub mcp_session_streams: bool,
}

/// The OAuth client this deployment is, to authorization servers that accept a client ID
/// metadata document (CIMD): its `client_id` is the https URL the document is published at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Where the document is published, and so the client id (`CLIENT_METADATA_URL`, default
    /// `<PUBLIC_BASE_URL>/ai/api/v1/oauth/client-metadata.json`).
    pub metadata_url: String,
    /// The redirect URIs the document lists (`CLIENT_REDIRECT_URIS`, comma-separated; default
    /// `<PUBLIC_BASE_URL>/ai/api/v1/oauth/callback` and the console's callback page
    /// `<PUBLIC_BASE_URL>/console/oauth/callback`): a config's `allowed_redirect_uris` must all be
    /// among them to use this identity.
    pub redirect_uris: Vec<String>,
}

/// The external authorization server whose access tokens the agents' MCP endpoints accept, so
/// MCP clients can sign in by themselves ([`crate::resource_server`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpAuthorization {
    /// `MCP_AUTH_ISSUER`: the issuer tokens must name (`iss`), whose metadata names its keys.
    pub issuer: String,
    /// `PUBLIC_BASE_URL` (without a trailing `/`): an endpoint's public URL, and so the
    /// audience its tokens must name, is this followed by the endpoint's path.
    pub public_base_url: String,
    /// `MCP_AUTH_JWKS_URI`: the issuer's key set, when its metadata does not say (or to pin it).
    pub jwks_uri: Option<String>,
    /// `MCP_AUTH_TENANT_CLAIM` (default `tenant_id`): the claim naming the caller's tenant.
    pub tenant_claim: String,
    /// `MCP_AUTH_USER_CLAIM` (default `sub`): the claim naming the user.
    pub user_claim: String,
    /// `MCP_AUTH_ROLE_CLAIM` (default `role`): the claim naming the role (`member` or `admin`,
    /// or a list holding them; absent: `member`).
    pub role_claim: String,
    /// `MCP_AUTH_SCOPES` (space- or comma-separated, default none): scopes every token must
    /// carry, published in the metadata.
    pub scopes: Vec<String>,
}

impl McpAuthorization {
    /// Reads it through `lookup`: none when `MCP_AUTH_ISSUER` is unset; then `PUBLIC_BASE_URL`
    /// is required. URLs must be https (or http with `allow_insecure_http`, for a local stack).
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
        allow_insecure_http: bool,
    ) -> Result<Option<Self>, ConfigError> {
        let value = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(issuer) = value("MCP_AUTH_ISSUER") else {
            return Ok(None);
        };
        let url = |name: &str, text: &str| -> Result<(), ConfigError> {
            match url::Url::parse(text) {
                Ok(u)
                    if (u.scheme() == "https" || (allow_insecure_http && u.scheme() == "http"))
                        && u.query().is_none()
                        && u.fragment().is_none() =>
                {
                    Ok(())
                }
                _ => Err(ConfigError(format!(
                    "{name} must be an https URL without query or fragment, not {text:?}"
                ))),
            }
        };
        url("MCP_AUTH_ISSUER", &issuer)?;
        let public_base_url = value("PUBLIC_BASE_URL").ok_or_else(|| {
            ConfigError(
                "MCP_AUTH_ISSUER needs PUBLIC_BASE_URL: access tokens are bound to the \
                 endpoint's public URL"
                    .into(),
            )
        })?;
        url("PUBLIC_BASE_URL", &public_base_url)?;
        let jwks_uri = value("MCP_AUTH_JWKS_URI");
        if let Some(uri) = &jwks_uri {
            url("MCP_AUTH_JWKS_URI", uri)?;
        }
        Ok(Some(Self {
            issuer,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            jwks_uri,
            tenant_claim: value("MCP_AUTH_TENANT_CLAIM").unwrap_or_else(|| "tenant_id".into()),
            user_claim: value("MCP_AUTH_USER_CLAIM").unwrap_or_else(|| "sub".into()),
            role_claim: value("MCP_AUTH_ROLE_CLAIM").unwrap_or_else(|| "role".into()),
            scopes: value("MCP_AUTH_SCOPES")
                .map(|s| {
                    s.split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }
}

/// Path of the client ID metadata document under the public base URL.
pub const CLIENT_METADATA_PATH: &str = "/ai/api/v1/oauth/client-metadata.json";

impl ClientIdentity {
    /// The identity published under `public_base_url` (an https origin, optionally with a path
    /// prefix), with `metadata_url` and `redirect_uris` overriding the defaults when given.
    pub fn new(
        public_base_url: &str,
        metadata_url: Option<&str>,
        redirect_uris: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let base = public_base_url.trim_end_matches('/');
        let https = |name: &str, value: &str| -> Result<String, ConfigError> {
            match url::Url::parse(value) {
                Ok(url) if url.scheme() == "https" && url.fragment().is_none() => {
                    Ok(value.to_owned())
                }
                _ => Err(ConfigError(format!(
                    "{name} must be an https URL without a fragment, not {value:?}"
                ))),
            }
        };
        https("PUBLIC_BASE_URL", base)?;
        let metadata_url = match metadata_url.filter(|v| !v.trim().is_empty()) {
            Some(url) => https("CLIENT_METADATA_URL", url.trim())?,
            None => format!("{base}{CLIENT_METADATA_PATH}"),
        };
        let redirect_uris = match redirect_uris.filter(|v| !v.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| match url::Url::parse(v) {
                    Ok(url) if url.fragment().is_none() => Ok(v.to_owned()),
                    _ => Err(ConfigError(format!(
                        "CLIENT_REDIRECT_URIS: {v:?} is not an absolute URL without a fragment"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![
                format!("{base}/ai/api/v1/oauth/callback"),
                format!("{base}/console/oauth/callback"),
            ],
        };
        Ok(Self {
            metadata_url,
            redirect_uris,
        })
    }

    /// The client ID metadata document (draft-ietf-oauth-client-id-metadata-document): a
    /// public client of the authorization-code grant with PKCE and refresh tokens.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "client_id": self.metadata_url,
            "client_name": "Agent Studio Connect",
            "redirect_uris": self.redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "web",
        })
    }
}

/// A configuration variable is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Settings read through a lookup (the environment in a function).
pub struct Settings<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// The setting `name`: `default` when absent or blank, else a whole number in `range`.
    pub fn get<T>(&self, name: &str, range: RangeInclusive<T>, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = (self.0)(name).filter(|v| !v.trim().is_empty()) else {
            return Ok(default);
        };
        match raw.trim().parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(ConfigError(format!(
                "{name} must be a whole number from {} to {}, not {raw:?}",
                range.start(),
                range.end()
            ))),
        }
    }

    /// The switch `name`: false when absent or blank, else `true`/`1` or `false`/`0`.
    pub fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match (self.0)(name).as_deref().map(str::trim) {
            None | Some("" | "false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(ConfigError(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        }
    }
}

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, ConfigError> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError(format!("{name} must be set")))
}

impl StoreConfig {
    /// Reads only the store settings from the process environment (for functions that need
    /// nothing else, such as the authorizer).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the store settings through `lookup`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(
            match lookup("STORE_BACKEND").as_deref().unwrap_or("dynamodb") {
                "dynamodb" => Self::DynamoDb {
                    table_name: required(lookup, "TABLE_NAME")?,
                },
                "sqlite" => Self::Sqlite {
                    path: required(lookup, "SQLITE_PATH")?.into(),
                },
                other => {
                    return Err(ConfigError(format!(
                        "STORE_BACKEND must be dynamodb or sqlite, not {other:?}"
                    )));
                }
            },
        )
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let store = StoreConfig::from_lookup(&lookup)?;
        let keys = match lookup("KEY_BACKEND").as_deref().unwrap_or("kms") {
            "kms" => KeyConfig::Kms {
                key_id: required(&lookup, "KMS_KEY_ID")?,
            },
            "local" => KeyConfig::LocalFile {
                path: required(&lookup, "LOCAL_KEY_FILE")?.into(),
            },
            other => {
                return Err(ConfigError(format!(
                    "KEY_BACKEND must be kms or local, not {other:?}"
                )));
            }
        };
        let allow_insecure_http = Settings(&lookup).flag("ALLOW_INSECURE_HTTP")?;
        let outbound_allow_cidrs = crate::net::NetPolicy::parse_cidrs(
            lookup("OUTBOUND_ALLOW_CIDRS")
                .as_deref()
                .unwrap_or_default(),
        )
        .map_err(|e| ConfigError(format!("OUTBOUND_ALLOW_CIDRS: {e}")))?;
        let (env, d) = (Settings(&lookup), Limits::default());
        let limit = |name: &str, default: u64| env.get(name, 1..=1_000_000, default);
        let limits = Limits {
            tests_per_minute: limit("RATE_LIMIT_TESTS_PER_MINUTE", d.tests_per_minute)?,
            authorize_per_minute: limit("RATE_LIMIT_AUTHORIZE_PER_MINUTE", d.authorize_per_minute)?,
            tool_calls_per_minute: limit(
                "RATE_LIMIT_TOOL_CALLS_PER_MINUTE",
                d.tool_calls_per_minute,
            )?,
            tenant_concurrent_tests: limit(
                "TENANT_MAX_CONCURRENT_TESTS",
                d.tenant_concurrent_tests,
            )?,
        };
        let client_identity = match lookup("PUBLIC_BASE_URL").filter(|v| !v.trim().is_empty()) {
            Some(base) => Some(ClientIdentity::new(
                base.trim(),
                lookup("CLIENT_METADATA_URL").as_deref(),
                lookup("CLIENT_REDIRECT_URIS").as_deref(),
            )?),
            None => None,
        };
        let recent_records = env.get("RECENT_RECORDS_SECONDS", 0..=30, 2)?;
        let mcp_authorization = McpAuthorization::from_lookup(&lookup, allow_insecure_http)?;
        let mcp_session_streams = env.flag("MCP_SESSION_STREAMS")?;
        Ok(Self {
            mcp_authorization,
            mcp_session_streams,
            store,
            keys,
            allow_insecure_http,
            outbound_allow_cidrs,
            limits,
            client_identity,
            recent_records: std::time::Duration::from_secs(recent_records),
            event_bus_name: lookup("EVENT_BUS_NAME")
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn mcp_auth(pairs: &[(&str, &str)]) -> Result<Option<McpAuthorization>, ConfigError> {
        McpAuthorization::from_lookup(&lookup(pairs), false)
    }

    #[test]
    fn an_mcp_issuer_needs_the_public_url_tokens_are_bound_to() {
        assert_eq!(mcp_auth(&[]).unwrap(), None);
        let err = mcp_auth(&[("MCP_AUTH_ISSUER", "https://id.example.com")]).unwrap_err();
        assert!(err.to_string().contains("PUBLIC_BASE_URL"), "{err}");
        let err = mcp_auth(&[
            ("MCP_AUTH_ISSUER", "http://id.example.com"),
            ("PUBLIC_BASE_URL", "https://studio.example.com"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("MCP_AUTH_ISSUER"), "{err}");
        let auth = mcp_auth(&[
            ("MCP_AUTH_ISSUER", "https://id.example.com"),
            ("PUBLIC_BASE_URL", "https://studio.example.com/prod/"),
            ("MCP_AUTH_SCOPES", "mcp:tools, agents"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(auth.public_base_url, "https://studio.example.com/prod");
        assert_eq!(auth.tenant_claim, "tenant_id");
        assert_eq!(auth.user_claim, "sub");
        assert_eq!(auth.role_claim, "role");
        assert_eq!(auth.scopes, ["mcp:tools", "agents"]);
    }

    #[test]
    fn lambda_defaults_need_a_table_and_a_kms_key() {
        let err = Config::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().contains("TABLE_NAME"));
        let cfg = Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("KMS_KEY_ID", "k")])).unwrap();
        assert_eq!(
            cfg.store,
            StoreConfig::DynamoDb {
                table_name: "t".into()
            }
        );
        assert_eq!(cfg.keys, KeyConfig::Kms { key_id: "k".into() });
        assert!(!cfg.allow_insecure_http);
        assert_eq!(cfg.client_identity, None);
    }

    #[test]
    fn the_client_identity_is_published_under_the_public_base_url() {
        let base = [("TABLE_NAME", "t"), ("KMS_KEY_ID", "k")];
        let with = |extra: &[(&str, &str)]| {
            let vars: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
            Config::from_lookup(lookup(&vars))
        };
        let identity = with(&[("PUBLIC_BASE_URL", "https://studio.example.com/")])
            .unwrap()
            .client_identity
            .unwrap();
        assert_eq!(
            identity.metadata_url,
            "https://studio.example.com/ai/api/v1/oauth/client-metadata.json"
        );
        assert_eq!(
            identity.redirect_uris,
            [
                "https://studio.example.com/ai/api/v1/oauth/callback",
                "https://studio.example.com/console/oauth/callback"
            ]
        );
        assert_eq!(
            identity.document()["client_id"],
            identity.metadata_url.as_str()
        );
        let custom = with(&[
            ("PUBLIC_BASE_URL", "https://studio.example.com"),
            (
                "CLIENT_REDIRECT_URIS",
                "https://app.example.com/cb, https://app.example.com/cb2",
            ),
        ])
        .unwrap()
        .client_identity
        .unwrap();
        assert_eq!(custom.redirect_uris.len(), 2);
        for (variable, value) in [
            ("PUBLIC_BASE_URL", "http://studio.example.com"),
            ("CLIENT_METADATA_URL", "http://studio.example.com/c.json"),
            ("CLIENT_REDIRECT_URIS", "not a url"),
        ] {
            let mut vars = vec![("PUBLIC_BASE_URL", "https://studio.example.com")];
            vars.retain(|(k, _)| *k != variable);
            vars.push((variable, value));
            let err = with(&vars).unwrap_err();
            assert!(err.to_string().contains(variable), "{err}");
        }
    }

    #[test]
    fn a_malformed_flag_names_its_variable() {
        for (variable, value) in [
            ("ALLOW_INSECURE_HTTP", "yes"),
            ("OUTBOUND_ALLOW_CIDRS", "10.0.0.0/8,banana"),
        ] {
            let vars = [("TABLE_NAME", "t"), ("KMS_KEY_ID", "k"), (variable, value)];
            let err = Config::from_lookup(lookup(&vars)).unwrap_err();
            assert!(err.to_string().contains(variable), "{err}");
        }
    }
}

/// The limits in force (environment variables in brackets; defaults sized for people and the
/// agents they run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connection tests one user may start per minute (`RATE_LIMIT_TESTS_PER_MINUTE`, 30).
    pub tests_per_minute: u64,
    /// OAuth authorizations one user may start per minute (`RATE_LIMIT_AUTHORIZE_PER_MINUTE`, 20).
    pub authorize_per_minute: u64,
    /// Tool calls one user may make per minute (`RATE_LIMIT_TOOL_CALLS_PER_MINUTE`, 600).
    pub tool_calls_per_minute: u64,
    /// Connection tests one tenant may have under way (`TENANT_MAX_CONCURRENT_TESTS`, 20).
    pub tenant_concurrent_tests: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tests_per_minute: 30,
            authorize_per_minute: 20,
            tool_calls_per_minute: 600,
            tenant_concurrent_tests: 20,
        }
    }
}

/// The AWS SDK configuration (region, credentials, endpoints) loaded from the environment.
pub type AwsConfig = aws_config::SdkConfig;

/// Loads the AWS configuration from the environment (honours `AWS_ENDPOINT_URL*` for local
/// emulators), with the HTTPS client of [`crate::aws_http`] (compiled-in roots, built on the first
/// request rather than when each SDK client is constructed). In Lambda (`AWS_LAMBDA_FUNCTION_NAME`,
/// `AWS_ACCESS_KEY_ID` and `AWS_REGION` set) credentials and region come from the environment
/// only. Elsewhere the default credentials chain applies, and the region comes from
/// `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile, else `us-east-1`: never from the instance
/// metadata service, which a laptop lacks.
pub async fn load_aws_config() -> AwsConfig {
    use aws_config::{
        environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider},
        meta::region::RegionProviderChain,
        profile::ProfileFileRegionProvider,
    };
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::aws_http::https_client());
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("AWS_LAMBDA_FUNCTION_NAME") && set("AWS_ACCESS_KEY_ID") && set("AWS_REGION") {
        // In Lambda the role's credentials and the region are in the environment for the life
        // of the instance: read them there, without building the default chain's other
        // providers (profile files, web identity with its STS client, containers, IMDS) at init.
        return loader
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .region(EnvironmentVariableRegionProvider::new())
            .load()
            .await;
    }
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .or_else(aws_config::Region::new("us-east-1"));
    loader.region(region).load().await
}

/// An AWS configuration for a local emulator at `endpoint` (DynamoDB Local, moto) with fixed
/// test credentials and region `us-east-1`; for the local stack and tests, never for production.
pub async fn aws_config_for_endpoint(endpoint: &str) -> AwsConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::aws_http::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await
}
