//! Traces end to end, on the deployment rehearsal (each function its own binary, exporting over
//! OTLP after each invocation as in Lambda) with a local OTLP receiver: one trace from a caller's
//! `traceparent` through the authorizer, the function, DynamoDB and KMS, the token endpoint
//! (oidc-provider) and the MCP server (FastMCP), which sees the same trace in its HTTP headers and
//! in `params._meta`; spans after the MCP semantic conventions (error types included); the MCP
//! operation duration metric; and no secret, token, session or tool argument anywhere in what is
//! exported.
#![allow(clippy::unwrap_used)]

use e2e::{
    TestStack,
    oidc::{self, CC_BASIC_SECRET, OidcOptions},
    otlp::{Receiver, Span},
    servers,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The trace a caller started, and its span that called the API.
const CALLER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";
/// A second caller trace, for the tool call.
const CALL_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALL_SPAN: &str = "00f067aa0ba902b7";
/// A tool argument (which the tool echoes back in its result).
const ARGUMENT: &str = "CANARY-tool-argument-5e5e";

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn invocation_of<'a>(spans: &'a [Span], function: &str) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| s.service == function && s.attribute("faas.invocation_id").is_some())
}

/// Every span's parent is in the trace, except the invocations', whose parent is the caller's.
fn assert_one_tree(spans: &[Span], caller_span: &str) {
    for span in spans {
        let parent_known = spans.iter().any(|p| p.span_id == span.parent_span_id);
        if span.attribute("faas.invocation_id").is_some() {
            assert_eq!(span.parent_span_id, caller_span, "{span:#?}");
        } else {
            assert!(parent_known, "a span outside the tree: {span:#?}");
        }
    }
}

