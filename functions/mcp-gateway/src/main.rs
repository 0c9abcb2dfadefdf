//! Lambda entry point of the mcp-gateway function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(mcp_gateway::router).await
}
