//! OAuth tokens of auth configs, kept in their own item `TOKEN#<auth config id>` beside the config
//! (so editing a config never races a refresh): the sealed access and refresh tokens (one
//! envelope), their expiry, granted scopes, refresh bookkeeping, a refresh lease, and — while a
//! refresh token exists — a place in the sharded refresh index (`REFRESH#<shard>`,
//! `<refresh_at>#<tenant>#<id>`).
//!
//! This module keeps the item (read, write, seal, open, state shown on the config);
//! [`crate::model::grants`] obtains, refreshes and revokes the tokens it holds.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::model::refresh_index;
pub(crate) use crate::model::refresh_index::counter_sk;
pub use crate::model::refresh_index::{REFRESH_SHARDS, refresh_index_key};
use crate::model::rfc3339;
use crate::model::{
    auth_record::{ConnectionMode, CredentialError, StoredAuthConfig, TokenState, TokenStatus},
    tenant_pk,
};
use crate::{
    AppState,
    crypto::{EncryptionContext, Envelope},
    oauth::TokenSet,
    store::{Body, Condition, Item, StoreError, TxOp},
};

const SK_PREFIX: &str = "TOKEN#";
const PURPOSE: &str = "auth_config.token";
/// An authorization-code token is refreshed once it is this close to expiry (or half its
/// lifetime, when that is shorter: see [`refresh_margin`]).
pub const PROACTIVE_MARGIN_SECONDS: i64 = 15 * 60;
/// A client-credentials token is used until this many seconds before it expires.
pub const CLIENT_CREDENTIALS_MARGIN_SECONDS: i64 = 60;
/// Longest time one refresh token request may take, whatever the caller's own deadline.
pub const MAX_TOKEN_REQUEST: std::time::Duration = std::time::Duration::from_secs(20);
/// Longest time spent retrying the fenced write of refreshed tokens.
pub(crate) const STORE_RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a refresh lease lasts: longer than the token request and the retried write of its
/// outcome together, so no one else can take the lease (and present a refresh token that the
/// holder's request is rotating) while the holder still works.
pub const LEASE_SECONDS: i64 = 60;
const _: () = assert!(
    LEASE_SECONDS as u64 > MAX_TOKEN_REQUEST.as_secs() + STORE_RETRY_BUDGET.as_secs() + 5,
    "the refresh lease must outlast a token request and the retried write of its outcome"
);
/// Longest back-off after failed refreshes.
pub const MAX_BACKOFF_SECONDS: i64 = 3600;
/// How long a waiter sleeps between looks at a leased item.
pub(crate) const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Sort key of a token item: `TOKEN#<config id>` for a config's shared tokens,
/// `TOKEN#<config id>#<user id>` for one user's (see [`TokenOwner::record_id`]).
pub fn token_sk(record_id: &str) -> String {
    format!("{SK_PREFIX}{record_id}")
}

/// The sort-key prefix of every user's tokens of a `per_user` config.
pub fn user_tokens_prefix(config_id: &str) -> String {
    format!("{SK_PREFIX}{config_id}#")
}

const MARKER_PREFIX: &str = "CONN#";

/// The sort-key prefix of `user_id`'s connection markers.
pub(crate) fn marker_prefix(user_id: &str) -> String {
    format!("{MARKER_PREFIX}{}#", key_part(user_id))
}

/// A user id as a part of a key: `%` and `#` escaped, so no user's keys are a prefix of
/// another's (user `a` never lists or opens what belongs to user `a#b`).
pub fn key_part(user_id: &str) -> String {
    user_id.replace('%', "%25").replace('#', "%23")
}

/// The user id a key part names ([`key_part`] undone).
pub fn from_key_part(part: &str) -> String {
    part.replace("%23", "#").replace("%25", "%")
}

/// Sort key of a user's connection marker.
pub(crate) fn marker_sk(user_id: &str, config_id: &str) -> String {
    format!("{MARKER_PREFIX}{}#{config_id}", key_part(user_id))
}

/// Whether `record` belongs to `config` as it is now (not voided by a change since).
pub fn is_current(record: &TokenRecord, config: &StoredAuthConfig) -> bool {
    record.config_fingerprint == authorization_code_fingerprint(config)
        && record.epoch == config.tokens_epoch
}

