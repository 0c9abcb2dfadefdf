//! Benchmark: what each API operation, and each refreshed token, costs in DynamoDB capacity and
//! in key-provider (KMS) calls — counted, not estimated.
//!
//! The stack runs on DynamoDB Local behind a counting proxy on loopback: every DynamoDB request
//! passes through it, asks for `ReturnConsumedCapacity: TOTAL`, and the proxy adds up, per
//! operation, the requests by API action and the read and write capacity units DynamoDB Local
//! reports (by item size and read consistency, as DynamoDB does; transactional ones doubled here,
//! as DynamoDB charges them). Key-provider calls are counted by a wrapper of the local key (each is one KMS
//! `GenerateDataKey` or `Decrypt` in production). Every request is the real one, through the HTTP
//! API with its authorizer and audit log.
//!
//!     STUDIO_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 \
//!       cargo run --release -p e2e --bin bench-cost
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use e2e::{
    oidc::{self, OidcOptions},
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
    tokens,
};
use serde_json::{Value, json};
use shared::{
    AppState,
    api::Principal,
    clock::SystemClock,
    model::{auth_config::StoredAuthConfig, credentials, resource, server_checks},
    store::DynamoStore,
    testing::CountingKeys,
};

/// What the proxy has counted since the last reset.
#[derive(Default, Clone)]
struct Tally {
    requests: BTreeMap<String, u64>,
    read_units: f64,
    write_units: f64,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    tally: Arc<Mutex<Tally>>,
}

