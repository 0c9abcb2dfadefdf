//! Recent records: a warm instance reads an agent, its servers and their auth config for a tool
//! call at most once per `max_age`, sees its own writes at once, and sees another instance's
//! writes within `max_age` (two states over one SQLite file stand for two Lambda instances).
//! What it keeps never lets a secret go anywhere else: not after calls without the secret made on
//! another instance, and never to another tenant.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use e2e::{
    capture,
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
};
use serde_json::json;
use shared::{
    AppState,
    api::Principal,
    clock::SystemClock,
    crypto::LocalKeyProvider,
    model::{
        agent::StoredAgent, agent_tools, auth_config::StoredAuthConfig,
        llm_config::StoredLlmConfig, mcp_server::StoredMcpServer, recent_records, resource,
    },
    store::{SqliteStore, Store},
};

/// A state over the SQLite file and key in `dir`, as one instance of the functions is.
async fn instance(dir: &std::path::Path) -> AppState {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.join("studio.db"), Arc::new(SystemClock)).unwrap());
    let keys = Arc::new(LocalKeyProvider::load_or_create(&dir.join("master.key")).unwrap());
    AppState::local(store, keys, &e2e::moto().await, true).unwrap()
}

async fn server_name(state: &AppState, admin: &Principal, agent: &str) -> String {
    let catalogue = agent_tools::catalogue(state, admin, agent, false)
        .await
        .unwrap();
    catalogue.servers[0].name.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_sees_its_own_writes_at_once_and_anothers_within_the_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let max_age = Duration::from_secs(3);
    let this = instance(dir.path()).await.with_recent_records(max_age);
    let other = instance(dir.path()).await;
    let mcp = servers::fastmcp(FastMcpAuth::None, "http").await;
    let admin = Principal::admin("acme", "alice");
    let body = json!({"name": "before", "url": mcp.mcp_url()});
    let (server, agent) = agent_on(&this, &admin, body).await;
    let rename = |state: AppState, name: &'static str| {
        let (admin, server) = (admin.clone(), server.clone());
        Box::pin(async move {
            let patch = json!({"name": name});
            Box::pin(resource::patch::<StoredMcpServer>(
                &state, &admin, &server, patch, None,
            ))
            .await
            .unwrap();
        })
    };

    assert_eq!(server_name(&this, &admin, &agent).await, "before");
    let kept = std::time::Instant::now();
    // Another instance renames it: this one goes on with what it read (the store is not read).
    rename(other.clone(), "elsewhere").await;
    assert_eq!(server_name(&this, &admin, &agent).await, "before");
    assert!(kept.elapsed() < max_age, "the check ran within the max age");

    // Its own write is seen at once.
    rename(this.clone(), "here").await;
    assert_eq!(server_name(&this, &admin, &agent).await, "here");

    // Another instance's write, once the max age has passed.
    rename(other.clone(), "later").await;
    tokio::time::sleep(max_age + Duration::from_millis(100)).await;
    assert_eq!(server_name(&this, &admin, &agent).await, "later");

    // Without recent records every read goes to the store.
    rename(this.clone(), "now").await;
    assert_eq!(server_name(&other, &admin, &agent).await, "now");
}

/// An agent of `admin` on one server, made from `server` (a create body): their ids.
async fn agent_on(
    state: &AppState,
    admin: &Principal,
    server: serde_json::Value,
) -> (String, String) {
    let server = Box::pin(resource::create::<StoredMcpServer>(state, admin, server))
        .await
        .unwrap()
        .meta
        .id;
    let agent = agent_body(state, admin, &server).await;
    let agent = resource::create::<StoredAgent>(state, admin, agent)
        .await
        .unwrap()
        .meta
        .id;
    (server, agent)
}

/// The create body of an agent of `admin` on `server`, with a new LLM config of theirs.
async fn agent_body(state: &AppState, admin: &Principal, server: &str) -> serde_json::Value {
    let llm = json!({"name": "m", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-x"});
    let llm = resource::create::<StoredLlmConfig>(state, admin, llm)
        .await
        .unwrap()
        .meta
        .id;
    json!({"name": "a", "prompt": "p", "llm_config_id": llm, "mcp_server_config_ids": [server]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_record_never_sends_a_secret_elsewhere_or_to_another_tenant() {
    let dir = tempfile::tempdir().unwrap();
    // Kept for the whole test: every call below on `this` uses what it read first.
    let this = instance(dir.path())
        .await
        .with_recent_records(Duration::from_secs(300));
    let other = instance(dir.path()).await;
    let legit = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let attacker = capture::start().await;
    let admin = Principal::admin("acme", "alice");
    let body = json!({"name": "s", "url": legit.mcp_url(),
                      "auth_config": {"name": "k", "auth_type": "NONE",
                                      "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}});
    let (server, agent) = agent_on(&this, &admin, body).await;
    let call = || json!({"tool": "echo", "arguments": {"message": "hi"}});
    Box::pin(agent_tools::call(&this, &admin, &agent, call(), None))
        .await
        .result
        .unwrap();

    // On another instance, calls without the secret try to send it to the attacker: moving the
    // server, and widening where the auth config's secrets may go. Both are refused.
    let moved = Box::pin(resource::patch::<StoredMcpServer>(
        &other,
        &admin,
        &server,
        json!({"url": attacker.mcp_url()}),
        None,
    ))
    .await;
    assert!(moved.is_err(), "moving the server without the secret");
    let (stored, _) = resource::load::<StoredMcpServer>(&other, "acme", &server)
        .await
        .unwrap();
    let auth_id = stored.auth_config_id.clone().unwrap();
    let widened = Box::pin(resource::patch::<StoredAuthConfig>(
        &other,
        &admin,
        &auth_id,
        json!({"allowed_origins": [legit.base.clone(), attacker.base.clone()]}),
        None,
    ))
    .await;
    assert!(widened.is_err(), "widening the origins without the secret");

    // The warm instance goes on calling the server the secret was entered for, and only it.
    Box::pin(agent_tools::call(&this, &admin, &agent, call(), None))
        .await
        .result
        .unwrap();
    assert!(!attacker.saw(FASTMCP_API_KEY), "{:?}", attacker.requests());

    // Another tenant naming the kept server's id finds nothing, kept or not.
    let kept = recent_records::load_recent::<StoredMcpServer>(&this, "globex", &server).await;
    assert!(kept.is_err(), "another tenant's read of a kept record");
    let globex = Principal::admin("globex", "gina");
    let agent = agent_body(&this, &globex, &server).await;
    let foreign = resource::create::<StoredAgent>(&this, &globex, agent).await;
    let refused = foreign.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("mcp_server_config_ids"),
        "an agent on another tenant's server: {refused}"
    );
}
