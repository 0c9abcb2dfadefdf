//! The web console in a real browser (headless Chromium through `tests/browser/console.mjs`)
//! against the local stack, with real MCP servers and a real authorization server: the create
//! form shows a working server's tools and a failing one's diagnosis (nothing stored); the form
//! works from the keyboard alone; Connect goes through the provider's sign-in page and back to
//! the hosted callback page, which leaves no code in the address bar and the token VALID; a tool
//! call's connect link connects that user and returns (never off the console), and they disconnect
//! there (and an MCP client's URL elicitation leads to the same page, after which its call goes
//! through); a callback link started by someone else connects nobody; the local sign-in link signs
//! the browser in; pending tool changes are reviewed and approved; the main pages fit a phone and
//! a desktop without showing a secret, and are saved as screenshots (`target/console-screenshots`; `STUDIO_UPDATE_SCREENSHOTS=1` refreshes the ones in
//! `docs/screenshots`). The API under the console is the same on both stores (the other suites
//! prove that), so these run on SQLite; the form, Connect and approvals also on the deployment
//! rehearsal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{
    ApiClient, Backend, Expect, TestStack, browser,
    oidc::{self, LOGIN_PASSWORD, OidcOptions, OidcProvider},
    servers::{self, FASTMCP_API_KEY, FastMcpAuth, repo_root},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The stack's origin as the browser reaches it (the API is at `<origin>/ai/api/v1`, the console
/// at `<origin>/console`): `localhost` rather than the provider's `127.0.0.1`, so the provider's
/// redirect back to the callback page is a navigation from another site, as in real life, which
/// a session cookie must survive.
fn origin(stack: &TestStack) -> String {
    stack
        .api
        .trim_end_matches("/ai/api/v1")
        .replace("127.0.0.1", "localhost")
}

fn callback(stack: &TestStack) -> String {
    format!("{}/console/oauth/callback", origin(stack))
}

/// The create body of a confidential web-app client at `provider`'s endpoints (none: a port
/// where nothing answers) that comes back to the console's callback page.
fn web_app(stack: &TestStack, name: &str, provider: Option<&OidcProvider>) -> Value {
    let nowhere = "http://127.0.0.1:9";
    let (authorization_url, token_url) = provider.map_or_else(
        || (format!("{nowhere}/auth"), format!("{nowhere}/token")),
        |p| (p.authorization_endpoint(), p.token_endpoint()),
    );
    json!({
        "name": name, "auth_type": "AUTHORIZATION_CODE",
        "authorization_url": authorization_url, "token_url": token_url,
        "client_id": "web-app", "client_secret": "web-secret",
        "token_endpoint_auth_method": "client_secret_post",
        "allowed_redirect_uris": [callback(stack)],
        "scopes": ["openid", "offline_access"],
    })
}

/// [`drive`] as the stack's admin session.
async fn drive_admin(stack: &TestStack, scenario: &str, params: Value) -> Value {
    drive(stack, &stack.session, scenario, params).await
}

async fn drive(stack: &TestStack, session: &str, scenario: &str, mut params: Value) -> Value {
    params["base"] = json!(origin(stack));
    params["session"] = json!(session);
    browser::run(scenario, params).await
}

