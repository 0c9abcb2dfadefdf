//! MCP sessions of the 2025 revisions (`Mcp-Session-Id`): an `initialize` answered with success
//! opens one, bound to the caller and the agent; a request that names one must name a live one of
//! the same caller and agent (else 404, and the client initializes again, as the specification
//! says); `DELETE` ends it. A session holds no state of the conversation: every request is still
//! answered on its own (by any Lambda instance), so what a session adds is only its lifecycle.
//!
//! A session also remembers the fingerprint of the tools its client last saw (a `tools/list`, or
//! a change announced), so a change is announced on the session's next request
//! (`notifications/tools/list_changed` before its answer) without any stream held open.
//!
//! One item per session, `PK = MCPSESSION#<hex sha256 of the id>`, `SK = MCPSESSION` (the id
//! itself is never stored), expiring [`LIFETIME`] after it was opened: one write per
//! `initialize`, one read per request that names a session, one write when the tools the
//! client knows of change, one delete per `DELETE`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::{
    AppState, Error,
    api::Principal,
    store::{Body, Condition, Item, TxOp},
};

/// How long a session lasts from its `initialize` (the client then initializes again).
pub const LIFETIME: time::Duration = time::Duration::hours(24);
const SK: &str = "MCPSESSION";
/// Longest session id looked up, to bound hashing work on hostile input.
const MAX_ID_LEN: usize = 128;

/// What a session is bound to.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct SessionRecord {
    tenant_id: String,
    user_id: String,
    agent_id: String,
    created_at: i64,
    /// The fingerprint of the tools the client last saw, once it listed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tools: Option<u64>,
}

/// A live session, as a request that names it finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The session's id.
    pub id: String,
    /// The fingerprint of the tools its client last saw, if it listed them.
    pub tools: Option<u64>,
    /// The item's version, for [`saw_tools`].
    version: u64,
    created_at: i64,
}

fn partition(id: &str) -> String {
    format!("MCPSESSION#{}", hex::encode(Sha256::digest(id.as_bytes())))
}

/// Opens a session of `principal` with `agent_id`; its id (43 URL-safe characters).
pub async fn open(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
) -> Result<String, Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| Error::Internal(format!("random source: {e}")))?;
    let id = URL_SAFE_NO_PAD.encode(raw);
    let now = state.clock.now();
    let record = SessionRecord {
        tenant_id: principal.tenant_id.clone(),
        user_id: principal.user_id.clone(),
        agent_id: agent_id.to_owned(),
        created_at: now.unix_timestamp(),
        tools: None,
    };
    let data = Body::of(&record).map_err(|e| Error::Internal(e.to_string()))?;
    let item = Item::new(partition(&id), SK, data).expiring_at((now + LIFETIME).unix_timestamp());
    state.store.write(TxOp::Create(item)).await?;
    Ok(id)
}

/// Session `id`, if it is a live one of `principal` with `agent_id` (another caller's or
/// another agent's is as unknown as an expired one).
pub async fn live(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    id: &str,
) -> Result<Option<Live>, Error> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Ok(None);
    }
    let Some(item) = state.store.get(&partition(id), SK).await? else {
        return Ok(None);
    };
    let record: SessionRecord = item
        .data
        .read()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let theirs = record.tenant_id == principal.tenant_id
        && record.user_id == principal.user_id
        && record.agent_id == agent_id;
    Ok(theirs.then(|| Live {
        id: id.to_owned(),
        tools: record.tools,
        version: item.version,
        created_at: record.created_at,
    }))
}

/// Whether `id` is a live session of `principal` with `agent_id`.
pub async fn is_live(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    id: &str,
) -> Result<bool, Error> {
    Ok(live(state, principal, agent_id, id).await?.is_some())
}

/// Remembers that the client of `session` (of `principal` with `agent_id`) now knows the tools
/// whose fingerprint is `tools`. Another request of the session that wrote first wins (the
/// write is conditional on the version read): the client is told of a change at most once.
pub async fn saw_tools(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    session: &Live,
    tools: u64,
) -> Result<(), Error> {
    let record = SessionRecord {
        tenant_id: principal.tenant_id.clone(),
        user_id: principal.user_id.clone(),
        agent_id: agent_id.to_owned(),
        created_at: session.created_at,
        tools: Some(tools),
    };
    let data = Body::of(&record).map_err(|e| Error::Internal(e.to_string()))?;
    let expires_at = (time::OffsetDateTime::from_unix_timestamp(session.created_at)
        .map_err(|e| Error::Internal(e.to_string()))?
        + LIFETIME)
        .unix_timestamp();
    let item = Item::new(partition(&session.id), SK, data).expiring_at(expires_at);
    match state
        .store
        .write(TxOp::Update {
            item,
            expected_version: session.version,
        })
        .await
    {
        Ok(()) | Err(shared::store::StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Ends session `id` if it is a live one of `principal` with `agent_id`; whether it was.
pub async fn end(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    id: &str,
) -> Result<bool, Error> {
    if !is_live(state, principal, agent_id, id).await? {
        return Ok(false);
    }
    state
        .store
        .write(TxOp::Delete {
            pk: partition(id),
            sk: SK.to_owned(),
            condition: Condition::None,
        })
        .await?;
    Ok(true)
}
