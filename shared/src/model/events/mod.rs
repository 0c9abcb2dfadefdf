//! Events: what happened to a tenant's connections — health transitions, tool changes, tokens
//! needing re-authorization, credentials sent somewhere new, tool calls waiting for approval —
//! as `{type, id, tenant, at, data}`.
//! They are published (to the EventBridge bus and the tenant's webhooks) by [`deliveries`].
//!
//! The group: events, the webhooks that receive them, their deliveries, and the audit log. May
//! use the core only.

pub mod audit;
pub mod deliveries;
pub mod webhook;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::rfc3339;
use crate::AppState;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// An MCP server config's health status changed.
    #[serde(rename = "mcp_server.health_changed")]
    HealthChanged,
    /// A check found an MCP server's tools added, changed or removed.
    #[serde(rename = "mcp_server.tools_changed")]
    ToolsChanged,
    /// An auth config's tokens (or one user's) can no longer be refreshed: someone must authorize
    /// again.
    #[serde(rename = "auth_config.reauthorization_required")]
    ReauthorizationRequired,
    /// An admin changed where an OAuth auth config's codes, secrets or tokens go (an endpoint,
    /// the `resource`, the allowed origins, or by discovering again): every user's tokens were
    /// voided. `data` names the fields, the old and new origins and who changed them.
    #[serde(rename = "auth_config.destination_changed")]
    DestinationChanged,
    /// A tool call waits for a person's approval (a policy asked for one): `data` names the
    /// approval, agent, server, tool, who asked and until when, never an argument's value.
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// An admin approved or denied a call that waited for approval.
    #[serde(rename = "approval.decided")]
    ApprovalDecided,
}

impl EventType {
    /// Every type.
    pub const ALL: [Self; 6] = [
        Self::HealthChanged,
        Self::ToolsChanged,
        Self::ReauthorizationRequired,
        Self::DestinationChanged,
        Self::ApprovalRequested,
        Self::ApprovalDecided,
    ];

    /// The type's name, as in events and webhook subscriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HealthChanged => "mcp_server.health_changed",
            Self::ToolsChanged => "mcp_server.tools_changed",
            Self::ReauthorizationRequired => "auth_config.reauthorization_required",
            Self::DestinationChanged => "auth_config.destination_changed",
            Self::ApprovalRequested => "approval.requested",
            Self::ApprovalDecided => "approval.decided",
        }
    }
}

/// One event, as delivered (the webhook body, the EventBridge detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Unique id (`evt_…`; the `webhook-id` of its deliveries).
    pub id: String,
    /// The tenant it concerns.
    pub tenant: String,
    /// When, RFC 3339.
    pub at: String,
    /// What it is about: ids and statuses, never a secret.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A new event of `tenant_id`.
pub fn event(state: &AppState, tenant_id: &str, kind: EventType, data: Value) -> Event {
    Event {
        kind,
        id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
        tenant: tenant_id.to_owned(),
        at: rfc3339(state.clock.now()),
        data,
    }
}
