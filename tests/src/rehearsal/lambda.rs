//! One function as Lambda runs it: its own binary in separate processes (instances), each pulling
//! invocations from an emulator of the Lambda Runtime API (`/2018-06-01/runtime/…`) on loopback.
//! An invocation waits for an idle instance; when none is idle and fewer than the most instances
//! run, another starts (a cold start). An instance that overruns the function's timeout is killed,
//! as Lambda ends its sandbox. Buffered responses and streamed ones (`Lambda-Runtime-Function-
//! Response-Mode: streaming`, the HTTP integration's JSON prelude then eight NUL bytes, then the
//! body) are both handed back.
// Test code: a failed step of the rehearsal panics with its cause.
#![allow(clippy::unwrap_used)]

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::template::{ACCOUNT, FunctionSpec, REGION};

/// What an invocation ended with.
pub enum Outcome {
    /// The function's whole response.
    Buffered(Bytes),
    /// A streamed response: the prelude (JSON) and the body as it comes.
    Streamed {
        /// The HTTP integration's prelude (`statusCode`, `headers`, `cookies`).
        prelude: serde_json::Value,
        /// The body's chunks.
        body: mpsc::Receiver<Bytes>,
    },
    /// The function reported an error (`/error`), or its instance died or failed to start.
    Failed(String),
    /// The instance did not answer within the function's timeout; it was killed.
    TimedOut,
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    deadline: Duration,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    replies: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    idle: AtomicUsize,
    function_arn: String,
}

/// A deployed function: its runtime API and its instances.
pub struct Function {
    /// What the template says of it.
    pub spec: FunctionSpec,
    binary: PathBuf,
    environment: Vec<(String, String)>,
    runtime_api: String,
    sender: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
    instances: Mutex<Vec<tokio::process::Child>>,
    most_instances: usize,
    log: PathBuf,
    server: tokio::task::JoinHandle<()>,
    counter: AtomicUsize,
}

impl Drop for Function {
    fn drop(&mut self) {
        self.server.abort();
        for child in self.instances.lock().unwrap().iter_mut() {
            let _ = child.start_kill();
        }
    }
}

