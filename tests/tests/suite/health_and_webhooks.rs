//! Connection health, tool pinning and signed webhooks end to end, on both stores: a server
//! whose tools change between checks goes healthy → tools_changed → (approved) healthy →
//! unreachable; the changed tool is hidden and refused until approved; a receiver that verifies
//! every Standard Webhooks signature gets one delivery per transition and tool change (a failed
//! delivery is retried later); the audit log has it all, without secrets.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use e2e::{
    Backend, Expect, TestStack,
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use shared::{
    clock::ManualClock,
    model::{deliveries, server_checks},
};

/// What the receiver accepted, and how many requests it refuses before accepting.
#[derive(Default)]
struct Receiver {
    secret: Mutex<Option<Vec<u8>>>,
    accepted: Mutex<Vec<Value>>,
    refuse_next: Mutex<u32>,
    bad_signatures: Mutex<u32>,
}

/// A Standard Webhooks receiver: verifies `webhook-signature` over
/// `<webhook-id>.<webhook-timestamp>.<body>` with its own HMAC, as a receiver's library would.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let key = receiver
        .secret
        .lock()
        .unwrap()
        .clone()
        .expect("the secret is known");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 600);
    if signature.split(' ').all(|s| s != expected) || !fresh {
        *receiver.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    {
        let mut refuse = receiver.refuse_next.lock().unwrap();
        if *refuse > 0 {
            *refuse -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["id"], json!(id), "webhook-id is the event id");
    receiver.accepted.lock().unwrap().push(event);
    StatusCode::NO_CONTENT
}

fn kinds(receiver: &Receiver) -> Vec<String> {
    receiver
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e["type"].as_str().unwrap() {
            "mcp_server.health_changed" => format!(
                "health {}→{}",
                e["data"]["from"].as_str().unwrap_or("none"),
                e["data"]["to"].as_str().unwrap()
            ),
            other => other.to_owned(),
        })
        .collect()
}

