//! Logging setup: JSON lines in Lambda (CloudWatch), compact human text locally. Every function's
//! `main` calls one of these once. Secrets never reach a log field: they live in `SecretString`,
//! whose Debug output is redacted. Also the scheduled functions' metrics line (CloudWatch embedded
//! metric format) and their time budget. Traces and metrics over OTLP are in [`otel`], installed
//! by the same calls when an OTLP endpoint is configured.

pub mod otel;

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// CloudWatch namespace of the scheduled functions' metrics.
pub const METRICS_NAMESPACE: &str = "AgentStudioConnect";

/// One CloudWatch embedded-metric-format log line: `counts` (unit Count) and `elapsed_ms`
/// (`ElapsedMs`, unit Milliseconds), with the dimension `Function` = `function`.
pub fn emf_line(
    function: &str,
    counts: &[(&str, u64)],
    elapsed_ms: u64,
    timestamp_ms: u64,
) -> String {
    let mut metrics: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    metrics.push(json!({"Name": "ElapsedMs", "Unit": "Milliseconds"}));
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics,
            }],
        },
        "Function": function,
        "ElapsedMs": elapsed_ms,
    });
    for (name, value) in counts {
        line[*name] = json!(value);
    }
    line.to_string()
}

/// One count as a CloudWatch embedded-metric-format line, without dimensions: one metric (and
/// one alarm) for every function that emits it.
pub fn emf_count(metric: &str, value: u64, timestamp_ms: u64) -> String {
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
    });
    line[metric] = json!(value);
    line.to_string()
}

/// Milliseconds since the Unix epoch, for a metrics line.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When a scheduled pass must be done: the invocation's `deadline` less `margin` (for the last
/// jobs and the report), as an instant of the runtime's clock.
pub fn budget_end(deadline: SystemTime, margin: Duration) -> tokio::time::Instant {
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(margin);
    tokio::time::Instant::now() + remaining
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs without ANSI colours or timestamps (Lambda adds its own), for a Lambda function;
/// and traces and metrics over OTLP when an endpoint is configured ([`otel`]), named after the
/// function.
pub fn init_lambda() {
    let service =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| otel::SERVICE.into());
    // Without export, the log filter is the subscriber's own (global) filter: callsites below it
    // are disabled once, and the start costs what it did before traces existed.
    let _ = match otel::layer(&service) {
        Some(traces) => tracing_subscriber::registry()
            .with(json_logs().with_filter(filter()))
            .with(traces)
            .try_init(),
        None => tracing_subscriber::registry()
            .with(filter())
            .with(json_logs())
            .try_init(),
    };
}

/// The log lines of a Lambda function.
fn json_logs<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
}

/// The log lines of the local stack.
fn text_logs<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer().compact().with_writer(std::io::stderr)
}

/// Human-readable logs on standard error, for the local stack and command-line tools; and
/// traces and metrics over OTLP when an endpoint is configured ([`otel`]).
pub fn init_local() {
    let _ = match otel::layer(otel::SERVICE) {
        Some(traces) => tracing_subscriber::registry()
            .with(text_logs().with_filter(filter()))
            .with(traces)
            .try_init(),
        None => tracing_subscriber::registry()
            .with(filter())
            .with(text_logs())
            .try_init(),
    };
}
