//! Work per request is bounded whatever a server sends: a listing that grows without end is cut
//! at the first page past 1,000 tools or 8 MiB of tool metadata (`too_large`, nothing stored),
//! a reply stream of endless tiny events cannot hold a test past its deadline, and an answer
//! leaves out tools that would not fit a Lambda response.
#![allow(clippy::unwrap_used)]

use e2e::{Backend, TestStack, hostile};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_listings_stop_at_the_tool_budget() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    let base = hostile::start().await;
    for (case, max_pages) in [("many-tools", 1), ("fat-tools", 2)] {
        let (status, body) = client
            .post(
                "/config/mcp-server",
                json!({"name": case, "url": format!("{base}/{case}"), "timeout_seconds": 20}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
        assert_eq!(
            body["connection_test_result"]["category"], "too_large",
            "{body}"
        );
        assert_eq!(
            body["connection_test_result"]["stage"], "list_tools",
            "{body}"
        );
        let served = hostile::pages_served(case);
        assert!(
            served <= max_pages,
            "{case}: read {served} pages, the budget is passed by page {max_pages}"
        );
    }
    assert_eq!(client.count("/config/mcp-server").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_tiny_events_cannot_outlast_the_deadline() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let client = stack.client();
    let base = hostile::start().await;
    let (status, body) = client
        .post(
            "/config/mcp-server",
            json!({"name": "noise", "url": format!("{base}/tiny-events"), "timeout_seconds": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["connection_test_result"]["category"], "timeout",
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_leaves_out_tools_that_would_not_fit_a_lambda_response() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let base = hostile::start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/config/mcp-server", stack.api))
        .header("Cookie", format!("sessionid={}", stack.session))
        .json(&json!({"name": "fat", "url": format!("{base}/fat-finite"), "timeout_seconds": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    assert!(text.len() < 6_000_000, "{} bytes", text.len());
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    let result = &body["connection_test_result"];
    assert_eq!(result["tool_count"], 60);
    assert_eq!(result["tools_omitted"], true);
    assert_eq!(result["tools"], json!([]));
    assert_eq!(body["tool_names"].as_array().unwrap().len(), 60);
}
