//! Rate limits on the work that reaches other servers: connection tests (create, a re-testing
//! PATCH, `/test`, discovery, a live catalogue), OAuth authorize and tool calls, per user per
//! minute, plus a per-tenant cap on connection tests in flight. Their state is in the store, so the
//! limits hold across Lambda instances. Over a limit: 429 with `Retry-After`; other users are
//! unaffected.
//!
//! - A per-user limit is a counter per fixed window: one conditional write per request.
//! - The tenant's cap counts tests actually under way: one item per tenant holds a lease per
//!   running test. [`with_test_slot`] adds one (in the same transaction as the user's count) and
//!   removes it when the test ends, so a user running quick tests one after the other holds at
//!   most one slot at a time. A lease that is never removed (a function stopped mid-test) lapses
//!   [`TEST_LEASE_MARGIN_SECONDS`] after the test's own time limit.

use serde::{Deserialize, Serialize};

use super::resource::Principal;
use crate::{
    AppState, Error,
    store::{Body, Item, StoreError, TxOp},
};

pub use crate::config::Limits;

/// How long a test's slot outlives the test's own time limit: a slot lapses only when its holder
/// stopped without giving it back (a function that reached its own timeout first).
pub const TEST_LEASE_MARGIN_SECONDS: i64 = 5;
/// The per-user window.
const USER_WINDOW_SECONDS: i64 = 60;
/// Sort key of a tenant's tests in flight (in partition `LIMIT#<tenant>`).
const IN_FLIGHT_SK: &str = "tests-in-flight";

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A connection test.
    ConnectionTest,
    /// The start of an OAuth authorization.
    Authorize,
    /// A tool call.
    ToolCall,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::ConnectionTest => "tests",
            Self::Authorize => "authorize",
            Self::ToolCall => "tool-calls",
        }
    }
}

/// A tenant's tests in flight, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct InFlight {
    leases: Vec<Lease>,
}

/// One running test's slot.
#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    id: String,
    until: i64,
}

/// The user's counter of `action` in the current window, and its limit.
fn user_counter(state: &AppState, principal: &Principal, action: Action) -> (TxOp, u64, i64) {
    let limits = state.limits;
    let per_user = match action {
        Action::ConnectionTest => limits.tests_per_minute,
        Action::Authorize => limits.authorize_per_minute,
        Action::ToolCall => limits.tool_calls_per_minute,
    };
    let now = state.clock.epoch_seconds();
    let start = now.div_euclid(USER_WINDOW_SECONDS) * USER_WINDOW_SECONDS;
    let op = TxOp::Count {
        pk: format!("LIMIT#{}#{}", principal.tenant_id, principal.user_id),
        sk: format!("{}#{start}", action.name()),
        limit: per_user,
        // Kept a window beyond its end, then deleted by TTL.
        expires_at: start + 2 * USER_WINDOW_SECONDS,
    };
    let retry_after = start + USER_WINDOW_SECONDS - now;
    (op, per_user, retry_after)
}

fn limited(retry_after: i64, detail: String) -> Error {
    Error::RateLimited {
        retry_after: u64::try_from(retry_after).unwrap_or(1).max(1),
        detail,
    }
}

fn per_user_limited(per_user: u64, retry_after: i64) -> Error {
    limited(
        retry_after,
        format!("You may do this {per_user} times a minute."),
    )
}

/// Counts one `action` of `principal`; a 429 problem (with `Retry-After`) when over the user's
/// limit. A connection test goes through [`with_test_slot`] instead.
pub async fn check(state: &AppState, principal: &Principal, action: Action) -> Result<(), Error> {
    let (op, per_user, retry_after) = user_counter(state, principal, action);
    match state.store.write(op).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { .. }) => Err(per_user_limited(per_user, retry_after)),
        Err(e) => Err(e.into()),
    }
}

