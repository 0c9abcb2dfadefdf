//! Approvals: a tool call that a policy holds for a person ([`crate::policy`]'s
//! `call_tool_unattended`) waits as an approval until an admin other than the caller approves
//! or denies it; the caller then repeats the call with the approval's id, and it runs once, only
//! for that caller, that agent and tool and exactly the approved arguments, before the approval
//! expires.
//!
//! Items, in the tenant's partition:
//! - `APPROVAL#<id>`: the approval, with the call's arguments (shown to the admins who decide,
//!   and to the caller; never to the audit log or an event) and their canonical SHA-256, which
//!   is what a repeat is compared with. Kept [`KEPT_AFTER_EXPIRY_SECONDS`] past its expiry
//!   (DynamoDB TTL).
//! - `APPROVALFOR#<sha256 of caller, agent, server, tool and arguments>`: the latest approval
//!   of that exact call, so asking again while one is pending or approved answers with it
//!   rather than asking admins twice.
//!
//! Using an approval is one conditional write (`approved` → `used`, on the version read) made
//! before anything is sent upstream: two repeats racing run the tool once.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::model::{
    events::{self, EventType, deliveries},
    resource::{ListParams, Page, Principal, Role, prefix_page},
    rfc3339, tenant_pk,
};
use crate::{
    AppState, Error,
    store::{Body, Item, StoreError, TxOp},
};

/// How long an approval may be decided and then used, from the call that asked for it.
pub const APPROVAL_TTL_SECONDS: i64 = 3600;
/// How long an approval's item is kept after it expired (to be listed and read).
pub const KEPT_AFTER_EXPIRY_SECONDS: i64 = 7 * 24 * 3600;
/// Largest arguments (canonical JSON) a call held for approval may have.
pub const MAX_ARGUMENT_BYTES: usize = 64 * 1024;
/// Longest reason an admin may give.
const MAX_REASON: usize = 1000;
const PREFIX: &str = "APPROVAL#";
const POINTER_PREFIX: &str = "APPROVALFOR#";

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waits for an admin.
    Pending,
    /// Approved: the caller may repeat the call once, before it expires.
    Approved,
    /// Denied: the call does not run.
    Denied,
    /// Approved and used: the call ran.
    Used,
    /// Not decided, or not used, before its expiry.
    Expired,
}

/// The call an approval is for, and who asked: what the stored approval and its view share.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalCall {
    /// The agent that made the call.
    pub agent_id: String,
    /// The MCP server config offering the tool.
    pub server_config_id: String,
    /// The tool's name at its server.
    pub tool: String,
    /// The name it was called by in the agent's catalogue.
    pub name: String,
    /// The call's arguments, as the caller sent them.
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// SHA-256 (hex) of the arguments as canonical JSON (compact, keys sorted): a repeat must
    /// send arguments with the same hash.
    pub arguments_sha256: String,
    /// The policies that asked for a person.
    pub policies: Vec<String>,
    /// Who called.
    pub requested_by: String,
    /// When, RFC 3339.
    pub requested_at: String,
}

/// What became of an approval: who decided, when and why, and when it was used.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ApprovalDecision {
    /// The admin who decided.
    pub decided_by: Option<String>,
    /// When, RFC 3339.
    pub decided_at: Option<String>,
    /// The admin's reason, if given.
    pub reason: Option<String>,
    /// When the approved call ran, RFC 3339.
    pub used_at: Option<String>,
}

/// An approval as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredApproval {
    /// Its id.
    pub id: String,
    /// The call and who asked.
    #[serde(flatten)]
    pub call: ApprovalCall,
    /// Until when it may be decided and used (Unix seconds).
    pub expires_at: i64,
    /// Pending, approved, denied or used (expiry is read from `expires_at`).
    pub status: ApprovalStatus,
    /// Who decided, when and why; when it was used.
    #[serde(flatten)]
    pub decision: ApprovalDecision,
}

/// An approval as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalView {
    /// Its id: the caller repeats the call with it (`approval_id`) once approved.
    pub id: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The call and who asked.
    #[serde(flatten)]
    pub call: ApprovalCall,
    /// Until when it may be decided and used, RFC 3339.
    pub expires_at: String,
    /// Who decided, when and why; when it was used.
    #[serde(flatten)]
    pub decision: ApprovalDecision,
}