/// The writes that count a new connection of `user_id` to `config`: its marker (unless one is
/// left from an earlier connection) and one more connected user.
pub(crate) async fn connect_ops(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
    user_id: &str,
) -> Result<Vec<TxOp>, CredentialError> {
    let pk = tenant_pk(tenant_id);
    let id = &config.meta.id;
    let internal = |e: StoreError| CredentialError::Internal(e.to_string());
    let mut ops = Vec::new();
    let marker = marker_sk(user_id, id);
    if state
        .store
        .get(&pk, &marker)
        .await
        .map_err(internal)?
        .is_none()
    {
        let data = Body::of(&Marker {
            auth_config_id: id.clone(),
            connected_at: rfc3339(state.clock.now()),
        })
        .map_err(|e| CredentialError::Internal(e.to_string()))?;
        ops.push(TxOp::Create(Item::new(pk.clone(), marker, data)));
    }
    let counter = counter_sk(id);
    ops.push(
        match state.store.get(&pk, &counter).await.map_err(internal)? {
            Some(_) => TxOp::AdjustRefs {
                pk,
                sk: counter,
                delta: 1,
            },
            None => {
                let data = Body::of(&serde_json::json!({}))
                    .map_err(|e| CredentialError::Internal(e.to_string()))?;
                let mut item = Item::new(pk, counter, data);
                item.ref_count = 1;
                TxOp::Create(item)
            }
        },
    );
    Ok(ops)
}

/// A user's connection marker as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub(crate) auth_config_id: String,
    pub(crate) connected_at: String,
}

/// Whose tokens an operation is about: an auth config's shared set, or — for a `per_user`
/// config — one user's. Derefs to the config.
#[derive(Debug, Clone, Copy)]
pub struct TokenOwner<'a> {
    /// The auth config.
    pub config: &'a StoredAuthConfig,
    /// The user whose connection it is (`per_user` configs only).
    pub user_id: Option<&'a str>,
}

impl<'a> TokenOwner<'a> {
    /// The tokens `user_id` uses through `config`: their own for a `per_user` config, else the
    /// shared set.
    pub fn of(config: &'a StoredAuthConfig, user_id: &'a str) -> Self {
        Self {
            config,
            user_id: (config.connection_mode == ConnectionMode::PerUser).then_some(user_id),
        }
    }

    /// The config's shared tokens.
    pub fn shared(config: &'a StoredAuthConfig) -> Self {
        Self {
            config,
            user_id: None,
        }
    }

    /// The id the token item is kept and sealed under: the config id, or `<config id>#<user
    /// id>` (config ids never hold `#`; the user id as a [`key_part`]), so one user's tokens
    /// never open as another's.
    pub fn record_id(&self) -> String {
        match self.user_id {
            Some(user) => format!("{}#{}", self.config.meta.id, key_part(user)),
            None => self.config.meta.id.clone(),
        }
    }
}

impl std::ops::Deref for TokenOwner<'_> {
    type Target = StoredAuthConfig;

    fn deref(&self) -> &StoredAuthConfig {
        self.config
    }
}

/// Which grant produced a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Client credentials: a cache, fetched again on demand.
    ClientCredentials,
    /// Authorization code: refreshed with the refresh token.
    AuthorizationCode,
}

/// A refresh lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Random id of the holder.
    pub owner: String,
    /// Unix seconds after which the lease is void.
    pub until: i64,
}

