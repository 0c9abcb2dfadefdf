//! Work per request is bounded whatever a server sends: a listing that grows without end is cut
//! at the first page past 1,000 tools or 8 MiB of tool metadata (`too_large`, nothing stored),
//! a reply stream of endless tiny events cannot hold a test past its deadline, an answer
//! leaves out tools that would not fit a Lambda response, and a tool list too large for its
//! server's record is kept beside it and serves tool calls without a re-test.
#![allow(clippy::unwrap_used)]

use e2e::{Backend, Expect, TestStack, hostile};
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
    let body = client
        .post(
            "/config/mcp-server",
            json!({"name": "noise", "url": format!("{base}/tiny-events"), "timeout_seconds": 2}),
        )
        .await
        .answered(StatusCode::UNPROCESSABLE_ENTITY);
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

async fn a_tool_list_too_large_for_its_record_serves_calls_without_a_retest(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let base = hostile::start().await;
    let server = stack
        .created(
            "/config/mcp-server",
            json!({"name": "wide", "url": format!("{base}/wide")}),
        )
        .await;
    let agent = stack.agent_using(&[&server]).await;
    let listed = hostile::pages_served("wide");
    assert_eq!(listed, 1, "the creating test");

    // 50 calls and the catalogue, all from what was stored: not one listing more.
    for i in 0..50 {
        let tool = format!("tool{}", i % 30);
        let body = stack
            .post(
                &format!("/agent/{agent}/tools/call"),
                json!({"tool": tool, "arguments": {}}),
            )
            .await
            .answered(StatusCode::OK);
        assert_eq!(
            body["result"]["content"][0]["text"],
            format!("called {tool}")
        );
    }
    let catalogue = stack
        .get(&format!("/agent/{agent}/tools"))
        .await
        .answered(StatusCode::OK);
    assert_eq!(catalogue["tools"].as_array().unwrap().len(), 30);
    assert!(
        catalogue["tools"][7]["description"]
            .as_str()
            .unwrap()
            .starts_with("7: ")
    );
    assert_eq!(hostile::pages_served("wide"), listed);

    // A re-test that finds the same list keeps its parts; deleting the server removes them.
    stack
        .post(&format!("/config/mcp-server/{server}/test"), json!({}))
        .await
        .answered(StatusCode::OK);
    let parts = |stack: &TestStack| {
        let store = std::sync::Arc::clone(&stack.state.store);
        async move {
            let pk = shared::model::tenant_pk("acme");
            let query = shared::store::Query::prefix(&pk, "TOOLS#").limit(1000);
            store.query(query).await.unwrap().items.len()
        }
    };
    assert_eq!(parts(&stack).await, 3, "300 KiB in parts of at most 150 kB");
    for path in [
        format!("/config/agent/{agent}"),
        format!("/config/mcp-server/{server}"),
    ] {
        let (status, _) = stack.call(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
    }
    assert_eq!(parts(&stack).await, 0);
}

e2e::on_both_stores!(a_tool_list_too_large_for_its_record_serves_calls_without_a_retest);
