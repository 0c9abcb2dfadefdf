//! Checking stored MCP server configs: a re-test on request (`POST …/{id}/test`), the scheduled
//! health pass, and the approval of the tools they found. A check tests the connection with the
//! config's credentials, keeps tool changes (new or changed tools are pending until approved),
//! records the check in the server's [`health`], and publishes the [`crate::model::events`] it causes.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::model::{
    auth_config::StoredAuthConfig,
    connection_test::{beside, run_test_then_close},
    deliveries::{self, DeliveryReport},
    events::Event,
    health::{self, HealthRecord, HealthStatus, HealthView},
    limits,
    mcp_server::{McpServerView, StoredMcpServer, ToolApproval},
    resource::{self, Principal, Resource, sk},
    rfc3339,
    scheduler::{self, Limits},
    tenant_pk,
};
use crate::{
    AppState, Error,
    config::{ConfigError, Settings},
    mcp::{self, ConnectionTestResult, TestStatus, ToolChanges},
    store::{IndexKey, Item, StoreError, TxOp},
};

/// Approves pending tools of server config `id` (all, or those named): agents see them from
/// now on, as they are offered now. A name that is not pending is refused; nothing changes.
/// `if_match` (the version the reviewer read) makes it fail with 412 when a re-test changed the
/// tools since. A server whose health was `tools_changed` only for them is healthy again.
pub async fn approve(
    state: &AppState,
    principal: &Principal,
    id: &str,
    doc: Value,
    if_match: Option<u64>,
) -> Result<McpServerView, Error> {
    let approval: ToolApproval = resource::parse_document(doc)?;
    let names = match (approval.tools, approval.all) {
        (Some(names), None | Some(false)) if !names.is_empty() => Some(names),
        (None, Some(true)) => None,
        _ => {
            return Err(Error::field(
                "tools",
                "name the pending tools to approve, or give \"all\": true (not both)",
            ));
        }
    };
    // A concurrent re-test or edit: approve against what it wrote (a bounded number of times).
    resource::retry_lost_races("MCP server config", || {
        approve_once(state, principal, id, names.as_deref(), if_match)
    })
    .await
}

