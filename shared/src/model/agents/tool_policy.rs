//! Tool-call policies as a resource (`/ai/api/v1/config/policy`): a tenant's Cedar rules over
//! its agents' tool calls ([`crate::policy`] says what they mean), each `enforce`d or only
//! recorded (`shadow`), and the tenant's rules as a tool call reads them.
//!
//! Every write of a policy also counts one more revision of the tenant's policies (item
//! `POLICYSET#revision`, in the same transaction) and keeps the tenant's count of them
//! (`POLICYSET#count`, at most [`MAX_POLICIES`]). A tool call reads the revision (one
//! `GetItem`) and builds the tenant's rules again only when it moved
//! ([`crate::policy::RulesCache`]), so a change applies to the next call on every instance.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::{
    resource::{self, Built, Change, Meta, Principal, Resource},
    tenant_pk,
    validate::Checker,
};
use crate::{
    AppState, Error,
    policy::{self, Rules},
    store::{Query, TxOp},
};

/// Most policies a tenant may have (AWS AgentCore's policy engine allows as many).
pub const MAX_POLICIES: u64 = 1_000;
/// Longest policy text, in bytes.
pub const MAX_POLICY_BYTES: usize = 10_000;
/// Sort key of the revision of a tenant's policies.
const REVISION_SK: &str = "POLICYSET#revision";
/// Sort key of the count of a tenant's policies.
const COUNT_SK: &str = "POLICYSET#count";
/// An expiry that never comes (9999-12-31): the two items are kept.
const NEVER: i64 = 253_402_300_799;

/// Whether a policy decides calls or is only recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyMode {
    /// Its decisions apply.
    #[default]
    Enforce,
    /// Its decisions are recorded (audit log, metric) and change nothing.
    Shadow,
}

/// Body of `POST /config/policy` (and the result of applying a merge patch).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Display name (1 to 200 characters, not only spaces, no control characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// One or more Cedar `forbid` rules in the vocabulary of `GET /config/policy/schema` (at
    /// most 10,000 bytes). `@loggable("amount,currency")` before a rule lets the audit log show
    /// those arguments' values for the calls it decides.
    #[schema(min_length = 1, max_length = 10000)]
    pub policy: String,
    /// `enforce` (the default) or `shadow`.
    #[serde(default)]
    pub mode: PolicyMode,
}

/// A policy as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// The Cedar text.
    pub policy: String,
    /// Enforced or shadow.
    pub mode: PolicyMode,
}

/// A policy as returned by the API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyView {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// The Cedar text.
    pub policy: String,
    /// Enforced or shadow.
    pub mode: PolicyMode,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
}

/// One more revision of the tenant's policies.
fn next_revision(tenant_id: &str) -> TxOp {
    TxOp::Count {
        pk: tenant_pk(tenant_id),
        sk: REVISION_SK.to_owned(),
        // No limit (what every store can hold as a number).
        limit: i64::MAX.unsigned_abs(),
        expires_at: NEVER,
    }
}

impl Resource for StoredPolicy {
    const SK_PREFIX: &'static str = "POLICY#";
    const WHAT: &'static str = "policy";
    type Input = PolicyInput;
    type View = PolicyView;
    type Outcome = ();

    fn view(&self, version: u64) -> PolicyView {
        PolicyView {
            meta: self.meta.clone(),
            policy: self.policy.clone(),
            mode: self.mode,
            version,
        }
    }

