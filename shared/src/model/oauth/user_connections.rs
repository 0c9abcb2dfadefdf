//! Per-user connections of `per_user` `AUTHORIZATION_CODE` configs: each user authorizes their
//! own account, and requests made for a user carry that user's token, never another's.
//!
//! Items, all in the tenant's partition:
//! - `TOKEN#<config>#<user>`: the user's tokens ([`crate::model::token`], sealed under the record id
//!   `<config>#<user>`, refreshed by the scheduled pass like any token);
//! - `CONN#<user>#<config>`: the user's connection marker, so a user's connections list with one
//!   query;
//! - `USERS#<config>`: how many users are connected (its reference count, moved atomically in
//!   the transaction that connects or disconnects a user), so a config with 100,000 users reads
//!   in one request;
//! - `SWEEP#<config>` (in the `SWEEP` index): left by deleting a `per_user` config, with the
//!   config as it was; the scheduled pass revokes and deletes its users' tokens in bounded
//!   batches, so the delete itself stays one transaction however many users connected.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{
    auth_record::{AuthType, ConnectionMode, StoredAuthConfig, TokenStatus},
    grants,
    resource::{self, ListParams, Page, Principal},
    rfc3339, tenant_pk,
    token::{self, TokenOwner, TokenRecord},
};
use crate::{
    AppState, Error,
    store::{Body, Condition, IndexKey, Item, Query, StoreError, TxOp},
};

const SWEEP_PREFIX: &str = "SWEEP#";
/// Index partition of pending sweeps.
const SWEEP_INDEX: &str = "SWEEP";
/// User tokens handled per sweep batch.
const SWEEP_BATCH: usize = 100;
/// Revocations in flight at once during a sweep.
const SWEEP_CONCURRENCY: usize = 8;

use token::{Marker, counter_sk, is_current, marker_sk};

/// How many users are connected to `config_id`.
pub async fn connected_users(
    state: &AppState,
    tenant_id: &str,
    config_id: &str,
) -> Result<u64, StoreError> {
    Ok(state
        .store
        .get(&tenant_pk(tenant_id), &counter_sk(config_id))
        .await?
        .map_or(0, |item| item.ref_count))
}

/// Whether any tokens of `config` exist: its shared set, or any user's.
pub async fn any_tokens(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
) -> Result<bool, StoreError> {
    let pk = tenant_pk(tenant_id);
    if state
        .store
        .get(&pk, &token::token_sk(&config.meta.id))
        .await?
        .is_some()
    {
        return Ok(true);
    }
    let prefix = token::user_tokens_prefix(&config.meta.id);
    let page = state
        .store
        .query(Query::prefix(&pk, &prefix).limit(1))
        .await?;
    Ok(!page.items.is_empty())
}

/// The writes that void every token of `config` when a change voids them: the shared set is
/// deleted, and the user count starts again (users' tokens are voided by the config's next
/// `tokens_epoch`, without touching each of them).
pub fn void_ops(tenant_id: &str, config: &StoredAuthConfig) -> Vec<TxOp> {
    let pk = tenant_pk(tenant_id);
    let mut ops = vec![TxOp::Delete {
        pk: pk.clone(),
        sk: token::token_sk(&config.meta.id),
        condition: Condition::None,
    }];
    if config.connection_mode == ConnectionMode::PerUser {
        ops.push(TxOp::Delete {
            pk,
            sk: counter_sk(&config.meta.id),
            condition: Condition::None,
        });
    }
    ops
}

/// The writes that go with deleting `config`: its shared tokens and user count, and for a
/// `per_user` config a sweep of its users' tokens (the config kept for their revocation).
pub fn delete_ops(state: &AppState, tenant_id: &str, config: &StoredAuthConfig) -> Vec<TxOp> {
    let mut ops = void_ops(tenant_id, config);
    if config.connection_mode == ConnectionMode::PerUser {
        match Body::of(config) {
            Ok(data) => {
                let index = IndexKey {
                    pk: SWEEP_INDEX.into(),
                    sk: format!(
                        "{:012}#{tenant_id}#{}",
                        state.clock.epoch_seconds(),
                        config.meta.id
                    ),
                };
                let item = Item::new(
                    tenant_pk(tenant_id),
                    format!("{SWEEP_PREFIX}{}", config.meta.id),
                    data,
                )
                .indexed(index);
                ops.push(TxOp::Create(item));
            }
            Err(e) => tracing::error!(error = %e, "a sweep of user tokens could not be recorded"),
        }
    }
    ops
}

