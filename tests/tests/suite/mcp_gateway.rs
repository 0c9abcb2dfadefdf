//! Every agent is an MCP server: MCP clients (the project's own, FastMCP's `Client` of the
//! Python SDK family, and the TypeScript SDK's) with an API token list the agent's tools and call them at
//! `/ai/api/v1/mcp/agents/{agent_id}`, the upstream reached with the credentials the server
//! config holds; another tenant's agent is not found and an unauthenticated request is
//! challenged; only tool calls are audited. Pending tools are neither listed nor callable, and a user without their own
//! connection of a `per_user` config is sent to connect it (a URL elicitation), after which the
//! same call succeeds.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    Backend, Expect, TestStack,
    oidc::{self, OidcOptions},
    servers::{self, FastMcpAuth},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::mcp::{self, McpTarget, TestStatus};

/// The MCP endpoint of `agent`, reached with `token`.
fn endpoint(stack: &TestStack, agent: &str, token: &str) -> McpTarget {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    McpTarget {
        url: format!("{}/mcp/agents/{agent}", stack.api).parse().unwrap(),
        headers,
        timeout: Duration::from_secs(20),
    }
}

/// Runs an MCP client program; what it printed (JSON), once it is known to have listed the
/// agent's two tools.
async fn client_run(command: &mut tokio::process::Command) -> Value {
    let output = command.output().await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut names = e2e::each(&seen["tools"], "name");
    names.sort_unstable();
    assert_eq!(names, ["add", "echo"], "{seen}");
    seen
}

/// The README's MCP client configuration, verbatim but for the deployment's address, the agent
/// and the token.
fn client_config(stack: &TestStack, agent: &str, token: &str) -> String {
    let readme = std::fs::read_to_string(servers::repo_root().join("README.md")).unwrap();
    let (_, after) = readme.split_once("<!-- mcp-client-config -->").unwrap();
    let (block, _) = after.split_once("<!-- /mcp-client-config -->").unwrap();
    let json = block
        .trim()
        .trim_start_matches("```json")
        .trim_end_matches("```");
    json.replace("https://studio.example.com/ai/api/v1", &stack.api)
        .replace("AGENT_ID", agent)
        .replace("API_TOKEN", token)
}

/// POSTs an `initialize` to the MCP endpoint at `url` with `headers` (no credential unless one
/// is among them).
async fn initialize(url: &str, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "probe", "version": "1"}}}));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

