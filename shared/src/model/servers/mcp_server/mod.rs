//! MCP server configs: a remote MCP server (`url`, `timeout_seconds`) and the auth config used to
//! reach it (`auth_config_id`, or an inline `auth_config` created in the same transaction).
//! Creating one, and a PATCH of `url`, `timeout_seconds` or `auth_config_id`, tests the
//! connection first: on failure the answer is 422 with the `connection_test_result` and nothing is
//! written. A server holds a reference on its auth config (so that one cannot be deleted) and is
//! itself referenced by agents.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use crate::model::tool_diff::{FieldChange, ToolDiff};
use crate::model::{
    auth_config::{AuthConfigInput, StoredAuthConfig},
    connection_test::{beside, run_test_then_close},
    deliveries, destinations,
    health::{self, Health},
    limits,
    resource::{self, Built, Change, Meta, Principal, Resource, sk},
    rfc3339, tenant_pk,
    tool_lists::{self, MAX_INLINE_BYTES, Spill, ToolParts},
    validate::{self, Checker},
};
use crate::{
    AppState, Error,
    error::FieldError,
    mcp::{self, ConnectionTestResult, TestStatus, ToolInfo},
    store::{Body, Item, StoreError, TxOp},
};

/// `timeout_seconds` when none is given.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Largest `timeout_seconds` (tool calls may use it; synchronous tests are capped lower).
pub const MAX_TIMEOUT_SECONDS: u64 = 300;

/// Body of `POST /config/mcp-server`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerInput {
    /// Display name (1 to 200 characters, not only spaces, no control characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// The MCP endpoint (Streamable HTTP, or legacy HTTP+SSE).
    pub url: String,
    /// Time allowed per connection test or tool call, 1 to 300 (default 30; tests stop at 25).
    #[serde(default, deserialize_with = "validate::optional_whole_number")]
    #[schema(minimum = 1, maximum = 300)]
    pub timeout_seconds: Option<u64>,
    /// An existing auth config.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub auth_config_id: Option<String>,
    /// An auth config to create with the server (same body as `POST /auth_configs`); not
    /// together with `auth_config_id`.
    #[schema(value_type = Option<AuthConfigInput>)]
    pub auth_config: Option<Value>,
}

/// The last connection test, as kept with the config.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LastTest {
    /// When it ran, RFC 3339.
    pub tested_at: String,
    /// Its result (tools listed separately).
    pub result: ConnectionTestResult,
}

/// An MCP server config as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMcpServer {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Endpoint.
    pub url: String,
    /// Time allowed per test or call.
    pub timeout_seconds: u64,
    /// The auth config in use.
    pub auth_config_id: Option<String>,
    /// The last connection test.
    pub last_test: Option<LastTest>,
    /// Tools of the last successful test (kept apart when large: [`crate::model::tool_lists`]).
    pub tools: Vec<ToolInfo>,
    /// Fingerprints of the last successful test's tools, by name.
    pub tool_snapshot: BTreeMap<String, String>,
    /// Fingerprints of the approved tools, by name: the tools of the creating test, then what
    /// a user approved. Agents see only approved tools as they were approved. (Absent in records
    /// written before approvals: their last tested tools count as approved.)
    pub approved: Option<BTreeMap<String, String>>,
    /// The approved definitions of tools that changed since, by name: what a reviewer compares
    /// the offered definition with (kept while the change is pending).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approved_definitions: BTreeMap<String, ToolInfo>,
    /// The user whose connection background checks act with: whoever last set where the server
    /// points (its URL, timeout or auth config) and tested it with their own connection. Never
    /// someone else's: re-pointing a server does not take its creator's account along. (Absent
    /// in records written before: the creator.)
    pub checked_as: Option<String>,
    /// Where `tools` and `approved_definitions` are kept when they would not fit the record.
    pub tool_parts: Option<ToolParts>,
    /// The parts the write under way made and replaces (never stored).
    #[serde(skip)]
    pub spill: Spill,
}

