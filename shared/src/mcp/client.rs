//! The connection test client. See the module docs of [`crate::mcp`].

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams, ProtocolVersion};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json, value::RawValue};
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

use super::{
    MAX_MESSAGE_BYTES, MAX_TOOL_METADATA_BYTES, MAX_TOOL_PAGES, MAX_TOOLS,
    result::{Category, ConnectionTestResult, ServerInfo, Stage, ToolInfo, Transport},
    sse::EventReader,
    trace,
    wire::{self, RpcRefusal},
};
use crate::net::{HttpClient, NetError, OutboundRequest, OutboundResponse, SendOptions};

/// Longest wait for the session DELETE at the end (it never delays the result by more).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a finished response stream may take to end before it is dropped (servers close it
/// right after the reply; reading to its end keeps the connection reusable).
const DRAIN_BUDGET: Duration = Duration::from_millis(100);
const DRAIN_MAX_BYTES: usize = 64 * 1024;
const SESSION_HEADER: &str = "mcp-session-id";
/// How many times the stream of one request is resumed (SEP-1699) before giving up.
const MAX_RESUMPTIONS: u32 = 3;
/// The reconnection wait when a server names none, and the longest one honoured.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(10);
const VERSION_HEADER: &str = "mcp-protocol-version";
/// Most of an error answer's body read for its JSON-RPC error.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest `WWW-Authenticate` value kept from a refusal.
const MAX_CHALLENGE: usize = 4096;

/// What to test: the server URL, the credential headers to send, and the time allowed.
#[derive(Clone)]
pub struct McpTarget {
    /// The MCP endpoint.
    pub url: Url,
    /// Headers sent with every request (credentials: never logged or echoed).
    pub headers: HeaderMap,
    /// Time allowed for the whole test.
    pub timeout: Duration,
}

impl std::fmt::Debug for McpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTarget")
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a test failed, in our words.
#[derive(Debug)]
struct Failure {
    stage: Stage,
    category: Category,
    http_status: Option<u16>,
    message: String,
    /// The `WWW-Authenticate` challenge of a 401 or 403.
    challenge: Option<String>,
    /// The JSON-RPC error of an HTTP error answer.
    refusal: Option<Box<RpcRefusal>>,
}

impl Failure {
    fn new(stage: Stage, category: Category, message: impl Into<String>) -> Self {
        Self {
            stage,
            category,
            http_status: None,
            message: message.into(),
            challenge: None,
            refusal: None,
        }
    }

    /// The failure's `error.type` for a span: the JSON-RPC error code of a refusal, or else
    /// the category (`timeout`, `unauthorized`, ...).
    fn error_type(&self) -> String {
        match &self.refusal {
            Some(refusal) => refusal.code.to_string(),
            None => serde_json::to_value(self.category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "other".to_owned()),
        }
    }

    /// Whether a server of the stateless revision refused an older request.
    fn is_modern_refusal(&self) -> bool {
        match (&self.refusal, self.http_status) {
            (Some(refusal), Some(status)) => refusal.is_modern(status),
            _ => false,
        }
    }

    /// A failure for the error answer `response` (its challenge and JSON-RPC error read).
    async fn answer(stage: Stage, response: OutboundResponse, what: &str) -> Self {
        let mut failure = Self::status(stage, response.status, what);
        failure.challenge = response
            .headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_CHALLENGE)
            .map(str::to_owned);
        if response.media_type() == "application/json"
            && response.status.is_client_error()
            && let Ok(body) = response.bytes_limited(MAX_ERROR_BODY).await
        {
            failure.refusal = RpcRefusal::parse(&body).map(Box::new);
        }
        failure
    }

    /// Classifies a transport error that happened while in `stage`.
    fn from_net(stage: Stage, error: NetError) -> Self {
        match error {
            NetError::Blocked(why) => Self::new(
                Stage::Resolve,
                Category::Blocked,
                format!("Refused to connect: {why}."),
            ),
            NetError::Dns(host) => Self::new(
                Stage::Resolve,
                Category::Dns,
                format!("The host name {host} does not resolve."),
            ),
            NetError::Connect(_) => Self::new(
                Stage::Connect,
                Category::Connect,
                "Could not connect to the server (connection refused or unreachable).",
            ),
            NetError::Tls(_) => Self::new(
                Stage::Tls,
                Category::Tls,
                "The TLS handshake failed (untrusted or invalid certificate, or no TLS).",
            ),
            NetError::Timeout => Self::new(
                stage,
                Category::Timeout,
                "The server did not answer before the deadline.",
            ),
            NetError::TooLarge(max) => Self::new(
                stage,
                Category::TooLarge,
                format!("A message from the server exceeded {max} bytes."),
            ),
            NetError::Redirect(why) => Self::new(
                stage,
                Category::HttpStatus,
                format!("Redirects could not be followed: {why}."),
            ),
            NetError::Other(_) => Self::new(
                Stage::Connect,
                Category::Connect,
                "The request failed before the server answered.",
            ),
        }
    }

    fn status(stage: Stage, status: StatusCode, what: &str) -> Self {
        let (category, message) = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => (
                Category::Unauthorized,
                format!(
                    "The server refused the credentials ({status}) {what}; check the auth config."
                ),
            ),
            _ => (
                Category::HttpStatus,
                format!("The server answered {status} {what}."),
            ),
        };
        Self {
            stage,
            category,
            http_status: Some(status.as_u16()),
            message,
            challenge: None,
            refusal: None,
        }
    }
}

