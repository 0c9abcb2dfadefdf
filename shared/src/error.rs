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
    /// A conditional write lost to a concurrent writer between its read and its write; the
    /// operation is tried again on fresh data ([`crate::model`]'s retry), so this reaches a
    /// client only as a conflict if it never stops happening.
    #[error("a concurrent write changed the record first")]
    VersionRace,
    /// A connection test failed; nothing was written.
    #[error("connection test failed: {}", .0.message)]
    ConnectionTestFailed(Box<crate::mcp::ConnectionTestResult>),
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
