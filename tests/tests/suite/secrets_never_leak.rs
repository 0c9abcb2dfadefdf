//! Canary secrets seeded through the API must appear in no API response, no log line and no raw
//! stored item — on SQLite (file bytes) and on DynamoDB Local (a full Scan).
#![allow(clippy::unwrap_used)]

use e2e::{Backend, LogCapture, TestStack, dynamodb_local};
use serde_json::{Value, json};

/// A throw-away client key (EC P-256, PKCS#8) given as an auth config's `private_key`: its lines
/// are canaries too, and so is its PEM label.
const PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmxqIPvwMfbjGDrrX
MKOUaBGownvpKvbxoZyAKRqvIH2hRANCAASmLMVoeYryrieMm2tB8mEkjqpFVghc
xHJnsvb5OVQEqaf5l4NGqextmFRixkuJtmwqSZ1Vp4OdcEEcxiIcDIfe
-----END PRIVATE KEY-----
";

const CANARIES: [&str; 14] = [
    "CANARY-header-7f3a",
    "CANARY-basic-pw-91c2",
    "CANARY-cc-secret-44d8",
    "CANARY-ac-secret-0b6e",
    "CANARY-patched-pw-5e1f",
    "CANARY-rejected-pw-c0de",
    "CANARY-mcp-inline-key-9a9a",
    "CANARY-mcp-refused-key-7b7b",
    "CANARY-llm-key-3d3d",
    "CANARY-llm-rotated-8e8e",
    "CANARY-llm-rejected-5a5a",
    "PRIVATE KEY",
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmxqIPvwMfbjGDrrX",
    "MKOUaBGownvpKvbxoZyAKRqvIH2hRANCAASmLMVoeYryrieMm2tB8mEkjqpFVghc",
];