/// Tools a re-test found new or changed since they were approved: hidden from agents until
/// approved (`POST /config/mcp-server/{id}/tools/approve`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingTools {
    /// Tools that were not there when the set was approved.
    pub added: Vec<String>,
    /// Tools whose description, input schema or annotations changed since they were approved.
    pub changed: Vec<String>,
    /// Their definitions as the server offers them now, to review before approving.
    pub tools: Vec<ToolInfo>,
    /// For each changed tool, what changed: each field that differs, as approved and as offered.
    pub diff: Vec<ToolDiff>,
}

/// Body of `POST /config/mcp-server/{id}/tools/approve`: some pending tools by name, or all.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolApproval {
    /// The pending tools to approve, by name.
    pub tools: Option<Vec<String>>,
    /// `true` approves every pending tool.
    pub all: Option<bool>,
}

/// An MCP server config as returned by the API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpServerView {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Endpoint.
    pub url: String,
    /// Time allowed per test or call.
    pub timeout_seconds: u64,
    /// The auth config in use.
    pub auth_config_id: Option<String>,
    /// Tool names of the last successful test.
    pub tool_names: Vec<String>,
    /// Tools new or changed since they were approved (hidden from agents until approved).
    pub pending_tools: Option<PendingTools>,
    /// The last connection test (without its tool list).
    pub last_test: Option<LastTest>,
    /// What the latest check found (scheduled, or a re-test); history at `…/{id}/health`.
    pub health: Option<Health>,
    /// Optimistic-locking version.
    pub version: u64,
    /// The test just run (create, PATCH that re-tested).
    pub connection_test_result: Option<ConnectionTestResult>,
}

/// What a create or a re-testing PATCH reports: the test just run, and its session to close.
#[derive(Default)]
pub struct Tested {
    result: Option<ConnectionTestResult>,
    closer: Option<mcp::SessionCloser>,
}
impl StoredMcpServer {
    /// Records a test: the result always, the tools only when it succeeded. The tools of a
    /// creating test (`approve_all`) are the approved set; later tests change it only by
    /// forgetting tools that are gone (one that comes back is new again).
    pub(crate) fn record_test(
        &mut self,
        result: &ConnectionTestResult,
        now: &str,
        approve_all: bool,
    ) {
        self.last_test = Some(LastTest {
            tested_at: now.to_owned(),
            result: result.without_tools(),
        });
        if result.status == TestStatus::Success {
            let snapshot: BTreeMap<String, String> = result
                .tools
                .iter()
                .map(|t| (t.name.clone(), t.fingerprint()))
                .collect();
            let mut approved = match self.approved.take() {
                _ if approve_all => snapshot.clone(),
                Some(approved) => approved,
                None => std::mem::take(&mut self.tool_snapshot),
            };
            approved.retain(|name, _| snapshot.contains_key(name));
            // Keep the approved definition of each tool that now differs from it, while the
            // last stored definitions still are the approved ones.
            for tool in &self.tools {
                let changed = approved.get(&tool.name).is_some_and(|fingerprint| {
                    snapshot.get(&tool.name) != Some(fingerprint)
                        && tool.fingerprint() == *fingerprint
                });
                if changed {
                    self.approved_definitions
                        .entry(tool.name.clone())
                        .or_insert_with(|| tool.clone());
                }
            }
            self.approved_definitions.retain(|name, _| {
                approved
                    .get(name)
                    .is_some_and(|f| snapshot.get(name) != Some(f))
            });
            self.approved = Some(approved);
            self.tool_snapshot = snapshot;
            self.tools.clone_from(&result.tools);
        }
    }

