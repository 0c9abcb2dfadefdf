//! Helpers for the end-to-end tests: start the local stack in-process on a loopback port over a
//! chosen store, capture every log line, and reach the backing services started by
//! `infra/scripts/test.sh`.

pub mod browser;
pub mod capture;
pub mod conformance_upstream;
pub mod curl;
pub mod hostile;
pub mod oidc;
pub mod otlp;
pub mod rehearsal;
pub mod servers;
pub mod token_server;
pub mod tokens;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use secrecy::ExposeSecret;
use shared::{
    AppState,
    api::{Principal, Role},
    clock::SystemClock,
    config::{AwsConfig, aws_config_for_endpoint},
    crypto::LocalKeyProvider,
    session::{self, CredentialKind},
    store::{DynamoStore, SqliteStore, Store},
};

/// The endpoint of a backing service, from the variable `infra/scripts/test.sh` exports. Missing
/// means the suite was not started by the script: fail, saying how to run it.
pub fn service_endpoint(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run the tests with infra/scripts/test.sh, which installs and starts DynamoDB Local and moto")
    })
}

/// AWS configuration for DynamoDB Local.
pub async fn dynamodb_local() -> AwsConfig {
    aws_config_for_endpoint(&service_endpoint("STUDIO_TEST_DYNAMODB_ENDPOINT")).await
}

/// Serves `app` on a free loopback port for the rest of the test's runtime; returns
/// `http://127.0.0.1:PORT`.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = studio_local::serve(listener, app, std::future::pending()).await;
    });
    format!("http://{addr}")
}

/// AWS configuration for moto (KMS, Secrets Manager).
pub async fn moto() -> AwsConfig {
    aws_config_for_endpoint(&service_endpoint("STUDIO_TEST_MOTO_ENDPOINT")).await
}

/// The string `key` of each object in the JSON array `list` (the `field` of a problem's errors,
/// the `name` of a catalogue's tools, …).
pub fn each<'a>(list: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    let items = list.as_array().expect("an array");
    items
        .iter()
        .map(|item| item[key].as_str().expect("a string"))
        .collect()
}

/// A benchmark's `n`th command-line argument as a count, or `default` when absent or not one.
pub fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A unique name for a table or secret in a shared emulator.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// Every log line the process writes, for tests that prove what is never logged.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs (once per process) a global subscriber at TRACE level writing into the capture.
    pub fn install() -> Self {
        static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = LogCapture::default();
                let writer = capture.clone();
                let _ = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::TRACE)
                    .with_ansi(false)
                    .json()
                    .with_writer(move || writer.clone())
                    .try_init();
                capture
            })
            .clone()
    }

    /// All captured text so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Declares, for each named `async fn(Backend)` of a test file, one test on each store:
/// `sqlite::<name>` and `dynamodb::<name>` (on a multi-threaded runtime, as handlers run).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name($crate::Backend::Sqlite).await;
            })*
        }
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name($crate::Backend::DynamoDb).await;
            })*
        }
    };
}

/// Declares, for each named `async fn(Backend)` of a test file, one test on the deployment
/// rehearsal (`rehearsal::<name>`): the functions' own binaries behind the API Gateway emulator,
/// built from `template.yaml` ([`rehearsal`]).
#[macro_export]
macro_rules! on_the_rehearsal {
    ($($name:ident),* $(,)?) => {
        mod rehearsal {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name($crate::Backend::Rehearsal).await;
            })*
        }
    };
}

/// What the stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `studio-local`'s routers in this process, on embedded SQLite in a temporary directory.
    Sqlite,
    /// `studio-local`'s routers in this process, on a fresh table in DynamoDB Local.
    DynamoDb,
    /// The deployment rehearsal: every function's binary behind the API Gateway emulator, on a
    /// table, key, bus and queues created from `template.yaml` (DynamoDB Local and moto).
    /// Changes a test makes to the stack's `state` reach only the test's own state.
    Rehearsal,
}

