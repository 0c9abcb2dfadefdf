//! Lambda entry point of the agent-tools function.

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(agent_tools::router).await
}
