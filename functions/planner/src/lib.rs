//! The planner function: on every EventBridge schedule tick (each minute), one planner run
//! ([`shared::work::planner::plan`]) sends a job per due entry to the jobs queue. The report is
//! the invocation's result, a log line, and CloudWatch metrics in the embedded metric format
//! (EMF), among them how far behind the most overdue entry was (`OldestOverdueSeconds`, which an
//! alarm watches).

use shared::work::{
    Context, Queue,
    planner::{self, PlanReport, PlanSettings},
};

/// Runs one planner, then logs and emits its report.
pub async fn handle(ctx: &Context, settings: &PlanSettings, queue: &dyn Queue) -> PlanReport {
    let report = planner::plan(ctx, settings, queue).await;
    tracing::info!(
        sent = ?report.sent,
        taken = report.taken,
        errors = report.errors,
        deferred = report.deferred,
        oldest_overdue_seconds = report.oldest_overdue_seconds,
        elapsed_ms = report.elapsed_ms,
        "planner run finished"
    );
    println!("{}", emf(&report, shared::telemetry::now_ms()));
    report
}

/// The report as one EMF line (dimension `Function`): jobs sent by kind, entries taken by
/// another planner, errors, and the oldest overdue entry's lag.
pub fn emf(report: &PlanReport, timestamp_ms: u64) -> String {
    let sent = |job: &str| report.sent.get(job).copied().unwrap_or(0);
    let counts = [
        ("SentRefreshToken", sent("refresh_token")),
        ("SentCheckServer", sent("check_server")),
        ("SentDeliverWebhook", sent("deliver_webhook")),
        ("SentSweepConnections", sent("sweep_connections")),
        ("Taken", report.taken),
        ("Errors", report.errors),
        ("Deferred", report.deferred),
        (
            "OldestOverdueSeconds",
            u64::try_from(report.oldest_overdue_seconds).unwrap_or(0),
        ),
    ];
    shared::telemetry::emf_line("planner", &counts, report.elapsed_ms, timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_line_declares_every_value_it_carries() {
        let mut report = PlanReport {
            oldest_overdue_seconds: 90,
            elapsed_ms: 12,
            ..PlanReport::default()
        };
        report.sent.insert("refresh_token".into(), 7);
        let line = shared::testing::emf_values(&emf(&report, 1_700_000_000_000));
        assert_eq!(
            (&line["SentRefreshToken"], &line["OldestOverdueSeconds"]),
            (&7.into(), &90.into())
        );
        assert_eq!(line["Function"], "planner");
    }
}
