//! Lambda entry point of the token-refresh function (EventBridge schedule).

use shared::{AppState, config::Config, model::refresh_pass::PassSettings, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let settings = PassSettings::from_lookup(|name| std::env::var(name).ok())?;
    let state = AppState::from_config(&config).await?;
    lambda_runtime::run(token_refresh::handler(state, settings)).await
}
