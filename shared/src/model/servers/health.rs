//! Connection health: what the latest checks of an MCP server config found, kept beside the
//! config (never in it, so a check never moves the config's version under someone editing it).
//!
//! One item per server, `HEALTH#<server id>` in the tenant's partition, holds the current
//! [`Health`], a bounded history of checks, and the server's place in the check index
//! (`CHECK#<shard>`, sort key `<next check>#<tenant>#<id>`): the scheduled pass reads what is due
//! shard by shard, never scanning the table. The item is written with the server on create, and
//! deleted with it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::model::{
    events::{self, Event, EventType},
    rfc3339, tenant_pk,
};
use crate::{
    AppState, Error,
    mcp::{Category, ConnectionTestResult, ReauthorizationReason, Stage, TestStatus, ToolChanges},
    store::{Body, Condition, IndexKey, Item, StoreError, TxOp},
};

/// Checks kept per server (newest first in the API).
pub const HISTORY_LEN: usize = 50;
/// Shards of the check index.
pub const CHECK_SHARDS: u32 = 4;
/// Seconds between two checks of a server unless configured (`HEALTH_CHECK_INTERVAL_SECONDS`).
pub const DEFAULT_INTERVAL_SECONDS: i64 = 900;
const PREFIX: &str = "HEALTH#";

/// A server's health, as the latest check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The server answered initialize and tools/list, and its tools are the approved ones.
    Healthy,
    /// It answered, but slowly (over half its timeout), or with a server-side error (an
    /// unexpected HTTP status, a protocol error, no MCP), or our credentials could not be had.
    Degraded,
    /// It refused the credentials (401/403), or the caller must (re)authorize the auth config.
    AuthRequired,
    /// It needs scopes the token was not granted (step-up: authorize again).
    InsufficientScope,
    /// It could not be reached: DNS, connection, TLS, timeout, or an address not allowed.
    Unreachable,
    /// It answered, with tools new or changed since they were approved (hidden from agents
    /// until approved).
    ToolsChanged,
}

/// The last failed check.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastFailure {
    /// When, RFC 3339.
    pub at: String,
    /// Where it failed.
    pub stage: Option<Stage>,
    /// What kind of failure.
    pub category: Option<Category>,
    /// The unexpected HTTP status, if one was the cause.
    pub http_status: Option<u16>,
    /// The diagnosis.
    pub message: String,
}

/// A server config's health.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// What the latest check found.
    pub status: HealthStatus,
    /// When the latest check ran, RFC 3339.
    pub checked_at: String,
    /// When the status last changed, RFC 3339.
    pub since: String,
    /// Failed checks in a row (0 after a successful one).
    pub consecutive_failures: u32,
    /// The last failed check, kept after the server recovers.
    pub last_failure: Option<LastFailure>,
}

/// One check, as kept in the history.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthCheck {
    /// When it ran, RFC 3339.
    pub checked_at: String,
    /// What it found.
    pub status: HealthStatus,
    /// How long the connection test took.
    pub elapsed_ms: u64,
    /// Where it failed (failures only).
    pub stage: Option<Stage>,
    /// What kind of failure (failures only).
    pub category: Option<Category>,
}

/// The stored health item of a server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HealthRecord {
    /// The current health (absent until the first check).
    pub health: Option<Health>,
    /// The latest checks, newest first, at most [`HISTORY_LEN`].
    pub history: VecDeque<HealthCheck>,
    /// When the next scheduled check is due, Unix seconds.
    pub next_check_at: i64,
}

/// `GET /config/mcp-server/{id}/health`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    /// The server config.
    pub mcp_server_config_id: String,
    /// The current health (absent until the first check of a config created before checks).
    pub health: Option<Health>,
    /// When the next scheduled check is due, RFC 3339.
    pub next_check_at: Option<String>,
    /// The latest checks, newest first (at most 50).
    pub history: Vec<HealthCheck>,
}

/// What a health record needs to know of its server config.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The server config's id.
    pub id: &'a str,
    /// Its name (carried in events).
    pub name: &'a str,
    /// Its timeout (a check slower than half of it is `degraded`).
    pub timeout_seconds: u64,
    /// The tools it offers that are not approved, if any.
    pub pending: Option<Vec<String>>,
}

