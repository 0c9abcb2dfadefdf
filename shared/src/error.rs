//! The domain error of the `shared` crate. Handlers turn it into an HTTP problem through
//! [`crate::api::ApiError`]; the scheduled function logs it.

use crate::{crypto::CryptoError, secrets::SecretError, store::StoreError};

/// One problem with one input field, named by its JSON path (e.g. `custom_headers.Host`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted JSON path of the offending field.
    pub field: String,
    /// What is wrong with it, in a sentence a user can act on.
    pub message: String,
}

impl FieldError {
    /// A field error for `field` saying `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything that can go wrong inside the shared domain logic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is invalid; each entry names a field.
    #[error("invalid input: {}", summarize(.0))]
    Validation(Vec<FieldError>),
    /// The named resource does not exist for the caller (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Ids the input refers to do not exist in the caller's tenant; each entry names the field.
    #[error("unknown references: {}", summarize(.0))]
    UnknownReferences(Vec<FieldError>),
    /// The request conflicts with the current state (still referenced, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The tool called is new or changed since its server's tools were approved: it is not
    /// called until someone approves it (a conflict, saying where).
    #[error("not approved: {0}")]
    NotApproved(String),
    /// The tenant's policies forbid the call; nothing was sent.
    #[error("denied by policy: {}", .0.policies.join(", "))]
    PolicyDenied(Box<crate::policy::PolicyDenial>),
    /// The approval named by a call cannot be used for it (another user's, other arguments,
    /// pending, denied, used or expired), or cannot be decided by this caller; nothing was
    /// sent or changed.
    #[error("approval refused: {0}")]
    ApprovalRefused(String),
    /// Over a rate limit; retry after `retry_after` seconds.
    #[error("rate limited: {detail}")]
    RateLimited {
        /// Seconds until the limit allows it again.
        retry_after: u64,
        /// Which limit, in a sentence.
        detail: String,
    },
    /// The version named by `If-Match` is not the current one.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The caller's role may not do this; nothing was read beyond what decided it, nothing
    /// changed or sent.
    #[error("forbidden: needs the {needs} role")]
    Forbidden {
        /// The least role that may.
        needs: crate::model::role::Role,
        /// What was refused, in a sentence.
        detail: String,
    },
    /// A conditional write lost to a concurrent writer between its read and its write; the
    /// operation is tried again on fresh data ([`crate::model`]'s retry), so this reaches a
    /// client only as a conflict if it never stops happening.
    #[error("a concurrent write changed the record first")]
    VersionRace,
    /// A connection test failed; nothing was written.
    #[error("connection test failed: {}", .0.message)]
    ConnectionTestFailed(Box<crate::mcp::ConnectionTestResult>),
    /// Authorization discovery from an MCP server's URL failed at a step; nothing was written.
    #[error("discovery failed: {0}")]
    DiscoveryFailed(Box<crate::oauth::discovery::DiscoveryFailure>),
    /// An MCP server refused the auth config's token for a reason only a user can remedy
    /// (missing scopes, another authorization server).
    #[error("reauthorization needed: {}", .0.action)]
    Reauthorization(Box<crate::mcp::Reauthorization>),
    /// The store failed.
    #[error("store error")]
    Store(#[from] StoreError),
    /// Encryption or decryption failed.
    #[error("crypto error")]
    Crypto(#[from] CryptoError),
    /// A Secrets Manager reference could not be resolved.
    #[error("secret reference error")]
    Secret(#[from] SecretError),
    /// An upstream server (e.g. a token endpoint) failed; the message is safe to show.
    #[error("upstream failure: {0}")]
    Upstream(String),
    /// An upstream server did not answer in time; the message is safe to show.
    #[error("upstream timeout: {0}")]
    UpstreamTimeout(String),
    /// A tool's server needs a client capability (sampling, elicitation, …) the caller did not
    /// declare: the capabilities it named (a `ClientCapabilities` object).
    #[error("the tool needs client capabilities the caller did not declare")]
    CapabilityRequired(serde_json::Value),
    /// A bug or an impossible state; the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A validation error with a single field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

/// Rewrites a serde error message at JSON path `path` as a field error that names the problem
/// but never the offending value (which may be a secret).
pub fn describe_serde_error(path: &str, message: &str) -> FieldError {
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
    let otherwise = if message.starts_with("unknown variant `") {
        Some("a known value")
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        Some("another value")
    } else {
        None
    };
    if let Some(otherwise) = otherwise {
        // What serde expected is ours to repeat; what it found may be the secret.
        let expected = message.split(", expected ").nth(1).unwrap_or(otherwise);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_name_the_field_and_never_echo_the_value() {
        // (path, serde's message, the field named, the message given)
        let cases = [
            (
                "password",
                "invalid type: integer `12345`, expected a string at line 1 column 9",
                "password",
                "must be a string",
            ),
            (
                "type",
                "unknown variant `s3cret`, expected one of `NONE`, `BASIC`",
                "type",
                "must be one of `NONE`, `BASIC`",
            ),
            (
                "x",
                "invalid length 3, expected fewer: s3cret",
                "x",
                "is invalid",
            ),
            (
                "password",
                "must be the secret as a string at line 1 column 9",
                "password",
                "must be the secret as a string",
            ),
            (
                "x",
                "data did not match any variant of untagged enum Y",
                "x",
                "is not in an accepted form",
            ),
            (
                "basic.pasword",
                "unknown field `pasword`, expected `username`",
                "basic.pasword",
                "is not a known field",
            ),
            (
                "basic",
                "missing field `password`",
                "basic.password",
                "is required",
            ),
        ];
        for (path, message, field, said) in cases {
            let e = describe_serde_error(path, message);
            assert_eq!(
                (e.field.as_str(), e.message.as_str()),
                (field, said),
                "{message}"
            );
            assert!(!e.message.contains("12345") && !e.message.contains("s3cret"));
        }
    }
}
