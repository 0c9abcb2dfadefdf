//! Where refreshable tokens wait for the refresh pass: the layout of the refresh index.
//!
//! - A config's **shared** tokens are an entry of the sharded index `REFRESH#<shard>`, sort key
//!   `<refresh_at>#<tenant>#<config id>` ([`refresh_index_key`]).
//! - A `per_user` config's **users'** tokens wait in the config's own index partition
//!   `USERQ#<tenant>#<config id>`, sort key `<refresh_at>#<user>` ([`user_queue_key`]), and the
//!   config has one entry in the shards for all of them, its *wake*: the connected-user count
//!   `USERS#<config id>`, indexed at the time its earliest user token falls due or sooner
//!   ([`wake_key`]).
//!
//! So a pass reads the shards in due order, and for a wake reads the config once and then that
//! config's due users' tokens, a bounded number per pass. Deleting a `per_user` config, or a change
//! that voids its tokens, deletes the count item in its own transaction, and with it the only way
//! into the users' entries, however many there are: they can never sort before another tenant's
//! token again (the sweep deletes the items themselves later, from its own list).
//!
//! The wake keeps one invariant: it is due no later than the earliest due user token, except
//! for the moments a write has not yet reached the index. Every write of a user's token lowers
//! it ([`after_write`]); a pass claims it ([`claim_wake`]) before reading the queue and lowers it
//! again to what it saw next ([`lower_wake`]), both conditional on the item's version, so neither
//! undoes the other; and a pass never moves it more than [`RECHECK_SECONDS`] ahead, which bounds the
//! delay of an entry the index had not yet shown it.

use sha2::{Digest, Sha256};

use crate::model::tenant_pk;
use crate::{
    AppState,
    store::{IndexKey, StoreError, TxOp},
};

/// Longest a pass moves a wake ahead of now: a user token that the index had not yet shown the
/// pass (an index lags its table by a moment) waits at most this long past its due time.
pub const RECHECK_SECONDS: i64 = 600;

/// Shards of the refresh index.
pub const REFRESH_SHARDS: u32 = 16;

/// Prefix of a `per_user` config's queue partition in the index.
const QUEUE_PREFIX: &str = "USERQ#";

const COUNTER_PREFIX: &str = "USERS#";

/// Sort key of a config's connected-user count (also the wake of its users' tokens).
pub(crate) fn counter_sk(config_id: &str) -> String {
    format!("{COUNTER_PREFIX}{config_id}")
}

/// The refresh index key of a config's shared tokens due at `refresh_at`.
pub fn refresh_index_key(tenant_id: &str, id: &str, refresh_at: i64) -> IndexKey {
    shard_key(&format!("{tenant_id}#{id}"), refresh_at)
}

/// The key of `entry` (`<tenant>#…`) due at `at`, in the refresh shard its text hashes to.
fn shard_key(entry: &str, at: i64) -> IndexKey {
    let digest = Sha256::digest(entry.as_bytes());
    let shard = u32::from(digest[0]) % REFRESH_SHARDS;
    IndexKey {
        pk: format!("REFRESH#{shard}"),
        sk: format!("{:012}#{entry}", at.max(0)),
    }
}

/// The index partition holding the users' tokens of `config_id`.
pub fn user_queue(tenant_id: &str, config_id: &str) -> String {
    format!("{QUEUE_PREFIX}{tenant_id}#{config_id}")
}

/// The index key of one user's token (`user_part` as in its record id) due at `refresh_at`.
pub fn user_queue_key(tenant_id: &str, config_id: &str, user_part: &str, at: i64) -> IndexKey {
    IndexKey {
        pk: user_queue(tenant_id, config_id),
        sk: format!("{:012}#{user_part}", at.max(0)),
    }
}

/// The index key of the wake of `config_id` (its user count item) at `at`: in the shard its
/// tenant and id hash to, sorted among the shared tokens by time.
pub fn wake_key(tenant_id: &str, config_id: &str, at: i64) -> IndexKey {
    shard_key(&format!("{tenant_id}#{config_id}#users"), at)
}

/// The due time an index sort key starts with.
pub fn due_of(index: &IndexKey) -> Option<i64> {
    index.sk.get(..12)?.parse().ok()
}

/// The index key of the tokens `record_id` names (a config id, or `<config id>#<user>`) when
/// they can be refreshed from `refresh_at` on.
pub fn index_key(tenant_id: &str, record_id: &str, refresh_at: i64) -> IndexKey {
    match record_id.split_once('#') {
        Some((config_id, user_part)) => user_queue_key(tenant_id, config_id, user_part, refresh_at),
        None => refresh_index_key(tenant_id, record_id, refresh_at),
    }
}

