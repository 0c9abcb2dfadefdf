//! Lambda entry point of the planner function (EventBridge schedule): its settings (`PLAN_*`) and
//! the jobs queue it sends to (`JOBS_QUEUE_URL`).

use shared::work::{lambda, planner::PlanSettings, sqs::SqsQueue};

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = lambda::init().await?;
    let settings = PlanSettings::from_lookup(|name| std::env::var(name).ok())?;
    let queue = SqsQueue::from_sdk(&init.aws, lambda::required("JOBS_QUEUE_URL")?);
    let ctx = &init.ctx;
    lambda::run(lambda::Trigger::Timer, |_: serde_json::Value| {
        planner::handle(ctx, &settings, &queue)
    })
    .await
}
