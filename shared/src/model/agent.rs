//! Agents: a prompt, the LLM config it runs on, the MCP server configs whose tools it may use
//! (optionally narrowed by a per-server `tool_allowlist` of names and `prefix*` globs) and the
//! JSON Schema (draft 2020-12) of its input.
//!
//! References are counted in the same transaction that writes the agent: creating one increments
//! the `ref_count` of every referenced config (which fails if one does not exist), a PATCH moves
//! the counts from the old references to the new ones, a delete decrements them. Deleting a
//! referenced config requires `ref_count = 0` at the moment of the delete, so an agent can never
//! point at a deleted config, however create and delete race.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{llm_config, mcp_server, new_id, rfc3339, tenant_pk, validate};
use crate::{
    AppState, Error,
    api::{ListParams, Page, Principal},
    error::FieldError,
    store::{Body, Condition, Item, StoreError, TxOp},
};

/// Sort-key prefix of agents.
const SK_PREFIX: &str = "AGENT#";
const WHAT: &str = "agent";
/// Most MCP server configs one agent may use.
pub const MAX_SERVERS: usize = 20;
/// Longest prompt, in characters: at most 200 KB of UTF-8, so that with a 64 KiB input schema an
/// agent record stays well under DynamoDB's 400 KB item limit.
pub const MAX_PROMPT_CHARS: usize = 50_000;
/// Largest `input_json_schema`, serialized.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Most allowlist entries per server.
pub const MAX_ALLOWLIST_ENTRIES: usize = 200;
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Body of `POST /config/agent` (and the result of applying a merge patch).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    /// Display name (1 to 200 characters, not only spaces, no control characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// System prompt (1 to 50,000 characters).
    #[schema(min_length = 1, max_length = 50_000)]
    pub prompt: String,
    /// The LLM config the agent runs on.
    #[schema(format = Uuid)]
    pub llm_config_id: String,
    /// MCP server configs whose tools the agent may call (at most 20, no duplicates).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub mcp_server_config_ids: Vec<String>,
    /// JSON Schema (draft 2020-12) of the agent's input.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub input_json_schema: Option<Value>,
    /// Per server config id: the tool names (or `prefix*` globs) the agent may use; a server
    /// without an entry offers all its tools.
    #[serde(default)]
    pub tool_allowlist: Option<BTreeMap<String, Vec<String>>>,
}

/// An agent as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAgent {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// System prompt.
    pub prompt: String,
    /// The LLM config.
    pub llm_config_id: String,
    /// The MCP server configs.
    pub mcp_server_config_ids: Vec<String>,
    /// Input schema.
    pub input_json_schema: Option<Value>,
    /// Allowed tools per server config.
    pub tool_allowlist: Option<BTreeMap<String, Vec<String>>>,
    /// Creator's user id.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An agent as returned by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// System prompt.
    pub prompt: String,
    /// The LLM config.
    pub llm_config_id: String,
    /// The MCP server configs.
    pub mcp_server_config_ids: Vec<String>,
    /// Input schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input_json_schema: Option<Value>,
    /// Allowed tools per server config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_allowlist: Option<BTreeMap<String, Vec<String>>>,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
    /// Creator's user id.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl StoredAgent {
    fn view(&self, version: u64) -> AgentView {
        AgentView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            prompt: self.prompt.clone(),
            llm_config_id: self.llm_config_id.clone(),
            mcp_server_config_ids: self.mcp_server_config_ids.clone(),
            input_json_schema: self.input_json_schema.clone(),
            tool_allowlist: self.tool_allowlist.clone(),
            version,
            created_by: self.created_by.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// The sort keys of every config this agent references (each once).
    fn references(&self) -> BTreeSet<String> {
        std::iter::once(format!("{}{}", llm_config::SK_PREFIX, self.llm_config_id))
            .chain(
                self.mcp_server_config_ids
                    .iter()
                    .map(|id| format!("{}{id}", mcp_server::SK_PREFIX)),
            )
            .collect()
    }
}

