//! Real MCP servers for the tests, run as child processes on free loopback ports: the reference
//! server (npm `@modelcontextprotocol/server-everything`) and FastMCP servers (`servers/*.py`),
//! both installed into `.deps/` by `infra/scripts/test-deps.sh`. The OAuth authorization server
//! they can trust is in [`crate::oidc`].

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `path`, which the test dependencies provide; panics saying how to install them if it is missing.
pub fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: install the test dependencies with `bash infra/scripts/test-deps.sh` (or run the suite with infra/scripts/test.sh)",
        path.display()
    );
    path
}

/// A server process, killed when dropped.
pub struct ServerProcess {
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    _child: Child,
    _log: tempfile::NamedTempFile,
}

impl ServerProcess {
    /// The MCP endpoint, `<base>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// The requests a FastMCP server has seen so far (its `/_requests` log: method, headers).
    pub async fn requests_seen(&self) -> serde_json::Value {
        let log = reqwest::get(format!("{}/_requests", self.base));
        log.await
            .expect("the request log")
            .json()
            .await
            .expect("JSON")
    }
}

/// How long a child server may take to listen before it is started again. Generous: on a loaded
/// 2-core machine a Node or Python server's cold start competes with every other test's.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a child server that never listens is started before the test fails. (On a
/// fresh machine oidc-provider has been seen, rarely, alive but not listening after 90 s.)
const START_ATTEMPTS: u32 = 3;

fn tail(log: &tempfile::NamedTempFile) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let skip = text.chars().count().saturating_sub(2000);
    text.chars().skip(skip).collect()
}

pub(crate) async fn spawn(mut command: Command, port: u16) -> ServerProcess {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for attempt in 1..=START_ATTEMPTS {
        // Its output goes to a file that a failure to start quotes.
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let mut child = command
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .expect("the server process starts");
        let started = tokio::time::Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return ServerProcess {
                    base: format!("http://127.0.0.1:{port}"),
                    _child: child,
                    _log: log,
                };
            }
            // A server that exited (e.g. its port was taken meanwhile) fails now.
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the server for port {port} exited before listening: {status} ({command:?}); its output:\n{}",
                    tail(&log)
                );
            }
            if started.elapsed() >= START_TIMEOUT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "the server on port {port} did not listen within {START_TIMEOUT:?} (attempt {attempt} of {START_ATTEMPTS}, {command:?}); its output:\n{}",
            tail(&log)
        );
        let _ = child.kill().await;
    }
    panic!("the server on port {port} did not start in {START_ATTEMPTS} attempts ({command:?})");
}

/// Which transport server-everything speaks.
#[derive(Debug, Clone, Copy)]
pub enum EverythingTransport {
    /// Streamable HTTP at `/mcp`.
    StreamableHttp,
    /// Legacy HTTP+SSE at `/sse`.
    Sse,
}