async fn a_changing_server_is_tracked_and_every_transition_is_delivered_signed(backend: Backend) {
    let api = TestStack::start(backend).await;
    let receiver = Arc::new(Receiver::default());
    let hook_app = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&receiver));
    let hook_url = format!("{}/hook", e2e::serve_on_loopback(hook_app).await);

    // A webhook: its secret once, in the create answer.
    let hook = api
        .post(
            "/config/webhook",
            json!({"url": hook_url, "events": ["mcp_server.health_changed", "mcp_server.tools_changed"]}),
        )
        .await.answered(StatusCode::CREATED);
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    *receiver.secret.lock().unwrap() = Some(key);
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let (_, read) = api.get(&format!("/config/webhook/{hook_id}")).await;
    assert!(read.get("secret").is_none(), "{read}");
    api.post(
        "/config/webhook",
        json!({"url": hook_url, "events": ["mcp_server.exploded"]}),
    )
    .await
    .answered(StatusCode::BAD_REQUEST);

    // A server, healthy as created.
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let body = json!({
        "name": "tools", "url": server.mcp_url(),
        "auth_config": {"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": FASTMCP_API_KEY}}
    });
    let id = api.created("/config/mcp-server", body).await;
    let (_, view) = api.get(&format!("/config/mcp-server/{id}")).await;
    assert_eq!(view["health"]["status"], "healthy", "{view}");
    let agent = api.agent_using(&[&id]).await;

    // The tools change under it: the next check finds them pending.
    reqwest::Client::new()
        .post(format!("{}/_mutate", server.base))
        .send()
        .await
        .unwrap();
    let settings = server_checks::HealthSettings::default();
    let budget = || tokio::time::Instant::now() + Duration::from_secs(60);
    let report = server_checks::run_all(&api.state, &settings, budget()).await;
    assert_eq!(
        (report.due, report.tools_changed, report.events),
        (1, 1, 2),
        "{report:?}"
    );
    assert_eq!(
        kinds(&receiver),
        ["mcp_server.tools_changed", "health healthy→tools_changed"]
    );
    let (_, view) = api.get(&format!("/config/mcp-server/{id}")).await;
    assert_eq!(view["health"]["status"], "tools_changed", "{view}");
    assert_eq!(view["pending_tools"]["changed"], json!(["echo"]), "{view}");
    assert_eq!(
        view["pending_tools"]["added"],
        json!(["read_file"]),
        "{view}"
    );
    let description = &view["pending_tools"]["diff"][0]["fields"]["description"];
    assert_eq!(description["approved"], "Echo the message back.", "{view}");
    assert!(
        description["offered"]
            .as_str()
            .unwrap()
            .contains("attacker.example"),
        "{view}"
    );
    let call = json!({"tool": "echo", "arguments": {"message": "hi"}});
    api.post(&format!("/agent/{agent}/tools/call"), call.clone())
        .await
        .answered(StatusCode::CONFLICT);
    let (_, catalogue) = api.get(&format!("/agent/{agent}/tools")).await;
    let offered: Vec<&str> = e2e::each(&catalogue["tools"], "name");
    assert_eq!(offered, ["add"], "{catalogue}");
    assert_eq!(
        catalogue["servers"][0]["pending_tools"],
        json!(["read_file", "echo"])
    );

    // Approved: healthy again, the tool callable.
    let approved = api
        .post(
            &format!("/config/mcp-server/{id}/tools/approve"),
            json!({"all": true}),
        )
        .await
        .answered(StatusCode::OK);
    assert_eq!(approved["health"]["status"], "healthy", "{approved}");
    api.post(&format!("/agent/{agent}/tools/call"), call)
        .await
        .answered(StatusCode::OK);
    assert_eq!(kinds(&receiver)[2], "health tools_changed→healthy");

    // The server goes away: unreachable, and the receiver is down for the first try.
    drop(server);
    *receiver.refuse_next.lock().unwrap() = 1;
    let report = server_checks::run_all(&api.state, &settings, budget()).await;
    assert_eq!((report.unreachable, report.events), (1, 1), "{report:?}");
    assert_eq!(
        kinds(&receiver).len(),
        3,
        "the failed delivery waits for its retry"
    );
    let mut later = api.state.clone();
    let clock = ManualClock::new(time::OffsetDateTime::now_utc() + time::Duration::seconds(31));
    later.clock = Arc::new(clock);
    let retried = deliveries::deliver_due(&later, 4, budget()).await;
    assert_eq!((retried.due, retried.delivered), (1, 1), "{retried:?}");
    assert_eq!(kinds(&receiver)[3], "health healthy→unreachable");
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    let again = deliveries::deliver_due(&later, 4, budget()).await;
    assert_eq!(again.due, 0, "delivered once: {again:?}");

    let health = api
        .get(&format!("/config/mcp-server/{id}/health"))
        .await
        .answered(StatusCode::OK);
    let statuses: Vec<&str> = e2e::each(&health["history"], "status");
    assert_eq!(statuses, ["unreachable", "tools_changed", "healthy"]);
    assert_eq!(health["health"]["consecutive_failures"], 1, "{health}");
    assert_eq!(
        health["health"]["last_failure"]["category"], "connect",
        "{health}"
    );
    let (_, one) = api
        .get(&format!("/config/mcp-server/{id}/health?limit=1"))
        .await;
    assert_eq!(one["history"].as_array().unwrap().len(), 1);
    let other = api.with_session(&api.session_for("globex", "bob").await);
    other
        .get(&format!("/config/mcp-server/{id}/health"))
        .await
        .answered(StatusCode::NOT_FOUND);
    let (_, theirs) = other.get("/config/webhook").await;
    assert_eq!(theirs["items"], json!([]));

    // The audit log has the webhook, the approval and the calls, and no secret.
    let (_, log) = api.get("/audit").await;
    let text = log.to_string();
    for action in [
        "POST /ai/api/v1/config/webhook",
        "POST /ai/api/v1/config/mcp-server/{id}/tools/approve",
        "POST /ai/api/v1/agent/{id}/tools/call",
    ] {
        assert!(text.contains(action), "{action} in {text}");
    }
    assert!(
        !text.contains(&secret) && !text.contains(FASTMCP_API_KEY),
        "{text}"
    );
    let deliveries_seen = serde_json::to_string(&*receiver.accepted.lock().unwrap()).unwrap();
    assert!(
        !deliveries_seen.contains(FASTMCP_API_KEY),
        "{deliveries_seen}"
    );

    // Deleting the server takes its health with it: the next pass has nothing due.
    api.deleted(&format!("/config/agent/{agent}")).await;
    api.deleted(&format!("/config/mcp-server/{id}")).await;
    let report = server_checks::run_all(&api.state, &settings, budget()).await;
    assert_eq!(report.due, 0, "{report:?}");
    api.deleted(&format!("/config/webhook/{hook_id}")).await;
}

