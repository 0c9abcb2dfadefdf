//! The oauth function: `POST /ai/api/v1/oauth/{auth_config_id}/authorize?redirect_uri=…` starts
//! the authorization-code flow of an `AUTHORIZATION_CODE` auth config, and
//! `GET /ai/api/v1/oauth/callback?code=…&state=…` (or `error=…&state=…`) finishes it: the state is
//! consumed once, the code redeemed once, and the tokens stored encrypted.
//! `GET /ai/api/v1/oauth/{auth_config_id}/callback` does the same for one config's
//! authorizations only (a per-config redirect URI: the mix-up defence for servers that do not
//! name themselves in `iss`).
//! `GET /ai/api/v1/oauth/client-metadata.json` (public, no session) is this deployment's client
//! ID metadata document, when `PUBLIC_BASE_URL` is configured.
//! `GET /ai/api/v1/oauth/jwks/{kid}` (public) is the JWKS of one key this service holds for a
//! `private_key_jwt` auth config: what the authorization server verifies its assertions with. `GET /ai/api/v1/oauth/connections`
//! lists the caller's own connections to `per_user` auth configs, and
//! `DELETE /ai/api/v1/oauth/connections/{auth_config_id}` disconnects the caller from one.

use axum::{
    Json, Router,
    extract::{Path, RawQuery},
    routing::{get, post},
};
use shared::crypto::signing::{Jwks, PublicJwk};
use shared::{
    AppState,
    api::{ApiError, Caller, Problem},
    model::{
        auth_config::AuthConfigView,
        oauth_flow::{self, AuthorizeResponse},
        resource::{ListParams, Page},
        user_connections::{self, ConnectionView},
    },
};
use utoipa::{IntoParams, OpenApi};

/// OpenAPI description of this function's endpoints.
#[derive(OpenApi)]
#[openapi(
    paths(authorize, callback, config_callback, client_metadata, jwks, list_connections, disconnect),
    components(schemas(AuthorizeResponse, AuthConfigView, Problem, ConnectionView, Page<ConnectionView>, Jwks, PublicJwk))
)]
pub struct ApiDoc;

/// Where the public JWKS of held signing keys are served (`{JWKS_PREFIX}{kid}`).
pub use shared::model::auth_record::JWKS_PREFIX;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/ai/api/v1/oauth/{auth_config_id}/authorize",
            post(authorize),
        )
        .route("/ai/api/v1/oauth/callback", get(callback))
        .route(
            "/ai/api/v1/oauth/{auth_config_id}/callback",
            get(config_callback),
        )
        .route(shared::config::CLIENT_METADATA_PATH, get(client_metadata))
        .route("/ai/api/v1/oauth/jwks/{kid}", get(jwks))
        .route("/ai/api/v1/oauth/connections", get(list_connections))
        .route(
            "/ai/api/v1/oauth/connections/{auth_config_id}",
            axum::routing::delete(disconnect),
        )
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
        (status = 403, description = "A `shared` auth config: authorizing it needs the `admin` role", body = Problem),
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

/// The query of both callbacks, for the OpenAPI document
/// ([`oauth_flow::parse_callback_query`] parses it).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` from authorize.
    #[param(min_length = 1)]
    pub state: String,
    /// The authorization server's issuer (RFC 9207); checked whenever present.
    pub iss: Option<String>,
    /// The authorization server's error code instead of a code.
    pub error: Option<String>,
}

/// What both callbacks answer.
#[derive(utoipa::IntoResponses)]
#[allow(
    dead_code,
    reason = "the answers as documented; the handlers build them as ApiError"
)]
enum CallbackAnswers {
    /// Tokens stored; the auth config with `token_status: VALID`.
    #[response(status = 200)]
    Stored(Box<AuthConfigView>),
    /// Unknown, expired, used or foreign state; a state of another config's authorization (at
    /// a config's own callback); an `iss` of another server; an error from the server;
    /// duplicate or oversized parameters.
    #[response(status = 400)]
    Refused(Problem),
    /// The auth config was deleted.
    #[response(status = 404)]
    Deleted(Problem),
    /// The auth config's server or client changed since authorize.
    #[response(status = 409)]
    Changed(Problem),
    /// The token endpoint failed.
    #[response(status = 502)]
    TokenEndpointFailed(Problem),
}