/// One attempt of [`approve`] on the record as read now; [`Error::VersionRace`] when another
/// write came first.
async fn approve_once(
    state: &AppState,
    principal: &Principal,
    id: &str,
    names: Option<&[String]>,
    if_match: Option<u64>,
) -> Result<McpServerView, Error> {
    let (mut server, version) =
        resource::load::<StoredMcpServer>(state, &principal.tenant_id, id).await?;
    // With If-Match, what is approved is exactly what the reviewer read.
    resource::check_version("MCP server config", if_match, version)?;
    let pending = server.pending();
    let pending_names: Vec<&String> = pending
        .iter()
        .flat_map(|p| p.added.iter().chain(&p.changed))
        .collect();
    let chosen: Vec<String> = match names {
        Some(names) => {
            if let Some(unknown) = names.iter().find(|n| !pending_names.contains(n)) {
                return Err(Error::field(
                    "tools",
                    format!("{unknown} is not a pending tool of this server"),
                ));
            }
            names.to_vec()
        }
        None => pending_names.into_iter().cloned().collect(),
    };
    let mut approved = server.approved().clone();
    for name in &chosen {
        if let Some(fingerprint) = server.tool_snapshot.get(name) {
            approved.insert(name.clone(), fingerprint.clone());
        }
    }
    server.approved = Some(approved);
    for name in &chosen {
        server.approved_definitions.remove(name);
    }
    server.meta.updated_at = rfc3339(state.clock.now());
    match write_server(state, &principal.tenant_id, &mut server, version).await {
        Ok(()) => {
            let tenant = &principal.tenant_id;
            let event = health::after_approval(state, tenant, &server.subject()).await;
            deliveries::publish(state, event.into_iter().collect()).await;
            let mut view = resource::Resource::view(&server, version + 1);
            view.health = health::current(state, tenant, id).await?;
            Ok(view)
        }
        Err(StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
        Err(e) => Err(e.into()),
    }
}

/// Writes `server` over the stored one at `version`.
async fn write_server(
    state: &AppState,
    tenant_id: &str,
    server: &mut StoredMcpServer,
    version: u64,
) -> Result<(), StoreError> {
    let corrupt = |e: Error| StoreError::Corrupt(e.to_string());
    StoredMcpServer::before_write(state, tenant_id, server)
        .await
        .map_err(corrupt)?;
    let item = Item::new(
        tenant_pk(tenant_id),
        sk::<StoredMcpServer>(&server.meta.id),
        server.body().map_err(corrupt)?,
    );
    let written = state
        .store
        .write(TxOp::Update {
            item,
            expected_version: version,
        })
        .await;
    StoredMcpServer::after_write(state, tenant_id, server, written.is_ok()).await;
    written
}

/// Re-tests a stored server config, reports tool changes against the last successful test,
/// stores the new result and records it as a check of the server's health.
pub async fn retest(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ConnectionTestResult, Error> {
    let (stored, version) =
        resource::load::<StoredMcpServer>(state, &principal.tenant_id, id).await?;
    let limit = std::time::Duration::from_secs(stored.timeout_seconds);
    let (result, _, events) = limits::with_test_slot(
        state,
        principal,
        limit,
        Box::pin(async { check(state, principal, stored, version, true).await }),
    )
    .await?;
    deliveries::publish(state, events).await;
    Ok(result.fit_for_response())
}

/// `GET /config/mcp-server/{id}/health`.
pub async fn health_view(
    state: &AppState,
    principal: &Principal,
    id: &str,
    limit: usize,
) -> Result<HealthView, Error> {
    // The server must be the caller's tenant's: 404 otherwise, like every read.
    resource::load::<StoredMcpServer>(state, &principal.tenant_id, id).await?;
    health::view(state, &principal.tenant_id, id, limit).await
}

/// Tests `stored` (at `version`) as `principal` uses its auth config, keeps what changed in its
/// tools (and, for a re-test, `keep_result`, the result itself), and records the check. Returns
/// the result, with its tool changes, the health status it found and the events to publish.
async fn check(
    state: &AppState,
    principal: &Principal,
    stored: StoredMcpServer,
    version: u64,
    keep_result: bool,
) -> Result<(ConnectionTestResult, HealthStatus, Vec<Event>), Error> {
    let tenant = &principal.tenant_id;
    let auth = match &stored.auth_config_id {
        Some(auth_id) => Some(
            resource::load::<StoredAuthConfig>(state, tenant, auth_id)
                .await?
                .0,
        ),
        None => None,
    };
    let (mut result, closer) = run_test_then_close(
        state,
        principal,
        &stored.url,
        stored.timeout_seconds,
        auth.as_ref(),
    )
    .await;
    let changes = (result.status == TestStatus::Success)
        .then(|| ToolChanges::between(&stored.tool_snapshot, &result.tools));
    result.tool_changes.clone_from(&changes);
    let now = rfc3339(state.clock.now());
    let (mut server, mut version) = (stored, version);
    let server = beside(closer, async {
        // Written when something changed; a concurrent edit wins, and what it wrote is checked
        // against again (the result stands).
        for _ in 0..4 {
            let tools_moved = changes.as_ref().is_some_and(|c| !c.is_empty());
            if !(keep_result || tools_moved) {
                return Ok(server);
            }
            let mut updated = server.clone();
            updated.record_test(&result, &now, false);
            match write_server(state, tenant, &mut updated, version).await {
                Ok(()) => return Ok(updated),
                Err(StoreError::ConditionFailed { .. }) => {
                    (server, version) =
                        resource::load::<StoredMcpServer>(state, tenant, &server.meta.id).await?;
                }
                Err(e) => return Err(Error::from(e)),
            }
        }
        Ok(server)
    })
    .await?;
    let (status, events) =
        health::record_check(state, tenant, &server.subject(), &result, changes.as_ref()).await;
    Ok((result, status, events))
}

/// How the scheduled health pass runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// Seconds between two checks of a server (`HEALTH_CHECK_INTERVAL_SECONDS`, default 900).
    pub interval_seconds: i64,
    /// Checks in flight at once (`HEALTH_CHECK_CONCURRENCY`, default 8).
    pub concurrency: usize,
    /// Checks in flight against one origin (`HEALTH_CHECK_MAX_PER_ORIGIN`, default 2).
    pub per_origin: usize,
    /// Most due servers read from one index shard per pass (`HEALTH_CHECK_MAX_PER_SHARD`,
    /// default 2,000); the rest stay due.
    pub max_per_shard: usize,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            interval_seconds: health::DEFAULT_INTERVAL_SECONDS,
            concurrency: 8,
            per_origin: 2,
            max_per_shard: 2_000,
        }
    }
}

