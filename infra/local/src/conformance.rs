//! `studio-local conformance-client <url>`: a headless client for the MCP conformance suite
//! (`@modelcontextprotocol/conformance`, client mode). It runs the whole API in-process on a
//! throw-away store and drives it over loopback HTTP exactly as a user and an agent would:
//! create an auth config (`discover_from` the server URL, or client credentials), authorize,
//! play the browser (fetch the authorization URL without following it and bring the `Location`
//! query to the callback), create the MCP server config (the connection test), then list and
//! call the tools through an agent. Step-up and authorization server changes are handled the way
//! the API asks its users to: authorize again, or re-discover then authorize again.
//!
//! The suite appends the server URL as the last argument and names the scenario in
//! `MCP_CONFORMANCE_SCENARIO`; `MCP_CONFORMANCE_CONTEXT` holds a pre-registered client's
//! credentials where a scenario has one (a secret, or a private key for `private_key_jwt`).

use std::{process::ExitCode, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::{
    AppState,
    api::Principal,
    clock::{Clock, SystemClock},
    config::load_aws_config,
    crypto::LocalKeyProvider,
    session::{self, CredentialKind},
    store::{SqliteStore, Store},
};

/// The redirect URI the conformance "browser" is sent back to (nothing listens there: the
/// `Location` header is read instead of followed).
const REDIRECT_URI: &str = "http://localhost:8080/ai/api/v1/oauth/callback";
/// The tool of `json-schema-2020-12-preservation` that takes another tool's schema back.
const ECHO_TOOL: &str = "json_schema_echo";
/// Authorizations one run may start: the first, then at most two step-ups or migrations.
const MAX_AUTHORIZATIONS: usize = 3;

/// A failure of the run, printed on standard error (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RunError(String);

fn fail(e: impl std::fmt::Display) -> RunError {
    RunError(e.to_string())
}

/// The scenario's inputs from the environment.
#[derive(Debug, Default)]
struct Scenario {
    name: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// A pre-registered client's private key (PEM), for `private_key_jwt`.
    private_key_pem: Option<String>,
    /// The tool calls a scenario prescribes (name and arguments), instead of one call per tool.
    tool_calls: Option<Vec<(String, Value)>>,
}

impl Scenario {
    fn from_env() -> Result<Self, RunError> {
        let name = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
        let context: Value = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| fail(format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}")))?,
            Err(_) => Value::Null,
        };
        let text = |key: &str| context.get(key).and_then(Value::as_str).map(str::to_owned);
        let tool_calls = context
            .get("toolCalls")
            .and_then(Value::as_array)
            .map(|calls| {
                calls
                    .iter()
                    .filter_map(|call| {
                        let name = call.get("name")?.as_str()?.to_owned();
                        Some((
                            name,
                            call.get("arguments").cloned().unwrap_or_else(|| json!({})),
                        ))
                    })
                    .collect()
            });
        Ok(Self {
            name,
            client_id: text("client_id"),
            client_secret: text("client_secret"),
            private_key_pem: text("private_key_pem"),
            tool_calls,
        })
    }

    fn is_auth(&self) -> bool {
        self.name.starts_with("auth/")
    }

    fn is_client_credentials(&self) -> bool {
        self.name.starts_with("auth/client-credentials")
    }
}

/// The in-process API and a user's session with it.
struct Api {
    base: String,
    cookie: String,
    http: reqwest::Client,
}

/// An answer of the API: status and JSON body.
type Answer = (StatusCode, Value);

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, RunError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Cookie", &self.cookie);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(fail)?;
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        eprintln!("{method} {path} -> {status}");
        Ok((status, body))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Answer, RunError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Sends `method path`, expects `expected`; the answer's body.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Value, RunError> {
        let (status, answer) = self.call(method.clone(), path, body).await?;
        if status != expected {
            return Err(RunError(format!(
                "{method} {path} answered {status}: {answer}"
            )));
        }
        Ok(answer)
    }

    /// POSTs `body`, expects 201; the new id.
    async fn create(&self, path: &str, body: Value) -> Result<String, RunError> {
        let answer = self
            .expect(Method::POST, path, Some(body), StatusCode::CREATED)
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| RunError(format!("POST {path} answered no id: {answer}")))
    }
}

