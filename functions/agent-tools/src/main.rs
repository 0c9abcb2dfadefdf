//! Lambda entry point of the agent-tools function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(agent_tools::router).await
}