async fn the_form_shows_a_servers_tools_or_its_diagnosis_and_stores_only_what_works(
    backend: Backend,
) {
    let stack = TestStack::start(backend).await;
    let mcp = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let url = mcp.mcp_url();

    // A wrong key: the diagnosis (stage, category, status) and nothing stored.
    let failed = drive_admin(
        &stack,
        "create-server",
        json!({
            "name": "wrong key", "url": url, "mode": "headers",
            "headerName": "X-Api-Key", "headerValue": "not-the-key", "secrets": ["not-the-key"],
        }),
    )
    .await;
    assert_eq!(
        failed["result_heading"], "Connection test failed",
        "{failed}"
    );
    assert_eq!(failed["facts"]["Stage"], "initialize", "{failed}");
    assert_eq!(failed["facts"]["Category"], "unauthorized", "{failed}");
    assert_eq!(failed["facts"]["HTTP status"], "401", "{failed}");
    assert!(failed["diagnosis"].as_str().unwrap().len() > 10, "{failed}");
    assert_eq!(failed["secrets_on_page"], json!([]), "{failed}");
    assert_eq!(stack.count("/config/mcp-server").await, 0);
    assert_eq!(stack.count("/auth_configs").await, 0);

    // The right key: the tools, the secret neither on the page nor left in its input.
    let created = drive_admin(
        &stack,
        "create-server",
        json!({
            "name": "fastmcp", "url": url, "mode": "headers",
            "headerName": "X-Api-Key", "headerValue": FASTMCP_API_KEY, "secrets": [FASTMCP_API_KEY],
        }),
    )
    .await;
    assert_eq!(created["result_heading"], "Connected: 2 tools", "{created}");
    assert_eq!(created["tools"], json!(["echo", "add"]), "{created}");
    assert_eq!(created["secrets_on_page"], json!([]), "{created}");
    assert_eq!(created["secret_inputs_empty"], true, "{created}");
    assert_eq!(created["focused"], "Connected: 2 tools", "{created}");
    assert_eq!(stack.count("/config/mcp-server").await, 1);

    // An address nothing listens on: where it failed, in the same words the API uses.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = drive_admin(
        &stack,
        "create-server",
        json!({"name": "nobody", "url": dead}),
    )
    .await;
    assert_eq!(unreachable["facts"]["Stage"], "connect", "{unreachable}");
    assert_eq!(unreachable["facts"]["Category"], "connect", "{unreachable}");
    assert_eq!(stack.count("/config/mcp-server").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_create_form_works_from_the_keyboard_alone() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let mcp = servers::fastmcp(FastMcpAuth::None, "http").await;
    let url = mcp.mcp_url();
    let seen = drive_admin(
        &stack,
        "keyboard",
        json!({"name": "by keyboard", "url": url}),
    )
    .await;
    // Focus starts on the heading, the skip link leads to the content, then the first field.
    assert_eq!(
        seen["order"],
        json!(["H1", "name", "#main", "main", "name"]),
        "{seen}"
    );
    assert_eq!(
        seen["form_order"],
        json!([
            "name",
            "description",
            "url",
            "timeout_seconds",
            "auth-mode",
            "Test and create"
        ]),
        "{seen}"
    );
    assert_eq!(seen["result_heading"], "Connected: 2 tools", "{seen}");
    assert_eq!(seen["focused"], "Connected: 2 tools", "{seen}");
    let list = stack
        .get("/config/mcp-server")
        .await
        .answered(StatusCode::OK);
    assert_eq!(list["items"][0]["name"], "by keyboard", "{list}");
}