/// Starts the API on a loopback port over a fresh store in `dir`; the API and a session for it.
async fn start_api(
    dir: &std::path::Path,
    client_metadata_url: Option<String>,
) -> Result<Api, RunError> {
    let aws = load_aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.join("studio.db"), Arc::clone(&clock)).map_err(fail)?);
    let keys = Arc::new(LocalKeyProvider::load_or_create(&dir.join("master.key")).map_err(fail)?);
    let mut state = AppState::local(Arc::clone(&store), keys, &aws, true).map_err(fail)?;
    state.client_identity = client_metadata_url.map(|url| {
        Arc::new(shared::config::ClientIdentity {
            metadata_url: url,
            redirect_uris: vec![REDIRECT_URI.to_owned()],
        })
    });
    let principal = Principal::admin("conformance", "conformance");
    let session = session::create(
        store.as_ref(),
        clock.as_ref(),
        &principal,
        CredentialKind::Session,
        time::Duration::hours(1),
    )
    .await
    .map_err(fail)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(fail)?;
    let base = format!("http://{}", listener.local_addr().map_err(fail)?);
    tokio::spawn(async move {
        let _ = crate::serve(listener, crate::app(state), std::future::pending()).await;
    });
    Ok(Api {
        base,
        cookie: format!("sessionid={}", session.expose_secret()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(fail)?,
    })
}

/// Plays the browser: opens the authorization URL without following its redirect and returns
/// the query the authorization server sent back to the redirect URI.
async fn browse(authorization_url: &str) -> Result<String, RunError> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(fail)?;
    let response = browser.get(authorization_url).send().await.map_err(fail)?;
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            RunError(format!(
                "the authorization endpoint answered {} without a redirect",
                response.status()
            ))
        })?;
    let back = url::Url::parse(location).map_err(fail)?;
    Ok(back.query().unwrap_or_default().to_owned())
}

/// One authorization of auth config `id`: authorize, browse, callback.
async fn authorize(api: &Api, id: &str) -> Result<(), RunError> {
    let redirect: String = url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect();
    let started = api
        .expect(
            Method::POST,
            &format!("/ai/api/v1/oauth/{id}/authorize?redirect_uri={redirect}"),
            Some(json!({})),
            StatusCode::OK,
        )
        .await?;
    let url = started["authorization_url"].as_str().unwrap_or_default();
    let query = browse(url).await?;
    api.expect(
        Method::GET,
        &format!("/ai/api/v1/oauth/callback?{query}"),
        None,
        StatusCode::OK,
    )
    .await?;
    Ok(())
}

/// What the API asks of its user after a refused connection test or tool call.
enum Remedy {
    /// Authorize again (the server needs more scopes).
    Authorize,
    /// Discover again, then authorize (the server moved to another authorization server).
    Rediscover,
}

/// The remedy a refused connection test (422) or tool call (409) names in its problem body.
fn remedy(answer: &Value) -> Option<Remedy> {
    let reauthorization = answer
        .get("reauthorization")
        .or_else(|| answer["connection_test_result"].get("reauthorization"))?;
    match reauthorization["reason"].as_str()? {
        "AUTHORIZATION_SERVER_CHANGED" => Some(Remedy::Rediscover),
        "INSUFFICIENT_SCOPE"
            if reauthorization["missing_scopes"]
                .as_array()
                .is_some_and(|m| !m.is_empty()) =>
        {
            Some(Remedy::Authorize)
        }
        _ => None,
    }
}

/// The auth config the scenario calls for, authorized; its id (none for unauthenticated ones).
async fn auth_config(
    api: &Api,
    scenario: &Scenario,
    url: &str,
) -> Result<Option<String>, RunError> {
    if !scenario.is_auth() {
        return Ok(None);
    }
    let mut body = if scenario.is_client_credentials() {
        json!({
            "name": "conformance",
            "auth_type": "CLIENT_CREDENTIALS",
            "discover_from": url,
        })
    } else {
        json!({
            "name": "conformance",
            "auth_type": "AUTHORIZATION_CODE",
            "discover_from": url,
            "allowed_redirect_uris": [REDIRECT_URI],
        })
    };
    if let Some(client_id) = &scenario.client_id {
        body["client_id"] = json!(client_id);
    }
    if let Some(secret) = &scenario.client_secret {
        body["client_secret"] = json!(secret);
    }
    if let Some(pem) = &scenario.private_key_pem {
        body["token_endpoint_auth_method"] = json!("private_key_jwt");
        body["private_key"] = json!(pem);
    }
    let id = api.create("/ai/api/v1/auth_configs", body).await?;
    if !scenario.is_client_credentials() {
        authorize(api, &id).await?;
    }
    Ok(Some(id))
}

