//! The MCP client's spans and metric, after OpenTelemetry's MCP semantic conventions, when traces
//! are exported ([`crate::telemetry::otel`]): one `client` span per request, named
//! `{mcp.method.name} {target}` (`tools/call echo`, `initialize`), with `mcp.method.name`,
//! `jsonrpc.request.id`, `gen_ai.tool.name` and `gen_ai.operation.name` (`execute_tool`) or
//! `gen_ai.prompt.name`, `mcp.protocol.version`, `mcp.session.id` (a digest of it: some servers
//! treat a session id as a credential), `server.address` and `server.port`, and `error.type` on
//! failure (the JSON-RPC error code, or the kind of failure); the request's duration in
//! `mcp.client.operation.duration`; and the span's trace context in the request's
//! `params._meta` (`traceparent`, `tracestate`). Never arguments, results or resource URIs.

use http::HeaderValue;
use opentelemetry::KeyValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tracing::{Span, field};
use url::Url;

use crate::telemetry::otel;

/// One MCP request in flight.
pub(super) struct Operation {
    span: Span,
    started: Instant,
    attributes: Vec<KeyValue>,
}

/// What one request is.
pub(super) struct Request<'a> {
    /// The JSON-RPC method.
    pub method: &'a str,
    /// The tool or prompt it names.
    pub target: Option<&'a str>,
    /// The JSON-RPC id (none for a notification).
    pub id: Option<u64>,
    /// The server.
    pub url: &'a Url,
    /// The protocol version negotiated so far.
    pub version: Option<&'a str>,
    /// The session so far.
    pub session: Option<&'a HeaderValue>,
}

/// A digest naming a session without revealing its id: 16 hex digits of its SHA-256.
fn session_digest(session: &HeaderValue) -> String {
    hex::encode(&Sha256::digest(session.as_bytes())[..8])
}

impl Operation {
    /// Starts the span and the clock of `request` (a disabled span when nothing is exported).
    pub(super) fn start(request: &Request<'_>) -> Self {
        let started = Instant::now();
        if !otel::exporting() {
            return Self {
                span: Span::none(),
                started,
                attributes: Vec::new(),
            };
        }
        let Request {
            method,
            target,
            id,
            url,
            version,
            session,
        } = *request;
        let (tool, prompt) = match method {
            "tools/call" => (target, None),
            "prompts/get" => (None, target),
            _ => (None, None),
        };
        let name = match tool.or(prompt) {
            Some(target) => format!("{method} {target}"),
            None => method.to_owned(),
        };
        let span = tracing::info_span!(
            "mcp.client",
            otel.name = name,
            otel.kind = "client",
            otel.status_code = field::Empty,
            mcp.method.name = method,
            jsonrpc.request.id = id.map(|id| id.to_string()),
            gen_ai.tool.name = tool,
            gen_ai.operation.name = tool.map(|_| "execute_tool"),
            gen_ai.prompt.name = prompt,
            mcp.protocol.version = field::Empty,
            mcp.session.id = field::Empty,
            network.transport = "tcp",
            network.protocol.name = "http",
            server.address = url.host_str().unwrap_or_default(),
            server.port = url.port_or_known_default(),
            error.type = field::Empty,
        );
        let mut attributes = vec![KeyValue::new("mcp.method.name", method.to_owned())];
        if let Some(tool) = tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_owned()));
            attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
        }
        if let Some(prompt) = prompt {
            attributes.push(KeyValue::new("gen_ai.prompt.name", prompt.to_owned()));
        }
        if let Some(host) = url.host_str() {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        let operation = Self {
            span,
            started,
            attributes,
        };
        operation.session_known(version, session);
        operation
    }

    /// The request's span, to run its sending in.
    pub(super) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the version and the session, once known (they may come with the answer).
    fn session_known(&self, version: Option<&str>, session: Option<&HeaderValue>) {
        if let Some(version) = version {
            self.span.record("mcp.protocol.version", version);
        }
        if let Some(session) = session {
            self.span
                .record("mcp.session.id", session_digest(session).as_str());
        }
    }

    /// Ends the request: its version and session as now known, its failure (`error`: the
    /// JSON-RPC error code or the kind of failure) if any, and its duration.
    pub(super) fn finish(
        mut self,
        version: Option<&str>,
        session: Option<&HeaderValue>,
        error: Option<String>,
    ) {
        if !otel::exporting() {
            return;
        }
        self.session_known(version, session);
        if let Some(version) = version {
            self.attributes
                .push(KeyValue::new("mcp.protocol.version", version.to_owned()));
        }
        if let Some(error) = error {
            otel::record_error(&self.span, &error);
            self.attributes.push(KeyValue::new("error.type", error));
        }
        otel::mcp_operation_duration()
            .record(self.started.elapsed().as_secs_f64(), &self.attributes);
    }
}

/// `params` with the current span's trace context in its `_meta` (made an object if it was
/// not one); `params` as they are when traces are not exported.
pub(super) fn with_trace_context(mut params: Value) -> Value {
    let context = otel::trace_context();
    if context.is_empty() {
        return params;
    }
    if !params.is_object() {
        params = Value::Object(Map::new());
    }
    if let Some(object) = params.as_object_mut() {
        let meta = object
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            for (name, value) in context {
                meta.insert(name, Value::String(value));
            }
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_named_by_a_digest_not_its_id() {
        let session = HeaderValue::from_static("secret-session-7f3a");
        let digest = session_digest(&session);
        assert_eq!(digest.len(), 16);
        assert!(!digest.contains("7f3a"));
        assert_eq!(digest, session_digest(&session));
    }

    #[test]
    fn params_are_unchanged_when_nothing_is_exported() {
        let params = serde_json::json!({"name": "echo", "arguments": {"message": "hi"}});
        assert_eq!(with_trace_context(params.clone()), params);
    }
}
