//! The agent-tools function, the runtime path of an agent: `GET /ai/api/v1/agent/{id}/tools`
//! (the catalogue; `?refresh=true` lists live) and `POST /ai/api/v1/agent/{id}/tools/call`.

use axum::{
    Json, Router,
    extract::{Path, Query},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;
use shared::{
    AppState,
    api::{ApiError, ApiJson, Caller, Problem},
    model::agent_tools::{
        self, CatalogueServer, CatalogueTool, ToolCallInput, ToolCallResponse, ToolCatalogue,
    },
};
use utoipa::OpenApi;

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(list_tools, call_tool),
    components(schemas(
        ToolCatalogue,
        CatalogueTool,
        CatalogueServer,
        ToolCallInput,
        ToolCallResponse,
        Problem
    ))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ai/api/v1/agent/{id}/tools", get(list_tools))
        .route("/ai/api/v1/agent/{id}/tools/call", post(call_tool))
        .with_state(state)
}

/// Query of the catalogue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueQuery {
    #[serde(default)]
    refresh: bool,
}

/// The agent's tool catalogue: its servers' tools, filtered by its `tool_allowlist`, each named
/// unambiguously.
#[utoipa::path(get, path = "/ai/api/v1/agent/{id}/tools", tag = "agent_tools",
    params(
        ("id" = String, Path, description = "Agent id"),
        ("refresh" = Option<bool>, Query, description = "List every server's tools live (and store them) instead of using the last snapshot"),
    ),
    responses(
        (status = 200, description = "The catalogue", body = ToolCatalogue),
        (status = 400, description = "Invalid query", body = Problem),
        (status = 404, description = "No such agent in this tenant", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, agent = %id))]
async fn list_tools(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
    query: Result<Query<CatalogueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ToolCatalogue>, ApiError> {
    let Query(query) = query
        .map_err(|_| ApiError::field("refresh", "must be true or false (no other parameters)"))?;
    let catalogue = agent_tools::catalogue(&state, &principal, &id, query.refresh).await?;
    tracing::info!(
        tools = catalogue.tools.len(),
        refresh = query.refresh,
        "tool catalogue"
    );
    Ok(Json(catalogue))
}

/// Call a tool of the agent's catalogue with arguments checked against its input schema; the
/// MCP result (content blocks, `isError`) is returned as the server sent it.
#[utoipa::path(post, path = "/ai/api/v1/agent/{id}/tools/call", tag = "agent_tools",
    params(("id" = String, Path, description = "Agent id")),
    request_body = ToolCallInput,
    responses(
        (status = 200, description = "The tool ran (its own errors have `is_error`)", body = ToolCallResponse),
        (status = 400, description = "Unknown tool, or arguments that violate its schema; `errors` name the paths", body = Problem),
        (status = 404, description = "No such agent in this tenant", body = Problem),
        (status = 409, description = "The server's auth config needs (re)authorization", body = Problem),
        (status = 502, description = "The MCP server failed; the detail says how", body = Problem),
        (status = 504, description = "The MCP server did not answer within its timeout", body = Problem),
        (status = 429, description = "Over a rate limit; retry after `Retry-After` seconds", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds until the limit allows it again"))),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, agent = %id))]
async fn call_tool(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<ToolCallResponse>, ApiError> {
    let response = agent_tools::call(&state, &principal, &id, body, None).await?;
    tracing::info!(
        tool = %response.tool,
        server = %response.server_config_id,
        is_error = response.is_error,
        elapsed_ms = response.elapsed_ms,
        "tool called"
    );
    Ok(Json(response))
}
