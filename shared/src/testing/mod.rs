//! Helpers for tests (feature `test-util`, enabled only by test code): a throwaway local state,
//! API Gateway REST proxy events (stage in the path, authorizer context of tenant `acme`, user
//! `alice`), one invocation through the real `lambda_http` adapter, ports for servers run as
//! child processes, a store that fails chosen writes (fault injection), a key provider that
//! counts its calls, a rewrite of a stored token record, and the README's walkthroughs run as
//! written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::Router;
use lambda_http::{Context, LambdaEvent, Service, request::LambdaRequest};
use serde_json::{Value, json};

use crate::{
    AppState, api,
    clock::SystemClock,
    config::aws_config_for_endpoint,
    crypto::{CryptoError, DataKey, EncryptionContext, KeyProvider, LocalKeyProvider},
    model::token,
    store::{
        SqliteStore, Store, StoreError,
        hooked::{Hooked, WriteHook},
    },
};

/// The REST proxy event template (`RESOURCE`, `PATH`, `METHOD` placeholders).
const REST_EVENT: &str = include_str!("rest-event.json");

/// A state on SQLite and a local key in `dir`, with Lambda's network policy (no `http://`, no
/// private addresses) unless `allow_insecure_http`.
pub async fn local_state(dir: &Path, allow_insecure_http: bool) -> AppState {
    let keys = Arc::new(LocalKeyProvider::load_or_create(&dir.join("master.key")).unwrap());
    local_state_with_keys(dir, allow_insecure_http, keys).await
}

/// [`local_state`] with the key provider `keys`.
pub async fn local_state_with_keys(
    dir: &Path,
    allow_insecure_http: bool,
    keys: Arc<dyn KeyProvider>,
) -> AppState {
    let store = Arc::new(SqliteStore::open(&dir.join("db.sqlite"), Arc::new(SystemClock)).unwrap());
    AppState::local(
        store,
        keys,
        &aws_config_for_endpoint("http://127.0.0.1:9").await,
        allow_insecure_http,
    )
    .unwrap()
}