/// One session with a server over either transport.
struct Session<'a> {
    http: &'a HttpClient,
    target: &'a McpTarget,
    deadline: Instant,
    transport: Transport,
    session_id: Option<HeaderValue>,
    protocol_version: Option<String>,
    /// Legacy SSE: the event stream and the URL to POST messages to.
    legacy: Option<(EventReader, Url)>,
    /// The stateless revision: every request carries its metadata, no session.
    stateless: bool,
    /// Parameter headers for the next `tools/call`.
    param_headers: Vec<(HeaderName, HeaderValue)>,
    /// Where the notifications sent while a tool runs go.
    relay: Option<Relay>,
    /// The id of the `tools/call` once sent.
    call_id: Option<u64>,
    /// The client capabilities a stateless request declares (none: `{}`).
    client_capabilities: Option<Value>,
    next_id: u64,
    /// The stage in progress, for a failure at the overall deadline.
    stage: Stage,
}

impl<'a> Session<'a> {
    fn new(http: &'a HttpClient, target: &'a McpTarget, deadline: Instant) -> Self {
        Self {
            http,
            target,
            deadline,
            transport: Transport::StreamableHttp,
            session_id: None,
            protocol_version: None,
            legacy: None,
            stateless: false,
            param_headers: Vec::new(),
            relay: None,
            call_id: None,
            client_capabilities: None,
            next_id: 0,
            stage: Stage::Initialize,
        }
    }

    fn headers(&self, streamable: bool, method: Option<(&str, Option<&str>)>) -> HeaderMap {
        let mut headers = self.target.headers.clone();
        if let (true, Some((method, name))) = (streamable, method) {
            if let Ok(value) = HeaderValue::from_str(method) {
                headers.insert(HeaderName::from_static(wire::METHOD_HEADER), value);
            }
            if let Some(value) = name.and_then(|n| HeaderValue::from_str(n).ok()) {
                headers.insert(HeaderName::from_static(wire::NAME_HEADER), value);
            }
            if method == "tools/call" {
                for (name, value) in &self.param_headers {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if streamable {
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
        }
        if let Some(id) = &self.session_id {
            headers.insert(HeaderName::from_static(SESSION_HEADER), id.clone());
        }
        if let Some(version) = self
            .protocol_version
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(HeaderName::from_static(VERSION_HEADER), version);
        }
        headers
    }

    async fn post(
        &self,
        url: Url,
        body: &impl Serialize,
        stage: Stage,
        method: Option<(&str, Option<&str>)>,
    ) -> Result<OutboundResponse, Failure> {
        let streamable = self.legacy.is_none();
        let mut request = OutboundRequest::new(Method::POST, url);
        request.headers = self.headers(streamable, method);
        let body = serde_json::to_vec(body).map_err(|_| {
            Failure::new(
                stage,
                Category::Protocol,
                "The request could not be encoded.",
            )
        })?;
        request.body = Some(Bytes::from(body));
        let options = SendOptions {
            follow_redirects: true,
            deadline: self.deadline,
        };
        self.http
            .send(request, options)
            .await
            .map_err(|e| Failure::from_net(stage, e))
    }

    /// Sends a request and returns its JSON-RPC `result`, parsed straight into `T`. In the
    /// stateless revision the request carries its metadata, and is sent once more when the
    /// server names another version it supports.
    async fn request<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: Value,
        stage: Stage,
    ) -> Result<T, Failure> {
        if !self.stateless {
            return self.send_request(method, params, stage).await;
        }
        let mut retried = false;
        loop {
            let version = self
                .protocol_version
                .clone()
                .unwrap_or_else(|| wire::STATELESS_VERSION.to_owned());
            let mut with_meta = wire::with_meta(params.clone(), &version);
            if let (Some(capabilities), Some(meta)) = (
                &self.client_capabilities,
                with_meta.get_mut("_meta").and_then(Value::as_object_mut),
            ) {
                meta.insert(
                    "io.modelcontextprotocol/clientCapabilities".into(),
                    capabilities.clone(),
                );
            }
            match self.send_request(method, with_meta, stage).await {
                // Sent again only with another version than refused (a request such as
                // tools/call is never repeated as it was).
                Err(failure)
                    if !retried
                        && version != wire::STATELESS_VERSION
                        && failure.refusal.as_ref().is_some_and(|r| {
                            r.code == wire::UNSUPPORTED_VERSION
                                && r.supported.iter().any(|v| v == wire::STATELESS_VERSION)
                        }) =>
                {
                    retried = true;
                    self.protocol_version = Some(wire::STATELESS_VERSION.to_owned());
                }
                other => return other,
            }
        }
    }

    /// Sends one request in its own span ([`trace`]) and returns its `result`.
    async fn send_request<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: Value,
        stage: Stage,
    ) -> Result<T, Failure> {
        self.stage = stage;
        self.next_id += 1;
        let id = self.next_id;
        if method == "tools/call" {
            self.call_id = Some(id);
        }
        let name = match method {
            "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
            "resources/read" => params.get("uri").and_then(Value::as_str),
            _ => None,
        }
        .map(str::to_owned);
        let operation = trace::Operation::start(&trace::Request {
            method,
            target: name.as_deref(),
            id: Some(id),
            url: &self.target.url,
            version: self.protocol_version.as_deref(),
            session: self.session_id.as_ref(),
        });
        let span = operation.span().clone();
        let result = Box::pin(self.exchange(method, name, id, params, stage))
            .instrument(span)
            .await;
        let error = result.as_ref().err().map(Failure::error_type);
        operation.finish(
            self.protocol_version.as_deref(),
            self.session_id.as_ref(),
            error,
        );
        result
    }

    /// Sends request `id` (`params` with the trace context in their `_meta`) and reads its reply.
    async fn exchange<T: DeserializeOwned>(
        &mut self,
        method: &str,
        name: Option<String>,
        id: u64,
        params: Value,
        stage: Stage,
    ) -> Result<T, Failure> {
        let params = trace::with_trace_context(params);
        let message = RpcRequest {
            jsonrpc: "2.0",
            id,
            method,
            params,
        };
        let headed = Some((method, name.as_deref()));
        match &self.legacy {
            Some((_, endpoint)) => {
                let response = self.post(endpoint.clone(), &message, stage, headed).await?;
                if !response.status.is_success() {
                    return Err(Failure::status(
                        stage,
                        response.status,
                        &format!("to {method}"),
                    ));
                }
                self.read_legacy_reply(id, stage, method).await
            }
            None => {
                let response = self
                    .post(self.target.url.clone(), &message, stage, headed)
                    .await?;
                if let Some(session) = response.headers.get(SESSION_HEADER) {
                    self.session_id = Some(session.clone());
                }
                self.read_streamable_reply(response, id, stage, method)
                    .await
            }
        }
    }

