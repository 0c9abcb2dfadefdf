//! The `connection_test_result` of the API contract (DESIGN §2): what a connection test found, with
//! every failure classified by the stage it happened in and a category a user can act on. Nothing in
//! it is copied from the upstream response (no body, header or secret): messages are ours.

use serde::{Deserialize, Serialize};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolInfo {
    /// Tool name.
    pub name: String,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
}

impl ToolInfo {
    /// A stable hash of what a caller depends on: description and input schema.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.description.as_deref().unwrap_or_default().as_bytes());
        hasher.update([0]);
        hasher.update(canonical_json(&self.input_schema).as_bytes());
        hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// JSON with object keys sorted, so equal schemas hash equally whatever their key order: compact
/// `serde_json` output, written into one buffer.
fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // Already sorted unless serde_json keeps insertion order; cheap either way.
            if !keys.is_sorted() {
                keys.sort_unstable();
            }
            out.push(b'{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                // Writing a string or a scalar into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
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
            tool_changes: None,
        }
    }
}

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionTestResult {
    /// SUCCESS or FAILED.
    pub status: TestStatus,
    /// Where it failed (absent on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// What kind of failure (absent on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The unexpected HTTP status, if one was the cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// A diagnosis in our words.
    pub message: String,
    /// How long the test took.
    pub elapsed_ms: u64,
    /// Protocol version agreed in `initialize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// Server identification from `initialize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_info: Option<ServerInfo>,
    /// The transport that answered (or was tried last).
    pub transport: Transport,
    /// Number of tools.
    pub tool_count: usize,
    /// The tools.
    pub tools: Vec<ToolInfo>,
    /// Changes against the previous snapshot (re-tests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_changes: Option<ToolChanges>,
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
            input_schema: schema,
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