impl super::EditableRecord for StoredAgent {
    const SK_PREFIX: &'static str = SK_PREFIX;
    const WHAT: &'static str = WHAT;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "prompt",
        "llm_config_id",
        "mcp_server_config_ids",
        "input_json_schema",
        "tool_allowlist",
    ];

    fn editable(&self) -> Value {
        let mut doc = serde_json::json!({
            "name": self.name,
            "prompt": self.prompt,
            "llm_config_id": self.llm_config_id,
            "mcp_server_config_ids": self.mcp_server_config_ids,
        });
        if let Some(d) = &self.description {
            doc["description"] = Value::from(d.clone());
        }
        if let Some(schema) = &self.input_json_schema {
            doc["input_json_schema"] = schema.clone();
        }
        if let Some(allowlist) = &self.tool_allowlist {
            doc["tool_allowlist"] = serde_json::to_value(allowlist).unwrap_or_default();
        }
        doc
    }
}

/// Whether `pattern` is a tool name or a `prefix*` glob.
fn check_tool_pattern(pattern: &str) -> Result<(), String> {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.is_empty() || pattern.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
    {
        return Err(
            "must be a tool name (letters, digits, _ - . /), optionally ending in * as a prefix glob"
                .into(),
        );
    }
    Ok(())
}

/// Whether `tool` is allowed by `patterns` (exact names and `prefix*` globs).
pub fn tool_allowed(patterns: &[String], tool: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => p == tool,
    })
}

/// Checks an input schema: a JSON object (or boolean) of at most [`MAX_SCHEMA_BYTES`] that is a
/// valid draft 2020-12 schema whose references all resolve locally (nothing is fetched).
fn check_schema(schema: &Value) -> Result<(), String> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Err("must be a JSON Schema: an object or a boolean".into());
    }
    if serde_json::to_vec(schema).map_or(usize::MAX, |v| v.len()) > MAX_SCHEMA_BYTES {
        return Err(format!("must be at most {MAX_SCHEMA_BYTES} bytes"));
    }
    if let Some(declared) = schema.get("$schema") {
        let declared = declared.as_str().unwrap_or_default().trim_end_matches('#');
        if declared != DRAFT_2020_12 {
            return Err(format!(
                "must be a draft 2020-12 schema (\"$schema\": \"{DRAFT_2020_12}\" or none)"
            ));
        }
    }
    jsonschema::draft202012::new(schema)
        .map(|_| ())
        .map_err(|e| {
            let mut message: String = format!("is not a valid JSON Schema: {e}")
                .chars()
                .take(300)
                .collect();
            let path = e.schema_path().to_string();
            if !path.is_empty() {
                message.push_str(&format!(" (at {path})"));
            }
            message
        })
}

