//! The audit log end to end, on both stores: creates, changes, deletes, re-tests, approvals and
//! tool calls are recorded with actor, action, target and outcome — newest first, per target on
//! request, per tenant only — and never a secret or an argument value; a burst of 200 audited
//! requests keeps every entry, listed newest first across the log's partition keys.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, Expect, TestStack,
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["status"].as_u64().unwrap()
            )
        })
        .collect()
}

async fn every_change_is_recorded_without_secrets(backend: Backend) {
    let api = TestStack::start(backend).await;
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let body = json!({
        "name": "tools", "url": server.mcp_url(),
        "auth_config": {"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}
    });
    let server_id = api.created("/config/mcp-server", body).await;
    let agent = api.agent_using(&[&server_id]).await;
    let call = json!({"tool": "echo", "arguments": {"message": "argument-value-7f3a"}});
    api.post(&format!("/agent/{agent}/tools/call"), call)
        .await
        .answered(StatusCode::OK);
    api.patch(&format!("/config/agent/{agent}"), json!({"prompt": "q"}))
        .await
        .answered(StatusCode::OK);
    api.post("/config/llm", json!({"name": ""}))
        .await
        .answered(StatusCode::BAD_REQUEST);

    let page = api.get("/audit").await.answered(StatusCode::OK);
    assert_eq!(
        actions(&page),
        [
            "POST /ai/api/v1/config/llm 400",
            "PATCH /ai/api/v1/config/agent/{id} 200",
            "POST /ai/api/v1/agent/{id}/tools/call 200",
            "POST /ai/api/v1/config/agent 201",
            "POST /ai/api/v1/config/llm 201",
            "POST /ai/api/v1/config/mcp-server 201",
        ]
    );
    let text = page.to_string();
    assert!(!text.contains(FASTMCP_API_KEY) && !text.contains("argument-value-7f3a"));
    assert!(!text.contains("sk-e2e-secret"), "{text}");
    let first = &page["items"][1];
    assert_eq!(
        (&first["actor"], &first["target"], &first["outcome"]),
        (&json!("alice"), &json!(agent), &json!("success"))
    );

    // One record's entries; another tenant's log is its own.
    let (_, mine) = api.get(&format!("/audit?target={agent}")).await;
    assert_eq!(
        actions(&mine),
        [
            "PATCH /ai/api/v1/config/agent/{id} 200",
            "POST /ai/api/v1/agent/{id}/tools/call 200",
            "POST /ai/api/v1/config/agent 201",
        ]
    );
    api.get("/audit?target=not-an-id")
        .await
        .answered(StatusCode::BAD_REQUEST);
    let other = api.with_session(&api.session_for("globex", "bob").await);
    let (_, theirs) = other.get("/audit").await;
    assert_eq!(theirs["items"], json!([]));
    let (_, paged) = api.get("/audit?limit=2").await;
    assert_eq!(paged["items"].as_array().unwrap().len(), 2);
    let next = paged["next_token"].as_str().unwrap();
    let (_, rest) = api.get(&format!("/audit?limit=10&next_token={next}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 4);
}

async fn a_burst_of_audited_requests_keeps_every_entry(backend: Backend) {
    let api = TestStack::start(backend).await;
    // An entry written before the log was spread over partition keys is still listed.
    let legacy = json!({"id": "legacy", "at": "2026-01-01T00:00:00Z", "actor": "alice",
                        "action": "POST /ai/api/v1/auth_configs", "status": 201,
                        "outcome": "success"});
    let old = shared::store::Item::new(
        shared::model::tenant_pk("acme"),
        format!(
            "AUDIT#{:016}#legacy",
            i64::MAX / 1024 - 1_767_225_600_000_000 / 1024
        ),
        legacy.into(),
    );
    api.state
        .store
        .write(shared::store::TxOp::Create(old))
        .await
        .unwrap();

    // 200 refused creates at once: each is audited (a 400 too).
    let client = reqwest::Client::new();
    let sends = (0..200).map(|i| {
        client
            .post(format!("{}/auth_configs", api.api))
            .header("Cookie", format!("sessionid={}", api.session))
            .json(&json!({"name": format!("n{i}"), "auth_type": "NONE", "custom_headers": 7}))
            .send()
    });
    for response in futures_util::future::join_all(sends).await {
        assert_eq!(response.unwrap().status(), StatusCode::BAD_REQUEST);
    }

    // Every page, newest first across the partition keys, each entry once.
    let (mut seen, mut ats, mut token) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let path = match &token {
            Some(token) => format!("/audit?limit=37&next_token={token}"),
            None => "/audit?limit=37".to_owned(),
        };
        let page = api.get(&path).await.answered(StatusCode::OK);
        for entry in page["items"].as_array().unwrap() {
            seen.push(entry["id"].as_str().unwrap().to_owned());
            ats.push(entry["at"].as_str().unwrap().to_owned());
        }
        match page["next_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 201, "every entry, and the old one");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("legacy"),
        "oldest last"
    );
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no entry twice");
    // Newest first, to the sort key's grain (1,024 µs: within it, entries are in id order).
    let parse = |at: &String| {
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let grain = time::Duration::microseconds(1_024);
    assert!(
        ats.windows(2).all(|w| parse(&w[0]) + grain >= parse(&w[1])),
        "newest first: {ats:?}"
    );
}

e2e::on_both_stores!(
    every_change_is_recorded_without_secrets,
    a_burst_of_audited_requests_keeps_every_entry
);
e2e::on_the_rehearsal!(every_change_is_recorded_without_secrets,);
