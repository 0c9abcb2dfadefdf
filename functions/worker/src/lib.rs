//! The worker function: each invocation is a batch of messages from the jobs queue; their jobs
//! run at once ([`shared::work::sqs::handle_batch`]) and the messages whose job failed are
//! answered as batch item failures, so only they are delivered again (after the queue's
//! `maxReceiveCount`, to its dead-letter queue). The worker instance keeps what it learns between
//! batches (which token endpoints are backed off, opened data keys).
//!
//! Each batch logs one CloudWatch embedded-metric-format line (dimension `Function` = `worker`):
//! `Jobs`, `JobsFailed`, one count per job and outcome (`RefreshTokenRefreshed`,
//! `CheckServerUnreachable`, …) and one per job that failed (`RefreshTokenErrors`, …). The counts
//! the template's alarms watch are in every line, zero or not, so an alarm's metric math never
//! meets a missing value.

use std::collections::BTreeMap;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use shared::work::{Context, WorkReport, sqs};

/// The metrics every line carries (the alarms' metrics), zero when nothing came to them.
pub const ALWAYS_REPORTED: [&str; 6] = [
    "Jobs",
    "JobsFailed",
    "RefreshTokenReauthorizationRequired",
    "RefreshTokenFailed",
    "RefreshTokenErrors",
    "CheckServerErrors",
];

/// Runs a batch: the failed messages, for a partial batch response. Logs and emits what the
/// batch came to.
pub async fn handle(ctx: &Context, event: SqsEvent) -> SqsBatchResponse {
    let started = std::time::Instant::now();
    let messages = event
        .records
        .into_iter()
        .filter_map(|record| Some((record.message_id?, record.body.unwrap_or_default())))
        .collect();
    let (failed, report) = sqs::handle_batch(ctx, messages).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        outcomes = ?report.outcomes,
        failed = report.failed,
        elapsed_ms,
        "worker batch finished"
    );
    println!("{}", emf(&report, elapsed_ms, shared::telemetry::now_ms()));
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

/// The batch's report as one EMF line (dimension `Function` = `worker`).
pub fn emf(report: &WorkReport, elapsed_ms: u64, timestamp_ms: u64) -> String {
    let mut counts: BTreeMap<String, u64> = ALWAYS_REPORTED
        .iter()
        .map(|name| ((*name).to_owned(), 0))
        .collect();
    let done: u64 = report.outcomes.values().sum();
    counts.insert("Jobs".into(), done + report.failed);
    counts.insert("JobsFailed".into(), report.failed);
    for (outcome, count) in &report.outcomes {
        let (job, outcome) = outcome.split_once('.').unwrap_or((outcome, "done"));
        *counts
            .entry(format!("{}{}", pascal(job), pascal(outcome)))
            .or_default() += count;
    }
    for (job, count) in &report.errors {
        *counts.entry(format!("{}Errors", pascal(job))).or_default() += count;
    }
    let counts: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    shared::telemetry::emf_line("worker", &counts, elapsed_ms, timestamp_ms)
}

/// `snake_case` as `PascalCase` (a metric name part).
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_line_names_each_job_outcome_and_always_carries_the_alarmed_counts() {
        let mut report = WorkReport::default();
        report.outcomes.insert("refresh_token.refreshed".into(), 7);
        report.outcomes.insert("check_server.unreachable".into(), 2);
        report.errors.insert("deliver_webhook".into(), 1);
        report.failed = 1;
        let line = shared::testing::emf_values(&emf(&report, 12, 1_700_000_000_000));
        assert_eq!(line["Function"], "worker");
        assert_eq!(line["Jobs"], 10);
        assert_eq!(line["JobsFailed"], 1);
        assert_eq!(line["RefreshTokenRefreshed"], 7);
        assert_eq!(line["CheckServerUnreachable"], 2);
        assert_eq!(line["DeliverWebhookErrors"], 1);
        for name in ALWAYS_REPORTED {
            assert!(line[name].is_u64(), "{name} is always reported");
        }
        assert_eq!(line["RefreshTokenReauthorizationRequired"], 0);
    }

    /// The metrics the template's alarms read from the worker (`MetricName` with the dimension
    /// `Function` = `worker`) are in every line, so an alarm never waits on a missing value.
    #[test]
    fn every_metric_an_alarm_reads_from_the_worker_is_always_reported() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
                .unwrap();
        let lines: Vec<&str> = template.lines().map(str::trim).collect();
        let watched: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| {
                let name = line.strip_prefix("MetricName: ")?;
                let dimensions = lines.get(i + 1..(i + 5).min(lines.len()))?;
                dimensions.contains(&"Value: worker").then_some(name)
            })
            .collect();
        assert!(
            watched.len() >= 3,
            "the alarms on worker metrics: {watched:?}"
        );
        for name in watched {
            assert!(ALWAYS_REPORTED.contains(&name), "{name} is always reported");
        }
    }
}
