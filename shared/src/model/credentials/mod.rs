//! Credential production: which headers a request to an MCP server carries, and the rules a
//! secret obeys on its way there. Every path that sends a stored secret anywhere goes through
//! here: the static secrets and tokens of an auth config go only to its `allowed_origins`
//! ([`crate::model::destinations`], checked by the callers before any request), Secrets Manager
//! references resolve only for the tenant their tag names
//! ([`crate::model::secret_fields::check_references`] when set, [`crate::secrets`] at every use), and
//! OAuth tokens come from [`crate::model::grants`] (refreshed single-flight when due).
//!
//! The group: auth configs as a resource, their authorization-code flow and discovery, and this
//! credential production. May use `oauth`, `auth_records`, `events` and the core.

pub mod auth_config;
pub mod auth_discovery;
pub mod oauth_flow;

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::AppState;
pub use crate::model::auth_record::CredentialError;
use crate::model::{
    auth_record::{AuthType, StoredAuthConfig, open_secrets},
    secret_fields::SecretSlot,
};

/// Headers for requests to an MCP server, and which OAuth token they carry.
#[derive(Debug, Default)]
pub struct Credentials {
    /// Custom headers and `Authorization`, all marked sensitive.
    pub headers: http::HeaderMap,
    /// `obtained_at` of the OAuth access token used, to name it if the server refuses it.
    pub token_obtained_at: Option<i64>,
}

/// Resolves every secret of `config` (one decryption for the inline ones) and builds the headers
/// a request to the MCP server carries: custom headers, plus `Authorization` for BASIC (user and
/// password) and the OAuth types (a client-credentials token, or the authorization-code token,
/// refreshed first when due) — for a request to `destination`, which must be on the config's
/// `allowed_origins` (else [`CredentialError::NotForThisOrigin`] before anything is resolved).
/// An `AUTHORIZATION_CODE` config's token is `user_id`'s own for a `per_user` config, the shared
/// one otherwise. `rejected` names a token the server just refused with 401: it is replaced (fetched again or
/// refreshed, single-flight) instead of reused.
pub async fn credential_headers(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
    config: &StoredAuthConfig,
    destination: &url::Url,
    rejected: Option<i64>,
    timeout: std::time::Duration,
) -> Result<Credentials, CredentialError> {
    use http::{HeaderName, HeaderValue, header::AUTHORIZATION};

    // Nothing is resolved, decrypted or fetched for a destination the credentials were not
    // entered for.
    if !crate::model::destinations::allows(config, destination) {
        return Err(CredentialError::NotForThisOrigin);
    }

    // The sealed envelope is opened (one decryption) only when a header or the password is in
    // it; an OAuth client secret is opened only when a token request is made (`grants`).
    let needs_inline = config
        .custom_headers
        .values()
        .chain(
            config
                .password
                .iter()
                .filter(|_| config.auth_type == AuthType::Basic),
        )
        .any(|slot| matches!(slot, SecretSlot::Inline));
    let inline = match &config.secrets {
        Some(envelope) if needs_inline => open_secrets(state, tenant_id, &config.meta.id, envelope)
            .await
            .map_err(|e| CredentialError::Internal(e.to_string()))?,
        _ => BTreeMap::new(),
    };
    let resolve = async |field: &str, slot: &SecretSlot| -> Result<SecretString, CredentialError> {
        match slot {
            SecretSlot::Inline => inline.get(field).cloned().ok_or_else(|| {
                CredentialError::Internal(format!("sealed secret {field} is missing"))
            }),
            SecretSlot::Reference(reference) => {
                Ok(state.secrets.resolve(tenant_id, reference).await?)
            }
        }
    };
    let header_value = |value: &str| {
        HeaderValue::from_str(value)
            .map(|mut v| {
                v.set_sensitive(true);
                v
            })
            .map_err(|_| {
                CredentialError::Internal("a credential is not a valid header value".into())
            })
    };
    let mut headers = http::HeaderMap::new();
    let mut token_obtained_at = None;
    for (name, slot) in &config.custom_headers {
        let value = resolve(&format!("custom_headers.{name}"), slot).await?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CredentialError::Internal("a custom header name is invalid".into()))?;
        headers.insert(name, header_value(value.expose_secret())?);
    }
    match config.auth_type {
        AuthType::None => {}
        AuthType::Basic => {
            let (Some(username), Some(slot)) = (&config.username, &config.password) else {
                return Err(CredentialError::Internal(
                    "BASIC config without username or password".into(),
                ));
            };
            let password = resolve("password", slot).await?;
            let pair = Zeroizing::new(format!("{username}:{}", password.expose_secret()));
            let encoded = Zeroizing::new(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                pair.as_bytes(),
            ));
            headers.insert(
                AUTHORIZATION,
                header_value(&format!("Basic {}", encoded.as_str()))?,
            );
        }
        AuthType::ClientCredentials => {
            let token = crate::model::grants::client_credentials_token(
                state, tenant_id, config, rejected, timeout,
            )
            .await?;
            headers.insert(
                AUTHORIZATION,
                header_value(&format!("Bearer {}", token.token.expose_secret()))?,
            );
            token_obtained_at = Some(token.obtained_at);
        }
        AuthType::AuthorizationCode => {
            let token = crate::model::grants::authorization_code_token(
                state,
                tenant_id,
                &crate::model::token::TokenOwner::of(config, user_id),
                rejected,
                timeout,
            )
            .await?;
            headers.insert(
                AUTHORIZATION,
                header_value(&format!("Bearer {}", token.token.expose_secret()))?,
            );
            token_obtained_at = Some(token.obtained_at);
        }
    }
    Ok(Credentials {
        headers,
        token_obtained_at,
    })
}