/// Capacity units a response reports (`CapacityUnits`, summed over tables and indexes).
fn capacity(consumed: &Value) -> f64 {
    match consumed {
        Value::Array(all) => all.iter().map(capacity).sum(),
        Value::Object(_) => consumed["CapacityUnits"].as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

async fn forward(State(proxy): State<Proxy>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .rsplit('.')
        .next()
        .unwrap_or("?")
        .to_owned();
    let mut request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let counted = request.is_object()
        && !matches!(
            target.as_str(),
            "DescribeTable" | "CreateTable" | "UpdateTimeToLive"
        );
    if counted {
        request["ReturnConsumedCapacity"] = json!("TOTAL");
    }
    let mut upstream = proxy.http.post(&proxy.upstream).body(if counted {
        serde_json::to_vec(&request).unwrap()
    } else {
        body.to_vec()
    });
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length") {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap();
    if counted {
        let response: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let units = capacity(&response["ConsumedCapacity"]);
        let mut tally = proxy.tally.lock().unwrap();
        match target.as_str() {
            "GetItem" | "Query" | "BatchGetItem" => tally.read_units += units,
            // DynamoDB Local reports a transaction's items at their plain size; DynamoDB charges
            // transactional reads and writes twice that.
            "TransactWriteItems" => tally.write_units += 2.0 * units,
            "TransactGetItems" => tally.read_units += 2.0 * units,
            _ => tally.write_units += units,
        }
        *tally.requests.entry(target).or_default() += 1;
    }
    let mut out = HeaderMap::new();
    if let Some(ct) = content_type {
        out.insert("content-type", ct);
    }
    (status, out, bytes)
}

struct Meter {
    proxy: Proxy,
    keys: Arc<CountingKeys>,
    rows: Vec<String>,
}

impl Meter {
    fn reset(&self) {
        *self.proxy.tally.lock().unwrap() = Tally::default();
        self.keys.reset();
    }

    /// The cost of one request of `api` alone, as the row `what`: its answer.
    async fn measure(
        &mut self,
        what: &str,
        api: &Api,
        request: (reqwest::Method, &str, Option<Value>),
    ) -> Value {
        self.reset();
        let (method, path, body) = request;
        let answer = api.call(method, path, body).await;
        self.row(what);
        answer
    }

    /// [`Meter::measure`] of a create at `path`: the new id.
    async fn created(&mut self, what: &str, api: &Api, path: &str, body: Value) -> String {
        let answer = self.measure(what, api, (reqwest::Method::POST, path, Some(body)));
        answer.await["id"].as_str().unwrap_or_default().to_owned()
    }

    fn row(&mut self, what: &str) {
        let tally = self.proxy.tally.lock().unwrap().clone();
        let requests = tally
            .requests
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.rows.push(format!(
            "| {what} | {requests} | {:.1} | {:.1} | {} | {} |",
            tally.read_units,
            tally.write_units,
            self.keys.generated(),
            self.keys.decrypted()
        ));
    }
}

struct Api {
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Cookie", format!("sessionid={}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }
}

#[tokio::main]
async fn main() {
    let upstream = e2e::service_endpoint("STUDIO_TEST_DYNAMODB_ENDPOINT");
    let proxy = Proxy {
        upstream,
        http: reqwest::Client::new(),
        tally: Arc::default(),
    };
    let proxied =
        e2e::serve_on_loopback(Router::new().fallback(forward).with_state(proxy.clone())).await;
    let aws = shared::config::aws_config_for_endpoint(&proxied).await;
    let table = e2e::unique_name("cost");
    let store = DynamoStore::from_sdk(&aws, &table, Arc::new(SystemClock));
    store.ensure_table().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = CountingKeys::in_dir(dir.path());
    // Recent records as deployed (`RECENT_RECORDS_SECONDS` 2).
    let state = AppState::local(Arc::new(store), keys.clone(), &aws, true)
        .unwrap()
        .with_recent_records(Duration::from_secs(2));
    let alice = Principal::admin("acme", "alice");
    let cookie = e2e::session_of(&state, &alice).await;
    let api = Api {
        base: format!(
            "{}/ai/api/v1",
            e2e::serve_on_loopback(studio_local::app(state.clone())).await
        ),
        session: cookie,
        http: reqwest::Client::new(),
    };
    let mut meter = Meter {
        proxy,
        keys,
        rows: Vec::new(),
    };
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    use reqwest::Method;

    for n in 0..19 {
        let body = json!({"name": format!("k{n}"), "auth_type": "NONE", "custom_headers": {"X-Api-Key": "x"}});
        api.call(Method::POST, "/auth_configs", Some(body)).await;
    }
    let body = json!({"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}});
    let label = "`POST /auth_configs` (NONE, one secret header)";
    let auth = meter.created(label, &api, "/auth_configs", body).await;
    let path = format!("/auth_configs/{auth}");
    let label = "`GET /auth_configs/{id}`";
    meter.measure(label, &api, (Method::GET, &path, None)).await;
    let label = "`GET /auth_configs` (20 configs)";
    meter
        .measure(label, &api, (Method::GET, "/auth_configs", None))
        .await;
    let patch = Some(json!({"description": "d"}));
    let label = "`PATCH /auth_configs/{id}` (no secret changed)";
    meter
        .measure(label, &api, (Method::PATCH, &path, patch))
        .await;
    let body = json!({"name": "tools", "url": server.mcp_url(), "auth_config_id": auth});
    let label = "`POST /config/mcp-server` (connection test included)";
    let mcp = meter.created(label, &api, "/config/mcp-server", body).await;
    let path = format!("/config/mcp-server/{mcp}/test");
    let label = "`POST /config/mcp-server/{id}/test`";
    meter
        .measure(label, &api, (Method::POST, &path, None))
        .await;
    let llm = json!({"name": "m", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-x"});
    let llm = api.call(Method::POST, "/config/llm", Some(llm)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent =
        json!({"name": "a", "prompt": "p", "llm_config_id": llm, "mcp_server_config_ids": [mcp]});
    let label = "`POST /config/agent` (two references counted)";
    let agent = meter.created(label, &api, "/config/agent", agent).await;
    let path = format!("/agent/{agent}/tools");
    let label = "`GET /agent/{id}/tools` (stored catalogue)";
    meter.measure(label, &api, (Method::GET, &path, None)).await;
    // Once the recent records are older than their 2 s, then at once again.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let call = json!({"tool": "echo", "arguments": {"message": "hi"}});
    let path = format!("/agent/{agent}/tools/call");
    for label in [
        "`POST /agent/{id}/tools/call` (its records read)",
        "`POST /agent/{id}/tools/call` (its records recent, as on a busy instance)",
    ] {
        let request = (Method::POST, path.as_str(), Some(call.clone()));
        meter.measure(label, &api, request).await;
    }
    let path = format!("/config/agent/{agent}");
    let label = "`DELETE /config/agent/{id}`";
    meter
        .measure(label, &api, (Method::DELETE, &path, None))
        .await;
    let label = "`GET /audit` (one page)";
    meter
        .measure(label, &api, (Method::GET, "/audit", None))
        .await;
    meter.reset();
    let budget = tokio::time::Instant::now() + Duration::from_secs(60);
    let checked =
        server_checks::run_all(&state, &server_checks::HealthSettings::default(), budget).await;
    assert_eq!(checked.healthy, 1, "{checked:?}");
    meter.row("one server health-checked by the one-process pass (4 index shards read)");

    // One refreshed token, by the planner and a job, as deployed.
    let provider = oidc::start(OidcOptions::default().with_access_ttl(10).rotating()).await;
    let id = tokens::authorized_config(&state, &provider, &alice, "idp", None).await;
    tokens::rewrite_token(&state, "acme", &id, |record| {
        record.next_refresh_at = Some(tokens::now() - 1);
    })
    .await;
    meter.reset();
    let (planned, worked, _) = e2e::work_round(&state, 1, 1_000).await;
    assert_eq!(
        worked.count("refresh_token.refreshed"),
        1,
        "{planned:?} {worked:?}"
    );
    meter.row("one token refreshed by the planner and a job (every index shard read)");

    // The credentials of one MCP request through that config, its token valid: what every tool
    // call and test through an OAuth config costs before its request is sent.
    let (config, _) = resource::load::<StoredAuthConfig>(&state, "acme", &id)
        .await
        .unwrap();
    let destination = url::Url::parse("http://127.0.0.1:9/mcp").unwrap();
    meter.reset();
    credentials::credential_headers(
        &state,
        "acme",
        "alice",
        &config,
        &destination,
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    meter.row("credentials of one MCP request through an authorized OAuth config (token valid)");

    println!("| operation | DynamoDB requests | RCU | WCU | KMS GenerateDataKey | KMS Decrypt |");
    println!("|---|---|---|---|---|---|");
    for row in &meter.rows {
        println!("{row}");
    }
}