/// Starts the reference server `server-everything`.
pub async fn server_everything(transport: EverythingTransport) -> ServerProcess {
    let script = require(
        repo_root()
            .join(".deps/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
    );
    let port = shared::testing::child_port();
    let mut command = Command::new("node");
    command.arg(script).arg(match transport {
        EverythingTransport::StreamableHttp => "streamableHttp",
        EverythingTransport::Sse => "sse",
    });
    command.env("PORT", port.to_string());
    spawn(command, port).await
}

/// How the FastMCP server authenticates.
#[derive(Debug, Clone)]
pub enum FastMcpAuth {
    /// No credentials.
    None,
    /// `Authorization: Bearer test-token-123`.
    Bearer,
    /// `X-Api-Key: test-key-456`.
    ApiKey,
    /// HTTP Basic with [`FASTMCP_BASIC_USER`] / [`FASTMCP_BASIC_PASSWORD`].
    Basic,
    /// `Authorization: Bearer <JWT>` issued by the authorization server `issuer` (e.g. a
    /// [`crate::oidc::OidcProvider`]) with `aud` equal to the server's own `<base>/mcp`; the
    /// server names `issuer` in its RFC 9728 metadata and in the `WWW-Authenticate` of its 401s.
    OAuth {
        /// The issuer URL, e.g. `http://127.0.0.1:PORT`; its keys are read from `<issuer>/jwks`.
        issuer: String,
    },
}

/// The Basic user the FastMCP server accepts.
pub const FASTMCP_BASIC_USER: &str = "agent";
/// The Basic password the FastMCP server accepts (reserved characters on purpose).
pub const FASTMCP_BASIC_PASSWORD: &str = "p:ss w%rd";

/// The bearer token the FastMCP server accepts.
pub const FASTMCP_BEARER: &str = "test-token-123";
/// The API key the FastMCP server accepts.
pub const FASTMCP_API_KEY: &str = "test-key-456";

/// What else the FastMCP server is started with; `None` keeps the script's default.
#[derive(Debug, Clone, Default)]
pub struct FastMcpOptions {
    /// The MCP endpoint's path (default `/mcp`; a trailing slash is kept).
    pub path: Option<&'static str>,
    /// The `X-Api-Key` value `FastMcpAuth::ApiKey` accepts (default [`FASTMCP_API_KEY`]).
    pub api_key: Option<&'static str>,
    /// `USER:PASSWORD` for `FastMcpAuth::Basic` (default [`FASTMCP_BASIC_USER`] and
    /// [`FASTMCP_BASIC_PASSWORD`]).
    pub basic: Option<&'static str>,
    /// The port, when a test must know the server's URL before it starts (e.g. to make it an
    /// authorization server's default resource); from [`shared::testing::child_port`].
    pub port: Option<u16>,
    /// Also serve the bank's annotated tools (`balance`, `transfer`, `close_account`).
    pub bank: bool,
}

impl FastMcpOptions {
    /// Options serving the MCP endpoint at `path`.
    pub fn at(path: &'static str) -> Self {
        Self {
            path: Some(path),
            ..Self::default()
        }
    }

    /// The same accepting `key` as `X-Api-Key`.
    pub fn with_api_key(self, key: &'static str) -> Self {
        Self {
            api_key: Some(key),
            ..self
        }
    }

    /// The same accepting `user:password` in HTTP Basic.
    pub fn with_basic(self, user_password: &'static str) -> Self {
        Self {
            basic: Some(user_password),
            ..self
        }
    }
}

/// Starts `servers/fastmcp_server.py` (`transport`: `http` or `sse`).
pub async fn fastmcp(auth: FastMcpAuth, transport: &str) -> ServerProcess {
    fastmcp_with(auth, transport, FastMcpOptions::default()).await
}

/// A FastMCP server over Streamable HTTP that accepts only tokens `issuer` issued for it.
pub async fn fastmcp_oauth(issuer: &str) -> ServerProcess {
    let auth = FastMcpAuth::OAuth {
        issuer: issuer.to_owned(),
    };
    fastmcp(auth, "http").await
}

/// Starts `servers/fastmcp_server.py` with `options`.
pub async fn fastmcp_with(
    auth: FastMcpAuth,
    transport: &str,
    options: FastMcpOptions,
) -> ServerProcess {
    let python = require(repo_root().join(".deps/venv/bin/python"));
    let port = options.port.unwrap_or_else(shared::testing::child_port);
    let mut command = Command::new(python);
    command
        .arg(repo_root().join("tests/servers/fastmcp_server.py"))
        .args([
            "--port",
            &port.to_string(),
            "--transport",
            transport,
            "--auth",
        ])
        .arg(match auth {
            FastMcpAuth::None => "none",
            FastMcpAuth::Bearer => "bearer",
            FastMcpAuth::ApiKey => "apikey",
            FastMcpAuth::Basic => "basic",
            FastMcpAuth::OAuth { .. } => "oauth",
        });
    if let FastMcpAuth::OAuth { issuer } = &auth {
        command.args(["--issuer", issuer]);
    }
    if options.bank {
        command.arg("--bank");
    }
    for (flag, value) in [
        ("--path", options.path),
        ("--api-key", options.api_key),
        ("--basic", options.basic),
    ] {
        if let Some(value) = value {
            command.args([flag, value]);
        }
    }
    spawn(command, port).await
}

/// Starts `infra/scripts/webhook-receiver.py` (Python's standard library only): it verifies
/// every delivery's Standard Webhooks signature with the secret in `secret_file` and appends
/// each verified event to `out` as a JSON line.
pub async fn webhook_receiver(
    secret_file: &std::path::Path,
    out: &std::path::Path,
) -> ServerProcess {
    let port = shared::testing::child_port();
    let mut command = Command::new("python3");
    command
        .arg(repo_root().join("infra/scripts/webhook-receiver.py"))
        .args(["--port", &port.to_string()])
        .arg("--secret-file")
        .arg(secret_file)
        .arg("--out")
        .arg(out);
    spawn(command, port).await
}