/// Rate limits high enough for the bulk set-up of any test.
pub const GENEROUS_LIMITS: shared::model::limits::Limits = shared::model::limits::Limits {
    tests_per_minute: 1_000_000,
    authorize_per_minute: 1_000_000,
    tool_calls_per_minute: 1_000_000,
    tenant_concurrent_tests: 1_000_000,
};

/// The local stack serving on a loopback port.
pub struct TestStack {
    /// `http://127.0.0.1:<port>/ai/api/v1`.
    pub api: String,
    /// A valid admin session id for tenant `acme`, user `alice`.
    pub session: String,
    /// The state the server runs with.
    pub state: AppState,
    /// Data directory (SQLite file, master key).
    pub dir: tempfile::TempDir,
    /// The DynamoDB table, for [`Backend::DynamoDb`] and [`Backend::Rehearsal`].
    pub table: Option<String>,
    /// The deployment, for [`Backend::Rehearsal`].
    pub rehearsal: Option<Arc<rehearsal::Rehearsal>>,
    client: ApiClient,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl TestStack {
    /// Starts the stack on `backend`, with rate limits high enough for the bulk set-up of any
    /// test (the limits' own tests choose theirs with [`TestStack::start_with_limits`]).
    pub async fn start(backend: Backend) -> Self {
        Self::start_with_limits(backend, GENEROUS_LIMITS).await
    }

    /// Starts the stack on `backend` with `limits`.
    pub async fn start_with_limits(
        backend: Backend,
        limits: shared::model::limits::Limits,
    ) -> Self {
        Self::start_configured(backend, limits, |_, _| {}).await
    }

    /// Starts the stack on `backend` with `limits`, its state changed by `configure` (given the
    /// origin the stack will serve at, `http://127.0.0.1:<port>`) before it serves.
    pub async fn start_configured(
        backend: Backend,
        limits: shared::model::limits::Limits,
        configure: impl FnOnce(&mut AppState, &str),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(SystemClock);
        if backend == Backend::Rehearsal {
            return Box::pin(Self::start_rehearsal(dir, limits, configure)).await;
        }
        let (store, table): (Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => (
                Arc::new(SqliteStore::open(&dir.path().join("studio.db"), clock).expect("sqlite")),
                None,
            ),
            Backend::Rehearsal => unreachable!("started above"),
            Backend::DynamoDb => {
                let aws = dynamodb_local().await;
                let table = unique_name("e2e");
                let store = DynamoStore::from_sdk(&aws, &table, clock);
                store
                    .ensure_table()
                    .await
                    .expect("create table in DynamoDB Local");
                (Arc::new(store), Some(table))
            }
        };
        let keys = Arc::new(
            LocalKeyProvider::load_or_create(&dir.path().join("master.key")).expect("key"),
        );
        // Secrets Manager is moto's, whatever the store.
        let secrets_manager = moto().await;
        let mut state = AppState::local(store, keys, &secrets_manager, true)
            .expect("state")
            // As deployed (`RECENT_RECORDS_SECONDS` defaults to 2).
            .with_recent_records(std::time::Duration::from_secs(2));
        state.limits = limits;
        // As `studio-local serve` runs: session streams on.
        state.mcp_session_streams = true;
        let session = new_session(&state, "acme", "alice", Role::Admin).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        configure(&mut state, &format!("http://{addr}"));
        let app = studio_local::app(state.clone());
        let server = tokio::spawn(async move {
            let _ = studio_local::serve(listener, app, std::future::pending()).await;
        });
        let api = format!("http://{addr}/ai/api/v1");
        Self::assemble(api, session, state, dir, table, None, Some(server))
    }

    /// The stack serving at `api` with `session`.
    fn assemble(
        api: String,
        session: String,
        state: AppState,
        dir: tempfile::TempDir,
        table: Option<String>,
        rehearsal: Option<Arc<rehearsal::Rehearsal>>,
        server: Option<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Self {
            client: ApiClient {
                api: api.clone(),
                session: session.clone(),
                http: reqwest::Client::new(),
            },
            api,
            session,
            state,
            dir,
            table,
            rehearsal,
            server,
        }
    }

    /// The deployment rehearsal with `extra` environment variables for every function (a test's
    /// own deviation, such as where traces are exported).
    pub async fn start_rehearsal_with(extra: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Box::pin(Self::start_rehearsal_env(
            dir,
            GENEROUS_LIMITS,
            |_, _| {},
            extra,
        ))
        .await
    }

    /// [`TestStack::start_configured`] on the deployment rehearsal: the test's state is on the
    /// rehearsal's table and key (so sessions and fixtures it writes are the functions' too).
    async fn start_rehearsal(
        dir: tempfile::TempDir,
        limits: shared::model::limits::Limits,
        configure: impl FnOnce(&mut AppState, &str),
    ) -> Self {
        Box::pin(Self::start_rehearsal_env(dir, limits, configure, &[])).await
    }

    async fn start_rehearsal_env(
        dir: tempfile::TempDir,
        limits: shared::model::limits::Limits,
        configure: impl FnOnce(&mut AppState, &str),
        extra: &[(String, String)],
    ) -> Self {
        let rehearsal = Arc::new(rehearsal::Rehearsal::start_with(extra).await);
        let ddb = dynamodb_local().await;
        let moto = moto().await;
        let store = DynamoStore::from_sdk(&ddb, &rehearsal.table, Arc::new(SystemClock));
        let keys = Arc::new(shared::crypto::KmsKeyProvider::new(
            aws_sdk_kms::Client::new(&moto),
            rehearsal.key_arn.clone(),
        ));
        let mut state = AppState::local(Arc::new(store), keys, &moto, true).expect("state");
        state.limits = limits;
        let origin = rehearsal.url.clone();
        configure(&mut state, &origin);
        let session = new_session(&state, "acme", "alice", Role::Admin).await;
        let api = format!("{}/ai/api/v1", rehearsal.url);
        let table = Some(rehearsal.table.clone());
        Self::assemble(api, session, state, dir, table, Some(rehearsal), None)
    }
}

/// A new session of `user` in `tenant` with `role`, valid for an hour.
async fn new_session(state: &AppState, tenant: &str, user: &str, role: Role) -> String {
    session_of(state, &Principal::new(tenant, user, role)).await
}

/// A new session of `principal`, valid for an hour: the `sessionid` cookie's value.
pub async fn session_of(state: &AppState, principal: &Principal) -> String {
    session::create(
        state.store.as_ref(),
        &SystemClock,
        principal,
        CredentialKind::Session,
        time::Duration::hours(1),
    )
    .await
    .expect("session")
    .expose_secret()
    .to_owned()
}

/// A state on a new table of DynamoDB Local (named after `name`) with a local key in `dir`, as
/// the benchmarks run the functions' code.
pub async fn dynamodb_state(name: &str, dir: &std::path::Path) -> AppState {
    let aws = dynamodb_local().await;
    let store = DynamoStore::from_sdk(&aws, unique_name(name), Arc::new(SystemClock));
    store.ensure_table().await.expect("table");
    let keys = Arc::new(LocalKeyProvider::load_or_create(&dir.join("master.key")).expect("keys"));
    AppState::local(Arc::new(store), keys, &aws, true).expect("state")
}

/// The stack answers the [`ApiClient`] calls as its own session's user (`acme`/`alice`).
impl std::ops::Deref for TestStack {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.client
    }
}