    /// Sends one notification in its own span ([`trace`]).
    async fn notify(&mut self, method: &str, stage: Stage) -> Result<(), Failure> {
        let operation = trace::Operation::start(&trace::Request {
            method,
            target: None,
            id: None,
            url: &self.target.url,
            version: self.protocol_version.as_deref(),
            session: self.session_id.as_ref(),
        });
        let span = operation.span().clone();
        let result = self.send_notification(method, stage).instrument(span).await;
        let error = result.as_ref().err().map(Failure::error_type);
        operation.finish(None, None, error);
        result
    }

    async fn send_notification(&mut self, method: &str, stage: Stage) -> Result<(), Failure> {
        let message = RpcNotification {
            jsonrpc: "2.0",
            method,
        };
        let url = match &self.legacy {
            Some((_, endpoint)) => endpoint.clone(),
            None => self.target.url.clone(),
        };
        let response = self
            .post(url, &message, stage, Some((method, None)))
            .await?;
        if response.status.is_success() {
            // Usually an empty 202; reading it to the end keeps the connection reusable.
            EventReader::new(response, MAX_MESSAGE_BYTES)
                .drain(DRAIN_BUDGET, DRAIN_MAX_BYTES)
                .await;
            Ok(())
        } else {
            Err(Failure::status(
                stage,
                response.status,
                &format!("to {method}"),
            ))
        }
    }

    /// Tells the server the `tools/call` this session sent is cancelled
    /// (`notifications/cancelled`), within [`CANCEL_NOTICE_TIME`]. Nothing to tell when the call
    /// was not sent, or in the stateless revision (the request's closed stream says it); a
    /// server that does not take the notice is not asked again.
    async fn cancel_call(&mut self) {
        let Some(id) = self.call_id else { return };
        if self.stateless {
            return;
        }
        self.deadline = Instant::now() + CANCEL_NOTICE_TIME;
        let message = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": "The caller cancelled the call."}});
        let url = match &self.legacy {
            Some((_, endpoint)) => endpoint.clone(),
            None => self.target.url.clone(),
        };
        let method = Some(("notifications/cancelled", None));
        if let Ok(response) = self.post(url, &message, Stage::CallTool, method).await {
            EventReader::new(response, MAX_MESSAGE_BYTES)
                .drain(DRAIN_BUDGET, DRAIN_MAX_BYTES)
                .await;
        }
    }

