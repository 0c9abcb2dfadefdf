//! The MCP client: the connection test (`initialize` → `notifications/initialized` → `tools/list`,
//! all pages → end of session) and tool calls (`initialize` → `notifications/initialized` →
//! `tools/call` → end of session), over Streamable HTTP, falling back to the legacy
//! HTTP+SSE transport when the server answers the first POST with 400, 404 or 405 (MCP spec,
//! backwards compatibility). Every request goes through the guarded [`crate::net::HttpClient`];
//! protocol messages are rmcp's model types; the whole test is bounded by one deadline. Each
//! request is a span after the MCP semantic conventions when traces are exported (`trace`).

mod client;
mod result;
mod sse;
mod trace;
pub mod wire;

pub use client::{
    CallFailure, ClientInput, MAX_RELAYED_BYTES, MAX_RELAYED_NOTICES, McpTarget, Relay,
    SessionCloser, call_tool, test_connection, test_connection_then_close,
};
pub use result::{
    Category, ConnectionTestResult, Reauthorization, ReauthorizationReason, ServerInfo, Stage,
    TestStatus, ToolChanges, ToolInfo, Transport, canonical_digest,
};

/// Largest MCP message accepted (one JSON body or one SSE event).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Most `tools/list` pages followed.
pub const MAX_TOOL_PAGES: usize = 100;
/// Most tools one server may offer: a listing with more is `too_large`.
pub const MAX_TOOLS: usize = 1_000;
/// Most tool metadata (names, titles, descriptions, input schemas) one listing may hold in total:
/// more is `too_large`, and reading stops there, so a hostile listing costs bounded memory.
pub const MAX_TOOL_METADATA_BYTES: usize = 8 * 1024 * 1024;
/// Longest a synchronous connection test may take (API Gateway stops waiting at 29 s).
pub const MAX_SYNC_TEST: std::time::Duration = std::time::Duration::from_secs(25);
