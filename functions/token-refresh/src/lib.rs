//! The token-refresh function: on every EventBridge schedule tick, one refresh pass
//! ([`shared::model::refresh_pass`]) within the invocation's time budget. The report is the
//! invocation's result, a log line, and CloudWatch metrics in the embedded metric format (EMF).

use std::time::{Duration, SystemTime};

use lambda_runtime::{LambdaEvent, Service, service_fn};
use serde_json::Value;
use shared::{
    AppState,
    model::refresh_pass::{self, PassSettings, RefreshReport},
};

/// Time kept back from the invocation deadline: the last refreshes finish, and the report is
/// written, before Lambda stops the function.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(15);

/// CloudWatch namespace of the metrics.
pub use shared::telemetry::METRICS_NAMESPACE;

/// The function's handler: one pass per event (the event's content is not needed).
pub fn handler(
    state: AppState,
    settings: PassSettings,
) -> impl Service<
    LambdaEvent<Value>,
    Response = RefreshReport,
    Error = lambda_runtime::Error,
    Future = impl Future<Output = Result<RefreshReport, lambda_runtime::Error>>,
> {
    service_fn(move |event: LambdaEvent<Value>| {
        let (state, settings) = (state.clone(), settings.clone());
        async move { Ok(handle(&state, &settings, event.context.deadline()).await) }
    })
}

/// Runs one pass that starts no refresh later than `deadline` minus [`SAFETY_MARGIN`] and the
/// request timeout, then logs and emits the report.
pub async fn handle(
    state: &AppState,
    settings: &PassSettings,
    deadline: SystemTime,
) -> RefreshReport {
    let budget_end = shared::telemetry::budget_end(deadline, SAFETY_MARGIN);
    let report = refresh_pass::run(state, settings, budget_end).await;
    tracing::info!(
        due = report.due,
        refreshed = report.refreshed,
        reauthorization_required = report.reauthorization_required,
        transient_failures = report.transient_failures,
        failed = report.failed,
        skipped_locked = report.skipped_locked,
        parked = report.parked,
        backed_off = report.backed_off,
        not_needed = report.not_needed,
        deferred = report.deferred,
        errors = report.errors,
        elapsed_ms = report.elapsed_ms,
        "token refresh pass finished"
    );
    println!("{}", emf(&report, shared::telemetry::now_ms()));
    report
}

/// The report as one CloudWatch embedded-metric-format log line (dimension `Function`).
pub fn emf(report: &RefreshReport, timestamp_ms: u64) -> String {
    let counts = [
        ("Due", report.due),
        ("Refreshed", report.refreshed),
        ("ReauthorizationRequired", report.reauthorization_required),
        ("TransientFailures", report.transient_failures),
        ("Failed", report.failed),
        ("SkippedLocked", report.skipped_locked),
        ("Parked", report.parked),
        ("BackedOff", report.backed_off),
        ("NotNeeded", report.not_needed),
        ("Deferred", report.deferred),
        ("Errors", report.errors),
    ];
    shared::telemetry::emf_line("token-refresh", &counts, report.elapsed_ms, timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_metrics_line_declares_every_value_it_carries() {
        let report = RefreshReport {
            due: 5,
            refreshed: 3,
            transient_failures: 1,
            skipped_locked: 1,
            elapsed_ms: 42,
            ..RefreshReport::default()
        };
        let line: Value = serde_json::from_str(&emf(&report, 1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_u64);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} has a value");
        }
        assert_eq!(directive["Metrics"].as_array().unwrap().len(), 12);
        assert_eq!(
            (&line["Due"], &line["Refreshed"], &line["ElapsedMs"]),
            (&json!(5), &json!(3), &json!(42))
        );
        assert_eq!(line["Function"], "token-refresh");
    }
}
