//! Credentials go only where their owner sent them. Each test gives the service a stored secret
//! (a canary) and a hostile arrangement of servers on loopback, then proves from what a capture
//! server received that the canary never reached a destination it was not entered for.
#![allow(clippy::unwrap_used)]

use e2e::{Backend, TestStack, capture};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CANARY: &str = "canary-api-key-6f1d";

/// A legacy SSE server redirected to another origin: whatever status the redirect uses, the
/// stream there arrives without the key, its endpoint is refused, and the test fails.
#[tokio::test]
async fn a_legacy_sse_stream_redirected_to_another_origin_never_gets_the_key() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let elsewhere = capture::start().await;
        let configured = capture::redirector(format!("{}/sse", elsewhere.base), status).await;
        let (code, body) = client
            .call(
                Method::POST,
                "/config/mcp-server",
                Some(
                    json!({"name": "redirected", "url": format!("{configured}/sse"),
                    "timeout_seconds": 5,
                    "auth_config": {"name": "k", "auth_type": "NONE",
                                    "custom_headers": {"X-Api-Key": CANARY}}}),
                ),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}: {body}");
        assert!(
            body["connection_test_result"]["message"]
                .as_str()
                .unwrap()
                .contains("another origin"),
            "{body}"
        );
        assert!(
            !elsewhere.saw(CANARY),
            "{status}: {:?}",
            elsewhere.requests()
        );
        assert!(
            elsewhere.requests().iter().all(|r| r.method == "GET"),
            "nothing may be posted to the other origin: {:?}",
            elsewhere.requests()
        );
    }
    assert_eq!(client.count("/config/mcp-server").await, 0);
}
