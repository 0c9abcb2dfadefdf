//! MCP sessions of the 2025 revisions (`Mcp-Session-Id`): an `initialize` answered with success
//! opens one, bound to the caller and the agent; a request that names one must name a live one of
//! the same caller and agent (else 404, and the client initializes again, as the specification
//! says); `DELETE` ends it. A session holds no state of the conversation: every request is still
//! answered on its own (by any Lambda instance), so what a session adds is only its lifecycle.
//!
//! One item per session, `PK = MCPSESSION#<hex sha256 of the id>`, `SK = MCPSESSION` (the id
//! itself is never stored), expiring [`LIFETIME`] after it was opened: one write per
//! `initialize`, one read per request that names a session, one delete per `DELETE`.

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
    };
    let data = Body::of(&record).map_err(|e| Error::Internal(e.to_string()))?;
    let item = Item::new(partition(&id), SK, data).expiring_at((now + LIFETIME).unix_timestamp());
    state.store.write(TxOp::Create(item)).await?;
    Ok(id)
}

/// Whether `id` is a live session of `principal` with `agent_id` (another caller's or another
/// agent's is as unknown as an expired one).
pub async fn is_live(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    id: &str,
) -> Result<bool, Error> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Ok(false);
    }
    let Some(item) = state.store.get(&partition(id), SK).await? else {
        return Ok(false);
    };
    let record: SessionRecord = item
        .data
        .read()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(record.tenant_id == principal.tenant_id
        && record.user_id == principal.user_id
        && record.agent_id == agent_id)
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
