//! HTTP API plumbing every function reuses: the RFC 9457 [`ApiError`], the [`Principal`] and
//! [`ApiJson`] extractors, [`ListParams`]/[`Page`] pagination, and the Lambda adapter that serves an
//! axum router behind API Gateway.

mod error;
pub(crate) mod extract;
pub mod lambda;
mod pagination;

pub use error::{ApiError, Problem};
pub(crate) use extract::describe_serde_error;
pub use extract::{ApiJson, MAX_BODY_BYTES, Principal};
pub use pagination::{DEFAULT_LIMIT, ListParams, MAX_LIMIT, Page};

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

/// The version an `If-Match` header asks for (`"3"`); `*` or no header means any version.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::field("If-Match", "must be an ETag this API issued, such as \"3\"")
        })
}

async fn route_not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Adds problem+json answers for unknown routes (404) and wrong methods (405). Applied once to the
/// outermost router (each Lambda's, or the merged local one).
pub fn with_fallbacks(router: Router) -> Router {
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
}
