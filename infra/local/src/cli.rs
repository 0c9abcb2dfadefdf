//! The `studio-local` command line: `serve` (with the deployment's background work every minute:
//! a planner run and its jobs, in-process), `probe`, `work` (one planner run and its jobs),
//! `refresh-due` and `health-check` (one pass of either), `session create`, `token create`.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use clap::{Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use shared::{
    AppState,
    api::{Principal, Role},
    clock::{Clock, SystemClock},
    config::{AwsConfig, ClientIdentity, McpAuthorization, load_aws_config},
    crypto::{KeyProvider, KmsKeyProvider, LocalKeyProvider},
    model::{
        refresh_pass::{self, PassSettings},
        server_checks::{self, HealthSettings},
    },
    resource_server::ResourceServer,
    session::{self, CredentialKind},
    store::{DynamoStore, SqliteStore, Store},
    work::{
        self,
        local::WorkerLimits,
        planner::{self, PlanSettings},
    },
};

/// How often `serve` runs a planner and its jobs (and how far ahead refreshes look).
const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Default table for `--store dynamodb`.
const DEFAULT_TABLE: &str = "agent-studio-connect";
const DEV_TENANT: &str = "dev";
const DEV_USER: &str = "dev";

#[derive(Debug, Parser)]
#[command(
    name = "studio-local",
    version,
    about = "Agent Studio Connect on a laptop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    /// Embedded SQLite file in the data directory.
    Sqlite,
    /// DynamoDB (endpoint and credentials from the AWS environment, e.g. AWS_ENDPOINT_URL).
    Dynamodb,
}

