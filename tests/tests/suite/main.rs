//! The end-to-end suite: the local stack on loopback against real backing services (DynamoDB
//! Local, a moto server, real MCP servers, a real OAuth authorization server, Chromium). One test
//! binary holds every suite, one module each: linking the stack once instead of once per suite
//! keeps the build's disk use and link time down. `cargo nextest run -p e2e -E 'test(/^oauth_flow::/)'`
//! runs one module.

mod agent_tools;
mod agents_api;
mod audit_log;
mod background_work;
mod bounded_work;
mod concurrent_writes;
mod console_browser;
mod credential_destinations;
mod deploy_guide;
mod deployment_rehearsal;
mod discovery;
mod documented_requests;
mod health_and_webhooks;
mod mcp_conformance;
mod mcp_connection_test;
mod mcp_gateway;
mod mcp_servers_api;
mod mcp_sign_in;
mod mix_up;
mod oauth_flow;
mod oidc_provider_smoke;
mod openapi_conformance;
mod per_user_connections;
mod rate_limits;
mod readme_on_the_rehearsal;
mod recent_records;
mod roles;
mod secret_references;
mod secrets_never_leak;
mod token_refresh;
mod tool_policies;
mod traces;
