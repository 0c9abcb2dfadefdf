//! The audit log: who did what to which record, with what outcome, per tenant, kept 90 days.
//! An entry names the actor, the action (method and route template, e.g.
//! `POST /ai/api/v1/config/mcp-server/{id}/tools/approve`), the target id, the HTTP outcome, the
//! time and the request id — never a body, a query string or a header, so no secret, code or
//! tool argument value ever reaches it. A tool call's entry also names the tool and server, the
//! policies' decision and the approval ([`ToolCallRecord`]); an argument's value only when a
//! deciding policy marks it `@loggable`.
//!
//! Each entry is two items, written together: one in the tenant's log and one in its target's.
//! Neither lives in the tenant's record partition, and each list is spread over [`SPREAD`]
//! partition keys (by the entry id), so a burst of audited requests (tool calls of one busy
//! agent, say) divides over several keys rather than writing at the head of one:
//! `AUDIT#<tenant>#<bucket>` / `<newest-first time>#<id>` for the log, and
//! `AUDITT#<tenant>#<target>#<bucket>` / `<newest-first time>#<id>` for one target's. A list is
//! read from every bucket and merged newest first (the sort keys order entries across buckets);
//! its page token is the last sort key, where every bucket continues. Both items expire after
//! [`RETENTION_DAYS`] (DynamoDB TTL). Entries written before the spread, in the tenant's
//! partition (`AUDIT#<time>#<id>`, `AUDITT#<target>#<time>#<id>`), are merged in as one more
//! source until they expire.

use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::model::{
    resource::{ListParams, Page, Principal},
    tenant_pk,
};
use crate::{
    AppState, Error,
    store::{Body, Item, Query, TxOp},
};

/// How long entries are kept.
pub const RETENTION_DAYS: i64 = 90;
/// Partition keys each list is spread over.
pub const SPREAD: u8 = 8;
const LOG_PREFIX: &str = "AUDIT#";
const TARGET_PREFIX: &str = "AUDITT#";

/// One audited action.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: String,
    /// When, RFC 3339.
    pub at: String,
    /// The user who acted.
    pub actor: String,
    /// The role the user acted with (absent on entries older than roles).
    pub actor_role: Option<crate::model::resource::Role>,
    /// The method and route template.
    pub action: String,
    /// The record acted on (the id in the path, or the id a create answered with).
    pub target: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `success` (2xx) or `failure`.
    pub outcome: String,
    /// The request id, to find the request in the logs.
    pub request_id: Option<String>,
    /// For a tool call: what was called and what the tenant's policies decided.
    pub call: Option<ToolCallRecord>,
}

/// What the tenant's policies decided of a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyDecision {
    /// It ran (or was sent to run).
    Allowed,
    /// It waits for a person's approval.
    ApprovalRequired,
    /// It was refused.
    Denied,
}

/// The audit entry's account of a tool call: the tool and server, the decision, the deciding
/// policies, the approval used or asked for, what shadow policies would have decided, and the
/// values of only those arguments a deciding policy marks `@loggable`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRecord {
    /// The tool's name at its server.
    pub tool: Option<String>,
    /// The MCP server config that offers it.
    pub server_config_id: Option<String>,
    /// What the policies decided (absent when the call failed before a decision).
    pub decision: Option<PolicyDecision>,
    /// The policies that denied it or asked for approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The approval asked for, or used.
    pub approval_id: Option<String>,
    /// What the shadow policies would have decided (when the tenant has any).
    pub shadow_decision: Option<PolicyDecision>,
    /// The shadow policies that would have denied it or asked for approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadow_policies: Vec<String>,
    /// The values of the arguments a deciding policy marks `@loggable`; no other argument.
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A sort-key time part that lists newest first, to the microsecond: 16 digits of 1,024 µs
/// ticks, then 4 of the microseconds within the tick (so two entries of one tick are in order;
/// keys written with the 16 digits only sort with the others by their tick).
fn newest_first(micros: i64) -> String {
    let micros = micros.max(0);
    format!(
        "{:016}{:04}",
        i64::MAX / 1024 - micros / 1024,
        1023 - micros % 1024
    )
}

