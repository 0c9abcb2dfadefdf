//! A hello-world Lambda function: answers every event with the event itself. The cold-start
//! benchmark (`tests/src/bin/bench-cold-start.rs`) measures the real functions against it, each
//! built with the same release profile, so the table says what the product itself costs.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, lambda_runtime::Error>(event.payload)
    }))
    .await
}
