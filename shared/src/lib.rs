//! The library every Agent Studio Connect function shares: domain models and their validation, the
//! `Store` (DynamoDB or embedded SQLite), envelope encryption (KMS or a local key file), Secrets
//! Manager references, sessions, and the HTTP API plumbing (problem+json errors, extractors,
//! pagination, the Lambda adapter), and background work as jobs (a planner, a queue adapter, the
//! jobs). Nothing outside this crate talks to AWS SDKs directly.

pub mod api;
pub mod aws_http;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod eventbus;
pub mod mcp;
pub mod model;
pub mod net;
pub mod oauth;
pub mod policy;
pub mod resource_server;
pub mod secrets;
pub mod session;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod work;

pub use error::Error;
pub use state::AppState;
