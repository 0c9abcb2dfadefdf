//! Lambda entry point of the REQUEST authorizer. It needs only the store.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::{
    clock::SystemClock,
    config::StoreConfig,
    config::load_aws_config,
    state::build_store,
    telemetry,
    telemetry::otel::{Trigger, layered},
};

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_lambda();
    let config = StoreConfig::from_env()?;
    let aws = load_aws_config().await;
    let store = build_store(&config, &aws, Arc::new(SystemClock))?;
    let runtime = lambda_runtime::Runtime::new(service_fn(|event: LambdaEvent<_>| {
        let store = Arc::clone(&store);
        async move { authorizer::handle(store.as_ref(), event).await }
    }));
    layered(runtime, Trigger::Http).run().await
}