/// Runs `work` (a connection test or tool call); while the answer asks for a new authorization,
/// gives it (at most [`MAX_AUTHORIZATIONS`] in all, counting `authorizations` already made) and
/// runs `work` again.
async fn with_remedies<F, Fut>(
    api: &Api,
    url: &str,
    auth: Option<&str>,
    authorizations: &mut usize,
    mut work: F,
) -> Result<Value, RunError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Result<Value, Value>, RunError>>,
{
    loop {
        let refused = match work().await? {
            Ok(done) => return Ok(done),
            Err(refused) => refused,
        };
        let (Some(id), Some(remedy)) = (auth, remedy(&refused)) else {
            return Err(RunError(format!("refused: {refused}")));
        };
        if *authorizations >= MAX_AUTHORIZATIONS {
            return Err(RunError(format!(
                "still refused after {authorizations} authorizations: {refused}"
            )));
        }
        if let Remedy::Rediscover = remedy {
            api.expect(
                Method::PATCH,
                &format!("/ai/api/v1/auth_configs/{id}"),
                Some(json!({"discover_from": url})),
                StatusCode::OK,
            )
            .await?;
        }
        authorize(api, id).await?;
        *authorizations += 1;
    }
}

/// The arguments to call a listed tool with: its schema's required string members filled in.
fn arguments_for(tool: &Value) -> Value {
    let schema = &tool["input_schema"];
    let mut arguments = serde_json::Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let value = match schema["properties"][name]["type"].as_str() {
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(true),
            Some("object") => json!({}),
            Some("array") => json!([]),
            _ => json!("conformance"),
        };
        arguments.insert(name.to_owned(), value);
    }
    Value::Object(arguments)
}

async fn run_scenario(
    url: &str,
    scenario: &Scenario,
    dir: &std::path::Path,
) -> Result<(), RunError> {
    let metadata_url = (scenario.name == "auth/basic-cimd")
        .then(|| "https://conformance-test.local/client-metadata.json".to_owned());
    let api = start_api(dir, metadata_url).await?;
    let auth = auth_config(&api, scenario, url).await?;
    let mut authorizations = usize::from(auth.is_some() && !scenario.is_client_credentials());

    let mut server_body = json!({"name": "conformance", "url": url});
    if let Some(id) = &auth {
        server_body["auth_config_id"] = json!(id);
    }
    let server = with_remedies(&api, url, auth.as_deref(), &mut authorizations, || {
        let body = server_body.clone();
        let api = &api;
        async move {
            let (status, answer) = api.post("/ai/api/v1/config/mcp-server", body).await?;
            Ok(if status == StatusCode::CREATED {
                Ok(answer)
            } else {
                Err(answer)
            })
        }
    })
    .await?;
    let server_id = server["id"].as_str().unwrap_or_default().to_owned();

    let llm = api
        .create(
            "/ai/api/v1/config/llm",
            json!({"name": "conformance", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-unused"}),
        )
        .await?;
    let agent = api
        .create(
            "/ai/api/v1/config/agent",
            json!({"name": "conformance", "prompt": "Use the tools.", "llm_config_id": llm,
                   "mcp_server_config_ids": [server_id]}),
        )
        .await?;
    let catalogue = api
        .expect(
            Method::GET,
            &format!("/ai/api/v1/agent/{agent}/tools"),
            None,
            StatusCode::OK,
        )
        .await?;
    let calls: Vec<Value> = match &scenario.tool_calls {
        // Listing is the scenario: its server answers no tool call.
        _ if scenario.name == "json-schema-ref-no-deref" => Vec::new(),
        // The suite's instruction: echo the other tool's input schema, as listed, verbatim.
        _ if scenario.name == "json-schema-2020-12-preservation" => {
            let tools = catalogue["tools"].as_array().cloned().unwrap_or_default();
            let focal = tools
                .iter()
                .find(|tool| tool["name"] != ECHO_TOOL)
                .map(|tool| tool["input_schema"].clone())
                .unwrap_or(Value::Null);
            vec![json!({"tool": ECHO_TOOL, "arguments": {"schema": focal}})]
        }
        Some(calls) => calls
            .iter()
            .map(|(name, arguments)| json!({"tool": name, "arguments": arguments}))
            .collect(),
        None => catalogue["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|tool| json!({"tool": tool["name"], "arguments": arguments_for(tool)}))
            .collect(),
    };
    for body in calls {
        with_remedies(&api, url, auth.as_deref(), &mut authorizations, || {
            let body = body.clone();
            let api = &api;
            let path = format!("/ai/api/v1/agent/{agent}/tools/call");
            async move {
                let (status, answer) = api.post(&path, body).await?;
                Ok(if status == StatusCode::OK {
                    Ok(answer)
                } else {
                    Err(answer)
                })
            }
        })
        .await?;
    }
    Ok(())
}

/// Runs the client against the server at `url`; exit code 0 when every step succeeded.
pub async fn run(url: &str) -> ExitCode {
    let scenario = match Scenario::from_env() {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = std::env::temp_dir().join(format!(
        "studio-conformance-{}-{}",
        std::process::id(),
        SystemClock.epoch_seconds()
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let outcome = run_scenario(url, &scenario, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