/// One REST proxy event for `method` on `path` (route template `resource`), with `query` as API
/// Gateway's single- and multi-value parameters and an optional JSON body.
pub fn rest_event(
    method: &str,
    resource: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> String {
    let mut event: Value = serde_json::from_str(
        &REST_EVENT
            .replace("RESOURCE", resource)
            .replace("/prod/PATH", &format!("/prod{path}"))
            .replace("PATH", path)
            .replace("METHOD", method),
    )
    .unwrap();
    if !query.is_empty() {
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in query {
            single.insert((*name).into(), json!(value));
            multi
                .entry(*name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(json!(value));
        }
        event["queryStringParameters"] = Value::Object(single);
        event["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    event.to_string()
}

/// The MCP conformance suite (`@modelcontextprotocol/conformance`) as the test dependencies
/// install it: Node 22 and the suite's command line. A test that needs it fails, saying how to
/// install it, when it is missing.
pub fn conformance_suite() -> (std::path::PathBuf, std::path::PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/conformance");
    let node = root.join("node_modules/.bin/node");
    let cli = root.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        node.exists() && cli.exists(),
        "the MCP conformance suite or Node 22 is missing: run `bash infra/scripts/test-deps.sh`"
    );
    (node, cli)
}

/// Creates, as `principal`, an agent without servers (on a new Bedrock LLM config); its id.
pub async fn agent_without_servers(state: &AppState, principal: &api::Principal) -> String {
    use crate::model::{agent::StoredAgent, llm_config::StoredLlmConfig, resource};
    let llm = resource::create::<StoredLlmConfig>(
        state,
        principal,
        json!({"name": "bedrock", "provider": "bedrock", "model": "anthropic.claude-sonnet-4"}),
    )
    .await
    .unwrap();
    let agent = resource::create::<StoredAgent>(
        state,
        principal,
        json!({"name": "lonely", "prompt": "No tools.", "llm_config_id": llm.meta.id}),
    )
    .await
    .unwrap();
    agent.meta.id
}

/// What the adapter answered.
#[derive(Debug)]
pub struct AdapterResponse {
    /// `statusCode`.
    pub status: u16,
    /// `multiValueHeaders`.
    pub headers: Value,
    /// The body parsed as JSON (`null` when empty, a string when it is not JSON).
    pub body: Value,
}

/// Sends `event` through the Lambda adapter to `router` (with the API fallbacks).
pub async fn invoke(router: Router, event: &str) -> AdapterResponse {
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let mut adapter = lambda_http::Adapter::from(api::lambda::service(api::with_fallbacks(router)));
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    let response = serde_json::to_value(response).unwrap();
    AdapterResponse {
        status: u16::try_from(response["statusCode"].as_u64().unwrap()).unwrap(),
        headers: response["multiValueHeaders"].clone(),
        // A JSON body parsed; any other (an event stream) as its text.
        body: response["body"]
            .as_str()
            .filter(|b| !b.is_empty())
            .map_or(Value::Null, |b| {
                serde_json::from_str(b).unwrap_or_else(|_| Value::String(b.to_owned()))
            }),
    }
}

/// A free TCP port on 127.0.0.1 for a server run as a child process, chosen below the kernel's
/// ephemeral range. A port from `bind(0)` is free only until the check's socket closes: until
/// the child binds it, another test's in-process listener (bound to port 0) or an outgoing
/// connection may be given the same port, and the test would then talk to the wrong server.
/// Ports below the ephemeral range are never handed out that way.
pub fn child_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const LOWEST: u16 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    assert!(
        ephemeral_low > LOWEST + 1_000,
        "the ephemeral port range starts at {ephemeral_low}: no room below it for test servers"
    );
    let span = u64::from(ephemeral_low - LOWEST);
    // A per-process random seed, so that concurrent test processes probe different ports.
    let seed = std::collections::hash_map::RandomState::new();
    for attempt in 0u64..10_000 {
        let mut hasher = seed.build_hasher();
        hasher.write_u64(attempt);
        let port = LOWEST + u16::try_from(hasher.finish() % span).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOWEST} and {ephemeral_low}");
}

/// A store that answers chosen writes with [`StoreError::Unavailable`] and passes everything else
/// to the store it wraps: for proving what survives a failing store.
pub type FaultyStore = Hooked<Script>;

/// Which of the next writes fail, in order (`true` fails it); writes past the script pass.
pub struct Script(std::sync::Mutex<std::collections::VecDeque<bool>>);

impl FaultyStore {
    /// Wraps `inner`; `script` says which of the next writes fail (`true`).
    pub fn scripted(inner: Arc<dyn Store>, script: &[bool]) -> Self {
        Hooked::new(
            inner,
            Script(std::sync::Mutex::new(script.iter().copied().collect())),
        )
    }

    /// Whether every scripted write has happened.
    pub fn script_done(&self) -> bool {
        self.hook().0.lock().unwrap().is_empty()
    }
}

impl WriteHook for Script {
    fn before(&self, _: &[(&str, &str)]) -> Result<(), StoreError> {
        if self.0.lock().unwrap().pop_front().unwrap_or(false) {
            return Err(StoreError::Unavailable("injected write failure".into()));
        }
        Ok(())
    }

    fn after(&self, _: &[(&str, &str)]) {}
}

/// An EMF metrics line as JSON, once it is shown to give every metric it declares a count.
pub fn emf_values(line: &str) -> Value {
    let line: Value = serde_json::from_str(line).expect("an EMF line is JSON");
    let metrics = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .expect("an EMF line declares its metrics");
    for metric in metrics {
        let name = metric["Name"].as_str().expect("a metric has a name");
        assert!(line[name].is_u64(), "{name} has a value in {line}");
    }
    line
}

/// A local key provider that counts its calls (KMS `GenerateDataKey` and `Decrypt` in
/// production), to measure what an operation costs in key-provider calls.
#[derive(Debug)]
pub struct CountingKeys {
    inner: LocalKeyProvider,
    generated: AtomicU64,
    decrypted: AtomicU64,
}

impl CountingKeys {
    /// A counting provider over the local master key in `dir`.
    pub fn in_dir(dir: &Path) -> Arc<Self> {
        Arc::new(Self {
            inner: LocalKeyProvider::load_or_create(&dir.join("master.key")).unwrap(),
            generated: AtomicU64::new(0),
            decrypted: AtomicU64::new(0),
        })
    }

    /// Data keys generated so far.
    pub fn generated(&self) -> u64 {
        self.generated.load(Ordering::SeqCst)
    }

    /// Data keys decrypted so far.
    pub fn decrypted(&self) -> u64 {
        self.decrypted.load(Ordering::SeqCst)
    }

    /// All calls so far.
    pub fn calls(&self) -> u64 {
        self.generated() + self.decrypted()
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        self.generated.store(0, Ordering::SeqCst);
        self.decrypted.store(0, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl KeyProvider for CountingKeys {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, CryptoError> {
        self.generated.fetch_add(1, Ordering::SeqCst);
        self.inner.generate_data_key(context).await
    }

    async fn decrypt_data_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, CryptoError> {
        self.decrypted.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt_data_key(key_id, wrapped, context).await
    }

    fn signing_keys(&self) -> std::sync::Arc<dyn crate::crypto::signing::SigningKeys> {
        self.inner.signing_keys()
    }
}

/// Rewrites the token record of auth config `id` with `edit`, conditionally on the version read
/// (the item stays in the refresh index at its `next_refresh_at` while refreshable).
pub async fn rewrite_token(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    edit: impl FnOnce(&mut token::TokenRecord),
) {
    let (mut record, version) = token::load(state, tenant_id, id)
        .await
        .expect("read the token item")
        .expect("a token item");
    edit(&mut record);
    token::write_record(state, tenant_id, id, &record, version)
        .await
        .expect("rewrite the token item");
}

/// The bash blocks of the README walkthrough `name` (between `<!-- walkthrough:name -->` and
/// `<!-- /walkthrough:name -->`), joined into one script.
pub fn readme_walkthrough(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find(&format!("<!-- walkthrough:{name} -->"))
        .expect("walkthrough marker");
    let end = readme
        .find(&format!("<!-- /walkthrough:{name} -->"))
        .expect("walkthrough end marker");
    let script = readme[start..end]
        .split("```bash\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.contains("curl"), "the walkthrough {name} was found");
    script
}

/// Runs `script` with `bash -euo pipefail` and `env`; fails on any error (with its output) and
/// returns its standard output.
pub async fn run_script(script: &str, env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Creates a secret named `name` holding `value` in the Secrets Manager of `aws`, tagged
/// `agent-studio:tenant=<tenant>` when a tenant is given; returns its ARN.
pub async fn create_secret(
    aws: &crate::config::AwsConfig,
    name: &str,
    value: &str,
    tenant: Option<&str>,
) -> String {
    let mut request = aws_sdk_secretsmanager::Client::new(aws)
        .create_secret()
        .name(name)
        .secret_string(value);
    if let Some(tenant) = tenant {
        let tag = aws_sdk_secretsmanager::types::Tag::builder()
            .key(crate::secrets::TENANT_TAG)
            .value(tenant)
            .build();
        request = request.tags(tag);
    }
    request.send().await.unwrap().arn.unwrap()
}
