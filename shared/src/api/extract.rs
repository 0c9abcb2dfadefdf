//! Request extractors: who is calling ([`Principal`]) and a strict JSON body ([`ApiJson`]), both
//! rejecting with problem+json instead of axum's plain-text defaults.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::error::FieldError;

/// Largest accepted request body.
/// 512 KiB: room for the longest valid record (a 50,000-character prompt in any script plus a
/// 64 KiB input schema), so every body the OpenAPI document allows fits.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The authenticated caller: set by the API Gateway authorizer (request context) or, locally, by
/// the authorizer middleware (request extension). Every record is scoped to `tenant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant whose records the caller sees.
    pub tenant_id: String,
    /// The user acting.
    pub user_id: String,
}

impl Principal {
    /// The principal named in an API Gateway REST authorizer context, if any.
    fn from_lambda_context(parts: &Parts) -> Option<Self> {
        use lambda_http::request::RequestContext;
        let RequestContext::ApiGatewayV1(ctx) = parts.extensions.get::<RequestContext>()? else {
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
        Some(Self {
            tenant_id: field("tenant_id")?,
            user_id: field("user_id")?,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        Self::from_lambda_context(parts).ok_or(ApiError::Unauthenticated)
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

/// Rewrites a serde error message so that it names the problem but never the offending value.
pub(crate) fn describe_serde_error(path: &str, message: &str) -> FieldError {
    let field = if path == "." {
        String::new()
    } else {
        path.to_owned()
    };
    // serde_path_to_error's path already ends at an unknown field, but stops at the parent of a
    // missing one.
    let join = |name: &str| {
        if field.is_empty() || field == name || field.ends_with(&format!(".{name}")) {
            if field.is_empty() {
                name.to_owned()
            } else {
                field.clone()
            }
        } else {
            format!("{field}.{name}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return FieldError::new(
            join(rest.split('`').next().unwrap_or_default()),
            "is not a known field",
        );
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return FieldError::new(
            join(rest.split('`').next().unwrap_or_default()),
            "is required",
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let expected = message
            .split(", expected ")
            .nth(1)
            .unwrap_or("another value");
        let expected = expected.split(" at line ").next().unwrap_or(expected);
        return FieldError::new(field, format!("must be {expected}"));
    }
    if message.starts_with("unknown variant `") {
        let expected = message
            .split(", expected ")
            .nth(1)
            .unwrap_or("a known value");
        let expected = expected.split(" at line ").next().unwrap_or(expected);
        return FieldError::new(field, format!("must be {expected}"));
    }
    // A type's own `#[serde(expecting = "must be ...")]` text: ours, never the input.
    if message.starts_with("must be ") {
        return FieldError::new(field, message.split(" at line ").next().unwrap_or(message));
    }
    if message.starts_with("data did not match any variant") {
        return FieldError::new(field, "is not in an accepted form");
    }
    if message.starts_with("duplicate field `") {
        return FieldError::new(field, "is given more than once");
    }
    // Any other serde message may quote the input: say only that it is invalid.
    FieldError::new(
        if field.is_empty() {
            "body".to_owned()
        } else {
            field
        },
        "is invalid",
    )
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
    fn type_errors_never_echo_the_value() {
        let e = describe_serde_error(
            "password",
            "invalid type: integer `12345`, expected a string at line 1 column 9",
        );
        assert_eq!(e.field, "password");
        assert!(!e.message.contains("12345"), "{}", e.message);
    }

    #[test]
    fn unknown_enum_values_are_not_echoed() {
        let e = describe_serde_error(
            "type",
            "unknown variant `s3cret`, expected one of `NONE`, `BASIC`",
        );
        assert_eq!(e.message, "must be one of `NONE`, `BASIC`");
        let e = describe_serde_error("x", "invalid length 3, expected fewer: s3cret");
        assert!(!e.message.contains("s3cret"));
    }

    #[test]
    fn untagged_mismatches_use_the_types_own_message_or_a_generic_one() {
        let e = describe_serde_error(
            "password",
            "must be the secret as a string at line 1 column 9",
        );
        assert_eq!(e.message, "must be the secret as a string");
        let e = describe_serde_error("x", "data did not match any variant of untagged enum Y");
        assert_eq!(e.message, "is not in an accepted form");
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let e = describe_serde_error(
            "basic.pasword",
            "unknown field `pasword`, expected `username`",
        );
        assert_eq!(e.field, "basic.pasword");
        let e = describe_serde_error("basic", "missing field `password`");
        assert_eq!(e.field, "basic.password");
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }
}