/// Sends one JSON-RPC request to the MCP endpoint at `url` as a client of the 2025-11-25
/// revision would (no session: the endpoint keeps none); the JSON-RPC answer.
async fn rpc(url: &str, token: &str, method: &str, params: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

async fn a_client_lists_and_calls_an_agents_tools(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let upstream = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let server = stack.api_key_server(&upstream.mcp_url()).await;
    let agent = stack.agent_using(&[&server]).await;
    let target = endpoint(&stack, &agent, &stack.api_token("acme", "bob").await);

    // The catalogue, with the upstream's schemas: an MCP client connects as to any server.
    let listed = mcp::test_connection(&stack.state.http, &target).await;
    assert_eq!(listed.status, TestStatus::Success, "{listed:?}");
    let mut names: Vec<&str> = listed.tools.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["add", "echo"], "{listed:?}");
    let add = listed.tools.iter().find(|t| t.name == "add").unwrap();
    let input: serde_json::Value = serde_json::from_str(add.input_schema.get()).unwrap();
    assert_eq!(input["required"], json!(["a", "b"]), "{input}");
    assert!(
        add.output_schema.is_some(),
        "the output schema passes through"
    );

    // A call reaches the upstream with the stored key (it refuses any request without it) and
    // comes back as the upstream sent it.
    let (called, closer) = mcp::call_tool(
        &stack.state.http,
        &target,
        "add",
        json!({"a": 2, "b": 40}),
        None,
        None,
    )
    .await;
    closer.close().await;
    let result = called.unwrap();
    assert_eq!(result["content"][0]["text"], "42", "{result}");
    assert_eq!(result["structuredContent"]["result"], 42, "{result}");
    assert_ne!(result["isError"], true, "{result}");

    // Arguments the schema refuses come back as a tool error the model can act on.
    let (called, closer) = mcp::call_tool(
        &stack.state.http,
        &target,
        "add",
        json!({"a": "two"}),
        None,
        None,
    )
    .await;
    closer.close().await;
    let refused = called.unwrap();
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Invalid arguments"),
        "{refused}"
    );

    // The Python SDK family's client, configured with the README's snippet, sees the same tools
    // and results.
    let python = servers::require(servers::repo_root().join(".deps/venv/bin/python"));
    let script = servers::repo_root().join("tests/clients/fastmcp_client.py");
    let token = stack.api_token("acme", "bob").await;
    let seen = client_run(tokio::process::Command::new(python).arg(script).args([
        &client_config(&stack, &agent, &token),
        "add",
        r#"{"a": 20, "b": 22}"#,
    ]))
    .await;
    assert_eq!(seen["result"]["structuredContent"]["result"], 42, "{seen}");
    assert_eq!(seen["result"]["isError"], false, "{seen}");

    // So does the TypeScript SDK's client.
    let sdk = servers::require(
        servers::repo_root().join(".deps/node/node_modules/@modelcontextprotocol/sdk"),
    );
    let seen = client_run(
        tokio::process::Command::new("node")
            .arg(servers::repo_root().join("tests/clients/typescript_client.mjs"))
            .args([target.url.as_str(), &token, "add", r#"{"a": 40, "b": 2}"#])
            .env("MCP_SDK_DIR", sdk),
    )
    .await;
    let tools = seen["tools"].as_array().unwrap();
    let add = tools.iter().find(|t| t["name"] == "add").unwrap();
    assert!(add["outputSchema"].is_object(), "{seen}");
    assert_eq!(seen["result"]["structuredContent"]["result"], 42, "{seen}");

    // The audit log holds the four tool calls, not the rest of MCP (initialize, lists).
    let log = stack.get("/audit?limit=200").await.answered(StatusCode::OK);
    let calls = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "POST /ai/api/v1/mcp/agents/{agent_id}")
        .inspect(|e| assert_eq!(e["target"], agent.as_str(), "{e}"))
        .count();
    assert_eq!(calls, 4, "{log}");

    // Another tenant's token finds no such agent; no token is challenged.
    let url = target.url.as_str();
    let outsider = format!("Bearer {}", stack.api_token("globex", "carol").await);
    let answer = initialize(url, &[("Authorization", outsider)]).await;
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let answer = initialize(url, &[]).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.headers().contains_key("www-authenticate"));
    // A page of another site cannot use a signed-in user's cookie.
    let cookie = format!("sessionid={}", stack.session);
    let from_a_page = [
        ("Cookie", cookie),
        ("Origin", "https://evil.example".into()),
    ];
    let answer = initialize(url, &from_a_page).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
}