/// The token item's body.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Grant.
    pub kind: TokenKind,
    /// `{"access_token", "refresh_token"?}` sealed; absent once reauthorization is required.
    pub sealed: Option<Envelope>,
    /// Whether a refresh token is sealed.
    pub has_refresh_token: bool,
    /// The grant is gone (`invalid_grant`): a user must authorize again.
    #[serde(default)]
    pub reauthorization_required: bool,
    /// Access token expiry, Unix seconds.
    pub expires_at: i64,
    /// When the access token was obtained, Unix seconds (its lifetime and refresh margin count
    /// from here).
    pub obtained_at: i64,
    /// The same instant in Unix microseconds: identifies the access token (for a 401 retry) and
    /// orders it against a refresh pass's start. 0 in records written before it was kept; then
    /// `obtained_at` × 1,000,000 stands in (see [`TokenRecord::obtained_us`]).
    #[serde(default)]
    pub obtained_at_us: i64,
    /// Fingerprint of the config the tokens belong to; any change makes them void.
    pub config_fingerprint: String,
    /// Scopes granted.
    pub granted_scopes: Option<Vec<String>>,
    /// Last successful refresh, Unix seconds.
    pub last_refresh_at: Option<i64>,
    /// Why the last refresh failed.
    pub last_refresh_error: Option<String>,
    /// When a refresh is next due, Unix seconds.
    pub next_refresh_at: Option<i64>,
    /// Refresh failures in a row.
    #[serde(default)]
    pub failures: u32,
    /// The current refresh lease.
    pub lease: Option<Lease>,
    /// Scopes an MCP server asked for with 403 `insufficient_scope` (the next authorization
    /// asks for them as well as those granted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    /// The authorization server the MCP server names now instead of the config's: the tokens
    /// are not used again (discover again, then authorize).
    pub moved_to: Option<String>,
    /// The config's `tokens_epoch` when the tokens were obtained: a change that voids a
    /// `per_user` config's tokens moves the epoch on, voiding every user's at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// When a user last used these tokens, Unix seconds (`per_user` tokens; noted at most hourly:
    /// see [`crate::model::idle_tokens`]). Absent: no use noted, never idle.
    pub last_used_at: Option<i64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TokenRecord {
    /// Tokens of `kind` obtained at `obtained_at_us` and valid for `expires_in` seconds, for the
    /// config whose fingerprint is `config_fingerprint`: no refresh token, no history yet.
    pub fn obtained(
        kind: TokenKind,
        sealed: Option<Envelope>,
        obtained_at_us: i64,
        expires_in: u64,
        config_fingerprint: String,
    ) -> Self {
        let obtained_at = obtained_at_us.div_euclid(1_000_000);
        Self {
            kind,
            sealed,
            has_refresh_token: false,
            reauthorization_required: false,
            expires_at: obtained_at + i64::try_from(expires_in).unwrap_or(i64::MAX / 4),
            obtained_at,
            obtained_at_us,
            config_fingerprint,
            granted_scopes: None,
            last_refresh_at: None,
            last_refresh_error: None,
            next_refresh_at: None,
            failures: 0,
            lease: None,
            required_scopes: Vec::new(),
            moved_to: None,
            epoch: 0,
            last_used_at: None,
        }
    }

    /// When the access token was obtained, Unix microseconds.
    pub fn obtained_us(&self) -> i64 {
        if self.obtained_at_us > 0 {
            self.obtained_at_us
        } else {
            self.obtained_at.saturating_mul(1_000_000)
        }
    }

    /// When the tokens are due for refresh, if they can be refreshed at all (authorization-code
    /// tokens with a refresh token, not waiting for re-authorization): where they wait in the
    /// refresh index.
    pub fn refreshable_at(&self) -> Option<i64> {
        let refreshable = self.kind == TokenKind::AuthorizationCode
            && self.has_refresh_token
            && !self.reauthorization_required;
        self.next_refresh_at.filter(|_| refreshable)
    }
}

/// What is sealed.
#[derive(Deserialize)]
pub(crate) struct Bundle {
    pub(crate) access_token: SecretString,
    pub(crate) refresh_token: Option<SecretString>,
}

pub(crate) fn seal_bundle(
    access: &SecretString,
    refresh: Option<&SecretString>,
) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    serde_json::to_vec(&serde_json::json!({
        "access_token": access.expose_secret(),
        "refresh_token": refresh.map(ExposeSecret::expose_secret),
    }))
    .map(Zeroizing::new)
    .map_err(|e| CredentialError::Internal(e.to_string()))
}

pub(crate) fn context(tenant_id: &str, id: &str) -> EncryptionContext {
    EncryptionContext::new(tenant_id, id, PURPOSE)
}

pub(crate) fn internal(e: impl std::fmt::Display) -> CredentialError {
    CredentialError::Internal(e.to_string())
}

