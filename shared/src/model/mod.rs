//! Domain models, their validation and their persistence: what a record looks like in the API,
//! how input is checked (every error names its field), and how it is stored. Every resource is
//! written the same way: see [`resource`]. Grouped by concern, each group a folder whose `mod.rs`
//! says what it owns and what it may use; dependencies between groups point one way, top down
//! (the module-graph test checks it):
//!
//! - [`agents`]: LLM configs, agents, an agent's tools at run time, tool-call policies and
//!   approvals;
//! - [`servers`]: MCP server configs, the connection test, health and its checks, tool changes;
//! - [`credentials`]: auth configs as a resource, their OAuth flow and discovery, credential
//!   production;
//! - [`oauth`]: tokens, grants, users' connections, the background refresh and its index;
//! - [`auth_records`]: what an auth config is made of (record, input, destinations);
//! - [`events`]: events, webhooks, deliveries, the audit log;
//! - the core, below them all: [`resource`] (the resource pattern) and [`recent_records`], [`validate`],
//!   [`secret_fields`], [`limits`], [`once`], [`principal`], [`role`], [`scheduler`].
//!
//! Every module is also reachable at `model::<name>` (re-exported below), so callers outside the
//! domain name what they use without its group.

pub mod agents;
pub mod auth_records;
pub mod credentials;
pub mod events;
pub mod oauth;
pub mod servers;

pub mod limits;
pub mod once;
pub mod principal;
pub mod recent_records;
pub mod resource;
pub mod role;
pub mod scheduler;
pub mod secret_fields;
pub mod validate;

pub use agents::{agent, agent_tools, approval, arguments, call_policy, llm_config, tool_policy};
pub(crate) use auth_records::destinations;
pub use auth_records::{auth_input, auth_record};
pub use credentials::{auth_config, auth_discovery, oauth_flow};
pub use events::{audit, deliveries, webhook};
pub use oauth::{
    grants, idle_tokens, provider_backoff, refresh_index, refresh_pass, refusals, token,
    user_connections,
};
pub use servers::{connection_test, health, mcp_server, server_checks, tool_diff, tool_lists};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Partition key of a tenant's records.
pub fn tenant_pk(tenant_id: &str) -> String {
    format!("T#{tenant_id}")
}

/// A new record id (UUIDv7: time-ordered, so lists come out in creation order).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `id` looks like an id this API issued (to answer 404 without a store read).
pub fn is_valid_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok()
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}
