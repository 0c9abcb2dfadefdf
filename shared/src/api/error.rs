//! The one error type of the HTTP boundary. Each variant documents its status; the body is an RFC
//! 9457 problem (`application/problem+json`). Server-side faults get a generic body and their cause
//! goes to the log only.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{
    crypto::CryptoError,
    error::{Error, FieldError},
    secrets::SecretError,
    store::StoreError,
};

/// An RFC 9457 problem body.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI identifying the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Field-level errors, for invalid input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For 422: what the connection test found.
    pub connection_test_result: Option<Box<crate::mcp::ConnectionTestResult>>,
    /// For 422: the step of authorization discovery that failed, and why.
    pub discovery_failure: Option<Box<crate::oauth::discovery::DiscoveryFailure>>,
    /// For 409 `insufficient-scope` and `authorization-server-changed`: what a user must do
    /// before the MCP server accepts the auth config's token again.
    pub reauthorization: Option<Box<crate::mcp::Reauthorization>>,
    /// For 403 `policy-denied`: ids of the policies that denied the call.
    pub policies: Option<Vec<String>>,
    /// For 403 `policy-denied`: each policy that could not be evaluated for the call (which
    /// denies it), with the error.
    pub policy_errors: Option<Vec<String>>,
    /// For 403 `forbidden`: the least role that may do what was refused.
    pub required_role: Option<crate::model::role::Role>,
    /// For 500 and 503: the id under which the cause was logged (the answer itself says nothing
    /// about it).
    pub request_id: Option<String>,
}

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or invalid; `errors` name the fields.
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// Summary.
        detail: String,
        /// Field errors.
        errors: Vec<FieldError>,
    },
    /// 401: no valid session or API token.
    #[error("unauthenticated")]
    Unauthenticated,
    /// 401 (or 403 when the token lacks a scope): the credential of an endpoint that publishes
    /// protected resource metadata was missing or refused; `challenge` is its whole
    /// `WWW-Authenticate` value (RFC 9728 §5.1).
    #[error("bearer token refused: {detail}")]
    Challenged {
        /// 403 `insufficient_scope` rather than 401.
        insufficient_scope: bool,
        /// Why, in a sentence (never the token).
        detail: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
    },
    /// 403: the caller's role may not do this ([`super::access`]); nothing was changed or sent.
    #[error("forbidden: needs the {needs} role")]
    Forbidden {
        /// The least role that may.
        needs: crate::model::role::Role,
        /// What was refused, in a sentence.
        detail: String,
    },
    /// 403: a change sent with the session cookie from another site (`Origin` or
    /// `Sec-Fetch-Site` say so): refused before anything runs ([`super::access`]).
    #[error("cross-site request refused")]
    CrossSite,
    /// 403: the tenant's policies forbid the call; nothing was sent.
    #[error("denied by policy")]
    PolicyDenied(Box<crate::policy::PolicyDenial>),
    /// 403: the approval named cannot be used for this call, or decided by this caller.
    #[error("approval refused: {0}")]
    ApprovalRefused(String),
    /// 404: no such resource for this tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 404: ids the request refers to do not exist for this tenant; `errors` name the fields.
    #[error("referenced resources not found")]
    ReferencesNotFound(Vec<FieldError>),
    /// 405: the resource does not support this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state (e.g. still referenced).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429: over a rate limit; `Retry-After` says when to try again.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        /// Seconds until the limit allows it again.
        retry_after: u64,
        /// Which limit.
        detail: String,
    },
    /// 412: `If-Match` names a version that is not the current one.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// 422: the connection test failed; the body carries `connection_test_result`.
    #[error("connection test failed")]
    ConnectionTestFailed(Box<crate::mcp::ConnectionTestResult>),
    /// 422: authorization discovery failed; the body carries `discovery_failure`.
    #[error("discovery failed")]
    DiscoveryFailed(Box<crate::oauth::discovery::DiscoveryFailure>),
    /// 409: the MCP server refused the auth config's token (missing scopes, another
    /// authorization server); the body carries `reauthorization`.
    #[error("reauthorization needed")]
    Reauthorization(Box<crate::mcp::Reauthorization>),
    /// 413: the body exceeds the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 502: an upstream server (e.g. a token endpoint) failed; the detail says how.
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// 504: an upstream server (e.g. an MCP server during a tool call) did not answer in time.
    #[error("gateway timeout: {0}")]
    GatewayTimeout(String),
    /// 503: a dependency (store, KMS, Secrets Manager) is unavailable; nothing was half-written.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug; the message is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            detail: "The request is invalid.".into(),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Challenged {
                insufficient_scope, ..
            } => {
                if *insufficient_scope {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
            Self::Forbidden { .. }
            | Self::CrossSite
            | Self::PolicyDenied(_)
            | Self::ApprovalRefused(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::ReferencesNotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::Reauthorization(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ConnectionTestFailed(_) | Self::DiscoveryFailed(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem body of this error (generic for server faults).
    pub fn problem(&self) -> Problem {
        let (slug, title, detail, errors) = match self {
            Self::InvalidInput { detail, errors } => (
                "invalid-input",
                "Invalid input",
                detail.clone(),
                errors.clone(),
            ),
            Self::Unauthenticated => (
                "unauthenticated",
                "Unauthenticated",
                "A valid sessionid cookie or API token is required.".to_owned(),
                vec![],
            ),
            Self::Challenged {
                insufficient_scope: true,
                detail,
                ..
            } => (
                "insufficient-scope",
                "Insufficient scope",
                detail.clone(),
                vec![],
            ),
            Self::Challenged { detail, .. } => {
                ("unauthenticated", "Unauthenticated", detail.clone(), vec![])
            }
            Self::Forbidden { needs, detail } => (
                "forbidden",
                "Forbidden",
                format!("{detail} Only the {needs} role may; nothing was changed."),
                vec![],
            ),
            Self::CrossSite => (
                "cross-site-request",
                "Cross-site request",
                "A change sent with the session cookie must come from this site; nothing was \
                 changed. Scripts and other services use an API token (Authorization: Bearer)."
                    .to_owned(),
                vec![],
            ),
            Self::PolicyDenied(denial) => (
                "policy-denied",
                "Denied by policy",
                denial.detail.clone(),
                vec![],
            ),
            Self::ApprovalRefused(detail) => (
                "approval-refused",
                "Approval refused",
                detail.clone(),
                vec![],
            ),
            Self::NotFound(what) => ("not-found", "Not found", format!("No such {what}."), vec![]),
            Self::ReferencesNotFound(errors) => (
                "reference-not-found",
                "Referenced resource not found",
                "An id the request refers to does not exist in this tenant; nothing was changed."
                    .to_owned(),
                errors.clone(),
            ),
            Self::MethodNotAllowed => (
                "method-not-allowed",
                "Method not allowed",
                "This resource does not support this method.".to_owned(),
                vec![],
            ),
            Self::Conflict(detail) => ("conflict", "Conflict", detail.clone(), vec![]),
            Self::Reauthorization(remedy) => (
                match remedy.reason {
                    crate::mcp::ReauthorizationReason::InsufficientScope => "insufficient-scope",
                    crate::mcp::ReauthorizationReason::AuthorizationServerChanged => {
                        "authorization-server-changed"
                    }
                    crate::mcp::ReauthorizationReason::AuthorizationRequired => {
                        "authorization-required"
                    }
                },
                "Reauthorization needed",
                remedy.action.clone(),
                vec![],
            ),
            Self::TooManyRequests { detail, .. } => (
                "too-many-requests",
                "Too many requests",
                format!("{detail} Retry later; nothing was done."),
                vec![],
            ),
            Self::PreconditionFailed(detail) => (
                "precondition-failed",
                "Precondition failed",
                detail.clone(),
                vec![],
            ),
            Self::ConnectionTestFailed(result) => (
                "connection-test-failed",
                "Connection test failed",
                format!(
                    "The MCP server could not be used; nothing was saved. {}",
                    result.message
                ),
                vec![],
            ),
            Self::DiscoveryFailed(failure) => (
                "discovery-failed",
                "Authorization discovery failed",
                format!(
                    "The MCP server's authorization could not be discovered; nothing was saved. {}",
                    failure.message
                ),
                vec![],
            ),
            Self::PayloadTooLarge => (
                "payload-too-large",
                "Payload too large",
                format!("The request body exceeds {} bytes.", super::MAX_BODY_BYTES),
                vec![],
            ),
            Self::UnsupportedMediaType(detail) => (
                "unsupported-media-type",
                "Unsupported media type",
                detail.clone(),
                vec![],
            ),
            Self::BadGateway(detail) => ("bad-gateway", "Bad gateway", detail.clone(), vec![]),
            Self::GatewayTimeout(detail) => {
                ("gateway-timeout", "Gateway timeout", detail.clone(), vec![])
            }
            Self::Unavailable(_) => (
                "unavailable",
                "Service unavailable",
                "A dependency is temporarily unavailable; nothing was changed. Retry later."
                    .to_owned(),
                vec![],
            ),
            Self::Internal(_) => (
                "internal",
                "Internal error",
                "An unexpected error occurred; nothing was changed.".to_owned(),
                vec![],
            ),
        };
        Problem {
            type_: format!("urn:agent-studio:problem:{slug}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            errors,
            connection_test_result: match self {
                Self::ConnectionTestFailed(result) => Some(result.clone()),
                _ => None,
            },
            discovery_failure: match self {
                Self::DiscoveryFailed(failure) => Some(failure.clone()),
                _ => None,
            },
            reauthorization: match self {
                Self::Reauthorization(remedy) => Some(remedy.clone()),
                _ => None,
            },
            policies: match self {
                Self::PolicyDenied(denial) => Some(denial.policies.clone()),
                _ => None,
            },
            policy_errors: match self {
                Self::PolicyDenied(denial) if !denial.errors.is_empty() => {
                    Some(denial.errors.clone())
                }
                _ => None,
            },
            required_role: match self {
                Self::Forbidden { needs, .. } => Some(*needs),
                _ => None,
            },
            request_id: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut problem = self.problem();
        match &self {
            Self::Unavailable(cause) | Self::Internal(cause) => {
                let request_id = uuid::Uuid::now_v7().to_string();
                tracing::error!(%request_id, %cause, status = self.status().as_u16(), "request failed");
                problem.request_id = Some(request_id);
            }
            other => {
                tracing::warn!(status = other.status().as_u16(), error = %other, "request rejected")
            }
        }
        let mut response = (self.status(), Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::TooManyRequests { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unauthenticated => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BEARER_CHALLENGE),
                );
            }
            Self::Challenged { challenge, .. } => {
                let value = HeaderValue::from_str(challenge)
                    .unwrap_or_else(|_| HeaderValue::from_static(BEARER_CHALLENGE));
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            _ => {}
        }
        response
    }
}

/// The challenge of every 401 (RFC 6750): a bearer API token (or the session cookie) is what
/// the API takes. API Gateway's own 401 carries the same (`template.yaml`, the CDK stack).
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="agent-studio-connect""#;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed { .. } => Self::Conflict(
                "The resource was changed concurrently; read it again and retry.".into(),
            ),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            other @ (StoreError::InvalidTransaction(_) | StoreError::Corrupt(_)) => {
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => Self::InvalidInput {
                detail: "The request is invalid.".into(),
                errors,
            },
            Error::NotFound(what) => Self::NotFound(what),
            Error::UnknownReferences(errors) => Self::ReferencesNotFound(errors),
            Error::Conflict(detail) | Error::NotApproved(detail) => Self::Conflict(detail),
            Error::PreconditionFailed(detail) => Self::PreconditionFailed(detail),
            Error::PolicyDenied(denial) => Self::PolicyDenied(denial),
            Error::ApprovalRefused(detail) => Self::ApprovalRefused(detail),
            Error::Forbidden { needs, detail } => Self::Forbidden { needs, detail },
            Error::RateLimited {
                retry_after,
                detail,
            } => Self::TooManyRequests {
                retry_after,
                detail,
            },
            Error::VersionRace => Self::Conflict(
                "The resource was changed concurrently; read it again and retry.".into(),
            ),
            Error::ConnectionTestFailed(result) => Self::ConnectionTestFailed(result),
            Error::DiscoveryFailed(failure) => Self::DiscoveryFailed(failure),
            Error::Reauthorization(remedy) => Self::Reauthorization(remedy),
            Error::Store(e) => e.into(),
            Error::Crypto(CryptoError::Unavailable(cause)) => Self::Unavailable(cause),
            Error::Crypto(other) => Self::Internal(other.to_string()),
            Error::Secret(SecretError::Unavailable(cause)) => Self::Unavailable(cause),
            Error::Secret(other) => Self::InvalidInput {
                detail: other.to_string(),
                errors: vec![],
            },
            Error::Upstream(detail) => Self::BadGateway(detail),
            Error::CapabilityRequired(capabilities) => Self::BadGateway(format!(
                "The tool needs what only an MCP client can give ({}): call it through the \
                 agent's MCP endpoint with a client that declares it.",
                capabilities
                    .as_object()
                    .map(|c| c.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            )),
            Error::UpstreamTimeout(detail) => Self::GatewayTimeout(detail),
            Error::Internal(cause) => Self::Internal(cause),
        }
    }
}