/// One of the caller's connections.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionView {
    /// The auth config connected to.
    pub auth_config_id: String,
    /// Its name.
    pub auth_config_name: String,
    /// The caller's token state there.
    pub token_status: TokenStatus,
    /// When the access token expires, RFC 3339.
    pub token_expires_at: Option<String>,
    /// The scopes granted.
    pub granted_scopes: Option<Vec<String>>,
    /// When the caller first connected, RFC 3339.
    pub connected_at: String,
}

/// The caller's connections, in auth config id order, a page at a time.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
) -> Result<Page<ConnectionView>, Error> {
    let pk = tenant_pk(&principal.tenant_id);
    let prefix = token::marker_prefix(&principal.user_id);
    let page = resource::prefix_page(state, &pk, &prefix, params).await?;
    let views = futures_util::future::try_join_all(page.items.iter().map(|item| async {
        let marker: Marker = item
            .data
            .read()
            .map_err(|e| Error::Internal(format!("stored connection: {e}")))?;
        let config = match resource::load::<StoredAuthConfig>(
            state,
            &principal.tenant_id,
            &marker.auth_config_id,
        )
        .await
        {
            Ok((config, _)) => config,
            // A deleted config's marker goes with its sweep; until then it is not shown.
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // A marker left from before a change of mode names no connection of the caller's.
        if config.connection_mode != ConnectionMode::PerUser {
            return Ok(None);
        }
        let owner = TokenOwner::of(&config, &principal.user_id);
        let token = token::token_state(state, &principal.tenant_id, &owner).await?;
        let at = |seconds: Option<i64>| {
            seconds
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .map(rfc3339)
        };
        Ok::<_, Error>(Some(ConnectionView {
            auth_config_id: config.meta.id.clone(),
            auth_config_name: config.meta.name.clone(),
            token_status: token.status,
            token_expires_at: at(token.expires_at),
            granted_scopes: token.granted_scopes,
            connected_at: marker.connected_at,
        }))
    }))
    .await?;
    Ok(Page::new(
        views.into_iter().flatten().collect(),
        page.last_sk.as_deref(),
    ))
}

/// Disconnects the caller from `config_id`: the refresh token is revoked at the provider when
/// the config names a revocation endpoint (RFC 7009, best effort), then the caller's tokens and
/// connection are deleted. Other users' connections are untouched.
pub async fn disconnect(
    state: &AppState,
    principal: &Principal,
    config_id: &str,
) -> Result<(), Error> {
    resource::retry_lost_races("connection", || {
        disconnect_once(state, principal, config_id)
    })
    .await
}

/// One attempt of [`disconnect`]: [`Error::VersionRace`] when a refresh replaced the tokens
/// between the read and the delete (the caller asked to disconnect all the same: tried again,
/// a bounded number of times, on the new tokens).
async fn disconnect_once(
    state: &AppState,
    principal: &Principal,
    config_id: &str,
) -> Result<(), Error> {
    let (config, _) =
        resource::load::<StoredAuthConfig>(state, &principal.tenant_id, config_id).await?;
    if config.auth_type != AuthType::AuthorizationCode
        || config.connection_mode != ConnectionMode::PerUser
    {
        return Err(Error::NotFound("connection"));
    }
    let pk = tenant_pk(&principal.tenant_id);
    let owner = TokenOwner::of(&config, &principal.user_id);
    let marker = marker_sk(&principal.user_id, config_id);
    let Some(item) = state
        .store
        .get(&pk, &token::token_sk(&owner.record_id()))
        .await?
    else {
        return match state.store.get(&pk, &marker).await? {
            Some(_) => Ok(state
                .store
                .write(TxOp::Delete {
                    pk,
                    sk: marker,
                    condition: Condition::None,
                })
                .await?),
            None => Err(Error::NotFound("connection")),
        };
    };
    // Read now, sent once the tokens are deleted (a lost race revokes nothing).
    let revoke = grants::prepare_revocation(state, &principal.tenant_id, &owner).await;
    let current = item
        .data
        .read::<TokenRecord>()
        .is_ok_and(|record| is_current(&record, &config));
    let mut ops = vec![
        TxOp::Delete {
            pk: pk.clone(),
            sk: item.sk.clone(),
            condition: Condition::Version(item.version),
        },
        TxOp::Delete {
            pk: pk.clone(),
            sk: marker,
            condition: Condition::None,
        },
    ];
    if current && connected_users(state, &principal.tenant_id, config_id).await? > 0 {
        ops.push(TxOp::AdjustRefs {
            pk,
            sk: counter_sk(config_id),
            delta: -1,
        });
    }
    match state.store.transact(ops).await {
        Ok(()) => {
            if let Some(revoke) = revoke {
                revoke.send(state).await;
            }
            Ok(())
        }
        Err(StoreError::ConditionFailed { index: 0 }) => Err(Error::VersionRace),
        Err(e) => Err(e.into()),
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Users' tokens revoked (best effort) and deleted.
    pub tokens_deleted: u64,
    /// Deleted configs whose users' tokens are all gone.
    pub configs_done: u64,
}

/// Revokes and deletes the users' tokens of deleted `per_user` configs, batch after batch
/// (oldest deletion first), until `budget_end`.
pub async fn sweep(state: &AppState, budget_end: tokio::time::Instant) -> SweepReport {
    let mut report = SweepReport::default();
    let upto = IndexKey {
        pk: SWEEP_INDEX.into(),
        sk: "~".into(),
    };
    let found = match state.store.query_index(&upto, 50).await {
        Ok(entries) => crate::store::read_entries(state.store.as_ref(), entries).await,
        Err(e) => Err(e),
    };
    let pending = match found {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "reading pending sweeps failed");
            return report;
        }
    };
    for item in pending {
        if tokio::time::Instant::now() >= budget_end {
            break;
        }
        let one = sweep_item(state, item, budget_end).await;
        report.tokens_deleted += one.tokens_deleted;
        report.configs_done += one.configs_done;
    }
    report
}

