//! MCP server configs: a remote MCP server (`url`, `timeout_seconds`) and the auth config used to
//! reach it (`auth_config_id`, or an inline `auth_config` created in the same transaction).
//! Creating one, and a PATCH of `url`, `timeout_seconds` or `auth_config_id`, tests the
//! connection first: on failure the answer is 422 with the `connection_test_result` and nothing is
//! written. A server holds a reference on its auth config (so that one cannot be deleted) and is
//! itself referenced by agents.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{
    auth_config::{self, StoredAuthConfig},
    credentials::{self, CredentialError},
    new_id, rfc3339, tenant_pk, validate,
};
use crate::{
    AppState, Error,
    api::{ListParams, Page, Principal},
    error::FieldError,
    mcp::{
        self, Category, ConnectionTestResult, McpTarget, Stage, TestStatus, ToolChanges, ToolInfo,
        Transport,
    },
    store::{Body, Condition, Item, StoreError, TxOp},
};

pub(crate) const SK_PREFIX: &str = "MCP#";
const AUTH_SK_PREFIX: &str = "AUTH#";
/// `timeout_seconds` when none is given.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Largest `timeout_seconds` (tool calls may use it; synchronous tests are capped lower).
pub const MAX_TIMEOUT_SECONDS: u64 = 300;
/// A record whose body would exceed this keeps no tool list, only the tools' fingerprints
/// (DynamoDB items stop at 400 KB).
const MAX_RECORD_BYTES: usize = 256 * 1024;

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
    #[serde(default)]
    #[schema(minimum = 1, maximum = 300)]
    pub timeout_seconds: Option<u64>,
    /// An existing auth config.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub auth_config_id: Option<String>,
    /// An auth config to create with the server (same body as `POST /auth_configs`); not
    /// together with `auth_config_id`.
    #[serde(default)]
    #[schema(value_type = Option<auth_config::AuthConfigInput>)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMcpServer {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Endpoint.
    pub url: String,
    /// Time allowed per test or call.
    pub timeout_seconds: u64,
    /// The auth config in use.
    pub auth_config_id: Option<String>,
    /// The last connection test.
    pub last_test: Option<LastTest>,
    /// Tools of the last successful test (empty if too large to keep).
    pub tools: Vec<ToolInfo>,
    /// Fingerprints of the last successful test's tools, by name.
    pub tool_snapshot: BTreeMap<String, String>,
    /// Creator.
    pub created_by: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// An MCP server config as returned by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpServerView {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Endpoint.
    pub url: String,
    /// Time allowed per test or call.
    pub timeout_seconds: u64,
    /// The auth config in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_config_id: Option<String>,
    /// Tool names of the last successful test.
    pub tool_names: Vec<String>,
    /// The last connection test (without its tool list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_test: Option<LastTest>,
    /// Optimistic-locking version.
    pub version: u64,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The test just run (create, PATCH that re-tested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_test_result: Option<ConnectionTestResult>,
}

impl StoredMcpServer {
    fn view(&self, version: u64) -> McpServerView {
        McpServerView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            url: self.url.clone(),
            timeout_seconds: self.timeout_seconds,
            auth_config_id: self.auth_config_id.clone(),
            tool_names: self.tool_snapshot.keys().cloned().collect(),
            last_test: self.last_test.clone(),
            version,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            connection_test_result: None,
        }
    }

    /// Records a test: the result always, the tools only when it succeeded.
    fn record_test(&mut self, result: &ConnectionTestResult, now: &str) {
        self.last_test = Some(LastTest {
            tested_at: now.to_owned(),
            result: result.without_tools(),
        });
        if result.status == TestStatus::Success {
            self.tool_snapshot = result
                .tools
                .iter()
                .map(|t| (t.name.clone(), t.fingerprint()))
                .collect();
            self.tools.clone_from(&result.tools);
        }
    }

    /// The record's body, serialized once; a body over [`MAX_RECORD_BYTES`] drops the tool list
    /// (the fingerprints stay, so `tool_changes` still work).
    fn body(&mut self) -> Result<Body, Error> {
        let body = Body::of(self).map_err(|e| Error::Internal(e.to_string()))?;
        if body.len() <= MAX_RECORD_BYTES || self.tools.is_empty() {
            return Ok(body);
        }
        self.tools = Vec::new();
        Body::of(self).map_err(|e| Error::Internal(e.to_string()))
    }
}