    /// What its health record needs to know of it.
    pub fn subject(&self) -> health::Subject<'_> {
        health::Subject {
            id: &self.meta.id,
            name: &self.meta.name,
            timeout_seconds: self.timeout_seconds,
            pending: self.pending().map(|p| [p.added, p.changed].concat()),
        }
    }

    /// The approved tools' fingerprints, by name.
    pub fn approved(&self) -> &BTreeMap<String, String> {
        self.approved.as_ref().unwrap_or(&self.tool_snapshot)
    }

    /// Whether `name` is offered as it was approved.
    pub fn is_approved(&self, name: &str) -> bool {
        matches!(
            (self.approved().get(name), self.tool_snapshot.get(name)),
            (Some(approved), Some(now)) if approved == now
        )
    }

    /// The tools new or changed since they were approved, if any.
    pub fn pending(&self) -> Option<PendingTools> {
        let approved = self.approved();
        let (mut added, mut changed) = (Vec::new(), Vec::new());
        for (name, fingerprint) in &self.tool_snapshot {
            match approved.get(name) {
                None => added.push(name.clone()),
                Some(known) if known != fingerprint => changed.push(name.clone()),
                Some(_) => {}
            }
        }
        if added.is_empty() && changed.is_empty() {
            return None;
        }
        let tools: Vec<ToolInfo> = self
            .tools
            .iter()
            .filter(|t| !self.is_approved(&t.name))
            .cloned()
            .collect();
        let diff = changed
            .iter()
            .map(|name| ToolDiff {
                name: name.clone(),
                fields: match (
                    self.approved_definitions.get(name),
                    tools.iter().find(|t| &t.name == name),
                ) {
                    (Some(approved), Some(offered)) => {
                        crate::model::tool_diff::diff(approved, offered)
                    }
                    _ => BTreeMap::new(),
                },
            })
            .collect();
        Some(PendingTools {
            added,
            changed,
            tools,
            diff,
        })
    }
}

impl Resource for StoredMcpServer {
    const SK_PREFIX: &'static str = "MCP#";
    const WHAT: &'static str = "MCP server config";
    const REFERRERS: &'static str = "agent(s)";
    type Input = McpServerInput;
    type View = McpServerView;
    type Outcome = Tested;

    fn view(&self, version: u64) -> McpServerView {
        McpServerView {
            meta: self.meta.clone(),
            url: self.url.clone(),
            timeout_seconds: self.timeout_seconds,
            auth_config_id: self.auth_config_id.clone(),
            tool_names: self.tool_snapshot.keys().cloned().collect(),
            pending_tools: self.pending(),
            last_test: self.last_test.clone(),
            health: None,
            version,
            connection_test_result: None,
        }
    }

    fn check_patch(merge_patch: &mut Value) -> Result<(), Error> {
        if merge_patch.get("auth_config").is_some() {
            return Err(Error::field(
                "auth_config",
                "inline auth configs are only accepted on create; create it and set auth_config_id",
            ));
        }
        Ok(())
    }

    /// A create, or a PATCH of `url`, `timeout_seconds` or `auth_config_id`, tests the connection
    /// first: a failed test is a 422 and nothing is written.
    async fn build(
        state: &AppState,
        principal: &Principal,
        id: &str,
        doc: Value,
        change: Change<'_, Self>,
    ) -> Result<Built<Self>, Error> {
        let input = parse(doc, state.allow_insecure_http)?;
        let timeout_seconds = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        let before = change.before();
        let mut server = before.cloned().unwrap_or_else(|| StoredMcpServer {
            meta: Meta::default(),
            url: input.url.clone(),
            timeout_seconds,
            auth_config_id: None,
            last_test: None,
            tools: Vec::new(),
            tool_snapshot: BTreeMap::new(),
            approved: None,
            approved_definitions: BTreeMap::new(),
            checked_as: None,
            tool_parts: None,
            spill: Spill::default(),
        });
        server.meta = Meta::named(&input.name, input.description.clone());
        let unchanged = before.is_some_and(|b| {
            input.url == b.url
                && timeout_seconds == b.timeout_seconds
                && input.auth_config_id == b.auth_config_id
        });
        if unchanged {
            return Ok(Built::record(server));
        }
        let mut built = Built::record(server);
        let auth = attach_auth(state, principal, &input, before, &mut built).await?;
        let binding = auth.binding;
        let limit = std::time::Duration::from_secs(timeout_seconds);
        let (bound, result, closer) = limits::with_test_slot(
            state,
            principal,
            limit,
            Box::pin(async {
                let bound = match binding {
                    Some(binding) => Some(bind(state, principal, binding, before.is_some()).await?),
                    None => None,
                };
                let (result, closer) = run_test_then_close(
                    state,
                    principal,
                    &input.url,
                    timeout_seconds,
                    auth.config.as_ref(),
                )
                .await;
                Ok((bound, result, closer))
            }),
        )
        .await?;
        if result.status != TestStatus::Success {
            beside(closer, async {}).await;
            if let Some(bound) = bound {
                unbind(state, principal, bound).await;
            }
            return Err(Error::ConnectionTestFailed(Box::new(result)));
        }
        let server = &mut built.record;
        server.url = input.url;
        server.timeout_seconds = timeout_seconds;
        server.auth_config_id = auth.config.map(|a| a.meta.id);
        server.checked_as = Some(principal.user_id.clone());
        server.record_test(&result, &rfc3339(state.clock.now()), before.is_none());
        if before.is_none() {
            let health =
                health::created(state, &principal.tenant_id, id, &result, timeout_seconds)?;
            built.ops.push(health);
        }
        built.outcome = Tested {
            result: Some(result),
            closer,
        };
        Ok(built)
    }

