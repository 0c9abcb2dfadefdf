//! The auth-configs function: `POST/GET /ai/api/v1/auth_configs` and
//! `GET/PATCH/DELETE /ai/api/v1/auth_configs/{id}`, served by the shared resource routes
//! ([`shared::api::resource`]) over `shared::model::auth_config`.

use axum::Router;
use shared::{
    AppState,
    api::resource::{self, Collection, Op},
    model::auth_config::StoredAuthConfig,
};

const DISCOVERY_FAILED: &str =
    "Discovery from `discover_from` failed; `discovery_failure` names the step, nothing stored";

/// Where and how auth configs are served.
pub const AUTH_CONFIGS: Collection =
    Collection::new("/ai/api/v1/auth_configs", "auth_configs", "auth_config")
        .answers(&[
            (Op::Create, 422, DISCOVERY_FAILED),
            (Op::Delete, 409, "Still used by an MCP server config"),
        ])
        .notes(&[(
            Op::Patch,
            "Update an auth config with a JSON merge patch (RFC 7396): secrets shown as \
             `{\"set\": true}` are kept unless replaced, `null` removes a field, and `If-Match` \
             makes it conditional.",
        )]);

/// OpenAPI description of this function's endpoints.
pub struct ApiDoc;

impl utoipa::OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        resource::openapi::<StoredAuthConfig>(&AUTH_CONFIGS)
    }
}

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    resource::routes::<StoredAuthConfig>(&AUTH_CONFIGS).with_state(state)
}
