//! Secrets Manager references (`{"secret_arn", "json_key"}`) resolved at use time, with a small
//! in-process cache (TTL ≤ 5 minutes) so a warm Lambda does not call Secrets Manager per request.

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// ARN of the secret.
    pub secret_arn: String,
    /// Key inside a JSON secret string; absent = the whole secret string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_key: Option<String>,
}

/// Resolving a reference failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret does not exist or access is denied.
    #[error("secret {0} was not found or is not accessible")]
    NotFound(String),
    /// The secret is not JSON, or has no string at `json_key`.
    #[error("secret {arn} has no string value at key {key:?}")]
    MissingKey {
        /// ARN of the secret.
        arn: String,
        /// The key that was asked for.
        key: String,
    },
    /// The secret has no string value (binary secrets are not supported).
    #[error("secret {0} has no string value")]
    NotString(String),
    /// Secrets Manager is unreachable or failed.
    #[error("secrets manager unavailable: {0}")]
    Unavailable(String),
}

/// Resolves secret references to their values.
#[async_trait]
pub trait SecretResolver: Send + Sync {
    /// The current value of `reference`.
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError>;
}

/// [`SecretResolver`] backed by AWS Secrets Manager `GetSecretValue`, cached per ARN.
pub struct SecretsManagerResolver {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, SecretString)>>,
}

impl std::fmt::Debug for SecretsManagerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerResolver")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerResolver {
    /// A resolver with a client built from the shared AWS configuration.
    pub fn from_sdk(aws: &crate::state::AwsConfig, ttl: Duration) -> Self {
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

    fn cached(&self, arn: &str) -> Option<SecretString> {
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(arn)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    async fn fetch(&self, arn: &str) -> Result<SecretString, SecretError> {
        if let Some(value) = self.cached(arn) {
            return Ok(value);
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string();
                if text.contains("ResourceNotFoundException") || text.contains("AccessDenied") {
                    SecretError::NotFound(arn.to_owned())
                } else {
                    SecretError::Unavailable(text)
                }
            })?;
        let value = SecretString::from(
            out.secret_string
                .ok_or_else(|| SecretError::NotString(arn.to_owned()))?,
        );
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(arn.to_owned(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }
}

#[async_trait]
impl SecretResolver for SecretsManagerResolver {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        let value = self.fetch(&reference.secret_arn).await?;
        let Some(json_key) = &reference.json_key else {
            return Ok(value);
        };
        let missing = || SecretError::MissingKey {
            arn: reference.secret_arn.clone(),
            key: json_key.clone(),
        };
        let parsed: serde_json::Value =
            serde_json::from_str(value.expose_secret()).map_err(|_| missing())?;
        parsed
            .get(json_key)
            .and_then(serde_json::Value::as_str)
            .map(|s| SecretString::from(s.to_owned()))
            .ok_or_else(missing)
    }
}
