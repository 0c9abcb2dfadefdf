//! Refreshing only what is needed: a user's tokens that nobody has used for a while are refreshed
//! on their next use rather than on the timer, except as often as it takes to keep their refresh
//! token alive.
//!
//! The rule, for the tokens of one user of a `per_user` config:
//! - A use (a tool call, a test, a health check acting as the user) is noted on the token item,
//!   at most once every [`NOTE_USE_EVERY_SECONDS`] (one conditional write an hour of use at most).
//! - When the scheduled pass finds them due and they have not been used for
//!   [`IDLE_AFTER_SECONDS`], it does not refresh them: it moves them to
//!   [`KEEPALIVE_SECONDS`] after they were last obtained (*parks* them). Their next use refreshes
//!   them on demand (the access token has expired by then: that one call waits for a token
//!   request, about as long as one round trip to the provider).
//! - Parked tokens still due at their keep-alive time are refreshed once, which keeps refresh
//!   tokens with an idle lifetime of more than 3 days alive (Okta's default is 7 days, Auth0's
//!   30, Microsoft Entra's 90), and are parked again an access-token lifetime later.
//! - Tokens with no use noted (stored before uses were noted) and a config's shared tokens are
//!   refreshed on the timer as before.
//!
//! The numbers: one-hour tokens are refreshed 24 times a day each. For 1M connected users of whom
//! 10 % use their connection on a given day, that is 1M × 24 = 24M token requests a day
//! (≈ 280 a second) on the timer; parked, 100k × 24 + 900k / 3 days = 2.7M a day (≈ 31 a second),
//! about a ninth.

use crate::model::token::{self, TokenOwner, TokenRecord};
use crate::{AppState, store::StoreError};

/// Tokens unused for this long are idle: refreshed on their next use.
pub const IDLE_AFTER_SECONDS: i64 = 24 * 3600;
/// Idle tokens are still refreshed this long after they were obtained, to keep their refresh
/// token alive.
pub const KEEPALIVE_SECONDS: i64 = 3 * 24 * 3600;
/// A use is noted when the last noted one is at least this old.
pub const NOTE_USE_EVERY_SECONDS: i64 = 3600;

/// Until when the scheduled pass should leave `record` (a user's tokens) for their next use:
/// `None` when it should refresh them now.
pub fn parked_until(record: &TokenRecord, now: i64) -> Option<i64> {
    let used = record.last_used_at?;
    if now - used < IDLE_AFTER_SECONDS {
        return None;
    }
    let keepalive = record.obtained_at + KEEPALIVE_SECONDS;
    (keepalive > now).then_some(keepalive)
}

/// Parks `record` (read at `version`) until `until`: its refresh index entry moves there.
/// Whether it was written (not when the tokens changed meanwhile).
pub(crate) async fn park(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
    record: &TokenRecord,
    version: u64,
    until: i64,
) -> Result<bool, StoreError> {
    let parked = TokenRecord {
        next_refresh_at: Some(until),
        ..record.clone()
    };
    crate::store::written(
        token::write_record(state, tenant_id, &owner.record_id(), &parked, version).await,
    )
}

/// Notes a use of a user's tokens (read as `record` at `version`) when the last noted one is
/// older than [`NOTE_USE_EVERY_SECONDS`]. Best effort: a write that loses to a concurrent one is
/// dropped (the next use notes it).
pub(crate) async fn note_use(
    state: &AppState,
    tenant_id: &str,
    owner: &TokenOwner<'_>,
    record: &TokenRecord,
    version: u64,
) {
    let now = state.clock.epoch_seconds();
    let recent = record
        .last_used_at
        .is_some_and(|at| now - at < NOTE_USE_EVERY_SECONDS);
    if owner.user_id.is_none() || recent {
        return;
    }
    let used = TokenRecord {
        last_used_at: Some(now),
        ..record.clone()
    };
    match token::write_record(state, tenant_id, &owner.record_id(), &used, version).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
        Err(error) => tracing::info!(%error, "noting a use of a user's tokens failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(obtained_at: i64, last_used_at: Option<i64>) -> TokenRecord {
        serde_json::from_value(serde_json::json!({
            "kind": "authorization_code", "sealed": null, "has_refresh_token": true,
            "expires_at": obtained_at + 3600, "obtained_at": obtained_at,
            "config_fingerprint": "f", "last_used_at": last_used_at,
        }))
        .unwrap()
    }

    #[test]
    fn idle_tokens_wait_for_their_use_or_their_keep_alive() {
        let now = 1_800_000_000;
        let day = 24 * 3600;
        assert_eq!(parked_until(&record(now - 3000, Some(now - 60)), now), None);
        assert_eq!(
            parked_until(&record(now - 3000, None), now),
            None,
            "no use noted"
        );
        assert_eq!(
            parked_until(&record(now - 3000, Some(now - 2 * day)), now),
            Some(now - 3000 + KEEPALIVE_SECONDS)
        );
        assert_eq!(
            parked_until(&record(now - 3 * day - 1, Some(now - 5 * day)), now),
            None,
            "the keep-alive refresh"
        );
    }
}