/// A receiver on its own loopback port (its secret is set once the API shows it).
async fn receiver_at_loopback() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&receiver));
    let url = format!("{}/hook", e2e::serve_on_loopback(app).await);
    (receiver, url)
}

/// A webhook moved to another URL signs with a new secret, shown once in the PATCH's answer: the
/// old receiver's key neither signs nor verifies what the new receiver gets. A PATCH that keeps
/// the URL keeps the secret and shows none.
async fn a_webhook_moved_elsewhere_signs_with_a_new_secret(backend: Backend) {
    let api = TestStack::start(backend).await;
    let (old, old_url) = receiver_at_loopback().await;
    let hook = api
        .post(
            "/config/webhook",
            json!({"url": old_url, "events": ["auth_config.destination_changed"]}),
        )
        .await
        .answered(StatusCode::CREATED);
    let first = hook["secret"].as_str().unwrap().to_owned();
    *old.secret.lock().unwrap() = Some(STANDARD.decode(&first["whsec_".len()..]).unwrap());
    let path = format!("/config/webhook/{}", hook["id"].as_str().unwrap());

    let renamed = api
        .patch(&path, json!({"name": "renamed"}))
        .await
        .answered(StatusCode::OK);
    assert!(renamed.get("secret").is_none(), "{renamed}");

    let (new, new_url) = receiver_at_loopback().await;
    let moved = api
        .patch(&path, json!({"url": new_url}))
        .await
        .answered(StatusCode::OK);
    let second = moved["secret"]
        .as_str()
        .expect("a new secret, once")
        .to_owned();
    assert_ne!(second, first);
    *new.secret.lock().unwrap() = Some(STANDARD.decode(&second["whsec_".len()..]).unwrap());
    let (_, read) = api.get(&path).await;
    assert!(read.get("secret").is_none(), "{read}");

    // An event: delivered to the new URL, verified with the new secret only.
    let auth = api
        .created(
            "/auth_configs",
            json!({"name": "ac", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": "http://127.0.0.1:9/auth", "token_url": "http://127.0.0.1:9/token",
                   "client_id": "c", "allowed_redirect_uris": ["http://127.0.0.1/callback"]}),
        )
        .await;
    api.patch(
        &format!("/auth_configs/{auth}"),
        json!({"revocation_url": "http://127.0.0.1:9/revoke"}),
    )
    .await
    .answered(StatusCode::OK);
    assert_eq!(kinds(&new), ["auth_config.destination_changed"]);
    assert_eq!(*new.bad_signatures.lock().unwrap(), 0);
    assert!(old.accepted.lock().unwrap().is_empty());
}

e2e::on_both_stores!(
    a_changing_server_is_tracked_and_every_transition_is_delivered_signed,
    a_webhook_moved_elsewhere_signs_with_a_new_secret,
);

