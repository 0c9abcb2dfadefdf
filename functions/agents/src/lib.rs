//! The agents function: `POST/GET /ai/api/v1/config/llm`, `GET/PATCH/DELETE …/llm/{id}`,
//! `POST/GET /ai/api/v1/config/agent` and `GET/PATCH/DELETE …/agent/{id}`. Agents reference an
//! LLM config and MCP server configs; references are counted transactionally, so a referenced
//! config cannot be deleted (409) and an agent never points at a deleted one.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::Value;
use shared::{
    AppState,
    api::{
        ApiError, ApiJson, ListParams, Page, Principal, Problem, etag, if_match, openapi::ListQuery,
    },
    model::{
        agent::{self, AgentInput, AgentView},
        llm_config::{self, LlmConfigInput, LlmConfigView, LlmProvider},
    },
};
use utoipa::OpenApi;

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_llm_config, list_llm_configs, get_llm_config, patch_llm_config, delete_llm_config,
        create_agent, list_agents, get_agent, patch_agent, delete_agent,
    ),
    components(schemas(
        LlmConfigInput, LlmConfigView, LlmProvider, Page<LlmConfigView>,
        AgentInput, AgentView, Page<AgentView>, Problem,
    ))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/ai/api/v1/config/llm",
            post(create_llm_config).get(list_llm_configs),
        )
        .route(
            "/ai/api/v1/config/llm/{id}",
            get(get_llm_config)
                .patch(patch_llm_config)
                .delete(delete_llm_config),
        )
        .route(
            "/ai/api/v1/config/agent",
            post(create_agent).get(list_agents),
        )
        .route(
            "/ai/api/v1/config/agent/{id}",
            get(get_agent).patch(patch_agent).delete(delete_agent),
        )
        .with_state(state)
}

fn with_etag<T: serde::Serialize>(status: StatusCode, version: u64, view: T) -> impl IntoResponse {
    (status, [(header::ETAG, etag(version))], Json(view))
}

/// Create LLM config.
#[utoipa::path(post, path = "/ai/api/v1/config/llm", tag = "llm_configs",
    request_body = LlmConfigInput,
    responses(
        (status = 201, description = "Created", body = LlmConfigView),
        (status = 400, description = "Invalid input; `errors` name the fields", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn create_llm_config(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let view = llm_config::create(&state, &principal, body).await?;
    tracing::info!(id = %view.id, "LLM config created");
    Ok(with_etag(StatusCode::CREATED, view.version, view))
}

/// List LLM configs, oldest first.
#[utoipa::path(get, path = "/ai/api/v1/config/llm", tag = "llm_configs",
    params(ListQuery),
    responses((status = 200, description = "A page", body = Page<LlmConfigView>)))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn list_llm_configs(
    State(state): State<AppState>,
    principal: Principal,
    params: ListParams,
) -> Result<Json<Page<LlmConfigView>>, ApiError> {
    Ok(Json(llm_config::list(&state, &principal, &params).await?))
}

/// Get one LLM config.
#[utoipa::path(get, path = "/ai/api/v1/config/llm/{id}", tag = "llm_configs",
    params(("id" = String, Path, description = "Record id")),
    responses(
        (status = 200, description = "Found", body = LlmConfigView),
        (status = 404, description = "No such record in this tenant", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn get_llm_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let view = llm_config::get(&state, &principal, &id).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

/// Update LLM config with a JSON merge patch.
#[utoipa::path(patch, path = "/ai/api/v1/config/llm/{id}", tag = "llm_configs",
    params(
        ("id" = String, Path, description = "Record id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = LlmConfigView),
        (status = 400, description = "Invalid result", body = Problem),
        (status = 404, description = "No such record, or a referenced id does not exist", body = Problem),
        (status = 409, description = "Version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn patch_llm_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match(&headers);
    let view = llm_config::patch(&state, &principal, &id, patch, expected).await?;
    tracing::info!(version = view.version, "LLM config updated");
    Ok(with_etag(StatusCode::OK, view.version, view))
}

/// Delete LLM config; 409 while an agent uses it.
#[utoipa::path(delete, path = "/ai/api/v1/config/llm/{id}", tag = "llm_configs",
    params(
        ("id" = String, Path, description = "Record id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such record in this tenant", body = Problem),
        (status = 409, description = "Still referenced, or version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn delete_llm_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers);
    llm_config::delete(&state, &principal, &id, expected).await?;
    tracing::info!("LLM config deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Create agent.
#[utoipa::path(post, path = "/ai/api/v1/config/agent", tag = "agents",
    request_body = AgentInput,
    responses(
        (status = 201, description = "Created", body = AgentView),
        (status = 400, description = "Invalid input; `errors` name the fields", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
        (status = 404, description = "A referenced LLM or MCP server config does not exist; `errors` name them", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn create_agent(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let view = agent::create(&state, &principal, body).await?;
    tracing::info!(id = %view.id, "agent created");
    Ok(with_etag(StatusCode::CREATED, view.version, view))
}

/// List agents, oldest first.
#[utoipa::path(get, path = "/ai/api/v1/config/agent", tag = "agents",
    params(ListQuery),
    responses((status = 200, description = "A page", body = Page<AgentView>)))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
    params: ListParams,
) -> Result<Json<Page<AgentView>>, ApiError> {
    Ok(Json(agent::list(&state, &principal, &params).await?))
}

/// Get one agent.
#[utoipa::path(get, path = "/ai/api/v1/config/agent/{id}", tag = "agents",
    params(("id" = String, Path, description = "Record id")),
    responses(
        (status = 200, description = "Found", body = AgentView),
        (status = 404, description = "No such record in this tenant", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn get_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let view = agent::get(&state, &principal, &id).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

/// Update agent with a JSON merge patch.
#[utoipa::path(patch, path = "/ai/api/v1/config/agent/{id}", tag = "agents",
    params(
        ("id" = String, Path, description = "Record id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = AgentView),
        (status = 400, description = "Invalid result", body = Problem),
        (status = 404, description = "No such record, or a referenced id does not exist", body = Problem),
        (status = 409, description = "Version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn patch_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match(&headers);
    let view = agent::patch(&state, &principal, &id, patch, expected).await?;
    tracing::info!(version = view.version, "agent updated");
    Ok(with_etag(StatusCode::OK, view.version, view))
}

/// Delete agent and release its references.
#[utoipa::path(delete, path = "/ai/api/v1/config/agent/{id}", tag = "agents",
    params(
        ("id" = String, Path, description = "Record id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such record in this tenant", body = Problem),
        (status = 409, description = "Still referenced, or version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn delete_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers);
    agent::delete(&state, &principal, &id, expected).await?;
    tracing::info!("agent deleted");
    Ok(StatusCode::NO_CONTENT)
}
