//! The agent-tools function, the runtime path of an agent: `GET /ai/api/v1/agent/{id}/tools`
//! (the catalogue; `?refresh=true` lists live), `POST /ai/api/v1/agent/{id}/tools/call`, and
//! the approvals that calls held by the tenant's policies wait for: `GET /ai/api/v1/approvals`,
//! `GET /ai/api/v1/approvals/{id}`, `POST /ai/api/v1/approvals/{id}/approve` and `…/deny`.

use axum::{
    Extension, Json, Router,
    extract::{FromRequest, Path, Query, RawQuery, Request},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;
use shared::{
    AppState,
    api::{ApiError, ApiJson, Caller, Page, Problem, audit::CallNote, parse_list_query},
    model::{
        agent_tools::{
            self, ApprovalRequiredResponse, CallOutcome, CatalogueServer, CatalogueTool,
            ToolCallInput, ToolCallResponse, ToolCatalogue,
        },
        approval::{
            self, ApprovalCall, ApprovalDecision, ApprovalStatus, ApprovalView, Decision,
            DecisionInput,
        },
    },
};
use utoipa::{IntoParams, OpenApi};

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_tools,
        call_tool,
        list_approvals,
        get_approval,
        approve,
        deny
    ),
    components(schemas(
        ToolCatalogue,
        CatalogueTool,
        CatalogueServer,
        ToolCallInput,
        ToolCallResponse,
        ApprovalRequiredResponse,
        ApprovalView,
        ApprovalCall,
        ApprovalDecision,
        ApprovalStatus,
        DecisionInput,
        Page<ApprovalView>,
        Problem
    ))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ai/api/v1/agent/{id}/tools", get(list_tools))
        .route("/ai/api/v1/agent/{id}/tools/call", post(call_tool))
        .route("/ai/api/v1/approvals", get(list_approvals))
        .route("/ai/api/v1/approvals/{id}", get(get_approval))
        .route("/ai/api/v1/approvals/{id}/approve", post(approve))
        .route("/ai/api/v1/approvals/{id}/deny", post(deny))
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
/// MCP result (content blocks, `isError`) is returned as the server sent it. The tenant's
/// policies decide first: a denied call is a 403, and one that needs a person's approval a 202
/// with the approval (call again with its `approval_id` once approved).
#[utoipa::path(post, path = "/ai/api/v1/agent/{id}/tools/call", tag = "agent_tools",
    params(("id" = String, Path, description = "Agent id")),
    request_body = ToolCallInput,
    responses(
        (status = 200, description = "The tool ran (its own errors have `is_error`)", body = ToolCallResponse),
        (status = 202, description = "The tenant's policies ask for a person's approval first; nothing was sent", body = ApprovalRequiredResponse),
        (status = 400, description = "Unknown tool, or arguments that violate its schema; `errors` name the paths", body = Problem),
        (status = 403, description = "`policy-denied`: the tenant's policies (or a read-only agent) forbid the call, `policies` name them; `approval-refused`: the `approval_id` is not usable for this call. Nothing was sent", body = Problem),
        (status = 404, description = "No such agent (or approval) in this tenant", body = Problem),
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
    note: Option<Extension<CallNote>>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let called = agent_tools::call(&state, &principal, &id, body, None).await;
    if let Some(Extension(note)) = note {
        note.set(called.record.clone());
    }
    let record = &called.record;
    match called.result? {
        CallOutcome::Ran(response) => {
            tracing::info!(
                tool = %response.tool,
                server = %response.server_config_id,
                is_error = response.is_error,
                elapsed_ms = response.elapsed_ms,
                approval = ?record.approval_id,
                "tool called"
            );
            Ok(Json(response).into_response())
        }
        CallOutcome::Held(held) => {
            tracing::info!(
                approval = %held.approval.id,
                policies = ?held.approval.call.policies,
                "tool call waits for approval"
            );
            Ok((StatusCode::ACCEPTED, Json(held)).into_response())
        }
    }
}

/// The query of `GET /approvals` beyond pagination (documentation; parsed with the pagination).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ApprovalsQuery {
    /// Only approvals in this status (`pending`, `approved`, `denied`, `used`, `expired`).
    status: Option<ApprovalStatus>,
}

