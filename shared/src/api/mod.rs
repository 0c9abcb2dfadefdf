//! HTTP API plumbing every function reuses: the RFC 9457 [`ApiError`], the [`Principal`] and
//! [`ApiJson`] extractors, [`ListParams`]/[`Page`] pagination, the role table and its check
//! ([`access`]), the audit record ([`audit`]), and the Lambda adapter that serves an axum router
//! behind API Gateway.

pub mod access;
pub mod audit;
mod error;
pub(crate) mod extract;
pub mod lambda;
pub mod openapi;
mod pagination;
pub mod resource;

pub use crate::model::resource::{ListParams, Page, Principal, Role};
pub use error::{ApiError, Problem};
pub use extract::{ApiJson, Caller, IfMatch, MAX_BODY_BYTES, principal_of};
pub use pagination::{DEFAULT_LIMIT, MAX_LIMIT, parse_list_query};

/// Base path of every endpoint.
pub const BASE_PATH: &str = "/ai/api/v1";

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, header},
};

/// The `ETag` header value for a record version.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` header asks for (RFC 9110 §13.1.1): no header or `*` means any
/// version. Entity tags are compared strongly, so a weak tag (`W/"3"`), a tag this API never
/// issued or an unreadable value matches no version: the request fails its precondition (412),
/// as RFC 9110 says, instead of being refused as malformed. A list naming several versions is
/// held to the newest one it names.
pub fn if_match(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::IF_MATCH)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    if text.trim() == "*" {
        return None;
    }
    let newest = text
        .split(',')
        .filter_map(|tag| {
            let tag = tag.trim();
            tag.strip_prefix('"')?
                .strip_suffix('"')?
                .parse::<u64>()
                .ok()
        })
        .max();
    // Versions start at 1: 0 matches nothing.
    Some(newest.unwrap_or(0))
}

/// Every function's routes as served, locally and in Lambda alike: the role check
/// ([`access::layer`]) inside the audit record ([`audit::layer`]), so a refusal is recorded too.
pub fn protect(router: Router, state: crate::AppState) -> Router {
    audit::layer(access::layer(router), state)
}

async fn route_not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Headers every answer of this API carries: nothing is cached (answers hold configuration and
/// token state), no content type is sniffed, and no page reached from an answer — above all the
/// OAuth callback, whose URL holds `code` and `state` — learns where it came from.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Finishes the outermost router (each Lambda's, or the merged local one): problem+json answers
/// for unknown routes (404) and wrong methods (405), the security headers on every answer, and
/// a server span per request when traces are exported ([`crate::telemetry::otel::server_span`]).
pub fn with_fallbacks(router: Router) -> Router {
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn(
            crate::telemetry::otel::server_span,
        ))
}