fn hex16(bytes: &[u8]) -> String {
    hex::encode(&bytes[..bytes.len().min(16)])
}

/// What an authorization-code token depends on: a change of the authorization server or client
/// (`authorization_url`, `token_url`, `client_id`), of the type, of `connection_mode` or of
/// `tokens_epoch` voids it.
pub fn authorization_code_fingerprint(config: &StoredAuthConfig) -> String {
    let mut material = serde_json::json!([
        "authorization_code",
        config.authorization_url,
        config.token_url,
        config.client_id,
    ]);
    // Whose tokens and which generation, too (left out when default, so shared tokens of
    // records written before keep their fingerprint): an authorization started under one mode
    // or epoch is never stored under another.
    if config.connection_mode == ConnectionMode::PerUser || config.tokens_epoch > 0 {
        if let Some(parts) = material.as_array_mut() {
            parts.push(serde_json::json!([
                config.connection_mode == ConnectionMode::PerUser,
                config.tokens_epoch
            ]));
        }
    }
    hex16(&Sha256::digest(material.to_string().as_bytes()))
}

/// What a client-credentials token depends on: endpoint, client, secret (its sealed form changes
/// with every new value), scopes, audience, resource, client authentication.
pub(crate) fn client_credentials_fingerprint(config: &StoredAuthConfig) -> String {
    let material = serde_json::json!([
        "client_credentials",
        config.token_url,
        config.client_id,
        config.client_secret,
        config.secrets.as_ref().map(|e| &e.ciphertext),
        config.scopes,
        config.audience,
        config.resource,
        config.token_endpoint_auth_method,
    ]);
    hex16(&Sha256::digest(material.to_string().as_bytes()))
}

/// The token item for `record`, in the refresh index while it can be refreshed (where: see
/// [`crate::model::refresh_index`]).
pub fn record_item(
    tenant_id: &str,
    id: &str,
    record: &TokenRecord,
) -> Result<Item, CredentialError> {
    let data = Body::of(record).map_err(internal)?;
    let item = Item::new(tenant_pk(tenant_id), token_sk(id), data);
    Ok(match record.refreshable_at() {
        Some(at) => item.indexed(refresh_index::index_key(tenant_id, id, at)),
        None => item,
    })
}

/// Reads the token item of a config: the record and its item version, if one exists.
pub async fn load(
    state: &AppState,
    tenant_id: &str,
    config_id: &str,
) -> Result<Option<(TokenRecord, u64)>, StoreError> {
    let Some(item) = state
        .store
        .get(&tenant_pk(tenant_id), &token_sk(config_id))
        .await?
    else {
        return Ok(None);
    };
    Ok(item.data.read().ok().map(|record| (record, item.version)))
}

/// The authorization-code tokens of `owner`, if they exist and belong to the config's current
/// settings.
pub(crate) async fn load_authorization_code(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
) -> Result<Option<(TokenRecord, u64)>, CredentialError> {
    let fingerprint = authorization_code_fingerprint(owner);
    Ok(load(state, tenant_id, &owner.record_id())
        .await
        .map_err(internal)?
        .filter(|(record, _)| {
            record.kind == TokenKind::AuthorizationCode
                && record.config_fingerprint == fingerprint
                && record.epoch == owner.tokens_epoch
        }))
}

pub(crate) async fn open_bundle(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    envelope: &Envelope,
) -> Result<(Bundle, crate::crypto::Resealer), CredentialError> {
    let (plaintext, resealer) = state
        .crypto
        .open_for_reseal(&context(tenant_id, id), envelope)
        .await
        .map_err(internal)?;
    let bundle = serde_json::from_slice(&plaintext)
        .map_err(|_| internal("sealed tokens are not a token bundle"))?;
    Ok((bundle, resealer))
}

