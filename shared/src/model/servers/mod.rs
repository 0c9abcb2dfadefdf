//! MCP servers: their configs (with tool pinning and large tool lists kept apart), the
//! connection test, health and the checks that keep it current, and what changed in a server's
//! tools. May use `credentials`, `oauth`, `auth_records`, `events` and the core.

pub mod connection_test;
pub mod health;
pub mod mcp_server;
pub mod server_checks;
pub mod tool_diff;
pub mod tool_lists;