e2e::on_both_stores!(a_client_lists_and_calls_an_agents_tools);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_tools_are_neither_listed_nor_callable() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let upstream = servers::fastmcp(FastMcpAuth::None, "http").await;
    let server = stack.mcp_server("tools", &upstream.mcp_url()).await;
    let agent = stack.agent_using(&[&server]).await;
    let url = endpoint(&stack, &agent, "").url.to_string();
    let token = stack.api_token("acme", "bob").await;

    // The upstream changes echo and adds read_file; a re-test records them as pending.
    let mutated = reqwest::Client::new()
        .post(format!("{}/_mutate", upstream.base))
        .send()
        .await
        .unwrap();
    assert!(mutated.status().is_success());
    stack
        .post(&format!("/config/mcp-server/{server}/test"), json!({}))
        .await
        .answered(StatusCode::OK);

    let listed = rpc(&url, &token, "tools/list", json!({})).await;
    assert_eq!(
        e2e::each(&listed["result"]["tools"], "name"),
        ["add"],
        "{listed}"
    );
    let seen = upstream.requests_seen().await;
    for tool in ["echo", "read_file"] {
        let called = rpc(
            &url,
            &token,
            "tools/call",
            json!({"name": tool, "arguments": {"message": "hi", "path": "/etc/passwd"}}),
        )
        .await;
        assert_eq!(called["error"]["code"], -32602, "{called}");
    }
    assert_eq!(upstream.requests_seen().await, seen, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_without_a_connection_is_sent_to_connect_then_the_call_succeeds() {
    const REDIRECT_URI: &str = "http://127.0.0.1/callback";
    let stack = TestStack::start(Backend::Sqlite).await;
    let provider = oidc::start(OidcOptions::default().with_registration()).await;
    let upstream = servers::fastmcp_oauth(&provider.issuer).await;
    let alice = stack.client();
    let config = alice
        .created(
            "/auth_configs",
            json!({"name": "per user", "auth_type": "AUTHORIZATION_CODE",
                   "discover_from": upstream.mcp_url(), "allowed_redirect_uris": [REDIRECT_URI],
                   "connection_mode": "per_user"}),
        )
        .await;
    alice.connect(&config, REDIRECT_URI).await;
    let server = alice
        .created(
            "/config/mcp-server",
            json!({"name": "oauth", "url": upstream.mcp_url(), "auth_config_id": config}),
        )
        .await;
    let agent = alice.agent_using(&[&server]).await;
    let url = endpoint(&stack, &agent, "").url.to_string();
    let bob = stack.with_session(&stack.member_session_for("acme", "bob").await);
    let bob_token = stack.api_token("acme", "bob").await;
    let call = json!({"name": "add", "arguments": {"a": 40, "b": 2}});

    // Bob has no connection: he is sent to the console's connect page, and nothing is sent
    // upstream with anybody's token.
    let seen = upstream.requests_seen().await;
    let refused = rpc(&url, &bob_token, "tools/call", call.clone()).await;
    assert_eq!(refused["error"]["code"], -32042, "{refused}");
    let elicitation = &refused["error"]["data"]["elicitations"][0];
    assert_eq!(elicitation["mode"], "url", "{refused}");
    let origin = stack.api.trim_end_matches("/ai/api/v1");
    assert_eq!(
        elicitation["url"],
        format!("{origin}/console/connect/{config}"),
        "{refused}"
    );
    assert_eq!(upstream.requests_seen().await, seen, "nothing was sent");

    // Once connected, the same call goes through with his own token.
    bob.connect(&config, REDIRECT_URI).await;
    let called = rpc(&url, &bob_token, "tools/call", call).await;
    assert_eq!(called["result"]["content"][0]["text"], "42", "{called}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_mcp_walkthrough_runs_verbatim() {
    use shared::testing::{readme_walkthrough, run_script};
    let stack = TestStack::start(Backend::Sqlite).await;
    let upstream = servers::fastmcp(FastMcpAuth::None, "http").await;
    let server = stack.mcp_server("tools", &upstream.mcp_url()).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "ci-bot").await;
    let env = [
        ("API", stack.api.as_str()),
        ("AGENT_ID", agent.as_str()),
        ("TOKEN", token.as_str()),
    ];
    let out = run_script(&readme_walkthrough("mcp-endpoint"), &env).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(["add", "echo"].contains(&lines[0]), "{out}");
    assert_eq!(lines[1], "hello", "{out}");
}

/// A hostile server that floods a call with notifications cannot make the endpoint hold or send
/// them all: the client gets at most the relay's allowance (by count and by bytes), then the
/// result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_notifications_is_cut_to_the_relays_allowance() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let hostile = e2e::hostile::start().await;
    let server = stack
        .mcp_server("chatty", &format!("{hostile}/chatty-tool"))
        .await;
    let agent = stack.agent_using(&[&server]).await;
    let url = endpoint(&stack, &agent, "").url.to_string();
    let answer = reqwest::Client::new()
        .post(&url)
        .bearer_auth(stack.api_token("acme", "bob").await)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "work", "arguments": {}, "_meta": {"progressToken": "mine"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let stream = answer.text().await.unwrap();
    let messages: Vec<Value> = stream
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect();
    let notices = messages
        .iter()
        .filter(|m| m.get("method").is_some())
        .count();
    assert!(notices > 0, "some notifications are passed on");
    assert!(
        notices <= mcp::MAX_RELAYED_NOTICES,
        "{notices} notifications"
    );
    assert!(
        stream.len() <= mcp::MAX_RELAYED_BYTES + 64 * 1024,
        "{} bytes",
        stream.len()
    );
    const { assert!(e2e::hostile::CHATTY_NOTICES * 2 > mcp::MAX_RELAYED_NOTICES) };
    assert!(
        messages
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .all(|m| m["params"]["progressToken"] == "mine"),
        "progress comes under the client's own token"
    );
    let result = messages.last().unwrap();
    assert_eq!(result["id"], 9, "{result}");
    assert_eq!(result["result"]["content"][0]["text"], "done", "{result}");
}

/// The function as AWS runs it, behind API Gateway's STREAM response transfer mode: its Lambda
/// composition (the endpoint's own authentication, the role and audit layers) under
/// `lambda_http`'s response-streaming adapter, reached by a REST API proxy event without an
/// authorizer context and with an API token. The upstream's first progress notification
/// reaches the client while the tool still runs (the upstream waits at a gate the test opens
/// only once that notification is in hand), then the result follows on the same stream.
#[tokio::test]
async fn through_lambda_response_streaming_progress_arrives_while_the_tool_runs() {
    use futures_util::StreamExt;
    use lambda_http::{Context, LambdaEvent, Service, request::LambdaRequest};

    let stack = TestStack::start(Backend::Sqlite).await;
    let (upstream, gated) = e2e::conformance_upstream::start_gated(false).await;
    let server = stack.mcp_server("gated", &upstream).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "bob").await;

    let path = format!("/ai/api/v1/mcp/agents/{agent}");
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "gated_progress", "arguments": {}, "_meta": {"progressToken": "p1"}}});
    let mut event: Value = serde_json::from_str(&shared::testing::rest_event(
        "POST",
        "/ai/api/v1/mcp/agents/{agent_id}",
        &path,
        &[],
        Some(call),
    ))
    .unwrap();
    // Served without the authorizer: no authorizer context, the token in the request.
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    for (name, value) in [
        ("Accept", "application/json, text/event-stream".to_owned()),
        ("MCP-Protocol-Version", "2025-11-25".to_owned()),
        ("Authorization", format!("Bearer {token}")),
    ] {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
    let event: LambdaRequest = serde_json::from_value(event).unwrap();

    let app = shared::api::lambda::app(
        mcp_gateway::router,
        mcp_gateway::authenticating,
        stack.state.clone(),
    );
    let mut function = lambda_http::StreamAdapter::from(shared::api::lambda::service(app));
    let answer = function
        .call(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert_eq!(answer.metadata_prelude.status_code, 200);
    assert_eq!(
        answer.metadata_prelude.headers["content-type"],
        "text/event-stream"
    );
    let mut stream = answer.stream;
    let mut seen = String::new();
    while !seen.contains("notifications/progress") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("the progress notification arrives while the tool waits")
            .expect("the stream goes on")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("The gate opened"), "{seen}");
    assert!(seen.contains(r#""progressToken":"p1""#), "{seen}");
    gated.gate.notify_one();
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(seen.contains("The gate opened"), "{seen}");
}

/// A client that goes away mid-call cancels the call at the upstream: by closing the request's
/// stream to a session-less server, and with `notifications/cancelled` in a session of the 2025
/// revisions (where a closed stream cancels nothing).
async fn a_client_that_goes_away_cancels_the_call_upstream(sessions: bool) {
    use futures_util::StreamExt;

    let stack = TestStack::start(Backend::Sqlite).await;
    let (upstream, gated) = e2e::conformance_upstream::start_gated(sessions).await;
    let server = stack.mcp_server("gated", &upstream).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "bob").await;
    let answer = reqwest::Client::new()
        .post(format!("{}/mcp/agents/{agent}", stack.api))
        .bearer_auth(&token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "gated_progress", "arguments": {},
                       "_meta": {"progressToken": "p"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // The tool is running (its progress is here); the client goes away.
    let mut stream = answer.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("notifications/progress"),
        "{first:?}"
    );
    drop(stream);
    tokio::time::timeout(Duration::from_secs(20), gated.cancelled.notified())
        .await
        .expect("the upstream's call is cancelled");
    // In a session, by the notice (which may be counted just after the call ends).
    let notices = || {
        gated
            .cancel_notices
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    if sessions {
        tokio::time::timeout(Duration::from_secs(20), async {
            while notices() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("notifications/cancelled reaches the server");
    }
    assert_eq!(notices(), usize::from(sessions));
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_call_at_a_sessionless_server() {
    a_client_that_goes_away_cancels_the_call_upstream(false).await;
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_call_in_the_servers_session() {
    a_client_that_goes_away_cancels_the_call_upstream(true).await;
}

/// An agent over a FastMCP server (`add`, `echo`) and a session of a 2025 client with it.
struct Sessioned {
    stack: TestStack,
    _upstream: servers::ServerProcess,
    server: String,
    agent: String,
    token: String,
    url: String,
    session: String,
    /// The answer to `initialize`.
    initialized: Value,
}

/// Narrows `agent`'s tools of `server` to `add` (its allowlist).
async fn narrow_to_add(stack: &TestStack, agent: &str, server: &str) {
    stack
        .patch(
            &format!("/config/agent/{agent}"),
            json!({"tool_allowlist": {server: ["add"]}}),
        )
        .await
        .answered(StatusCode::OK);
}

async fn sessioned() -> Sessioned {
    let stack = TestStack::start(Backend::Sqlite).await;
    let upstream = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let server = stack.api_key_server(&upstream.mcp_url()).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "bob").await;
    let url = format!("{}/mcp/agents/{agent}", stack.api);
    let answer = initialize(&url, &[("Authorization", format!("Bearer {token}"))]).await;
    let session = answer.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = answer.json().await.unwrap();
    Sessioned {
        stack,
        _upstream: upstream,
        server,
        agent,
        token,
        url,
        session,
        initialized,
    }
}

/// A session client hears when the agent's tools change: its standalone stream (`GET` with the
/// session) carries `notifications/tools/list_changed` once the allowlist narrows the catalogue,
/// and `tools/list` then answers the new set. Without a session there is no stream.
#[tokio::test]
async fn a_session_client_hears_when_the_agents_tools_change() {
    use futures_util::StreamExt;

    let Sessioned {
        stack,
        _upstream,
        server,
        agent,
        token,
        url,
        session,
        initialized,
    } = sessioned().await;
    assert_eq!(
        initialized["result"]["capabilities"]["tools"]["listChanged"],
        true
    );
    let client = reqwest::Client::new();
    let no_session = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(no_session.status(), StatusCode::METHOD_NOT_ALLOWED);
    let watching = client
        .get(&url)
        .bearer_auth(&token)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(watching.status(), StatusCode::OK);
    assert!(
        watching.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = watching.bytes_stream();
    // The stream's first look is in: it knows the catalogue as it was.
    let mut seen = String::new();
    while !seen.contains(": watching") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("the stream's first look")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("list_changed"), "{seen}");

    narrow_to_add(&stack, &agent, &server).await;
    while !seen.contains("notifications/tools/list_changed") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("the change is announced")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let listed = rpc(&url, &token, "tools/list", json!({})).await;
    assert_eq!(e2e::each(&listed["result"]["tools"], "name"), ["add"]);
}

/// A `tools/call` of the stateless revision to `url`: the HTTP status and the JSON-RPC answer.
async fn stateless_call(
    url: &str,
    token: &str,
    tool: &str,
    capabilities: Value,
    more: Value,
) -> (StatusCode, Value) {
    let mut params = json!({"name": tool, "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": capabilities}});
    if let (Some(params), Value::Object(more)) = (params.as_object_mut(), more) {
        params.extend(more);
    }
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", tool)
        .json(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap())
}

/// Multi round-trip requests pass through the endpoint: a client of the stateless revision that
/// declares elicitation gets the server's `input_required` (its input requests and opaque
/// state), calls again with its answers and the state, and gets the result; a client that does
/// not declare it gets `-32021` naming the capability (HTTP 400). Behind a server of an earlier
/// revision, which cannot be asked that way, a client that declared it is told so in a tool
/// error.
#[tokio::test]
async fn a_server_asks_the_client_for_input_through_the_endpoint() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let modern = e2e::conformance_upstream::start_modern().await;
    let server = stack.mcp_server("modern", &modern).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "bob").await;
    let url = format!("{}/mcp/agents/{agent}", stack.api);
    let tool = "test_streaming_elicitation";

    let (status, refused) = stateless_call(&url, &token, tool, json!({}), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert_eq!(
        refused["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {}}),
        "{refused}"
    );

    let elicits = json!({"elicitation": {}});
    let (status, asked) = stateless_call(&url, &token, tool, elicits.clone(), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let asked = &asked["result"];
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    assert_eq!(
        asked["inputRequests"]["name"]["method"],
        "elicitation/create"
    );
    let state = asked["requestState"].as_str().unwrap();
    let again = json!({"inputResponses": {"name": {"action": "accept", "content": {"name": "Ada"}}},
                       "requestState": state});
    let (status, done) = stateless_call(&url, &token, tool, elicits.clone(), again).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let text = done["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Hello, ") && text.contains("Ada"),
        "{done}"
    );

    // A server of the 2025 revisions asks over its session's stream, which is not relayed.
    let older = e2e::conformance_upstream::start().await;
    let server = stack.mcp_server("older", &older).await;
    let agent = stack.agent_using(&[&server]).await;
    let url = format!("{}/mcp/agents/{agent}", stack.api);
    let (status, told) = stateless_call(&url, &token, tool, elicits, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{told}");
    assert_eq!(told["result"]["isError"], true, "{told}");
    let text = told["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("stateless revision"), "{told}");
}

/// Without a stream, a session's next tool call after a change of the agent's tools announces
/// it (`notifications/tools/list_changed` before the result), once: the session remembers what
/// its client last listed.
#[tokio::test]
async fn a_sessions_next_call_announces_a_change_of_tools_once() {
    let Sessioned {
        stack,
        _upstream,
        server,
        agent,
        token,
        url,
        session,
        ..
    } = sessioned().await;
    let in_session = |method: &str, params: Value| {
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-11-25")
            .header("Mcp-Session-Id", &session)
            .json(&json!({"jsonrpc": "2.0", "id": 4, "method": method, "params": params}))
            .send()
    };
    let add = json!({"name": "add", "arguments": {"a": 1, "b": 2}});
    let listed = in_session("tools/list", json!({}))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("echo"), "{listed}");
    let quiet = in_session("tools/call", add.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!quiet.contains("list_changed"), "{quiet}");

    narrow_to_add(&stack, &agent, &server).await;
    let told = in_session("tools/call", add.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (notice, result) = told
        .split_once("notifications/tools/list_changed")
        .unwrap_or_else(|| panic!("no announcement: {told}"));
    assert!(!notice.contains("\"result\""), "{told}");
    assert!(result.contains("\"result\""), "{told}");
    let once = in_session("tools/call", add)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!once.contains("list_changed"), "{once}");
}