/// The sort key of a server's health item.
pub fn health_sk(server_id: &str) -> String {
    format!("{PREFIX}{server_id}")
}

/// The check index key of a server due at `due` (Unix seconds).
pub fn check_index_key(tenant_id: &str, server_id: &str, due: i64) -> IndexKey {
    let digest = Sha256::digest(format!("{tenant_id}#{server_id}").as_bytes());
    let shard = u32::from(digest[0]) % CHECK_SHARDS;
    IndexKey {
        pk: format!("CHECK#{shard}"),
        sk: format!("{:012}#{tenant_id}#{server_id}", due.max(0)),
    }
}

/// What a connection test says of a server's health. `pending` tells whether it now offers tools
/// that are not approved.
pub fn classify(
    result: &ConnectionTestResult,
    pending: bool,
    timeout_seconds: u64,
) -> HealthStatus {
    if result.status == TestStatus::Success {
        return if pending {
            HealthStatus::ToolsChanged
        } else if result.elapsed_ms > timeout_seconds.saturating_mul(500) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
    }
    if let Some(reauthorization) = &result.reauthorization {
        return match reauthorization.reason {
            ReauthorizationReason::InsufficientScope => HealthStatus::InsufficientScope,
            _ => HealthStatus::AuthRequired,
        };
    }
    match result.category {
        Some(Category::Unauthorized) => HealthStatus::AuthRequired,
        Some(
            Category::Dns
            | Category::Connect
            | Category::Tls
            | Category::Timeout
            | Category::Blocked,
        ) => HealthStatus::Unreachable,
        _ => HealthStatus::Degraded,
    }
}

impl HealthRecord {
    /// The record after a check at `now` that found `status`.
    fn observe(&mut self, status: HealthStatus, result: &ConnectionTestResult, now: &str) {
        let failed = result.status != TestStatus::Success;
        let before = self.health.take();
        let since = match &before {
            Some(h) if h.status == status => h.since.clone(),
            _ => now.to_owned(),
        };
        let last_failure = if failed {
            Some(LastFailure {
                at: now.to_owned(),
                stage: result.stage,
                category: result.category,
                http_status: result.http_status,
                message: result.message.clone(),
            })
        } else {
            before.as_ref().and_then(|h| h.last_failure.clone())
        };
        let consecutive_failures = match (&before, failed) {
            (Some(h), true) => h.consecutive_failures.saturating_add(1),
            (None, true) => 1,
            (_, false) => 0,
        };
        self.health = Some(Health {
            status,
            checked_at: now.to_owned(),
            since,
            consecutive_failures,
            last_failure,
        });
        self.history.push_front(HealthCheck {
            checked_at: now.to_owned(),
            status,
            elapsed_ms: result.elapsed_ms,
            stage: result.stage,
            category: result.category,
        });
        self.history.truncate(HISTORY_LEN);
    }

    fn item(&self, tenant_id: &str, server_id: &str) -> Result<Item, Error> {
        let data = Body::of(self).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(
            Item::new(tenant_pk(tenant_id), health_sk(server_id), data).indexed(check_index_key(
                tenant_id,
                server_id,
                self.next_check_at,
            )),
        )
    }
}

/// The health item written with a new server: healthy as its creating test found it, the first
/// scheduled check one interval later.
pub(crate) fn created(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
    result: &ConnectionTestResult,
    timeout_seconds: u64,
) -> Result<TxOp, Error> {
    let now = rfc3339(state.clock.now());
    let mut record = HealthRecord {
        next_check_at: state.clock.epoch_micros() / 1_000_000 + DEFAULT_INTERVAL_SECONDS,
        ..HealthRecord::default()
    };
    record.observe(classify(result, false, timeout_seconds), result, &now);
    Ok(TxOp::Create(record.item(tenant_id, server_id)?))
}

/// Deleting a server deletes its health item (if any).
pub(crate) fn deleted(tenant_id: &str, server_id: &str) -> TxOp {
    TxOp::Delete {
        pk: tenant_pk(tenant_id),
        sk: health_sk(server_id),
        condition: Condition::None,
    }
}

