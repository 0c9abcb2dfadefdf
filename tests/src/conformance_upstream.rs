//! The upstream MCP server behind an agent when the MCP conformance suite's server scenarios run
//! against the agent's endpoint: the tools those scenarios call by name (`test_simple_text`,
//! `test_image_content`, `test_audio_content`, `test_embedded_resource`,
//! `test_multiple_content_types`, `test_tool_with_logging`, `test_tool_with_progress`,
//! `test_error_handling`, `json_schema_2020_12_tool`, and `test_custom_headers` with an
//! `x-mcp-header` parameter, and the stateless revision's `test_logging_tool`,
//! `test_missing_capability` and `test_streaming_elicitation`, which read what the client
//! declared in the request's metadata), answering as the scenarios describe; and
//! `gated_progress`, whose result waits for the test ([`start_gated`]). Served by rmcp over
//! Streamable HTTP on loopback, without sessions: each request's notifications travel on its own
//! response stream (a session would send log messages on the standalone GET stream instead).
#![allow(
    deprecated,
    reason = "logging is deprecated by SEP-2577, but the 2025 revisions' scenarios still test it"
)]

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
        JsonObject, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
        PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, ServerCapabilities,
        ServerConfig, Tool,
    },
    service::{NotificationContext, RequestContext},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};

/// A 1×1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A WAV file of one silent sample (8 kHz, 8-bit mono).
const WAV: &str = "UklGRiUAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQEAAACA";

/// The input schema of the JSON Schema 2020-12 scenario's tool, as the scenario prescribes.
fn schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                              "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    })
}

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    let schema: JsonObject = serde_json::from_value(schema).expect("a schema object");
    Tool::new(name.to_owned(), description.to_owned(), Arc::new(schema))
}

fn result(value: Value) -> CallToolResponse {
    serde_json::from_value::<CallToolResult>(value)
        .expect("a tool result")
        .into()
}

/// The conformance scenarios' tools, and the gate of `gated_progress`.
#[derive(Clone)]
struct Scenarios {
    gated: Arc<Gated>,
    /// Speak the stateless revision only (refuse `initialize`).
    modern_only: bool,
}

/// What a test holds of a `gated_progress` call: the gate it waits at, and how it ended
/// otherwise.
#[derive(Debug, Default)]
pub struct Gated {
    /// Opens the gate (once per notification).
    pub gate: tokio::sync::Notify,
    /// Notified when a waiting call was cancelled instead.
    pub cancelled: tokio::sync::Notify,
    /// `notifications/cancelled` received (in a session).
    pub cancel_notices: std::sync::atomic::AtomicUsize,
}

