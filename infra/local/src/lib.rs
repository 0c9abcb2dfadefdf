//! The whole Agent Studio Connect API in one process for a laptop: every function's router merged
//! under one listener, the authorizer run as middleware, the embedded SQLite store and a local key
//! file by default (or DynamoDB/KMS through the AWS environment), the generated OpenAPI document,
//! and the web console under `/console` (with a local sign-in page: sessions come from Agent Studio
//! in a deployment).

pub mod cli;
pub mod conformance;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::{
    AppState,
    api::{self, ApiError},
    store::Store,
};
use utoipa::{
    OpenApi,
    openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    },
};

/// Path of the OpenAPI document (served without a session).
pub const OPENAPI_PATH: &str = "/ai/api/v1/openapi.json";

/// The OpenAPI 3.1 document of every endpoint, generated from the handlers' annotations.
#[utoipa::path(get, path = "/ai/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This document")))]
async fn get_openapi() -> Json<serde_json::Value> {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(openapi_document).clone())
}

/// The merged document as served: [`openapi`] completed with what the shared plumbing answers
/// for every operation ([`shared::api::openapi::complete`]).
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(openapi()).unwrap_or_default();
    shared::api::openapi::complete(&mut doc);
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agent Studio Connect API",
        description = "Credentials and MCP server configurations that let AI agents use tools of external MCP servers."
    ),
    paths(get_openapi)
)]
struct MetaDoc;

/// The merged OpenAPI document of all functions.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = MetaDoc::openapi();
    doc.merge(auth_configs::ApiDoc::openapi());
    doc.merge(mcp_servers::ApiDoc::openapi());
    doc.merge(oauth::ApiDoc::openapi());
    doc.merge(agents::ApiDoc::openapi());
    doc.merge(agent_tools::ApiDoc::openapi());
    doc.merge(mcp_gateway::ApiDoc::openapi());
    doc.merge(audit::ApiDoc::openapi());
    doc.merge(webhooks::ApiDoc::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("sessionid"))),
    );
    components.add_security_scheme(
        "api_token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc.security = Some(vec![
        SecurityRequirement::new("session", Vec::<String>::new()),
        SecurityRequirement::new("api_token", Vec::<String>::new()),
    ]);
    doc
}

/// The local stand-in for the API Gateway authorizer: resolves the session or API token and hands
/// the principal to the handlers as a request extension; 401 problem otherwise.
async fn authenticate(
    State(store): State<Arc<dyn Store>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    // Public: the OpenAPI document, the client metadata document, the JWKS of held signing keys,
    // and the console's sign-in page with its assets (static files; every data call they make is authenticated). Not here
    // either: what authenticates itself.
    if [
        OPENAPI_PATH,
        shared::config::CLIENT_METADATA_PATH,
        console::SIGN_IN_PATH,
    ]
    .contains(&path)
        || path.starts_with(console::ASSETS_PATH)
        || path.starts_with(oauth::JWKS_PREFIX)
        // The agents' MCP endpoints authenticate their own requests (external access tokens,
        // the RFC 9728 challenge), as they do in AWS.
        || mcp_gateway::authenticates_itself(path)
    {
        return next.run(req).await;
    }
    let console_page = console::serves(path);
    match authorizer::authenticate(store.as_ref(), req.headers()).await {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        // A browser without a session is sent to sign in (and back here afterwards) rather than
        // shown a JSON 401. Never with the callback's query: a code and state do not travel on.
        Ok(None) if console_page => {
            let back = match req.uri().path_and_query() {
                Some(pq) if !req.uri().path().starts_with(console::CALLBACK_PATH) => pq.as_str(),
                _ => console::BASE_PATH,
            };
            let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            let target = format!("{}?return_to={back}", console::SIGN_IN_PATH);
            axum::response::Redirect::to(&target).into_response()
        }
        Ok(None) => ApiError::Unauthenticated.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// One access-log line per request: method, path (never the query or headers, which may carry
/// credentials), status and latency.
async fn access_log(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// Serves `app` on `listener` until the future is dropped or `shutdown` completes, every accepted
/// connection with `TCP_NODELAY` set: without it, a response written in two parts waits for the
/// client's delayed acknowledgement (40 ms on Linux) before its second part goes out.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY could not be set on a connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every function's routes behind the authorizer middleware, plus the OpenAPI document.
pub fn app(state: AppState) -> Router {
    let store = Arc::clone(&state.store);
    let router = Router::new()
        .route(OPENAPI_PATH, get(get_openapi))
        .merge(auth_configs::router(state.clone()))
        .merge(mcp_servers::router(state.clone()))
        .merge(oauth::router(state.clone()))
        .merge(agents::router(state.clone()))
        .merge(agent_tools::router(state.clone()))
        .merge(mcp_gateway::router(state.clone()))
        .merge(audit::router(state.clone()))
        .merge(webhooks::router(state.clone()));
    let router = mcp_gateway::authenticating(api::protect(router, state.clone()), state)
        .merge(console::router());
    // The authorizer wraps the routes; the shared finish (fallbacks, security headers) wraps
    // it, so its 401s carry the same headers as every other answer.
    let router = router.layer(middleware::from_fn_with_state(store, authenticate));
    api::with_fallbacks(router).layer(middleware::from_fn(access_log))
}

#[cfg(test)]
mod tests {
    /// The document a deployment publishes (`docs/openapi.json`, served by the console function)
    /// is the one the code generates.
    #[test]
    fn the_published_openapi_document_is_current() {
        let published: serde_json::Value =
            serde_json::from_str(console::OPENAPI_DOCUMENT).expect("docs/openapi.json is JSON");
        assert!(
            published == super::openapi_document(),
            "docs/openapi.json is stale: regenerate it with \
             `cargo run -p studio-local -- openapi > docs/openapi.json`"
        );
    }
}
