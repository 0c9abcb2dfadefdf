//! OAuth tokens and their life: the token items, grants (obtaining, refreshing, revoking
//! single-flight), users' own connections to `per_user` configs, the refresh index and the
//! background refresh, idle users' tokens, provider back-off, and what a refused credential
//! means. May use `auth_records`, `events` and the core; never `credentials` above it.

pub mod grants;
pub mod idle_tokens;
pub mod provider_backoff;
pub mod refresh_index;
pub mod refresh_pass;
pub mod refusals;
pub mod token;
pub mod user_connections;
