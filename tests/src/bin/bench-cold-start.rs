//! Benchmark: cold start, first invocation, peak memory and size of every Lambda function,
//! side by side with a hello-world `lambda_runtime` function built the same way (release profile:
//! LTO, one codegen unit, stripped).
//!
//! Each function's release binary runs as Lambda runs it — a process whose runtime client talks
//! to the Lambda Runtime API — under an emulator of that API served here on loopback. Measured
//! per run, the functions taken in turn run by run: init (process start → its first
//! `GET …/invocation/next`), the first invocation (the event handed out → its response posted;
//! a list endpoint for API functions, on DynamoDB Local with a local key file), and peak RSS
//! (`VmHWM` once the response is in). Size: the binary, and `bootstrap.zip` as a deploy uploads
//! it (deflate).
//!
//!     STUDIO_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 \
//!       cargo run --release -p e2e --bin bench-cold-start [-- RUNS [FUNCTION...]]
//!
//! It builds the binaries itself (`cargo build --release` of every function and `hello-lambda`).
#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::{Value, json};
use shared::{
    AppState,
    api::Principal,
    clock::SystemClock,
    crypto::LocalKeyProvider,
    model::{auth_config::StoredAuthConfig, resource, webhook::StoredWebhook},
    store::DynamoStore,
    testing::rest_event,
};
use tokio::sync::{Notify, oneshot};

/// One function and the event its first invocation gets.
struct Subject {
    name: &'static str,
    event: String,
    what: &'static str,
}

/// What the emulator saw of one run.
#[derive(Default)]
struct Run {
    event: String,
    first_next: Option<Instant>,
    handed_out: Option<Instant>,
    answered: Option<(Instant, String)>,
    done: Option<oneshot::Sender<()>>,
}

type Shared = Arc<(Mutex<Run>, Notify)>;

async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    let event = {
        let mut run = shared.0.lock().unwrap();
        if run.first_next.is_some() {
            None
        } else {
            run.first_next = Some(Instant::now());
            Some(run.event.clone())
        }
    };
    let Some(event) = event else {
        // The second `next`: the function is idle. Hold it until the process is killed.
        shared.1.notified().await;
        return (HeaderMap::new(), String::new());
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static("bench-1"),
    );
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 300_000;
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    shared.0.lock().unwrap().handed_out = Some(Instant::now());
    (headers, event)
}

async fn answered(State(shared): State<Shared>, body: Bytes) -> &'static str {
    let mut run = shared.0.lock().unwrap();
    run.answered = Some((Instant::now(), String::from_utf8_lossy(&body).into_owned()));
    if let Some(done) = run.done.take() {
        let _ = done.send(());
    }
    "{}"
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The size of `binary` zipped as `bootstrap` (deflate), as a deploy uploads it.
fn zipped_size(binary: &Path, dir: &Path) -> u64 {
    let zip = dir.join("bootstrap.zip");
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n    z.write(sys.argv[1], 'bootstrap')";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(binary)
        .arg(&zip)
        .status()
        .expect("python3 zips the binary");
    assert!(status.success());
    std::fs::metadata(&zip).unwrap().len()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::main]
