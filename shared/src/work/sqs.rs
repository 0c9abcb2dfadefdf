//! The Amazon SQS adapter: jobs as messages on a standard queue used as a *fair queue* — each
//! message carries its job's group as `MessageGroupId`, so when one group (one tenant) has a
//! backlog, SQS keeps the other groups' messages moving (a standard queue with message groups
//! is what SQS calls a fair queue). Sent ten to a `SendMessageBatch`; entries a batch refuses are
//! sent once more, then the send fails (the planner's lease brings their entries back).
//!
//! [`handle_batch`] is the worker's side: the messages of one Lambda invocation run at once, and
//! the ids of those that failed are returned for a partial batch response, so only they are
//! delivered again (and, after the queue's `maxReceiveCount`, go to its dead-letter queue).

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures_util::StreamExt;

use super::{Context, JobError, Message, Queue, WorkReport, run_message};

/// Most messages in one `SendMessageBatch`.
const BATCH: usize = 10;

/// A queue in Amazon SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, through the SDK configuration `aws`.
    pub fn from_sdk(aws: &crate::config::AwsConfig, url: impl Into<String>) -> Self {
        Self::new(aws_sdk_sqs::Client::new(aws), url)
    }

    /// The queue at `url`, through `client`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Sends one batch; the entries it refused.
    async fn send_batch(&self, batch: &[Message]) -> Result<Vec<Message>, JobError> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, message)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&message.body)
                    .message_group_id(&message.group)
                    .build()
                    .map_err(|e| JobError::Failed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                JobError::Failed(format!("SQS SendMessageBatch: {}", e.into_service_error()))
            })?;
        Ok(sent
            .failed()
            .iter()
            .filter_map(|failure| batch.get(failure.id().parse::<usize>().ok()?).cloned())
            .collect())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), JobError> {
        for batch in messages.chunks(BATCH) {
            let refused = self.send_batch(batch).await?;
            if !refused.is_empty() && !self.send_batch(&refused).await?.is_empty() {
                return Err(JobError::Failed(format!(
                    "SQS refused {} of {} messages twice",
                    refused.len(),
                    batch.len()
                )));
            }
        }
        Ok(())
    }
}

/// Runs the messages of one batch (`(message id, body)`) at once: the ids of those that failed,
/// for the partial batch response, and what the batch came to.
pub async fn handle_batch(
    ctx: &Context,
    messages: Vec<(String, String)>,
) -> (Vec<String>, WorkReport) {
    let runs = messages.into_iter().map(|(id, body)| async move {
        let outcome = Box::pin(run_message(ctx, &body)).await;
        match &outcome {
            Ok(outcome) => tracing::info!(%outcome, "job done"),
            Err(error) => {
                tracing::warn!(%error, message_id = %id, "job failed; it will be delivered again");
            }
        }
        (id, body, outcome)
    });
    let done: Vec<_> = futures_util::stream::iter(runs)
        .buffer_unordered(BATCH)
        .collect()
        .await;
    let mut report = WorkReport::default();
    let mut failed = Vec::new();
    for (id, body, outcome) in done {
        report.record(&body, &outcome);
        if outcome.is_err() {
            failed.push(id);
        }
    }
    (failed, report)
}