/// Finish the authorization-code flow: redeem the code and store the tokens.
#[utoipa::path(
    get,
    path = "/ai/api/v1/oauth/callback",
    tag = "oauth",
    params(CallbackQuery),
    responses(CallbackAnswers)
)]
#[tracing::instrument(skip_all, fields(tenant = %caller.principal.tenant_id))]
async fn callback(
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<AuthConfigView>, ApiError> {
    finish(caller, query, None).await
}

/// Both callbacks: the query parsed, the flow finished (for `config`'s flows only, when the
/// address names one).
async fn finish(
    Caller { state, principal }: Caller,
    query: Option<String>,
    config: Option<String>,
) -> Result<Json<AuthConfigView>, ApiError> {
    let mut params = oauth_flow::parse_callback_query(query.as_deref())?;
    params.auth_config_id = config;
    let view = oauth_flow::callback(&state, &principal, params).await?;
    tracing::info!(auth_config_id = %view.meta.id, "authorization completed");
    Ok(Json(view))
}

/// Finish the authorization-code flow at a callback address of one auth config: as
/// `/oauth/callback`, and the response must belong to an authorization of that config. Register
/// it as the redirect URI (the console's `/console/oauth/callback/{id}` forwards here): a code
/// an authorization server sends to one config's address can then never be redeemed at another
/// config's token endpoint (mix-up, RFC 9700 §4.4), even when the server does not name itself.
#[utoipa::path(get, path = "/ai/api/v1/oauth/{auth_config_id}/callback", tag = "oauth",
    params(
        ("auth_config_id" = String, Path, description = "The auth config whose authorization this finishes"),
        CallbackQuery,
    ),
    responses(CallbackAnswers))]
#[tracing::instrument(skip_all, fields(tenant = %caller.principal.tenant_id, auth_config_id = %auth_config_id))]
async fn config_callback(
    caller: Caller,
    Path(auth_config_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<AuthConfigView>, ApiError> {
    finish(caller, query, Some(auth_config_id)).await
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

/// The public key of one signing key this service holds for a `private_key_jwt` auth config, as
/// a JWKS: register this URL as the client's `jwks_uri` at the authorization server (or its one
/// key as the client's `jwks`). Read from the store; the key service is not called.
#[utoipa::path(get, path = "/ai/api/v1/oauth/jwks/{kid}", tag = "oauth", security(()),
    params(("kid" = String, Path, description = "The key id (`client_assertion.kid` of the auth config)")),
    responses(
        (status = 200, description = "The key set", body = Jwks),
        (status = 404, description = "No such key (never created, or its auth config was deleted)", body = Problem),
    ))]
async fn jwks(
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(kid): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let key = shared::model::auth_records::client_assertion::published(&state, &kid)
        .await?
        .ok_or(ApiError::NotFound("signing key"))?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        Json(Jwks { keys: vec![key] }),
    ))
}

/// The caller's connections to `per_user` auth configs: status, scopes and expiry of their own
/// tokens.
#[utoipa::path(get, path = "/ai/api/v1/oauth/connections", tag = "oauth",
    params(shared::api::openapi::ListQuery),
    responses(
        (status = 200, description = "One page of the caller's connections", body = Page<ConnectionView>),
        (status = 400, description = "Invalid `limit` or `next_token`", body = Problem),
    ))]
async fn list_connections(
    Caller { state, principal }: Caller,
    params: ListParams,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    Ok(Json(
        user_connections::list(&state, &principal, &params).await?,
    ))
}

/// Disconnect the caller from a `per_user` auth config: the refresh token is revoked at the
/// provider when a revocation endpoint is known (best effort), then the caller's tokens are
/// deleted. Other users stay connected.
#[utoipa::path(delete, path = "/ai/api/v1/oauth/connections/{auth_config_id}", tag = "oauth",
    params(("auth_config_id" = String, Path, description = "A `per_user` AUTHORIZATION_CODE auth config")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 404, description = "No such auth config, or the caller is not connected to it", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %principal.tenant_id))]
async fn disconnect(
    Caller { state, principal }: Caller,
    Path(auth_config_id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    user_connections::disconnect(&state, &principal, &auth_config_id).await?;
    tracing::info!(auth_config_id = %auth_config_id, "user disconnected");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
