//! The worker function: each invocation is a batch of messages from the jobs queue; their jobs
//! run at once ([`shared::work::sqs::handle_batch`]) and the messages whose job failed are
//! answered as batch item failures, so only they are delivered again (after the queue's
//! `maxReceiveCount`, to its dead-letter queue). The worker instance keeps what it learns between
//! batches (which token endpoints are backed off, opened data keys).

use std::sync::Arc;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, Service, service_fn};
use shared::work::{Context, sqs};

/// The function's handler: one batch per event.
pub fn handler(
    ctx: Arc<Context>,
) -> impl Service<
    LambdaEvent<SqsEvent>,
    Response = SqsBatchResponse,
    Error = lambda_runtime::Error,
    Future = impl Future<Output = Result<SqsBatchResponse, lambda_runtime::Error>>,
> {
    service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = Arc::clone(&ctx);
        async move { Ok(handle(&ctx, event.payload).await) }
    })
}

/// Runs a batch: the failed messages, for a partial batch response.
pub async fn handle(ctx: &Context, event: SqsEvent) -> SqsBatchResponse {
    let messages = event
        .records
        .into_iter()
        .filter_map(|record| Some((record.message_id?, record.body.unwrap_or_default())))
        .collect();
    let failed = sqs::handle_batch(ctx, messages).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