impl TestStack {
    /// An admin session of `user` in `tenant` on this stack's store.
    pub async fn session_for(&self, tenant: &str, user: &str) -> String {
        new_session(&self.state, tenant, user, Role::Admin).await
    }

    /// A member session of `user` in `tenant` on this stack's store.
    pub async fn member_session_for(&self, tenant: &str, user: &str) -> String {
        new_session(&self.state, tenant, user, Role::Member).await
    }

    /// An API token of `user` in `tenant` (a member), as `studio-local token create` issues one.
    pub async fn api_token(&self, tenant: &str, user: &str) -> String {
        let token = shared::session::create(
            self.state.store.as_ref(),
            self.state.clock.as_ref(),
            &Principal::member(tenant, user),
            shared::session::CredentialKind::ApiToken,
            time::Duration::hours(1),
        )
        .await
        .expect("an API token");
        token.expose_secret().to_owned()
    }

    /// A JSON client of this stack's API with its session (tenant `acme`, user `alice`).
    pub fn client(&self) -> ApiClient {
        self.client.clone()
    }
}

/// An answer of the API: its status and JSON body (`null` when there is none).
pub type Reply = (reqwest::StatusCode, serde_json::Value);

/// What a test expects of a [`Reply`].
pub trait Expect {
    /// Asserts the status (the body in the message when it differs); the body.
    fn answered(self, status: reqwest::StatusCode) -> serde_json::Value;
    /// Asserts a 400 whose first error names `field`; the problem.
    fn refused_on(self, field: &str) -> serde_json::Value;
}

