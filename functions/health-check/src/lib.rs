//! The health-check function: on every EventBridge schedule tick, one health pass
//! ([`shared::model::server_checks::run`]) within the invocation's time budget — the MCP server
//! configs whose check is due are re-tested, their health and tool changes recorded and the
//! events published — then the webhook deliveries that are due are retried. The report is the
//! invocation's result, a log line, and CloudWatch metrics in the embedded metric format (EMF).

use std::time::{Duration, SystemTime};

use lambda_runtime::{LambdaEvent, Service, service_fn};
use serde_json::{Value, json};
use shared::{
    AppState,
    model::server_checks::{self, HealthReport, HealthSettings},
};

/// Time kept back from the invocation deadline: the last checks finish, and the report is
/// written, before Lambda stops the function.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(10);

/// CloudWatch namespace of the metrics.
pub use shared::telemetry::METRICS_NAMESPACE;

/// The function's handler: one pass per event (the event's content is not needed).
pub fn handler(
    state: AppState,
    settings: HealthSettings,
) -> impl Service<
    LambdaEvent<Value>,
    Response = HealthReport,
    Error = lambda_runtime::Error,
    Future = impl Future<Output = Result<HealthReport, lambda_runtime::Error>>,
> {
    service_fn(move |event: LambdaEvent<Value>| {
        let (state, settings) = (state.clone(), settings.clone());
        async move { Ok(handle(&state, &settings, event.context.deadline()).await) }
    })
}

/// Runs one pass that starts no check later than `deadline` minus [`SAFETY_MARGIN`] and the
/// longest a check may take, then logs and emits the report.
pub async fn handle(
    state: &AppState,
    settings: &HealthSettings,
    deadline: SystemTime,
) -> HealthReport {
    let budget_end = shared::telemetry::budget_end(deadline, SAFETY_MARGIN);
    let report = server_checks::run(state, settings, budget_end).await;
    tracing::info!(report = %json!(report), "health pass finished");
    println!("{}", emf(&report, shared::telemetry::now_ms()));
    report
}

/// The report as one CloudWatch embedded-metric-format log line (dimension `Function`).
pub fn emf(report: &HealthReport, timestamp_ms: u64) -> String {
    let counts = [
        ("ChecksDue", report.due),
        ("Healthy", report.healthy),
        ("Degraded", report.degraded),
        ("AuthRequired", report.auth_required),
        ("InsufficientScope", report.insufficient_scope),
        ("Unreachable", report.unreachable),
        ("ToolsChanged", report.tools_changed),
        ("Events", report.events),
        ("ChecksDeferred", report.deferred),
        ("Errors", report.errors + report.deliveries.errors),
        ("WebhooksDelivered", report.deliveries.delivered),
        ("WebhooksRetrying", report.deliveries.retrying),
        ("WebhooksGivenUp", report.deliveries.given_up),
    ];
    shared::telemetry::emf_line("health-check", &counts, report.elapsed_ms, timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_line_declares_every_value_it_carries() {
        let report = HealthReport {
            due: 4,
            healthy: 2,
            unreachable: 1,
            tools_changed: 1,
            events: 2,
            elapsed_ms: 42,
            ..HealthReport::default()
        };
        let line: Value = serde_json::from_str(&emf(&report, 1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} has a value");
        }
        assert_eq!(
            (&line["ChecksDue"], &line["Unreachable"], &line["Events"]),
            (&json!(4), &json!(1), &json!(2))
        );
        assert_eq!(line["Function"], "health-check");
    }
}