/// Runs the connection test `work` of `principal`, which ends within `limit`, within the limits:
/// counted against the user's tests a minute, and holding one of the tenant's slots for tests in
/// flight while it runs. A 429 problem, with nothing run, when either is used up.
pub async fn with_test_slot<T>(
    state: &AppState,
    principal: &Principal,
    limit: std::time::Duration,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let seconds = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX / 4);
    let lease = take_slot(state, principal, seconds + TEST_LEASE_MARGIN_SECONDS).await?;
    let outcome = work.await;
    give_back(state, &principal.tenant_id, &lease).await;
    outcome
}

/// Counts the user's test and takes a slot in one transaction (retried when another test takes
/// or gives back a slot at the same moment); the slot's id.
async fn take_slot(
    state: &AppState,
    principal: &Principal,
    lease_seconds: i64,
) -> Result<String, Error> {
    let cap = state.limits.tenant_concurrent_tests;
    let pk = format!("LIMIT#{}", principal.tenant_id);
    let id = super::new_id();
    for _ in 0..8 {
        let now = state.clock.epoch_seconds();
        let stored = state.store.get(&pk, IN_FLIGHT_SK).await?;
        let mut in_flight = match &stored {
            Some(item) => item.data.read::<InFlight>().unwrap_or_default(),
            None => InFlight::default(),
        };
        in_flight.leases.retain(|lease| lease.until > now);
        if in_flight.leases.len() as u64 >= cap {
            let first_free = in_flight
                .leases
                .iter()
                .map(|l| l.until)
                .min()
                .unwrap_or(now);
            return Err(limited(
                first_free - now,
                format!("Your organisation may run {cap} connection tests at once."),
            ));
        }
        let until = now + lease_seconds;
        in_flight.leases.push(Lease {
            id: id.clone(),
            until,
        });
        let write = slot_write(&pk, &in_flight, stored.map(|item| item.version), until)?;
        let (count, per_user, retry_after) = user_counter(state, principal, Action::ConnectionTest);
        match state.store.transact(vec![count, write]).await {
            Ok(()) => return Ok(id),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                return Err(per_user_limited(per_user, retry_after));
            }
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::VersionRace)
}

/// The write of `in_flight` over the item read at `version` (a new item when none was read),
/// expiring once its last lease lapses.
fn slot_write(
    pk: &str,
    in_flight: &InFlight,
    version: Option<u64>,
    until: i64,
) -> Result<TxOp, Error> {
    let data = Body::of(in_flight).map_err(|e| Error::Internal(e.to_string()))?;
    let last = in_flight
        .leases
        .iter()
        .map(|l| l.until)
        .max()
        .unwrap_or(until);
    let item = Item::new(pk, IN_FLIGHT_SK, data).expiring_at(last);
    Ok(match version {
        Some(expected_version) => TxOp::Update {
            item,
            expected_version,
        },
        None => TxOp::Create(item),
    })
}

/// Gives the slot `id` back (retried on a concurrent change; logged, and left to lapse, when the
/// store fails).
async fn give_back(state: &AppState, tenant_id: &str, id: &str) {
    let pk = format!("LIMIT#{tenant_id}");
    for _ in 0..8 {
        let outcome = async {
            let Some(item) = state.store.get(&pk, IN_FLIGHT_SK).await? else {
                return Ok(true);
            };
            let mut in_flight = item.data.read::<InFlight>().unwrap_or_default();
            let now = state.clock.epoch_seconds();
            let before = in_flight.leases.len();
            in_flight
                .leases
                .retain(|lease| lease.id != id && lease.until > now);
            if in_flight.leases.len() == before {
                return Ok(true);
            }
            let write = slot_write(&pk, &in_flight, Some(item.version), now)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            crate::store::written(state.store.write(write).await)
        };
        match outcome.await {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "giving back a connection test slot failed; it lapses");
                return;
            }
        }
    }
    tracing::warn!("giving back a connection test slot kept conflicting; it lapses");
}
