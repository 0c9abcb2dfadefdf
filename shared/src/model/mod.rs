//! Domain models, their validation and their persistence: what a record looks like in the API,
//! how input is checked (every error names its field), and how it is stored. Every resource is
//! written the same way: see [`resource`]. Dependencies flow one way, from the resources down:
//! `server_checks` (re-tests, the health pass, approvals) → `mcp_server`, `agent` →
//! `auth_config` (the resource) → `credentials` → `grants` → `token` → `auth_record` /
//! `auth_input` / `destinations` → `secret_fields` → `validate` → `resource` → `principal` (who
//! acts) → `role`; events flow from `health` and `grants` through `deliveries` (bus, webhook
//! outbox) → `webhook` → `events`.

pub mod agent;
pub mod agent_tools;
pub mod audit;
pub mod auth_config;
pub mod auth_discovery;
pub mod auth_input;
pub mod auth_record;
pub mod connection;
pub mod connections;
pub mod credentials;
pub mod deliveries;
pub(crate) mod destinations;
pub mod events;
pub mod grants;
pub mod health;
pub mod idle_tokens;
pub mod limits;
pub mod llm_config;
pub mod mcp_server;
pub mod oauth_flow;
pub mod once;
pub mod principal;
pub mod provider_backoff;
pub mod refresh_index;
pub mod refresh_pass;
pub mod refusals;
pub mod resource;
pub mod role;
pub mod scheduler;
pub mod secret_fields;
pub mod server_checks;
pub mod token;
pub mod tool_diff;
pub mod tool_lists;
pub mod validate;
pub mod webhook;

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