impl Expect for Reply {
    #[track_caller]
    fn answered(self, status: reqwest::StatusCode) -> serde_json::Value {
        let (got, body) = self;
        assert_eq!(got, status, "{body}");
        body
    }

    #[track_caller]
    fn refused_on(self, field: &str) -> serde_json::Value {
        let problem = self.answered(reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        problem
    }
}

/// A JSON client of the stack's API: every request carries one session cookie.
#[derive(Clone)]
pub struct ApiClient {
    api: String,
    session: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// The same client acting with another session.
    pub fn with_session(&self, session: &str) -> Self {
        Self {
            session: session.to_owned(),
            ..self.clone()
        }
    }

    /// Sends `method path` (relative to `/ai/api/v1`; a `/.well-known/` document relative to the
    /// root) with an optional JSON body; returns the
    /// status and the JSON body (`null` when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.call_with_headers(method, path, body, &[]).await
    }

    /// [`ApiClient::call`] with extra request headers (e.g. `If-Match`).
    pub async fn call_with_headers(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (reqwest::StatusCode, serde_json::Value) {
        // Well-known documents are at the deployment's root, the rest under the API's base.
        let url = match path.starts_with("/.well-known/") {
            true => format!("{}{path}", self.api.trim_end_matches("/ai/api/v1")),
            false => format!("{}{path}", self.api),
        };
        let mut request = self
            .http
            .request(method, url)
            .header("Cookie", format!("sessionid={}", self.session));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.expect("a response body");
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Reply {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// `PATCH path` with a JSON merge patch.
    pub async fn patch(&self, path: &str, body: serde_json::Value) -> Reply {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// POSTs `body` to `path`, expects 201, returns the new id.
    pub async fn created(&self, path: &str, body: serde_json::Value) -> String {
        let (status, created) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
        created["id"].as_str().expect("an id").to_owned()
    }

    /// DELETEs `path`, expects 204.
    pub async fn deleted(&self, path: &str) {
        self.delete(path)
            .await
            .answered(reqwest::StatusCode::NO_CONTENT);
    }

    /// Starts an authorization of auth config `id` to `redirect_uri` (expects 200): the answer,
    /// with `authorization_url` and `state`.
    pub async fn start_authorization(&self, id: &str, redirect_uri: &str) -> serde_json::Value {
        let encoded: String =
            url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect();
        let path = format!("/oauth/{id}/authorize?redirect_uri={encoded}");
        let (status, started) = self.call(reqwest::Method::POST, &path, None).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{started}");
        started
    }

    /// Connects this client's user to auth config `id` through the provider's login (an
    /// oidc-provider of [`oidc`] that sends the browser back to `redirect_uri`); the config as the
    /// callback answers it.
    pub async fn connect(&self, id: &str, redirect_uri: &str) -> serde_json::Value {
        let started = self.start_authorization(id, redirect_uri).await;
        let authorization_url = started["authorization_url"].as_str().expect("a URL");
        let landed = oidc::login(authorization_url, redirect_uri).await;
        let query = landed.query().expect("the callback's query");
        self.get(&format!("/oauth/callback?{query}"))
            .await
            .answered(reqwest::StatusCode::OK)
    }

    /// Creates an agent named `a` (prompt `p`, on a new [`ApiClient::llm_config`]) that may use
    /// the MCP server configs `servers`; its id.
    pub async fn agent_using(&self, servers: &[&str]) -> String {
        let body = serde_json::json!({
            "name": "a", "prompt": "p", "llm_config_id": self.llm_config().await,
            "mcp_server_config_ids": servers,
        });
        self.created("/config/agent", body).await
    }

    /// Creates an OpenAI LLM config (API key `sk-e2e-secret`); its id.
    pub async fn llm_config(&self) -> String {
        let body = serde_json::json!({
            "name": "gpt", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-e2e-secret",
        });
        self.created("/config/llm", body).await
    }

    /// Creates an MCP server config `name` for the unauthenticated server at `url`; its id.
    pub async fn mcp_server(&self, name: &str, url: &str) -> String {
        let body = serde_json::json!({"name": name, "url": url});
        self.created("/config/mcp-server", body).await
    }

    /// Creates the server config `tools` at `url` (a FastMCP test server of
    /// [`servers::FastMcpAuth::ApiKey`]) with its API key as a custom header; its id.
    pub async fn api_key_server(&self, url: &str) -> String {
        let body = serde_json::json!({"name": "tools", "url": url,
            "auth_config": {"name": "key", "auth_type": "NONE",
                            "custom_headers": {"X-Api-Key": servers::FASTMCP_API_KEY}}});
        self.created("/config/mcp-server", body).await
    }

    /// How many items the first page of the list at `path` has.
    pub async fn count(&self, path: &str) -> usize {
        self.call(reqwest::Method::GET, path, None).await.1["items"]
            .as_array()
            .expect("a list")
            .len()
    }
}

/// One round of background work as a deployment runs it: a planner sends every due entry (up to
/// `max_per_shard` a shard) as a job, then `workers` workers of 10 jobs at once run them. What
/// the planner and the workers reported, and how long the workers took (seconds).
pub async fn work_round(
    state: &AppState,
    workers: usize,
    max_per_shard: usize,
) -> (
    shared::work::planner::PlanReport,
    shared::work::WorkReport,
    f64,
) {
    use shared::work::{
        Context,
        local::{self, LocalQueue, WorkerLimits},
        planner::{self, PlanSettings},
    };
    let ctx = Context::new(
        state.clone(),
        shared::model::refresh_pass::PassSettings::default(),
        shared::model::server_checks::HealthSettings::default(),
    );
    let queue = LocalQueue::default();
    let plan = PlanSettings {
        max_per_shard,
        ..PlanSettings::default()
    };
    let planned = planner::plan(&ctx, &plan, &queue).await;
    let limits = WorkerLimits {
        concurrency: workers * 10,
        per_group: workers * 10,
        job_time: std::time::Duration::from_secs(30),
    };
    let started = std::time::Instant::now();
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(900);
    let report = local::run(&ctx, queue.take(), &limits, end).await;
    (planned, report, started.elapsed().as_secs_f64())
}

/// Makes the health check of server `id` of `tenant` due now, as the next planner run finds it.
pub async fn make_check_due(state: &AppState, tenant: &str, id: &str) {
    use shared::{
        model::{health, tenant_pk},
        store::{Body, Item, TxOp},
    };
    let item = state
        .store
        .get(&tenant_pk(tenant), &health::health_sk(id))
        .await
        .expect("read the health item")
        .expect("a health item");
    let mut record: health::HealthRecord = item.data.read().expect("a health record");
    let due = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    record.next_check_at = due;
    let rewritten = Item::new(item.pk, item.sk, Body::of(&record).expect("its body"))
        .indexed(health::check_index_key(tenant, id, due));
    let update = TxOp::Update {
        item: rewritten,
        expected_version: item.version,
    };
    state.store.write(update).await.expect("make the check due");
}
