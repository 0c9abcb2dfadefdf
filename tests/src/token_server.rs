//! A minimal OAuth 2.0 token endpoint for the client-credentials grant on a loopback port. It checks
//! client authentication exactly as RFC 6749 §2.3.1 says (HTTP Basic of the form-urlencoded id and
//! secret, or both in the body), issues the bearer token the FastMCP test server accepts, and counts
//! the requests it gets.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use crate::servers::FASTMCP_BEARER;

/// A running token endpoint.
#[derive(Clone)]
pub struct TokenServer {
    /// `http://127.0.0.1:PORT/token`.
    pub token_url: String,
    requests: Arc<AtomicUsize>,
}

impl TokenServer {
    /// How many token requests arrived.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Expected {
    client_id: String,
    client_secret: String,
    requests: Arc<AtomicUsize>,
}

fn decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn token(State(expected): State<Expected>, headers: HeaderMap, body: String) -> Response {
    expected.requests.fetch_add(1, Ordering::SeqCst);
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (decode(id), decode(secret)))
        });
    let credentials = basic.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    });
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if credentials != Some((expected.client_id.clone(), expected.client_secret.clone())) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    Json(json!({"access_token": FASTMCP_BEARER, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// Starts a token endpoint accepting `client_id` / `client_secret`.
pub async fn start(client_id: &str, client_secret: &str) -> TokenServer {
    let requests = Arc::new(AtomicUsize::new(0));
    let expected = Expected {
        client_id: client_id.into(),
        client_secret: client_secret.into(),
        requests: Arc::clone(&requests),
    };
    let app = Router::new()
        .route("/token", post(token))
        .with_state(expected);
    let base = crate::serve_on_loopback(app).await;
    TokenServer {
        token_url: format!("{base}/token"),
        requests,
    }
}