    async fn read_streamable_reply<T: DeserializeOwned>(
        &self,
        response: OutboundResponse,
        id: u64,
        stage: Stage,
        method: &str,
    ) -> Result<T, Failure> {
        if !response.status.is_success() {
            return Err(Failure::answer(stage, response, &format!("to {method}")).await);
        }
        match response.media_type().as_str() {
            "application/json" => {
                let body = response
                    .bytes_limited(MAX_MESSAGE_BYTES)
                    .await
                    .map_err(|e| Failure::from_net(stage, e))?;
                let message: Envelope<'_> = serde_json::from_slice(&body).map_err(|_| {
                    Failure::new(
                        stage,
                        Category::NotMcp,
                        format!("The answer to {method} is not a JSON-RPC message."),
                    )
                })?;
                message.into_result(id, stage, method)
            }
            "text/event-stream" => {
                let mut events = EventReader::new(response, MAX_MESSAGE_BYTES);
                let mut resumptions = 0;
                loop {
                    let relay = self.relay.as_ref();
                    if let Some(reply) =
                        wait_for_reply(&mut events, id, stage, method, relay).await?
                    {
                        events.drain(DRAIN_BUDGET, DRAIN_MAX_BYTES).await;
                        return Ok(reply);
                    }
                    // Closed before the response: resumable when an event id was sent (SEP-1699).
                    let ended = || {
                        Failure::new(
                            stage,
                            Category::Protocol,
                            "The event stream ended without a response.",
                        )
                    };
                    let Some(last) = events.last_event_id().map(str::to_owned) else {
                        return Err(ended());
                    };
                    if resumptions == MAX_RESUMPTIONS {
                        return Err(ended());
                    }
                    resumptions += 1;
                    events = self.resume(last, events.retry_ms(), stage).await?;
                }
            }
            other => Err(Failure::new(
                stage,
                Category::NotMcp,
                format!(
                    "The server answered {method} with {} instead of MCP (JSON or an event stream); is this the MCP endpoint?",
                    if other.is_empty() {
                        "no content type"
                    } else {
                        other
                    }
                ),
            )),
        }
    }

    /// Sends the GET `request` that opens an event stream, within the session's deadline.
    async fn send_get(
        &self,
        request: OutboundRequest,
        follow_redirects: bool,
        stage: Stage,
    ) -> Result<OutboundResponse, Failure> {
        let options = SendOptions {
            follow_redirects,
            deadline: self.deadline,
        };
        self.http
            .send(request, options)
            .await
            .map_err(|e| Failure::from_net(stage, e))
    }

    /// Resumes a closed stream (SEP-1699): after the reconnection time the server asked for
    /// (bounded, and within the deadline), a GET of the endpoint with `Last-Event-ID`, whose
    /// event stream carries on where the closed one stopped.
    async fn resume(
        &self,
        last_event_id: String,
        retry_ms: Option<u64>,
        stage: Stage,
    ) -> Result<EventReader, Failure> {
        let wait = retry_ms
            .map_or(DEFAULT_RETRY, Duration::from_millis)
            .min(MAX_RETRY);
        if Instant::now() + wait >= self.deadline {
            return Err(Failure::new(
                stage,
                Category::Timeout,
                "The event stream ended without a response, and resuming it would pass the deadline.",
            ));
        }
        tokio::time::sleep(wait).await;
        let mut request = OutboundRequest::new(Method::GET, self.target.url.clone());
        request.headers = self.headers(true, None);
        request.headers.remove(header::CONTENT_TYPE);
        request.headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let value = HeaderValue::from_str(&last_event_id).map_err(|_| {
            Failure::new(
                stage,
                Category::Protocol,
                "The event id is not a header value.",
            )
        })?;
        request
            .headers
            .insert(HeaderName::from_static("last-event-id"), value);
        let response = self.send_get(request, false, stage).await?;
        if !response.status.is_success() || response.media_type() != "text/event-stream" {
            return Err(Failure::answer(stage, response, "to resuming the event stream").await);
        }
        Ok(EventReader::resumed(
            response,
            MAX_MESSAGE_BYTES,
            Some(last_event_id),
            retry_ms,
        ))
    }

    async fn read_legacy_reply<T: DeserializeOwned>(
        &mut self,
        id: u64,
        stage: Stage,
        method: &str,
    ) -> Result<T, Failure> {
        let Some((events, _)) = self.legacy.as_mut() else {
            return Err(Failure::new(
                stage,
                Category::Protocol,
                "No event stream is open.",
            ));
        };
        wait_for_reply(events, id, stage, method, self.relay.as_ref())
            .await?
            .ok_or_else(|| {
                Failure::new(
                    stage,
                    Category::Protocol,
                    "The event stream ended without a response.",
                )
            })
    }

    /// Opens the legacy transport: GET the URL, wait for the `endpoint` event.
    async fn open_legacy(&mut self) -> Result<(), Failure> {
        let stage = Stage::Initialize;
        let mut request = OutboundRequest::new(Method::GET, self.target.url.clone());
        request.headers = self.target.headers.clone();
        request.headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let response = self.send_get(request, true, stage).await?;
        if !response.status.is_success() {
            return Err(Failure::status(
                stage,
                response.status,
                "to POST (Streamable HTTP) and to GET (HTTP+SSE)",
            ));
        }
        if response.media_type() != "text/event-stream" {
            return Err(Failure::new(
                stage,
                Category::NotMcp,
                "The server speaks neither MCP transport: POST was refused and GET returned no event stream.",
            ));
        }
        // Credentials were entered for the configured URL's origin. A stream that a redirect
        // moved elsewhere arrived without them (the guarded client drops them across origins),
        // and whatever it names must not receive them either.
        let origin = self.target.url.origin();
        if response.url.origin() != origin {
            return Err(Failure::new(
                stage,
                Category::Protocol,
                "The event stream was redirected to another origin; credentials are not sent there.",
            ));
        }
        let base = response.url.clone();
        let mut events = EventReader::new(response, MAX_MESSAGE_BYTES);
        loop {
            let ended = "The event stream ended before the endpoint event.";
            let event = next_event(&mut events, stage, ended).await?;
            if event.name == "endpoint" {
                let endpoint = base.join(event.data.trim()).map_err(|_| {
                    Failure::new(
                        stage,
                        Category::Protocol,
                        "The endpoint event does not hold a URL.",
                    )
                })?;
                if endpoint.origin() != origin {
                    return Err(Failure::new(
                        stage,
                        Category::Protocol,
                        "The endpoint event points to another origin; credentials are not sent there.",
                    ));
                }
                self.legacy = Some((events, endpoint));
                self.transport = Transport::Sse;
                return Ok(());
            }
        }
    }

    /// What ending this session takes, detached from the borrowed client and target.
    fn closer(self) -> SessionCloser {
        let request = match (&self.session_id, &self.legacy) {
            (Some(session_id), None) => {
                let mut request = OutboundRequest::new(Method::DELETE, self.target.url.clone());
                request.headers = self.target.headers.clone();
                request
                    .headers
                    .insert(HeaderName::from_static(SESSION_HEADER), session_id.clone());
                if let Some(version) = self
                    .protocol_version
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    request
                        .headers
                        .insert(HeaderName::from_static(VERSION_HEADER), version);
                }
                Some(request)
            }
            // Legacy SSE sessions end when the event stream is dropped (here).
            _ => None,
        };
        SessionCloser {
            http: self.http.clone(),
            request,
        }
    }
}

/// Ends a tested session: a bounded DELETE of a Streamable HTTP session (nothing for legacy SSE).
/// Callers may run it concurrently with their own work, so it adds no latency to a result.
#[must_use = "a session should be closed"]
pub struct SessionCloser {
    http: HttpClient,
    request: Option<OutboundRequest>,
}

impl std::fmt::Debug for SessionCloser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCloser")
            .field("pending", &self.request.is_some())
            .finish()
    }
}

impl SessionCloser {
    /// Sends the DELETE (at most [`CLOSE_TIMEOUT`]); its outcome does not matter to the test.
    pub async fn close(self) {
        let Some(request) = self.request else { return };
        let options = SendOptions {
            follow_redirects: false,
            deadline: Instant::now() + CLOSE_TIMEOUT,
        };
        if let Err(error) = self.http.send(request, options).await {
            tracing::debug!(%error, "session DELETE failed");
        }
    }
}

/// A JSON-RPC request as sent.
#[derive(Serialize)]
struct RpcRequest<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: P,
}

/// A JSON-RPC notification as sent.
#[derive(Serialize)]
struct RpcNotification<'a> {
    jsonrpc: &'static str,
    method: &'a str,
}

/// A JSON-RPC message read only as far as matching it to a request needs: `result` and `error`
/// stay unparsed text borrowed from the message, so a result is parsed once, straight into the
/// type expected, and messages for other ids build no tree of values.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    id: Option<Value>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