    fn references(&self) -> BTreeSet<String> {
        self.auth_config_id
            .iter()
            .map(|id| sk::<StoredAuthConfig>(id))
            .collect()
    }

    async fn missing_references(_: &AppState, _: &Principal, _: &Self) -> Error {
        Error::Conflict(
            "The auth config was deleted while the server was being written; retry.".into(),
        )
    }

    /// A record that would pass [`MAX_INLINE_BYTES`] keeps its tools apart, in parts written
    /// now ([`tool_lists::spill`]); one that fits keeps them in itself again.
    async fn before_write(
        state: &AppState,
        tenant_id: &str,
        record: &mut Self,
    ) -> Result<(), Error> {
        let current = record.tool_parts.take();
        let whole = Body::of(&*record).map_err(|e| Error::Internal(e.to_string()))?;
        if whole.len() <= MAX_INLINE_BYTES {
            record.spill = Spill {
                written: None,
                superseded: current,
            };
            return Ok(());
        }
        let (parts, spill) = tool_lists::spill(
            state,
            tenant_id,
            &record.meta.id,
            current.as_ref(),
            &record.tools,
            &record.approved_definitions,
        )
        .await?;
        (record.tool_parts, record.spill) = (Some(parts), spill);
        Ok(())
    }

    async fn after_write(state: &AppState, tenant_id: &str, record: &mut Self, committed: bool) {
        let spill = std::mem::take(&mut record.spill);
        tool_lists::settle(state, tenant_id, &record.meta.id, spill, committed).await;
    }

    /// Not when its tools are kept apart.
    fn held_whole(&self) -> bool {
        self.tool_parts.is_none()
    }

    async fn complete(state: &AppState, tenant_id: &str, record: &mut Self) -> Result<(), Error> {
        let Some(parts) = &record.tool_parts else {
            return Ok(());
        };
        // Replaced since the record was read: the tools stay empty, and the caller lists them
        // again (`agent_tools`), which stores them anew.
        if let Some((tools, approved)) =
            tool_lists::read(state, tenant_id, &record.meta.id, parts).await?
        {
            (record.tools, record.approved_definitions) = (tools, approved);
        }
        Ok(())
    }

    async fn after_delete(state: &AppState, tenant_id: &str, record: &Self) {
        if let Some(parts) = &record.tool_parts {
            tool_lists::remove(state, tenant_id, &record.meta.id, parts).await;
        }
    }

    /// The record's body; tools kept apart ([`Resource::before_write`]) are left out of it.
    fn body(&mut self) -> Result<Body, Error> {
        if self.tool_parts.is_none() {
            return Body::of(&*self).map_err(|e| Error::Internal(e.to_string()));
        }
        let tools = std::mem::take(&mut self.tools);
        let approved = std::mem::take(&mut self.approved_definitions);
        let body = Body::of(&*self).map_err(|e| Error::Internal(e.to_string()));
        (self.tools, self.approved_definitions) = (tools, approved);
        body
    }

