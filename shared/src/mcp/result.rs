//! The `connection_test_result` of the API contract (DESIGN §2): what a connection test found, with
//! every failure classified by the stage it happened in and a category a user can act on. Nothing in
//! it is copied from the upstream response (no body, header or secret): messages are ours.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Outcome of a connection test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TestStatus {
    /// initialize and tools/list succeeded.
    Success,
    /// Something failed; `stage`, `category` and `message` say what.
    Failed,
}

/// Where a connection test failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Checking the URL and resolving the host.
    Resolve,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Getting credentials (token request, stored token, secret reference).
    Auth,
    /// The `initialize` exchange.
    Initialize,
    /// `tools/list`.
    ListTools,
    /// `tools/call` (tool calls only).
    CallTool,
}

/// What kind of failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The host name does not resolve.
    Dns,
    /// No TCP connection.
    Connect,
    /// TLS failed (certificate, protocol).
    Tls,
    /// The deadline passed.
    Timeout,
    /// An unexpected HTTP status.
    HttpStatus,
    /// 401/403: credentials missing or refused.
    Unauthorized,
    /// The server does not speak MCP (HTML, wrong content type, not JSON-RPC).
    NotMcp,
    /// The server speaks MCP but broke the protocol (bad JSON-RPC, error replies, pagination loops).
    Protocol,
    /// The URL or an address it resolves or redirects to is not allowed.
    Blocked,
    /// A message exceeded the size cap.
    TooLarge,
}

/// Which MCP transport answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Streamable HTTP (MCP 2025-03-26 and later).
    StreamableHttp,
    /// The legacy HTTP+SSE transport (MCP 2024-11-05).
    Sse,
}

/// A tool as listed by the server.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ToolInfo {
    /// Tool name.
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of the arguments (an object), kept as the server's JSON text: stored and
    /// returned without being rebuilt, parsed only to fingerprint it or to check arguments.
    #[schema(value_type = Object)]
    pub input_schema: Box<RawValue>,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, …) as the server sent them.
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Box<RawValue>>,
    /// JSON Schema of the tool's `structuredContent`, as the server sent it. Passed on to
    /// clients, not part of what approval pins (the fingerprint): it describes what comes back,
    /// not what the model is asked to send.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Box<RawValue>>,
}

/// Equal when name, title, description, annotations and the schema's text are equal.
impl PartialEq for ToolInfo {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.title == other.title
            && self.description == other.description
            && self.input_schema.get() == other.input_schema.get()
            && self.annotations.as_ref().map(|a| a.get())
                == other.annotations.as_ref().map(|a| a.get())
    }
}

impl ToolInfo {
    /// A stable hash of what a caller depends on: description, input schema and, when the
    /// server sends them, annotations (canonical JSON streamed straight into the hasher, so key
    /// order and spacing do not count; a tool without annotations hashes as before they were
    /// counted).
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.description.as_deref().unwrap_or_default().as_bytes());
        hasher.update([0]);
        match serde_json::from_str(self.input_schema.get()) {
            Ok(schema) => write_canonical(&schema, &mut HashWriter(&mut hasher)),
            // Unreachable for text that came through serde_json; hash it as it is.
            Err(_) => hasher.update(self.input_schema.get().as_bytes()),
        }
        if let Some(annotations) = &self.annotations {
            hasher.update([1]);
            match serde_json::from_str(annotations.get()) {
                Ok(value) => write_canonical(&value, &mut HashWriter(&mut hasher)),
                Err(_) => hasher.update(annotations.get().as_bytes()),
            }
        }
        hex::encode(&hasher.finalize()[..16])
    }
}

/// Feeds whatever is written into a SHA-256.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// JSON with object keys sorted, so equal schemas hash equally whatever their key order: compact
/// `serde_json` output.
#[cfg(test)]
fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The SHA-256 of `value` as canonical JSON (compact, object keys sorted), in hex: equal for
/// equal values whatever their key order.
pub fn canonical_digest(value: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    write_canonical(value, &mut HashWriter(&mut hasher));
    hex::encode(hasher.finalize())
}