/// The trace id and parent span id of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_runs_from_the_caller_through_the_store_kms_and_the_token_endpoint_to_the_mcp_server()
 {
    let receiver = Receiver::start().await;
    let provider = oidc::start(OidcOptions::default()).await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let stack = TestStack::start_rehearsal_with(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            receiver.endpoint.clone(),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/json".into()),
    ])
    .await;
    let api = stack.client();
    let mcp_port = url::Url::parse(&mcp.base).unwrap().port().unwrap();
    let token_port = url::Url::parse(&provider.token_endpoint())
        .unwrap()
        .port()
        .unwrap();

    // Creating a server config: the auth config stored (KMS, DynamoDB), a token requested at
    // the token endpoint, and the connection tested (initialize, tools/list).
    let body = json!({"name": "traced", "url": mcp.mcp_url(), "auth_config": {
        "name": "cc", "auth_type": "CLIENT_CREDENTIALS", "token_url": provider.token_endpoint(),
        "client_id": "cc-basic", "client_secret": CC_BASIC_SECRET,
        "token_endpoint_auth_method": "client_secret_basic", "scopes": ["mcp:tools"],
        "resource": mcp.mcp_url()}});
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let (status, created) = api
        .call_with_headers(
            Method::POST,
            "/config/mcp-server",
            Some(body),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let server_id = created["id"].as_str().unwrap().to_owned();

    let spans = receiver
        .trace(CALLER_TRACE, |spans| {
            !named(spans, "tools/list").is_empty()
                && invocation_of(spans, "AuthorizerFunction").is_some()
                && invocation_of(spans, "McpServersFunction").is_some()
                && spans.iter().any(|s| s.name.starts_with("DynamoDB."))
                && spans.iter().any(|s| s.name.starts_with("KMS."))
        })
        .await;
    assert_one_tree(&spans, CALLER_SPAN);

    // The API's server span, named after its route.
    let server = named(&spans, "POST /ai/api/v1/config/mcp-server");
    assert_eq!(server.len(), 1, "{spans:#?}");
    assert_eq!(server[0].kind, 1, "inside the invocation's server span");
    let invocation = invocation_of(&spans, "McpServersFunction").unwrap();
    assert_eq!(invocation.kind, 2, "the invocation is the server span");
    assert_eq!(
        invocation.attribute("faas.trigger").as_deref(),
        Some("http")
    );
    assert_eq!(server[0].parent_span_id, invocation.span_id);
    assert_eq!(
        server[0].attribute("http.response.status_code").as_deref(),
        Some("201")
    );
    assert_eq!(
        server[0].attribute("http.route").as_deref(),
        Some("/ai/api/v1/config/mcp-server")
    );

    // The AWS calls, as the SDK names them.
    for span in spans
        .iter()
        .filter(|s| s.name.starts_with("DynamoDB.") || s.name.starts_with("KMS."))
    {
        assert_eq!(span.attribute("rpc.system").as_deref(), Some("aws-api"));
        let functions = ["AuthorizerFunction", "McpServersFunction"];
        assert!(functions.contains(&span.service.as_str()), "{span:#?}");
    }
    let authorizer_reads = spans
        .iter()
        .filter(|s| s.service == "AuthorizerFunction" && s.name == "DynamoDB.GetItem");
    assert_eq!(authorizer_reads.count(), 1, "the session, read by key");

    // The token request and the MCP requests, as client spans of the guarded client.
    let http_to = |port: u16| -> Vec<&Span> {
        spans
            .iter()
            .filter(|s| s.name == "POST" && s.attribute("server.port") == Some(port.to_string()))
            .collect()
    };
    let token_requests = http_to(token_port);
    assert_eq!(token_requests.len(), 1, "{spans:#?}");
    assert_eq!(token_requests[0].kind, 3, "a client span");
    assert_eq!(
        token_requests[0]
            .attribute("http.response.status_code")
            .as_deref(),
        Some("200")
    );
    let mcp_requests = http_to(mcp_port);
    assert!(mcp_requests.len() >= 3, "{spans:#?}");

    // The MCP spans, after the semantic conventions.
    for method in ["initialize", "notifications/initialized", "tools/list"] {
        let operation = named(&spans, method);
        assert_eq!(operation.len(), 1, "{method}: {spans:#?}");
        let operation = operation[0];
        assert_eq!(operation.kind, 3, "a client span");
        assert_eq!(
            operation.attribute("mcp.method.name").as_deref(),
            Some(method)
        );
        assert_eq!(
            operation.attribute("server.port"),
            Some(mcp_port.to_string())
        );
        assert!(
            operation.attribute("mcp.protocol.version").is_some(),
            "{operation:#?}"
        );
    }
    let list = named(&spans, "tools/list")[0];
    assert!(list.attribute("jsonrpc.request.id").is_some(), "{list:#?}");
    let session = list.attribute("mcp.session.id").unwrap();
    assert_eq!(session.len(), 16, "a digest of the session id: {session}");

    // The MCP server saw the same trace: in each request's headers (naming the client span that
    // sent it), and in each request's `params._meta` (naming the MCP span).
    let seen = mcp.requests_seen().await;
    let posts: Vec<&Value> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/mcp")
        .collect();
    assert!(posts.len() >= 3, "{seen}");
    for post in &posts {
        let (trace, parent) = ids(post["traceparent"].as_str().expect("traceparent sent"));
        assert_eq!(trace, CALLER_TRACE, "{post}");
        assert!(
            mcp_requests.iter().any(|s| s.span_id == parent),
            "the header names the HTTP client span: {post}"
        );
    }
    for method in ["initialize", "tools/list"] {
        let post = posts.iter().find(|p| p["rpc_method"] == method).unwrap();
        let (trace, parent) = ids(post["meta"]["traceparent"].as_str().unwrap());
        assert_eq!(trace, CALLER_TRACE, "{post}");
        assert_eq!(parent, named(&spans, method)[0].span_id, "{post}");
    }

    // A tool call, in a trace of its own: `tools/call echo`, and its duration as a metric.
    let agent = api.agent_using(&[&server_id]).await;
    let traceparent = format!("00-{CALL_TRACE}-{CALL_SPAN}-01");
    let (status, answer) = api
        .call_with_headers(
            Method::POST,
            &format!("/agent/{agent}/tools/call"),
            Some(json!({"tool": "echo", "arguments": {"message": ARGUMENT}})),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.to_string().contains(ARGUMENT), "echoed: {answer}");
    let spans = receiver
        .trace(CALL_TRACE, |spans| {
            !named(spans, "tools/call echo").is_empty()
        })
        .await;
    assert_one_tree(&spans, CALL_SPAN);
    let call = named(&spans, "tools/call echo")[0];
    assert_eq!(call.attribute("gen_ai.tool.name").as_deref(), Some("echo"));
    assert_eq!(
        call.attribute("gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert_eq!(
        call.attribute("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let points = receiver.metric_points("mcp.client.operation.duration");
        let echo = points.iter().any(|p| {
            p.get("mcp.method.name") == Some(&json!("tools/call"))
                && p.get("gen_ai.tool.name") == Some(&json!("echo"))
        });
        if echo {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mcp.client.operation.duration point for tools/call echo: {points:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A server that cannot be reached: the MCP span and its HTTP span say why, as error types.
    const DEAD_TRACE: &str = "5a1d3cbb7f4e4c1f9d2b8e6a0c3f7b21";
    let traceparent = format!("00-{DEAD_TRACE}-{CALL_SPAN}-01");
    let (status, refused) = api
        .call_with_headers(
            Method::POST,
            "/config/mcp-server",
            Some(json!({"name": "dead", "url": "http://127.0.0.1:9/mcp"})),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let spans = receiver
        .trace(DEAD_TRACE, |spans| !named(spans, "initialize").is_empty())
        .await;
    let initialize = named(&spans, "initialize")[0];
    assert_eq!(
        initialize.attribute("error.type").as_deref(),
        Some("connect")
    );
    assert_eq!(initialize.status, 2, "an error status: {initialize:#?}");
    let request = spans
        .iter()
        .find(|s| s.parent_span_id == initialize.span_id)
        .expect("the HTTP span of the initialize request");
    assert_eq!(request.attribute("error.type").as_deref(), Some("connect"));

    // Nothing secret in anything exported: the client secret, the access token the MCP server
    // received, its session id, the caller's session, the LLM key, the tool's argument.
    let seen = mcp.requests_seen().await;
    let token = seen
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["authorization"].as_str())
        .expect("the MCP server received a token")
        .trim_start_matches("Bearer ")
        .to_owned();
    let mcp_session = seen
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["mcp-session-id"].as_str())
        .expect("the MCP server's session")
        .to_owned();
    let exported = receiver.everything();
    for canary in [
        CC_BASIC_SECRET,
        &token,
        &mcp_session,
        &stack.session,
        "sk-e2e-secret",
        ARGUMENT,
    ] {
        assert!(
            !exported.contains(canary),
            "{canary:?} was exported with the telemetry"
        );
    }
}

/// With no OTLP endpoint, nothing about traces leaves the product: no `traceparent` header and
/// no `_meta.traceparent` reaches the MCP server.
#[tokio::test]
async fn without_an_endpoint_no_trace_context_is_sent() {
    let stack = TestStack::start(e2e::Backend::Sqlite).await;
    let mcp = servers::fastmcp(servers::FastMcpAuth::None, "http").await;
    let api = stack.client();
    let (status, created) = api
        .call_with_headers(
            Method::POST,
            "/config/mcp-server",
            Some(json!({"name": "plain", "url": mcp.mcp_url()})),
            &[(
                "traceparent",
                &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"),
            )],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let seen = mcp.requests_seen().await;
    let posts: Vec<&Value> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST")
        .collect();
    assert!(posts.len() >= 3, "{seen}");
    for post in posts {
        assert!(post.get("traceparent").is_none(), "{post}");
        assert!(post["meta"].get("traceparent").is_none(), "{post}");
    }
}
