//! The in-process queue: what the planner sends waits in memory, and [`run`] works through it as
//! a pool of workers would — at most so many jobs at once, at most so many of one group, groups
//! served in turn (the scheduler the passes use), nothing started that could not finish in time.
//! What `studio-local` runs, and what the tests run the planner and jobs on.

use std::{sync::Mutex, time::Duration};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Context, JobError, Message, Queue, WorkReport, run_message};
use crate::model::scheduler::{self, Limits};

/// An in-process queue.
#[derive(Debug, Default)]
pub struct LocalQueue {
    messages: Mutex<Vec<Message>>,
}

impl LocalQueue {
    /// Takes every message sent so far.
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(
            &mut *self
                .messages
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), JobError> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(messages);
        Ok(())
    }
}

/// How many jobs the local workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// Jobs at once.
    pub concurrency: usize,
    /// Jobs of one group at once.
    pub per_group: usize,
    /// The longest one job may take: none starts unless this much time is left.
    pub job_time: Duration,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        Self {
            concurrency: 16,
            per_group: 4,
            job_time: Duration::from_secs(40),
        }
    }
}

/// Runs `messages` within `limits` until `budget_end`: what they came to.
pub async fn run(
    ctx: &Context,
    messages: Vec<Message>,
    limits: &WorkerLimits,
    budget_end: Instant,
) -> WorkReport {
    let mut report = WorkReport::default();
    let jobs = messages.into_iter().map(|m| (m.group, m.body)).collect();
    let limits = Limits {
        concurrency: limits.concurrency,
        per_key: limits.per_group,
        job_time: limits.job_time,
        budget_end,
    };
    let left = scheduler::run(
        jobs,
        &limits,
        |body| async move {
            let outcome = run_message(ctx, &body).await;
            (body, outcome)
        },
        |(body, outcome)| {
            if let Err(error) = &outcome {
                tracing::warn!(%error, "a job failed; its entry comes due again");
            }
            report.record(&body, &outcome);
        },
    )
    .await;
    report.left = left.len() as u64;
    report
}
