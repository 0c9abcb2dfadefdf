//! An OTLP/HTTP receiver on loopback, for the trace tests: it takes what the exporters POST to
//! `/v1/traces` and `/v1/metrics` in OTLP's JSON encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`),
//! keeps every body as received (to search them for what must never be exported), and lists the
//! spans flattened, each with its service's name.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use serde_json::Value;

/// One exported span, flattened.
#[derive(Debug, Clone)]
pub struct Span {
    /// The exporting service (`service.name`).
    pub service: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id; empty for a root.
    pub parent_span_id: String,
    /// Its name.
    pub name: String,
    /// OTLP span kind (1 internal, 2 server, 3 client).
    pub kind: u64,
    /// Its attributes, values as JSON (`{"stringValue": ...}` unwrapped to the value).
    pub attributes: serde_json::Map<String, Value>,
    /// Its status code (0 unset, 1 ok, 2 error).
    pub status: u64,
}

impl Span {
    /// The attribute `key` as text (numbers and booleans too), if present.
    pub fn attribute(&self, key: &str) -> Option<String> {
        self.attributes.get(key).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string().trim_matches('"').to_owned(),
        })
    }
}

#[derive(Default)]
struct Received {
    traces: Vec<String>,
    metrics: Vec<String>,
}

/// A running receiver; its server ends with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`: the value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let text = String::from_utf8_lossy(&body).into_owned();
    received.lock().unwrap().traces.push(text);
    StatusCode::OK
}

async fn metrics(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let text = String::from_utf8_lossy(&body).into_owned();
    received.lock().unwrap().metrics.push(text);
    StatusCode::OK
}

/// Unwraps an OTLP `AnyValue` (`{"stringValue": "x"}` → `"x"`).
fn any_value(value: &Value) -> Value {
    value
        .as_object()
        .and_then(|object| object.values().next())
        .cloned()
        .unwrap_or(Value::Null)
}

/// An OTLP attribute list as a map.
fn attributes(list: &Value) -> serde_json::Map<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), any_value(&kv["value"]))))
        .collect()
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(Arc::clone(&received));
        let endpoint = crate::serve_on_loopback(app).await;
        Self { endpoint, received }
    }

    /// Every body received so far, traces and metrics, as text.
    pub fn everything(&self) -> String {
        let received = self.received.lock().unwrap();
        let mut all = received.traces.join("\n");
        all.push('\n');
        all.push_str(&received.metrics.join("\n"));
        all
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        let bodies = self.received.lock().unwrap().traces.clone();
        let mut spans = Vec::new();
        for body in bodies {
            let export: Value = serde_json::from_str(&body).expect("an OTLP/JSON export");
            for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                let service = attributes(&resource["resource"]["attributes"])
                    .get("service.name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        spans.push(Span {
                            service: service.clone(),
                            trace_id: span["traceId"].as_str().unwrap_or_default().to_owned(),
                            span_id: span["spanId"].as_str().unwrap_or_default().to_owned(),
                            parent_span_id: span["parentSpanId"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            name: span["name"].as_str().unwrap_or_default().to_owned(),
                            kind: span["kind"].as_u64().unwrap_or_default(),
                            attributes: attributes(&span["attributes"]),
                            status: span["status"]["code"].as_u64().unwrap_or_default(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// The spans of trace `trace_id`, waiting (up to 20 s) until `complete` says they are all
    /// there: functions export after their response is sent, so a trace arrives after the
    /// answer. Panics with what arrived if it never completes.
    pub async fn trace(&self, trace_id: &str, complete: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let spans: Vec<Span> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect();
            if complete(&spans) {
                return spans;
            }
            if tokio::time::Instant::now() >= deadline {
                let names: Vec<String> = spans
                    .iter()
                    .map(|s| format!("{} / {}", s.service, s.name))
                    .collect();
                panic!("trace {trace_id} is incomplete; its spans: {names:#?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Every metric data point's attributes for the metric `name` received so far.
    pub fn metric_points(&self, name: &str) -> Vec<serde_json::Map<String, Value>> {
        let bodies = self.received.lock().unwrap().metrics.clone();
        let mut points = Vec::new();
        for body in bodies {
            let export: Value = serde_json::from_str(&body).expect("an OTLP/JSON export");
            for resource in export["resourceMetrics"].as_array().into_iter().flatten() {
                for scope in resource["scopeMetrics"].as_array().into_iter().flatten() {
                    for metric in scope["metrics"].as_array().into_iter().flatten() {
                        if metric["name"] != name {
                            continue;
                        }
                        let data = metric
                            .as_object()
                            .and_then(|m| {
                                ["histogram", "sum", "gauge"].iter().find_map(|k| m.get(*k))
                            })
                            .cloned()
                            .unwrap_or(Value::Null);
                        for point in data["dataPoints"].as_array().into_iter().flatten() {
                            points.push(attributes(&point["attributes"]));
                        }
                    }
                }
            }
        }
        points
    }
}
