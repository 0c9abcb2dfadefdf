//! Hostile "MCP servers" on a loopback port, each a route of one axum app: one that never answers,
//! one whose tools/list is 50 MB, one that paginates forever, one that serves HTML, one that
//! redirects to the cloud metadata address, one that answers 401 pointing at OAuth metadata on a
//! private address; and two that pass a connection test but misbehave in tool calls: one whose
//! tool never answers, one whose tool answers 5 MiB.

use axum::{
    Json, Router,
    body::Body,
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use serde_json::{Value, json};

/// Serves the hostile routes; returns the base URL. The task ends with the test's runtime.
pub async fn start() -> String {
    let app = Router::new().route("/{case}", any(handle));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn rpc(id: &Value, result: Value) -> Response {
    let mut response = Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
    response.headers_mut().insert(
        "mcp-session-id",
        header::HeaderValue::from_static("hostile-session"),
    );
    response
}

async fn handle(
    Path(case): Path<String>,
    _headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match case.as_str() {
        "never" => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
        )
            .into_response(),
        "metadata-redirect" => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")],
        )
            .into_response(),
        "oauth-private" => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer resource_metadata="http://10.0.0.5/.well-known/oauth-protected-resource""#,
            )],
        )
            .into_response(),
        "slow-tool" | "big-result" => {
            let Ok(message) = serde_json::from_slice::<Value>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            match message.get("method").and_then(Value::as_str) {
                Some("initialize") => rpc(
                    &id,
                    json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                           "serverInfo": {"name": "hostile", "version": "6.6.6"}}),
                ),
                Some("tools/list") => rpc(
                    &id,
                    json!({"tools": [{"name": "work", "inputSchema": {"type": "object"}}]}),
                ),
                Some("tools/call") if case == "slow-tool" => {
                    std::future::pending::<()>().await;
                    StatusCode::OK.into_response()
                }
                Some("tools/call") => rpc(
                    &id,
                    json!({"content": [{"type": "text", "text": "y".repeat(5 * 1024 * 1024)}]}),
                ),
                _ => StatusCode::ACCEPTED.into_response(),
            }
        }
        "huge" | "endless" => {
            let Ok(message) = serde_json::from_slice::<Value>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            match message.get("method").and_then(Value::as_str) {
                Some("initialize") => rpc(
                    &id,
                    json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                           "serverInfo": {"name": "hostile", "version": "6.6.6"}}),
                ),
                Some("tools/list") if case == "huge" => {
                    let description = "x".repeat(50 * 1024 * 1024);
                    let text = json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                        {"name": "big", "description": description, "inputSchema": {"type": "object"}}
                    ]}})
                    .to_string();
                    ([(header::CONTENT_TYPE, "application/json")], Body::from(text)).into_response()
                }
                Some("tools/list") => {
                    let page = message["params"]["cursor"]
                        .as_str()
                        .and_then(|c| c.parse::<u64>().ok())
                        .unwrap_or(0);
                    rpc(
                        &id,
                        json!({"tools": [{"name": format!("t{page}"), "inputSchema": {"type": "object"}}],
                               "nextCursor": (page + 1).to_string()}),
                    )
                }
                _ => StatusCode::ACCEPTED.into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