/// Writes `value` as canonical JSON (compact, object keys sorted) into `out`. The writers used here
/// (a buffer, a hasher) cannot fail, so write results are ignored.
fn write_canonical(value: &serde_json::Value, out: &mut impl std::io::Write) {
    match value {
        serde_json::Value::Object(map) => {
            // serde_json's map iterates in key order (no `preserve_order`); sort if it ever
            // does not.
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            let _ = out.write_all(b"{");
            for (n, (key, item)) in entries.into_iter().enumerate() {
                if n > 0 {
                    let _ = out.write_all(b",");
                }
                let _ = serde_json::to_writer(&mut *out, key);
                let _ = out.write_all(b":");
                write_canonical(item, out);
            }
            let _ = out.write_all(b"}");
        }
        serde_json::Value::Array(items) => {
            let _ = out.write_all(b"[");
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    let _ = out.write_all(b",");
                }
                write_canonical(item, out);
            }
            let _ = out.write_all(b"]");
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

impl ConnectionTestResult {
    /// The result without its tool list and tool changes (what a config keeps of its last test),
    /// copied without cloning the tools.
    pub fn without_tools(&self) -> Self {
        Self {
            status: self.status,
            stage: self.stage,
            category: self.category,
            http_status: self.http_status,
            message: self.message.clone(),
            elapsed_ms: self.elapsed_ms,
            protocol_version: self.protocol_version.clone(),
            server_info: self.server_info.clone(),
            transport: self.transport,
            tool_count: self.tool_count,
            tools: Vec::new(),
            tools_omitted: false,
            tool_changes: None,
            reauthorization: self.reauthorization.clone(),
            challenge: None,
        }
    }

    /// The result as an API answer: the tools are left out (`tools_omitted`) when together they
    /// exceed [`RESPONSE_TOOL_BYTES`], so the answer fits a Lambda response (6 MB).
    pub fn fit_for_response(mut self) -> Self {
        let bytes: usize = self
            .tools
            .iter()
            .map(|t| {
                t.name.len()
                    + t.title.as_ref().map_or(0, String::len)
                    + t.description.as_ref().map_or(0, String::len)
                    + t.input_schema.get().len()
                    + t.annotations.as_ref().map_or(0, |a| a.get().len())
            })
            .sum();
        if bytes > RESPONSE_TOOL_BYTES {
            self.tools = Vec::new();
            self.tools_omitted = true;
        }
        self
    }
}

/// Most tool metadata an API answer carries (the rest of the answer and JSON escaping stay well
/// within the 6 MB a Lambda may return).
pub const RESPONSE_TOOL_BYTES: usize = 4 * 1024 * 1024;

/// Differences between two tool lists, by name and fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToolChanges {
    /// Tools that are new.
    pub added: Vec<String>,
    /// Tools that are gone.
    pub removed: Vec<String>,
    /// Tools whose description or input schema changed.
    pub changed: Vec<String>,
}

impl ToolChanges {
    /// Compares `before` (name → fingerprint) with the tools found now.
    pub fn between(before: &std::collections::BTreeMap<String, String>, now: &[ToolInfo]) -> Self {
        let now_map: std::collections::BTreeMap<&str, String> = now
            .iter()
            .map(|t| (t.name.as_str(), t.fingerprint()))
            .collect();
        Self {
            added: now_map
                .keys()
                .filter(|n| !before.contains_key(**n))
                .map(|n| (*n).to_owned())
                .collect(),
            removed: before
                .keys()
                .filter(|n| !now_map.contains_key(n.as_str()))
                .cloned()
                .collect(),
            changed: now_map
                .iter()
                .filter(|(n, fp)| before.get(**n).is_some_and(|old| old != *fp))
                .map(|(n, _)| (*n).to_owned())
                .collect(),
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Identification the server sent in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
}

/// The result of one connection test.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionTestResult {
    /// SUCCESS or FAILED.
    pub status: TestStatus,
    /// Where it failed (absent on success).
    pub stage: Option<Stage>,
    /// What kind of failure (absent on success).
    pub category: Option<Category>,
    /// The unexpected HTTP status, if one was the cause.
    pub http_status: Option<u16>,
    /// A diagnosis in our words.
    pub message: String,
    /// How long the test took.
    pub elapsed_ms: u64,
    /// Protocol version agreed in `initialize`.
    pub protocol_version: Option<String>,
    /// Server identification from `initialize`.
    pub server_info: Option<ServerInfo>,
    /// The transport that answered (or was tried last).
    pub transport: Transport,
    /// Number of tools.
    pub tool_count: usize,
    /// The tools.
    pub tools: Vec<ToolInfo>,
    /// True when the tools were left out of this answer because together they exceed
    /// [`RESPONSE_TOOL_BYTES`] (every answer must fit a Lambda response); `tool_count` and the
    /// server config's `tool_names` still tell them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tools_omitted: bool,
    /// Changes against the previous snapshot (re-tests only).
    pub tool_changes: Option<ToolChanges>,
    /// When the server refused the auth config's token for a reason only a user can remedy:
    /// what to do.
    pub reauthorization: Option<Reauthorization>,
    /// The `WWW-Authenticate` challenge of a 401 or 403 (kept for discovery, never shown).
    #[serde(skip)]
    #[schema(ignore)]
    pub challenge: Option<String>,
}

impl ConnectionTestResult {
    /// A success over `transport`: the server's `tools` (none left out yet).
    pub fn success(transport: Transport, elapsed_ms: u64, tools: Vec<ToolInfo>) -> Self {
        let message = format!("Connected; {} tool(s) available.", tools.len());
        Self {
            tool_count: tools.len(),
            tools,
            ..Self::found_nothing(TestStatus::Success, message, transport, elapsed_ms)
        }
    }