    async fn build(
        _state: &AppState,
        principal: &Principal,
        _id: &str,
        doc: Value,
        change: Change<'_, Self>,
    ) -> Result<Built<Self>, Error> {
        let input: PolicyInput = resource::parse_document(doc)?;
        let mut c = Checker::default();
        c.name_and_description(&input.name, input.description.as_deref());
        if input.policy.len() > MAX_POLICY_BYTES {
            c.check(
                "policy",
                Err(format!("must be at most {MAX_POLICY_BYTES} bytes")),
            );
        } else if let Err(e) = policy::check(&input.policy) {
            c.check("policy", Err(e.to_string()));
        }
        c.finish(())?;
        let mut ops = vec![next_revision(&principal.tenant_id)];
        if matches!(change, Change::Create) {
            ops.push(TxOp::Count {
                pk: tenant_pk(&principal.tenant_id),
                sk: COUNT_SK.to_owned(),
                limit: MAX_POLICIES,
                expires_at: NEVER,
            });
        }
        Ok(Built {
            ops,
            ..Built::record(Self {
                meta: Meta::named(&input.name, input.description),
                policy: input.policy,
                mode: input.mode,
            })
        })
    }

    /// The only condition of a policy's create besides its own key: the tenant's count.
    async fn missing_references(
        _state: &AppState,
        _principal: &Principal,
        _record: &Self,
    ) -> Error {
        Error::Conflict(format!(
            "The tenant has {MAX_POLICIES} policies, the most it may have; delete one (or \
             combine rules: one policy may hold several) and create it again."
        ))
    }

    async fn on_delete(_state: &AppState, principal: &Principal, _record: &Self) -> Vec<TxOp> {
        vec![
            next_revision(&principal.tenant_id),
            TxOp::AdjustRefs {
                pk: tenant_pk(&principal.tenant_id),
                sk: COUNT_SK.to_owned(),
                delta: -1,
            },
        ]
    }
}

crate::model::resource::record!(StoredPolicy => PolicyView);

/// The revision of the tenant (partition `pk`) policies, `None` when it never had one: read
/// through the recent records when the state keeps them (like the agent and its configs, at most
/// that old, never older than this instance's own last policy write), else one `GetItem`.
async fn revision(state: &AppState, pk: &str) -> Result<Option<u64>, Error> {
    let Some(recent) = &state.recent else {
        return Ok(state.store.get(pk, REVISION_SK).await?.map(|i| i.ref_count));
    };
    if let Some((revision, _)) = recent.get::<Option<u64>>(pk, REVISION_SK) {
        return Ok(revision);
    }
    let generation = recent.generation();
    let item = state.store.get(pk, REVISION_SK).await?;
    let revision = item.as_ref().map(|i| i.ref_count);
    let version = item.map_or(0, |i| i.version);
    recent.keep((pk, REVISION_SK), revision, (version, 1), generation);
    Ok(revision)
}

/// The tenant's rules as of now, or `None` when it never had a policy: the revision
/// ([`revision`]), plus, when it moved since this instance last built them, a read of every
/// policy and a build (about 44 ms for 1,000).
pub async fn tenant_rules(state: &AppState, tenant_id: &str) -> Result<Option<Arc<Rules>>, Error> {
    let pk = tenant_pk(tenant_id);
    let Some(revision) = revision(state, &pk).await? else {
        return Ok(None);
    };
    if let Some(rules) = state.policy_rules.get(tenant_id, revision) {
        return Ok(Some(rules));
    }
    let mut policies: Vec<StoredPolicy> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state
            .store
            .query(
                Query::prefix(&pk, StoredPolicy::SK_PREFIX)
                    .after(after.as_deref())
                    .limit(MAX_POLICIES as usize),
            )
            .await?;
        for item in page.items {
            policies.push(
                item.data
                    .read()
                    .map_err(|e| Error::Internal(format!("stored policy: {e}")))?,
            );
        }
        match page.last_sk {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let count = policies.len();
    let rules = tokio::task::spawn_blocking(move || {
        Rules::new(policies.iter().map(|p| policy::Rule {
            id: &p.meta.id,
            text: &p.policy,
            shadow: p.mode == PolicyMode::Shadow,
        }))
    })
    .await
    .map_err(|e| Error::Internal(format!("building policies: {e}")))?
    .map_err(Error::Internal)?;
    let rules = Arc::new(rules);
    state
        .policy_rules
        .put(tenant_id, revision, Arc::clone(&rules), count);
    Ok(Some(rules))
}
