//! OpenTelemetry traces and metrics, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: in AWS, to the collector of the ADOT Lambda
//! layer on `localhost:4318` (the template's `OtelCollectorLayerArn`). When it is not set, nothing
//! here costs more than reading one flag, and no trace context is sent anywhere.
//!
//! What it owns:
//! - the `tracing` layer that turns spans into OpenTelemetry spans: ours at `info`, and the AWS
//!   SDK's one span per operation (`DynamoDB.GetItem`, `KMS.Decrypt`, ...);
//! - W3C trace context: continued from an API request's `traceparent`, sent on every request of
//!   the guarded client ([`inject`]), and in MCP requests' `params._meta` ([`trace_context`]);
//! - the API's server spans ([`server_span`]), the guarded client's ([`client_span`]), and the
//!   MCP client's operation duration ([`mcp_operation_duration`]);
//! - [`Invocations`]: one span per Lambda invocation, parented by the event's `traceparent`, with
//!   the exporters flushed after each invocation's response is sent (Lambda may freeze the
//!   environment until the next invocation, so nothing waits for a timer).
//!
//! The exporter sends to an endpoint the operator configures, as the AWS SDK does: it does not go
//! through the guarded client, whose rules are for the URLs users and servers supply. Spans carry
//! names, ids, hosts, methods, status codes and kinds of error: never a header value, a URL's
//! path or query, a body, a tool's arguments, a token or a secret.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
};

use http::HeaderMap;
use lambda_http::lambda_runtime::{
    Error as LambdaError, LambdaInvocation, Runtime,
    layers::{TracingLayer, trace::TracingService},
};
use opentelemetry::{
    KeyValue, global,
    metrics::Histogram,
    propagation::TextMapPropagator,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator,
    trace::SdkTracerProvider,
};
use tracing::{Instrument, Level, Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::filter_fn, registry::LookupSpan};

/// The service name when `OTEL_SERVICE_NAME` is not set and no Lambda function names it.
pub const SERVICE: &str = "agent-studio-connect";
/// The instrumentation scope of the spans and metrics.
const SCOPE: &str = "agent-studio-connect";
/// Where the ADOT Lambda layer's collector listens (OTLP over HTTP).
pub const LAMBDA_COLLECTOR: &str = "http://localhost:4318";

/// The providers, once an endpoint is configured.
struct Exporters {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
}

static EXPORTERS: OnceLock<Exporters> = OnceLock::new();

/// Whether traces and metrics are exported (an OTLP endpoint is configured).
pub fn exporting() -> bool {
    EXPORTERS.get().is_some()
}

/// Whether the environment names an OTLP endpoint (an empty value is unset, and
/// `OTEL_SDK_DISABLED=true` turns export off, as the OpenTelemetry specification says).
fn configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled =
        std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The layer exporting spans as `service`, when an endpoint is configured; `None` otherwise (or
/// when the exporter cannot be built, which is logged once on standard error).
pub fn layer<S>(service: &str) -> Option<impl Layer<S> + use<S>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !configured() {
        return None;
    }
    let exporters = match build(service) {
        Ok(exporters) => exporters,
        Err(error) => {
            eprintln!("OpenTelemetry export is off: {error}");
            return None;
        }
    };
    let tracer = exporters.traces.tracer(SCOPE);
    global::set_meter_provider(exporters.metrics.clone());
    if EXPORTERS.set(exporters).is_err() {
        return None;
    }
    Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(|meta| {
                exported(meta.target(), *meta.level(), meta.is_span())
            })),
    )
}

/// Which spans and events become OpenTelemetry data: ours (and our dependencies') at `info` or
/// above, and the AWS SDK's operation spans (at `debug`, one per call); not the plumbing of the
/// Lambda runtime, the HTTP stacks or the exporter itself.
fn exported(target: &str, level: Level, is_span: bool) -> bool {
    const PLUMBING: &[&str] = &[
        "lambda_runtime",
        "lambda_http",
        "hyper",
        "h2",
        "reqwest",
        "rustls",
        "aws_smithy",
        "aws_config",
        "opentelemetry",
        "tower",
    ];
    if target.starts_with("aws_sdk_") {
        return is_span;
    }
    level <= Level::INFO && !PLUMBING.iter().any(|p| target.starts_with(p))
}

fn build(service: &str) -> Result<Exporters, String> {
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    if let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        resource = resource.with_attributes([
            KeyValue::new("cloud.provider", "aws"),
            KeyValue::new("cloud.platform", "aws_lambda"),
            KeyValue::new("faas.name", function),
        ]);
        if let Ok(region) = std::env::var("AWS_REGION") {
            resource = resource.with_attribute(KeyValue::new("cloud.region", region));
        }
    }
    let resource = resource.build();
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("the span exporter: {e}"))?;
    let traces = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource.clone())
        .build();
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("the metric exporter: {e}"))?;
    let metrics = SdkMeterProvider::builder()
        .with_periodic_exporter(metrics)
        .with_resource(resource)
        .build();
    Ok(Exporters { traces, metrics })
}