/// The part of a JSON-RPC error object that is reported (its message is the server's text, which
/// is never echoed).
#[derive(Deserialize)]
struct RpcError {
    #[serde(default)]
    code: i64,
}

impl Envelope<'_> {
    /// Whether this message is the response to request `id`.
    fn answers(&self, id: u64) -> bool {
        self.id.as_ref().and_then(Value::as_u64) == Some(id)
    }

    /// The `result` of the response to request `id` as a `T`, or a protocol failure.
    fn into_result<T: DeserializeOwned>(
        self,
        id: u64,
        stage: Stage,
        method: &str,
    ) -> Result<T, Failure> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(Failure::new(
                stage,
                Category::NotMcp,
                format!("The answer to {method} is not a JSON-RPC 2.0 message."),
            ));
        }
        if !self.answers(id) {
            return Err(Failure::new(
                stage,
                Category::Protocol,
                format!("The answer to {method} has the wrong id."),
            ));
        }
        if let Some(error) = self.error {
            let code = serde_json::from_str::<RpcError>(error.get()).map_or(0, |e| e.code);
            let mut failure = Failure::new(
                stage,
                Category::Protocol,
                format!("The server returned JSON-RPC error {code} for {method}."),
            );
            failure.refusal = RpcRefusal::of_error(error.get()).map(Box::new);
            return Err(failure);
        }
        let result = self.result.ok_or_else(|| {
            Failure::new(
                stage,
                Category::Protocol,
                format!("The answer to {method} has no result."),
            )
        })?;
        serde_json::from_str(result.get()).map_err(|_| {
            Failure::new(
                stage,
                Category::Protocol,
                format!("The {method} result is malformed."),
            )
        })
    }
}

/// The next event of a stream; its end is a protocol failure saying `ended`.
async fn next_event(
    events: &mut EventReader,
    stage: Stage,
    ended: &'static str,
) -> Result<super::sse::Event, Failure> {
    events
        .next()
        .await
        .map_err(|e| Failure::from_net(stage, e))?
        .ok_or_else(|| Failure::new(stage, Category::Protocol, ended))
}

/// Reads events until the JSON-RPC response with `id` and returns its result as a `T` (`None`
/// when the stream ends first); other messages (notifications, requests) are skipped.
async fn wait_for_reply<T: DeserializeOwned>(
    events: &mut EventReader,
    id: u64,
    stage: Stage,
    method: &str,
    relay: Option<&Relay>,
) -> Result<Option<T>, Failure> {
    loop {
        let Some(event) = events
            .next()
            .await
            .map_err(|e| Failure::from_net(stage, e))?
        else {
            return Ok(None);
        };
        // Servers may prime a stream with an empty event (for resumption) or send other events.
        if event.name != "message" || event.data.trim().is_empty() {
            continue;
        }
        let message: Envelope<'_> = serde_json::from_str(&event.data).map_err(|_| {
            Failure::new(
                stage,
                Category::Protocol,
                "An event holds no JSON-RPC message.",
            )
        })?;
        if message.answers(id) {
            return message.into_result(id, stage, method).map(Some);
        }
        if let Some(relay) = relay {
            relay.pass(&event.data);
        }
    }
}

/// `initialize` parameters for `version`, with the request metadata of the same version (a
/// server of the stateless revision reads it, and answers with the versions it speaks).
fn initialize_params(version: ProtocolVersion) -> Value {
    let client = Implementation::new("agent-studio-connect", env!("CARGO_PKG_VERSION"));
    let params = InitializeRequestParams::new(ClientCapabilities::default(), client)
        .with_protocol_version(version.clone());
    let params = serde_json::to_value(params).unwrap_or_else(|_| json!({}));
    wire::with_meta(params, &version.to_string())
}

/// The members of an `initialize` result a test keeps.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Initialized {
    protocol_version: String,
    server_info: Option<WireServerInfo>,
}

/// A server's name and version as sent.
#[derive(Deserialize)]
struct WireServerInfo {
    name: String,
    #[serde(default)]
    version: String,
}

/// The members of a `server/discover` result a test keeps (the server's identity is in the
/// result or in its metadata).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Discovered {
    server_info: Option<WireServerInfo>,
    #[serde(default, rename = "_meta")]
    meta: Option<DiscoveredMeta>,
}

#[derive(Deserialize)]
struct DiscoveredMeta {
    #[serde(default, rename = "io.modelcontextprotocol/serverInfo")]
    server_info: Option<WireServerInfo>,
}

/// One `tools/list` page, read straight from the wire into what a test keeps (other members of a
/// tool, such as annotations or icons, are skipped without being built).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolsPage {
    tools: Vec<WireTool>,
    next_cursor: Option<String>,
}

/// A tool as listed: name, title, description, input and output schemas and annotations (their text kept as
/// it came, not built into a tree of values; a schema that is not an object makes the page
/// malformed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTool {
    name: String,
    title: Option<String>,
    description: Option<String>,
    #[serde(deserialize_with = "object_text")]
    input_schema: Box<RawValue>,
    annotations: Option<Box<RawValue>>,
    output_schema: Option<Box<RawValue>>,
}

/// The raw text of a JSON object; any other JSON value is an error.
fn object_text<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Box<RawValue>, D::Error> {
    let raw = Box::<RawValue>::deserialize(de)?;
    if raw.get().starts_with('{') {
        Ok(raw)
    } else {
        Err(serde::de::Error::custom(
            "inputSchema must be a JSON object",
        ))
    }
}

struct Found {
    protocol_version: String,
    server_info: Option<WireServerInfo>,
    tools: Vec<ToolInfo>,
}

