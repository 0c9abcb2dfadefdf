//! The deployment rehearsal's own checks: what API Gateway, the authorizer and the event sources
//! do around the functions, on the functions' own binaries behind the emulator built from
//! `template.yaml` (see `e2e::rehearsal`), and the background passes as deployed (the planner
//! on Scheduler's event, the worker on SQS batches of the template's queue). The product's suites
//! run on it too (`documented_requests`, `roles`, `readme_on_the_rehearsal`, `traces`, …).
#![allow(clippy::unwrap_used)]

use e2e::{Backend, TestStack};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn text(response: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Every route of the template reaches its function through the gateway; what the gateway
/// answers itself has the template's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_answers_as_the_template_says() {
    let stack = TestStack::start(Backend::Rehearsal).await;
    let rehearsal = stack.rehearsal.clone().unwrap();
    let http = reqwest::Client::new();
    let base = &rehearsal.url;
    let cookie = format!("sessionid={}", stack.session);

    // Through the authorizer to the function.
    let (status, headers, body) = text(
        http.get(format!("{base}/ai/api/v1/me"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers.contains_key("x-amzn-requestid"),
        "served by the gateway"
    );
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        me["tenant_id"], "acme",
        "the authorizer's context reached the function: {me}"
    );

    // No credential: the authorizer says Unauthorized, the gateway answers the template's 401.
    let (status, headers, body) = text(
        http.get(format!("{base}/ai/api/v1/auth_configs"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["type"],
        "urn:agent-studio:problem:unauthenticated"
    );
    // A wrong session: the same.
    let (status, _, _) = text(
        http.get(format!("{base}/ai/api/v1/auth_configs"))
            .header("Cookie", "sessionid=not-a-session")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // No such route, or no stage: the template's 404.
    for url in [
        format!("{base}/ai/api/v1/no-such-thing"),
        format!(
            "{}/ai/api/v1/me",
            base.trim_end_matches(&format!("/{}", rehearsal.deployment.stage))
        ),
    ] {
        let (status, headers, body) = text(
            http.get(&url)
                .header("Cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}: {body}");
        assert_eq!(headers["content-type"], "application/problem+json");
    }
    // A method the resource does not have.
    let (status, _, _) = text(
        http.put(format!("{base}/ai/api/v1/me"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A public route: no authorizer.
    let (status, _, body) = text(
        http.get(format!("{base}/ai/api/v1/oauth/client-metadata.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        status == StatusCode::OK || status == StatusCode::NOT_FOUND,
        "the metadata route reaches the oauth function without a credential: {status} {body}"
    );
    assert_ne!(status, StatusCode::UNAUTHORIZED);

    // The console's shell page and one of its scripts, as text (no binary media type is
    // declared, so a base64 body would reach the browser as base64).
    let (status, headers, page) = text(
        http.get(format!("{base}/console/servers"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"));
    // The page's own script and icon, by the relative addresses the page gives (they must hold
    // under the stage prefix), as text.
    let page_url = url::Url::parse(&format!("{base}/console/servers")).unwrap();
    for (attribute, expected_type, starts) in [
        ("src=\"", "text/javascript", ""),
        ("href=\"", "image/svg+xml", "<svg"),
    ] {
        let href = page
            .split(attribute)
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .find(|h| h.ends_with(if starts.is_empty() { ".js" } else { ".svg" }))
            .unwrap_or_else(|| panic!("the shell page links a {expected_type}"));
        let url = page_url.join(href).unwrap();
        let (status, headers, body) = text(
            http.get(url.clone())
                .header("Cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(expected_type),
            "{url}: {headers:?}"
        );
        assert!(
            body.trim_start().starts_with(starts),
            "{url} arrives as text: {}",
            &body[..body.len().min(80)]
        );
        assert!(
            body.contains(' ') || body.contains('\n'),
            "{url} is not base64 text"
        );
    }

    // Over API Gateway's 10 MB payload limit: 413, and the function never sees it.
    let big = "x".repeat(10 * 1024 * 1024 + 1);
    let (status, _, _) = text(
        http.post(format!("{base}/ai/api/v1/auth_configs"))
            .header("Cookie", &cookie)
            .header("Content-Type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // A write through the gateway is the functions' (the same table the test reads).
    let (status, created) = stack
        .client()
        .post(
            "/auth_configs",
            json!({"name": "through the gateway", "auth_type": "NONE",
                   "custom_headers": {"X-Api-Key": "rehearsal-canary-secret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(!created.to_string().contains("rehearsal-canary-secret"));

    // The scheduled planner and the queue's worker, with Scheduler's and SQS's events.
    let planned = rehearsal.run_schedule("PlannerFunction").await;
    assert!(!planned.to_string().contains("errorType"), "{planned}");
    rehearsal.drain_queues().await;

    // A line logged during an invocation names it (the runtime's span: its request id).
    let logs = rehearsal.logs();
    let finished = logs
        .lines()
        .find(|line| line.contains("planner run finished"))
        .expect("the planner logs its run");
    assert!(finished.contains("\"requestId\""), "{finished}");

    // Nothing secret in any function's log.
    assert!(!logs.contains("rehearsal-canary-secret"));
    assert!(!logs.contains(&stack.session));
}

/// A function whose template entry lacks a setting it needs fails its first invocation at once,
/// with its own error (not at its timeout): the rehearsal catches a setting the template forgot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_missing_a_setting_fails_at_once() {
    use e2e::rehearsal::lambda::{Function, Outcome};
    let rehearsal = e2e::rehearsal::Rehearsal::start().await;
    let mut spec = rehearsal.deployment.functions["AgentsFunction"].clone();
    assert!(spec.environment.remove("TABLE_NAME").is_some());
    let function = Function::start(
        spec.clone(),
        rehearsal.binaries.join(&spec.binary),
        Vec::new(),
        1,
        rehearsal.logs.path().join("broken.log"),
    )
    .await;
    // Failed (its exit noticed, its log's last lines given), not TimedOut.
    match function.invoke(b"{}".to_vec()).await {
        Outcome::Failed(error) => assert!(error.contains("TABLE_NAME"), "{error}"),
        Outcome::TimedOut => panic!("the exit went unnoticed until the timeout"),
        _ => panic!("a function without TABLE_NAME answered"),
    }
}

/// The background passes as deployed: the planner, invoked with Scheduler's event, sends a due
/// token refresh and a due health check to the template's jobs queue; the worker, given SQS
/// batches from it, refreshes the token at the authorization server (oidc-provider) and checks
/// the server, whose loss reaches a webhook receiver that verifies the signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_planner_and_the_worker_refresh_a_due_token_and_report_a_lost_server() {
    use e2e::{
        oidc::{self, OidcOptions},
        servers::{self, FastMcpAuth},
        tokens,
    };
    let stack = TestStack::start(Backend::Rehearsal).await;
    let rehearsal = stack.rehearsal.clone().unwrap();

    // One-minute access tokens: due for refresh at once (the margin is 15 minutes).
    let provider = oidc::start(OidcOptions::default().with_access_ttl(60).rotating()).await;
    let alice = shared::api::Principal::admin("acme", "alice");
    let auth_id =
        tokens::authorized_config(&stack.state, &provider, &alice, "provider", None).await;

    // A webhook for health events, and a server that answers now.
    let secret_file = stack.dir.path().join("webhook-secret");
    let out = stack.dir.path().join("events.jsonl");
    let receiver = servers::webhook_receiver(&secret_file, &out).await;
    let (status, hook) = stack
        .post(
            "/config/webhook",
            json!({"url": format!("{}/hook", receiver.base), "events": ["mcp_server.health_changed"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    std::fs::write(&secret_file, hook["secret"].as_str().unwrap()).unwrap();
    let server = servers::fastmcp(FastMcpAuth::None, "http").await;
    let server_id = stack
        .created(
            "/config/mcp-server",
            json!({"name": "goes away", "url": server.mcp_url()}),
        )
        .await;
    drop(server);
    e2e::make_check_due(&stack.state, "acme", &server_id).await;

    let before = provider.stats().await;
    let refreshes = |stats: &e2e::oidc::Stats| {
        stats
            .by_grant
            .get("refresh_token")
            .copied()
            .unwrap_or_default()
    };
    // A transition's delivery may itself be a job of the next pass.
    let mut delivered = Vec::new();
    for _ in 0..3 {
        let planned = rehearsal.run_schedule("PlannerFunction").await;
        assert!(!planned.to_string().contains("errorType"), "{planned}");
        rehearsal.drain_queues().await;
        delivered = std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .collect();
        if !delivered.is_empty() {
            break;
        }
    }
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["type"], "mcp_server.health_changed");
    assert_eq!(delivered[0]["data"]["to"], "unreachable", "{delivered:?}");
    let (_, view) = stack.get(&format!("/config/mcp-server/{server_id}")).await;
    assert_eq!(view["health"]["status"], "unreachable", "{view}");

    let after = provider.stats().await;
    assert_eq!(refreshes(&after) - refreshes(&before), 1, "refreshed once");
    let (_, config) = stack.get(&format!("/auth_configs/{auth_id}")).await;
    assert_eq!(config["token_status"], "VALID", "{config}");
    assert!(config["last_refresh_at"].is_string(), "{config}");
    assert!(rehearsal.denied().is_empty(), "{:?}", rehearsal.denied());
}