/// The wake of `config_id` as stored (its user count item), if the config has connected users.
async fn wake(
    state: &AppState,
    tenant_id: &str,
    config_id: &str,
) -> Result<Option<crate::store::Item>, StoreError> {
    state
        .store
        .get(&tenant_pk(tenant_id), &counter_sk(config_id))
        .await
}

/// Moves the wake `item` (as read) to `at`: whether it moved (not when it changed meanwhile).
async fn move_wake(
    state: &AppState,
    tenant_id: &str,
    config_id: &str,
    mut item: crate::store::Item,
    at: i64,
) -> Result<bool, StoreError> {
    let expected_version = item.version;
    item.index = Some(wake_key(tenant_id, config_id, at));
    let moved = TxOp::Update {
        item,
        expected_version,
    };
    crate::store::written(state.store.write(moved).await)
}

/// Moves the wake of `config_id` to `at` unless it is due earlier already. Nothing to do when
/// the config has no connected users (no count item). Retried on a concurrent change.
pub(crate) async fn lower_wake(
    state: &AppState,
    tenant_id: &str,
    config_id: &str,
    at: i64,
) -> Result<(), StoreError> {
    for _ in 0..4 {
        let Some(item) = wake(state, tenant_id, config_id).await? else {
            return Ok(());
        };
        let due = item.index.as_ref().and_then(due_of);
        if due.is_some_and(|due| due <= at)
            || move_wake(state, tenant_id, config_id, item, at).await?
        {
            return Ok(());
        }
    }
    Err(StoreError::Unavailable(
        "the wake of a config's user tokens kept changing".into(),
    ))
}

/// Claims the wake of `config_id` for one pass: moves it to `until` if it is still due by
/// `horizon`. Whether it was claimed (not when another pass took it, a writer changed it at that
/// moment, or the config is gone).
pub(crate) async fn claim_wake(
    state: &AppState,
    tenant_id: &str,
    config_id: &str,
    horizon: i64,
    until: i64,
) -> Result<bool, StoreError> {
    let Some(item) = wake(state, tenant_id, config_id).await? else {
        return Ok(false);
    };
    if item
        .index
        .as_ref()
        .and_then(due_of)
        .is_none_or(|due| due > horizon)
    {
        return Ok(false);
    }
    move_wake(state, tenant_id, config_id, item, until).await
}

/// What follows a stored write of the tokens `record_id` names, refreshable from `refresh_at`
/// (if at all): a user's token due before its config's wake brings the wake forward. A failure
/// is logged; the wake is then late by at most [`RECHECK_SECONDS`] after the next pass that reads
/// it.
pub(crate) async fn after_write(
    state: &AppState,
    tenant_id: &str,
    record_id: &str,
    refresh_at: Option<i64>,
) {
    let (Some((config_id, _)), Some(at)) = (record_id.split_once('#'), refresh_at) else {
        return;
    };
    if let Err(error) = lower_wake(state, tenant_id, config_id, at).await {
        tracing::warn!(%error, auth_config_id = %config_id, "bringing a refresh wake forward failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_stay_where_stored_entries_are() {
        // SHA-256("acme#cfg")[0] = 250, SHA-256("acme#cfg#users")[0] = 184; 16 shards.
        let shared = refresh_index_key("acme", "cfg", 1_700_000_000);
        assert_eq!(shared.pk, "REFRESH#10");
        assert_eq!(shared.sk, "001700000000#acme#cfg");
        let wake = wake_key("acme", "cfg", 1_700_000_000);
        assert_eq!(wake.pk, "REFRESH#8");
        assert_eq!(wake.sk, "001700000000#acme#cfg#users");
    }

    #[test]
    fn a_wake_sorts_among_shared_tokens_by_time_and_users_wait_in_their_configs_queue() {
        let wake = wake_key("t", "c", 1_700_000_000);
        assert!(wake.pk.starts_with("REFRESH#"));
        assert_eq!(due_of(&wake), Some(1_700_000_000));
        let shared = refresh_index_key("t", "d", 1_700_000_001);
        assert!(wake.sk < shared.sk);
        let user = user_queue_key("t", "c", "bob", 5);
        assert_eq!(user.pk, "USERQ#t#c");
        assert_eq!(user.sk, "000000000005#bob");
        assert_eq!(due_of(&user), Some(5));
    }
}