/// Opens a session. The first request is an `initialize` of the newest handshake revision,
/// carrying that revision in its header and metadata too, so one round trip tells the server's
/// era: a result opens a session (`notifications/initialized` follows) unless it names the
/// stateless revision; an error only a stateless server answers with (unsupported version,
/// missing header, unknown `initialize`) switches to the stateless revision; a 400, 404 or 405
/// otherwise means an older server, so HTTP+SSE is tried. Returns what `initialize` said, if
/// it succeeded.
async fn open(session: &mut Session<'_>) -> Result<Option<Initialized>, Failure> {
    session.protocol_version = Some(wire::HANDSHAKE_VERSION.to_owned());
    let first = session
        .request::<Initialized>(
            "initialize",
            initialize_params(ProtocolVersion::LATEST_WITH_INITIALIZE),
            Stage::Initialize,
        )
        .await;
    let init: Initialized = match first {
        Ok(init) if init.protocol_version == wire::STATELESS_VERSION => {
            session.stateless = true;
            session.protocol_version = Some(init.protocol_version.clone());
            return Ok(Some(init));
        }
        Err(failure) if failure.is_modern_refusal() => {
            session.stateless = true;
            session.protocol_version = Some(wire::STATELESS_VERSION.to_owned());
            return Ok(None);
        }
        Err(Failure {
            http_status: Some(400 | 404 | 405),
            ..
        }) => {
            session.protocol_version = None;
            session.open_legacy().await?;
            session
                .request(
                    "initialize",
                    initialize_params(ProtocolVersion::V_2024_11_05),
                    Stage::Initialize,
                )
                .await?
        }
        other => other?,
    };
    session.protocol_version = Some(init.protocol_version.clone());
    session
        .notify("notifications/initialized", Stage::Initialize)
        .await?;
    Ok(Some(init))
}

/// Every `tools/list` page (≤ [`MAX_TOOL_PAGES`], a repeated cursor is a protocol failure), at
/// most [`MAX_TOOLS`] tools and [`MAX_TOOL_METADATA_BYTES`] of their metadata in all: the
/// listing stops at the page that passes either, so what it holds stays bounded.
async fn list_tools(session: &mut Session<'_>) -> Result<Vec<ToolInfo>, Failure> {
    let mut tools = Vec::new();
    let mut metadata_bytes = 0usize;
    let mut cursor: Option<String> = None;
    let mut seen_cursors = std::collections::HashSet::new();
    for _ in 0..MAX_TOOL_PAGES {
        let params = cursor
            .as_ref()
            .map_or_else(|| json!({}), |c| json!({ "cursor": c }));
        let page: ToolsPage = session
            .request("tools/list", params, Stage::ListTools)
            .await?;
        for t in page.tools {
            metadata_bytes += t.name.len()
                + t.title.as_ref().map_or(0, String::len)
                + t.description.as_ref().map_or(0, String::len)
                + t.input_schema.get().len()
                + t.annotations.as_ref().map_or(0, |a| a.get().len())
                + t.output_schema.as_ref().map_or(0, |o| o.get().len());
            tools.push(ToolInfo {
                name: t.name,
                title: t.title,
                description: t.description,
                input_schema: t.input_schema,
                annotations: t.annotations.filter(|a| a.get().starts_with('{')),
                output_schema: t.output_schema.filter(|o| o.get().starts_with('{')),
            });
        }
        if tools.len() > MAX_TOOLS || metadata_bytes > MAX_TOOL_METADATA_BYTES {
            return Err(Failure::new(
                Stage::ListTools,
                Category::TooLarge,
                format!(
                    "The server offers more than {MAX_TOOLS} tools or more than {} MiB of tool \
                     metadata; the listing was stopped.",
                    MAX_TOOL_METADATA_BYTES / (1024 * 1024)
                ),
            ));
        }
        match page.next_cursor {
            None => return Ok(tools),
            Some(next) if !seen_cursors.insert(next.clone()) => {
                return Err(Failure::new(
                    Stage::ListTools,
                    Category::Protocol,
                    "tools/list returned a cursor it had returned before (pagination loop).",
                ));
            }
            Some(next) => cursor = Some(next),
        }
    }
    Err(Failure::new(
        Stage::ListTools,
        Category::Protocol,
        format!("tools/list did not end within {MAX_TOOL_PAGES} pages."),
    ))
}

/// Opens the session and lists the tools; a stateless server is asked who it is first (a
/// server that does not answer `server/discover` is still tested).
async fn handshake(session: &mut Session<'_>) -> Result<Found, Failure> {
    let init = open(session).await?;
    let mut server_info =
        init.as_ref()
            .and_then(|i| i.server_info.as_ref())
            .map(|i| WireServerInfo {
                name: i.name.clone(),
                version: i.version.clone(),
            });
    if session.stateless && server_info.is_none() {
        match session
            .request::<Discovered>("server/discover", json!({}), Stage::Initialize)
            .await
        {
            Ok(found) => {
                server_info = found
                    .server_info
                    .or_else(|| found.meta.and_then(|m| m.server_info));
            }
            Err(failure) if failure.refusal.is_some() => {}
            Err(failure) => return Err(failure),
        }
    }
    let tools = list_tools(session).await?;
    Ok(Found {
        protocol_version: session.protocol_version.clone().unwrap_or_default(),
        server_info,
        tools,
    })
}

/// Why a tool call failed, classified like a connection test failure (stage `call_tool` once the
/// session is open). Safe to show (its challenge is kept for the credential logic, not shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// The `WWW-Authenticate` challenge of a 401 or 403.
    pub challenge: Option<String>,
    /// Where it failed.
    pub stage: Stage,
    /// What kind of failure.
    pub category: Category,
    /// The HTTP status, for `http_status` and `unauthorized`.
    pub http_status: Option<u16>,
    /// The diagnosis.
    pub message: String,
    /// The client capabilities the server said the call needs (its `-32021` error), which the
    /// caller did not bring.
    pub required_capabilities: Option<Value>,
}

/// Longest the notice of a cancelled call may take to send.
const CANCEL_NOTICE_TIME: Duration = Duration::from_secs(2);

/// The progress token a call asks the server to report progress under.
const PROGRESS_TOKEN: &str = "call";