/// Checks `input` (formats only: whether the referenced ids exist is decided by the write).
fn validate_input(input: AgentInput) -> Result<StoredAgent, Error> {
    let mut errors = Vec::new();
    let mut check = |field: String, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };
    check("name".into(), validate::text(&input.name, 200));
    if let Some(d) = &input.description {
        if d.chars().count() > 2000 {
            check(
                "description".into(),
                Err("must be at most 2000 characters".into()),
            );
        }
    }
    if input.prompt.trim().is_empty() {
        check("prompt".into(), Err("must not be empty".into()));
    } else if input.prompt.chars().count() > MAX_PROMPT_CHARS {
        check(
            "prompt".into(),
            Err(format!("must be at most {MAX_PROMPT_CHARS} characters")),
        );
    }
    if !super::is_valid_id(&input.llm_config_id) {
        check(
            "llm_config_id".into(),
            Err("is not an LLM config id".into()),
        );
    }
    if input.mcp_server_config_ids.len() > MAX_SERVERS {
        check(
            "mcp_server_config_ids".into(),
            Err(format!(
                "must name at most {MAX_SERVERS} MCP server configs"
            )),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, id) in input.mcp_server_config_ids.iter().enumerate() {
        let field = format!("mcp_server_config_ids[{i}]");
        if !super::is_valid_id(id) {
            check(field, Err("is not an MCP server config id".into()));
        } else if !seen.insert(id.as_str()) {
            check(field, Err("is named twice".into()));
        }
    }
    if let Some(schema) = &input.input_json_schema {
        check("input_json_schema".into(), check_schema(schema));
    }
    if let Some(allowlist) = &input.tool_allowlist {
        for (server, patterns) in allowlist {
            let field = format!("tool_allowlist.{server}");
            if !seen.contains(server.as_str()) {
                check(
                    field.clone(),
                    Err("is not one of mcp_server_config_ids".into()),
                );
            }
            if patterns.len() > MAX_ALLOWLIST_ENTRIES {
                check(
                    field.clone(),
                    Err(format!("must have at most {MAX_ALLOWLIST_ENTRIES} entries")),
                );
            }
            for (i, pattern) in patterns.iter().enumerate() {
                check(format!("{field}[{i}]"), check_tool_pattern(pattern));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(StoredAgent {
        id: String::new(),
        name: input.name.trim().to_owned(),
        description: input.description,
        prompt: input.prompt,
        llm_config_id: input.llm_config_id,
        mcp_server_config_ids: input.mcp_server_config_ids,
        input_json_schema: input.input_json_schema,
        tool_allowlist: input.tool_allowlist,
        created_by: String::new(),
        created_at: String::new(),
        updated_at: String::new(),
    })
}

fn sk(id: &str) -> String {
    format!("{SK_PREFIX}{id}")
}

/// After a transaction failed on a reference: which of `agent`'s references are missing, as
/// field errors (none means a concurrent change, answered 409).
async fn missing_references(state: &AppState, tenant_id: &str, agent: &StoredAgent) -> Error {
    let pk = tenant_pk(tenant_id);
    let mut errors = Vec::new();
    let llm_sk = format!("{}{}", llm_config::SK_PREFIX, agent.llm_config_id);
    match state.store.get(&pk, &llm_sk).await {
        Ok(None) => errors.push(FieldError::new(
            "llm_config_id",
            format!("no LLM config {} in this tenant", agent.llm_config_id),
        )),
        Ok(Some(_)) => {}
        Err(e) => return e.into(),
    }
    for (i, id) in agent.mcp_server_config_ids.iter().enumerate() {
        let server_sk = format!("{}{id}", mcp_server::SK_PREFIX);
        match state.store.get(&pk, &server_sk).await {
            Ok(None) => errors.push(FieldError::new(
                format!("mcp_server_config_ids[{i}]"),
                format!("no MCP server config {id} in this tenant"),
            )),
            Ok(Some(_)) => {}
            Err(e) => return e.into(),
        }
    }
    if errors.is_empty() {
        Error::Conflict(
            "A referenced config or the agent changed meanwhile; read them again and retry.".into(),
        )
    } else {
        Error::UnknownReferences(errors)
    }
}

fn adjust(pk: &str, sks: impl IntoIterator<Item = String>, delta: i64) -> Vec<TxOp> {
    sks.into_iter()
        .map(|sk| TxOp::AdjustRefs {
            pk: pk.to_owned(),
            sk,
            delta,
        })
        .collect()
}

/// Creates an agent; every referenced config must exist in the caller's tenant (404 naming the
/// missing ones otherwise, nothing written).
pub async fn create(
    state: &AppState,
    principal: &Principal,
    doc: Value,
) -> Result<AgentView, Error> {
    let input: AgentInput = super::parse_document(doc)?;
    let mut agent = validate_input(input)?;
    let id = new_id();
    let now = rfc3339(state.clock.now());
    agent.id.clone_from(&id);
    agent.created_by.clone_from(&principal.user_id);
    agent.created_at.clone_from(&now);
    agent.updated_at = now;
    let pk = tenant_pk(&principal.tenant_id);
    let data = Body::of(&agent).map_err(|e| Error::Internal(e.to_string()))?;
    let mut ops = vec![TxOp::Create(Item::new(pk.clone(), sk(&id), data))];
    ops.extend(adjust(&pk, agent.references(), 1));
    match state.store.transact(ops).await {
        Ok(()) => Ok(agent.view(1)),
        Err(StoreError::ConditionFailed { .. }) => {
            Err(missing_references(state, &principal.tenant_id, &agent).await)
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads one agent of the caller's tenant and its version.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredAgent, u64), Error> {
    super::load_record(state, &principal.tenant_id, SK_PREFIX, id, WHAT).await
}

/// Reads one agent.
pub async fn get(state: &AppState, principal: &Principal, id: &str) -> Result<AgentView, Error> {
    let (agent, version) = load(state, principal, id).await?;
    Ok(agent.view(version))
}

/// Lists the tenant's agents, oldest first.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
) -> Result<Page<AgentView>, Error> {
    super::list_records(
        state,
        &principal.tenant_id,
        SK_PREFIX,
        params,
        WHAT,
        |agent: StoredAgent, version| agent.view(version),
    )
    .await
}

/// Applies a JSON merge patch; reference counts move from the old references to the new ones in
/// the same transaction.
pub async fn patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    merge_patch: Value,
    if_match: Option<u64>,
) -> Result<AgentView, Error> {
    super::check_merge_patch(
        &merge_patch,
        &["id", "version", "created_by", "created_at", "updated_at"],
    )?;
    super::patch_with_retries(
        state,
        &principal.tenant_id,
        id,
        &merge_patch,
        if_match,
        |stored: StoredAgent, version, doc| apply_patch(state, principal, id, stored, version, doc),
    )
    .await
}

/// One attempt of a PATCH on the record just read and merged (see
/// [`super::patch_with_retries`]).
async fn apply_patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    stored: StoredAgent,
    version: u64,
    doc: Value,
) -> Result<AgentView, Error> {
    let input: AgentInput = super::parse_document(doc)?;
    let mut agent = validate_input(input)?;
    agent.id.clone_from(&stored.id);
    agent.created_by.clone_from(&stored.created_by);
    agent.created_at.clone_from(&stored.created_at);
    agent.updated_at = rfc3339(state.clock.now());
    let pk = tenant_pk(&principal.tenant_id);
    let data = Body::of(&agent).map_err(|e| Error::Internal(e.to_string()))?;
    let (old, new) = (stored.references(), agent.references());
    let mut ops = vec![TxOp::Update {
        item: Item::new(pk.clone(), sk(id), data),
        expected_version: version,
    }];
    ops.extend(adjust(&pk, new.difference(&old).cloned(), 1));
    ops.extend(adjust(&pk, old.difference(&new).cloned(), -1));
    match state.store.transact(ops).await {
        Ok(()) => Ok(agent.view(version + 1)),
        Err(StoreError::ConditionFailed { index: 0 }) => Err(Error::VersionRace),
        Err(StoreError::ConditionFailed { .. }) => {
            Err(missing_references(state, &principal.tenant_id, &agent).await)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes an agent and releases its references.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: &str,
    if_match: Option<u64>,
) -> Result<(), Error> {
    super::retry_lost_races(WHAT, || async {
        let (agent, version) = load(state, principal, id).await?;
        super::check_version(WHAT, if_match, version)?;
        let pk = tenant_pk(&principal.tenant_id);
        let mut ops = vec![TxOp::Delete {
            pk: pk.clone(),
            sk: sk(id),
            condition: Condition::Version(version),
        }];
        ops.extend(adjust(&pk, agent.references(), -1));
        match state.store.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn allowlists_match_names_and_prefix_globs() {
        let patterns = vec!["echo".to_owned(), "get-*".to_owned()];
        assert!(tool_allowed(&patterns, "echo"));
        assert!(tool_allowed(&patterns, "get-env"));
        assert!(!tool_allowed(&patterns, "echo2"));
        assert!(!tool_allowed(&patterns, "add"));
        assert!(check_tool_pattern("get-*").is_ok());
        assert!(check_tool_pattern("a*b").is_err());
        assert!(check_tool_pattern("").is_err());
    }

    #[test]
    fn schemas_must_be_valid_draft_2020_12() {
        assert!(
            check_schema(&json!({"type": "object", "properties": {"q": {"type": "string"}}}))
                .is_ok()
        );
        assert!(check_schema(&json!(true)).is_ok());
        assert!(check_schema(&json!("object")).is_err());
        let bad_type = check_schema(&json!({"type": "strnig"})).unwrap_err();
        assert!(bad_type.contains("not a valid JSON Schema"), "{bad_type}");
        assert!(
            check_schema(&json!({"$schema": "http://json-schema.org/draft-07/schema#"})).is_err()
        );
        assert!(check_schema(&json!({"$schema": DRAFT_2020_12, "minimum": 1})).is_ok());
        let remote = check_schema(&json!({"$ref": "https://example.com/schema.json"}));
        assert!(remote.is_err(), "remote references are not fetched");
    }
}
