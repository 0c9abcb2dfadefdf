//! Lambda entry point of the planner function (EventBridge schedule).

use std::sync::Arc;

use shared::{
    AppState,
    config::{Config, load_aws_config},
    model::{refresh_pass::PassSettings, server_checks::HealthSettings},
    telemetry,
    work::{Context, planner::PlanSettings, sqs::SqsQueue},
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let env = |name: &str| std::env::var(name).ok();
    let settings = PlanSettings::from_lookup(env)?;
    let (refresh, health) = (
        PassSettings::from_lookup(env)?,
        HealthSettings::from_lookup(env)?,
    );
    let queue_url = env("JOBS_QUEUE_URL").ok_or("JOBS_QUEUE_URL is not set")?;
    let queue = SqsQueue::from_sdk(&load_aws_config().await, queue_url);
    let ctx = Context::new(AppState::from_config(&config).await?, refresh, health);
    lambda_runtime::run(planner::handler(Arc::new(ctx), settings, Arc::new(queue))).await
}