/// Most notifications one call passes on; a server that sends more (a hostile one can send as many
/// as its deadline allows) has the rest dropped.
pub const MAX_RELAYED_NOTICES: usize = 1_000;
/// Most bytes of notifications one call passes on.
pub const MAX_RELAYED_BYTES: usize = 1024 * 1024;
/// Notifications waiting to be passed on; when the reader falls behind, newer ones are dropped
/// (progress and log messages are advisory), so a call never holds more than this many.
const RELAY_QUEUE: usize = 64;

/// Where a tool call relays what the server sends while the tool runs: each progress
/// notification (under the token [`call_tool`] asked with) and each log message, as sent, at
/// most [`MAX_RELAYED_NOTICES`] and [`MAX_RELAYED_BYTES`] of them in all.
#[derive(Debug, Clone)]
pub struct Relay {
    notices: tokio::sync::mpsc::Sender<Value>,
    /// Notices and bytes passed on so far, shared by the call's attempts.
    sent: std::sync::Arc<std::sync::Mutex<(usize, usize)>>,
    /// Whether to ask the server for progress (a `progressToken` in the call's `_meta`).
    pub progress: bool,
    /// When the caller gives up on the call (see [`Relay::cancelled_by`]).
    cancel: Option<tokio_util::sync::CancellationToken>,
    /// What the caller's own MCP client brings to the call ([`Relay::with_client_input`]).
    client: Option<ClientInput>,
}

/// What an MCP client brings to a relayed tool call in the stateless revision (multi
/// round-trip requests): the capabilities it declared, and, when it repeats a call the server
/// answered with `input_required`, its answers and the server's opaque state. Passed to a
/// server of the stateless revision as they came; a server of the earlier revisions gets none
/// (it would ask over a session stream the relay does not carry).
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    /// `_meta["io.modelcontextprotocol/clientCapabilities"]` of the client's request.
    pub capabilities: Option<Value>,
    /// `inputResponses` of the repeated call.
    pub input_responses: Option<Value>,
    /// `requestState` of the repeated call.
    pub request_state: Option<String>,
}

impl Relay {
    /// A relay (asking for progress when `progress`) and where its notifications arrive; the
    /// receiver sees the end once the call is over.
    pub fn new(progress: bool) -> (Self, tokio::sync::mpsc::Receiver<Value>) {
        let (notices, received) = tokio::sync::mpsc::channel(RELAY_QUEUE);
        let relay = Self {
            notices,
            sent: std::sync::Arc::default(),
            progress,
            cancel: None,
            client: None,
        };
        (relay, received)
    }

    /// This relay carrying `input` of the caller's client to the server ([`ClientInput`]).
    #[must_use]
    pub fn with_client_input(mut self, input: ClientInput) -> Self {
        self.client = Some(input);
        self
    }

    /// This relay, its call given up when `cancel` is cancelled (the caller went away): the
    /// call stops, and the server is told (`notifications/cancelled` in a session of the 2025
    /// revisions; in the stateless revision and over legacy SSE, closing the request's stream or
    /// posting the notice does it).
    #[must_use]
    pub fn cancelled_by(mut self, cancel: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Passes on the message `data` holds if it is a notification the relay carries and the
    /// call's allowance is not spent.
    fn pass(&self, data: &str) {
        #[derive(Deserialize)]
        struct Notification<'a> {
            method: &'a str,
            id: Option<Value>,
        }
        let Ok(note) = serde_json::from_str::<Notification<'_>>(data) else {
            return;
        };
        if note.id.is_some()
            || !matches!(
                note.method,
                "notifications/progress" | "notifications/message"
            )
        {
            return;
        }
        {
            let mut sent = self
                .sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if sent.0 >= MAX_RELAYED_NOTICES || sent.1 + data.len() > MAX_RELAYED_BYTES {
                return;
            }
            *sent = (sent.0 + 1, sent.1 + data.len());
        }
        if let Ok(message) = serde_json::from_str::<Value>(data) {
            // A full queue (the reader is behind) or a gone reader: the notice is dropped.
            let _ = self.notices.try_send(message);
        }
    }
}