/// Calls waiting for (or given) a person's approval, oldest first: an admin sees the tenant's,
/// a member their own.
#[utoipa::path(get, path = "/ai/api/v1/approvals", tag = "approvals",
    params(ApprovalsQuery, shared::api::openapi::ListQuery),
    responses(
        (status = 200, description = "One page of approvals", body = Page<ApprovalView>),
        (status = 400, description = "Invalid `limit`, `next_token` or `status`", body = Problem),
    ))]
async fn list_approvals(
    Caller { state, principal }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<ApprovalView>>, ApiError> {
    let (params, extra) = parse_list_query(raw.as_deref(), &["status"])?;
    let status = extra
        .into_iter()
        .find(|(name, _)| name == "status")
        .map(|(_, value)| {
            serde_json::from_value::<ApprovalStatus>(Value::String(value)).map_err(|_| {
                ApiError::field(
                    "status",
                    "must be pending, approved, denied, used or expired",
                )
            })
        })
        .transpose()?;
    Ok(Json(
        approval::list(&state, &principal, &params, status).await?,
    ))
}

/// One approval, with the call's arguments: an admin reads any, a member their own.
#[utoipa::path(get, path = "/ai/api/v1/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "Approval id")),
    responses(
        (status = 200, description = "The approval", body = ApprovalView),
        (status = 404, description = "No such approval of the caller's", body = Problem),
    ))]
async fn get_approval(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApprovalView>, ApiError> {
    Ok(Json(approval::get(&state, &principal, &id).await?))
}

/// An optional decision body: none, empty or `null` is no reason.
async fn decision_input(request: Request) -> Result<DecisionInput, ApiError> {
    let empty = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length == "0")
        || (request.headers().get(header::CONTENT_LENGTH).is_none()
            && request.headers().get(header::TRANSFER_ENCODING).is_none());
    if empty {
        return Ok(DecisionInput::default());
    }
    let ApiJson(input) = ApiJson::<Option<DecisionInput>>::from_request(request, &()).await?;
    Ok(input.unwrap_or_default())
}

/// Approve a pending call: the caller who asked may run it once, with exactly its arguments,
/// before the approval expires. Only an admin other than that caller may.
#[utoipa::path(post, path = "/ai/api/v1/approvals/{id}/approve", tag = "approvals",
    params(("id" = String, Path, description = "Approval id")),
    request_body(content = Option<DecisionInput>, description = "Optional: why"),
    responses(
        (status = 200, description = "Approved", body = ApprovalView),
        (status = 403, description = "`approval-refused`: the caller asked for it themselves", body = Problem),
        (status = 404, description = "No such approval in this tenant", body = Problem),
        (status = 409, description = "Decided already, used, or expired", body = Problem),
    ))]
async fn approve(
    caller: Caller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<ApprovalView>, ApiError> {
    decided(caller, &id, request, Decision::Approve).await
}

/// Decides approval `id` with the optional body of `request`.
async fn decided(
    Caller { state, principal }: Caller,
    id: &str,
    request: Request,
    decision: Decision,
) -> Result<Json<ApprovalView>, ApiError> {
    let input = decision_input(request).await?;
    let view = approval::decide(&state, &principal, id, decision, input).await?;
    tracing::info!(approval = %view.id, status = ?view.status, "approval decided");
    Ok(Json(view))
}

/// Deny a pending call: it does not run. Only an admin other than the caller who asked may.
#[utoipa::path(post, path = "/ai/api/v1/approvals/{id}/deny", tag = "approvals",
    params(("id" = String, Path, description = "Approval id")),
    request_body(content = Option<DecisionInput>, description = "Optional: why (shown to the caller)"),
    responses(
        (status = 200, description = "Denied", body = ApprovalView),
        (status = 403, description = "`approval-refused`: the caller asked for it themselves", body = Problem),
        (status = 404, description = "No such approval in this tenant", body = Problem),
        (status = 409, description = "Decided already, used, or expired", body = Problem),
    ))]
async fn deny(
    caller: Caller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<ApprovalView>, ApiError> {
    decided(caller, &id, request, Decision::Deny).await
}