/// Exports every finished span and the metrics now, and waits for the collector's answer (on a
/// blocking thread: the SDK's flush blocks). A no-op when nothing is exported.
pub async fn flush() {
    let Some(exporters) = EXPORTERS.get() else {
        return;
    };
    let flushed = tokio::task::spawn_blocking(move || {
        let traces = exporters.traces.force_flush().err();
        let metrics = exporters.metrics.force_flush().err();
        traces.or(metrics).map(|e| e.to_string())
    })
    .await;
    if let Ok(Some(error)) = flushed {
        tracing::warn!(target: "opentelemetry", %error, "exporting traces or metrics failed");
    }
}

/// Adds `traceparent` (and `tracestate`) naming `span` to `headers`, when traces are exported
/// and `span` is recorded.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if !exporting() {
        return;
    }
    let context = span.context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}

/// The W3C trace context of the current span (`traceparent`, and `tracestate` when there is
/// one), for an MCP request's `params._meta`; empty when traces are not exported.
pub fn trace_context() -> Vec<(String, String)> {
    if !exporting() {
        return Vec::new();
    }
    let context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    let mut fields: Vec<(String, String)> = fields.into_iter().collect();
    fields.sort();
    fields
}

/// Makes `span` continue the trace `headers` name (a caller's `traceparent`), when they name
/// a valid one.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// A span for one request of the guarded client (`http.client`), or a disabled one when traces
/// are not exported. Only the method, host, port and scheme are recorded: a URL's path and query
/// may hold what is not ours to export.
pub fn client_span(method: &http::Method, url: &url::Url) -> Span {
    if !exporting() {
        return Span::none();
    }
    tracing::info_span!(
        "http.client",
        otel.name = method.as_str(),
        otel.kind = "client",
        otel.status_code = field::Empty,
        http.request.method = method.as_str(),
        server.address = url.host_str().unwrap_or_default(),
        server.port = url.port_or_known_default(),
        url.scheme = url.scheme(),
        http.response.status_code = field::Empty,
        error.type = field::Empty,
    )
}

/// Records on `span` (a [`client_span`] or [`server_span`]'s) the status answered; 5xx (and 4xx
/// for a client) are errors.
pub fn record_status(span: &Span, status: http::StatusCode, client: bool) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() || (client && status.is_client_error()) {
        span.record("error.type", status.as_str());
        span.record("otel.status_code", "error");
    }
}

/// Records on `span` that it failed with an error of `kind` (a word such as `timeout`).
pub fn record_error(span: &Span, kind: &str) {
    span.record("error.type", kind);
    span.record("otel.status_code", "error");
}

/// Middleware: one span per API request, named after its route
/// (`POST /ai/api/v1/config/mcp-server`): the `server` span continuing the caller's trace
/// locally, and inside the invocation's span (which is the `server` span) in Lambda. Records the method, the route template and the status; never the path or the
/// query (the OAuth callback's carries a code).
pub async fn server_span(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !exporting() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let method = request.method().clone();
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    // In Lambda the invocation's span is the server span; locally this one is.
    let root = Span::current().is_none();
    let span = tracing::info_span!(
        "http.server",
        otel.name = name,
        otel.kind = if root { "server" } else { "internal" },
        otel.status_code = field::Empty,
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = field::Empty,
        error.type = field::Empty,
    );
    if root {
        continue_trace(&span, request.headers());
    }
    let response = next.run(request).instrument(span.clone()).await;
    record_status(&span, response.status(), false);
    response
}

/// `mcp.client.operation.duration` (seconds), the MCP semantic conventions' histogram of one
/// request's time from sending it to its answer (a no-op instrument when nothing is exported).
pub fn mcp_operation_duration() -> &'static Histogram<f64> {
    static HISTOGRAM: OnceLock<Histogram<f64>> = OnceLock::new();
    HISTOGRAM.get_or_init(|| {
        global::meter(SCOPE)
            .f64_histogram("mcp.client.operation.duration")
            .with_unit("s")
            .with_description("The duration of an MCP request as observed by the client.")
            .with_boundaries(vec![
                0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ])
            .build()
    })
}

/// What invoked a function, for `faas.trigger`.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// API Gateway.
    Http,
    /// EventBridge Scheduler.
    Timer,
    /// An SQS event source mapping.
    PubSub,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Timer => "timer",
            Self::PubSub => "pubsub",
        }
    }
}

/// `runtime` with the layers every function's runtime gets: the runtime's own span per
/// invocation (`Lambda runtime invoke`: the request id and the X-Ray trace id, on every log line
/// of the invocation), inside [`Invocations`] for `trigger`.
pub fn layered<S>(
    runtime: Runtime<S>,
    trigger: Trigger,
) -> Runtime<InvocationService<TracingService<S>>>
where
    S: tower::Service<LambdaInvocation, Response = (), Error = LambdaError>,
{
    runtime
        .layer(TracingLayer::new())
        .layer(Invocations(trigger))
}

