//! Benchmark: the partition budget. A store wrapper charges every request to the partition key it
//! touches, in DynamoDB's units (a strongly consistent read 1 RCU per 4 KB, a query of the index
//! half that; a write 1 WCU per 1 KB, twice in a transaction; an item in the index written again
//! there, its keys and expiry, as the index projects them), while the real code paths run: 200 tool calls
//! of a `per_user` config's users through the HTTP API (sessions, rate limits, audit included;
//! recent records on, as deployed), then 100 tenants' scheduled refreshes through the planner and
//! its jobs. The records a call keeps (agent, server, auth config) are charged as deployed: each
//! of [`INSTANCES`] warm instances reads them once every [`RECENT_RECORDS`]. The units per operation and key are then scaled to a platform of 10,000 tenants —
//! 1M one-hour tokens, 100 a tenant (refreshed every 45 minutes), and one tenant with 5,000 users
//! making 10 tool calls a minute each — and each key's load is set against DynamoDB's per-key
//! limits (3,000 RCU and 1,000 WCU a second). Health checks too: 50 tenants' servers checked
//! through the planner and its jobs, scaled to 100,000 servers (10 a tenant) every 15 minutes.
//! Prints the hottest key of each kind and its share of the limit; the target is under 50 %.
//!
//!     cargo run --release -p e2e --bin bench-partitions

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use e2e::servers::{self, FASTMCP_BEARER, FastMcpAuth};
use secrecy::SecretString;
use serde_json::json;
use shared::{
    AppState,
    api::Principal,
    clock::SystemClock,
    crypto::LocalKeyProvider,
    model::{
        agent::StoredAgent, auth_config::StoredAuthConfig, llm_config::StoredLlmConfig,
        mcp_server::StoredMcpServer, refresh_pass::PassSettings, resource,
        server_checks::HealthSettings, token,
    },
    oauth::TokenSet,
    store::{IndexEntry, IndexKey, Item, Query, QueryPage, SqliteStore, Store, StoreError, TxOp},
    work::{
        Context,
        local::{self, LocalQueue, WorkerLimits},
        planner::{self, PlanSettings},
    },
};

/// Warm instances of the tool-call function (its reserved concurrency).
const INSTANCES: f64 = 50.0;
/// How long an instance keeps a record it read for a call (`RECENT_RECORDS_SECONDS`).
const RECENT_RECORDS: Duration = Duration::from_secs(2);

/// Read and write units charged to each partition key.
type Ledger = Arc<Mutex<BTreeMap<String, (f64, f64)>>>;

/// A store that charges what it does to partition keys.
struct Metered {
    inner: Arc<dyn Store>,
    ledger: Ledger,
}

fn units(bytes: usize, per: usize) -> f64 {
    (bytes.max(1)).div_ceil(per) as f64
}

fn size(item: &Item) -> usize {
    item.pk.len() + item.sk.len() + item.data.len() + 64
}

/// What the index holds of an item: its keys, its index keys and its expiry.
fn entry_size(pk: &str, sk: &str, index: &IndexKey) -> usize {
    pk.len() + sk.len() + index.pk.len() + index.sk.len() + 32
}

impl Metered {
    fn charge(&self, pk: &str, read: f64, write: f64) {
        let mut ledger = self.ledger.lock().expect("ledger");
        let entry = ledger.entry(pk.to_owned()).or_default();
        entry.0 += read;
        entry.1 += write;
    }

    /// Charges one write of `op` (`factor` 2 in a transaction), and its index entries.
    async fn charge_op(&self, op: &TxOp, factor: f64) {
        let old = |pk: &str, sk: &str| {
            let (inner, pk, sk) = (Arc::clone(&self.inner), pk.to_owned(), sk.to_owned());
            async move { inner.get(&pk, &sk).await.ok().flatten() }
        };
        match op {
            TxOp::Create(item) | TxOp::Update { item, .. } => {
                let before = old(&item.pk, &item.sk).await;
                self.charge(&item.pk, 0.0, factor * units(size(item), 1024));
                if let Some(index) = &item.index {
                    let bytes = entry_size(&item.pk, &item.sk, index);
                    self.charge(&index.pk, 0.0, units(bytes, 1024));
                }
                if let Some(previous) = before.as_ref().and_then(|b| b.index.as_ref())
                    && Some(previous) != item.index.as_ref()
                {
                    self.charge(&previous.pk, 0.0, 1.0);
                }
            }
            TxOp::Delete { pk, sk, .. } => {
                let before = old(pk, sk).await;
                let bytes = before.as_ref().map_or(1, size);
                self.charge(pk, 0.0, factor * units(bytes, 1024));
                if let Some(index) = before.as_ref().and_then(|b| b.index.as_ref()) {
                    self.charge(&index.pk, 0.0, 1.0);
                }
            }
            TxOp::MoveIndex { pk, sk, from, to } => {
                let bytes = old(pk, sk).await.as_ref().map_or(1, size);
                self.charge(pk, 0.0, factor * units(bytes, 1024));
                self.charge(&from.pk, 0.0, 1.0);
                self.charge(&to.pk, 0.0, units(entry_size(pk, sk, to), 1024));
            }
            TxOp::Check { pk, .. } => self.charge(pk, factor, 0.0),
            TxOp::AdjustRefs { pk, .. } | TxOp::Count { pk, .. } => {
                self.charge(pk, 0.0, factor);
            }
        }
    }
}

