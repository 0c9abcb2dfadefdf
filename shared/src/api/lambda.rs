//! Serving an axum router as a Lambda behind an API Gateway REST API. `lambda_http` puts the stage
//! in the request path (`/prod/ai/api/v1/...`); we strip it before routing, so the same router
//! serves locally and in AWS, with or without a custom domain.

use axum::Router;
use lambda_http::lambda_runtime::Runtime;

use crate::telemetry::otel::{Trigger, layered};
use lambda_http::request::RequestContext;
use tower::{ServiceBuilder, util::MapRequestLayer};

/// Removes a leading `/<stage>` from the path of a request that came through API Gateway.
pub fn strip_stage<B>(mut req: http::Request<B>) -> http::Request<B> {
    let stage = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return req;
    };
    let prefix = format!("/{stage}");
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    if let Some(rest) = path_and_query.strip_prefix(&prefix) {
        if rest.starts_with('/') || rest.starts_with('?') || rest.is_empty() {
            let rest = if rest.is_empty() || rest.starts_with('?') {
                format!("/{rest}")
            } else {
                rest.to_owned()
            };
            if let Ok(uri) = rest.parse() {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// A request as `lambda_http` hands it over.
pub type LambdaHttpRequest = http::Request<lambda_http::Body>;

/// The router behind the stage-stripping step.
pub type LambdaService =
    tower::util::MapRequest<Router, fn(LambdaHttpRequest) -> LambdaHttpRequest>;

/// The router wrapped for Lambda: stage stripped before routing.
pub fn service(router: Router) -> LambdaService {
    ServiceBuilder::new()
        .layer(MapRequestLayer::new(strip_stage as fn(_) -> _))
        .service(router)
}

/// Runs `router` on the Lambda runtime until the environment shuts it down, one span per
/// invocation when traces are exported.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    let runtime = Runtime::new(lambda_http::Adapter::from(service(router)));
    layered(runtime, Trigger::Http).run().await
}

/// The whole `main` of an API function: telemetry, the typed configuration (read once), the
/// state built from it, and `router(state)` served with the role check, the audit log, the
/// shared fallbacks and headers.
pub async fn serve(router: fn(crate::AppState) -> Router) -> Result<(), lambda_http::Error> {
    serve_authenticating(router, |routes, _| routes, false).await
}

/// What a function serves: `router(state)` with the role check and the audit log, wrapped by
/// `authenticating` (for routes that authenticate themselves; the identity otherwise), and the
/// shared fallbacks and headers.
pub fn app(
    router: fn(crate::AppState) -> Router,
    authenticating: fn(Router, crate::AppState) -> Router,
    state: crate::AppState,
) -> Router {
    let routes = super::protect(router(state.clone()), state.clone());
    super::with_fallbacks(authenticating(routes, state))
}

/// [`serve`] for a function whose routes API Gateway serves without the authorizer, which
/// authenticate their requests themselves: `authenticating` wraps the protected routes with
/// that step, so the role check and the audit log see the principal it names. With `streaming`,
/// answers are streamed (Lambda response streaming, for API Gateway integrations whose
/// response transfer mode is `STREAM`): a body reaches the client as it is written.
pub async fn serve_authenticating(
    router: fn(crate::AppState) -> Router,
    authenticating: fn(Router, crate::AppState) -> Router,
    streaming: bool,
) -> Result<(), lambda_http::Error> {
    crate::telemetry::init_lambda();
    let config = crate::config::Config::from_env()?;
    let state = crate::AppState::from_config(&config).await?;
    let app = app(router, authenticating, state);
    if streaming {
        let runtime = Runtime::new(lambda_http::StreamAdapter::from(service(app)));
        layered(runtime, Trigger::Http).run().await
    } else {
        run(app).await
    }
}
