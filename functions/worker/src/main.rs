//! Lambda entry point of the worker function (SQS event source mapping on the jobs queue).

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = shared::work::lambda::init().await?;
    let ctx = &init.ctx;
    shared::work::lambda::run(shared::work::lambda::Trigger::PubSub, |event| {
        worker::handle(ctx, event)
    })
    .await
}