/// Stores the tokens of a completed authorization for `owner` (replacing any earlier ones),
/// provided the config still exists.
pub async fn store_authorized(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
    tokens: TokenSet,
    requested_scopes: Option<Vec<String>>,
) -> Result<TokenRecord, CredentialError> {
    let now_us = state.clock.epoch_micros();
    let now = now_us.div_euclid(1_000_000);
    let plaintext = seal_bundle(&tokens.access_token, tokens.refresh_token.as_ref())?;
    let record_id = owner.record_id();
    let config = owner.config;
    let sealed = state
        .crypto
        .seal(&context(tenant_id, &record_id), &plaintext)
        .await
        .map_err(internal)?;
    let has_refresh_token = tokens.refresh_token.is_some();
    let obtained = TokenRecord::obtained(
        TokenKind::AuthorizationCode,
        Some(sealed),
        now_us,
        tokens.expires_in,
        authorization_code_fingerprint(config),
    );
    let expires_at = obtained.expires_at;
    let record = TokenRecord {
        has_refresh_token,
        granted_scopes: tokens.scopes.or(requested_scopes),
        next_refresh_at: has_refresh_token.then_some(expires_at - refresh_margin(expires_at, now)),
        epoch: config.tokens_epoch,
        last_used_at: owner.user_id.map(|_| now),
        ..obtained
    };
    // A first connection races others for the user count's creation (and a concurrent void
    // for its deletion): the transaction is built again from what is stored, a few times,
    // rather than losing tokens whose code is already spent.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let item = record_item(tenant_id, &record_id, &record)?;
        let existing = state
            .store
            .get(&item.pk, &item.sk)
            .await
            .map_err(internal)?;
        // A user's connection is new (and counted) unless a current one is being renewed.
        let renewed = existing.as_ref().is_some_and(|old| {
            old.data
                .read::<TokenRecord>()
                .is_ok_and(|old| is_current(&old, config))
        });
        let write = match existing {
            Some(old) => TxOp::Update {
                item,
                expected_version: old.version,
            },
            None => TxOp::Create(item),
        };
        let mut ops = vec![
            TxOp::Check {
                pk: tenant_pk(tenant_id),
                sk: format!("AUTH#{}", config.meta.id),
                condition: Condition::Exists,
            },
            write,
        ];
        if let (Some(user_id), false) = (owner.user_id, renewed) {
            ops.extend(connect_ops(state, tenant_id, config, user_id).await?);
        }
        match state.store.transact(ops).await {
            Ok(()) => {
                refresh_index::after_write(state, tenant_id, &record_id, record.refreshable_at())
                    .await;
                return Ok(record);
            }
            Err(StoreError::ConditionFailed { index: 0 }) => {
                return Err(CredentialError::Internal(
                    "the auth config was deleted during the authorization".into(),
                ));
            }
            Err(StoreError::ConditionFailed { .. }) if attempts < 4 => {}
            Err(StoreError::ConditionFailed { .. }) => {
                return Err(CredentialError::Internal(
                    "the tokens changed during the authorization; authorize again".into(),
                ));
            }
            Err(e) => return Err(internal(e)),
        }
    }
}

/// A usable access token and when it was obtained (to recognise it in a 401 retry).
#[derive(Debug)]
pub struct AccessToken {
    /// The bearer token.
    pub token: SecretString,
    /// When it was obtained, Unix microseconds ([`TokenRecord::obtained_us`]).
    pub obtained_at: i64,
}

pub(crate) async fn open_access(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    record: &TokenRecord,
) -> Result<AccessToken, CredentialError> {
    let envelope = record
        .sealed
        .as_ref()
        .ok_or(CredentialError::ReauthorizationRequired)?;
    let (bundle, _) = open_bundle(state, tenant_id, id, envelope).await?;
    Ok(AccessToken {
        token: bundle.access_token,
        obtained_at: record.obtained_us(),
    })
}

/// How long before expiry a token is refreshed: [`PROACTIVE_MARGIN_SECONDS`], or half the
/// token's lifetime when that is shorter (a 5-minute token is not refreshed on every use).
pub fn refresh_margin(expires_at: i64, obtained_at: i64) -> i64 {
    ((expires_at - obtained_at) / 2).clamp(0, PROACTIVE_MARGIN_SECONDS)
}

