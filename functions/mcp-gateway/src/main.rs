//! Lambda entry point of the mcp-gateway function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve_authenticating(mcp_gateway::router, mcp_gateway::authenticating)
        .await
}
