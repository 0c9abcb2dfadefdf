//! Every curl example of the product documentation, run as written against the local stack: the
//! commands are kept verbatim in `tests/fixtures/documented-requests/`, and only the hosts, the
//! session and the `<…>` placeholders are substituted (live ids; local MCP servers that require
//! exactly the documented credentials; oidc-provider as the OAuth server, at the documented
//! endpoint paths). Each request must have the documented outcome, on SQLite and DynamoDB Local.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use e2e::{
    Backend, Expect, TestStack, curl,
    oidc::{self, DOCS_CLIENT_ID, DOCS_CLIENT_SECRET, DOCS_REDIRECT_URI, OidcOptions},
    servers::{self, FastMcpAuth, FastMcpOptions, ServerProcess},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The documented API's origin, replaced by the local stack's.
const API_ORIGIN: &str = "https://your-instance.alationcloud.com";

fn fixture(name: &str) -> String {
    let path = servers::repo_root()
        .join("tests/fixtures/documented-requests")
        .join(format!("{name}.curl"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A documented command with its placeholders and hosts replaced.
struct Documented {
    api_origin: String,
    session: String,
    values: BTreeMap<&'static str, String>,
    http: reqwest::Client,
}

impl Documented {
    /// Runs fixture `name` after replacing each `(text, value)` of `hosts`, the API origin, the
    /// session and every placeholder set so far; returns the status and JSON body.
    async fn run(&self, name: &str, hosts: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut text = fixture(name).replace(API_ORIGIN, &self.api_origin);
        text = text.replace("<your-session-id>", &self.session);
        for (from, to) in hosts {
            text = text.replace(from, to);
        }
        for (placeholder, value) in &self.values {
            text = text.replace(placeholder, value);
        }
        assert!(
            !text.contains("alationcloud.com") && !text.contains(".example.com"),
            "{name}: a documented host was not substituted:\n{text}"
        );
        let unfilled: Vec<&str> = text
            .match_indices('<')
            .filter_map(|(i, _)| text[i..].split_once('>').map(|(p, _)| p))
            .filter(|p| p.len() < 40 && !p.contains(' '))
            .collect();
        assert!(
            unfilled.is_empty(),
            "{name}: placeholders left: {unfilled:?}"
        );
        let request = curl::parse(&text);
        let mut builder = self.http.request(request.method, &request.url);
        for (header, value) in &request.headers {
            builder = builder.header(header, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn set(&mut self, placeholder: &'static str, value: &Value) {
        self.values
            .insert(placeholder, value.as_str().unwrap().to_owned());
    }
}

fn tool_names(result: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = e2e::each(&result["tools"], "name");
    names.sort_unstable();
    names
}

/// Asserts a 201 whose `connection_test_result` found FastMCP's two tools.
fn assert_created_with_tools(name: &str, status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    let result = &body["connection_test_result"];
    assert_eq!(result["status"], "SUCCESS", "{name}: {body}");
    assert_eq!(result["tool_count"], 2, "{name}: {body}");
    assert_eq!(tool_names(result), ["add", "echo"], "{name}");
}

/// An MCP server on `/mcp/` or `/ai/mcp/` that trusts access tokens of `issuer` for its own URL.
async fn oauth_protected(path: &'static str, port: u16, issuer: &str) -> ServerProcess {
    let options = FastMcpOptions {
        path: Some(path),
        port: Some(port),
        ..FastMcpOptions::default()
    };
    let auth = FastMcpAuth::OAuth {
        issuer: issuer.to_owned(),
    };
    servers::fastmcp_with(auth, "http", options).await
}

async fn every_documented_request_works_as_written(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let client = stack.client();
    let api_origin = stack.api.trim_end_matches("/ai/api/v1").to_owned();
    let mut docs = Documented {
        api_origin,
        session: stack.session.clone(),
        values: BTreeMap::new(),
        http: reqwest::Client::new(),
    };
    docs.values.insert("<client-id>", DOCS_CLIENT_ID.into());
    docs.values
        .insert("<client-secret>", DOCS_CLIENT_SECRET.into());

    // "remote-instance": the OAuth server at the documented paths, and the MCP server at
    // /ai/mcp/ that accepts its tokens (a token names the MCP server as its audience).
    let remote_mcp_port = shared::testing::child_port();
    let remote_mcp_url = format!("http://127.0.0.1:{remote_mcp_port}/ai/mcp/");
    let remote_as = oidc::start(OidcOptions {
        authorization_path: "/oauth/v1/authorize",
        token_path: "/oauth/v1/token",
        default_resource: Some(remote_mcp_url.clone()),
        default_scope: Some("mcp:tools"),
        ..OidcOptions::default()
    })
    .await;
    let remote_mcp = oauth_protected("/ai/mcp/", remote_mcp_port, &remote_as.issuer).await;
    let remote = [
        (
            "https://remote-instance.alationcloud.com/oauth/",
            format!("{}/oauth/", remote_as.issuer),
        ),
        (
            "https://remote-instance.alationcloud.com/ai/mcp/",
            format!("{}/ai/mcp/", remote_mcp.base),
        ),
    ];
    let remote: Vec<(&str, &str)> = remote.iter().map(|(a, b)| (*a, b.as_str())).collect();

    // 2. Create the auth config.
    let config = docs
        .run("01-create-authorization-code-auth-config", &remote)
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(config["auth_type"], "AUTHORIZATION_CODE");
    assert_eq!(config["use_pkce"], true);
    assert_eq!(config["client_secret"], json!({"set": true}));
    assert_eq!(config["token_status"], "NOT_AUTHORIZED");
    docs.set("<auth-config-id>", &config["id"]);

    // 3. Start the flow; the browser authorizes at the provider and is sent to the redirect URI.
    let started = docs
        .run("02-start-authorization", &remote)
        .await
        .answered(StatusCode::OK);
    let authorization_url = started["authorization_url"].as_str().unwrap();
    assert!(
        authorization_url.starts_with(&format!("{}/oauth/v1/authorize?", remote_as.issuer)),
        "{authorization_url}"
    );
    assert!(
        authorization_url.contains("code_challenge_method=S256"),
        "use_pkce: {authorization_url}"
    );
    let landed = oidc::login(authorization_url, DOCS_REDIRECT_URI).await;
    assert!(landed.query_pairs().any(|(k, _)| k == "code"), "{landed}");
    let query: BTreeMap<String, String> = landed.query_pairs().into_owned().collect();
    docs.values.insert("<auth-code>", query["code"].clone());
    docs.values.insert("<state-value>", query["state"].clone());

    // 4. Complete the callback: the config now holds valid tokens.
    let authorized = docs
        .run("03-complete-callback", &remote)
        .await
        .answered(StatusCode::OK);
    assert_eq!(authorized["token_status"], "VALID", "{authorized}");
    let token_requests = remote_as.token_log().await;
    assert_eq!(token_requests.len(), 1, "{token_requests:?}");
    assert_eq!(
        token_requests[0].grant_type.as_deref(),
        Some("authorization_code")
    );
    assert_eq!(token_requests[0].client_auth, "client_secret_basic");

    // 5. Create the MCP server config: tested first, the tools in the answer.
    let (status, server) = docs.run("04-create-mcp-server", &remote).await;
    assert_created_with_tools("04-create-mcp-server", status, &server);
    assert_eq!(server["timeout_seconds"], 60);
    assert_eq!(
        server["description"],
        "MCP server on remote Alation instance"
    );
    docs.set("<mcp-server-config-id>", &server["id"]);
    docs.set("<config-id>", &server["id"]);

    // 6. Assign it to an agent (its LLM config comes from the API's extension).
    let llm = client
        .created(
            "/config/llm",
            json!({"name": "model", "provider": "openai", "model": "gpt-4.1", "api_key": "sk-docs"}),
        )
        .await;
    docs.values.insert("<llm-config-id>", llm);
    let agent = docs
        .run("05-create-agent", &remote)
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(agent["mcp_server_config_ids"], json!([server["id"]]));
    assert_eq!(agent["input_json_schema"]["required"], json!(["message"]));

    // Inline auth configs: an API key header, HTTP Basic, client credentials. Each server
    // answers only the documented credentials.
    let api_key_server = servers::fastmcp_with(
        FastMcpAuth::ApiKey,
        "http",
        FastMcpOptions::at("/mcp/").with_api_key("your-api-key"),
    )
    .await;
    let basic_server = servers::fastmcp_with(
        FastMcpAuth::Basic,
        "http",
        FastMcpOptions::at("/mcp/").with_basic("user:password"),
    )
    .await;
    let m2m_mcp_port = shared::testing::child_port();
    let m2m_as = oidc::start(OidcOptions {
        token_path: "/oauth/token",
        default_resource: Some(format!("http://127.0.0.1:{m2m_mcp_port}/mcp/")),
        ..OidcOptions::default()
    })
    .await;
    let m2m_server = oauth_protected("/mcp/", m2m_mcp_port, &m2m_as.issuer).await;
    let mcp_host = "https://mcp-server.example.com/mcp/";
    let auth_host = "https://auth.example.com/oauth/token";
    let m2m_token_url = m2m_as.token_endpoint();
    for (name, server, extra) in [
        ("06-inline-api-key", &api_key_server, None),
        ("07-inline-basic", &basic_server, None),
        (
            "08-inline-client-credentials",
            &m2m_server,
            Some((auth_host, m2m_token_url.as_str())),
        ),
    ] {
        let mcp_url = format!("{}/mcp/", server.base);
        let mut hosts = vec![(mcp_host, mcp_url.as_str())];
        hosts.extend(extra);
        let (status, created) = docs.run(name, &hosts).await;
        assert_created_with_tools(name, status, &created);
        assert!(created["auth_config_id"].is_string(), "{created}");
    }
    let m2m_requests = m2m_as.token_log().await;
    assert!(
        m2m_requests
            .iter()
            .all(|r| r.grant_type.as_deref() == Some("client_credentials")
                && r.client_auth == "client_secret_basic"
                && r.status == 200),
        "{m2m_requests:?}"
    );

    // A connection test that fails: 422 with details, and no record is created (neither the
    // server config nor its inline auth config).
    let wrong_key_server = servers::fastmcp_with(
        FastMcpAuth::ApiKey,
        "http",
        FastMcpOptions {
            path: Some("/mcp/"),
            ..FastMcpOptions::default()
        },
    )
    .await;
    let (auth_before, servers_before) = (
        client.count("/auth_configs").await,
        client.count("/config/mcp-server").await,
    );
    let wrong_url = format!("{}/mcp/", wrong_key_server.base);
    let (status, refused) = docs
        .run("06-inline-api-key", &[(mcp_host, wrong_url.as_str())])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["connection_test_result"]["status"], "FAILED");
    assert_eq!(
        refused["connection_test_result"]["category"],
        "unauthorized"
    );
    assert_eq!(client.count("/auth_configs").await, auth_before);
    assert_eq!(client.count("/config/mcp-server").await, servers_before);

    // Re-test at any time: the current status, tool count and tool names.
    let retest = docs
        .run("09-retest", &remote)
        .await
        .answered(StatusCode::OK);
    assert_eq!(retest["status"], "SUCCESS");
    assert_eq!(retest["tool_count"], 2);
    assert_eq!(tool_names(&retest), ["add", "echo"]);
}

e2e::on_both_stores!(every_documented_request_works_as_written);
e2e::on_the_rehearsal!(every_documented_request_works_as_written);