#[async_trait]
impl Store for Metered {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let item = self.inner.get(pk, sk).await?;
        self.charge(pk, units(item.as_ref().map_or(1, size), 4096), 0.0);
        Ok(item)
    }

    async fn query(&self, query: Query<'_>) -> Result<QueryPage, StoreError> {
        let page = self.inner.query(query).await?;
        let bytes = page.items.iter().map(size).sum();
        self.charge(query.pk, units(bytes, 4096), 0.0);
        Ok(page)
    }

    async fn query_index(
        &self,
        upto: &IndexKey,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let entries = self.inner.query_index(upto, limit).await?;
        let bytes = entries
            .iter()
            .map(|e| entry_size(&e.pk, &e.sk, &e.index))
            .sum();
        self.charge(&upto.pk, units(bytes, 4096) / 2.0, 0.0);
        Ok(entries)
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        let factor = if ops.len() > 1 { 2.0 } else { 1.0 };
        for op in &ops {
            self.charge_op(op, factor).await;
        }
        self.inner.transact(ops).await
    }
}

impl Metered {
    fn take(&self) -> BTreeMap<String, (f64, f64)> {
        std::mem::take(&mut *self.ledger.lock().expect("ledger"))
    }
}

/// A key as a kind: the tenant, user and record parts named, not their values.
fn kind(pk: &str) -> String {
    let parts: Vec<&str> = pk.split('#').collect();
    match parts.as_slice() {
        ["T", _] => "T#<tenant>".into(),
        ["SESSION", _] => "SESSION#<credential>".into(),
        ["LIMIT", _, _] => "LIMIT#<tenant>#<user>".into(),
        ["LIMIT", _] => "LIMIT#<tenant>".into(),
        ["AUDIT", _, _] => "AUDIT#<tenant>#<bucket>".into(),
        ["AUDITT", _, _, _] => "AUDITT#<tenant>#<target>#<bucket>".into(),
        ["USERQ", _, _] => "USERQ#<tenant>#<config>".into(),
        ["REFRESH" | "CHECK" | "DELIVER", _] => format!("{}#<shard>", parts[0]),
        ["BACKOFF", _] => "BACKOFF#<tenant, origin, client>".into(),
        _ => pk.to_owned(),
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(SystemClock);
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("studio.db"), clock).expect("sqlite"));
    let metered = Arc::new(Metered {
        inner: sqlite,
        ledger: Ledger::default(),
    });
    let keys =
        Arc::new(LocalKeyProvider::load_or_create(&dir.path().join("master.key")).expect("keys"));
    let aws = shared::config::aws_config_for_endpoint("http://127.0.0.1:9").await;
    let state = AppState::local(metered.clone(), keys, &aws, true).expect("state");
    let mcp = servers::fastmcp(FastMcpAuth::Bearer, "http").await;
    let plain = servers::fastmcp(FastMcpAuth::None, "http").await;

    // The big tenant: a per_user config, its users connected, one server, one agent.
    let admin = Principal::admin("big", "admin");
    let config = resource::create::<StoredAuthConfig>(
        &state,
        &admin,
        json!({"name": "team", "auth_type": "AUTHORIZATION_CODE",
               "authorization_url": "http://127.0.0.1:9/authorize",
               "token_url": "http://127.0.0.1:9/token", "client_id": "team",
               "allowed_redirect_uris": ["https://app.example.com/cb"],
               "connection_mode": "per_user"}),
    )
    .await
    .expect("auth config")
    .meta
    .id;
    let (stored, _) = resource::load::<StoredAuthConfig>(&state, "big", &config)
        .await
        .expect("load");
    let users: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    for user in users.iter().chain([&"admin".to_owned()]) {
        let set = TokenSet {
            access_token: SecretString::from(FASTMCP_BEARER.to_owned()),
            refresh_token: Some(SecretString::from(format!("rt-{user}"))),
            expires_in: 3600,
            scopes: None,
        };
        token::store_authorized(
            &state,
            "big",
            &token::TokenOwner::of(&stored, user),
            set,
            None,
        )
        .await
        .expect("tokens");
    }
    let server = resource::create::<StoredMcpServer>(
        &state,
        &admin,
        json!({"name": "tools", "url": mcp.mcp_url(), "auth_config_id": config}),
    )
    .await
    .expect("server")
    .meta
    .id;
    let llm = resource::create::<StoredLlmConfig>(
        &state,
        &admin,
        json!({"name": "m", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-x"}),
    )
    .await
    .expect("llm")
    .meta
    .id;
    let agent = resource::create::<StoredAgent>(
        &state,
        &admin,
        json!({"name": "a", "prompt": "p", "llm_config_id": llm, "mcp_server_config_ids": [server]}),
    )
    .await
    .expect("agent")
    .meta
    .id;

    // Tool calls through the HTTP API (session read, rate limit, audit), each by another user:
    // units per call, by key.
    // Kept for the whole run here: what keeping costs is charged below, as deployed.
    let calling = state.clone().with_recent_records(Duration::from_secs(3600));
    let base = e2e::serve_on_loopback(studio_local::app(calling)).await;
    let http = reqwest::Client::new();
    let mut cookies = Vec::new();
    for user in &users {
        let principal = Principal::member("big", user.as_str());
        let cookie = shared::session::create(
            state.store.as_ref(),
            &SystemClock,
            &principal,
            shared::session::CredentialKind::Session,
            time::Duration::hours(1),
        )
        .await
        .expect("session");
        cookies.push(secrecy::ExposeSecret::expose_secret(&cookie).to_owned());
    }
    metered.take();
    let mut cold = None;
    let calls = users.len();
    for cookie in &cookies {
        let response = http
            .post(format!("{base}/ai/api/v1/agent/{agent}/tools/call"))
            .header("Cookie", format!("sessionid={cookie}"))
            .json(&json!({"tool": "echo", "arguments": {"message": "hi"}}))
            .send()
            .await
            .expect("tool call");
        assert!(response.status().is_success(), "{}", response.status());
        // The first call fills the instance's recent records.
        if cold.is_none() {
            cold = Some(metered.take());
        }
    }
    let per_call = metered.take();
    let calls = calls - 1;
    let tenant_reads = |ledger: &BTreeMap<String, (f64, f64)>| {
        ledger
            .iter()
            .filter(|(pk, _)| pk.as_str() == "T#big")
            .map(|(_, (r, _))| r)
            .sum::<f64>()
    };
    // What one instance reads to keep a call's records: the cold call's tenant reads beyond a
    // warm call's.
    let kept_rcu = tenant_reads(&cold.unwrap_or_default()) - tenant_reads(&per_call) / calls as f64;

    // Scheduled work through the planner: 100 tenants' shared tokens at a token endpoint that
    // works, and 50 tenants' servers, all due now.
    let idp = token_endpoint().await;
    let mut sampled = Vec::new();
    for n in 0..100 {
        let owner = Principal::admin(format!("t{n}"), "admin");
        let id =
            e2e::tokens::seed_authorized(&state, &owner, &idp, "idp", &format!("rt-{n}"), 3600)
                .await;
        shared::testing::rewrite_token(&state, &owner.tenant_id, &id, |record| {
            record.next_refresh_at = Some(time::OffsetDateTime::now_utc().unix_timestamp() - 1);
        })
        .await;
        sampled.push(owner);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    metered.take();
    let ctx = Context::new(
        state.clone(),
        PassSettings::default(),
        HealthSettings::default(),
    );
    let queue = LocalQueue::default();
    let planned = planner::plan(&ctx, &PlanSettings::default(), &queue).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(120);
    let worked = local::run(&ctx, queue.take(), &WorkerLimits::default(), end).await;
    assert_eq!(
        worked.count("refresh_token.refreshed"),
        100,
        "{planned:?} {worked:?}"
    );
    let per_refresh = metered.take();

    // Health checks through the planner: 50 tenants' servers, all due now.
    let mut checked = Vec::new();
    for n in 0..50 {
        let owner = Principal::admin(format!("h{n}"), "admin");
        let id = resource::create::<StoredMcpServer>(
            &state,
            &owner,
            json!({"name": "s", "url": plain.mcp_url()}),
        )
        .await
        .expect("server")
        .meta
        .id;
        e2e::make_check_due(&state, &owner.tenant_id, &id).await;
        checked.push(id);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    metered.take();
    let queue = LocalQueue::default();
    let planned = planner::plan(&ctx, &PlanSettings::default(), &queue).await;
    let worked = local::run(&ctx, queue.take(), &WorkerLimits::default(), end).await;
    assert_eq!(
        worked.count("check_server.healthy"),
        50,
        "{planned:?} {worked:?}"
    );
    let per_check = metered.take();

    // Per second at the platform's rates, per key.
    let big_calls_per_s = 5_000.0 * 10.0 / 60.0;
    let per_user_calls_per_s = 10.0 / 60.0;
    let refreshes_per_s = 1_000_000.0 / 2_700.0;
    // 10,000 tenants hold the 1M tokens: 100 each.
    let per_tenant_refreshes_per_s = 100.0 / 2_700.0;
    // 100,000 servers, 10 a tenant, each checked every 15 minutes.
    let checks_per_s = 100_000.0 / 900.0;
    let per_tenant_checks_per_s = 10.0 / 900.0;
    let mut load: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut add = |pk: &str, (r, w): (f64, f64), scale: f64| {
        let entry = load.entry(pk.to_owned()).or_default();
        entry.0 += r * scale;
        entry.1 += w * scale;
    };
    for (pk, units) in &per_call {
        // A key of one user's (its counter, its session) sees that user's calls; the others,
        // everyone's.
        let per_user =
            pk.starts_with("SESSION#") || users.iter().any(|u| pk.ends_with(&format!("#{u}")));
        let scale = if per_user {
            per_user_calls_per_s
        } else {
            big_calls_per_s / calls as f64
        };
        add(pk, *units, scale);
    }
    add(
        "T#big",
        (kept_rcu, 0.0),
        INSTANCES / RECENT_RECORDS.as_secs_f64(),
    );
    // The index shards see the platform's refreshes and checks; a tenant's keys, its own.
    let tenants =
        |pk: &str| pk.starts_with("T#") || pk.starts_with("AUDIT") || pk.starts_with("LIMIT");
    let passes = [
        (
            &per_refresh,
            per_tenant_refreshes_per_s,
            refreshes_per_s / 100.0,
        ),
        (&per_check, per_tenant_checks_per_s, checks_per_s / 50.0),
    ];
    for (units_by_key, per_tenant, per_shard) in passes {
        for (pk, units) in units_by_key {
            add(pk, *units, if tenants(pk) { per_tenant } else { per_shard });
        }
    }

    let mut rows: Vec<(String, f64, f64, f64)> = load
        .into_iter()
        .map(|(key, (r, w))| (key, r, w, (r / 3_000.0).max(w / 1_000.0)))
        .collect();
    rows.sort_by(|a, b| b.3.total_cmp(&a.3));
    // One row per kind of key: its hottest.
    let mut seen = std::collections::BTreeSet::new();
    rows.retain(|row| seen.insert(kind(&row.0)));
    println!("| key (hottest of its kind) | RCU/s | WCU/s | share of its limit |");
    println!("|---|---|---|---|");
    for (key, r, w, share) in rows.iter().take(10) {
        println!(
            "| `{}` | {r:.0} | {w:.0} | {:.0} % |",
            kind(key),
            share * 100.0
        );
    }
    let total = |ledger: &BTreeMap<String, (f64, f64)>, n: f64| {
        let (r, w) = ledger
            .values()
            .fold((0.0, 0.0), |(r, w), (a, b)| (r + a, w + b));
        (r / n, w / n)
    };
    let (call_r, call_w) = total(&per_call, calls as f64);
    let (refresh_r, refresh_w) = total(&per_refresh, 100.0);
    let (check_r, check_w) = total(&per_check, 50.0);
    println!(
        "\nper tool call (warm): {call_r:.1} RCU, {call_w:.1} WCU; keeping a call's records: {kept_rcu:.1} RCU per instance every {} s ({INSTANCES} instances); per scheduled refresh (planner and job): {refresh_r:.1} RCU, {refresh_w:.1} WCU; per health check (planner and job): {check_r:.1} RCU, {check_w:.1} WCU",
        RECENT_RECORDS.as_secs()
    );
    let hottest = &rows[0];
    println!(
        "hottest key: `{}` at {:.0} % of its limit (target: under 50 %): {}",
        kind(&hottest.0),
        hottest.3 * 100.0,
        if hottest.3 < 0.5 { "met" } else { "NOT met" }
    );
}

/// A token endpoint on loopback that always refreshes (rotating the refresh token).
async fn token_endpoint() -> String {
    let router = axum::Router::new().route(
        "/token",
        axum::routing::post(|body: String| async move {
            let refresh = url::form_urlencoded::parse(body.as_bytes())
                .find(|(name, _)| name == "refresh_token")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            axum::Json(json!({"access_token": format!("at-{refresh}"),
                              "refresh_token": format!("{refresh}+"),
                              "token_type": "Bearer", "expires_in": 3600}))
        }),
    );
    e2e::serve_on_loopback(router).await
}
