//! Roles inside a tenant, end to end on both stores: every operation of the OpenAPI document is
//! called by an admin, a member and another tenant's admin and answered as the role table says
//! (a route without a rule fails here); a member's refused attempts store nothing, send nothing
//! to any server and are audited; and the ways a member could redirect a credential (re-point a
//! public client's token endpoint, bind another member's standalone config to a server of theirs,
//! name a Secrets Manager reference, authorize a shared config, approve tools) are refused before
//! anything reaches the capture server that stands in for theirs. What an admin changes of where
//! a login's codes or tokens go voids what was in flight and is announced to the tenant.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use e2e::{
    Backend, Expect, TestStack, capture,
    servers::{self, EverythingTransport},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::api::access;

const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// A secret a member must never get anywhere.
const CANARY: &str = "canary-key-of-the-admin-9f2c";

/// The records every operation's path parameters name, made by the tenant's admin.
struct Fixture {
    stack: TestStack,
    _mcp: servers::ServerProcess,
    capture: capture::CaptureServer,
    ids: BTreeMap<&'static str, String>,
    member: e2e::ApiClient,
    outsider: e2e::ApiClient,
}

async fn fixture(backend: Backend) -> Fixture {
    let stack = TestStack::start(backend).await;
    let mcp = servers::server_everything(EverythingTransport::StreamableHttp).await;
    let capture = capture::start().await;
    let admin = stack.client();
    let auth = admin
        .created(
            "/auth_configs",
            json!({"name": "key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": CANARY}}),
        )
        .await;
    let server = admin.mcp_server("everything", &mcp.mcp_url()).await;
    let llm = admin.llm_config().await;
    let agent = admin
        .created(
            "/config/agent",
            json!({"name": "helper", "description": "Answers with tools",
                   "prompt": "You are a helpful assistant.", "llm_config_id": llm,
                   "mcp_server_config_ids": [server],
                   "input_json_schema": {"type": "object", "properties": {"question": {"type": "string"}}}}),
        )
        .await;
    let webhook = admin
        .created(
            "/config/webhook",
            json!({"url": format!("{}/hook", capture.base), "events": ["mcp_server.health_changed"]}),
        )
        .await;
    // A public client (no secret), one account per user: the case where moving `token_url`
    // needs no secret given again.
    let per_user = admin
        .created(
            "/auth_configs",
            json!({"name": "mine", "auth_type": "AUTHORIZATION_CODE", "connection_mode": "per_user",
                   "authorization_url": format!("{}/authorize", capture.base),
                   "token_url": format!("{}/token", capture.base), "client_id": "public-client",
                   "allowed_redirect_uris": [REDIRECT_URI]}),
        )
        .await;
    // A key this service holds (private_key_jwt): its public JWKS.
    let keyed = admin
        .created(
            "/auth_configs",
            json!({"name": "keyed", "auth_type": "CLIENT_CREDENTIALS",
                   "token_url": format!("{}/token", capture.base), "client_id": "keyed-client",
                   "token_endpoint_auth_method": "private_key_jwt"}),
        )
        .await;
    let (_, keyed) = admin.get(&format!("/auth_configs/{keyed}")).await;
    let kid = keyed["client_assertion"]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = stack.with_session(&stack.member_session_for("acme", "bob").await);
    let outsider = stack.with_session(&stack.session_for("globex", "carol").await);
    // A policy that holds the member's echo for a person: the approval it asks for.
    let policy = admin
        .created(
            "/config/policy",
            json!({"name": "ask before echoing", "policy":
                r#"forbid(principal, action == Action::"call_tool_unattended", resource) when { resource.name == "echo" };"#}),
        )
        .await;
    let (status, held) = member
        .post(
            &format!("/agent/{agent}/tools/call"),
            json!({"tool": "echo", "arguments": {"message": "hi"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let approval = held["approval"]["id"].as_str().unwrap().to_owned();
    let ids = BTreeMap::from([
        ("/ai/api/v1/auth_configs/{id}", auth),
        ("/ai/api/v1/config/mcp-server/{id}", server),
        ("/ai/api/v1/config/llm/{id}", llm),
        ("/ai/api/v1/config/agent/{id}", agent.clone()),
        ("/ai/api/v1/agent/{id}", agent.clone()),
        (
            "/.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent_id}",
            agent.clone(),
        ),
        ("/ai/api/v1/mcp/agents/{agent_id}", agent),
        ("/ai/api/v1/config/webhook/{id}", webhook),
        ("/ai/api/v1/config/policy/{id}", policy),
        ("/ai/api/v1/approvals/{id}", approval),
        ("/ai/api/v1/oauth/{auth_config_id}", per_user.clone()),
        ("/ai/api/v1/oauth/connections/{auth_config_id}", per_user),
        ("/ai/api/v1/oauth/jwks/{kid}", kid),
    ]);
    Fixture {
        stack,
        _mcp: mcp,
        capture,
        ids,
        member,
        outsider,
    }
}

/// One operation of the document, ready to send.
struct Operation {
    method: Method,
    template: String,
    path: String,
    needs: String,
    has_body: bool,
}

impl Operation {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    fn has_id(&self) -> bool {
        self.template.contains('{')
    }

    /// Sends it as `client`, in a form that changes nothing when it passes the role check: an
    /// empty body (invalid for every create and call), `If-Match` naming no version.
    async fn send(&self, client: &e2e::ApiClient) -> (StatusCode, Value) {
        let path = self.path.trim_start_matches("/ai/api/v1");
        let conditional = matches!(self.method, Method::PATCH | Method::DELETE)
            || self.template.ends_with("/tools/approve");
        let headers: &[(&str, &str)] = if conditional {
            &[("If-Match", "\"999999\"")]
        } else {
            &[]
        };
        let body = self.has_body.then(|| json!({}));
        client
            .call_with_headers(self.method.clone(), path, body, headers)
            .await
    }
}

/// Every operation of the served document, with its path parameters filled from the fixture.
async fn operations(f: &Fixture) -> Vec<Operation> {
    let doc = f.stack.get("/openapi.json").await.answered(StatusCode::OK);
    let mut all = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            let mut path = template.clone();
            if let Some(at) = template.find('{') {
                let end = at + template[at..].find('}').unwrap() + 1;
                let prefix = &template[..end];
                let id = f
                    .ids
                    .get(prefix)
                    .unwrap_or_else(|| panic!("the fixture names no record for {prefix}"));
                path = format!("{}{id}{}", &template[..at], &template[end..]);
            }
            if template.ends_with("/authorize") {
                path.push_str("?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback");
            }
            all.push(Operation {
                method,
                template: template.clone(),
                path,
                needs: operation["x-required-role"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{template}: no x-required-role"))
                    .to_owned(),
                has_body: operation.get("requestBody").is_some(),
            });
        }
    }
    all
}

/// What the tenant's admin sees of every record: a refused request must leave it as it was.
async fn snapshot(f: &Fixture) -> Value {
    let admin = f.stack.client();
    let mut seen = serde_json::Map::new();
    for list in [
        "/auth_configs",
        "/config/mcp-server",
        "/config/llm",
        "/config/agent",
        "/config/webhook",
        "/config/policy",
        "/oauth/connections",
    ] {
        let (status, page) = admin.get(list).await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
        seen.insert(list.to_owned(), page);
    }
    Value::Object(seen)
}

/// The role table and the document agree: every operation has a rule and every rule an
/// operation. Then each operation answers an admin, a member and another tenant's admin as the
/// table says.
async fn every_operation_answers_each_role_as_the_table_says(backend: Backend) {
    let f = fixture(backend).await;
    let ops = operations(&f).await;
    for op in &ops {
        let rule = access::rule_for(&op.method, &op.template)
            .unwrap_or_else(|| panic!("{}: a route without a rule in the role table", op.label()));
        assert_eq!(rule.need.as_str(), op.needs, "{}", op.label());
    }
    for rule in access::RULES {
        assert!(
            ops.iter()
                .any(|op| op.method.as_str() == rule.method && op.template == rule.path),
            "{} {}: a rule for no operation of the document",
            rule.method,
            rule.path
        );
    }

    // The member first: refusals change nothing and send nothing.
    let before = snapshot(&f).await;
    let sent_before = f.capture.requests().len();
    let refused: Vec<_> = ops.iter().filter(|op| op.needs == "admin").collect();
    assert!(refused.len() >= 17, "{} admin operations", refused.len());
    for op in &refused {
        let (status, problem) = op.send(&f.member).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}: {problem}", op.label());
        assert_eq!(
            problem["type"], "urn:agent-studio:problem:forbidden",
            "{problem}"
        );
        assert_eq!(problem["required_role"], "admin", "{problem}");
    }
    assert_eq!(
        snapshot(&f).await,
        before,
        "a refused request changes nothing"
    );
    assert_eq!(
        f.capture.requests().len(),
        sent_before,
        "a refused request sends nothing: {:?}",
        f.capture.requests()
    );
    // Every refusal is audited, reads included, with the member's role.
    let (_, log) = f.stack.get("/audit?limit=200").await;
    let refusals: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "bob" && e["status"] == 403)
        .collect();
    assert_eq!(refusals.len(), refused.len(), "{log}");
    assert!(refusals.iter().all(|e| e["actor_role"] == "member"));
    assert!(
        refusals
            .iter()
            .any(|e| e["action"] == "GET /ai/api/v1/audit")
    );

    for op in &ops {
        if op.needs == "public" {
            for client in [&f.member, &f.outsider] {
                let (status, _) = op.send(client).await;
                assert!(
                    ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status),
                    "{}",
                    op.label()
                );
            }
            continue;
        }
        // The admin passes every check (an empty body or a stale If-Match stops it after).
        let (status, body) = op.send(&f.stack.client()).await;
        assert!(
            ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status),
            "admin {}: {status} {body}",
            op.label()
        );
        if op.needs == "member" {
            let (status, body) = op.send(&f.member).await;
            assert!(
                ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status),
                "member {}: {status} {body}",
                op.label()
            );
        }
        // Another tenant's admin never reaches this tenant's records.
        let (status, body) = op.send(&f.outsider).await;
        if op.has_id() {
            // Not found; an empty body (or a callback without `state`, which is all a callback
            // is looked up by) may be refused as invalid first, which says nothing about the
            // record.
            let expected: &[StatusCode] = if op.has_body || op.template.ends_with("/callback") {
                &[StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST]
            } else {
                &[StatusCode::NOT_FOUND]
            };
            assert!(
                expected.contains(&status),
                "outsider {}: {status} {body}",
                op.label()
            );
        } else {
            assert_ne!(status, StatusCode::FORBIDDEN, "outsider {}", op.label());
        }
    }

    // Who am I: the role and what it may call, from the same table.
    let (_, me) = f.member.get("/me").await;
    assert_eq!(
        (&me["tenant_id"], &me["user_id"], &me["role"]),
        (&json!("acme"), &json!("bob"), &json!("member"))
    );
    let allowed: Vec<&str> = me["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(allowed.contains(&"POST /ai/api/v1/config/mcp-server/{id}/test"));
    assert!(!allowed.contains(&"POST /ai/api/v1/config/mcp-server"));
    let (_, me) = f.stack.get("/me").await;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["allowed"].as_array().unwrap().len(), access::RULES.len());
}

