//! Lambda entry point of the agent-tools function.

use shared::{AppState, api, config::Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let state = AppState::from_config(&config).await?;
    api::lambda::run(api::with_fallbacks(agent_tools::router(state))).await
}
