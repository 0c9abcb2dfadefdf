//! Lambda entry point of the worker function (SQS event source mapping on the jobs queue).

use std::sync::Arc;

use shared::{
    AppState,
    config::Config,
    model::{refresh_pass::PassSettings, server_checks::HealthSettings},
    telemetry,
    work::Context,
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let env = |name: &str| std::env::var(name).ok();
    let (refresh, health) = (
        PassSettings::from_lookup(env)?,
        HealthSettings::from_lookup(env)?,
    );
    let ctx = Context::new(AppState::from_config(&config).await?, refresh, health);
    lambda_runtime::run(worker::handler(Arc::new(ctx))).await
}
