//! A token endpoint that answers 429, 5xx or not at all is backed off as a whole, not token by
//! token: once one refresh through it fails that way, the refresh pass makes no more token requests
//! there until the back-off ends, and moves each of its due tokens past it instead (one write, no
//! request), spread over a quarter of the back-off so they do not all come back in one second.
//!
//! What is backed off is one tenant's client at one token endpoint: the tenant, the endpoint's
//! origin *and* the client id. Keyed by origin alone, a tenant could make a shared provider (one
//! every tenant uses) look down and stop every other tenant's refreshes there; keyed by client
//! without the tenant, a tenant could name another tenant's client id (client ids are not secret)
//! at the same endpoint, fail through it, and hold the other tenant's refreshes back. A per-user
//! config with thousands of users is one key, so one outage costs at most the requests already under way when the first failure
//! came back (the pass's cap per token endpoint), not one per user.
//!
//! The back-off is kept twice: in the pass (so the jobs behind the first failure in the same pass
//! make no request) and as an item `BACKOFF#<sha256(tenant, origin, client)>` / `BACKOFF` that expires
//! when the back-off ends (so the next passes, in other instances, skip it too).

use std::{collections::HashMap, sync::Mutex};

use sha2::{Digest, Sha256};

use crate::model::token::{self, TokenOwner};
use crate::{
    AppState,
    store::{Body, Item, StoreError, TxOp},
};

/// Longest back-off of one client at one endpoint.
pub const MAX_SECONDS: i64 = crate::model::token::MAX_BACKOFF_SECONDS;

/// What is backed off: one tenant's client at a token endpoint's origin.
pub fn key(tenant_id: &str, token_url: &str, client_id: &str) -> String {
    let origin = crate::model::scheduler::origin_key(token_url);
    let digest = Sha256::digest(format!("{tenant_id}\n{origin}\n{client_id}").as_bytes());
    format!("BACKOFF#{}", hex::encode(&digest[..16]))
}

/// The back-offs one pass knows of: read from the store once per key, and set as failures happen.
#[derive(Debug, Default)]
pub struct Backoffs {
    until: Mutex<HashMap<String, Option<i64>>>,
}

impl Backoffs {
    fn known(&self, key: &str) -> Option<Option<i64>> {
        self.until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied()
    }

    fn remember(&self, key: &str, until: Option<i64>) {
        let mut map = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(key.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Until when `key` is backed off, if it is now (read from the store the first time).
    pub async fn active(&self, state: &AppState, key: &str, now: i64) -> Option<i64> {
        let until = match self.known(key) {
            Some(until) => until,
            None => {
                let stored = match state.store.get(key, "BACKOFF").await {
                    Ok(item) => item.and_then(|item| item.expires_at),
                    Err(error) => {
                        tracing::warn!(%error, "reading a provider back-off failed");
                        None
                    }
                };
                self.remember(key, stored);
                stored
            }
        };
        until.filter(|until| *until > now)
    }

    /// Backs `key` off until `until`, in this pass and in the store (best effort).
    pub async fn set(&self, state: &AppState, key: &str, until: i64) {
        let until = until.min(state.clock.epoch_seconds() + MAX_SECONDS);
        self.remember(key, Some(until));
        let item = Item::new(key, "BACKOFF", Body::from(serde_json::json!({}))).expiring_at(until);
        let written = match state.store.write(TxOp::Create(item.clone())).await {
            Err(StoreError::ConditionFailed { .. }) => {
                // One exists: replaced when it ends earlier.
                match state.store.get(key, "BACKOFF").await {
                    Ok(Some(old)) if old.expires_at.is_none_or(|at| at < until) => {
                        state
                            .store
                            .write(TxOp::Update {
                                item,
                                expected_version: old.version,
                            })
                            .await
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match written {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(error) => tracing::warn!(%error, "storing a provider back-off failed"),
        }
    }
}

/// Moves the due tokens of `owner` past a back-off that ends at `until`: their next refresh at a
/// random moment in the quarter after it. Whether they were moved (not when they changed
/// meanwhile, or are gone).
pub async fn move_past(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
    until: i64,
) -> Result<bool, StoreError> {
    let record_id = owner.record_id();
    let Some((mut record, version)) = token::load(state, tenant_id, &record_id).await? else {
        return Ok(false);
    };
    let span = ((until - state.clock.epoch_seconds()) / 4).max(1);
    let mut bytes = [0_u8; 2];
    let spread = getrandom::fill(&mut bytes).map_or(0, |()| {
        i64::from(u16::from_le_bytes(bytes)) * span / i64::from(u16::MAX)
    });
    record.next_refresh_at = Some(until + spread);
    crate::store::written(token::write_record(state, tenant_id, &record_id, &record, version).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_back_off_is_one_tenants_client_at_one_origin() {
        let a = key("t", "https://idp.example.com/oauth/token", "client-a");
        assert_eq!(
            a,
            key("t", "https://idp.example.com/other/path", "client-a")
        );
        assert_ne!(
            a,
            key("t", "https://idp.example.com/oauth/token", "client-b")
        );
        assert_ne!(
            a,
            key("t", "https://idp2.example.com/oauth/token", "client-a")
        );
        assert_ne!(
            a,
            key("u", "https://idp.example.com/oauth/token", "client-a")
        );
        assert!(a.starts_with("BACKOFF#"));
    }
}
