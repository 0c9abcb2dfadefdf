//! The built worker binary driven the way Lambda drives it: a Runtime API on loopback hands it
//! one SQS batch (the job a planner sent for a due token, and a message that is no job) and
//! collects the result. The binary reads its configuration from the environment (SQLite store,
//! local key file), refreshes the token against a token endpoint on loopback, answers with a
//! partial batch response naming only the poison message, and logs EMF metrics.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    api::Principal,
    model::{
        auth_config::StoredAuthConfig, refresh_pass::PassSettings, resource,
        server_checks::HealthSettings, token,
    },
    oauth::TokenSet,
    work::{
        self,
        local::LocalQueue,
        planner::{self, PlanSettings},
    },
};
use tokio::sync::mpsc;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("127.0.0.1:{}", addr.port())
}

/// A token endpoint that answers every refresh with a new token and counts the requests.
async fn token_endpoint(requests: Arc<AtomicUsize>) -> String {
    let router = Router::new()
        .route(
            "/token",
            post(
                |State(requests): State<Arc<AtomicUsize>>, body: String| async move {
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    let has = |k: &str, v: &str| {
                        url::form_urlencoded::parse(body.as_bytes()).any(|(a, b)| a == k && b == v)
                    };
                    if !has("grant_type", "refresh_token") || !has("refresh_token", "first-refresh")
                    {
                        return (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"error": "invalid_grant"})),
                        );
                    }
                    (
                        StatusCode::OK,
                        Json(json!({
                            "access_token": format!("access-{n}"),
                            "token_type": "Bearer",
                            "expires_in": 3600,
                        })),
                    )
                },
            ),
        )
        .with_state(requests);
    serve(router).await
}

/// What the Runtime API saw.
#[derive(Clone)]
struct Runtime {
    event: Arc<Mutex<Option<String>>>,
    results: mpsc::UnboundedSender<(String, String)>,
}

/// A Lambda Runtime API: one event, then no more (the next poll waits forever).
async fn runtime_api(event: String) -> (String, mpsc::UnboundedReceiver<(String, String)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let runtime = Runtime {
        event: Arc::new(Mutex::new(Some(event))),
        results: tx,
    };
    let router = Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            get(|State(runtime): State<Runtime>| async move {
                let Some(event) = runtime.event.lock().unwrap().take() else {
                    std::future::pending::<()>().await;
                    unreachable!()
                };
                let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
                    + Duration::from_secs(300);
                let mut headers = HeaderMap::new();
                headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
                headers.insert(
                    "lambda-runtime-deadline-ms",
                    deadline.as_millis().to_string().parse().unwrap(),
                );
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:eu-west-1:123456789012:function:worker"
                        .parse()
                        .unwrap(),
                );
                (headers, event)
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/{kind}",
            post(
                |State(runtime): State<Runtime>,
                 Path((id, kind)): Path<(String, String)>,
                 body: String| async move {
                    let _ = runtime.results.send((format!("{id}/{kind}"), body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(runtime): State<Runtime>, body: String| async move {
                let _ = runtime.results.send(("init/error".into(), body));
                StatusCode::ACCEPTED
            }),
        )
        .with_state(runtime);
    (serve(router).await, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_runs_its_jobs_and_only_the_poison_message_fails() {
    let dir = tempfile::tempdir().unwrap();
    let state = shared::testing::local_state(dir.path(), true).await;
    let (db, key) = (dir.path().join("db.sqlite"), dir.path().join("master.key"));

    let requests = Arc::new(AtomicUsize::new(0));
    let idp = token_endpoint(Arc::clone(&requests)).await;
    let principal = Principal::admin("acme", "alice");
    let view = resource::create::<StoredAuthConfig>(
        &state,
        &principal,
        json!({
            "name": "idp",
            "auth_type": "AUTHORIZATION_CODE",
            "authorization_url": format!("http://{idp}/authorize"),
            "token_url": format!("http://{idp}/token"),
            "client_id": "web-app",
            "allowed_redirect_uris": ["https://app.example.com/oauth/callback"],
        }),
    )
    .await
    .unwrap();
    let (config, _) =
        resource::load::<StoredAuthConfig>(&state, &principal.tenant_id, &view.meta.id)
            .await
            .unwrap();
    let tokens = TokenSet {
        access_token: SecretString::from("first-access"),
        refresh_token: Some(SecretString::from("first-refresh")),
        expires_in: 3600,
        scopes: None,
    };
    token::store_authorized(
        &state,
        "acme",
        &token::TokenOwner::shared(&config),
        tokens,
        None,
    )
    .await
    .unwrap();
    // An hour later the token has a minute left: due.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    shared::testing::rewrite_token(&state, "acme", &view.meta.id, |record| {
        record.obtained_at = now - 3540;
        record.expires_at = now + 60;
        record.next_refresh_at = Some(now - 1);
    })
    .await;

    // The planner (in-process here) sends the due token's job; the worker gets it from SQS.
    let ctx = work::Context::new(
        state.clone(),
        PassSettings::default(),
        HealthSettings::default(),
    );
    let queue = LocalQueue::default();
    let planned = planner::plan(&ctx, &PlanSettings::default(), &queue).await;
    assert_eq!(planned.sent.get("refresh_token"), Some(&1), "{planned:?}");
    let job = queue.take().remove(0);
    let record = |id: &str, body: &str| {
        json!({
            "messageId": id,
            "receiptHandle": format!("handle-{id}"),
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1700000000000",
                "SenderId": "AROAEXAMPLE:planner",
                "ApproximateFirstReceiveTimestamp": "1700000000001",
                "MessageGroupId": job.group,
            },
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs",
            "awsRegion": "eu-west-1",
        })
    };
    let event = json!({"Records": [
        record("job-1", &job.body),
        record("poison-1", r#"{"job":"mine_bitcoin","data":{}}"#),
    ]})
    .to_string();
    let (runtime, mut results) = runtime_api(event).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &runtime)
        .env("AWS_LAMBDA_FUNCTION_NAME", "worker")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_REGION", "eu-west-1")
        .env("STORE_BACKEND", "sqlite")
        .env("SQLITE_PATH", &db)
        .env("KEY_BACKEND", "local")
        .env("LOCAL_KEY_FILE", &key)
        .env("ALLOW_INSECURE_HTTP", "true")
        .env("OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let (path, body) = tokio::time::timeout(Duration::from_secs(60), results.recv())
        .await
        .expect("the function answers within a minute")
        .unwrap();
    child.kill().await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert_eq!(path, "req-1/response", "{body}");
    let response: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "poison-1"}]),
        "{response}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let metrics: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line.get("_aws").is_some())
        .unwrap_or_else(|| panic!("an EMF line in the output:\n{stdout}"));
    assert_eq!(
        (
            &metrics["Jobs"],
            &metrics["JobsFailed"],
            &metrics["RefreshTokenRefreshed"],
            &metrics["UnknownErrors"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(1)),
        "{metrics}"
    );
    assert!(
        !stdout.contains("first-refresh") && !stdout.contains("access-0"),
        "no token in the logs"
    );

    let (record, _) = token::load(&state, "acme", &view.meta.id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.last_refresh_at.is_some());
    assert!(record.expires_at > record.obtained_at + 3000);
}
