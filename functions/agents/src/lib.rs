//! The agents function: `POST/GET /ai/api/v1/config/llm`, `GET/PATCH/DELETE …/llm/{id}`,
//! `POST/GET /ai/api/v1/config/agent`, `GET/PATCH/DELETE …/agent/{id}`,
//! `POST/GET /ai/api/v1/config/policy` and `GET/PATCH/DELETE …/policy/{id}`, served by the
//! shared resource routes ([`shared::api::resource`]), and the vocabulary of policies at
//! `GET /ai/api/v1/config/policy/schema`. Agents reference an LLM config and MCP server
//! configs; references are counted transactionally, so a referenced config cannot be deleted
//! (409) and an agent never points at a deleted one.

use axum::{Json, Router, routing::get};
use serde::Serialize;
use shared::{
    AppState,
    api::{
        Caller, Problem,
        resource::{self, Collection, Op},
    },
    model::{agent::StoredAgent, llm_config::StoredLlmConfig, tool_policy::StoredPolicy},
    policy,
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

/// Where and how tool-call policies are served.
pub const POLICIES: Collection = Collection::new("/ai/api/v1/config/policy", "policies", "policy")
    .answers(&[(
        Op::Create,
        409,
        "The tenant has 1,000 policies, the most it may have",
    )])
    .notes(&[(
        Op::Create,
        "Create a tool-call policy: Cedar `forbid` rules in the vocabulary of \
         `GET /config/policy/schema`; text that does not parse or validate is a 400 naming its \
         line and column.",
    )]);

/// The vocabulary of tool-call policies.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicySchema {
    /// The Cedar schema, in Cedar's schema syntax (what `cedar validate --schema` reads).
    pub schema: String,
    /// The same in Cedar's JSON schema format.
    #[schema(value_type = Object)]
    pub schema_json: serde_json::Value,
    /// What the rules mean beyond the schema.
    pub semantics: Vec<String>,
}

/// The Cedar schema that policies are written and validated against, with what they mean.
#[utoipa::path(get, path = "/ai/api/v1/config/policy/schema", tag = "policies",
    responses((status = 200, description = "The vocabulary of tool-call policies", body = PolicySchema)))]
async fn policy_schema(_caller: Caller) -> Json<PolicySchema> {
    Json(PolicySchema {
        schema: policy::SCHEMA.to_owned(),
        schema_json: policy::schema_json(),
        semantics: policy::SEMANTICS.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// OpenAPI description of this function's endpoints.
pub struct ApiDoc;

#[derive(utoipa::OpenApi)]
#[openapi(paths(policy_schema), components(schemas(PolicySchema, Problem)))]
struct SchemaDoc;

impl utoipa::OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        resource::openapi::<StoredLlmConfig>(&LLM_CONFIGS)
            .merge_from(resource::openapi::<StoredAgent>(&AGENTS))
            .merge_from(resource::openapi::<StoredPolicy>(&POLICIES))
            .merge_from(<SchemaDoc as utoipa::OpenApi>::openapi())
    }
}

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    resource::routes::<StoredLlmConfig>(&LLM_CONFIGS)
        .merge(resource::routes::<StoredAgent>(&AGENTS))
        .merge(resource::routes::<StoredPolicy>(&POLICIES))
        .route("/ai/api/v1/config/policy/schema", get(policy_schema))
        .with_state(state)
}