impl StoredApproval {
    /// Its status at `now` (Unix seconds): pending or approved ones lapse at their expiry.
    pub fn status_at(&self, now: i64) -> ApprovalStatus {
        match self.status {
            ApprovalStatus::Pending | ApprovalStatus::Approved if now >= self.expires_at => {
                ApprovalStatus::Expired
            }
            status => status,
        }
    }

    /// The approval as shown at `now`.
    pub fn view(&self, now: i64) -> ApprovalView {
        ApprovalView {
            id: self.id.clone(),
            status: self.status_at(now),
            call: self.call.clone(),
            expires_at: at(self.expires_at),
            decision: self.decision.clone(),
        }
    }
}

fn at(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch).map_or_else(|_| epoch.to_string(), rfc3339)
}

/// A call held for approval, as the caller made it.
#[derive(Debug, Clone, Copy)]
pub struct HeldCall<'a> {
    /// The agent.
    pub agent_id: &'a str,
    /// The MCP server config offering the tool.
    pub server_config_id: &'a str,
    /// The tool's name at its server.
    pub tool: &'a str,
    /// The name it was called by.
    pub name: &'a str,
    /// The arguments (after optional `null`s were dropped, as they would be sent).
    pub arguments: &'a Value,
}

fn approval_sk(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// The pointer to the latest approval of `call` by `user_id`.
fn pointer_sk(user_id: &str, call: &HeldCall<'_>, digest: &str) -> String {
    let key = Sha256::digest(
        [
            user_id,
            call.agent_id,
            call.server_config_id,
            call.tool,
            digest,
        ]
        .join("\0"),
    );
    format!("{POINTER_PREFIX}{}", hex::encode(key))
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    id: String,
}

/// Reads an approval of the caller's tenant.
async fn load(state: &AppState, tenant_id: &str, id: &str) -> Result<(StoredApproval, u64), Error> {
    if !crate::model::is_valid_id(id) {
        return Err(Error::NotFound("approval"));
    }
    let item = state
        .store
        .get(&tenant_pk(tenant_id), &approval_sk(id))
        .await?
        .ok_or(Error::NotFound("approval"))?;
    let approval = item
        .data
        .read()
        .map_err(|e| Error::Internal(format!("stored approval: {e}")))?;
    Ok((approval, item.version))
}

/// What asking for an approval found.
#[derive(Debug)]
pub enum Asked {
    /// A new approval, now pending (admins were told).
    New(StoredApproval),
    /// The same call's approval, still pending or approved and unused: no new one.
    Existing(StoredApproval),
}

impl Asked {
    /// The approval.
    pub fn approval(&self) -> &StoredApproval {
        match self {
            Self::New(a) | Self::Existing(a) => a,
        }
    }
}

/// Asks for an approval of `call` by `principal`, held by `policies`: the same call's pending
/// or approved one when there is one, else a new pending one, announced as
/// `approval.requested`.
pub async fn ask(
    state: &AppState,
    principal: &Principal,
    call: &HeldCall<'_>,
    policies: &[String],
) -> Result<Asked, Error> {
    let size = serde_json::to_vec(call.arguments).map_or(usize::MAX, |v| v.len());
    if size > MAX_ARGUMENT_BYTES {
        return Err(Error::field(
            "arguments",
            format!(
                "exceed {MAX_ARGUMENT_BYTES} bytes, the most a call held for approval may have"
            ),
        ));
    }
    let digest = crate::mcp::canonical_digest(call.arguments);
    let pk = tenant_pk(&principal.tenant_id);
    let pointer = pointer_sk(&principal.user_id, call, &digest);
    // Two tries: a concurrent identical call may create the pointer first; then its approval
    // is the answer.
    for _ in 0..2 {
        let now = state.clock.epoch_seconds();
        let current = state.store.get(&pk, &pointer).await?;
        if let Some(item) = &current {
            let Pointer { id } = item
                .data
                .read()
                .map_err(|e| Error::Internal(format!("stored approval pointer: {e}")))?;
            match load(state, &principal.tenant_id, &id).await {
                Ok((approval, _))
                    if matches!(
                        approval.status_at(now),
                        ApprovalStatus::Pending | ApprovalStatus::Approved
                    ) =>
                {
                    return Ok(Asked::Existing(approval));
                }
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let approval = StoredApproval {
            id: crate::model::new_id(),
            call: ApprovalCall {
                agent_id: call.agent_id.to_owned(),
                server_config_id: call.server_config_id.to_owned(),
                tool: call.tool.to_owned(),
                name: call.name.to_owned(),
                arguments: call.arguments.clone(),
                arguments_sha256: digest.clone(),
                policies: policies.to_vec(),
                requested_by: principal.user_id.clone(),
                requested_at: rfc3339(state.clock.now()),
            },
            expires_at: now + APPROVAL_TTL_SECONDS,
            status: ApprovalStatus::Pending,
            decision: ApprovalDecision::default(),
        };
        let kept_until = approval.expires_at + KEPT_AFTER_EXPIRY_SECONDS;
        let internal = |e: serde_json::Error| Error::Internal(e.to_string());
        let pointer_body = Body::of(&Pointer {
            id: approval.id.clone(),
        })
        .map_err(internal)?;
        let pointer_item =
            Item::new(pk.clone(), pointer.clone(), pointer_body).expiring_at(kept_until);
        let ops = vec![
            TxOp::Create(
                Item::new(
                    pk.clone(),
                    approval_sk(&approval.id),
                    Body::of(&approval).map_err(internal)?,
                )
                .expiring_at(kept_until),
            ),
            match &current {
                Some(item) => TxOp::Update {
                    item: pointer_item,
                    expected_version: item.version,
                },
                None => TxOp::Create(pointer_item),
            },
        ];
        match state.store.transact(ops).await {
            Ok(()) => {
                announce(state, principal, EventType::ApprovalRequested, &approval).await;
                return Ok(Asked::New(approval));
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::VersionRace)
}

/// Publishes `kind` about `approval`: ids, tool, who and until when, never an argument value.
async fn announce(
    state: &AppState,
    principal: &Principal,
    kind: EventType,
    approval: &StoredApproval,
) {
    let data = json!({
        "approval_id": approval.id,
        "status": approval.status,
        "agent_id": approval.call.agent_id,
        "server_config_id": approval.call.server_config_id,
        "tool": approval.call.tool,
        "policies": approval.call.policies,
        "arguments_sha256": approval.call.arguments_sha256,
        "requested_by": approval.call.requested_by,
        "expires_at": at(approval.expires_at),
        "decided_by": approval.decision.decided_by,
    });
    let event = events::event(state, &principal.tenant_id, kind, data);
    deliveries::publish(state, vec![event]).await;
}

/// Uses the approval `id` for `call` by `principal`: it must be the caller's, approved, for
/// this agent, tool and exactly these arguments, unused and unexpired. Marked used before the
/// call is made (a second use is refused even while the first runs); any refusal leaves it
/// as it was.
pub async fn redeem(
    state: &AppState,
    principal: &Principal,
    id: &str,
    call: &HeldCall<'_>,
) -> Result<StoredApproval, Error> {
    let (mut approval, version) = load(state, &principal.tenant_id, id).await?;
    let refused = |why: String| Err(Error::ApprovalRefused(format!("{why} Nothing was sent.")));
    if approval.call.requested_by != principal.user_id {
        return refused("The approval was given to the user who asked for it, not to you.".into());
    }
    if approval.call.agent_id != call.agent_id
        || approval.call.server_config_id != call.server_config_id
        || approval.call.tool != call.tool
    {
        return refused(format!(
            "The approval is for the tool {} of another call, not for this one.",
            approval.call.name
        ));
    }
    if approval.call.arguments_sha256 != crate::mcp::canonical_digest(call.arguments) {
        return refused(
            "The arguments differ from the approved ones; only the exact approved call runs."
                .into(),
        );
    }
    let now = state.clock.epoch_seconds();
    match approval.status_at(now) {
        ApprovalStatus::Approved => {}
        ApprovalStatus::Pending => {
            return refused("The approval is still pending: an admin has not decided yet.".into());
        }
        ApprovalStatus::Denied => {
            return refused(format!(
                "The call was denied{}.",
                approval
                    .decision
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
        ApprovalStatus::Used => return refused("The approval was used already.".into()),
        ApprovalStatus::Expired => {
            return refused(format!(
                "The approval expired at {}.",
                at(approval.expires_at)
            ));
        }
    }
    approval.status = ApprovalStatus::Used;
    approval.decision.used_at = Some(rfc3339(state.clock.now()));
    if !write_over(state, &principal.tenant_id, &approval, version).await? {
        return refused("The approval was used already.".into());
    }
    Ok(approval)
}

/// Writes `approval` over the version read (`version`): `false` when it changed meanwhile.
async fn write_over(
    state: &AppState,
    tenant_id: &str,
    approval: &StoredApproval,
    version: u64,
) -> Result<bool, Error> {
    let item = Item::new(
        tenant_pk(tenant_id),
        approval_sk(&approval.id),
        Body::of(approval).map_err(|e| Error::Internal(e.to_string()))?,
    )
    .expiring_at(approval.expires_at + KEPT_AFTER_EXPIRY_SECONDS);
    let update = TxOp::Update {
        item,
        expected_version: version,
    };
    Ok(crate::store::written(
        state.store.transact(vec![update]).await,
    )?)
}

/// An admin's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call may run (once).
    Approve,
    /// It may not.
    Deny,
}

/// Body of `POST /approvals/{id}/approve` and `/deny` (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// Why (1 to 1000 characters, not only spaces, no control characters; shown to the
    /// caller).
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: Option<String>,
}

/// Decides the pending approval `id`: only an admin other than the caller who asked, only once,
/// only before it expires. Announced as `approval.decided`.
pub async fn decide(
    state: &AppState,
    principal: &Principal,
    id: &str,
    decision: Decision,
    input: DecisionInput,
) -> Result<ApprovalView, Error> {
    principal.require(Role::Admin, "Deciding an approval")?;
    let reason = input.reason.map(|r| r.trim().to_owned());
    if let Some(reason) = &reason {
        crate::model::validate::text(reason, MAX_REASON)
            .map_err(|message| Error::field("reason", message))?;
    }
    let (mut approval, version) = load(state, &principal.tenant_id, id).await?;
    if approval.call.requested_by == principal.user_id {
        return Err(Error::ApprovalRefused(
            "A call is approved by someone other than the user who made it; ask another admin."
                .into(),
        ));
    }
    let now = state.clock.epoch_seconds();
    match approval.status_at(now) {
        ApprovalStatus::Pending => {}
        ApprovalStatus::Expired => {
            return Err(Error::Conflict(format!(
                "The approval expired at {}; the caller may ask again.",
                at(approval.expires_at)
            )));
        }
        other => {
            return Err(Error::Conflict(format!(
                "The approval was decided already ({}).",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )));
        }
    }
    approval.status = match decision {
        Decision::Approve => ApprovalStatus::Approved,
        Decision::Deny => ApprovalStatus::Denied,
    };
    approval.decision.decided_by = Some(principal.user_id.clone());
    approval.decision.decided_at = Some(rfc3339(state.clock.now()));
    approval.decision.reason = reason;
    if !write_over(state, &principal.tenant_id, &approval, version).await? {
        return Err(Error::Conflict(
            "The approval changed meanwhile (decided by someone else, or used); read it again."
                .into(),
        ));
    }
    announce(state, principal, EventType::ApprovalDecided, &approval).await;
    Ok(approval.view(now))
}

/// One approval: admins read any, a member only their own.
pub async fn get(state: &AppState, principal: &Principal, id: &str) -> Result<ApprovalView, Error> {
    let (approval, _) = load(state, &principal.tenant_id, id).await?;
    if principal.role != Role::Admin && approval.call.requested_by != principal.user_id {
        // Another member's call is not theirs to see, nor to know of.
        return Err(Error::NotFound("approval"));
    }
    Ok(approval.view(state.clock.epoch_seconds()))
}

/// A page of the tenant's approvals, oldest first (admins: all; members: their own), only those
/// in `status` when given.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
    status: Option<ApprovalStatus>,
) -> Result<Page<ApprovalView>, Error> {
    let page = prefix_page(state, &tenant_pk(&principal.tenant_id), PREFIX, params).await?;
    let now = state.clock.epoch_seconds();
    let mut items = Vec::new();
    for item in &page.items {
        let approval: StoredApproval = item
            .data
            .read()
            .map_err(|e| Error::Internal(format!("stored approval: {e}")))?;
        let mine = approval.call.requested_by == principal.user_id;
        if (principal.role == Role::Admin || mine)
            && status.is_none_or(|s| approval.status_at(now) == s)
        {
            items.push(approval.view(now));
        }
    }
    Ok(Page::new(items, page.last_sk.as_deref()))
}
