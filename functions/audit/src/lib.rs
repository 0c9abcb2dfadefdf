//! The audit function: who acts. `GET /ai/api/v1/audit` lists the tenant's audit log newest
//! first (`?target=<id>` for one record's), a page at a time; the log itself is written by every
//! API function ([`shared::api::audit`]). `GET /ai/api/v1/me` answers who the caller is and what
//! their role may do, so a client (the console) shows only what it may use.

use axum::{Json, Router, extract::RawQuery, routing::get};
use serde::{Deserialize, Serialize};
use shared::{
    AppState,
    api::{ApiError, Caller, Page, Principal, Problem, Role, access, parse_list_query},
    model::audit::{self, AuditEntry},
};
use utoipa::{IntoParams, OpenApi};

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(list_audit, me),
    components(schemas(AuditEntry, Page<AuditEntry>, Problem, Me, Role))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ai/api/v1/audit", get(list_audit))
        .route("/ai/api/v1/me", get(me))
        .with_state(state)
}

/// The query of `GET /audit` beyond pagination (documentation; parsed with the pagination).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AuditQuery {
    /// Only the entries about this record id.
    #[param(format = Uuid)]
    target: Option<String>,
}

/// The tenant's audit log, newest first: who created, changed, deleted, authorized, approved,
/// disconnected or called what, with what outcome (never a secret or an argument value).
#[utoipa::path(get, path = "/ai/api/v1/audit", tag = "audit",
    params(AuditQuery, shared::api::openapi::ListQuery),
    responses(
        (status = 200, description = "One page of entries, newest first", body = Page<AuditEntry>),
        (status = 400, description = "Invalid `limit`, `next_token` or `target`", body = Problem),
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

/// The caller: tenant, user, role, and the operations that role may call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The caller's tenant.
    pub tenant_id: String,
    /// The caller.
    pub user_id: String,
    /// The role of the caller's credential.
    pub role: Role,
    /// The operations this role may call, as `METHOD /route/{template}`, from the role table
    /// the API enforces. Authorizing a `shared` auth config needs `admin` besides.
    pub allowed: Vec<String>,
}

/// Who is calling, and what their role may do.
#[utoipa::path(get, path = "/ai/api/v1/me", tag = "audit",
    responses(
        (status = 200, description = "The caller and their role", body = Me),
    ))]
async fn me(principal: Principal) -> Json<Me> {
    let allowed = access::RULES
        .iter()
        .filter(|rule| match rule.need {
            access::Need::Public => true,
            access::Need::Role(needed) => principal.role.allows(needed),
        })
        .map(|rule| format!("{} {}", rule.method, rule.path))
        .collect();
    Json(Me {
        tenant_id: principal.tenant_id,
        user_id: principal.user_id,
        role: principal.role,
        allowed,
    })
}
