//! The `studio-local` binary as a user runs it: `serve` on a fresh data directory, restarts,
//! `session create` beside a running server, usage errors, and the README walkthrough verbatim.
#![allow(clippy::unwrap_used)]

use std::{path::Path, process::Stdio, time::Duration};

use shared::testing;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_studio-local");

struct Server {
    child: Child,
    api: String,
    session: String,
    /// The console link the banner ends with.
    console_link: String,
}

/// Starts `serve` on a free port and waits for its banner (address and dev session).
async fn serve(data_dir: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut api, mut session, mut console_link) = (None, None, None);
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("Agent Studio Connect listening on ") {
                api = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some((_, id)) = line
                .split_once("): ")
                .filter(|_| line.starts_with("Dev session"))
            {
                session = Some(id.trim().to_owned());
            }
            if line.contains("/console/sign-in#session=") {
                console_link = Some(line.trim().to_owned());
                break;
            }
        }
    })
    .await
    .expect("serve printed its banner");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server {
        child,
        api: api.expect("address line"),
        session: session.expect("session line"),
        console_link: console_link.expect("console line"),
    }
}

impl Server {
    /// `method path` (under the API) with the server's dev session and an optional JSON body;
    /// the JSON answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.api))
            .header("Cookie", format!("sessionid={}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

/// The console as `serve` offers it: the printed link signs in with the dev session (in the
/// fragment, which no request carries); without a session a browser is sent to the sign-in page;
/// the sign-in page and the assets need no session, every other console page does.
#[tokio::test]
async fn serve_offers_the_console_with_a_sign_in_link() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let origin = server.api.trim_end_matches("/ai/api/v1");
    assert_eq!(
        server.console_link,
        format!("{origin}/console/sign-in#session={}", server.session)
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, session: Option<&str>| {
        let mut request = client.get(format!("{origin}{path}"));
        if let Some(session) = session {
            request = request.header("Cookie", format!("sessionid={session}"));
        }
        request.send()
    };
    let anonymous = get("/console/servers?x=1", None).await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        "/console/sign-in?return_to=%2Fconsole%2Fservers%3Fx%3D1"
    );
    let callback = get("/console/oauth/callback?code=c&state=s", None)
        .await
        .unwrap();
    assert_eq!(
        callback.headers()["location"],
        "/console/sign-in?return_to=%2Fconsole"
    );
    for public in ["/console/sign-in", "/console/assets/app.js"] {
        let answer = get(public, None).await.unwrap();
        assert_eq!(answer.status(), 200, "{public}");
        assert!(answer.headers().contains_key("content-security-policy"));
    }
    let page = get("/console/servers", Some(&server.session))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("app.js"));
    // The API itself still answers 401 problems, not redirects.
    let api = get("/ai/api/v1/auth_configs", None).await.unwrap();
    assert_eq!(api.status(), 401);
}

async fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().await.unwrap()
}

/// Runs a one-off command that must succeed: the JSON report it prints.
async fn report_of(args: &[&str]) -> serde_json::Value {
    let out = run(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `args` with the function settings `env`: the command fails (1) and names `named`, as
/// the function reading it would.
async fn refuses_setting(args: &[&str], env: &[(&str, &str)], named: &str) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(named), "{stderr}");
}

/// Runs `args`: the command exits with `code`, its error naming `what`.
async fn exits_naming(args: &[&str], code: i32, what: &str) {
    let out = run(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(what), "{stderr}");
}