    async fn on_delete(_: &AppState, principal: &Principal, record: &Self) -> Vec<TxOp> {
        vec![health::deleted(&principal.tenant_id, &record.meta.id)]
    }

    /// The records are written first, then the session's DELETE starts in the background: it
    /// adds no latency and does not compete with the write for the CPU. A PATCH that re-tested
    /// records the test as a check of the server's health.
    async fn present(
        state: &AppState,
        principal: &Principal,
        record: &Self,
        written: Result<u64, Error>,
        tested: Tested,
    ) -> Result<McpServerView, Error> {
        let version = beside(tested.closer, async { written }).await?;
        let tenant = &principal.tenant_id;
        if let Some(result) = tested.result.as_ref().filter(|_| version > 1) {
            let (_, events) =
                health::record_check(state, tenant, &record.subject(), result, None).await;
            deliveries::publish(state, events).await;
        }
        let mut view = record.view(version);
        view.health = health::current(state, tenant, &record.meta.id).await?;
        view.connection_test_result = tested.result.map(ConnectionTestResult::fit_for_response);
        Ok(view)
    }
}

/// Parses and checks a document.
fn parse(doc: Value, allow_insecure_http: bool) -> Result<McpServerInput, Error> {
    let input: McpServerInput = resource::parse_document(doc)?;
    let mut c = Checker::default();
    c.name_and_description(&input.name, input.description.as_deref());
    c.check(
        "url",
        validate::remote_url(&input.url, allow_insecure_http).map(|_| ()),
    );
    if let Some(t) = input.timeout_seconds {
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&t) {
            c.check(
                "timeout_seconds",
                Err(format!("must be from 1 to {MAX_TIMEOUT_SECONDS}")),
            );
        }
    }
    if input.auth_config_id.is_some() && input.auth_config.is_some() {
        c.check(
            "auth_config",
            Err("give either auth_config_id or auth_config, not both".into()),
        );
    }
    if let Some(id) = &input.auth_config_id {
        if !crate::model::is_valid_id(id) {
            c.check("auth_config_id", Err("is not an auth config id".into()));
        }
    }
    c.finish(input)
}

/// The auth config a tested server will use, and the binding of an unbound one to the server's
/// origin that must be written before its credentials are sent there.
struct Attached {
    config: Option<StoredAuthConfig>,
    binding: Option<(StoredAuthConfig, u64, String)>,
}

/// Resolves the server's auth config: an existing one (whose origins must admit the server, or
/// which an unused config is bound to), or an inline one prepared (validated, sealed, bound to
/// the server's origin) and added to `built`'s transaction with its reference already counted.
async fn attach_auth(
    state: &AppState,
    principal: &Principal,
    input: &McpServerInput,
    before: Option<&StoredMcpServer>,
    built: &mut Built<StoredMcpServer>,
) -> Result<Attached, Error> {
    let mut binding = None;
    let config = match (&input.auth_config_id, input.auth_config.clone()) {
        (Some(auth_id), _) => {
            let (config, version, ref_count) = load_auth_item(state, principal, auth_id).await?;
            let same_auth = before.is_some_and(|b| b.auth_config_id.as_ref() == Some(auth_id));
            let moved = before.is_none_or(|b| {
                destinations::origin_of(&input.url) != destinations::origin_of(&b.url)
            });
            // Its credentials already go to this origin: nothing to check. Moving the server
            // elsewhere binds nothing; attaching another config may bind an unused one.
            if !same_auth || moved {
                let (may_bind, field) = if same_auth {
                    (false, "url")
                } else {
                    (ref_count == 0, "auth_config_id")
                };
                if let Some(origin) =
                    destinations::check_attach(&config, &input.url, may_bind, field)?
                {
                    binding = Some((config.clone(), version, origin));
                }
            }
            Some(config)
        }
        (None, Some(inline)) => {
            // A key this service would create for the config is unknown to the authorization
            // server until someone registers it: no connection test could pass.
            let key_signed =
                inline.get("token_endpoint_auth_method") == Some(&Value::from("private_key_jwt"));
            if key_signed && inline.get("private_key").is_none_or(Value::is_null) {
                return Err(Error::field(
                    "auth_config.private_key",
                    "is required in an inline auth config with private_key_jwt: a key this \
                     service creates must be registered at the authorization server first \
                     (create the auth config, register its client_assertion.public_jwk, then \
                     give its auth_config_id)",
                ));
            }
            let prepared = resource::prepare::<StoredAuthConfig>(state, principal, inline)
                .await
                .map_err(|e| match e {
                    Error::Validation(errors) => Error::Validation(
                        errors
                            .into_iter()
                            .map(|f| FieldError::new(format!("auth_config.{}", f.field), f.message))
                            .collect(),
                    ),
                    other => other,
                })?;
            let (mut stored, mut item) = (prepared.record, prepared.item);
            item.ref_count = 1;
            // Inline secrets are entered for this server: its origin.
            if let Some(origin) =
                destinations::check_attach(&stored, &input.url, true, "auth_config")?
            {
                stored.allowed_origins = vec![origin];
                item.data = stored.body()?;
            }
            built.counted.insert(item.sk.clone());
            built.ops.push(TxOp::Create(item));
            built.ops.extend(prepared.ops);
            Some(stored)
        }
        (None, None) => None,
    };
    Ok(Attached { config, binding })
}