impl ServerHandler for Scenarios {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        if self.modern_only {
            std::borrow::Cow::Owned(vec![ProtocolVersion::V_2026_07_28])
        } else {
            std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn on_cancelled(
        &self,
        _notification: CancelledNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.gated
            .cancel_notices
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let none = json!({"type": "object", "properties": {}});
        let mut tools: Vec<Tool> = [
            ("test_simple_text", "Returns simple text."),
            ("test_image_content", "Returns an image."),
            ("test_audio_content", "Returns audio."),
            ("test_embedded_resource", "Returns an embedded resource."),
            (
                "test_multiple_content_types",
                "Returns text, an image and a resource.",
            ),
            (
                "test_tool_with_logging",
                "Logs three messages while it runs.",
            ),
            ("test_tool_with_progress", "Reports progress while it runs."),
            ("test_error_handling", "Always fails."),
            (
                "gated_progress",
                "Reports progress, then waits for the test to open its gate.",
            ),
            ("test_logging_tool", "Logs three messages while it runs."),
            (
                "test_missing_capability",
                "Needs the client's sampling capability.",
            ),
            (
                "test_streaming_elicitation",
                "Asks the client for input (elicitation) before it answers.",
            ),
        ]
        .into_iter()
        .map(|(name, description)| tool(name, description, none.clone()))
        .collect();
        tools.push(tool(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            schema_2020_12(),
        ));
        tools.push(tool(
            "test_custom_headers",
            "Echoes a region that travels in an Mcp-Param header too.",
            json!({"type": "object",
                   "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
                   "required": ["region"]}),
        ));
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let pause = || tokio::time::sleep(Duration::from_millis(50));
        Ok(match request.name.as_ref() {
            "test_simple_text" => result(json!({"content": [
                {"type": "text", "text": "This is a simple text response for testing."}]})),
            "test_image_content" => result(json!({"content": [
                {"type": "image", "data": PNG, "mimeType": "image/png"}]})),
            "test_audio_content" => result(json!({"content": [
                {"type": "audio", "data": WAV, "mimeType": "audio/wav"}]})),
            "test_embedded_resource" => result(json!({"content": [
                {"type": "resource", "resource": {"uri": "test://embedded-resource",
                 "mimeType": "text/plain", "text": "This is an embedded resource content."}}]})),
            "test_multiple_content_types" => result(json!({"content": [
                {"type": "text", "text": "Multiple content types test:"},
                {"type": "image", "data": PNG, "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                 "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}]})),
            "test_tool_with_logging" | "test_logging_tool" => {
                for (i, message) in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ]
                .into_iter()
                .enumerate()
                {
                    if i > 0 {
                        pause().await;
                    }
                    let _ = context
                        .peer
                        .notify_logging_message(LoggingMessageNotificationParam::new(
                            LoggingLevel::Info,
                            json!(message),
                        ))
                        .await;
                }
                result(json!({"content": [{"type": "text", "text": "Logged three messages."}]}))
            }
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        pause().await;
                    }
                    if let Some(token) = &token {
                        let _ = context
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(token.clone(), progress)
                                    .with_total(100.0),
                            )
                            .await;
                    }
                }
                result(json!({"content": [{"type": "text", "text": "Progress reported."}]}))
            }
            "gated_progress" => {
                if let Some(token) = context.meta.get_progress_token() {
                    let _ = context
                        .peer
                        .notify_progress(ProgressNotificationParam::new(token, 1.0))
                        .await;
                }
                tokio::select! {
                    () = self.gated.gate.notified() => {}
                    () = context.ct.cancelled() => {
                        self.gated.cancelled.notify_one();
                        return Err(ErrorData::internal_error("cancelled", None));
                    }
                }
                result(json!({"content": [{"type": "text", "text": "The gate opened."}]}))
            }
            // The stateless revision's capability and input scenarios: what the client declared
            // is in the request's metadata.
            "test_missing_capability" => {
                if context
                    .client_capabilities()
                    .is_none_or(|c| c.sampling.is_none())
                {
                    return Err(ErrorData::missing_required_client_capability(
                        serde_json::from_value(json!({"sampling": {}})).expect("capabilities"),
                    ));
                }
                result(json!({"content": [{"type": "text", "text": "Sampling is declared."}]}))
            }
            "test_streaming_elicitation" => {
                if context
                    .client_capabilities()
                    .is_none_or(|c| c.elicitation.is_none())
                {
                    return Err(ErrorData::missing_required_client_capability(
                        serde_json::from_value(json!({"elicitation": {}})).expect("capabilities"),
                    ));
                }
                match request.input_responses.as_ref().and_then(|r| r.get("name")) {
                    Some(answer) => result(json!({"content": [
                        {"type": "text", "text": format!("Hello, {answer}.")}]})),
                    None => CallToolResponse::InputRequired(
                        serde_json::from_value(json!({
                            "resultType": "input_required",
                            "inputRequests": {"name": {"method": "elicitation/create",
                                "params": {"mode": "form", "message": "Your name?",
                                    "requestedSchema": {"type": "object",
                                        "properties": {"name": {"type": "string"}}}}}},
                            "requestState": "asked-for-name"}))
                        .expect("an input-required result"),
                    ),
                }
            }
            "test_error_handling" => result(json!({"isError": true, "content": [
                {"type": "text", "text": "This tool intentionally returns an error for testing"}]})),
            "json_schema_2020_12_tool" => {
                result(json!({"content": [{"type": "text", "text": "ok"}]}))
            }
            "test_custom_headers" => {
                let region = request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get("region"))
                    .cloned()
                    .unwrap_or(Value::Null);
                result(json!({"content": [{"type": "text", "text": format!("region {region}")}]}))
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("Unknown tool: {other}"),
                    None,
                ));
            }
        })
    }
}

/// Serves the scenarios' tools on loopback; the MCP endpoint's URL (`…/mcp`).
pub async fn start() -> String {
    start_gated(false).await.0
}

/// [`start`], speaking only the stateless revision (2026-07-28): a client must go without
/// `initialize`, so capabilities and multi round-trip input travel in each request.
pub async fn start_modern() -> String {
    serve(false, true).await.0
}

/// [`start`] (with sessions of the 2025 revisions when `sessions`: then a client cancels a call
/// with `notifications/cancelled`, not by closing its stream), and what a `gated_progress` call
/// waits at after its first progress notification.
pub async fn start_gated(sessions: bool) -> (String, Arc<Gated>) {
    serve(sessions, false).await
}

async fn serve(sessions: bool, modern_only: bool) -> (String, Arc<Gated>) {
    let gated = Arc::new(Gated::default());
    let scenarios = Scenarios {
        gated: Arc::clone(&gated),
        modern_only,
    };
    let mut settings = StreamableHttpServerConfig::default();
    settings.legacy_session_mode = sessions;
    let service = StreamableHttpService::new(
        move || Ok(scenarios.clone()),
        Arc::new(LocalSessionManager::default()),
        settings,
    );
    let base = crate::serve_on_loopback(axum::Router::new().nest_service("/mcp", service)).await;
    (format!("{base}/mcp"), gated)
}