/// Records one action of `principal`.
pub async fn record(
    state: &AppState,
    principal: &Principal,
    action: String,
    target: Option<String>,
    status: u16,
    request_id: Option<String>,
    call: Option<ToolCallRecord>,
) -> Result<(), Error> {
    let micros = state.clock.epoch_micros();
    let id = uuid::Uuid::now_v7().to_string();
    let entry = AuditEntry {
        // The instant the sort key is made of, so the two never disagree on the order.
        at: crate::model::rfc3339(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
                .unwrap_or_else(|_| state.clock.now()),
        ),
        actor: principal.user_id.clone(),
        actor_role: Some(principal.role),
        action,
        outcome: if (200..300).contains(&status) {
            "success".into()
        } else {
            "failure".into()
        },
        status,
        request_id,
        target,
        id,
        call,
    };
    let expires_at = micros / 1_000_000 + RETENTION_DAYS * 24 * 3600;
    let data = Body::of(&entry).map_err(|e| Error::Internal(e.to_string()))?;
    let sk = format!("{}#{}", newest_first(micros), entry.id);
    let bucket = bucket_of(&entry.id);
    let tenant = &principal.tenant_id;
    let mut ops = vec![TxOp::Create(
        Item::new(log_pk(tenant, bucket), sk.clone(), data.clone()).expiring_at(expires_at),
    )];
    if let Some(target) = &entry.target {
        ops.push(TxOp::Create(
            Item::new(target_pk(tenant, target, bucket), sk, data).expiring_at(expires_at),
        ));
    }
    state.store.transact(ops).await?;
    Ok(())
}

/// The bucket an entry goes to.
fn bucket_of(id: &str) -> u8 {
    Sha256::digest(id.as_bytes())[0] % SPREAD
}

fn log_pk(tenant_id: &str, bucket: u8) -> String {
    format!("{LOG_PREFIX}{tenant_id}#{bucket}")
}

fn target_pk(tenant_id: &str, target: &str, bucket: u8) -> String {
    format!("{TARGET_PREFIX}{tenant_id}#{target}#{bucket}")
}

/// The tenant's entries, newest first (only `target`'s when given), a page at a time.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    target: Option<&str>,
    params: &ListParams,
) -> Result<Page<AuditEntry>, Error> {
    if let Some(target) = target
        && !crate::model::is_valid_id(target)
    {
        return Err(Error::field("target", "must be a record id"));
    }
    // Every bucket, and the tenant's partition for entries written before the spread: each
    // source as (partition, sort-key prefix).
    let (legacy, mut sources) = match target {
        Some(target) => (
            format!("{TARGET_PREFIX}{target}#"),
            (0..SPREAD)
                .map(|b| (target_pk(&principal.tenant_id, target, b), String::new()))
                .collect::<Vec<_>>(),
        ),
        None => (
            LOG_PREFIX.to_owned(),
            (0..SPREAD)
                .map(|b| (log_pk(&principal.tenant_id, b), String::new()))
                .collect(),
        ),
    };
    sources.push((tenant_pk(&principal.tenant_id), legacy));
    let after = params.start_after.as_deref();
    let limit = params.limit.max(1);
    let pages = try_join_all(sources.iter().map(|(pk, prefix)| {
        let after = after.map(|position| format!("{prefix}{position}"));
        async move {
            let query = Query::prefix(pk, prefix)
                .after(after.as_deref())
                .limit(limit + 1);
            let page = state.store.query(query).await?;
            Ok::<_, Error>(
                page.items
                    .into_iter()
                    .map(|item| (item.sk[prefix.len()..].to_owned(), item))
                    .collect::<Vec<_>>(),
            )
        }
    }))
    .await?;
    let mut merged: Vec<_> = pages.into_iter().flatten().collect();
    merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let more = merged.len() > limit;
    merged.truncate(limit);
    let entries = merged
        .iter()
        .map(|(_, item)| item.data.read::<AuditEntry>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("stored audit entry: {e}")))?;
    let last = merged.last().map(|(position, _)| position.as_str());
    Ok(Page::new(entries, last.filter(|_| more)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sort_key_lists_newest_first_to_the_microsecond() {
        let (earlier, later) = (1_700_000_000_000_100, 1_700_000_000_000_110);
        assert_eq!(earlier / 1024, later / 1024, "one tick");
        assert!(newest_first(later) < newest_first(earlier));
        assert!(newest_first(later + 5_000) < newest_first(later));
    }
}