impl HealthSettings {
    /// Reads the settings through `lookup` (the environment in a function).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (env, d) = (Settings(lookup), Self::default());
        Ok(Self {
            interval_seconds: env.get(
                "HEALTH_CHECK_INTERVAL_SECONDS",
                60..=86_400,
                d.interval_seconds,
            )?,
            concurrency: env.get("HEALTH_CHECK_CONCURRENCY", 1..=256, d.concurrency)?,
            per_origin: env.get("HEALTH_CHECK_MAX_PER_ORIGIN", 1..=64, d.per_origin)?,
            max_per_shard: env.get("HEALTH_CHECK_MAX_PER_SHARD", 1..=100_000, d.max_per_shard)?,
        })
    }
}

/// What one health pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// Servers due for a check.
    pub due: u64,
    /// Checked, by what they found.
    pub healthy: u64,
    /// Checked: `degraded`.
    pub degraded: u64,
    /// Checked: `auth_required`.
    pub auth_required: u64,
    /// Checked: `insufficient_scope`.
    pub insufficient_scope: u64,
    /// Checked: `unreachable`.
    pub unreachable: u64,
    /// Checked: `tools_changed`.
    pub tools_changed: u64,
    /// Events published.
    pub events: u64,
    /// Another pass had just checked it.
    pub skipped: u64,
    /// Its server config is gone (the health item is deleted).
    pub not_found: u64,
    /// Left due for the next pass: the time budget ran out first.
    pub deferred: u64,
    /// Internal errors (store or key provider), logged.
    pub errors: u64,
    /// The webhook deliveries retried after the checks.
    pub deliveries: DeliveryReport,
    /// Wall time of the pass in milliseconds.
    pub elapsed_ms: u64,
}

/// The longest one check may take.
const CHECK_TIME: Duration = Duration::from_secs(mcp::MAX_SYNC_TEST.as_secs() + 5);

/// What one scheduled check came to.
enum Checked {
    Found(HealthStatus),
    Skipped,
    Error,
}

/// One due server: its health item, and its config as read when the pass started.
struct Due {
    tenant: String,
    item: Item,
    server: StoredMcpServer,
    version: u64,
}

/// Runs one pass: checks every server due by now (bounded concurrency, a cap per server origin,
/// nothing started that could not finish before `budget_end`), then retries the webhook
/// deliveries that are due with the time left. Never fails as a whole.
pub async fn run(state: &AppState, settings: &HealthSettings, budget_end: Instant) -> HealthReport {
    let now = state.clock.epoch_micros().div_euclid(1_000_000);
    pass(state, settings, budget_end, now).await
}

/// Like [`run`], checking every server whether due or not (`studio-local health-check --all`).
pub async fn run_all(
    state: &AppState,
    settings: &HealthSettings,
    budget_end: Instant,
) -> HealthReport {
    pass(state, settings, budget_end, 999_999_999_999).await
}