impl super::EditableRecord for StoredMcpServer {
    const SK_PREFIX: &'static str = SK_PREFIX;
    const WHAT: &'static str = "MCP server config";
    const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "url",
        "timeout_seconds",
        "auth_config_id",
    ];

    fn editable(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("name".into(), self.name.clone().into());
        if let Some(d) = &self.description {
            doc.insert("description".into(), d.clone().into());
        }
        doc.insert("url".into(), self.url.clone().into());
        doc.insert("timeout_seconds".into(), self.timeout_seconds.into());
        if let Some(a) = &self.auth_config_id {
            doc.insert("auth_config_id".into(), a.clone().into());
        }
        Value::Object(doc)
    }
}

fn sk(id: &str) -> String {
    format!("{SK_PREFIX}{id}")
}

fn auth_sk(id: &str) -> String {
    format!("{AUTH_SK_PREFIX}{id}")
}

/// Parses and checks a document; returns the input with its auth choice.
fn parse(doc: Value, allow_insecure_http: bool) -> Result<McpServerInput, Error> {
    let input: McpServerInput = super::parse_document(doc)?;
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };
    check("name", validate::text(&input.name, 200));
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        check("description", Err("must be at most 2000 characters".into()));
    }
    check(
        "url",
        validate::remote_url(&input.url, allow_insecure_http).map(|_| ()),
    );
    if let Some(t) = input.timeout_seconds {
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&t) {
            check(
                "timeout_seconds",
                Err(format!("must be from 1 to {MAX_TIMEOUT_SECONDS}")),
            );
        }
    }
    if input.auth_config_id.is_some() && input.auth_config.is_some() {
        check(
            "auth_config",
            Err("give either auth_config_id or auth_config, not both".into()),
        );
    }
    if let Some(id) = &input.auth_config_id {
        if !super::is_valid_id(id) {
            check("auth_config_id", Err("is not an auth config id".into()));
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(Error::Validation(errors))
    }
}

/// A failed result for a failure before the server was contacted.
fn failed_before_contact(
    stage: Stage,
    category: Category,
    message: String,
) -> ConnectionTestResult {
    ConnectionTestResult {
        status: TestStatus::Failed,
        stage: Some(stage),
        category: Some(category),
        http_status: None,
        message,
        elapsed_ms: 0,
        protocol_version: None,
        server_info: None,
        transport: Transport::StreamableHttp,
        tool_count: 0,
        tools: Vec::new(),
        tools_omitted: false,
        tool_changes: None,
    }
}

/// Runs a connection test of `url` with the credentials of `auth` (if any).
pub async fn run_test(
    state: &AppState,
    tenant_id: &str,
    url: &str,
    timeout_seconds: u64,
    auth: Option<&StoredAuthConfig>,
) -> ConnectionTestResult {
    let (result, closer) = run_test_then_close(state, tenant_id, url, timeout_seconds, auth).await;
    if let Some(closer) = closer {
        closer.close().await;
    }
    result
}

/// Like [`run_test`], handing back the session's closing step to run beside the store write.
async fn run_test_then_close(
    state: &AppState,
    tenant_id: &str,
    url: &str,
    timeout_seconds: u64,
    auth: Option<&StoredAuthConfig>,
) -> (ConnectionTestResult, Option<mcp::SessionCloser>) {
    let timeout = Duration::from_secs(timeout_seconds).min(mcp::MAX_SYNC_TEST);
    let Ok(url) = url::Url::parse(url) else {
        let result = failed_before_contact(
            Stage::Resolve,
            Category::Blocked,
            "The URL is not valid.".into(),
        );
        return (result, None);
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let outcome = with_credentials(
        state,
        tenant_id,
        auth,
        &url,
        deadline,
        |target: McpTarget| async move {
            let (result, closer) = mcp::test_connection_then_close(&state.http, &target).await;
            let refused = result.category == Some(Category::Unauthorized);
            (result, refused, closer)
        },
    )
    .await;
    match outcome {
        Ok((result, closer)) => (result, Some(closer)),
        Err(e) => (credential_failure(&e), None),
    }
}

/// Runs `op` against `url` with the auth config's credentials until `deadline`. When `op` says
/// the server refused an OAuth token (401/403), that token is replaced (refreshed, or fetched
/// again) and `op` runs once more; its first session is closed in the background.
pub(crate) async fn with_credentials<T, F, Fut>(
    state: &AppState,
    tenant_id: &str,
    auth: Option<&StoredAuthConfig>,
    url: &url::Url,
    deadline: tokio::time::Instant,
    mut op: F,
) -> Result<(T, mcp::SessionCloser), CredentialError>
where
    F: FnMut(McpTarget) -> Fut,
    Fut: std::future::Future<Output = (T, bool, mcp::SessionCloser)>,
{
    let mut rejected = None;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let credentials = match auth {
            None => credentials::Credentials::default(),
            Some(config) => {
                credentials::credential_headers(state, tenant_id, config, url, rejected, remaining)
                    .await?
            }
        };
        let target = McpTarget {
            url: url.clone(),
            headers: credentials.headers,
            timeout: remaining,
        };
        let (value, refused, closer) = op(target).await;
        if refused && rejected.is_none() && credentials.token_obtained_at.is_some() {
            rejected = credentials.token_obtained_at;
            beside(Some(closer), async {}).await;
            continue;
        }
        return Ok((value, closer));
    }
}