impl Function {
    /// Serves the function's runtime API; instances start on the first invocations. `environment`
    /// is what the process gets beyond the template's variables and Lambda's own (endpoints,
    /// credentials); its log (stdout and stderr of every instance) goes to `log`.
    pub async fn start(
        spec: FunctionSpec,
        binary: PathBuf,
        environment: Vec<(String, String)>,
        most_instances: usize,
        log: PathBuf,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(1024);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
            replies: Mutex::new(HashMap::new()),
            idle: AtomicUsize::new(0),
            function_arn: format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
                spec.logical_id
            ),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
            .route("/2018-06-01/runtime/init/error", post(init_failed))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let runtime_api = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            spec,
            binary,
            environment,
            runtime_api,
            sender,
            shared,
            instances: Mutex::new(Vec::new()),
            most_instances,
            log,
            server,
            counter: AtomicUsize::new(0),
        }
    }

    /// Hands `event` to an instance and waits for its outcome (at most the function's timeout).
    pub async fn invoke(&self, event: Vec<u8>) -> Outcome {
        self.scale_for_one_more();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-rehearsal-{n}", std::process::id());
        let (reply, outcome) = oneshot::channel();
        let invocation = Invocation {
            id: id.clone(),
            event,
            deadline: self.spec.timeout,
            reply,
        };
        if self.sender.send(invocation).await.is_err() {
            return Outcome::Failed("the runtime API stopped".into());
        }
        let deadline = tokio::time::sleep(self.spec.timeout + Duration::from_secs(1));
        tokio::pin!(deadline);
        tokio::pin!(outcome);
        loop {
            tokio::select! {
                answer = &mut outcome => {
                    return answer.unwrap_or_else(|_| Outcome::Failed("the invocation was dropped".into()));
                }
                () = &mut deadline => {
                    // Lambda ends the sandbox of an invocation that overruns its timeout.
                    self.shared.replies.lock().unwrap().remove(&id);
                    self.kill_all();
                    return Outcome::TimedOut;
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    // Every instance exited (a failed init: a missing setting, a crash): the
                    // invocation fails now rather than at its timeout.
                    if self.all_exited() {
                        self.shared.replies.lock().unwrap().remove(&id);
                        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                        let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                        return Outcome::Failed(format!(
                            "{} exited before answering: {tail}",
                            self.spec.logical_id
                        ));
                    }
                }
            }
        }
    }

    fn all_exited(&self) -> bool {
        let mut instances = self.instances.lock().unwrap();
        !instances.is_empty()
            && instances
                .iter_mut()
                .all(|c| !matches!(c.try_wait(), Ok(None)))
    }

    fn kill_all(&self) {
        for child in self.instances.lock().unwrap().iter_mut() {
            let _ = child.start_kill();
        }
    }

    /// Starts an instance when none is idle and fewer than the most run (a cold start).
    fn scale_for_one_more(&self) {
        let mut instances = self.instances.lock().unwrap();
        instances.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if self.shared.idle.load(Ordering::SeqCst) > 0 || instances.len() >= self.most_instances {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the function's log");
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.spec.environment)
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.spec.logical_id)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.spec.logical_id),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "rehearsal")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the rehearsal runs the functions' debug binaries; `cargo build --bins` builds them)",
                self.binary.display()
            )
        });
        instances.push(child);
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.idle.fetch_add(1, Ordering::SeqCst);
    let invocation = shared.queue.lock().await.recv().await;
    shared.idle.fetch_sub(1, Ordering::SeqCst);
    let Some(invocation) = invocation else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + invocation.deadline;
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).unwrap();
    headers.insert("lambda-runtime-aws-request-id", header(&invocation.id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&deadline.as_millis().to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header(&shared.function_arn),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        header("Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0"),
    );
    shared
        .replies
        .lock()
        .unwrap()
        .insert(invocation.id, invocation.reply);
    (headers, invocation.event).into_response()
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(reply) = shared.replies.lock().unwrap().remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v == "streaming");
    let mut stream = body.into_data_stream();
    if !streaming {
        let mut all = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            all.extend_from_slice(&chunk);
        }
        let _ = reply.send(Outcome::Buffered(all.into()));
        return StatusCode::ACCEPTED;
    }
    // The prelude, up to eight NUL bytes; then the body, passed on as it comes.
    let mut head = Vec::new();
    let separator = [0u8; 8];
    let rest = loop {
        let Some(Ok(chunk)) = stream.next().await else {
            let _ = reply.send(Outcome::Failed(
                "the stream ended before its prelude".into(),
            ));
            return StatusCode::ACCEPTED;
        };
        head.extend_from_slice(&chunk);
        if let Some(at) = head.windows(8).position(|w| w == separator) {
            break head.split_off(at + 8);
        }
    };
    head.truncate(head.len() - 8);
    let Ok(prelude) = serde_json::from_slice(&head) else {
        let _ = reply.send(Outcome::Failed("the stream's prelude is not JSON".into()));
        return StatusCode::ACCEPTED;
    };
    let (chunks, body) = mpsc::channel(64);
    let _ = reply.send(Outcome::Streamed { prelude, body });
    if !rest.is_empty() && chunks.send(rest.into()).await.is_err() {
        return StatusCode::ACCEPTED;
    }
    while let Some(Ok(chunk)) = stream.next().await {
        if chunks.send(chunk).await.is_err() {
            break;
        }
    }
    StatusCode::ACCEPTED
}

async fn failed(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    if let Some(reply) = shared.replies.lock().unwrap().remove(&id) {
        let _ = reply.send(Outcome::Failed(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_failed(body: Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "a function failed to start");
    StatusCode::ACCEPTED
}