/// Calls the tool `name` with `arguments` in a new session (initialize, initialized, tools/call;
/// for a stateless server the call alone, with the parameter headers its `input_schema`
/// designates), bounded by the target's timeout; hands back the session's closing step. The
/// result is the MCP `CallToolResult` as the server sent it (it has a `content` array).
pub async fn call_tool(
    http: &HttpClient,
    target: &McpTarget,
    name: &str,
    arguments: Value,
    input_schema: Option<&str>,
    relay: Option<Relay>,
) -> (Result<Value, CallFailure>, SessionCloser) {
    let deadline = Instant::now() + target.timeout;
    let mut session = Session::new(http, target, deadline);
    let cancel = relay.as_ref().and_then(|r| r.cancel.clone());
    let mut params = json!({"name": name, "arguments": arguments});
    if relay.as_ref().is_some_and(|r| r.progress) {
        params["_meta"] = json!({"progressToken": PROGRESS_TOKEN});
    }
    let call = async {
        open(&mut session).await?;
        if session.stateless {
            session.param_headers = match input_schema {
                Some(schema) => {
                    wire::param_headers(schema, &params["arguments"]).map_err(|why| {
                        Failure::new(
                            Stage::CallTool,
                            Category::Protocol,
                            format!("The tool cannot be called: {why}."),
                        )
                    })?
                }
                None => Vec::new(),
            };
        }
        if session.stateless
            && let Some(client) = relay.as_ref().and_then(|r| r.client.clone())
        {
            session.client_capabilities = client.capabilities;
            if let Some(responses) = client.input_responses {
                params["inputResponses"] = responses;
            }
            if let Some(state) = client.request_state {
                params["requestState"] = Value::String(state);
            }
        }
        session.relay = relay;
        let result: Value = session
            .request("tools/call", params, Stage::CallTool)
            .await?;
        // A result, or (to a client that brought its capabilities) a request for its input
        // first, which the client answers by calling again.
        let input_required =
            result.get("resultType").and_then(Value::as_str) == Some("input_required");
        if result.get("content").is_some_and(Value::is_array) || input_required {
            Ok(result)
        } else {
            Err(Failure::new(
                Stage::CallTool,
                Category::Protocol,
                "The tools/call result has no content.",
            ))
        }
    };
    let given_up = async {
        match &cancel {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let raced = tokio::select! {
        outcome = tokio::time::timeout_at(deadline, call) => Some(outcome),
        () = given_up => None,
    };
    let outcome = match raced {
        Some(Ok(outcome)) => outcome,
        Some(Err(_)) => Err(Failure::new(
            session.stage,
            Category::Timeout,
            "The server did not answer before the deadline.",
        )),
        None => {
            session.cancel_call().await;
            Err(Failure::new(
                Stage::CallTool,
                Category::Protocol,
                "The caller cancelled the call.",
            ))
        }
    };
    let outcome = outcome.map_err(|f| CallFailure {
        required_capabilities: f
            .refusal
            .filter(|r| r.code == wire::MISSING_CLIENT_CAPABILITY)
            .and_then(|r| r.required_capabilities),
        challenge: f.challenge,
        stage: f.stage,
        category: f.category,
        http_status: f.http_status,
        message: f.message,
    });
    (outcome, session.closer())
}

/// Tests the MCP server at `target`: initialize, initialized, every tools/list page, then end the
/// session. Never fails: the outcome, classified, is in the result.
pub async fn test_connection(http: &HttpClient, target: &McpTarget) -> ConnectionTestResult {
    let (result, closer) = test_connection_then_close(http, target).await;
    closer.close().await;
    result
}

/// Like [`test_connection`], but hands back the session's closing step so the caller can run it
/// concurrently with its own work (e.g. storing the result).
pub async fn test_connection_then_close(
    http: &HttpClient,
    target: &McpTarget,
) -> (ConnectionTestResult, SessionCloser) {
    let started = Instant::now();
    let deadline = started + target.timeout;
    let mut session = Session::new(http, target, deadline);
    let outcome = match tokio::time::timeout_at(deadline, handshake(&mut session)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::new(
            session.stage,
            Category::Timeout,
            "The server did not answer before the deadline.",
        )),
    };
    let transport = session.transport;
    let closer = session.closer();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let result = match outcome {
        Ok(Found {
            protocol_version,
            server_info,
            tools,
        }) => ConnectionTestResult {
            protocol_version: Some(protocol_version),
            server_info: server_info.map(|info| ServerInfo {
                name: info.name,
                version: info.version,
            }),
            ..ConnectionTestResult::success(transport, elapsed_ms, tools)
        },
        Err(mut failure) => ConnectionTestResult {
            challenge: failure.challenge.take(),
            http_status: failure.http_status,
            ..ConnectionTestResult::failed(
                failure.stage,
                failure.category,
                failure.message,
                transport,
                elapsed_ms,
            )
        },
    };
    (result, closer)
}

#[cfg(test)]
mod tests {
    use super::{Envelope, Stage, ToolsPage};
    use crate::mcp::Category;
    use serde_json::Value;

    fn reply(text: &str, id: u64) -> Result<Value, (Category, String)> {
        let message: Envelope<'_> = serde_json::from_str(text).expect("an object");
        message
            .into_result::<Value>(id, Stage::ListTools, "tools/list")
            .map_err(|f| (f.category, f.message))
    }

    #[test]
    fn a_reply_is_matched_by_id_and_its_result_parsed_as_is() {
        let text = r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#;
        assert!(
            serde_json::from_str::<Envelope<'_>>(text)
                .unwrap()
                .answers(7)
        );
        assert!(
            !serde_json::from_str::<Envelope<'_>>(text)
                .unwrap()
                .answers(8)
        );
        assert_eq!(reply(text, 7).unwrap(), serde_json::json!({"tools": []}));
        let other = r#"{"jsonrpc":"2.0","id":"7","method":"ping"}"#;
        assert!(
            !serde_json::from_str::<Envelope<'_>>(other)
                .unwrap()
                .answers(7)
        );
    }

    #[test]
    fn replies_that_are_not_results_are_classified_without_echoing_the_server() {
        let (category, message) = reply(r#"{"id":1,"result":{}}"#, 1).unwrap_err();
        assert_eq!(category, Category::NotMcp, "{message}");
        let (category, message) = reply(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#, 1).unwrap_err();
        assert_eq!(
            (category, message.contains("wrong id")),
            (Category::Protocol, true)
        );
        let (_, message) = reply(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"<secret detail>"}}"#,
            1,
        )
        .unwrap_err();
        assert_eq!(
            message,
            "The server returned JSON-RPC error -32601 for tools/list."
        );
        let (_, message) = reply(r#"{"jsonrpc":"2.0","id":1,"result":null}"#, 1).unwrap_err();
        assert!(message.contains("no result"), "{message}");
    }

    #[test]
    fn a_tools_page_keeps_each_schema_text_and_skips_other_members() {
        let page: ToolsPage = serde_json::from_str(
            r#"{"tools":[{"name":"echo","description":"Echo","inputSchema":{"type":"object","properties":{"m":{"type":"string"}}},"annotations":{"readOnlyHint":true},"icons":[{"src":"x"}]}],"nextCursor":"c2"}"#,
        )
        .unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        assert_eq!(page.tools[0].name, "echo");
        assert_eq!(
            page.tools[0].input_schema.get(),
            r#"{"type":"object","properties":{"m":{"type":"string"}}}"#
        );
        assert!(serde_json::from_str::<ToolsPage>(r#"{"tools":[{"name":"x"}]}"#).is_err());
        let not_an_object = r#"{"tools":[{"name":"x","inputSchema":["type"]}]}"#;
        assert!(serde_json::from_str::<ToolsPage>(not_an_object).is_err());
    }
}