/// The connection test result when credentials could not be obtained.
fn credential_failure(e: &CredentialError) -> ConnectionTestResult {
    let category = match e {
        CredentialError::Token(crate::oauth::TokenError::Net(net)) => match net {
            crate::net::NetError::Blocked(_) => Category::Blocked,
            crate::net::NetError::Timeout => Category::Timeout,
            crate::net::NetError::Dns(_) => Category::Dns,
            _ => Category::Connect,
        },
        CredentialError::Internal(_) => Category::Protocol,
        _ => Category::Unauthorized,
    };
    let message = format!("Credentials could not be obtained: {e}.");
    failed_before_contact(Stage::Auth, category, message)
}

/// Does `work`, and ends the tested session without making the caller wait for it: the DELETE is
/// a courtesy to the server (bounded, outcome irrelevant), so it runs in the background. On Lambda
/// a background task may be paused between invocations; it then finishes on the next one.
pub(crate) async fn beside<T>(
    closer: Option<mcp::SessionCloser>,
    work: impl std::future::Future<Output = T>,
) -> T {
    if let Some(closer) = closer {
        tokio::spawn(closer.close());
    }
    work.await
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
    if !super::is_valid_id(id) {
        return Err(unknown());
    }
    let item = state
        .store
        .get(&tenant_pk(&principal.tenant_id), &auth_sk(id))
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
    (mut config, version, origin): (StoredAuthConfig, u64, String),
    doing: &str,
) -> Result<(StoredAuthConfig, u64), Error> {
    config.allowed_origins = vec![origin];
    let data = Body::of(&config).map_err(|e| Error::Internal(e.to_string()))?;
    let write = TxOp::Update {
        item: Item::new(tenant_pk(&principal.tenant_id), auth_sk(&config.id), data),
        expected_version: version,
    };
    match state.store.write(write).await {
        Ok(()) => Ok((config, version + 1)),
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
    (mut config, version): (StoredAuthConfig, u64),
) {
    config.allowed_origins = Vec::new();
    let Ok(data) = Body::of(&config) else {
        return;
    };
    let write = TxOp::Update {
        item: Item::new(tenant_pk(&principal.tenant_id), auth_sk(&config.id), data),
        expected_version: version,
    };
    if let Err(e) = state.store.write(write).await {
        tracing::warn!(auth_config_id = %config.id, error = %e, "unbinding after a failed test failed");
    }
}

/// Creates an MCP server config after a successful connection test.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    doc: Value,
) -> Result<McpServerView, Error> {
    let input = parse(doc, state.allow_insecure_http)?;
    let pk = tenant_pk(&principal.tenant_id);
    // The auth config: an existing one, or a new one prepared (validated, sealed) but not written.
    // A binding of an existing, unbound auth config to this server's origin, written with it.
    let mut binding = None;
    let (auth, new_auth_item) = match (&input.auth_config_id, input.auth_config.clone()) {
        (Some(id), _) => {
            let (config, version, ref_count) = load_auth_item(state, principal, id).await?;
            if let Some(origin) = super::destinations::check_attach(
                &config,
                &input.url,
                ref_count == 0,
                "auth_config_id",
            )? {
                binding = Some((config.clone(), version, origin));
            }
            (Some(config), None)
        }
        (None, Some(inline)) => {
            let prepared = auth_config::prepare_create(state, principal, inline)
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
            let mut item = prepared.item;
            item.ref_count = 1;
            let mut stored: StoredAuthConfig = item
                .data
                .read()
                .map_err(|e| Error::Internal(e.to_string()))?;
            // Inline secrets are entered for this server: its origin.
            if let Some(origin) =
                super::destinations::check_attach(&stored, &input.url, true, "auth_config")?
            {
                stored.allowed_origins = vec![origin];
                item.data = Body::of(&stored).map_err(|e| Error::Internal(e.to_string()))?;
            }
            (Some(stored), Some(item))
        }
        (None, None) => (None, None),
    };
    let timeout_seconds = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    super::limits::check(state, principal, super::limits::Action::ConnectionTest).await?;
    let bound = match binding {
        Some(binding) => Some(bind(state, principal, binding, "created").await?),
        None => None,
    };
    let (result, closer) = run_test_then_close(
        state,
        &principal.tenant_id,
        &input.url,
        timeout_seconds,
        auth.as_ref(),
    )
    .await;
    if result.status != TestStatus::Success {
        beside(closer, async {}).await;
        if let Some(bound) = bound {
            unbind(state, principal, bound).await;
        }
        return Err(Error::ConnectionTestFailed(Box::new(result)));
    }
    let id = new_id();
    let now = rfc3339(state.clock.now());
    let mut server = StoredMcpServer {
        id: id.clone(),
        name: input.name.trim().to_owned(),
        description: input.description,
        url: input.url,
        timeout_seconds,
        auth_config_id: auth.as_ref().map(|a| a.id.clone()),
        last_test: None,
        tools: Vec::new(),
        tool_snapshot: BTreeMap::new(),
        created_by: principal.user_id.clone(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    server.record_test(&result, &now);
    let data = server.body()?;
    // The binding was written before the test (an item takes one operation per transaction,
    // and the reference is counted below). Should the create fail now, the config stays bound
    // to the origin that just passed its test.
    let mut ops = Vec::new();
    let inline = new_auth_item.is_some();
    if let Some(item) = new_auth_item {
        ops.push(TxOp::Create(item));
    }
    ops.push(TxOp::Create(Item::new(pk.clone(), sk(&id), data)));
    if let (Some(auth_id), false) = (&server.auth_config_id, inline) {
        ops.push(TxOp::AdjustRefs {
            pk,
            sk: auth_sk(auth_id),
            delta: 1,
        });
    }
    // The records are written first, then the session's DELETE starts in the background: it
    // adds no latency and does not compete with the write for the CPU.
    let written = state.store.transact(ops).await;
    beside(closer, async {}).await;
    written.map_err(|e| match e {
        StoreError::ConditionFailed { .. } => Error::Conflict(
            "The auth config was deleted while the server was being created; retry.".into(),
        ),
        other => other.into(),
    })?;
    let mut view = server.view(1);
    view.connection_test_result = Some(result.fit_for_response());
    Ok(view)
}

/// Loads a server config and its version; another tenant's id is not found.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredMcpServer, u64), Error> {
    super::load_record(
        state,
        &principal.tenant_id,
        SK_PREFIX,
        id,
        "MCP server config",
    )
    .await
}

/// Reads one server config.
pub async fn get(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<McpServerView, Error> {
    let (server, version) = load(state, principal, id).await?;
    Ok(server.view(version))
}

/// Lists server configs, oldest first.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
) -> Result<Page<McpServerView>, Error> {
    super::list_records(
        state,
        &principal.tenant_id,
        SK_PREFIX,
        params,
        "MCP server config",
        |s: StoredMcpServer, v| s.view(v),
    )
    .await
}

/// Applies a JSON merge patch; a change of `url`, `timeout_seconds` or `auth_config_id` is tested
/// first and a failed test leaves the stored config unchanged (422).
pub async fn patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    merge_patch: Value,
    if_match: Option<u64>,
) -> Result<McpServerView, Error> {
    super::check_merge_patch(
        &merge_patch,
        &[
            "id",
            "version",
            "created_at",
            "updated_at",
            "tool_names",
            "last_test",
        ],
    )?;
    if merge_patch.get("auth_config").is_some() {
        return Err(Error::field(
            "auth_config",
            "inline auth configs are only accepted on create; create it and set auth_config_id",
        ));
    }
    super::patch_with_retries(
        state,
        &principal.tenant_id,
        id,
        &merge_patch,
        if_match,
        |stored: StoredMcpServer, version, doc| {
            apply_patch(state, principal, id, stored, version, doc)
        },
    )
    .await
}