/// The token state of `owner`, read from its token item.
pub async fn token_state(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
) -> Result<TokenState, crate::Error> {
    let record = load_authorization_code(state, tenant_id, owner)
        .await
        .map_err(|e| crate::Error::Internal(e.to_string()))?;
    let Some((record, _)) = record else {
        return Ok(TokenState::default());
    };
    let now = state.clock.epoch_seconds();
    let status = if record.moved_to.is_some() {
        TokenStatus::AuthorizationServerChanged
    } else if record.reauthorization_required {
        TokenStatus::ReauthorizationRequired
    } else if !record.required_scopes.is_empty() {
        TokenStatus::InsufficientScope
    } else if record.expires_at <= now {
        TokenStatus::Expired
    } else {
        TokenStatus::Valid
    };
    Ok(TokenState {
        status,
        expires_at: (!record.reauthorization_required).then_some(record.expires_at),
        granted_scopes: record.granted_scopes,
        last_refresh_at: record.last_refresh_at,
        last_refresh_error: record.last_refresh_error,
        next_refresh_at: record.next_refresh_at,
        required_scopes: record.required_scopes,
        moved_to: record.moved_to,
    })
}

/// Writes `record` as the token item `record_id`, conditionally on the `version` read.
pub async fn write_record(
    state: &AppState,
    tenant_id: &str,
    record_id: &str,
    record: &TokenRecord,
    version: u64,
) -> Result<(), StoreError> {
    let item = record_item(tenant_id, record_id, record)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    state
        .store
        .write(TxOp::Update {
            item,
            expected_version: version,
        })
        .await?;
    refresh_index::after_write(state, tenant_id, record_id, record.refreshable_at()).await;
    Ok(())
}

/// Deletes the token item of `owner` when it no longer belongs to the config (a change voided
/// it): such tokens are never used again, and leave the refresh index with the item.
pub async fn drop_void(state: &AppState, tenant_id: &str, owner: &TokenOwner<'_>) {
    let (pk, sk) = (tenant_pk(tenant_id), token_sk(&owner.record_id()));
    let Ok(Some(item)) = state.store.get(&pk, &sk).await else {
        return;
    };
    let current = item
        .data
        .read::<TokenRecord>()
        .is_ok_and(|record| is_current(&record, owner));
    if !current {
        let delete = TxOp::Delete {
            pk,
            sk,
            condition: Condition::Version(item.version),
        };
        if let Err(error) = state.store.write(delete).await {
            tracing::info!(%error, "dropping void tokens failed");
        }
    }
}

/// Notes on the token item of `config` what an MCP server's refusal said: `required` scopes
/// (403 `insufficient_scope`) or the authorization server it `moved_to`. Best effort: a write
/// that loses to a concurrent one (a refresh, a new authorization) is dropped, since the token
/// it describes may be gone.
pub async fn note_refusal(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
    obtained_at_us: i64,
    required: Option<&[String]>,
    moved_to: Option<&str>,
) {
    let outcome = async {
        let Some((mut record, version)) = load_authorization_code(state, tenant_id, owner).await?
        else {
            return Ok(());
        };
        if record.obtained_us() != obtained_at_us {
            return Ok(());
        }
        if let Some(required) = required {
            record.required_scopes = required.to_vec();
        }
        if let Some(issuer) = moved_to {
            record.moved_to = Some(issuer.to_owned());
        }
        write_record(state, tenant_id, &owner.record_id(), &record, version)
            .await
            .map_err(internal)
    };
    if let Err(error) = outcome.await {
        tracing::info!(%error, "noting a refused token failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_key_parts_never_prefix_another_users() {
        assert_eq!(key_part("bob#x"), "bob%23x");
        assert_eq!(from_key_part(&key_part("a%23#b%")), "a%23#b%");
        assert!(!marker_prefix("bob#x").starts_with(&marker_prefix("bob")));
        assert!(!marker_sk("bob#x", "c").starts_with(&marker_prefix("bob")));
    }

    #[test]
    fn index_keys_sort_by_due_time_within_a_shard() {
        let early = refresh_index_key("t", "a", 1_700_000_000);
        let late = refresh_index_key("t", "a", 1_800_000_000);
        assert_eq!(early.pk, late.pk);
        assert!(early.pk.starts_with("REFRESH#"));
        assert!(early.sk < late.sk);
        assert!(early.sk.ends_with("#t#a"));
    }
}