#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// Directory for the SQLite database and the local master key.
    #[arg(long, default_value = ".studio", env = "STUDIO_DATA_DIR")]
    data_dir: PathBuf,
    /// Record store.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// DynamoDB table (created if missing) for `--store dynamodb`.
    #[arg(long, default_value = DEFAULT_TABLE, env = "TABLE_NAME")]
    table: String,
    /// Use this AWS KMS key instead of the local master key file.
    #[arg(long, env = "KMS_KEY_ID")]
    kms_key_id: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the whole API on one address.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Test an MCP server as a connection test does (initialize, tools/list) and print the result
    /// as JSON. Exit code 0 on SUCCESS, 1 on FAILED, 2 on usage errors.
    Probe {
        /// The MCP endpoint, e.g. http://127.0.0.1:3001/mcp.
        url: String,
        /// A header to send, as "Name: value" (repeatable).
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// Send `Authorization: Bearer TOKEN`.
        #[arg(long)]
        bearer: Option<String>,
        /// Seconds allowed for the whole test.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
    },
    /// A headless MCP client for the MCP conformance suite's client mode: drives this service's
    /// own API (discovery, registration, authorization, callback, connection test, tool calls)
    /// in-process against the server at URL. Exit code 0 when every step succeeded.
    ConformanceClient {
        /// The MCP server URL (the suite appends it as the last argument).
        url: String,
    },
    /// Run one token refresh pass (every due token in one process, with the `REFRESH_*`
    /// settings from the environment) and print its report as JSON.
    RefreshDue {
        /// Also refresh tokens whose refresh time is at most this many seconds away.
        #[arg(long, default_value_t = REFRESH_INTERVAL.as_secs())]
        lookahead: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Run one health pass (in one process): re-test the MCP server configs whose check is due,
    /// retry due webhook deliveries, and print the report as JSON.
    HealthCheck {
        /// Check every server, due or not.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Run the planner once over an in-process queue, then its jobs (what a deployment's planner
    /// and workers do: `PLAN_*`, `REFRESH_*` and `HEALTH_*` settings from the environment), and
    /// print both reports as JSON.
    Work {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the OpenAPI document of every endpoint (the deployment serves the copy in
    /// `docs/openapi.json`, which a test keeps equal to this output).
    Openapi,
    /// Manage browser sessions.
    Session {
        #[command(subcommand)]
        command: CredentialCommand,
    },
    /// Manage API tokens (`Authorization: Bearer …`).
    Token {
        #[command(subcommand)]
        command: CredentialCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialCommand {
    /// Create one and print it (only it) on standard output.
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// User id.
        #[arg(long)]
        user: String,
        /// Lifetime in hours (default: 24 for a session, 90 days for a token).
        #[arg(long)]
        ttl_hours: Option<u32>,
        /// What the credential may do in its tenant: `member` (read, re-test, connect and
        /// disconnect one's own accounts, use agents' tools) or `admin` (everything).
        #[arg(long, default_value = "member", value_parser = ["admin", "member"])]
        role: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// A failure of a command, printed on standard error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CliError(String);

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError(e.to_string())
}

async fn open_store(
    args: &StoreArgs,
    clock: Arc<dyn Clock>,
    aws: &AwsConfig,
) -> Result<Arc<dyn Store>, CliError> {
    Ok(match args.store {
        StoreKind::Sqlite => {
            Arc::new(SqliteStore::open(&args.data_dir.join("studio.db"), clock).map_err(fail)?)
        }
        StoreKind::Dynamodb => {
            let store = DynamoStore::from_sdk(aws, &args.table, clock);
            store.ensure_table().await.map_err(fail)?;
            Arc::new(store)
        }
    })
}

/// Builds the state of the local stack: insecure HTTP allowed (remote servers on loopback are the
/// norm on a laptop).
pub async fn local_state(
    args_data_dir: &Path,
    store: Arc<dyn Store>,
    kms_key_id: Option<&str>,
    aws: &AwsConfig,
) -> Result<AppState, String> {
    let keys: Arc<dyn KeyProvider> = match kms_key_id {
        Some(key_id) => Arc::new(KmsKeyProvider::from_sdk(aws, key_id)),
        None => Arc::new(
            LocalKeyProvider::load_or_create(&args_data_dir.join("master.key"))
                .map_err(|e| e.to_string())?,
        ),
    };
    let mut state = AppState::local(store, keys, aws, true).map_err(|e| e.to_string())?;
    // One process serves every stream: a session's stream of tool changes costs a task, not a
    // Lambda execution (`MCP_SESSION_STREAMS=false` turns it off).
    state.mcp_session_streams = std::env::var("MCP_SESSION_STREAMS").as_deref() != Ok("false");
    // A public https address (a tunnel, say) makes the laptop an OAuth client identified by its
    // client ID metadata document, as in a deployment (an http one serves only as the URL MCP
    // access tokens are bound to, below).
    if let Some(base) = std::env::var("PUBLIC_BASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty() && !v.trim().starts_with("http://"))
    {
        let identity = ClientIdentity::new(
            base.trim(),
            std::env::var("CLIENT_METADATA_URL").ok().as_deref(),
            std::env::var("CLIENT_REDIRECT_URIS").ok().as_deref(),
        )
        .map_err(|e| e.to_string())?;
        state.client_identity = Some(Arc::new(identity));
    }
    // MCP clients may sign in at an authorization server of the laptop's (`MCP_AUTH_ISSUER` and
    // the rest, as the mcp-gateway function reads them; http allowed here).
    if let Some(auth) = McpAuthorization::from_lookup(&|name| std::env::var(name).ok(), true)
        .map_err(|e| e.to_string())?
    {
        state.mcp_authorization = Some(ResourceServer::new(auth, state.http.clone()));
    }
    Ok(state)
}

/// The dev session printed at start: reused from `<data-dir>/dev-session` while valid.
async fn dev_session(
    store: &dyn Store,
    clock: &dyn Clock,
    data_dir: &Path,
) -> Result<SecretString, CliError> {
    let path = data_dir.join("dev-session");
    if let Ok(saved) = std::fs::read_to_string(&path) {
        let saved = SecretString::from(saved.trim().to_owned());
        if session::authenticate(store, &saved)
            .await
            .map_err(fail)?
            .is_some_and(|p| p.role == Role::Admin)
        {
            return Ok(saved);
        }
    }
    let principal = Principal::admin(DEV_TENANT, DEV_USER);
    let id = session::create(
        store,
        clock,
        &principal,
        CredentialKind::Session,
        time::Duration::days(30),
    )
    .await
    .map_err(fail)?;
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(id.expose_secret().as_bytes()))
        .map_err(fail)?;
    Ok(id)
}

async fn serve(addr: SocketAddr, args: StoreArgs) -> Result<(), CliError> {
    let aws = load_aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = open_store(&args, Arc::clone(&clock), &aws).await?;
    // Recent records as deployed (one process here, so every write is seen at once).
    let state = local_state(
        &args.data_dir,
        Arc::clone(&store),
        args.kms_key_id.as_deref(),
        &aws,
    )
    .await
    .map_err(CliError)?
    .with_recent_records(std::time::Duration::from_secs(2));
    let session_id = dev_session(store.as_ref(), clock.as_ref(), &args.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| fail(format!("bind {addr}: {e}")))?;
    let base = format!("http://{}", listener.local_addr().map_err(fail)?);
    eprintln!(
        "Agent Studio Connect listening on {base}/ai/api/v1 (store: {:?}, data: {})",
        args.store,
        args.data_dir.display()
    );
    eprintln!(
        "Dev session (tenant {DEV_TENANT}, user {DEV_USER}, role admin): {}",
        session_id.expose_secret()
    );
    eprintln!(
        "Try:\n  curl -s {base}/ai/api/v1/auth_configs -H 'Cookie: sessionid={}'",
        session_id.expose_secret()
    );
    eprintln!(
        "Console (this link fills in the dev session to sign the browser in):\n  {base}{}#session={}",
        console::SIGN_IN_PATH,
        session_id.expose_secret()
    );
    tokio::spawn(work_every_interval(state.clone()));
    crate::serve(listener, crate::app(state), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(fail)
}

/// Pass settings of the local stack: `REFRESH_*` from the environment, as in Lambda (so an
/// operator, a test or a benchmark can shrink a window), with `lookahead_seconds` of lookahead.
fn local_pass_settings(lookahead_seconds: u64) -> Result<PassSettings, CliError> {
    let settings = PassSettings::from_lookup(|name| std::env::var(name).ok())
        .map_err(|e| CliError(e.to_string()))?;
    Ok(PassSettings {
        lookahead_seconds: i64::try_from(lookahead_seconds).unwrap_or(i64::MAX / 4),
        ..settings
    })
}

/// Health settings of the local stack: `HEALTH_CHECK_*` from the environment, as in Lambda.
fn local_health_settings() -> Result<HealthSettings, CliError> {
    HealthSettings::from_lookup(|name| std::env::var(name).ok())
        .map_err(|e| CliError(e.to_string()))
}

/// The deployment's background work, in the background of `serve`: every interval, a planner
/// run (as the planner function's schedule) and its jobs on in-process workers (as the worker
/// function): due refreshes, health checks (each server every `HEALTH_CHECK_INTERVAL_SECONDS`,
/// default 900), webhook retries and sweeps. Settings come from the environment as in Lambda.
async fn work_every_interval(state: AppState) {
    let (ctx, plan) = match work_context(state) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "background work (refreshes, health checks) is off");
            return;
        }
    };
    let limits = WorkerLimits::default();
    let mut ticks = tokio::time::interval(REFRESH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let budget_end = tokio::time::Instant::now() + REFRESH_INTERVAL.mul_f32(0.9);
        let (planned, worked) =
            Box::pin(planner::plan_and_run(&ctx, &plan, &limits, budget_end)).await;
        if !planned.sent.is_empty() || planned.errors > 0 || worked.failed > 0 {
            tracing::info!(?planned, ?worked, "background work");
        }
    }
}

/// The jobs' context and the planner's settings, from the environment as in Lambda
/// (`PLAN_*`, `REFRESH_*`, `HEALTH_CHECK_*`).
fn work_context(state: AppState) -> Result<(work::Context, PlanSettings), CliError> {
    let plan = PlanSettings::from_lookup(|name| std::env::var(name).ok())
        .map_err(|e| CliError(e.to_string()))?;
    let refresh = local_pass_settings(REFRESH_INTERVAL.as_secs())?;
    Ok((
        work::Context::new(state, refresh, local_health_settings()?),
        plan,
    ))
}

/// Runs `health-check`: one pass (over every server with `--all`), the report on standard output.
async fn health_check(all: bool, args: StoreArgs) -> Result<(), CliError> {
    let state = pass_state(&args).await?;
    let settings = local_health_settings()?;
    let budget_end = tokio::time::Instant::now() + std::time::Duration::from_secs(300);
    let report = if all {
        server_checks::run_all(&state, &settings, budget_end).await
    } else {
        server_checks::run(&state, &settings, budget_end).await
    };
    print_report(
        serde_json::to_string_pretty(&report),
        report.errors,
        "check(s)",
    )
}

/// Runs `refresh-due`: one pass, the report on standard output.
async fn refresh_due(lookahead: u64, args: StoreArgs) -> Result<(), CliError> {
    let state = pass_state(&args).await?;
    let settings = local_pass_settings(lookahead)?;
    let budget_end = tokio::time::Instant::now() + std::time::Duration::from_secs(300);
    let report = refresh_pass::run(&state, &settings, budget_end).await;
    print_report(
        serde_json::to_string_pretty(&report),
        report.errors,
        "refresh(es)",
    )
}

/// Runs `work`: one planner over an in-process queue and its jobs, both reports on standard
/// output.
async fn work(args: StoreArgs) -> Result<(), CliError> {
    let (ctx, plan) = work_context(pass_state(&args).await?)?;
    let budget_end = tokio::time::Instant::now() + std::time::Duration::from_secs(300);
    let limits = WorkerLimits::default();
    let (planned, worked) = planner::plan_and_run(&ctx, &plan, &limits, budget_end).await;
    let report = serde_json::json!({"planned": planned, "worked": worked});
    print_report(
        serde_json::to_string_pretty(&report),
        planned.errors + worked.failed,
        "job(s) or plan step(s)",
    )
}

/// The state a one-off pass runs with: the store and keys `args` name.
async fn pass_state(args: &StoreArgs) -> Result<AppState, CliError> {
    let aws = load_aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = open_store(args, clock, &aws).await?;
    local_state(&args.data_dir, store, args.kms_key_id.as_deref(), &aws)
        .await
        .map_err(CliError)
}

/// Prints a pass's report (its JSON text); internal errors (`errors` of `what`) fail the command.
fn print_report(
    json: Result<String, serde_json::Error>,
    errors: u64,
    what: &str,
) -> Result<(), CliError> {
    println!("{}", json.map_err(fail)?);
    if errors > 0 {
        return Err(CliError(format!(
            "{errors} {what} failed with internal errors; see the log"
        )));
    }
    Ok(())
}

async fn create_credential(
    kind: CredentialKind,
    command: CredentialCommand,
) -> Result<(), CliError> {
    let CredentialCommand::Create {
        tenant,
        user,
        ttl_hours,
        role,
        store: args,
    } = command;
    let role: Role = role.parse().map_err(CliError)?;
    let aws = load_aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = open_store(&args, Arc::clone(&clock), &aws).await?;
    let default_hours = match kind {
        CredentialKind::Session => 24,
        CredentialKind::ApiToken => 24 * 90,
    };
    let ttl = time::Duration::hours(i64::from(ttl_hours.unwrap_or(default_hours)));
    let principal = Principal::new(tenant, user, role);
    let id = session::create(store.as_ref(), clock.as_ref(), &principal, kind, ttl)
        .await
        .map_err(fail)?;
    println!("{}", id.expose_secret());
    Ok(())
}

/// A usage error (exit code 2), as opposed to a failure (exit code 1).
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Runs `probe`: a connection test from the command line, with the local stack's network policy
/// (http and loopback allowed).
async fn probe(url: &str, headers: &[String], bearer: Option<&str>, timeout: u64) -> ExitCode {
    use shared::{
        mcp::{McpTarget, TestStatus, test_connection},
        net::{HttpClient, NetPolicy},
    };
    let Ok(url) = url::Url::parse(url) else {
        return usage(format!("{url:?} is not an absolute URL"));
    };
    let mut map = http::HeaderMap::new();
    for header in headers {
        let Some((name, value)) = header.split_once(':') else {
            return usage(format!(
                "--header {header:?} must look like \"Name: value\""
            ));
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.trim().as_bytes()),
            http::HeaderValue::from_str(value.trim()),
        ) else {
            return usage(format!("--header {header:?} is not a valid HTTP header"));
        };
        map.append(name, value);
    }
    if let Some(token) = bearer {
        let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {token}")) else {
            return usage("--bearer is not a valid token");
        };
        map.insert(http::header::AUTHORIZATION, value);
    }
    let client = match HttpClient::new(NetPolicy::local()) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let target = McpTarget {
        url,
        headers: map,
        timeout: std::time::Duration::from_secs(timeout.max(1)),
    };
    let result = test_connection(&client, &target).await;
    match serde_json::to_string_pretty(&result) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: {e}"),
    }
    if result.status == TestStatus::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Parses the command line and runs the command; exit code 2 on usage errors, 1 on failures.
pub async fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    shared::telemetry::init_local();
    let result = match cli.command {
        Command::Probe {
            url,
            headers,
            bearer,
            timeout,
        } => return probe(&url, &headers, bearer.as_deref(), timeout).await,
        Command::ConformanceClient { url } => return crate::conformance::run(&url).await,
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::openapi_document()).unwrap_or_default()
            );
            Ok(())
        }
        Command::Serve { addr, store } => serve(addr, store).await,
        Command::RefreshDue { lookahead, store } => refresh_due(lookahead, store).await,
        Command::HealthCheck { all, store } => health_check(all, store).await,
        Command::Work { store } => work(store).await,
        Command::Session { command } => create_credential(CredentialKind::Session, command).await,
        Command::Token { command } => create_credential(CredentialKind::ApiToken, command).await,
    };
    // What the spans and metrics still hold is exported before the process ends.
    shared::telemetry::otel::flush().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
