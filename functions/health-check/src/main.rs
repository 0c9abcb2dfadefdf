//! Lambda entry point of the health-check function (EventBridge schedule).

use shared::{AppState, config::Config, model::server_checks::HealthSettings, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let settings = HealthSettings::from_lookup(|name| std::env::var(name).ok())?;
    let state = AppState::from_config(&config).await?;
    lambda_runtime::run(health_check::handler(state, settings)).await
}
