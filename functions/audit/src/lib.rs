//! The audit function: `GET /ai/api/v1/audit` lists the tenant's audit log newest first
//! (`?target=<id>` for one record's), a page at a time. The log itself is written by every API
//! function ([`shared::api::audit`]).

use axum::{Json, Router, extract::RawQuery, routing::get};
use serde::Deserialize;
use shared::{
    AppState,
    api::{ApiError, Caller, Page, Problem, parse_list_query},
    model::audit::{self, AuditEntry},
};
use utoipa::{IntoParams, OpenApi};

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(paths(list_audit), components(schemas(AuditEntry, Page<AuditEntry>, Problem)))]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ai/api/v1/audit", get(list_audit))
        .with_state(state)
}

/// The query of `GET /audit` beyond pagination (documentation; parsed with the pagination).
#[derive(Debug, Deserialize, IntoParams)]
#[allow(dead_code)]
struct AuditQuery {
    /// Only the entries about this record id.
    target: Option<String>,
}

/// The tenant's audit log, newest first: who created, changed, deleted, authorized, approved,
/// disconnected or called what, with what outcome (never a secret or an argument value).
#[utoipa::path(get, path = "/ai/api/v1/audit", tag = "audit",
    params(AuditQuery, shared::api::openapi::ListQuery),
    responses(
        (status = 200, description = "One page of entries, newest first", body = Page<AuditEntry>),
        (status = 400, description = "Invalid `limit`, `next_token` or `target`", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
    ))]
async fn list_audit(
    Caller { state, principal }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let (params, extra) = parse_list_query(raw.as_deref(), &["target"])?;
    let target = extra
        .into_iter()
        .find(|(name, _)| name == "target")
        .map(|(_, v)| v);
    Ok(Json(
        audit::list(&state, &principal, target.as_deref(), &params).await?,
    ))
}
