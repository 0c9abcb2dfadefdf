//! Lambda entry point of the mcp-servers function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(mcp_servers::router).await
}