/// A pass over the servers due by `horizon` (Unix seconds).
async fn pass(
    state: &AppState,
    settings: &HealthSettings,
    budget_end: Instant,
    horizon: i64,
) -> HealthReport {
    let started = Instant::now();
    let mut report = HealthReport::default();
    let now = horizon;
    let mut due = Vec::new();
    for shard in 0..health::CHECK_SHARDS {
        let upto = IndexKey {
            pk: format!("CHECK#{shard}"),
            sk: format!("{now:012}$"),
        };
        let found = match state.store.query_index(&upto, settings.max_per_shard).await {
            Ok(entries) => crate::store::read_entries(state.store.as_ref(), entries).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(items) => due.extend(items),
            Err(e) => {
                tracing::warn!(error = %e, shard, "reading the check index failed");
                report.errors += 1;
            }
        }
    }
    report.due = due.len() as u64;
    // The configs, read a few at a time, grouped by origin for the scheduler.
    let mut loaded = futures_util::stream::iter(due)
        .map(|item| load_due(state, item))
        .buffer_unordered(settings.concurrency.max(1) * 4);
    let mut jobs = Vec::new();
    while let Some(found) = loaded.next().await {
        match found {
            Ok(Some(due)) => jobs.push((scheduler::origin_key(&due.server.url), due)),
            Ok(None) => report.not_found += 1,
            Err(()) => report.errors += 1,
        }
    }
    drop(loaded);
    let limits = Limits {
        concurrency: settings.concurrency,
        per_key: settings.per_origin,
        job_time: CHECK_TIME,
        budget_end,
    };
    report.deferred = scheduler::run(
        jobs,
        &limits,
        |due| check_due(state, settings, due, horizon),
        |(checked, events)| {
            report.events += events;
            match checked {
                Checked::Found(status) => *report.count(status) += 1,
                Checked::Skipped => report.skipped += 1,
                Checked::Error => report.errors += 1,
            }
        },
    )
    .await
    .len() as u64;
    if Instant::now() + deliveries::DELIVERY_TIMEOUT < budget_end {
        report.deliveries = deliveries::deliver_due(state, settings.concurrency, budget_end).await;
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

impl HealthReport {
    fn count(&mut self, status: HealthStatus) -> &mut u64 {
        match status {
            HealthStatus::Healthy => &mut self.healthy,
            HealthStatus::Degraded => &mut self.degraded,
            HealthStatus::AuthRequired => &mut self.auth_required,
            HealthStatus::InsufficientScope => &mut self.insufficient_scope,
            HealthStatus::Unreachable => &mut self.unreachable,
            HealthStatus::ToolsChanged => &mut self.tools_changed,
        }
    }
}

/// Checks the server of the due health item `item` as the pass does (one planner job): what it
/// found (`healthy`, `degraded`, …), `skipped` (checked meanwhile) or `not_found` (the server is
/// gone, and its health item with it); an internal error is an error, for the job to be tried
/// again.
pub async fn check_item(
    state: &AppState,
    settings: &HealthSettings,
    item: Item,
    horizon: i64,
) -> Result<&'static str, Error> {
    let failed = || Error::Internal("a health check failed (logged)".into());
    let Some(due) = load_due(state, item).await.map_err(|()| failed())? else {
        return Ok("not_found");
    };
    match Box::pin(check_due(state, settings, due, horizon)).await.0 {
        Checked::Found(status) => Ok(match status {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::AuthRequired => "auth_required",
            HealthStatus::InsufficientScope => "insufficient_scope",
            HealthStatus::Unreachable => "unreachable",
            HealthStatus::ToolsChanged => "tools_changed",
        }),
        Checked::Skipped => Ok("skipped"),
        Checked::Error => Err(failed()),
    }
}

/// Reads the server config of a due health item; one that is gone takes its health item with it
/// (`None`).
async fn load_due(state: &AppState, item: Item) -> Result<Option<Due>, ()> {
    let tenant = item.pk.strip_prefix("T#").ok_or(())?.to_owned();
    let id = item.sk.strip_prefix("HEALTH#").ok_or(())?.to_owned();
    // Its tools, when kept apart, are read only once its check starts.
    match resource::load_body::<StoredMcpServer>(state, &tenant, &id).await {
        Ok((server, version)) => Ok(Some(Due {
            tenant,
            item,
            server,
            version,
        })),
        Err(Error::NotFound(_)) => {
            let _ = state.store.write(TxOp::delete_as_read(&item)).await;
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(error = %e, %tenant, %id, "reading a server config failed");
            Err(())
        }
    }
}

/// Claims one due server (moves it to its next check time, so an overlapping pass leaves it
/// alone), checks it as its creator, and publishes what the check caused.
async fn check_due(
    state: &AppState,
    settings: &HealthSettings,
    due: Due,
    horizon: i64,
) -> (Checked, u64) {
    let Due {
        tenant,
        item,
        server,
        version,
    } = due;
    let id = server.meta.id.clone();
    let now = state.clock.epoch_micros().div_euclid(1_000_000);
    let Ok(mut record) = item.data.read::<HealthRecord>() else {
        return (Checked::Error, 0);
    };
    if record.next_check_at > horizon {
        return (Checked::Skipped, 0);
    }
    record.next_check_at = now + settings.interval_seconds;
    let Ok(data) = crate::store::Body::of(&record) else {
        return (Checked::Error, 0);
    };
    let claim = TxOp::Update {
        item: Item::new(item.pk, item.sk, data).indexed(health::check_index_key(
            &tenant,
            &id,
            record.next_check_at,
        )),
        expected_version: item.version,
    };
    match state.store.write(claim).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return (Checked::Skipped, 0),
        Err(e) => {
            tracing::warn!(error = %e, %tenant, %id, "claiming a health check failed");
            return (Checked::Error, 0);
        }
    }
    // A per_user config is checked with the connection of the user who last pointed the server
    // where it is (and tested it so): their own account goes where they sent it, nobody else's.
    // Without that user's connection, the check finds `auth_required`.
    let user = server
        .checked_as
        .clone()
        .unwrap_or_else(|| server.meta.created_by.clone());
    let principal = Principal::admin(&tenant, user);
    let mut server = server;
    if let Err(e) = StoredMcpServer::complete(state, &tenant, &mut server).await {
        tracing::warn!(error = %e, %tenant, %id, "reading a server's tools failed");
        return (Checked::Error, 0);
    }
    match check(state, &principal, server, version, false).await {
        Ok((_, status, events)) => {
            let count = events.len() as u64;
            deliveries::publish(state, events).await;
            (Checked::Found(status), count)
        }
        Err(e) => {
            tracing::warn!(error = %e, %tenant, %id, "a health check failed");
            (Checked::Error, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handlers and passes run on a multi-threaded runtime: these futures must be `Send`.
    #[allow(dead_code, unreachable_code, clippy::diverging_sub_expression)]
    fn futures_are_send(state: &AppState, principal: &Principal) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&retest(state, principal, ""));
        is_send(&approve(state, principal, "", Value::Null, None));
        is_send(&run(state, &HealthSettings::default(), Instant::now()));
    }

    #[test]
    fn settings_default_and_reject_out_of_range_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(
            HealthSettings::from_lookup(env(&[])).unwrap(),
            HealthSettings::default()
        );
        let custom =
            HealthSettings::from_lookup(env(&[("HEALTH_CHECK_INTERVAL_SECONDS", "300")])).unwrap();
        assert_eq!(custom.interval_seconds, 300);
        let err = HealthSettings::from_lookup(env(&[("HEALTH_CHECK_INTERVAL_SECONDS", "5")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("HEALTH_CHECK_INTERVAL_SECONDS"),
            "{err}"
        );
    }
}
