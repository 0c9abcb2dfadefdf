//! The shell of the background functions (the planner on its schedule, the worker on the jobs
//! queue): telemetry, the typed configuration read once, and the jobs' context built from it, so
//! each function's `main` states only its handler and its own settings.

use std::sync::Arc;

use super::Context;
pub use crate::telemetry::otel::Trigger;
use crate::telemetry::otel::layered;
use crate::{
    AppState,
    config::{AwsConfig, Config, ConfigError, load_aws_config},
    model::{refresh_pass::PassSettings, server_checks::HealthSettings},
};

/// What a background function starts with.
pub struct Init {
    /// The jobs' context: the state, and the refresh and health settings (`REFRESH_*`,
    /// `HEALTH_CHECK_*`).
    pub ctx: Arc<Context>,
    /// The AWS SDK configuration, for the function's own clients.
    pub aws: AwsConfig,
}

/// Sets up logging and reads the configuration and the settings from the environment, once.
pub async fn init() -> Result<Init, lambda_http::Error> {
    crate::telemetry::init_lambda();
    let config = Config::from_env()?;
    let env = |name: &str| std::env::var(name).ok();
    let (refresh, health) = (
        PassSettings::from_lookup(env)?,
        HealthSettings::from_lookup(env)?,
    );
    let aws = load_aws_config().await;
    let state = AppState::from_config_with(&config, &aws)?;
    Ok(Init {
        ctx: Arc::new(Context::new(state, refresh, health)),
        aws,
    })
}

/// Runs the function: each event's payload goes to `handle`, whose answer is the invocation's
/// result (a background function's work reports what it did; it does not fail the invocation).
/// `trigger` names what invokes it, for the invocation's span when traces are exported.
pub async fn run<E, R, F, Fut>(trigger: Trigger, handle: F) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned + Send,
    R: serde::Serialize,
    F: Fn(E) -> Fut,
    Fut: Future<Output = R>,
{
    let handle = &handle;
    let runtime =
        lambda_http::lambda_runtime::Runtime::new(lambda_http::lambda_runtime::service_fn(
            move |event: lambda_http::lambda_runtime::LambdaEvent<E>| {
                let answer = handle(event.payload);
                async move { Ok::<R, lambda_http::Error>(answer.await) }
            },
        ));
    layered(runtime, trigger).run().await
}

/// The environment variable `name`, which the function needs.
pub fn required(name: &str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| ConfigError(format!("{name} is not set")))
}