/// The README's health walkthrough, as written, with the repository's webhook receiver: the
/// receiver verifies four signed deliveries (the tool change, and healthy → tools_changed →
/// healthy → unreachable).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_health_walkthrough_runs_verbatim() {
    use shared::testing::{readme_walkthrough, run_script};
    let stack = TestStack::start(Backend::Sqlite).await;
    let server = servers::fastmcp(FastMcpAuth::None, "http").await;
    let secret_file = stack.dir.path().join("webhook-secret");
    let out = stack.dir.path().join("events.jsonl");
    let receiver = servers::webhook_receiver(&secret_file, &out).await;
    let mcp_url = server.mcp_url();
    let hook_url = format!("{}/hook", receiver.base);
    let base = [
        ("API", stack.api.as_str()),
        ("SESSION", stack.session.as_str()),
        ("MCP_URL", mcp_url.as_str()),
        ("HOOK_URL", hook_url.as_str()),
        ("SECRET_FILE", secret_file.to_str().unwrap()),
    ];
    let started = run_script(&readme_walkthrough("health-start"), &base).await;
    let lines: Vec<&str> = started.lines().collect();
    assert_eq!(
        &lines[..4],
        ["healthy", "['echo']", "tools_changed", "healthy"],
        "{started}"
    );
    let server_id = lines[4].strip_prefix("SERVER_ID=").unwrap();
    drop(server);
    let mut env = base.to_vec();
    env.push(("SERVER_ID", server_id));
    let finished = run_script(&readme_walkthrough("health-finish"), &env).await;
    assert_eq!(
        finished.lines().collect::<Vec<_>>(),
        ["connect", "unreachable", "connect"],
        "{finished}"
    );
    let events: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let seen: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["data"]["to"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "mcp_server.tools_changed ",
            "mcp_server.health_changed tools_changed",
            "mcp_server.health_changed healthy",
            "mcp_server.health_changed unreachable",
        ]
    );
}

/// Deliveries go through the guarded outbound client with the production rules: a webhook whose
/// URL is, or resolves to, a loopback, private or metadata address is never connected to — its
/// delivery fails and waits in the outbox — whatever the API accepted at create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_never_reaches_a_private_address() {
    use shared::model::{events, resource, webhook::StoredWebhook};
    let dir = tempfile::tempdir().unwrap();
    let state = shared::testing::local_state(dir.path(), false).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(Mutex::new(0u32));
    let seen = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            *seen.lock().unwrap() += 1;
        }
    });
    let alice = shared::api::Principal::admin("acme", "alice");
    let mut created = 0;
    for url in [
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://localhost:{port}/hook"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/hook".to_owned(),
    ] {
        let hook = json!({"url": url, "events": ["mcp_server.health_changed"]});
        if resource::create::<StoredWebhook>(&state, &alice, hook)
            .await
            .is_ok()
        {
            created += 1;
        }
    }
    // A host name is only resolved at send time: that one at least is accepted at create.
    assert!(created >= 1, "created {created}");
    let event = events::event(
        &state,
        "acme",
        events::EventType::HealthChanged,
        json!({"mcp_server_config_id": "x", "to": "unreachable"}),
    );
    deliveries::publish(&state, vec![event]).await;
    let mut later = state.clone();
    let clock = ManualClock::new(time::OffsetDateTime::now_utc() + time::Duration::seconds(31));
    later.clock = Arc::new(clock);
    let retried = deliveries::deliver_due(
        &later,
        4,
        tokio::time::Instant::now() + Duration::from_secs(30),
    )
    .await;
    assert_eq!(retried.delivered, 0, "{retried:?}");
    assert_eq!(
        retried.due, created,
        "every accepted webhook's delivery failed and waits: {retried:?}"
    );
    assert_eq!(*connections.lock().unwrap(), 0, "no connection was made");
}
