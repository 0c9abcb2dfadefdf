//! Lambda entry point of the mcp-gateway function.

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Streamed: a tool's progress and log messages reach the client as they arrive (API
    // Gateway's integrations of this function use the STREAM response transfer mode).
    shared::api::lambda::serve_authenticating(
        mcp_gateway::router,
        mcp_gateway::authenticating,
        true,
    )
    .await
}