/// One attempt of a PATCH on the record just read and merged (see
/// [`super::patch_with_retries`]).
async fn apply_patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    stored: StoredMcpServer,
    version: u64,
    doc: Value,
) -> Result<McpServerView, Error> {
    let input = parse(doc, state.allow_insecure_http)?;
    let timeout_seconds = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let mut server = stored.clone();
    server.name = input.name.trim().to_owned();
    server.description = input.description;
    server.updated_at = rfc3339(state.clock.now());
    let connection_changed = input.url != stored.url
        || timeout_seconds != stored.timeout_seconds
        || input.auth_config_id != stored.auth_config_id;
    let mut tested = None;
    let mut binding = None;
    if connection_changed {
        let auth = match &input.auth_config_id {
            Some(auth_id) => {
                let (config, version, ref_count) =
                    load_auth_item(state, principal, auth_id).await?;
                let same_auth = stored.auth_config_id.as_deref() == Some(auth_id.as_str());
                let moved = super::destinations::origin_of(&input.url)
                    != super::destinations::origin_of(&stored.url);
                // Its credentials already go to this origin: nothing to check. Moving the server
                // elsewhere binds nothing; attaching another config may bind an unused one.
                if !same_auth || moved {
                    let (may_bind, field) = if same_auth {
                        (false, "url")
                    } else {
                        (ref_count == 0, "auth_config_id")
                    };
                    if let Some(origin) =
                        super::destinations::check_attach(&config, &input.url, may_bind, field)?
                    {
                        binding = Some((config.clone(), version, origin));
                    }
                }
                Some(config)
            }
            None => None,
        };
        super::limits::check(state, principal, super::limits::Action::ConnectionTest).await?;
        let bound = match binding.take() {
            Some(binding) => Some(bind(state, principal, binding, "changed").await?),
            None => None,
        };
        let result = run_test(
            state,
            &principal.tenant_id,
            &input.url,
            timeout_seconds,
            auth.as_ref(),
        )
        .await;
        if result.status != TestStatus::Success {
            if let Some(bound) = bound {
                unbind(state, principal, bound).await;
            }
            return Err(Error::ConnectionTestFailed(Box::new(result)));
        }
        server.url = input.url;
        server.timeout_seconds = timeout_seconds;
        server.auth_config_id = input.auth_config_id;
        let now = server.updated_at.clone();
        server.record_test(&result, &now);
        tested = Some(result);
    }
    let pk = tenant_pk(&principal.tenant_id);
    let data = server.body()?;
    let mut ops = vec![TxOp::Update {
        item: Item::new(pk.clone(), sk(id), data),
        expected_version: version,
    }];
    if server.auth_config_id != stored.auth_config_id {
        if let Some(old) = &stored.auth_config_id {
            ops.push(TxOp::AdjustRefs {
                pk: pk.clone(),
                sk: auth_sk(old),
                delta: -1,
            });
        }
        if let Some(new) = &server.auth_config_id {
            ops.push(TxOp::AdjustRefs {
                pk,
                sk: auth_sk(new),
                delta: 1,
            });
        }
    }
    match state.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { index: 0 }) => return Err(Error::VersionRace),
        Err(StoreError::ConditionFailed { .. }) => {
            return Err(Error::Conflict(
                "The auth config was deleted while the server was being changed; retry.".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let mut view = server.view(version + 1);
    view.connection_test_result = tested.map(ConnectionTestResult::fit_for_response);
    Ok(view)
}

/// Deletes a server config unless an agent references it (409), releasing its auth config.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: &str,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let pk = tenant_pk(&principal.tenant_id);
    if !super::is_valid_id(id) {
        return Err(Error::NotFound("MCP server config"));
    }
    super::retry_lost_races("MCP server config", || async {
        let item = state
            .store
            .get(&pk, &sk(id))
            .await?
            .ok_or(Error::NotFound("MCP server config"))?;
        super::check_version("MCP server config", if_match, item.version)?;
        if item.ref_count > 0 {
            return Err(Error::Conflict(format!(
                "The MCP server config is used by {} agent(s); remove it from those first.",
                item.ref_count
            )));
        }
        let server: StoredMcpServer = item
            .data
            .read()
            .map_err(|e| Error::Internal(format!("stored MCP server: {e}")))?;
        let mut ops = vec![TxOp::Delete {
            pk: pk.clone(),
            sk: sk(id),
            condition: Condition::VersionUnreferenced(item.version),
        }];
        if let Some(auth_id) = &server.auth_config_id {
            ops.push(TxOp::AdjustRefs {
                pk: pk.clone(),
                sk: auth_sk(auth_id),
                delta: -1,
            });
        }
        match state.store.transact(ops).await {
            Ok(()) => Ok(()),
            // Changed or newly referenced meanwhile: the next attempt's read says which.
            Err(StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// Re-tests a stored server config, reports tool changes against the last successful test, and
/// stores the new result.
pub async fn retest(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ConnectionTestResult, Error> {
    let (stored, version) = load(state, principal, id).await?;
    let auth = match &stored.auth_config_id {
        Some(auth_id) => Some(auth_config::load(state, principal, auth_id).await?.0),
        None => None,
    };
    super::limits::check(state, principal, super::limits::Action::ConnectionTest).await?;
    let (mut result, closer) = run_test_then_close(
        state,
        &principal.tenant_id,
        &stored.url,
        stored.timeout_seconds,
        auth.as_ref(),
    )
    .await;
    if result.status == TestStatus::Success {
        result.tool_changes = Some(ToolChanges::between(&stored.tool_snapshot, &result.tools));
    }
    let mut server = stored;
    let now = rfc3339(state.clock.now());
    server.record_test(&result, &now);
    let data = server.body()?;
    let write = beside(
        closer,
        state.store.write(TxOp::Update {
            item: Item::new(tenant_pk(&principal.tenant_id), sk(id), data),
            expected_version: version,
        }),
    )
    .await;
    match write {
        // A concurrent edit wins; the result is still reported.
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(result.fit_for_response()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    /// Handlers run on a multi-threaded runtime: these futures must be `Send`.
    #[allow(dead_code, unreachable_code, clippy::diverging_sub_expression)]
    fn futures_are_send(state: &crate::AppState, principal: &crate::api::Principal) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&super::create(state, principal, serde_json::Value::Null));
        is_send(&super::patch(
            state,
            principal,
            "",
            serde_json::Value::Null,
            None,
        ));
        is_send(&super::retest(state, principal, ""));
    }

    fn tested_server(tools: Vec<super::ToolInfo>) -> super::StoredMcpServer {
        let mut server = super::StoredMcpServer {
            id: "00000000-0000-7000-8000-000000000001".into(),
            name: "s".into(),
            description: None,
            url: "https://mcp.example/mcp".into(),
            timeout_seconds: 10,
            auth_config_id: None,
            last_test: None,
            tools: Vec::new(),
            tool_snapshot: std::collections::BTreeMap::new(),
            created_by: "u".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        let result = crate::mcp::ConnectionTestResult {
            status: super::TestStatus::Success,
            stage: None,
            category: None,
            http_status: None,
            message: "ok".into(),
            elapsed_ms: 1,
            protocol_version: None,
            server_info: None,
            transport: super::Transport::StreamableHttp,
            tool_count: tools.len(),
            tools,
            tools_omitted: false,
            tool_changes: None,
        };
        server.record_test(&result, "2026-01-01T00:00:01Z");
        server
    }

    fn tool(name: &str, description: String) -> super::ToolInfo {
        super::ToolInfo {
            name: name.into(),
            title: None,
            description: Some(description),
            input_schema: serde_json::value::RawValue::from_string(r#"{"type":"object"}"#.into())
                .unwrap(),
        }
    }

    #[test]
    fn a_record_keeps_its_tools_while_its_body_is_within_the_cap() {
        let mut server = tested_server(vec![tool("echo", "Echoes".into())]);
        let body = server.body().unwrap();
        let read: super::StoredMcpServer = body.read().unwrap();
        assert_eq!(read.tools, server.tools);
        assert_eq!(read.tools.len(), 1);
        assert_eq!(read.tool_snapshot.len(), 1);
    }

    #[test]
    fn a_record_over_the_cap_keeps_fingerprints_but_not_tools() {
        let big = "x".repeat(super::MAX_RECORD_BYTES / 2);
        let mut server = tested_server(vec![tool("a", big.clone()), tool("b", big)]);
        let body = server.body().unwrap();
        assert!(body.len() <= super::MAX_RECORD_BYTES, "{}", body.len());
        let read: super::StoredMcpServer = body.read().unwrap();
        assert!(read.tools.is_empty());
        assert_eq!(
            read.tool_snapshot.keys().collect::<Vec<_>>(),
            ["a", "b"],
            "fingerprints stay for tool_changes"
        );
    }
}
