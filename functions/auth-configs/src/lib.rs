//! The auth-configs function: `POST/GET /ai/api/v1/auth_configs` and
//! `GET/PATCH/DELETE /ai/api/v1/auth_configs/{id}`. Handlers only extract, call
//! `shared::model::auth_config` and shape the response.

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
    model::auth_config::{self, AuthConfigInput, AuthConfigView},
};
use utoipa::OpenApi;

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(create_auth_config, list_auth_configs, get_auth_config, patch_auth_config, delete_auth_config),
    components(schemas(AuthConfigInput, AuthConfigView, Problem, Page<AuthConfigView>))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/ai/api/v1/auth_configs",
            post(create_auth_config).get(list_auth_configs),
        )
        .route(
            "/ai/api/v1/auth_configs/{id}",
            get(get_auth_config)
                .patch(patch_auth_config)
                .delete(delete_auth_config),
        )
        .with_state(state)
}

fn with_etag(status: StatusCode, view: AuthConfigView) -> impl IntoResponse {
    (status, [(header::ETAG, etag(view.version))], Json(view))
}

/// Create an auth config.
#[utoipa::path(post, path = "/ai/api/v1/auth_configs", tag = "auth_configs",
    request_body = AuthConfigInput,
    responses(
        (status = 201, description = "Created", body = AuthConfigView),
        (status = 400, description = "Invalid input; `errors` name the fields", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
        (status = 413, description = "Body too large", body = Problem),
        (status = 415, description = "Body is not JSON", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn create_auth_config(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let view = auth_config::create(&state, &principal, body).await?;
    tracing::info!(id = %view.id, auth_type = ?view.auth_type, "auth config created");
    Ok(with_etag(StatusCode::CREATED, view))
}

/// List auth configs, oldest first.
#[utoipa::path(get, path = "/ai/api/v1/auth_configs", tag = "auth_configs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of auth configs", body = Page<AuthConfigView>),
        (status = 400, description = "Invalid query", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn list_auth_configs(
    State(state): State<AppState>,
    principal: Principal,
    params: ListParams,
) -> Result<Json<Page<AuthConfigView>>, ApiError> {
    Ok(Json(auth_config::list(&state, &principal, &params).await?))
}

/// Get one auth config.
#[utoipa::path(get, path = "/ai/api/v1/auth_configs/{id}", tag = "auth_configs",
    params(("id" = String, Path, description = "Auth config id")),
    responses(
        (status = 200, description = "The auth config", body = AuthConfigView),
        (status = 404, description = "No such auth config in this tenant", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn get_auth_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let view = auth_config::get(&state, &principal, &id).await?;
    Ok(with_etag(StatusCode::OK, view))
}

/// Update an auth config with a JSON merge patch (RFC 7396). Secrets shown as `{"set": true}` are
/// kept unless replaced; `null` removes a field. `If-Match: "<version>"` makes the update conditional.
#[utoipa::path(patch, path = "/ai/api/v1/auth_configs/{id}", tag = "auth_configs",
    params(
        ("id" = String, Path, description = "Auth config id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag, e.g. \"3\""),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = AuthConfigView),
        (status = 400, description = "Invalid result; `errors` name the fields", body = Problem),
        (status = 404, description = "No such auth config in this tenant", body = Problem),
        (status = 409, description = "Version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn patch_auth_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match(&headers);
    let view = auth_config::patch(&state, &principal, &id, patch, expected).await?;
    tracing::info!(version = view.version, "auth config updated");
    Ok(with_etag(StatusCode::OK, view))
}

/// Delete an auth config; 409 while an MCP server config uses it.
#[utoipa::path(delete, path = "/ai/api/v1/auth_configs/{id}", tag = "auth_configs",
    params(
        ("id" = String, Path, description = "Auth config id"),
        ("If-Match" = Option<String>, Header, description = "Expected version as an ETag"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such auth config in this tenant", body = Problem),
        (status = 409, description = "Still referenced, or version conflict", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id, id = %id))]
async fn delete_auth_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers);
    auth_config::delete(&state, &principal, &id, expected).await?;
    tracing::info!("auth config deleted");
    Ok(StatusCode::NO_CONTENT)
}