/// Loads the auth config `id` of the caller's tenant with its item version and reference count;
/// one that does not exist there is an unknown reference (404 naming `auth_config_id`, as for an
/// agent's references).
async fn load_auth_item(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredAuthConfig, u64, u64), Error> {
    let unknown = || {
        Error::UnknownReferences(vec![FieldError::new(
            "auth_config_id",
            format!("no auth config {id} in this tenant"),
        )])
    };
    if !crate::model::is_valid_id(id) {
        return Err(unknown());
    }
    let item = state
        .store
        .get(
            &tenant_pk(&principal.tenant_id),
            &sk::<StoredAuthConfig>(id),
        )
        .await?
        .ok_or_else(unknown)?;
    let config = item
        .data
        .read()
        .map_err(|e| Error::Internal(format!("stored auth config: {e}")))?;
    Ok((config, item.version, item.ref_count))
}

/// Binds an unbound auth config to `origin`, its first server's, before any credential is sent
/// there: a conditional write on the version read, so of two servers racing to be first only one
/// gets to test with the credentials (the other's attach is a conflict). Returns the config as
/// bound and its new version, for [`unbind`] should the test fail.
async fn bind(
    state: &AppState,
    principal: &Principal,
    (config, version, origin): (StoredAuthConfig, u64, String),
    changing: bool,
) -> Result<(StoredAuthConfig, u64), Error> {
    let doing = if changing { "changed" } else { "created" };
    match set_origins(state, principal, config, version, vec![origin]).await {
        Ok(bound) => Ok(bound),
        Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict(format!(
            "The auth config changed while the server was being {doing}; retry."
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Undoes [`bind`] after a failed test, if nothing changed the config since (best effort: a
/// config left bound to the origin it was just tried with is still bound to its owner's choice).
async fn unbind(
    state: &AppState,
    principal: &Principal,
    (config, version): (StoredAuthConfig, u64),
) {
    let id = config.meta.id.clone();
    if let Err(e) = set_origins(state, principal, config, version, Vec::new()).await {
        tracing::warn!(auth_config_id = %id, error = %e, "unbinding after a failed test failed");
    }
}

/// Writes `config` with `origins`, conditionally on its `version`; returns it and its new version.
async fn set_origins(
    state: &AppState,
    principal: &Principal,
    mut config: StoredAuthConfig,
    version: u64,
    origins: Vec<String>,
) -> Result<(StoredAuthConfig, u64), StoreError> {
    config.allowed_origins = origins;
    let data = Body::of(&config).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let key = sk::<StoredAuthConfig>(&config.meta.id);
    let item = Item::new(tenant_pk(&principal.tenant_id), key, data);
    let write = TxOp::Update {
        item,
        expected_version: version,
    };
    state.store.write(write).await?;
    Ok((config, version + 1))
}

#[cfg(test)]
mod tests;

crate::model::resource::record!(StoredMcpServer => McpServerView);