    /// A failure at `stage` of `category`, with nothing found: no server, no tools.
    pub fn failed(
        stage: Stage,
        category: Category,
        message: String,
        transport: Transport,
        elapsed_ms: u64,
    ) -> Self {
        Self {
            stage: Some(stage),
            category: Some(category),
            ..Self::found_nothing(TestStatus::Failed, message, transport, elapsed_ms)
        }
    }

    fn found_nothing(
        status: TestStatus,
        message: String,
        transport: Transport,
        elapsed_ms: u64,
    ) -> Self {
        Self {
            status,
            stage: None,
            category: None,
            http_status: None,
            message,
            elapsed_ms,
            protocol_version: None,
            server_info: None,
            transport,
            tool_count: 0,
            tools: Vec::new(),
            tools_omitted: false,
            tool_changes: None,
            reauthorization: None,
            challenge: None,
        }
    }
}

/// Why an MCP server's refusal of an OAuth token needs a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReauthorizationReason {
    /// The server needs scopes the token was not granted (403 `insufficient_scope`).
    InsufficientScope,
    /// The server's resource metadata names another authorization server than the one the
    /// auth config was discovered with.
    AuthorizationServerChanged,
    /// The caller has no usable token of a `per_user` auth config: they connect their own
    /// account (authorize), then try again.
    AuthorizationRequired,
}

/// What a user must do before an MCP server accepts the auth config's token again.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reauthorization {
    /// The auth config concerned.
    pub auth_config_id: String,
    /// Why.
    pub reason: ReauthorizationReason,
    /// INSUFFICIENT_SCOPE: the scopes the server asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    /// INSUFFICIENT_SCOPE: those not granted yet, which the next authorization asks for (none:
    /// they were granted and the server still refuses; authorizing again will not help).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_scopes: Vec<String>,
    /// AUTHORIZATION_SERVER_CHANGED: the authorization server the MCP server names now.
    pub authorization_server: Option<String>,
    /// Where the caller starts the (re)authorization: `POST` it with a `redirect_uri`.
    pub authorize_endpoint: String,
    /// The console page where a person does it in the browser in one click, then comes back
    /// (path on the API's host, like `authorize_endpoint`; add `?return_to=<console path>` to
    /// come back elsewhere). Absent when a user cannot remedy it by connecting.
    pub connect_url: Option<String>,
    /// What to do, in a sentence.
    pub action: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: &str, schema: serde_json::Value) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            title: None,
            description: Some(description.into()),
            input_schema: serde_json::value::to_raw_value(&schema).unwrap(),
            annotations: None,
            output_schema: None,
        }
    }

    #[test]
    fn canonical_json_is_compact_json_with_sorted_keys() {
        let value = json!({"b": [1, "x\"y", {"d": null, "c": true}], "a": 1.5, "é": "\n"});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":1.5,"b":[1,"x\"y",{"c":true,"d":null}],"é":"\n"}"#
        );
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a = tool(
            "echo",
            "Echo",
            json!({"type": "object", "properties": {"m": {"type": "string"}}}),
        );
        let b = tool(
            "echo",
            "Echo",
            json!({"properties": {"m": {"type": "string"}}, "type": "object"}),
        );
        let c = tool(
            "echo",
            "Echo!",
            json!({"type": "object", "properties": {"m": {"type": "string"}}}),
        );
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn tool_changes_name_added_removed_and_changed_tools() {
        let old = [
            tool("a", "A", json!({})),
            tool("b", "B", json!({})),
            tool("c", "C", json!({})),
        ];
        let before = old
            .iter()
            .map(|t| (t.name.clone(), t.fingerprint()))
            .collect();
        let now = [
            tool("a", "A", json!({})),
            tool("c", "C2", json!({})),
            tool("d", "D", json!({})),
        ];
        let changes = ToolChanges::between(&before, &now);
        assert_eq!(changes.added, ["d"]);
        assert_eq!(changes.removed, ["b"]);
        assert_eq!(changes.changed, ["c"]);
    }
}
