//! Secrets Manager references (`{"secret_arn", "json_key"}`) resolved at use time for one tenant:
//! only a secret tagged `agent-studio:tenant=<tenant>` resolves, checked with every read and
//! cached per (tenant, ARN) for at most 5 minutes so a warm Lambda does not call Secrets Manager
//! per request. Every other outcome is one uniform refusal.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Longest time a resolved secret is reused.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(300);

/// A pointer to a secret in AWS Secrets Manager; not itself secret.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// ARN of the secret.
    pub secret_arn: String,
    /// Key inside a JSON secret string; absent = the whole secret string.
    pub json_key: Option<String>,
}

/// The tag a Secrets Manager secret must carry, with the tenant's id as its value, before that
/// tenant's auth configs may use it.
pub const TENANT_TAG: &str = "agent-studio:tenant";

/// Resolving a reference failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The reference cannot be used by this tenant: the secret does not exist, is not accessible,
    /// is not tagged for the tenant, has no string value, or has no string at `json_key`. One
    /// answer for all of these, so that it reveals nothing about other tenants' secrets.
    #[error(
        "the secret reference cannot be used: it must name a Secrets Manager secret tagged \
         agent-studio:tenant=<your tenant id> whose value (or json_key within it) is a string"
    )]
    NotUsable,
    /// Secrets Manager is unreachable or failed.
    #[error("secrets manager unavailable: {0}")]
    Unavailable(String),
}

/// Resolves secret references to their values for one tenant.
#[async_trait]
pub trait SecretResolver: Send + Sync {
    /// The current value of `reference`, if the secret is tagged for `tenant_id`.
    async fn resolve(
        &self,
        tenant_id: &str,
        reference: &SecretRef,
    ) -> Result<SecretString, SecretError>;
}

type CacheKey = (String, String);

/// [`SecretResolver`] backed by AWS Secrets Manager: `DescribeSecret` proves the tenant tag,
/// `GetSecretValue` reads the value; both are cached together per (tenant, ARN), so a secret
/// another tenant resolved is never served from the cache without its own check.
pub struct SecretsManagerResolver {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    cache: Mutex<HashMap<CacheKey, (Instant, SecretString)>>,
}

impl std::fmt::Debug for SecretsManagerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerResolver")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Sorts a Secrets Manager failure: the caller's reference is unusable (not found, denied,
/// invalid, scheduled for deletion...), or the service is unavailable (throttling, its own
/// fault, no answer).
fn classify<E, R>(error: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_secretsmanager::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            matches!(
                code,
                "ThrottlingException" | "InternalServiceError" | "ServiceUnavailable"
            )
            .then(|| code.to_owned())
        }
        other => Some(aws_sdk_secretsmanager::error::DisplayErrorContext(other).to_string()),
    }
}

impl SecretsManagerResolver {
    /// A resolver with a client built from the shared AWS configuration.
    pub fn from_sdk(aws: &crate::config::AwsConfig, ttl: Duration) -> Self {
        Self::new(aws_sdk_secretsmanager::Client::new(aws), ttl)
    }

    /// A resolver caching values for `ttl` (capped at [`MAX_CACHE_TTL`]).
    pub fn new(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl: ttl.min(MAX_CACHE_TTL),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &CacheKey) -> Option<SecretString> {
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// The secret string of `arn`, once its tags name `tenant_id`.
    async fn fetch(&self, tenant_id: &str, arn: &str) -> Result<SecretString, SecretError> {
        let key = (tenant_id.to_owned(), arn.to_owned());
        if let Some(value) = self.cached(&key) {
            return Ok(value);
        }
        let refused = |reason: &str| {
            tracing::warn!(%tenant_id, secret_arn = %arn, reason, "secret reference refused");
            SecretError::NotUsable
        };
        // A throttled or failing service is unavailable; anything else refuses the reference.
        let or_refused = |reason| {
            move |cause: Option<String>| match cause {
                Some(cause) => SecretError::Unavailable(cause),
                None => refused(reason),
            }
        };
        let described = self
            .client
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| or_refused("not found or not accessible")(classify(&e)))?;
        let tagged = described
            .tags()
            .iter()
            .any(|tag| tag.key() == Some(TENANT_TAG) && tag.value() == Some(tenant_id));
        if !tagged {
            return Err(refused("not tagged for this tenant"));
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| or_refused("value not readable")(classify(&e)))?;
        let value = SecretString::from(
            out.secret_string
                .ok_or_else(|| refused("no string value"))?,
        );
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
            cache.insert(key, (Instant::now(), value.clone()));
        }
        Ok(value)
    }
}

#[async_trait]
impl SecretResolver for SecretsManagerResolver {
    async fn resolve(
        &self,
        tenant_id: &str,
        reference: &SecretRef,
    ) -> Result<SecretString, SecretError> {
        let value = self.fetch(tenant_id, &reference.secret_arn).await?;
        let Some(json_key) = &reference.json_key else {
            return Ok(value);
        };
        let parsed: serde_json::Value =
            serde_json::from_str(value.expose_secret()).map_err(|_| SecretError::NotUsable)?;
        parsed
            .get(json_key)
            .and_then(serde_json::Value::as_str)
            .map(|s| SecretString::from(s.to_owned()))
            .ok_or(SecretError::NotUsable)
    }
}