#[tokio::test]
async fn serve_keeps_data_across_restarts_and_reuses_the_dev_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = serve(dir.path()).await;
    let body = serde_json::json!({"name": "kept", "auth_type": "NONE"});
    let created = first
        .call(reqwest::Method::POST, "/auth_configs", Some(body))
        .await;
    first.child.kill().await.unwrap();

    let second = serve(dir.path()).await;
    assert_eq!(second.session, first.session);
    let listed = second
        .call(reqwest::Method::GET, "/auth_configs", None)
        .await;
    assert_eq!(listed["items"][0]["id"], created["id"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["master.key", "dev-session"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
}

#[tokio::test]
async fn session_create_prints_only_an_id_the_running_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let data_dir = dir.path().to_str().unwrap();
    let out = run(&[
        "session",
        "create",
        "--tenant",
        "acme",
        "--user",
        "alice",
        "--data-dir",
        data_dir,
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the id: {stdout:?}");
    let id = stdout.trim();
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/auth_configs", server.api))
        .header("Cookie", format!("sessionid={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Without --role, the least role: a member reads but creates nothing.
    let me: serde_json::Value = client
        .get(format!("{}/me", server.api))
        .header("Cookie", format!("sessionid={id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "member", "{me}");
    let response = client
        .post(format!("{}/auth_configs", server.api))
        .header("Cookie", format!("sessionid={id}"))
        .json(&serde_json::json!({"name": "n", "auth_type": "NONE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let out = run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--user",
        "ci",
        "--role",
        "admin",
        "--data-dir",
        data_dir,
    ])
    .await;
    let token = String::from_utf8(out.stdout).unwrap();
    let response = client
        .get(format!("{}/auth_configs", server.api))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .post(format!("{}/auth_configs", server.api))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({"name": "n", "auth_type": "NONE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = client
        .get(format!("{}/auth_configs", server.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn usage_errors_exit_with_2_and_bad_ids_are_refused() {
    assert_eq!(
        run(&["serve", "--addr", "nowhere"]).await.status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).await.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let bad_tenant = ["--tenant", "a#b", "--user", "u", "--data-dir", data_dir];
    exits_naming(
        &[&["session", "create"][..], &bad_tenant].concat(),
        1,
        "tenant",
    )
    .await;
    let bad_role = ["--tenant", "acme", "--user", "u", "--role", "owner"];
    let args = [
        &["token", "create"][..],
        &bad_role,
        &["--data-dir", data_dir],
    ]
    .concat();
    exits_naming(&args, 2, "role").await;
}

#[tokio::test]
async fn refresh_due_runs_one_pass_and_prints_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let report = report_of(&["refresh-due", "--data-dir", data_dir]).await;
    for field in [
        "due",
        "refreshed",
        "reauthorization_required",
        "transient_failures",
        "skipped_locked",
        "elapsed_ms",
    ] {
        assert!(report[field].is_u64(), "{field} in {report}");
    }
    assert_eq!(report["due"], 0);
    let out = run(&["refresh-due", "--lookahead", "soon", "--data-dir", data_dir]).await;
    assert_eq!(out.status.code(), Some(2));
    // The function's settings are read as the function reads them: a bad one is named.
    let args = ["refresh-due", "--data-dir", data_dir];
    refuses_setting(
        &args,
        &[("REFRESH_MAX_PER_SHARD", "0")],
        "REFRESH_MAX_PER_SHARD",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_without_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", server.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/ai/api/v1/auth_configs", &["get", "post"][..]),
        (
            "/ai/api/v1/auth_configs/{id}",
            &["get", "patch", "delete"][..],
        ),
        ("/ai/api/v1/openapi.json", &["get"][..]),
        ("/ai/api/v1/config/mcp-server", &["get", "post"][..]),
        (
            "/ai/api/v1/config/mcp-server/{id}",
            &["get", "patch", "delete"][..],
        ),
        ("/ai/api/v1/config/mcp-server/{id}/test", &["post"][..]),
        ("/ai/api/v1/oauth/{auth_config_id}/authorize", &["post"][..]),
        ("/ai/api/v1/oauth/callback", &["get"][..]),
        ("/ai/api/v1/config/llm", &["get", "post"][..]),
        (
            "/ai/api/v1/config/llm/{id}",
            &["get", "patch", "delete"][..],
        ),
        ("/ai/api/v1/config/agent", &["get", "post"][..]),
        (
            "/ai/api/v1/config/agent/{id}",
            &["get", "patch", "delete"][..],
        ),
        ("/ai/api/v1/agent/{id}/tools", &["get"][..]),
        ("/ai/api/v1/agent/{id}/tools/call", &["post"][..]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} missing"
            );
        }
    }
}

/// Asserts that a walkthrough's output holds each expected text (with what it shows), none of
/// the secrets it used, and ends with the statuses of its deletes (`last`).
fn assert_output(stdout: &str, expected: &[(&str, &str)], secrets: &[&str], last: &str) {
    assert!(
        stdout.trim_end().ends_with(last),
        "ends with {last}: {stdout}"
    );
    for (text, what) in expected {
        assert!(stdout.contains(text), "{what}: {stdout}");
    }
    for secret in secrets {
        assert!(!stdout.contains(secret), "{secret} echoed");
    }
}

/// Runs the README walkthrough `name` verbatim with bash against a fresh `serve`, with `API` and
/// `SESSION` (and `extra_env`) set; fails on any error and returns its standard output.
async fn run_walkthrough(name: &str, extra_env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let mut env = vec![
        ("API", server.api.as_str()),
        ("SESSION", server.session.as_str()),
    ];
    env.extend_from_slice(extra_env);
    testing::run_script(&testing::readme_walkthrough(name), &env).await
}

/// [`run_walkthrough`] with `MCP_URL` naming the reference MCP server.
async fn run_walkthrough_with_mcp(name: &str) -> String {
    let (_mcp, mcp_url) = common::server_everything().await;
    run_walkthrough(name, &[("MCP_URL", mcp_url.as_str())]).await
}

#[tokio::test]
async fn the_readme_auth_config_walkthrough_runs_verbatim() {
    let stdout = run_walkthrough("auth-configs", &[]).await;
    let expected = [("\"errors\"", "the invalid example shows field errors")];
    assert_output(
        &stdout,
        &expected,
        &["wx-live-123", "wx-live-456", "s3cret", "gh-client-secret"],
        "204",
    );
}

#[tokio::test]
async fn the_readme_mcp_server_walkthrough_runs_verbatim() {
    let stdout = run_walkthrough_with_mcp("mcp-servers").await;
    let expected = [
        ("'added': []", "the re-test reports tool changes"),
        (
            "'category': 'connect'",
            "the unreachable server is diagnosed",
        ),
    ];
    assert_output(&stdout, &expected, &["demo-key", "demo-pass"], "204");
}

#[tokio::test]
async fn the_readme_agents_walkthrough_runs_verbatim() {
    let stdout = run_walkthrough_with_mcp("agents").await;
    let expected = [
        ("['echo', 'get-*']", "the allowlist"),
        ("409", "a referenced server is kept"),
        ("input_json_schema", "the schema error"),
        ("Echo: hello", "the tool call's result"),
    ];
    assert_output(&stdout, &expected, &["sk-demo-key"], "204\n204\n204");
}

#[tokio::test]
async fn the_readme_policies_walkthrough_runs_verbatim() {
    let stdout = run_walkthrough_with_mcp("policies").await;
    let expected = [
        ("line 2, column 8: ", "the invalid policy's position"),
        ("The sum of 2 and 3 is 5.", "an allowed call runs"),
        ("urn:agent-studio:problem:policy-denied", "a denied call"),
        (
            "{'a': 5000, 'b': 3}",
            "the held call's arguments, shown to admins",
        ),
        (
            "urn:agent-studio:problem:approval-refused",
            "no approving one's own call",
        ),
        ("['read_only']", "a read-only agent refuses other tools"),
        (
            "'decision': 'approval_required'",
            "the audit entry's decision",
        ),
        ("'arguments': {'a': 5000}", "only the loggable argument"),
    ];
    assert_output(
        &stdout,
        &expected,
        &["sk-demo-key"],
        "204\n204\n204\n204\n204",
    );
}

#[tokio::test]
async fn work_runs_the_planner_and_its_jobs_and_reads_the_functions_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let report = report_of(&["work", "--data-dir", data_dir]).await;
    assert_eq!(report["planned"]["sent"], serde_json::json!({}), "{report}");
    assert_eq!(report["worked"]["failed"], 0, "{report}");
    let args = ["work", "--data-dir", data_dir];
    refuses_setting(
        &args,
        &[("PLAN_PARTS", "2"), ("PLAN_PART", "2")],
        "PLAN_PART",
    )
    .await;
}