/// A layer of the Lambda runtime: one span per invocation (`faas.*` attributes), continuing the
/// trace the event's `headers` name (API Gateway passes a client's `traceparent` on, to the
/// authorizer and to the function), and the exporters flushed once the invocation's response
/// has been sent.
#[derive(Debug, Clone, Copy)]
pub struct Invocations(pub Trigger);

impl<S> tower::Layer<S> for Invocations {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            trigger: self.0,
            cold: true,
        }
    }
}

/// The service [`Invocations`] wraps the runtime's in.
#[derive(Debug)]
pub struct InvocationService<S> {
    inner: S,
    trigger: Trigger,
    cold: bool,
}

impl<S> tower::Service<LambdaInvocation> for InvocationService<S>
where
    S: tower::Service<LambdaInvocation, Response = (), Error = LambdaError>,
{
    type Response = ();
    type Error = LambdaError;
    type Future = InvocationFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        if !exporting() {
            let running = Box::pin(self.inner.call(invocation).instrument(Span::none()));
            return InvocationFuture(Phase::Running(running));
        }
        let cold = std::mem::take(&mut self.cold);
        let span = tracing::info_span!(
            "faas.invocation",
            otel.name = invocation.context.env_config.function_name.as_str(),
            otel.kind = "server",
            faas.trigger = self.trigger.as_str(),
            faas.invocation_id = invocation.context.request_id.as_str(),
            faas.coldstart = cold,
        );
        if let Some(headers) = event_headers(&invocation.body) {
            continue_trace(&span, &headers);
        }
        let future = {
            let _entered = span.enter();
            self.inner.call(invocation)
        };
        InvocationFuture(Phase::Running(Box::pin(future.instrument(span))))
    }
}

/// An invocation in progress: the runtime's handling of it (the response sent), then the flush.
pub struct InvocationFuture<F>(Phase<F>);

enum Phase<F> {
    Running(Pin<Box<tracing::instrument::Instrumented<F>>>),
    Flushing(
        Pin<Box<dyn Future<Output = ()> + Send>>,
        Option<Result<(), LambdaError>>,
    ),
    Done,
}

impl<F> Future for InvocationFuture<F>
where
    F: Future<Output = Result<(), LambdaError>>,
{
    type Output = Result<(), LambdaError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut self.0 {
                Phase::Running(running) => {
                    let result = std::task::ready!(running.as_mut().poll(cx));
                    if !exporting() {
                        self.0 = Phase::Done;
                        return Poll::Ready(result);
                    }
                    // Replacing the invocation's future closes its span before the flush.
                    self.0 = Phase::Flushing(Box::pin(flush()), Some(result));
                }
                Phase::Flushing(flushing, result) => {
                    std::task::ready!(flushing.as_mut().poll(cx));
                    let result = result.take().unwrap_or(Ok(()));
                    self.0 = Phase::Done;
                    return Poll::Ready(result);
                }
                Phase::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The trace context headers of an API Gateway event (proxy or REQUEST authorizer), whatever
/// their case; `None` for other events.
fn event_headers(event: &[u8]) -> Option<HeaderMap> {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(default)]
        headers: Option<HashMap<String, Option<String>>>,
    }
    let headers = serde_json::from_slice::<Event>(event).ok()?.headers?;
    let mut context = HeaderMap::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if let ("traceparent" | "tracestate", Some(value)) = (name.as_str(), value)
            && let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            )
        {
            context.insert(name, value);
        }
    }
    (!context.is_empty()).then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ours_and_the_aws_operations_are_exported() {
        assert!(exported("shared::mcp", Level::INFO, true));
        assert!(exported("agents", Level::WARN, false));
        assert!(!exported("shared::store", Level::DEBUG, true));
        assert!(exported(
            "aws_sdk_dynamodb::operation::get_item",
            Level::DEBUG,
            true
        ));
        assert!(!exported("aws_sdk_kms::config", Level::INFO, false));
        assert!(!exported(
            "aws_smithy_runtime::client::orchestrator",
            Level::DEBUG,
            true
        ));
        assert!(!exported("lambda_runtime::layers", Level::INFO, true));
        assert!(!exported("hyper_util::client", Level::INFO, false));
    }

    #[test]
    fn an_events_trace_context_is_read_from_its_headers_in_any_case() {
        let event = br#"{"resource": "/x", "headers": {"TraceParent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Api-Key": "k", "tracestate": "a=b", "empty": null}, "body": "{}"}"#;
        let headers = event_headers(event).unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(
            headers["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert!(event_headers(br#"{"Records": []}"#).is_none());
        assert!(event_headers(br#"{"headers": null}"#).is_none());
        assert!(event_headers(b"[1, 2]").is_none());
    }
}