/// Seeds every canary through the HTTP API (successes and failures) and returns everything the
/// API answered, headers included.
async fn seed(stack: &TestStack) -> String {
    let client = reqwest::Client::new();
    let cookie = format!("sessionid={}", stack.session);
    let mut seen = String::new();
    let mut send = async |method: reqwest::Method, path: String, body: Option<Value>| -> Value {
        let mut request = client
            .request(method, format!("{}{path}", stack.api))
            .header("Cookie", &cookie);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        seen.push_str(&format!("{:?}", response.headers()));
        let text = response.text().await.unwrap();
        seen.push_str(&text);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let bodies = [
        json!({"name": "n", "auth_type": "NONE", "custom_headers": {"X-Api-Key": CANARIES[0]}}),
        json!({"name": "b", "auth_type": "BASIC", "username": "svc", "password": CANARIES[1]}),
        json!({"name": "c", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://auth.example.com/token",
            "client_id": "svc", "client_secret": CANARIES[2]}),
        json!({"name": "a", "auth_type": "AUTHORIZATION_CODE", "authorization_url": "https://auth.example.com/authorize",
            "token_url": "https://auth.example.com/token", "client_id": "web", "client_secret": CANARIES[3],
            "allowed_redirect_uris": ["https://app.example.com/cb"]}),
        // private_key_jwt: the client's own key, and a key this service holds.
        json!({"name": "k", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://auth.example.com/token",
            "client_id": "svc", "token_endpoint_auth_method": "private_key_jwt", "private_key": PRIVATE_KEY}),
        json!({"name": "h", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://auth.example.com/token",
            "client_id": "svc", "token_endpoint_auth_method": "private_key_jwt"}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let created = send(reqwest::Method::POST, "/auth_configs".into(), Some(body)).await;
        ids.push(created["id"].as_str().expect("created").to_owned());
    }
    let patched = send(
        reqwest::Method::PATCH,
        format!("/auth_configs/{}", ids[1]),
        Some(json!({"password": CANARIES[4]})),
    )
    .await;
    assert_eq!(patched["version"], 2);
    // Rejected requests carrying secrets: wrong type for the field, wrong place, invalid siblings.
    for body in [
        json!({"name": "x", "auth_type": "NONE", "password": CANARIES[5]}),
        json!({"name": "x", "auth_type": "BASIC", "username": "a:b", "password": CANARIES[5]}),
        json!({"name": "x", "auth_type": "BASIC", "username": "u", "password": {"set": CANARIES[5]}}),
        json!({"name": "x", "type": CANARIES[5]}),
        json!({"name": "x", "auth_type": CANARIES[5]}),
        json!({"name": "x", "auth_type": "NONE", "custom_headers": {"X-Bad": format!("{}\r\n", CANARIES[5])}}),
        json!({"name": "x", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://auth.example.com/token",
            "client_id": "svc", "client_secret": CANARIES[5], "private_key": PRIVATE_KEY}),
    ] {
        let rejected = send(reqwest::Method::POST, "/auth_configs".into(), Some(body)).await;
        assert_eq!(rejected["status"], 400, "{rejected}");
    }
    // Inline secrets through MCP server creation: accepted (stored with the server) and refused
    // by the server (422, nothing stored).
    let mcp = e2e::servers::fastmcp(e2e::servers::FastMcpAuth::None, "http").await;
    for (key, expected) in [(CANARIES[6], 201), (CANARIES[7], 422)] {
        let url = if expected == 201 {
            mcp.mcp_url()
        } else {
            format!("{}/nope", mcp.base)
        };
        let body = json!({"name": "mcp", "url": url,
            "auth_config": {"name": "mcp key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": key}}});
        let answer = send(
            reqwest::Method::POST,
            "/config/mcp-server".into(),
            Some(body),
        )
        .await;
        assert_eq!(
            answer["status"].as_u64().unwrap_or(201),
            expected,
            "{answer}"
        );
    }
    // An LLM config's API key: created, kept across a PATCH, rotated, and refused with bad input.
    let llm = send(
        reqwest::Method::POST,
        "/config/llm".into(),
        Some(json!({"name": "gpt", "provider": "openai", "model": "gpt-4.1", "api_key": CANARIES[8]})),
    )
    .await;
    let llm_path = format!(
        "/config/llm/{}",
        llm["id"].as_str().expect("LLM config created")
    );
    for patch in [
        json!({"model": "gpt-4.1-mini"}),
        json!({"api_key": CANARIES[9]}),
    ] {
        let patched = send(reqwest::Method::PATCH, llm_path.clone(), Some(patch)).await;
        assert_eq!(patched["api_key"], json!({"set": true}), "{patched}");
    }
    let rejected = send(
        reqwest::Method::POST,
        "/config/llm".into(),
        Some(json!({"name": "x", "provider": "nope", "model": "m", "api_key": CANARIES[10]})),
    )
    .await;
    assert_eq!(rejected["status"], 400, "{rejected}");
    send(reqwest::Method::GET, llm_path, None).await;
    for id in &ids {
        let shown = send(reqwest::Method::GET, format!("/auth_configs/{id}"), None).await;
        // A held key's public JWKS, fetched as an authorization server does.
        if let Some(path) = shown["client_assertion"]["jwks_path"].as_str() {
            let path = path.trim_start_matches("/ai/api/v1").to_owned();
            let jwks = send(reqwest::Method::GET, path, None).await;
            assert_eq!(jwks["keys"][0]["kty"], "EC", "{jwks}");
        }
    }
    send(reqwest::Method::GET, "/auth_configs".into(), None).await;
    seen
}

fn assert_no_canary(what: &str, haystack: &[u8]) {
    for canary in CANARIES {
        let needle = canary.as_bytes();
        assert!(
            !haystack.windows(needle.len()).any(|w| w == needle),
            "{canary} leaked into {what}"
        );
    }
}

#[tokio::test]
async fn canary_secrets_never_leak_on_sqlite() {
    let logs = LogCapture::install();
    let stack = TestStack::start(Backend::Sqlite).await;
    let responses = seed(&stack).await;
    assert!(
        responses.contains("\"set\":true"),
        "the seeding did create secrets"
    );
    assert_no_canary("API responses", responses.as_bytes());
    let log_text = logs.text();
    assert!(
        log_text.contains("auth config created"),
        "logs were captured"
    );
    assert_no_canary("logs", log_text.as_bytes());
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(stack.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "key") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(bytes.len() > 4096, "the database files were read");
    assert_no_canary("the SQLite files", &bytes);
}

#[tokio::test]
async fn canary_secrets_never_leak_on_dynamodb() {
    let logs = LogCapture::install();
    let stack = TestStack::start(Backend::DynamoDb).await;
    let responses = seed(&stack).await;
    assert_no_canary("API responses", responses.as_bytes());
    assert_no_canary("logs", logs.text().as_bytes());
    let client = aws_sdk_dynamodb::Client::new(&dynamodb_local().await);
    let scan = client
        .scan()
        .table_name(stack.table.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    let items = format!("{:?}", scan.items());
    assert!(
        scan.count() >= 5,
        "the table holds the configs and the session"
    );
    assert!(items.contains("ciphertext"), "secrets are stored sealed");
    assert_no_canary("the DynamoDB table", items.as_bytes());
}