async fn connect_goes_through_the_providers_sign_in_and_back_to_the_callback_page(
    backend: Backend,
) {
    let stack = TestStack::start(backend).await;
    let provider = oidc::start(OidcOptions::default().with_login_form(&callback(&stack))).await;
    let config = web_app(&stack, "provider", Some(&provider));
    let id = &stack.created("/auth_configs", config).await;

    let seen = drive_admin(
        &stack,
        "connect",
        json!({
            "start": format!("/console/auth-configs/{id}"),
            "login": "alice", "password": LOGIN_PASSWORD,
        }),
    )
    .await;
    assert_eq!(seen["provider"], provider.issuer, "{seen}");
    // Back on the callback page, with code and state gone from the address bar.
    assert_eq!(seen["landed"], callback(&stack), "{seen}");
    assert_eq!(seen["heading"], "Connected", "{seen}");
    assert_eq!(seen["facts"]["Token status"], "valid", "{seen}");
    assert_eq!(
        seen["after_continue"],
        format!("{}/console/auth-configs/{id}", origin(&stack)),
        "{seen}"
    );
    assert!(
        seen["page_after"].as_str().unwrap().contains("valid"),
        "{seen}"
    );
    let (_, stored) = stack.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(stored["token_status"], "VALID", "{stored}");

    // The callback page itself: never cached, never a referrer, no inline script allowed.
    let page = reqwest::Client::new()
        .get(format!("{}?code=c&state=s", callback(&stack)))
        .header("Cookie", format!("sessionid={}", stack.session))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

/// A config that allows its own console callback page connects through it, and the page
/// finishes the flow at that config's own API callback (which finishes no other config's flow:
/// the mix-up defence for servers that do not send `iss`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_comes_back_to_the_configs_own_callback_page() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let config = web_app(&stack, "provider", None);
    let id = stack.created("/auth_configs", config).await;
    let own = format!("{}/{id}", callback(&stack));
    let provider = oidc::start(OidcOptions::default().with_login_form(&own)).await;
    stack
        .patch(
            &format!("/auth_configs/{id}"),
            json!({"authorization_url": provider.authorization_endpoint(),
                   "token_url": provider.token_endpoint(), "client_secret": "web-secret",
                   "allowed_redirect_uris": [own]}),
        )
        .await
        .answered(StatusCode::OK);
    let seen = drive_admin(
        &stack,
        "connect",
        json!({
            "start": format!("/console/auth-configs/{id}"),
            "login": "alice", "password": LOGIN_PASSWORD,
        }),
    )
    .await;
    assert_eq!(seen["landed"], own, "{seen}");
    assert_eq!(seen["heading"], "Connected", "{seen}");
    let (_, log) = stack.get("/audit?limit=5").await;
    assert!(
        log["items"].as_array().unwrap().iter().any(|e| e["action"]
            == "GET /ai/api/v1/oauth/{auth_config_id}/callback"
            && e["status"] == 200),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tool_calls_connect_link_connects_that_user_and_comes_back() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let provider = oidc::start(
        OidcOptions::default()
            .with_registration()
            .with_login_form(&callback(&stack)),
    )
    .await;
    let mcp = servers::fastmcp_oauth(&provider.issuer).await;
    let url = mcp.mcp_url();
    let alice = stack.client();
    let bob_session = stack.session_for("acme", "bob").await;
    let bob = alice.with_session(&bob_session);

    let config = alice
        .post(
            "/auth_configs",
            json!({
                "name": "per user", "auth_type": "AUTHORIZATION_CODE", "discover_from": url,
                "allowed_redirect_uris": [callback(&stack)], "connection_mode": "per_user",
            }),
        )
        .await
        .answered(StatusCode::CREATED);
    let id = config["id"].as_str().unwrap().to_owned();
    let alice_connects = drive_admin(
        &stack,
        "connect",
        json!({
            "start": format!("/console/connect/{id}"), "login": "alice", "password": LOGIN_PASSWORD,
        }),
    )
    .await;
    assert_eq!(alice_connects["heading"], "Connected", "{alice_connects}");
    assert_eq!(
        alice_connects["after_continue"],
        format!("{}/console/connections", origin(&stack))
    );
    assert!(
        alice_connects["page_after"]
            .as_str()
            .unwrap()
            .contains("per user"),
        "{alice_connects}"
    );

    let server = alice
        .created(
            "/config/mcp-server",
            json!({"name": "oauth", "url": url, "auth_config_id": id}),
        )
        .await;
    let agent = alice.agent_using(&[&server]).await;
    let call_path = format!("/agent/{agent}/tools/call");
    let call = json!({"tool": "add", "arguments": {"a": 40, "b": 2}});

    // Bob has not connected: the answer links to the console's connect page.
    let problem = bob
        .post(&call_path, call.clone())
        .await
        .answered(StatusCode::CONFLICT);
    let connect_url = problem["reauthorization"]["connect_url"].as_str().unwrap();
    assert_eq!(connect_url, format!("/console/connect/{id}"));
    let back = format!("/console/agents/{agent}");
    let bob_connects = drive(&stack, &bob_session, "connect", json!({
        "start": format!("{connect_url}?return_to={back}"), "login": "bob", "password": LOGIN_PASSWORD,
    }))
    .await;
    assert_eq!(bob_connects["before"], "Connect per user", "{bob_connects}");
    assert_eq!(bob_connects["heading"], "Connected", "{bob_connects}");
    assert_eq!(
        bob_connects["after_continue"],
        format!("{}{back}", origin(&stack)),
        "{bob_connects}"
    );
    assert_eq!(bob_connects["heading_after"], "a", "{bob_connects}");
    let sum = bob.post(&call_path, call).await.answered(StatusCode::OK);
    assert_eq!(sum["result"]["content"][0]["text"], "42");

    // A return address off the console is ignored: the user lands on their connections.
    let (_, _) = bob.delete(&format!("/oauth/connections/{id}")).await;
    let elsewhere = drive(
        &stack,
        &bob_session,
        "connect",
        json!({
            "start": format!("{connect_url}?return_to=https://attacker.example/"),
            "login": "bob", "password": LOGIN_PASSWORD,
        }),
    )
    .await;
    assert_eq!(
        elsewhere["after_continue"],
        format!("{}/console/connections", origin(&stack))
    );

    // Bob disconnects in the console: his tokens are gone, Alice stays connected.
    let disconnected = drive(&stack, &bob_session, "disconnect", json!({})).await;
    assert!(
        disconnected["before"]
            .as_str()
            .unwrap()
            .contains("per user"),
        "{disconnected}"
    );
    let (_, mine) = bob.get("/oauth/connections").await;
    assert_eq!(mine["items"], json!([]), "{mine}");
    let (_, config) = alice.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(config["connected_users"], 1, "{config}");

    // The same through the agent's MCP endpoint: the URL elicitation names the connect page;
    // once Bob has connected there in the browser, the same MCP call goes through.
    let endpoint = format!("{}/mcp/agents/{agent}", stack.api);
    let refused = mcp_call_add(&endpoint, &bob_session).await;
    assert_eq!(refused["error"]["code"], -32042, "{refused}");
    let page = refused["error"]["data"]["elicitations"][0]["url"]
        .as_str()
        .unwrap()
        .strip_prefix(stack.api.trim_end_matches("/ai/api/v1"))
        .unwrap()
        .to_owned();
    let connected = drive(
        &stack,
        &bob_session,
        "connect",
        json!({"start": page, "login": "bob", "password": LOGIN_PASSWORD}),
    )
    .await;
    assert_eq!(connected["heading"], "Connected", "{connected}");
    let called = mcp_call_add(&endpoint, &bob_session).await;
    assert_eq!(called["result"]["content"][0]["text"], "42", "{called}");
}

/// Calls the tool `add` (40 + 2) at the MCP `endpoint` as an MCP client of the 2025-11-25
/// revision would, with `credential` as its bearer token; the JSON-RPC answer.
async fn mcp_call_add(endpoint: &str, credential: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(endpoint)
        .bearer_auth(credential)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "add", "arguments": {"a": 40, "b": 2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

/// A callback link is worth nothing to anyone but the user who started its authorization: one
/// started by another member of the tenant (or of another tenant), sent to a signed-in user and
/// opened in their console, redeems no code, connects nobody, leaves no code in the address bar
/// and offers no way off the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_link_started_by_someone_else_connects_nobody() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let provider = oidc::start(OidcOptions {
        redirect_uris: vec![callback(&stack)],
        ..OidcOptions::default()
    })
    .await;
    let alice = stack.client();
    let config = web_app(&stack, "shared", Some(&provider));
    let id = &alice.created("/auth_configs", config).await;

    // Mallory, of the same tenant, starts an authorization and signs in at the provider with
    // their own account, but sends the link the provider redirects to instead of opening it.
    let mallory = alice.with_session(&stack.session_for("acme", "mallory").await);
    let started = mallory.start_authorization(id, &callback(&stack)).await;
    let link = oidc::login(
        started["authorization_url"].as_str().unwrap(),
        &callback(&stack),
    )
    .await;
    assert!(link.query().unwrap().contains("code="), "{link}");

    let outsider = stack.session_for("globex", "carol").await;
    for (who, session) in [("alice", stack.session.clone()), ("carol", outsider)] {
        let seen = drive(&stack, &session, "open-link", json!({"url": link.as_str()})).await;
        assert_eq!(seen["heading"], "Authorization failed", "{who}: {seen}");
        assert_eq!(seen["url"], callback(&stack), "{who}: {seen}");
        assert_eq!(seen["continue"], false, "{who}: {seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(text.contains("another user"), "{who}: {text}");
        for href in seen["links"].as_array().unwrap() {
            let href = href.as_str().unwrap();
            assert!(
                href.starts_with(&format!("{}/console/", origin(&stack))),
                "{who}: a link off the console: {href}"
            );
        }
    }

    // No code was redeemed: the provider saw no token request, and the config is still waiting.
    assert_eq!(provider.stats().await.token_requests, 0);
    let (_, stored) = alice.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(stored["token_status"], "NOT_AUTHORIZED", "{stored}");
}

/// Data for the screenshots: a healthy server with Basic credentials, an agent, a connected and
/// an unconnected OAuth config, and a server with tool changes to review.
struct Showcase {
    server: String,
    changed_server: String,
    agent: String,
    auth_config: String,
    secrets: Vec<String>,
    _servers: Vec<servers::ServerProcess>,
}

async fn showcase(api: &ApiClient) -> Showcase {
    let basic = servers::fastmcp(FastMcpAuth::Basic, "http").await;
    let changing = servers::fastmcp(FastMcpAuth::None, "http").await;
    let created = api
        .post(
            "/config/mcp-server",
            json!({
            "name": "Docs search", "description": "Search the product documentation",
            "url": basic.mcp_url(),
            "auth_config": {"name": "Docs search login", "auth_type": "BASIC",
                            "username": servers::FASTMCP_BASIC_USER,
                            "password": servers::FASTMCP_BASIC_PASSWORD}}),
        )
        .await
        .answered(StatusCode::CREATED);
    let server = created["id"].as_str().unwrap().to_owned();
    let changed_server = api
        .created(
            "/config/mcp-server",
            json!({"name": "Files", "url": changing.mcp_url()}),
        )
        .await;
    reqwest::Client::new()
        .post(format!("{}/_mutate", changing.base))
        .send()
        .await
        .unwrap();
    api.post(
        &format!("/config/mcp-server/{changed_server}/test"),
        json!({}),
    )
    .await
    .answered(StatusCode::OK);
    let auth_config = api
        .created(
            "/auth_configs",
            json!({
            "name": "CRM (per user)", "auth_type": "AUTHORIZATION_CODE",
            "authorization_url": "https://crm.example.com/oauth/authorize",
            "token_url": "https://crm.example.com/oauth/token",
            "client_id": "agent-studio", "client_secret": "crm-client-secret-value",
            "allowed_redirect_uris": ["https://crm.example.com/callback"],
            "connection_mode": "per_user", "scopes": ["read"]}),
        )
        .await;
    let agent = json!({"name": "Support assistant", "prompt": "You help customers.",
                       "llm_config_id": api.llm_config().await,
                       "mcp_server_config_ids": [server, changed_server]});
    let agent = api.created("/config/agent", agent).await;
    Showcase {
        server,
        changed_server,
        agent,
        auth_config,
        secrets: vec![
            servers::FASTMCP_BASIC_PASSWORD.to_owned(),
            "crm-client-secret-value".to_owned(),
        ],
        _servers: vec![basic, changing],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_main_pages_fit_a_phone_and_a_desktop_and_show_no_secret() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let data = showcase(&stack.client()).await;
    let dir = browser::screenshot_dir();
    let pages = json!([
        ["overview", "/console/"],
        ["servers", "/console/servers"],
        ["new-server", "/console/servers/new"],
        ["server", format!("/console/servers/{}", data.server)],
        ["auth-configs", "/console/auth-configs"],
        [
            "auth-config",
            format!("/console/auth-configs/{}", data.auth_config)
        ],
        ["agent", format!("/console/agents/{}", data.agent)],
        ["connect", format!("/console/connect/{}", data.auth_config)],
        ["connections", "/console/connections"],
        ["audit", "/console/audit"],
    ]);
    let seen = drive_admin(
        &stack,
        "screenshots",
        json!({"dir": dir, "pages": pages, "secrets": data.secrets}),
    )
    .await;
    let shots = seen["shots"].as_array().unwrap();
    assert_eq!(shots.len(), 20, "{seen}");
    for shot in shots {
        assert_eq!(shot["overflow_px"], 0, "wider than the screen: {shot}");
        assert_eq!(
            shot["secrets_on_page"],
            json!([]),
            "a secret on the page: {shot}"
        );
        let heading = shot["heading"].as_str().unwrap();
        assert!(
            !["Something went wrong", "Not found", "Sign in"].contains(&heading),
            "{shot}"
        );
        assert!(
            std::path::Path::new(shot["file"].as_str().unwrap()).exists(),
            "{shot}"
        );
    }

    // Pending tool changes: the diff as offered now (the "rug pull" is visible), then approved.
    let (_, shown) = stack
        .get(&format!("/config/mcp-server/{}", data.changed_server))
        .await;
    let version = shown["version"].as_u64().unwrap();
    let reviewed = drive_admin(
        &stack,
        "approve",
        json!({
            "start": format!("/console/servers/{}", data.changed_server),
            "screenshot": dir.join("tool-review-desktop.png"),
        }),
    )
    .await;
    let pending = reviewed["pending"].as_str().unwrap();
    assert!(pending.contains("read_file"), "{pending}");
    assert!(pending.contains("attacker.example"), "{pending}");
    // Approved as reviewed: the version the page showed, so a change since would be refused.
    assert_eq!(
        reviewed["if_match"],
        json!(format!("\"{version}\"")),
        "{reviewed}"
    );
    let (_, server) = stack
        .get(&format!("/config/mcp-server/{}", data.changed_server))
        .await;
    assert!(server["pending_tools"].is_null(), "{server}");

    if std::env::var_os("STUDIO_UPDATE_SCREENSHOTS").is_some() {
        let docs = repo_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for name in [
            "overview-desktop",
            "new-server-desktop",
            "server-desktop",
            "tool-review-desktop",
            "auth-config-desktop",
            "agent-desktop",
            "servers-phone",
        ] {
            std::fs::copy(
                dir.join(format!("{name}.png")),
                docs.join(format!("{name}.png")),
            )
            .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_browser_oauth_walkthrough_runs_verbatim() {
    use shared::testing::{readme_walkthrough, run_script};
    let stack = TestStack::start(Backend::Sqlite).await;
    let provider = oidc::start(OidcOptions::default().with_login_form(&callback(&stack))).await;
    let api = format!("{}/ai/api/v1", origin(&stack));
    let env = [
        ("API", api.as_str()),
        ("SESSION", stack.session.as_str()),
        ("AS", provider.issuer.as_str()),
    ];
    let printed = run_script(&readme_walkthrough("oauth-browser"), &env).await;
    let page = printed
        .lines()
        .find_map(|line| line.strip_prefix("Open "))
        .and_then(|rest| rest.strip_suffix(" and press Connect"))
        .unwrap_or_else(|| panic!("the walkthrough prints the page to open: {printed}"));
    let start = page
        .strip_prefix(&origin(&stack))
        .expect("a console page of the stack");
    let seen = drive_admin(
        &stack,
        "connect",
        json!({
            "start": start, "login": "me", "password": LOGIN_PASSWORD,
        }),
    )
    .await;
    assert_eq!(seen["heading"], "Connected", "{seen}");
    assert_eq!(seen["landed"], callback(&stack), "{seen}");
    let id = start.rsplit('/').next().unwrap();
    let (_, config) = stack.get(&format!("/auth_configs/{id}")).await;
    assert_eq!(config["token_status"], "VALID", "{config}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_sign_in_link_signs_the_browser_in() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let seen = drive(&stack, &stack.session, "sign-in", json!({})).await;
    let base = origin(&stack);
    // Without a session: the sign-in page (to come back here), not a JSON 401.
    let sign_in = format!("{base}/console/sign-in?return_to=%2Fconsole%2Fservers");
    assert_eq!(seen["without_session"]["url"], sign_in, "{seen}");
    assert_eq!(seen["without_session"]["heading"], "Sign in", "{seen}");
    // The link fills the form and leaves the address bar, but signs nobody in by itself: another
    // site could open it with a session of its choosing.
    assert_eq!(
        seen["before_click"],
        json!({"url": sign_in, "cookie": false, "prefilled": "filled"}),
        "{seen}"
    );
    // One click: signed in, back where the browser was going.
    assert_eq!(seen["url"], format!("{base}/console/servers"), "{seen}");
    assert_eq!(seen["cookie"]["value"], stack.session.as_str(), "{seen}");
    assert_eq!(seen["cookie"]["sameSite"], "Lax", "{seen}");
}

/// A member's console offers no change the role may not make: no create link or form, no
/// Approve all, no audit log, no button that edits an auth config; what a member may do (test a
/// server, connect their own account) is still there. The API would refuse the rest anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_members_console_offers_no_change_the_role_may_not_make() {
    let stack = TestStack::start(Backend::Sqlite).await;
    let data = showcase(&stack.client()).await;
    let member = stack.member_session_for("acme", "bob").await;
    let pages = json!([
        ["servers", "/console/servers"],
        [
            "server",
            format!("/console/servers/{}", data.changed_server)
        ],
        ["new-server", "/console/servers/new"],
        [
            "auth-config",
            format!("/console/auth-configs/{}", data.auth_config)
        ],
        ["audit", "/console/audit"],
        ["overview", "/console/"],
    ]);
    let seen = drive(&stack, &member, "member", json!({"pages": pages})).await;
    for name in [
        "servers",
        "server",
        "new-server",
        "auth-config",
        "audit",
        "overview",
    ] {
        let page = &seen[name];
        assert_eq!(page["role"], "member", "{name}: {seen}");
        assert!(
            !page["nav"]
                .as_array()
                .unwrap()
                .contains(&json!("Audit log")),
            "{name}: {page}"
        );
        let links = page["links"].as_array().unwrap();
        assert!(!links.contains(&json!("New MCP server")), "{name}: {page}");
        assert!(
            !links.contains(&json!("Add an MCP server")),
            "{name}: {page}"
        );
    }
    let server = &seen["server"];
    assert!(
        server["text"]
            .as_str()
            .unwrap()
            .contains("An admin reviews and approves tool changes."),
        "{server}"
    );
    let buttons = server["buttons"].as_array().unwrap();
    assert!(!buttons.contains(&json!("Approve all")), "{server}");
    assert!(buttons.contains(&json!("Test now")), "{server}");
    assert!(
        seen["new-server"]["text"]
            .as_str()
            .unwrap()
            .contains("Only an admin adds MCP servers"),
        "{}",
        seen["new-server"]
    );
    assert_eq!(
        seen["audit"]["heading"], "Not for your role",
        "{}",
        seen["audit"]
    );
    assert!(
        seen["audit"]["text"].as_str().unwrap().contains("admin"),
        "{}",
        seen["audit"]
    );
    // A per_user config: the member may connect, but not allow the console's callback.
    let config = &seen["auth-config"];
    assert!(
        !config["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b.as_str().unwrap().starts_with("Allow")),
        "{config}"
    );
    assert!(
        config["text"]
            .as_str()
            .unwrap()
            .contains("Ask an admin to add it"),
        "{config}"
    );
    // The admin's console still offers them.
    let admin = drive(&stack, &stack.session, "member", json!({"pages": pages})).await;
    assert_eq!(admin["server"]["role"], "admin");
    assert!(
        admin["server"]["buttons"]
            .as_array()
            .unwrap()
            .contains(&json!("Approve all")),
        "{}",
        admin["server"]
    );
    assert!(
        admin["audit"]["nav"]
            .as_array()
            .unwrap()
            .contains(&json!("Audit log"))
    );
}

/// A tool call held by a policy: an admin opens its page, sees the exact arguments, approves
/// it with a reason; the caller's repeat runs once, a replay is refused.
async fn an_admin_approves_a_held_call_and_the_callers_repeat_runs_once(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let bank = servers::fastmcp_with(
        FastMcpAuth::None,
        "http",
        servers::FastMcpOptions {
            bank: true,
            ..servers::FastMcpOptions::default()
        },
    )
    .await;
    let server = stack.mcp_server("bank", &bank.mcp_url()).await;
    let llm = stack.llm_config().await;
    let agent = stack
        .created(
            "/config/agent",
            json!({"name": "teller", "prompt": "Move money.", "llm_config_id": llm,
                   "mcp_server_config_ids": [server]}),
        )
        .await;
    stack
        .created(
            "/config/policy",
            json!({"name": "approve over 1000", "policy":
                r#"forbid(principal, action == Action::"call_tool_unattended", resource) when { resource.name == "transfer" && context.arguments.amount > 1000 };"#}),
        )
        .await;
    let member = stack.with_session(&stack.member_session_for("acme", "bob").await);
    let arguments = json!({"amount": 5000, "currency": "EUR",
                           "to": {"iban": "DE89370400440532013000", "country": "DE"}});
    let call = format!("/agent/{agent}/tools/call");
    let (status, held) = member
        .post(&call, json!({"tool": "transfer", "arguments": arguments}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let id = held["approval"]["id"].as_str().unwrap().to_owned();

    let dir = repo_root().join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let seen = drive_admin(
        &stack,
        "approve-call",
        json!({"start": format!("/console/approvals/{id}"), "reason": "known payee",
               "screenshot": dir.join("approval-desktop.png")}),
    )
    .await;
    assert_eq!(seen["page_errors"], json!([]), "{seen}");
    let before = &seen["before"];
    assert_eq!(before["heading"], "Approval: transfer", "{seen}");
    assert_eq!(before["facts"]["Status"], "pending", "{seen}");
    assert_eq!(before["facts"]["Asked by"], "bob", "{seen}");
    let shown: Value = serde_json::from_str(before["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(shown, arguments, "the exact arguments are shown: {seen}");
    assert_eq!(before["buttons"], json!(["Approve", "Deny"]), "{seen}");
    assert_eq!(seen["body"], r#"{"reason":"known payee"}"#, "{seen}");
    assert_eq!(seen["after"]["facts"]["Status"], "approved", "{seen}");
    assert_eq!(seen["after"]["facts"]["Reason"], "known payee", "{seen}");
    assert_eq!(seen["after"]["buttons"], json!([]), "{seen}");

    let sent = bank.requests_seen().await.as_array().unwrap().len();
    let repeat = json!({"tool": "transfer", "arguments": arguments, "approval_id": id});
    let (status, ran) = member.post(&call, repeat.clone()).await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert!(bank.requests_seen().await.as_array().unwrap().len() > sent);
    let sent = bank.requests_seen().await.as_array().unwrap().len();
    let (status, replayed) = member.post(&call, repeat).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{replayed}");
    assert_eq!(bank.requests_seen().await.as_array().unwrap().len(), sent);
}

/// These also run on the deployment rehearsal (`rehearsal::<name>`): the console function's own
/// binary behind the API Gateway emulator and the authorizer, under the stage's path.
mod sqlite {
    use e2e::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_form_shows_a_servers_tools_or_its_diagnosis_and_stores_only_what_works() {
        super::the_form_shows_a_servers_tools_or_its_diagnosis_and_stores_only_what_works(
            Backend::Sqlite,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn connect_goes_through_the_providers_sign_in_and_back_to_the_callback_page() {
        super::connect_goes_through_the_providers_sign_in_and_back_to_the_callback_page(
            Backend::Sqlite,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_admin_approves_a_held_call_and_the_callers_repeat_runs_once() {
        super::an_admin_approves_a_held_call_and_the_callers_repeat_runs_once(Backend::Sqlite)
            .await;
    }
}
e2e::on_the_rehearsal!(
    the_form_shows_a_servers_tools_or_its_diagnosis_and_stores_only_what_works,
    connect_goes_through_the_providers_sign_in_and_back_to_the_callback_page,
    an_admin_approves_a_held_call_and_the_callers_repeat_runs_once,
);
