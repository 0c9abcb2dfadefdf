//! The oauth function: `POST /ai/api/v1/oauth/{auth_config_id}/authorize?redirect_uri=…` starts
//! the authorization-code flow of an `AUTHORIZATION_CODE` auth config, and
//! `GET /ai/api/v1/oauth/callback?code=…&state=…` (or `error=…&state=…`) finishes it: the state is
//! consumed once, the code redeemed once, and the tokens stored encrypted.
//! `GET /ai/api/v1/oauth/client-metadata.json` (public, no session) is this deployment's client
//! ID metadata document, when `PUBLIC_BASE_URL` is configured.

use axum::{
    Json, Router,
    extract::{Path, RawQuery},
    routing::{get, post},
};
use shared::{
    AppState,
    api::{ApiError, Caller, Problem},
    model::{
        auth_config::AuthConfigView,
        oauth_flow::{self, AuthorizeResponse},
    },
};
use utoipa::OpenApi;

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(authorize, callback, client_metadata),
    components(schemas(AuthorizeResponse, AuthConfigView, Problem))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/ai/api/v1/oauth/{auth_config_id}/authorize",
            post(authorize),
        )
        .route("/ai/api/v1/oauth/callback", get(callback))
        .route(shared::config::CLIENT_METADATA_PATH, get(client_metadata))
        .with_state(state)
}

/// Start the authorization-code flow: where to send the user's browser.
#[utoipa::path(post, path = "/ai/api/v1/oauth/{auth_config_id}/authorize", tag = "oauth",
    params(
        ("auth_config_id" = String, Path, description = "An AUTHORIZATION_CODE auth config"),
        ("redirect_uri" = String, Query, description = "One of the auth config's allowed_redirect_uris, exactly"),
    ),
    responses(
        (status = 200, description = "Send the browser to `authorization_url`; `state` is valid for 10 minutes", body = AuthorizeResponse),
        (status = 400, description = "Not an AUTHORIZATION_CODE config, or a redirect URI not in the allowlist", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
        (status = 404, description = "No such auth config", body = Problem),
        (status = 429, description = "Over a rate limit; retry after `Retry-After` seconds", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds until the limit allows it again"))),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn authorize(
    Caller { state, principal }: Caller,
    Path(auth_config_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<AuthorizeResponse>, ApiError> {
    let redirect_uri = oauth_flow::parse_authorize_query(query.as_deref())?;
    let response =
        oauth_flow::authorize(&state, &principal, &auth_config_id, redirect_uri.as_deref()).await?;
    tracing::info!(auth_config_id = %auth_config_id, "authorization started");
    Ok(Json(response))
}

/// Finish the authorization-code flow: redeem the code and store the tokens.
#[utoipa::path(get, path = "/ai/api/v1/oauth/callback", tag = "oauth",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = String, Query, description = "The `state` from authorize"),
        ("error" = Option<String>, Query, description = "The authorization server's error code instead of a code"),
    ),
    responses(
        (status = 200, description = "Tokens stored; the auth config with `token_status: VALID`", body = AuthConfigView),
        (status = 400, description = "Unknown, expired, used or foreign state; an error from the server; duplicate or oversized parameters", body = Problem),
        (status = 401, description = "No valid session", body = Problem),
        (status = 404, description = "The auth config was deleted", body = Problem),
        (status = 409, description = "The auth config's server or client changed since authorize", body = Problem),
        (status = 502, description = "The token endpoint failed", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn callback(
    Caller { state, principal }: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<AuthConfigView>, ApiError> {
    let params = oauth_flow::parse_callback_query(query.as_deref())?;
    let view = oauth_flow::callback(&state, &principal, params).await?;
    tracing::info!(auth_config_id = %view.meta.id, "authorization completed");
    Ok(Json(view))
}

/// This deployment's OAuth client ID metadata document: authorization servers that accept such
/// documents take its URL as the client id and read the redirect URIs from it.
#[utoipa::path(get, path = "/ai/api/v1/oauth/client-metadata.json", tag = "oauth", security(()),
    responses(
        (status = 200, description = "The client metadata document", body = Object),
        (status = 404, description = "This deployment publishes none (no `PUBLIC_BASE_URL`)", body = Problem),
    ))]
async fn client_metadata(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let identity = state
        .client_identity
        .as_deref()
        .ok_or(ApiError::NotFound("client metadata document"))?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=3600")],
        Json(identity.document()),
    ))
}