/// Reads a server's health item and its version.
pub async fn load(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
) -> Result<Option<(HealthRecord, u64)>, Error> {
    let Some(item) = state
        .store
        .get(&tenant_pk(tenant_id), &health_sk(server_id))
        .await?
    else {
        return Ok(None);
    };
    let record = item
        .data
        .read()
        .map_err(|e| Error::Internal(format!("stored health: {e}")))?;
    Ok(Some((record, item.version)))
}

/// The current health of a server, for its view.
pub async fn current(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
) -> Result<Option<Health>, Error> {
    Ok(load(state, tenant_id, server_id)
        .await?
        .and_then(|(record, _)| record.health))
}

/// `GET /config/mcp-server/{id}/health`: the health and the latest `limit` checks of the
/// server `server_id` (whose existence the caller checked).
pub async fn view(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
    limit: usize,
) -> Result<HealthView, Error> {
    let record = load(state, tenant_id, server_id).await?;
    let (health, next, history) = match record {
        Some((record, _)) => (
            record.health,
            time::OffsetDateTime::from_unix_timestamp(record.next_check_at)
                .ok()
                .map(rfc3339),
            record.history.into_iter().take(limit).collect(),
        ),
        None => (None, None, Vec::new()),
    };
    Ok(HealthView {
        mcp_server_config_id: server_id.to_owned(),
        health,
        next_check_at: next,
        history,
    })
}

/// Records a check of `server` (as it is after the check wrote any tool change) that gave
/// `result`, and returns the status it found and the events it causes: a health transition, and
/// the tool changes the check found (`changes`). A server without a health item (created before
/// checks) gets one. Never fails: the check itself has happened, so a store failure here is
/// logged (the next check records again) rather than failing whoever ran it.
pub async fn record_check(
    state: &AppState,
    tenant_id: &str,
    server: &Subject<'_>,
    result: &ConnectionTestResult,
    changes: Option<&ToolChanges>,
) -> (HealthStatus, Vec<Event>) {
    let status = classify(result, server.pending.is_some(), server.timeout_seconds);
    let mut events = Vec::new();
    if let Some(changes) = changes.filter(|c| !c.is_empty()) {
        events.push(events::event(
            state,
            tenant_id,
            EventType::ToolsChanged,
            serde_json::json!({
                "mcp_server_config_id": server.id,
                "name": server.name,
                "added": changes.added,
                "changed": changes.changed,
                "removed": changes.removed,
                "pending": server.pending.clone().unwrap_or_default(),
            }),
        ));
    }
    let now = rfc3339(state.clock.now());
    match transition(state, tenant_id, server, |record| {
        record.observe(status, result, &now);
    })
    .await
    {
        Ok(event) => events.extend(event),
        Err(e) => {
            tracing::warn!(error = %e, server = %server.id, "recording a health check failed")
        }
    }
    (status, events)
}

/// After tools were approved: a server whose only trouble was unapproved tools is healthy again
/// (a transition, with its event). Never fails: a store failure is logged, and the next check
/// records the health anew.
pub async fn after_approval(
    state: &AppState,
    tenant_id: &str,
    server: &Subject<'_>,
) -> Option<Event> {
    if server.pending.is_some() {
        return None;
    }
    let now = rfc3339(state.clock.now());
    transition(state, tenant_id, server, |record| {
        if let Some(health) = record.health.as_mut()
            && health.status == HealthStatus::ToolsChanged
        {
            health.status = HealthStatus::Healthy;
            health.since.clone_from(&now);
        }
    })
    .await
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, server = %server.id, "recording an approval's health failed");
        None
    })
}

