//! The mcp-servers function: `POST/GET /ai/api/v1/config/mcp-server`,
//! `GET/PATCH/DELETE /ai/api/v1/config/mcp-server/{id}` (the shared resource routes,
//! [`shared::api::resource`]), `POST …/{id}/test`, `POST …/{id}/tools/approve` and
//! `GET …/{id}/health`. Creating a config, and changing its connection, tests the server first
//! (422 with `connection_test_result` on failure, nothing stored). Tools a re-test or a health
//! check finds new or changed are pending: hidden from agents until approved.

use axum::{
    Json, Router,
    extract::{Path, RawQuery},
    routing::{get, post},
};
use shared::{
    AppState,
    api::{
        ApiError, Caller, Problem,
        resource::{self, Collection, Op},
    },
    mcp::ConnectionTestResult,
    model::{
        health::HealthView,
        mcp_server::{McpServerView, StoredMcpServer, ToolApproval},
        server_checks,
    },
};
use utoipa::OpenApi;

const RATE_LIMITED: &str = "Over a rate limit; retry after `Retry-After` seconds";

/// Where and how MCP server configs are served.
pub const MCP_SERVERS: Collection =
    Collection::new("/ai/api/v1/config/mcp-server", "mcp_servers", "mcp_server")
        .answers(&[
            (
                Op::Create,
                404,
                "`auth_config_id` names no auth config in this tenant; `errors` name the field",
            ),
            (Op::Create, 409, "The auth config was deleted meanwhile"),
            (Op::Create, 422, "Connection test failed; nothing stored"),
            (Op::Create, 429, RATE_LIMITED),
            (Op::Patch, 422, "Connection test failed; nothing changed"),
            (Op::Patch, 429, RATE_LIMITED),
            (Op::Delete, 409, "Still used by an agent"),
        ])
        .notes(&[
            (
                Op::Create,
                "Create an MCP server config; the connection is tested first and the result \
                 included as `connection_test_result`.",
            ),
            (
                Op::Patch,
                "Update with a JSON merge patch; changing `url`, `timeout_seconds` or \
                 `auth_config_id` re-tests first (422 leaves the config unchanged).",
            ),
        ]);

/// The re-test endpoint's description.
#[derive(OpenApi)]
#[openapi(
    paths(test_mcp_server, approve_tools, server_health),
    components(schemas(ConnectionTestResult, Problem, ToolApproval, McpServerView, HealthView))
)]
struct TestDoc;

/// OpenAPI description of this function's endpoints.
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        resource::openapi::<StoredMcpServer>(&MCP_SERVERS).merge_from(TestDoc::openapi())
    }
}

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    resource::routes::<StoredMcpServer>(&MCP_SERVERS)
        .route(
            "/ai/api/v1/config/mcp-server/{id}/test",
            post(test_mcp_server),
        )
        .route(
            "/ai/api/v1/config/mcp-server/{id}/tools/approve",
            post(approve_tools),
        )
        .route(
            "/ai/api/v1/config/mcp-server/{id}/health",
            get(server_health),
        )
        .with_state(state)
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
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTestResult>, ApiError> {
    let result = server_checks::retest(&state, &principal, &id).await?;
    tracing::info!(status = ?result.status, category = ?result.category, "MCP server re-tested");
    Ok(Json(result))
}

/// Approve pending tools (new, or changed since approved) so agents see them, as they are
/// offered now: some by name, or all.
#[utoipa::path(post, path = "/ai/api/v1/config/mcp-server/{id}/tools/approve", tag = "mcp_servers",
    params(
        ("id" = String, Path, description = "MCP server config id"),
        ("If-Match" = Option<String>, Header, description = "The version reviewed: 412 if the tools changed since"),
    ),
    request_body = ToolApproval,
    responses(
        (status = 200, description = "The config, with what is still pending", body = McpServerView),
        (status = 400, description = "A name that is not pending, or neither `tools` nor `all`", body = Problem),
        (status = 404, description = "No such config in this tenant", body = Problem),
        (status = 412, description = "`If-Match` names a version that is not the current one", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn approve_tools(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
    shared::api::IfMatch(version): shared::api::IfMatch,
    shared::api::ApiJson(body): shared::api::ApiJson<serde_json::Value>,
) -> Result<Json<McpServerView>, ApiError> {
    let view = server_checks::approve(&state, &principal, &id, body, version).await?;
    tracing::info!("tools approved");
    Ok(Json(view))
}

/// The server's health and its latest checks, newest first (`?limit=`, 1 to 50, default 50).
#[utoipa::path(get, path = "/ai/api/v1/config/mcp-server/{id}/health", tag = "mcp_servers",
    params(
        ("id" = String, Path, description = "MCP server config id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Most checks to return (1 to 200; at most the 50 kept are returned)"),
    ),
    responses(
        (status = 200, description = "Health and history", body = HealthView),
        (status = 400, description = "Invalid `limit`", body = Problem),
        (status = 404, description = "No such config in this tenant", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn server_health(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<HealthView>, ApiError> {
    // The history is short: `limit` is all that applies (at most the 50 kept).
    let (params, _) = shared::api::parse_list_query(raw.as_deref(), &[])?;
    let limit = params.limit.min(shared::model::health::HISTORY_LEN);
    Ok(Json(
        server_checks::health_view(&state, &principal, &id, limit).await?,
    ))
}
