//! The official MCP conformance suite's server scenarios (`@modelcontextprotocol/conformance`,
//! server mode) against an agent's MCP endpoint. The agent's one MCP server is
//! [`e2e::conformance_upstream`], which implements the tools the scenarios call. The suite sends
//! no credentials, so a small proxy on loopback adds the API token to every request and passes
//! everything else (method, headers, body, the streamed answer) through as the suite sent it.
//! A scenario passes only when every check the suite ran passed: no failure, no warning, and
//! not everything skipped.
//!
//! Left out, with their reasons:
//! - the sampling and elicitation scenarios, the stateless revision's `input-required-result-*`
//!   (the client answers its server's sampling, elicitation or roots requests; that such answers
//!   pass through is tested in `mcp_gateway`), `completion-complete`, resources, prompts, tasks,
//!   `caching` (its checks are of prompts and resources lists) and the SSE resumption scenarios:
//!   an agent offers tools only, and a tool call's events are not kept for resumption.
#![allow(clippy::unwrap_used)]

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};
use e2e::{Backend, TestStack, conformance_upstream};
use futures_util::TryStreamExt;

/// Where the proxy sends what it receives, with which token.
#[derive(Clone)]
struct Forward {
    endpoint: String,
    token: String,
    http: reqwest::Client,
}

/// Passes a request on to the agent's endpoint with the token added, and its answer back.
async fn forward(State(to): State<Forward>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap();
    let mut headers = parts.headers.clone();
    // The endpoint's own host, unless the suite named another (the DNS-rebinding scenario).
    if headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.starts_with("127.0.0.1") || h.starts_with("localhost"))
    {
        headers.remove(http::header::HOST);
    }
    headers.remove(http::header::CONTENT_LENGTH);
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", to.token).parse().unwrap(),
    );
    let answer = to
        .http
        .request(parts.method, &to.endpoint)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(
            answer.bytes_stream().map_err(std::io::Error::other),
        ))
        .unwrap()
}

/// Runs `scenario` (at `spec_version` when given) against an agent's endpoint; fails with the
/// suite's report unless it passed.
async fn run(scenario: &str, spec_version: Option<&str>) {
    run_on(Backend::Sqlite, scenario, spec_version).await;
}

/// [`run`] with the stack on `backend`.
async fn run_on(backend: Backend, scenario: &str, spec_version: Option<&str>) {
    let (node, cli) = shared::testing::conformance_suite();
    let stack = TestStack::start(backend).await;
    // The stateless scenario's capability and input checks pass through to a server of that
    // revision (a server of the earlier ones would ask over a session stream instead).
    let upstream = if scenario == "server-stateless" {
        conformance_upstream::start_modern().await
    } else {
        conformance_upstream::start().await
    };
    let server = stack.mcp_server("conformance", &upstream).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "conformance").await;
    let proxy = axum::Router::new().fallback(forward).with_state(Forward {
        endpoint: format!("{}/mcp/agents/{agent}", stack.api),
        token: token.clone(),
        http: reqwest::Client::new(),
    });
    let base = e2e::serve_on_loopback(proxy).await;
    let out = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(node);
    command
        .arg(cli)
        .args([
            "server",
            "--url",
            &format!("{base}/mcp"),
            "--scenario",
            scenario,
        ])
        .args(["--timeout", "60000", "-o"])
        .arg(out.path());
    if let Some(version) = spec_version {
        command.args(["--spec-version", version]);
    }
    let output = command.output().await.unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The suite ends with `Passed: <passed>/<checks>, <failed> failed, <warnings> warnings`.
    let tally = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Passed: "))
        .and_then(|rest| {
            let numbers: Vec<u32> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|n| !n.is_empty())
                .map(|n| n.parse().unwrap())
                .collect();
            <[u32; 4]>::try_from(numbers).ok()
        });
    assert!(
        output.status.success() && matches!(tally, Some([passed, _, 0, 0]) if passed > 0),
        "conformance server scenario {scenario} (wire {}, {backend:?}) failed ({}):\n{report}",
        spec_version.unwrap_or("default"),
        output.status,
    );
}

/// One test per scenario on the local stack, and one on the deployment rehearsal
/// (`rehearsal::<name>`), where the agent's endpoint is the MCP function's own binary behind the
/// API Gateway emulator (a public, streamed route whose function authenticates the token
/// itself), with up to four instances, so a session's requests may reach different ones.
macro_rules! scenarios {
    ($($test:ident => $scenario:literal $(at $version:literal)?),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                run($scenario, None $(.or(Some($version)))?).await;
            }
        )*
        mod rehearsal {
            use super::{Backend, run_on};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    run_on(Backend::Rehearsal, $scenario, None $(.or(Some($version)))?).await;
                }
            )*
        }
    };
}

scenarios! {
    server_initialize => "server-initialize",
    server_session_lifecycle => "server-session-lifecycle",
    server_stateless => "server-stateless",
    ping => "ping",
    logging_set_level => "logging-set-level",
    tools_list => "tools-list",
    tools_call_simple_text => "tools-call-simple-text",
    tools_call_image => "tools-call-image",
    tools_call_audio => "tools-call-audio",
    tools_call_embedded_resource => "tools-call-embedded-resource",
    tools_call_mixed_content => "tools-call-mixed-content",
    tools_call_with_logging => "tools-call-with-logging",
    tools_call_error => "tools-call-error",
    tools_call_with_progress => "tools-call-with-progress",
    json_schema_2020_12 => "json-schema-2020-12",
    dns_rebinding_protection => "dns-rebinding-protection",
    http_header_validation => "http-header-validation",
    http_custom_header_server_validation => "http-custom-header-server-validation",
    // The same scenarios on the stateless revision, where they have it.
    tools_list_stateless => "tools-list" at "2026-07-28",
    tools_call_simple_text_stateless => "tools-call-simple-text" at "2026-07-28",
    tools_call_image_stateless => "tools-call-image" at "2026-07-28",
    tools_call_audio_stateless => "tools-call-audio" at "2026-07-28",
    tools_call_embedded_resource_stateless => "tools-call-embedded-resource" at "2026-07-28",
    tools_call_mixed_content_stateless => "tools-call-mixed-content" at "2026-07-28",
    tools_call_error_stateless => "tools-call-error" at "2026-07-28",
    tools_call_with_progress_stateless => "tools-call-with-progress" at "2026-07-28",
    json_schema_2020_12_stateless => "json-schema-2020-12" at "2026-07-28",
    dns_rebinding_protection_stateless => "dns-rebinding-protection" at "2026-07-28",
}
