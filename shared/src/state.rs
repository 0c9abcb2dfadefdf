//! The one application state every function's router carries: its dependencies as trait objects,
//! built once at init (from [`Config`] in Lambda, by the local stack on a laptop).

use std::{sync::Arc, time::Duration};

use crate::{
    clock::{Clock, SystemClock},
    config::AwsConfig,
    config::{Config, KeyConfig, StoreConfig},
    crypto::{Crypto, KeyProvider, KmsKeyProvider, LocalKeyProvider},
    net::{HttpClient, NetPolicy},
    secrets::{SecretResolver, SecretsManagerResolver},
    store::{
        DynamoStore, Store,
        recent::{Forgetting, RecentRecords},
    },
};

/// Dependencies shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    /// Record store.
    pub store: Arc<dyn Store>,
    /// Envelope encryption.
    pub crypto: Crypto,
    /// Secrets Manager reference resolution.
    pub secrets: Arc<dyn SecretResolver>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Whether `http://` URLs are accepted for remote servers.
    pub allow_insecure_http: bool,
    /// The guarded client for every outbound request.
    pub http: HttpClient,
    /// Rate limits on work that reaches other servers.
    pub limits: crate::config::Limits,
    /// This deployment's client ID metadata document identity, when it publishes one.
    pub client_identity: Option<Arc<crate::config::ClientIdentity>>,
    /// The EventBridge bus events are put on, when one is configured.
    pub event_bus: Option<Arc<crate::eventbus::EventBus>>,
    /// Records a hot read path may use a few seconds old, when kept
    /// ([`AppState::with_recent_records`]).
    pub recent: Option<Arc<RecentRecords>>,
    /// The external authorization server's token verifier for the agents' MCP endpoints, when
    /// one is configured.
    pub mcp_authorization: Option<Arc<crate::resource_server::ResourceServer>>,
    /// Whether an MCP session may open its standalone stream of tool changes
    /// ([`crate::config::Config::mcp_session_streams`]).
    pub mcp_session_streams: bool,
    /// Tenants' tool-call policies as last built by this instance
    /// ([`crate::model::tool_policy::tenant_rules`]).
    pub policy_rules: Arc<crate::policy::RulesCache>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

/// Building the state failed (bad configuration or an unreachable dependency at init).
#[derive(Debug, thiserror::Error)]
#[error("initialisation failed: {0}")]
pub struct InitError(pub String);

/// Builds the store described by `config`.
pub fn build_store(
    config: &StoreConfig,
    aws: &AwsConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, InitError> {
    Ok(match config {
        StoreConfig::DynamoDb { table_name } => {
            Arc::new(DynamoStore::from_sdk(aws, table_name, clock))
        }
        #[cfg(feature = "sqlite")]
        StoreConfig::Sqlite { path } => Arc::new(
            crate::store::SqliteStore::open(path, clock).map_err(|e| InitError(e.to_string()))?,
        ),
        #[cfg(not(feature = "sqlite"))]
        StoreConfig::Sqlite { .. } => {
            return Err(InitError(
                "STORE_BACKEND=sqlite: this build has no SQLite store (the Lambda functions are \
                 built without it); use STORE_BACKEND=dynamodb"
                    .into(),
            ));
        }
    })
}

impl AppState {
    /// A state for the local stack and tests: `store`, data keys from `keys`, Secrets Manager
    /// through `aws`, the system clock; with `allow_insecure_http`, outbound `http` and loopback
    /// are allowed (servers on a laptop), otherwise the production rules apply.
    pub fn local(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyProvider>,
        aws: &AwsConfig,
        allow_insecure_http: bool,
    ) -> Result<Self, InitError> {
        let policy = if allow_insecure_http {
            NetPolicy::local()
        } else {
            NetPolicy::default()
        };
        Ok(Self {
            http: HttpClient::new(policy).map_err(|e| InitError(e.to_string()))?,
            store,
            crypto: Crypto::new(keys),
            secrets: Arc::new(SecretsManagerResolver::from_sdk(
                aws,
                Duration::from_secs(300),
            )),
            clock: Arc::new(SystemClock),
            allow_insecure_http,
            limits: crate::config::Limits::default(),
            client_identity: None,
            event_bus: None,
            recent: None,
            mcp_authorization: None,
            mcp_session_streams: false,
            policy_rules: Arc::default(),
        })
    }

    /// This state keeping recent records for `max_age` (none when zero): its store forgets a
    /// record the moment it writes it, and [`crate::model::recent_records::load_recent`] reads through
    /// them. Set after any other change of `store`, which it wraps.
    #[must_use]
    pub fn with_recent_records(mut self, max_age: Duration) -> Self {
        if max_age.is_zero() {
            self.recent = None;
            return self;
        }
        let recent = Arc::new(RecentRecords::new(max_age));
        let forgetting: Forgetting = Forgetting::new(self.store, Arc::clone(&recent));
        self.store = Arc::new(forgetting);
        self.recent = Some(recent);
        self
    }

    /// Builds every client once from `config`, with the AWS SDK configured from the environment.
    pub async fn from_config(config: &Config) -> Result<Self, InitError> {
        Self::from_config_with(config, &crate::config::load_aws_config().await)
    }

    /// Builds every client once from `config`, with the AWS SDK configuration `aws`.
    pub fn from_config_with(config: &Config, aws: &AwsConfig) -> Result<Self, InitError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = build_store(&config.store, aws, Arc::clone(&clock))?;
        let keys: Arc<dyn KeyProvider> = match &config.keys {
            KeyConfig::Kms { key_id } => Arc::new(KmsKeyProvider::from_sdk(aws, key_id)),
            KeyConfig::LocalFile { path } => Arc::new(
                LocalKeyProvider::load_or_create(path).map_err(|e| InitError(e.to_string()))?,
            ),
        };
        let secrets = Arc::new(SecretsManagerResolver::from_sdk(
            aws,
            Duration::from_secs(300),
        ));
        let http = HttpClient::new(NetPolicy {
            allow_insecure_http: config.allow_insecure_http,
            allow_cidrs: config.outbound_allow_cidrs.clone(),
        })
        .map_err(|e| InitError(e.to_string()))?;
        let mcp_authorization = config
            .mcp_authorization
            .clone()
            .map(|auth| crate::resource_server::ResourceServer::new(auth, http.clone()));
        Ok(Self {
            store,
            crypto: Crypto::new(keys),
            secrets,
            clock,
            allow_insecure_http: config.allow_insecure_http,
            http,
            limits: config.limits,
            client_identity: config.client_identity.clone().map(Arc::new),
            event_bus: config
                .event_bus_name
                .as_ref()
                .map(|name| Arc::new(crate::eventbus::EventBus::from_sdk(aws, name))),
            recent: None,
            mcp_authorization,
            mcp_session_streams: config.mcp_session_streams,
            policy_rules: Arc::default(),
        }
        .with_recent_records(config.recent_records))
    }
}