/// Applies `change` to the server's health item (created if missing), retrying on concurrent
/// writes; returns the `health_changed` event when the status changed.
async fn transition(
    state: &AppState,
    tenant_id: &str,
    server: &Subject<'_>,
    change: impl Fn(&mut HealthRecord),
) -> Result<Option<Event>, Error> {
    let id = server.id;
    for _ in 0..8 {
        let loaded = load(state, tenant_id, id).await?;
        let (mut record, version) = match loaded {
            Some((record, version)) => (record, Some(version)),
            None => (
                HealthRecord {
                    next_check_at: state.clock.epoch_micros() / 1_000_000
                        + DEFAULT_INTERVAL_SECONDS,
                    ..HealthRecord::default()
                },
                None,
            ),
        };
        let before = record.health.as_ref().map(|h| h.status);
        change(&mut record);
        let after = record.health.as_ref().map(|h| h.status);
        let item = record.item(tenant_id, id)?;
        let write = match version {
            Some(expected_version) => TxOp::Update {
                item,
                expected_version,
            },
            None => TxOp::Create(item),
        };
        match state.store.write(write).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        let changed =
            before != after && !(before.is_none() && after == Some(HealthStatus::Healthy));
        return Ok(match (changed, record.health) {
            (true, Some(health)) => Some(events::event(
                state,
                tenant_id,
                EventType::HealthChanged,
                serde_json::json!({
                    "mcp_server_config_id": id,
                    "name": server.name,
                    "from": before,
                    "to": health.status,
                    "health": health,
                }),
            )),
            _ => None,
        });
    }
    Err(Error::Conflict(
        "The server's health kept changing meanwhile; retry.".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Transport;

    fn result(
        status: TestStatus,
        category: Option<Category>,
        elapsed_ms: u64,
    ) -> ConnectionTestResult {
        let t = Transport::StreamableHttp;
        match category {
            Some(category) => {
                ConnectionTestResult::failed(Stage::Connect, category, "m".into(), t, elapsed_ms)
            }
            None => ConnectionTestResult {
                status,
                message: "m".into(),
                ..ConnectionTestResult::success(t, elapsed_ms, Vec::new())
            },
        }
    }

    #[test]
    fn a_test_result_classifies_as_one_status() {
        let ok = result(TestStatus::Success, None, 10);
        assert_eq!(classify(&ok, false, 30), HealthStatus::Healthy);
        assert_eq!(classify(&ok, true, 30), HealthStatus::ToolsChanged);
        let slow = result(TestStatus::Success, None, 16_000);
        assert_eq!(classify(&slow, false, 30), HealthStatus::Degraded);
        let cases = [
            (Category::Connect, HealthStatus::Unreachable),
            (Category::Dns, HealthStatus::Unreachable),
            (Category::Timeout, HealthStatus::Unreachable),
            (Category::Unauthorized, HealthStatus::AuthRequired),
            (Category::HttpStatus, HealthStatus::Degraded),
            (Category::Protocol, HealthStatus::Degraded),
        ];
        for (category, status) in cases {
            let failed = result(TestStatus::Failed, Some(category), 10);
            assert_eq!(classify(&failed, false, 30), status, "{category:?}");
        }
    }

    #[test]
    fn a_record_counts_failures_keeps_since_and_bounds_its_history() {
        let mut record = HealthRecord::default();
        let ok = result(TestStatus::Success, None, 10);
        let down = result(TestStatus::Failed, Some(Category::Connect), 10);
        record.observe(HealthStatus::Healthy, &ok, "t0");
        record.observe(HealthStatus::Unreachable, &down, "t1");
        record.observe(HealthStatus::Unreachable, &down, "t2");
        let health = record.health.clone().unwrap();
        assert_eq!(
            (health.since.as_str(), health.consecutive_failures),
            ("t1", 2)
        );
        assert_eq!(health.last_failure.as_ref().unwrap().at, "t2");
        record.observe(HealthStatus::Healthy, &ok, "t3");
        let health = record.health.clone().unwrap();
        assert_eq!(
            (health.since.as_str(), health.consecutive_failures),
            ("t3", 0)
        );
        assert_eq!(health.last_failure.unwrap().at, "t2", "kept after recovery");
        for n in 0..100 {
            record.observe(HealthStatus::Healthy, &ok, &format!("n{n}"));
        }
        assert_eq!(record.history.len(), HISTORY_LEN);
        assert_eq!(record.history[0].checked_at, "n99", "newest first");
    }
}
