//! Request extractors: who is calling (the domain's [`Principal`], from the authorizer) and a strict JSON body ([`ApiJson`]), both
//! rejecting with problem+json instead of axum's plain-text defaults.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::error::{FieldError, describe_serde_error};
use crate::model::resource::Principal;

/// Largest accepted request body.
/// 512 KiB: room for the longest valid record (a 50,000-character prompt in any script plus a
/// 64 KiB input schema), so every body the OpenAPI document allows fits.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The authenticated caller of a request: set by the local stack's authorizer middleware, or
/// named in an API Gateway REST authorizer context.
pub fn principal_of(extensions: &http::Extensions) -> Option<Principal> {
    if let Some(principal) = extensions.get::<Principal>() {
        return Some(principal.clone());
    }
    principal_from_lambda_context(extensions)
}

/// The principal named in an API Gateway REST authorizer context, if any.
fn principal_from_lambda_context(extensions: &http::Extensions) -> Option<Principal> {
    use lambda_http::request::RequestContext;
    let RequestContext::ApiGatewayV1(ctx) = extensions.get::<RequestContext>()? else {
        return None;
    };
    let field = |name: &str| {
        ctx.authorizer
            .fields
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|v| crate::session::valid_principal_id(v))
            .map(str::to_owned)
    };
    // The authorizer always names the role; a context without one (an authorizer older than
    // the functions) gets the least role rather than every right.
    let role = ctx
        .authorizer
        .fields
        .get("role")
        .and_then(serde_json::Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(crate::model::resource::Role::Member);
    Some(Principal::new(field("tenant_id")?, field("user_id")?, role))
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        principal_of(&parts.extensions).ok_or(ApiError::Unauthenticated)
    }
}

/// What every handler starts from: the state and the authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The application state.
    pub state: crate::AppState,
    /// Who is calling.
    pub principal: Principal,
}

impl FromRequestParts<crate::AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        Ok(Self {
            state: state.clone(),
            principal,
        })
    }
}

/// The version an `If-Match` header asks for ([`super::if_match`]; `None`: any).
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(super::if_match(&parts.headers)))
    }
}

/// A JSON body deserialized strictly: `application/json` (or a `+json` type such as
/// `application/merge-patch+json`) only (else 415), at most [`MAX_BODY_BYTES`] (else 413), and
/// deserialization errors (unknown fields, wrong types) as 400 naming the field — without echoing
/// the offending value, which may be a secret.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType(
                "The request body must be JSON: send Content-Type: application/json.".into(),
            ));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
            return Err(ApiError::PayloadTooLarge);
        }
        let bytes = Limited::new(req.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::field("body", "could not be read")
                }
            })?
            .to_bytes();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::field(
                "body",
                "is empty; a JSON object is required",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let error = if inner.is_syntax() || inner.is_eof() {
                FieldError::new(
                    "body",
                    format!(
                        "is not valid JSON (line {}, column {})",
                        inner.line(),
                        inner.column()
                    ),
                )
            } else {
                describe_serde_error(&path, &inner.to_string())
            };
            ApiError::InvalidInput {
                detail: "The request body is invalid.".into(),
                errors: vec![error],
            }
        })?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }
}