async fn main() {
    let runs = e2e::arg(1, 5);
    let endpoint = e2e::service_endpoint("STUDIO_TEST_DYNAMODB_ENDPOINT");
    // Functions named after RUNS are the only ones measured (beside hello-world).
    let named: Vec<String> = std::env::args().skip(2).collect();
    let functions: Vec<String> = std::fs::read_dir(workspace_root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| named.is_empty() || named.contains(name))
        .collect();
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .current_dir(workspace_root())
        .args(["build", "--release", "-p", "hello-lambda"]);
    for f in &functions {
        build.args(["-p", f]);
    }
    assert!(build.status().unwrap().success(), "the release build");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("release");

    // The store the functions use, with what a list reads.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    let table = e2e::unique_name("bench");
    let aws = e2e::dynamodb_local().await;
    let store = DynamoStore::from_sdk(&aws, &table, Arc::new(SystemClock));
    store.ensure_table().await.unwrap();
    let keys = Arc::new(LocalKeyProvider::load_or_create(&key_file).unwrap());
    let state = AppState::local(Arc::new(store), keys, &aws, true).unwrap();
    let alice = Principal::admin("acme", "alice");
    for n in 0..20 {
        let config = json!({"name": format!("key {n}"), "auth_type": "NONE",
                            "custom_headers": {"X-Api-Key": format!("secret-{n}")}});
        resource::create::<StoredAuthConfig>(&state, &alice, config)
            .await
            .unwrap();
    }
    for n in 0..3 {
        let hook = json!({"url": format!("https://hooks.example.com/{n}"),
                          "events": ["mcp_server.health_changed"]});
        resource::create::<StoredWebhook>(&state, &alice, hook)
            .await
            .unwrap();
    }
    let cookie = e2e::session_of(&state, &alice).await;
    let mut authorizer: Value = serde_json::from_str(include_str!(
        "../../../functions/authorizer/tests/fixtures/request-authorizer.json"
    ))
    .unwrap();
    authorizer["headers"]["Cookie"] = json!(format!("sessionid={cookie}"));
    let list = |path: &str| rest_event("GET", path, path, &[], None);
    let event_of = |name: &str| -> (String, &'static str) {
        match name {
            "authorizer" => (authorizer.to_string(), "REQUEST authorizer, valid session"),
            "auth-configs" => (list("/ai/api/v1/auth_configs"), "GET /auth_configs (20)"),
            "mcp-servers" => (
                list("/ai/api/v1/config/mcp-server"),
                "GET /config/mcp-server",
            ),
            "oauth" => (
                list("/ai/api/v1/oauth/connections"),
                "GET /oauth/connections",
            ),
            "agents" => (list("/ai/api/v1/config/agent"), "GET /config/agent"),
            "agent-tools" => (
                rest_event(
                    "GET",
                    "/ai/api/v1/agent/{id}/tools",
                    "/ai/api/v1/agent/01900000-0000-7000-8000-000000000000/tools",
                    &[],
                    None,
                ),
                "GET /agent/{id}/tools (404)",
            ),
            "mcp-gateway" => (
                rest_event(
                    "POST",
                    "/ai/api/v1/mcp/agents/{agent_id}",
                    "/ai/api/v1/mcp/agents/01900000-0000-7000-8000-000000000000",
                    &[],
                    Some(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
                ),
                "POST /mcp/agents/{agent_id} (404)",
            ),
            "audit" => (list("/ai/api/v1/audit"), "GET /audit"),
            "webhooks" => (list("/ai/api/v1/config/webhook"), "GET /config/webhook (3)"),
            "console" => (
                rest_event("GET", "/console/{proxy+}", "/console/servers", &[], None),
                "GET /console/servers (the shell page)",
            ),
            "planner" => (
                std::fs::read_to_string(
                    workspace_root().join("functions/planner/tests/fixtures/scheduled-event.json"),
                )
                .unwrap(),
                "schedule tick, nothing due",
            ),
            "worker" => (r#"{"Records":[]}"#.into(), "an empty SQS batch"),
            other => panic!("no event for {other}"),
        }
    };
    let mut subjects = vec![Subject {
        name: "hello-lambda",
        event: "{}".into(),
        what: "echo",
    }];
    let mut names = functions.clone();
    names.sort();
    for name in names {
        let (event, what) = event_of(&name);
        subjects.push(Subject {
            name: Box::leak(name.into_boxed_str()),
            event,
            what,
        });
    }

    let shared: Shared = Arc::new((Mutex::new(Run::default()), Notify::new()));
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(answered),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(answered))
        .route("/2018-06-01/runtime/init/error", post(answered))
        .with_state(Arc::clone(&shared));
    let api = e2e::serve_on_loopback(app).await;
    let api = api.trim_start_matches("http://").to_owned();

    println!(
        "| function | first invocation | init ms | × hello | first invocation ms | peak RSS MB | binary MB | zip MB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    // Round-robin: run n of every function before run n + 1 of any, so that the machine's
    // drift over the minutes of a run (other load, frequency, caches) is shared by all functions
    // alike instead of being taken for a difference between them.
    let mut samples: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = subjects
        .iter()
        .map(|_| (Vec::new(), Vec::new(), Vec::new()))
        .collect();
    for _ in 0..runs {
        for (subject, (inits, firsts, rss)) in subjects.iter().zip(samples.iter_mut()) {
            let binary = target.join(subject.name);
            let (done, finished) = oneshot::channel();
            *shared.0.lock().unwrap() = Run {
                event: subject.event.clone(),
                done: Some(done),
                ..Run::default()
            };
            let started = Instant::now();
            let mut child = tokio::process::Command::new(&binary)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("AWS_LAMBDA_RUNTIME_API", &api)
                .env("AWS_LAMBDA_FUNCTION_NAME", subject.name)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("STORE_BACKEND", "dynamodb")
                .env("TABLE_NAME", &table)
                .env("KEY_BACKEND", "local")
                .env("LOCAL_KEY_FILE", &key_file)
                .env("RUST_LOG", "error")
                // Nothing is due, so the planner sends nothing there.
                .env(
                    "JOBS_QUEUE_URL",
                    "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
            tokio::time::timeout(Duration::from_secs(30), finished)
                .await
                .unwrap_or_else(|_| panic!("{} answered no invocation", subject.name))
                .unwrap();
            let pid = child.id().unwrap();
            rss.push(peak_rss_kib(pid) as f64 / 1024.0);
            child.kill().await.unwrap();
            shared.1.notify_waiters();
            let run = shared.0.lock().unwrap();
            let (answered_at, body) = run.answered.clone().unwrap();
            assert!(
                !body.contains("\"statusCode\":5") && !body.contains("errorType"),
                "{}: {body}",
                subject.name
            );
            inits.push((run.first_next.unwrap() - started).as_secs_f64() * 1e3);
            firsts.push((answered_at - run.handed_out.unwrap()).as_secs_f64() * 1e3);
        }
    }
    let mut hello_init = 0.0;
    for (subject, (inits, firsts, rss)) in subjects.iter().zip(samples) {
        let binary = target.join(subject.name);
        let init = median(inits);
        if subject.name == "hello-lambda" {
            hello_init = init;
        }
        let size = std::fs::metadata(&binary).unwrap().len() as f64 / 1e6;
        let zip = zipped_size(&binary, dir.path()) as f64 / 1e6;
        println!(
            "| {} | {} | {init:.1} | {:.1} | {:.1} | {:.1} | {size:.1} | {zip:.1} |",
            subject.name,
            subject.what,
            init / hello_init,
            median(firsts),
            median(rss),
        );
    }
}
