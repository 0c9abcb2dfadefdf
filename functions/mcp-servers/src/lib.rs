//! The mcp-servers function: `POST/GET /ai/api/v1/config/mcp-server`,
//! `GET/PATCH/DELETE /ai/api/v1/config/mcp-server/{id}` and `POST …/{id}/test`. Creating a config,
//! and changing its connection, tests the server first (422 with `connection_test_result` on
//! failure, nothing stored).

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
    mcp::ConnectionTestResult,
    model::mcp_server::{self, McpServerInput, McpServerView},
};
use utoipa::OpenApi;

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(create_mcp_server, list_mcp_servers, get_mcp_server, patch_mcp_server, delete_mcp_server, test_mcp_server),
    components(schemas(McpServerInput, McpServerView, ConnectionTestResult, Problem, Page<McpServerView>))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/ai/api/v1/config/mcp-server",
            post(create_mcp_server).get(list_mcp_servers),
        )
        .route(
            "/ai/api/v1/config/mcp-server/{id}",
            get(get_mcp_server)
                .patch(patch_mcp_server)
                .delete(delete_mcp_server),
        )
        .route(
            "/ai/api/v1/config/mcp-server/{id}/test",
            post(test_mcp_server),
        )
        .with_state(state)
}

fn with_etag(status: StatusCode, view: McpServerView) -> impl IntoResponse {
    (status, [(header::ETAG, etag(view.version))], Json(view))
}

/// Create an MCP server config; the connection is tested first.
#[utoipa::path(post, path = "/ai/api/v1/config/mcp-server", tag = "mcp_servers",
    request_body = McpServerInput,
    responses(
        (status = 201, description = "Tested and created; `connection_test_result` included", body = McpServerView),
        (status = 400, description = "Invalid input; `errors` name the fields", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
        (status = 404, description = "`auth_config_id` names no auth config in this tenant; `errors` name the field", body = Problem),
        (status = 409, description = "The auth config was deleted meanwhile", body = Problem),
        (status = 422, description = "Connection test failed; nothing stored", body = Problem),
        (status = 429, description = "Over a rate limit; retry after `Retry-After` seconds", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds until the limit allows it again"))),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn create_mcp_server(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let view = mcp_server::create(&state, &principal, body).await?;
    tracing::info!(id = %view.id, tools = view.tool_names.len(), "MCP server config created");
    Ok(with_etag(StatusCode::CREATED, view))
}

/// List MCP server configs, oldest first.
#[utoipa::path(get, path = "/ai/api/v1/config/mcp-server", tag = "mcp_servers",
    params(ListQuery),
    responses((status = 200, description = "A page of MCP server configs", body = Page<McpServerView>)))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn list_mcp_servers(
    State(state): State<AppState>,
    principal: Principal,
    params: ListParams,
) -> Result<Json<Page<McpServerView>>, ApiError> {
    Ok(Json(mcp_server::list(&state, &principal, &params).await?))
}

/// Get one MCP server config.
#[utoipa::path(get, path = "/ai/api/v1/config/mcp-server/{id}", tag = "mcp_servers",
    params(("id" = String, Path, description = "MCP server config id")),
    responses(
        (status = 200, description = "The config", body = McpServerView),
        (status = 404, description = "No such config in this tenant", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn get_mcp_server(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(with_etag(
        StatusCode::OK,
        mcp_server::get(&state, &principal, &id).await?,
    ))
}

/// Update with a JSON merge patch; changing `url`, `timeout_seconds` or `auth_config_id` re-tests
/// first (422 leaves the config unchanged).
#[utoipa::path(patch, path = "/ai/api/v1/config/mcp-server/{id}", tag = "mcp_servers",
    params(
        ("id" = String, Path, description = "MCP server config id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = McpServerView),
        (status = 400, description = "Invalid result", body = Problem),
        (status = 404, description = "No such config in this tenant", body = Problem),
        (status = 409, description = "Version conflict", body = Problem),
        (status = 422, description = "Connection test failed; nothing changed", body = Problem),
        (status = 429, description = "Over a rate limit; retry after `Retry-After` seconds", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds until the limit allows it again"))),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn patch_mcp_server(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match(&headers);
    let view = mcp_server::patch(&state, &principal, &id, patch, expected).await?;
    tracing::info!(version = view.version, "MCP server config updated");
    Ok(with_etag(StatusCode::OK, view))
}

/// Delete an MCP server config; 409 while an agent uses it.
#[utoipa::path(delete, path = "/ai/api/v1/config/mcp-server/{id}", tag = "mcp_servers",
    params(
        ("id" = String, Path, description = "MCP server config id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such config in this tenant", body = Problem),
        (status = 409, description = "Still referenced, or version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn delete_mcp_server(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers);
    mcp_server::delete(&state, &principal, &id, expected).await?;
    tracing::info!("MCP server config deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Re-test a stored config: status, tools, diagnosis and tool changes since the last successful test.
#[utoipa::path(post, path = "/ai/api/v1/config/mcp-server/{id}/test", tag = "mcp_servers",
    params(("id" = String, Path, description = "MCP server config id")),
    responses(
        (status = 200, description = "The test result (SUCCESS or FAILED)", body = ConnectionTestResult),
        (status = 404, description = "No such config in this tenant", body = Problem),
        (status = 429, description = "Over a rate limit; retry after `Retry-After` seconds", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds until the limit allows it again"))),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn test_mcp_server(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTestResult>, ApiError> {
    let result = mcp_server::retest(&state, &principal, &id).await?;
    tracing::info!(status = ?result.status, category = ?result.category, "MCP server re-tested");
    Ok(Json(result))
}
