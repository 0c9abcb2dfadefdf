//! The audit log: who did what to which record, with what outcome, per tenant, kept 90 days.
//! An entry names the actor, the action (method and route template, e.g.
//! `POST /ai/api/v1/config/mcp-server/{id}/tools/approve`), the target id, the HTTP outcome, the
//! time and the request id — never a body, a query string or a header, so no secret, code or
//! tool argument value ever reaches it.
//!
//! Each entry is two items in the tenant's partition, written together: `AUDIT#<newest-first
//! time>#<id>` for the tenant's log, and `AUDITT#<target>#<newest-first time>#<id>` for one
//! target's; both expire after [`RETENTION_DAYS`] (DynamoDB TTL).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    resource::{ListParams, Page, Principal},
    tenant_pk,
};
use crate::{
    AppState, Error,
    store::{Body, Item, TxOp},
};

/// How long entries are kept.
pub const RETENTION_DAYS: i64 = 90;
const LOG_PREFIX: &str = "AUDIT#";
const TARGET_PREFIX: &str = "AUDITT#";

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: String,
    /// When, RFC 3339.
    pub at: String,
    /// The user who acted.
    pub actor: String,
    /// The role the user acted with (absent on entries older than roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_role: Option<super::resource::Role>,
    /// The method and route template.
    pub action: String,
    /// The record acted on (the id in the path, or the id a create answered with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `success` (2xx) or `failure`.
    pub outcome: String,
    /// The request id, to find the request in the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A sort-key time part that lists newest first.
fn newest_first(micros: i64) -> String {
    format!("{:016}", i64::MAX / 1024 - micros.max(0) / 1024)
}

/// Records one action of `principal`.
pub async fn record(
    state: &AppState,
    principal: &Principal,
    action: String,
    target: Option<String>,
    status: u16,
    request_id: Option<String>,
) -> Result<(), Error> {
    let micros = state.clock.epoch_micros();
    let id = uuid::Uuid::now_v7().to_string();
    let entry = AuditEntry {
        at: super::rfc3339(state.clock.now()),
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
    };
    let expires_at = micros / 1_000_000 + RETENTION_DAYS * 24 * 3600;
    let pk = tenant_pk(&principal.tenant_id);
    let data = Body::of(&entry).map_err(|e| Error::Internal(e.to_string()))?;
    let time = newest_first(micros);
    let mut ops = vec![TxOp::Create(
        Item::new(
            pk.clone(),
            format!("{LOG_PREFIX}{time}#{}", entry.id),
            data.clone(),
        )
        .expiring_at(expires_at),
    )];
    if let Some(target) = &entry.target {
        ops.push(TxOp::Create(
            Item::new(
                pk,
                format!("{TARGET_PREFIX}{target}#{time}#{}", entry.id),
                data,
            )
            .expiring_at(expires_at),
        ));
    }
    state.store.transact(ops).await?;
    Ok(())
}

/// The tenant's entries, newest first (only `target`'s when given), a page at a time.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    target: Option<&str>,
    params: &ListParams,
) -> Result<Page<AuditEntry>, Error> {
    if let Some(target) = target
        && !super::is_valid_id(target)
    {
        return Err(Error::field("target", "must be a record id"));
    }
    let prefix = match target {
        Some(target) => format!("{TARGET_PREFIX}{target}#"),
        None => LOG_PREFIX.to_owned(),
    };
    let pk = tenant_pk(&principal.tenant_id);
    let page = super::resource::prefix_page(state, &pk, &prefix, params).await?;
    let entries = page
        .items
        .iter()
        .map(|item| item.data.read::<AuditEntry>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("stored audit entry: {e}")))?;
    Ok(Page::new(entries, page.last_sk.as_deref()))
}