/// Sweeps the users' tokens of the one deleted config the pending sweep `item` names, batch after
/// batch until none are left or `budget_end`; the sweep item goes once none are left.
pub async fn sweep_item(
    state: &AppState,
    item: Item,
    budget_end: tokio::time::Instant,
) -> SweepReport {
    let mut report = SweepReport::default();
    let Some(tenant_id) = item.pk.strip_prefix("T#") else {
        return report;
    };
    let Ok(config) = item.data.read::<StoredAuthConfig>() else {
        // Unreadable: removed, so it cannot hold up the sweeps behind it.
        tracing::error!(sk = %item.sk, "a pending sweep holds no auth config; dropped");
        let _ = drop_sweep(state, &item).await;
        return report;
    };
    // Batch after batch while time is left.
    let done = loop {
        match sweep_batch(state, tenant_id, &config).await {
            Ok((deleted, done)) => {
                report.tokens_deleted += deleted;
                // A batch that deleted nothing will not do better now: the next pass retries.
                if done || deleted == 0 || tokio::time::Instant::now() >= budget_end {
                    break done;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweeping user tokens failed");
                break false;
            }
        }
    };
    if done && drop_sweep(state, &item).await.is_ok() {
        report.configs_done += 1;
    }
    report
}

/// Removes a pending sweep item (as read: a concurrent change keeps it).
async fn drop_sweep(state: &AppState, item: &Item) -> Result<(), StoreError> {
    state.store.write(TxOp::delete_as_read(item)).await
}

/// Revokes (best effort) and deletes one user's tokens of a deleted config, with their marker.
async fn sweep_user(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
    user: &str,
) -> bool {
    let owner = TokenOwner {
        config,
        user_id: Some(user),
    };
    grants::revoke_stored(state, tenant_id, &owner).await;
    let pk = tenant_pk(tenant_id);
    let ops = vec![
        TxOp::Delete {
            pk: pk.clone(),
            sk: token::token_sk(&owner.record_id()),
            condition: Condition::None,
        },
        TxOp::Delete {
            pk,
            sk: marker_sk(user, &config.meta.id),
            condition: Condition::None,
        },
    ];
    state.store.transact(ops).await.is_ok()
}

/// One batch of a deleted config's user tokens: each revoked (best effort, a few at a time) and
/// deleted with its user's marker. Whether none are left.
async fn sweep_batch(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
) -> Result<(u64, bool), StoreError> {
    use futures_util::StreamExt;
    let pk = tenant_pk(tenant_id);
    let prefix = token::user_tokens_prefix(&config.meta.id);
    let page = state
        .store
        .query(Query::prefix(&pk, &prefix).limit(SWEEP_BATCH))
        .await?;
    let done = page.last_sk.is_none();
    let users: Vec<String> = page
        .items
        .iter()
        .filter_map(|item| item.sk.strip_prefix(&prefix).map(token::from_key_part))
        .collect();
    let jobs: Vec<_> = users
        .iter()
        .map(|user| sweep_user(state, tenant_id, config, user))
        .collect();
    let deleted = futures_util::stream::iter(jobs)
        .buffer_unordered(SWEEP_CONCURRENCY)
        .collect::<Vec<bool>>()
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    Ok((deleted as u64, done && deleted == users.len()))
}
