//! Lambda entry point of the worker function (SQS event source mapping on the jobs queue).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = shared::work::lambda::init().await?;
    lambda_runtime::run(worker::handler(init.ctx)).await
}
