//! Servers that record what they receive, for tests that prove where credentials go: a capture
//! server (every request's method, path and headers; a legacy HTTP+SSE `GET /sse` that names its
//! own `/message` endpoint) and a redirector that sends every `GET` elsewhere.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header.
    pub headers: HeaderMap,
}

/// A running capture server; its task ends with the test's runtime.
#[derive(Clone)]
pub struct CaptureServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    seen: Arc<Mutex<Vec<Captured>>>,
}

impl CaptureServer {
    /// The MCP endpoint it pretends to be, `<base>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether any request so far carried `needle` in a header value, also inside HTTP Basic
    /// credentials (base64, with RFC 6749 form-encoding undone).
    pub fn saw(&self, needle: &str) -> bool {
        use base64::Engine;
        self.requests().iter().any(|r| {
            r.headers.values().any(|v| {
                let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
                let basic = text
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map(|pair| {
                        url::form_urlencoded::parse(pair.replace(':', "&").as_bytes())
                            .map(|(k, v)| format!("{k}{v}"))
                            .collect::<String>()
                            + &pair
                    })
                    .unwrap_or_default();
                text.contains(needle) || basic.contains(needle)
            })
        })
    }
}

async fn capture(State(seen): State<Arc<Mutex<Vec<Captured>>>>, request: Request) -> Response {
    let captured = Captured {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers: request.headers().clone(),
    };
    let is_stream = captured.method == "GET" && request.uri().path() == "/sse";
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(captured);
    if is_stream {
        let events = "event: endpoint\ndata: /message?sessionId=captured\n\n";
        let stream = futures_util::stream::once(async move {
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(events))
        })
        .chain(futures_util::stream::pending());
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response();
    }
    StatusCode::ACCEPTED.into_response()
}

/// Starts a capture server.
pub async fn start() -> CaptureServer {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .fallback(any(capture))
        .with_state(Arc::clone(&seen));
    CaptureServer {
        base: crate::serve_on_loopback(app).await,
        seen,
    }
}

/// Starts a server that refuses POST (so a client falls back to legacy SSE) and answers every
/// GET with a redirect (`status`) to `location`.
pub async fn redirector(location: String, status: StatusCode) -> String {
    let app = Router::new().fallback(any(move |request: Request| {
        let location = location.clone();
        async move {
            if request.method() == axum::http::Method::GET {
                (status, [(header::LOCATION, location)]).into_response()
            } else {
                StatusCode::METHOD_NOT_ALLOWED.into_response()
            }
        }
    }));
    crate::serve_on_loopback(app).await
}
