//! Agents: a prompt, the LLM config it runs on, the MCP server configs whose tools it may use
//! (optionally narrowed by a per-server `tool_allowlist` of names and `prefix*` globs) and the
//! JSON Schema (draft 2020-12) of its input; a `read_only` agent uses only tools annotated
//! read-only.
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

use crate::model::{
    llm_config::StoredLlmConfig,
    mcp_server::StoredMcpServer,
    resource::{self, Built, Change, Meta, Principal, Resource, sk},
    tenant_pk,
    validate::Checker,
};
use crate::{AppState, Error, error::FieldError};
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
    #[schema(value_type = Option<Object>)]
    pub input_json_schema: Option<Value>,
    /// Per server config id: the tool names (or `prefix*` globs) the agent may use; a server
    /// without an entry offers all its tools.
    pub tool_allowlist: Option<BTreeMap<String, Vec<String>>>,
    /// Only tools annotated read-only (`readOnlyHint: true`) are offered and may be called
    /// (default `false`).
    #[serde(default)]
    pub read_only: bool,
}

/// An agent as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAgent {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
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
    /// Only read-only tools.
    #[serde(default)]
    pub read_only: bool,
}

/// An agent as returned by the API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// System prompt.
    pub prompt: String,
    /// The LLM config.
    pub llm_config_id: String,
    /// The MCP server configs.
    pub mcp_server_config_ids: Vec<String>,
    /// Input schema.
    #[schema(value_type = Option<Object>)]
    pub input_json_schema: Option<Value>,
    /// Allowed tools per server config.
    pub tool_allowlist: Option<BTreeMap<String, Vec<String>>>,
    /// Only tools annotated read-only are offered and may be called.
    pub read_only: bool,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
}

impl Resource for StoredAgent {
    const SK_PREFIX: &'static str = "AGENT#";
    const WHAT: &'static str = "agent";
    type Input = AgentInput;
    type View = AgentView;
    type Outcome = ();

    fn view(&self, version: u64) -> AgentView {
        AgentView {
            meta: self.meta.clone(),
            prompt: self.prompt.clone(),
            llm_config_id: self.llm_config_id.clone(),
            mcp_server_config_ids: self.mcp_server_config_ids.clone(),
            input_json_schema: self.input_json_schema.clone(),
            tool_allowlist: self.tool_allowlist.clone(),
            read_only: self.read_only,
            version,
        }
    }

    /// Checks formats only: whether the referenced configs exist is decided by the write, which
    /// counts the references in the same transaction.
    async fn build(
        _state: &AppState,
        _principal: &Principal,
        _id: &str,
        doc: Value,
        _change: Change<'_, Self>,
    ) -> Result<Built<Self>, Error> {
        let input = resource::parse_document(doc)?;
        validate_input(input).map(Built::record)
    }

    /// The LLM config and every MCP server config.
    fn references(&self) -> BTreeSet<String> {
        std::iter::once(sk::<StoredLlmConfig>(&self.llm_config_id))
            .chain(
                self.mcp_server_config_ids
                    .iter()
                    .map(|id| sk::<StoredMcpServer>(id)),
            )
            .collect()
    }

    /// Which references are missing, as field errors (none: a concurrent change, 409).
    async fn missing_references(state: &AppState, principal: &Principal, agent: &Self) -> Error {
        let pk = tenant_pk(&principal.tenant_id);
        let wanted = std::iter::once((
            "llm_config_id".to_owned(),
            "LLM config",
            sk::<StoredLlmConfig>(&agent.llm_config_id),
            &agent.llm_config_id,
        ))
        .chain(
            agent
                .mcp_server_config_ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    (
                        format!("mcp_server_config_ids[{i}]"),
                        "MCP server config",
                        sk::<StoredMcpServer>(id),
                        id,
                    )
                }),
        );
        let mut errors = Vec::new();
        for (field, what, sk, id) in wanted {
            match state.store.get(&pk, &sk).await {
                Ok(None) => errors.push(FieldError::new(
                    field,
                    format!("no {what} {id} in this tenant"),
                )),
                Ok(Some(_)) => {}
                Err(e) => return e.into(),
            }
        }
        if errors.is_empty() {
            Error::Conflict(
                "A referenced config or the agent changed meanwhile; read them again and retry."
                    .into(),
            )
        } else {
            Error::UnknownReferences(errors)
        }
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

/// Checks `input` (formats only).
fn validate_input(input: AgentInput) -> Result<StoredAgent, Error> {
    let mut c = Checker::default();
    c.name_and_description(&input.name, input.description.as_deref());
    if input.prompt.trim().is_empty() {
        c.check("prompt", Err("must not be empty".into()));
    } else if input.prompt.chars().count() > MAX_PROMPT_CHARS {
        c.check(
            "prompt",
            Err(format!("must be at most {MAX_PROMPT_CHARS} characters")),
        );
    }
    if !crate::model::is_valid_id(&input.llm_config_id) {
        c.check("llm_config_id", Err("is not an LLM config id".into()));
    }
    if input.mcp_server_config_ids.len() > MAX_SERVERS {
        c.check(
            "mcp_server_config_ids",
            Err(format!(
                "must name at most {MAX_SERVERS} MCP server configs"
            )),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, id) in input.mcp_server_config_ids.iter().enumerate() {
        let field = format!("mcp_server_config_ids[{i}]");
        if !crate::model::is_valid_id(id) {
            c.check(field, Err("is not an MCP server config id".into()));
        } else if !seen.insert(id.as_str()) {
            c.check(field, Err("is named twice".into()));
        }
    }
    if let Some(schema) = &input.input_json_schema {
        c.check("input_json_schema", check_schema(schema));
    }
    for (server, patterns) in input.tool_allowlist.iter().flatten() {
        let field = format!("tool_allowlist.{server}");
        if !seen.contains(server.as_str()) {
            c.check(&field, Err("is not one of mcp_server_config_ids".into()));
        }
        if patterns.len() > MAX_ALLOWLIST_ENTRIES {
            c.check(
                &field,
                Err(format!("must have at most {MAX_ALLOWLIST_ENTRIES} entries")),
            );
        }
        for (i, pattern) in patterns.iter().enumerate() {
            c.check(format!("{field}[{i}]"), check_tool_pattern(pattern));
        }
    }
    c.finish(())?;
    Ok(StoredAgent {
        meta: Meta::named(&input.name, input.description),
        prompt: input.prompt,
        llm_config_id: input.llm_config_id,
        mcp_server_config_ids: input.mcp_server_config_ids,
        input_json_schema: input.input_json_schema,
        tool_allowlist: input.tool_allowlist,
        read_only: input.read_only,
    })
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

crate::model::resource::record!(StoredAgent => AgentView);
