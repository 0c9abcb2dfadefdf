//! The agents function: `POST/GET /ai/api/v1/config/llm`, `GET/PATCH/DELETE …/llm/{id}`,
//! `POST/GET /ai/api/v1/config/agent` and `GET/PATCH/DELETE …/agent/{id}`, served by the shared
//! resource routes ([`shared::api::resource`]). Agents reference an LLM config and MCP server
//! configs; references are counted transactionally, so a referenced config cannot be deleted
//! (409) and an agent never points at a deleted one.

use axum::Router;
use shared::{
    AppState,
    api::resource::{self, Collection, Op},
    model::{agent::StoredAgent, llm_config::StoredLlmConfig},
};

/// Where and how LLM configs are served.
pub const LLM_CONFIGS: Collection = Collection::new(
    "/ai/api/v1/config/llm",
    "llm_configs",
    "llm_config",
)
.answers(&[(Op::Delete, 409, "Still used by an agent")]);

/// Where and how agents are served.
pub const AGENTS: Collection = Collection::new("/ai/api/v1/config/agent", "agents", "agent")
    .answers(&[
        (
            Op::Create,
            404,
            "A referenced LLM or MCP server config does not exist; `errors` name them",
        ),
        (
            Op::Create,
            409,
            "A referenced config changed meanwhile; retry",
        ),
        (
            Op::Patch,
            404,
            "No such agent, or a referenced config does not exist; `errors` name them",
        ),
    ])
    .notes(&[(Op::Delete, "Delete an agent and release its references.")]);

/// OpenAPI description of this function's endpoints.
pub struct ApiDoc;

impl utoipa::OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        resource::openapi::<StoredLlmConfig>(&LLM_CONFIGS)
            .merge_from(resource::openapi::<StoredAgent>(&AGENTS))
    }
}

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    resource::routes::<StoredLlmConfig>(&LLM_CONFIGS)
        .merge(resource::routes::<StoredAgent>(&AGENTS))
        .with_state(state)
}