/// The ways a member could send a credential or a login somewhere its owner did not intend are
/// each refused before anything is sent, and leave the configs as they were.
async fn a_member_can_redirect_no_credential_and_no_login(backend: Backend) {
    let f = fixture(backend).await;
    let admin = f.stack.client();
    let attacker = capture::start().await;
    let per_user = f.ids["/ai/api/v1/oauth/{auth_config_id}"].clone();
    let standalone = f.ids["/ai/api/v1/auth_configs/{id}"].clone();
    let before = snapshot(&f).await;
    let sent_before = f.capture.requests().len();

    let refused = |method: Method, path: String, body: Value| {
        let member = &f.member;
        async move {
            let (status, problem) = member.call(method, &path, Some(body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {problem}");
        }
    };
    // Re-point a public client's token endpoint (no secret to give again): refused.
    refused(
        Method::PATCH,
        format!("/auth_configs/{per_user}"),
        json!({"token_url": format!("{}/token", attacker.base),
               "allowed_origins": [attacker.base]}),
    )
    .await;
    // Bind the admin's standalone API key to a server of the member's: refused, nothing sent.
    let servers = "/config/mcp-server".to_owned();
    refused(
        Method::POST,
        servers.clone(),
        json!({"name": "mine", "url": attacker.mcp_url(),
               "auth_config_id": standalone}),
    )
    .await;
    // Name a Secrets Manager reference (a password for whoever may name it): refused.
    refused(
        Method::POST,
        servers,
        json!({"name": "ref", "url": attacker.mcp_url(),
               "auth_config": {"name": "r", "auth_type": "BASIC", "username": "u",
               "password": {"secret_arn":
                   "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}}}),
    )
    .await;
    // Approve tools no admin reviewed: refused.
    let server = &f.ids["/ai/api/v1/config/mcp-server/{id}"];
    let approve = format!("/config/mcp-server/{server}/tools/approve");
    refused(Method::POST, approve, json!({"all": true})).await;
    // Authorize a shared config (its tokens act for everyone): refused, with the role named.
    let shared = admin
        .created(
            "/auth_configs",
            json!({"name": "team", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": format!("{}/authorize", f.capture.base),
                   "token_url": format!("{}/token", f.capture.base), "client_id": "web",
                   "client_secret": CANARY, "allowed_redirect_uris": [REDIRECT_URI]}),
        )
        .await;
    let authorize =
        |id: &str| format!("/oauth/{id}/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback");
    let problem = f
        .member
        .call(Method::POST, &authorize(&shared), None)
        .await
        .answered(StatusCode::FORBIDDEN);
    assert_eq!(problem["required_role"], "admin");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("shared auth config")
    );

    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());
    assert_eq!(f.capture.requests().len(), sent_before);
    let mut after = snapshot(&f).await;
    // The shared config the admin made is the one difference.
    let items = after["/auth_configs"]["items"].as_array_mut().unwrap();
    items.retain(|c| c["id"] != json!(shared));
    assert_eq!(after, before);

    // What a member may do: connect and disconnect their own account of a per_user config.
    let started = f
        .member
        .call(Method::POST, &authorize(&per_user), None)
        .await
        .answered(StatusCode::OK);
    assert!(
        started["authorization_url"]
            .as_str()
            .unwrap()
            .starts_with(&f.capture.base)
    );
    let (status, _) = f
        .member
        .delete(&format!("/oauth/connections/{per_user}"))
        .await;
    assert!(
        [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&status),
        "{status}"
    );
    // The admin authorizes the shared one.
    admin
        .call(Method::POST, &authorize(&shared), None)
        .await
        .answered(StatusCode::OK);
}

/// Where an admin sends a config's codes or tokens is never changed quietly: the change voids
/// every authorization in flight (and every user's tokens) and reaches the tenant's webhooks as
/// `auth_config.destination_changed`, naming the old and new origins and who changed them. A
/// change elsewhere (the name) announces nothing.
async fn an_admins_change_of_where_tokens_go_is_visible(backend: Backend) {
    use std::sync::{Arc, Mutex};
    let f = fixture(backend).await;
    let admin = f.stack.client();
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(body.0);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let hook_url = format!("{}/hook", e2e::serve_on_loopback(hook).await);
    admin
        .created(
            "/config/webhook",
            json!({"url": hook_url, "events": ["auth_config.destination_changed"]}),
        )
        .await;
    let per_user = f.ids["/ai/api/v1/oauth/{auth_config_id}"].clone();
    let path = format!("/auth_configs/{per_user}");

    admin
        .patch(&path, json!({"name": "renamed"}))
        .await
        .answered(StatusCode::OK);
    assert!(
        received.lock().unwrap().is_empty(),
        "a rename moves nothing"
    );

    // Bob starts connecting his account; then the admin moves the revocation endpoint.
    let started = f
        .member
        .start_authorization(&per_user, "http://127.0.0.1/callback")
        .await;
    let state = started["state"].as_str().unwrap().to_owned();
    // A new revocation endpoint, even on the same origin, is another destination.
    admin
        .patch(
            &path,
            json!({"revocation_url": format!("{}/oauth/revoke", f.capture.base)}),
        )
        .await
        .answered(StatusCode::OK);
    let events = received.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "auth_config.destination_changed");
    assert_eq!(event["tenant"], "acme");
    let data = &event["data"];
    assert_eq!(data["auth_config_id"], json!(per_user));
    assert_eq!(data["changed_by"], "alice");
    assert_eq!(data["fields"], json!(["revocation_url"]));
    assert_eq!(data["old_origins"], json!([f.capture.base]));
    assert_eq!(data["new_origins"], json!([f.capture.base]));

    // The authorization Bob started before the move finishes nowhere: no code is redeemed.
    let sent_before = f.capture.requests().len();
    f.member
        .get(&format!("/oauth/callback?code=a-code&state={state}"))
        .await
        .answered(StatusCode::CONFLICT);
    assert_eq!(f.capture.requests().len(), sent_before);

    // A public client's endpoints moved to another origin (no secret to give again): announced
    // with both origins.
    let elsewhere = capture::start().await;
    admin
        .patch(
            &path,
            json!({"token_url": format!("{}/token", elsewhere.base),
                   "revocation_url": format!("{}/revoke", elsewhere.base)}),
        )
        .await
        .answered(StatusCode::OK);
    let events = received.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    let data = &events[1]["data"];
    assert_eq!(data["fields"], json!(["token_url", "revocation_url"]));
    assert_eq!(data["old_origins"], json!([f.capture.base]));
    let mut new_origins = vec![f.capture.base.clone(), elsewhere.base.clone()];
    new_origins.sort();
    assert_eq!(
        data["new_origins"],
        json!(new_origins),
        "the authorization endpoint stays"
    );
    assert!(elsewhere.requests().is_empty());
}

/// A change sent with the admin's session cookie by another site (a page elsewhere, a sibling
/// subdomain) is refused before anything runs, whatever `SameSite` let through; the same change
/// from the console's own origin, from curl, or with an API token goes through.
async fn a_change_sent_by_another_site_with_the_cookie_is_refused(backend: Backend) {
    let f = fixture(backend).await;
    let admin = f.stack.client();
    let before = snapshot(&f).await;
    let server = &f.ids["/ai/api/v1/config/mcp-server/{id}"];
    let host = f
        .stack
        .api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let own_origin = format!("http://{host}");
    let create = json!({"name": "csrf", "auth_type": "NONE"});
    let cross_site: [&[(&str, &str)]; 3] = [
        &[("Origin", "https://evil.example")],
        &[("Sec-Fetch-Site", "cross-site")],
        &[
            ("Sec-Fetch-Site", "same-site"),
            ("Origin", "http://sub.127.0.0.1"),
        ],
    ];
    for headers in cross_site {
        for (method, path, body) in [
            (
                Method::POST,
                "/auth_configs".to_owned(),
                Some(create.clone()),
            ),
            (
                Method::POST,
                format!("/config/mcp-server/{server}/test"),
                None,
            ),
            (Method::DELETE, format!("/config/mcp-server/{server}"), None),
        ] {
            let (status, problem) = admin
                .call_with_headers(method.clone(), &path, body, headers)
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} {headers:?}: {problem}"
            );
            assert_eq!(
                problem["type"],
                "urn:agent-studio:problem:cross-site-request"
            );
        }
    }
    assert_eq!(snapshot(&f).await, before, "nothing changed");

    // The console's own origin, and curl (no Origin at all), go through.
    admin
        .call_with_headers(
            Method::POST,
            "/auth_configs",
            Some(create.clone()),
            &[("Origin", &own_origin), ("Sec-Fetch-Site", "same-origin")],
        )
        .await
        .answered(StatusCode::CREATED);
    admin
        .post("/auth_configs", create.clone())
        .await
        .answered(StatusCode::CREATED);
    // An API token is no ambient credential: no site can make a browser send it.
    let token = shared::session::create(
        f.stack.state.store.as_ref(),
        &shared::clock::SystemClock,
        &shared::api::Principal::admin("acme", "ci"),
        shared::session::CredentialKind::ApiToken,
        time::Duration::hours(1),
    )
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/auth_configs", f.stack.api))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
        .header("Origin", "https://evil.example")
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

e2e::on_both_stores!(
    every_operation_answers_each_role_as_the_table_says,
    a_member_can_redirect_no_credential_and_no_login,
    an_admins_change_of_where_tokens_go_is_visible,
    a_change_sent_by_another_site_with_the_cookie_is_refused,
);
e2e::on_the_rehearsal!(
    every_operation_answers_each_role_as_the_table_says,
    a_member_can_redirect_no_credential_and_no_login,
    an_admins_change_of_where_tokens_go_is_visible,
    a_change_sent_by_another_site_with_the_cookie_is_refused,
);
