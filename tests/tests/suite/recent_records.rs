//! Recent records: a warm instance reads an agent, its servers and their auth config for a tool
//! call at most once per `max_age`, sees its own writes at once, and sees another instance's
//! writes within `max_age` (two states over one SQLite file stand for two Lambda instances).
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use e2e::servers::{self, FastMcpAuth};
use serde_json::json;
use shared::{
    AppState,
    api::Principal,
    clock::SystemClock,
    crypto::LocalKeyProvider,
    model::{
        agent::StoredAgent, agent_tools, llm_config::StoredLlmConfig, mcp_server::StoredMcpServer,
        resource,
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
    let server = resource::create::<StoredMcpServer>(
        &this,
        &admin,
        json!({"name": "before", "url": format!("{}/mcp", mcp.base)}),
    )
    .await
    .unwrap()
    .meta
    .id;
    let llm = resource::create::<StoredLlmConfig>(
        &this,
        &admin,
        json!({"name": "m", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-x"}),
    )
    .await
    .unwrap()
    .meta
    .id;
    let agent = resource::create::<StoredAgent>(
        &this,
        &admin,
        json!({"name": "a", "prompt": "p", "llm_config_id": llm, "mcp_server_config_ids": [server]}),
    )
    .await
    .unwrap()
    .meta
    .id;
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
