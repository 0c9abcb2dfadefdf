//! Tool-call policies and approvals end to end, on both stores, against a FastMCP server with a
//! bank's annotated tools: Cedar rules over tools, roles and arguments (numbers, strings, nested
//! objects, missing fields) allow, deny or hold calls, shadow rules only record, catalogues leave
//! out what a caller can never call, and an approval runs exactly the approved call once, for
//! the user who asked, before it expires. The server's request log proves what never reached it.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, routing::post};
use e2e::{
    ApiClient, Backend, Expect, TestStack,
    servers::{self, FastMcpAuth, FastMcpOptions, ServerProcess},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::store::{Body, TxOp};

e2e::on_both_stores!(
    policies_allow_deny_hold_and_shadow_calls,
    catalogues_leave_out_what_the_caller_can_never_call,
    an_approval_runs_the_approved_call_once_and_nothing_else,
    an_mcp_client_is_sent_to_the_approval_page_and_its_repeat_runs,
);

/// No transfer above 100,000.
const NO_BIG_TRANSFERS: &str = r#"// Hard limit.
forbid(principal, action == Action::"call_tool", resource)
when { resource.name == "transfer" && context.arguments.amount > 100000 };"#;
/// A person approves transfers above 1,000 (and the audit log may show amount and currency).
const APPROVE_OVER_1000: &str = r#"@loggable("amount,currency")
forbid(principal, action == Action::"call_tool_unattended", resource)
when { resource.name == "transfer" && context.arguments.amount > 1000 };"#;
/// Nothing goes to one country (a nested argument, guarded by `has`).
const NO_EMBARGOED_COUNTRY: &str = r#"forbid(principal, action, resource)
when { context.arguments has to && context.arguments.to.country == "KP" };"#;
/// Members never close accounts (a role rule that looks at no argument).
const MEMBERS_KEEP_ACCOUNTS: &str = r#"forbid(principal, action == Action::"call_tool", resource)
when { principal.role == "member" && resource.name == "close_account" };"#;
/// What would happen if destructive tools needed a person (recorded only).
const SHADOW_DESTRUCTIVE: &str = r#"forbid(principal, action == Action::"call_tool_unattended", resource)
when { resource.destructive };"#;

/// A stack with the bank's server and an agent over it.
struct Bank {
    stack: TestStack,
    server: ServerProcess,
    server_id: String,
    agent: String,
    member: ApiClient,
}

async fn bank(backend: Backend) -> Bank {
    let stack = TestStack::start(backend).await;
    let server = servers::fastmcp_with(
        FastMcpAuth::None,
        "http",
        FastMcpOptions {
            bank: true,
            ..FastMcpOptions::default()
        },
    )
    .await;
    let server_id = stack.mcp_server("bank", &server.mcp_url()).await;
    let llm = stack.llm_config().await;
    let agent = stack
        .created(
            "/config/agent",
            json!({"name": "teller", "prompt": "Move money carefully.", "llm_config_id": llm,
                   "mcp_server_config_ids": [server_id]}),
        )
        .await;
    let member = stack.with_session(&stack.member_session_for("acme", "bob").await);
    Bank {
        stack,
        server,
        server_id,
        agent,
        member,
    }
}

impl Bank {
    async fn policy(&self, name: &str, text: &str, mode: &str) -> String {
        self.stack
            .created(
                "/config/policy",
                json!({"name": name, "policy": text, "mode": mode}),
            )
            .await
    }

    async fn call(&self, client: &ApiClient, body: Value) -> (StatusCode, Value) {
        client
            .post(&format!("/agent/{}/tools/call", self.agent), body)
            .await
    }

    async fn transfer(
        &self,
        client: &ApiClient,
        amount: i64,
        country: &str,
    ) -> (StatusCode, Value) {
        self.call(
            client,
            json!({"tool": "transfer", "arguments": {"amount": amount, "currency": "EUR",
                   "to": {"iban": "DE89370400440532013000", "country": country}}}),
        )
        .await
    }

    /// Requests the server received so far.
    async fn seen(&self) -> usize {
        self.server.requests_seen().await.as_array().unwrap().len()
    }

    async fn catalogue(&self, client: &ApiClient) -> Vec<String> {
        let (status, catalogue) = client.get(&format!("/agent/{}/tools", self.agent)).await;
        assert_eq!(status, StatusCode::OK, "{catalogue}");
        let mut names: Vec<String> = catalogue["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// The tool-call entries of the audit log, newest first.
    async fn call_entries(&self) -> Vec<Value> {
        let (_, log) = self.stack.get("/audit?limit=100").await;
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["action"]
                    .as_str()
                    .is_some_and(|a| a.ends_with("/tools/call"))
            })
            .cloned()
            .collect()
    }
}

fn policies_of(problem: &Value) -> Vec<&str> {
    problem["policies"]
        .as_array()
        .unwrap_or_else(|| panic!("no policies: {problem}"))
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect()
}

async fn policies_allow_deny_hold_and_shadow_calls(backend: Backend) {
    let b = bank(backend).await;
    let admin = b.stack.client();
    // Without a policy, calls are as they always were.
    let (status, ran) = b.transfer(&admin, 5000, "DE").await;
    assert_eq!(status, StatusCode::OK, "{ran}");

    // Text that does not parse or validate: 400 with its position, and nothing stored.
    let (status, problem) = admin
        .post(
            "/config/policy",
            json!({"name": "typo", "policy": "forbid(principal, action, resource)\n  when { resource.nmae == \"x\" };"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "policy", "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("line 2, column 10: "), "{message}");
    let (status, problem) = admin
        .post(
            "/config/policy",
            json!({"name": "allow list", "policy": "permit(principal, action, resource);"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(admin.count("/config/policy").await, 0);
    // Members may read policies but not write them.
    let (status, problem) = b
        .member
        .post(
            "/config/policy",
            json!({"name": "mine", "policy": NO_BIG_TRANSFERS}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

    let no_big = b
        .policy("no big transfers", NO_BIG_TRANSFERS, "enforce")
        .await;
    let approve = b
        .policy("approve over 1000", APPROVE_OVER_1000, "enforce")
        .await;
    let embargo = b.policy("embargo", NO_EMBARGOED_COUNTRY, "enforce").await;
    let shadow = b
        .policy("destructive needs a person?", SHADOW_DESTRUCTIVE, "shadow")
        .await;
    let sent = b.seen().await;

    // Allowed (a small amount): it runs; the shadow rule would have held it, and says so.
    let (status, ran) = b.transfer(&b.member, 10, "DE").await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert!(b.seen().await > sent);
    // Held: 202 with an approval bound to the call, nothing sent.
    let sent = b.seen().await;
    let (status, held) = b.transfer(&b.member, 5000, "DE").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let approval = &held["approval"];
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["tool"], "transfer");
    assert_eq!(approval["requested_by"], "bob");
    assert_eq!(approval["policies"], json!([approve]));
    assert_eq!(approval["arguments_sha256"].as_str().unwrap().len(), 64);
    assert!(approval["expires_at"].as_str().is_some());
    // Denied: by a number, by a nested string; 403 naming the policy, nothing sent.
    let (status, denied) = b.transfer(&b.member, 200_000, "DE").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    assert_eq!(denied["type"], "urn:agent-studio:problem:policy-denied");
    assert_eq!(policies_of(&denied), [no_big.as_str()]);
    let (status, denied) = b.transfer(&b.member, 10, "KP").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    assert_eq!(policies_of(&denied), [embargo.as_str()]);
    assert_eq!(
        b.seen().await,
        sent,
        "neither a held nor a denied call reaches the server"
    );

    // A rule that reads an argument the call lacks fails closed, naming itself and the error;
    // guarded by `has`, the same call runs. The change applies to the very next call.
    let memo = b
        .policy(
            "no crypto",
            r#"forbid(principal, action, resource) when { resource.name == "transfer" && context.arguments.memo like "*crypto*" };"#,
            "enforce",
        )
        .await;
    let (status, denied) = b.transfer(&b.member, 10, "DE").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    assert_eq!(policies_of(&denied), [memo.as_str()]);
    let error = denied["policy_errors"][0].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{memo}: ")) && error.contains("memo"),
        "{error}"
    );
    let (status, patched) = admin
        .patch(
            &format!("/config/policy/{memo}"),
            json!({"policy": r#"forbid(principal, action, resource) when { resource.name == "transfer" && context.arguments has memo && context.arguments.memo like "*crypto*" };"#}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (status, ran) = b.transfer(&b.member, 10, "DE").await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    let (status, denied) = b
        .call(
            &b.member,
            json!({"tool": "transfer", "arguments": {"amount": 10, "currency": "EUR",
                   "to": {"iban": "X", "country": "DE"}, "memo": "buy crypto"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");

    // The audit log explains each call: tool, server, decision, policies, approval, shadow; an
    // argument's value only where a deciding policy marks it loggable.
    let entries = b.call_entries().await;
    let held_entry = entries
        .iter()
        .find(|e| e["call"]["approval_id"] == approval["id"])
        .unwrap_or_else(|| panic!("no entry for the held call: {entries:?}"));
    let call = &held_entry["call"];
    assert_eq!(call["tool"], "transfer");
    assert_eq!(call["server_config_id"], json!(b.server_id));
    assert_eq!(call["decision"], "approval_required");
    assert_eq!(call["policies"], json!([approve]));
    assert_eq!(call["shadow_decision"], "approval_required");
    assert_eq!(call["shadow_policies"], json!([shadow]));
    assert_eq!(
        call["arguments"],
        json!({"amount": 5000, "currency": "EUR"})
    );
    assert_eq!(held_entry["status"], 202);
    let denied_entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["call"]["decision"] == "denied")
        .collect();
    assert_eq!(denied_entries.len(), 4, "{entries:?}");
    assert!(denied_entries.iter().all(|e| e["status"] == 403));
    let allowed = entries
        .iter()
        .filter(|e| e["call"]["decision"] == "allowed" && e["actor"] == "bob")
        .count();
    assert_eq!(allowed, 2, "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    for secret in ["DE89370400440532013000", "buy crypto", "KP"] {
        assert!(
            !text.contains(secret),
            "an argument value in the audit log: {secret}"
        );
    }
}

async fn catalogues_leave_out_what_the_caller_can_never_call(backend: Backend) {
    let b = bank(backend).await;
    let admin = b.stack.client();
    let all = ["add", "balance", "close_account", "echo", "transfer"];
    assert_eq!(b.catalogue(&b.member).await, all);
    let rule = b
        .policy("members keep accounts", MEMBERS_KEEP_ACCOUNTS, "enforce")
        .await;
    // Rules that look at arguments, or only ask for a person, or only shadow, leave all in.
    b.policy("no big transfers", NO_BIG_TRANSFERS, "enforce")
        .await;
    b.policy("approve over 1000", APPROVE_OVER_1000, "enforce")
        .await;
    b.policy("shadow", "forbid(principal, action, resource);", "shadow")
        .await;
    // The member's catalogue lacks what the member can never call; the admin's has it all.
    let members = b.catalogue(&b.member).await;
    assert_eq!(members, ["add", "balance", "echo", "transfer"]);
    assert_eq!(b.catalogue(&admin).await, all);
    // The filtering matches the decisions: what is left out is denied, naming the rule, and
    // nothing reaches the server; what is in runs.
    let sent = b.seen().await;
    let close = json!({"tool": "close_account", "arguments": {"account": "A-1"}});
    let (status, denied) = b.call(&b.member, close.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    assert_eq!(policies_of(&denied), [rule.as_str()]);
    assert_eq!(b.seen().await, sent);
    let (status, ran) = b.call(&admin, close).await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    for tool in &members {
        let arguments = match tool.as_str() {
            "add" => json!({"a": 1, "b": 2}),
            "balance" => json!({"account": "A-1"}),
            "echo" => json!({"message": "hi"}),
            _ => json!({"amount": 1, "currency": "EUR", "to": {"iban": "X", "country": "DE"}}),
        };
        let (status, ran) = b
            .call(&b.member, json!({"tool": tool, "arguments": arguments}))
            .await;
        assert_eq!(status, StatusCode::OK, "{tool}: {ran}");
    }

    // A read-only agent offers and runs only tools annotated read-only.
    let (status, agent) = admin
        .patch(
            &format!("/config/agent/{}", b.agent),
            json!({"read_only": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    assert_eq!(agent["read_only"], true);
    assert_eq!(b.catalogue(&admin).await, ["balance"]);
    let sent = b.seen().await;
    let (status, denied) = b.transfer(&admin, 1, "DE").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    assert_eq!(policies_of(&denied), ["read_only"]);
    assert_eq!(b.seen().await, sent);
    let (status, ran) = b
        .call(
            &admin,
            json!({"tool": "balance", "arguments": {"account": "A-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ran}");
}

/// A webhook receiver that keeps every event's body (signatures are checked elsewhere).
async fn event_receiver(api: &TestStack) -> Arc<Mutex<Vec<Value>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(events): State<Arc<Mutex<Vec<Value>>>>, Json(event): Json<Value>| async move {
                    events.lock().unwrap().push(event);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(Arc::clone(&events));
    let url = format!("{}/hook", e2e::serve_on_loopback(app).await);
    api.created(
        "/config/webhook",
        json!({"url": url, "events": ["approval.requested", "approval.decided"]}),
    )
    .await;
    events
}

async fn an_approval_runs_the_approved_call_once_and_nothing_else(backend: Backend) {
    let b = bank(backend).await;
    let admin = b.stack.client();
    let events = event_receiver(&b.stack).await;
    b.policy("approve over 1000", APPROVE_OVER_1000, "enforce")
        .await;
    let sent = b.seen().await;

    let (status, held) = b.transfer(&b.member, 5000, "DE").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let id = held["approval"]["id"].as_str().unwrap().to_owned();
    // Asking again while it is pending answers with the same approval: admins are asked once.
    let (status, again) = b.transfer(&b.member, 5000, "DE").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["approval"]["id"], json!(id));
    {
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["type"], "approval.requested");
        assert_eq!(events[0]["data"]["approval_id"], json!(id));
        assert_eq!(events[0]["data"]["requested_by"], "bob");
        assert!(!events[0].to_string().contains("DE89370400440532013000"));
    }
    let with_approval = |amount: i64, id: &str| {
        json!({"tool": "transfer", "approval_id": id,
               "arguments": {"to": {"country": "DE", "iban": "DE89370400440532013000"},
                             "currency": "EUR", "amount": amount}})
    };
    // Not yet decided: refused.
    let (status, refused) = b.call(&b.member, with_approval(5000, &id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["type"], "urn:agent-studio:problem:approval-refused");
    // The member cannot approve; the admin sees it with its arguments and approves.
    let (status, _) = b
        .member
        .post(&format!("/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, pending) = admin.get("/approvals?status=pending").await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(
        pending["items"][0]["arguments"]["amount"], 5000,
        "{pending}"
    );
    let (status, approved) = admin
        .post(
            &format!("/approvals/{id}/approve"),
            json!({"reason": "known payee"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "alice");
    assert_eq!(events.lock().unwrap()[1]["type"], "approval.decided");
    let (status, twice) = admin
        .post(&format!("/approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");

    // Another user, or changed arguments: refused, and nothing reaches the server.
    let carol = b
        .stack
        .with_session(&b.stack.member_session_for("acme", "carol").await);
    let (status, refused) = b.call(&carol, with_approval(5000, &id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, refused) = b.call(&b.member, with_approval(5001, &id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("arguments differ"),
        "{refused}"
    );
    // Another agent over the same server: refused (an approval never sends the arguments
    // anywhere but where the approved call would have).
    let llm = b.stack.llm_config().await;
    let other_agent = b
        .stack
        .created(
            "/config/agent",
            json!({"name": "other teller", "prompt": "Move money.", "llm_config_id": llm,
                   "mcp_server_config_ids": [b.server_id]}),
        )
        .await;
    let (status, refused) = b
        .member
        .post(
            &format!("/agent/{other_agent}/tools/call"),
            with_approval(5000, &id),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("another call"),
        "{refused}"
    );
    // Another tenant does not even find it.
    let outsider = b
        .stack
        .with_session(&b.stack.session_for("globex", "dave").await);
    let (status, _) = outsider.get(&format!("/approvals/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(b.seen().await, sent, "no refused call reached the server");

    // The caller, the same arguments (in another key order): it runs, once.
    let (status, ran) = b.call(&b.member, with_approval(5000, &id)).await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert!(b.seen().await > sent);
    let sent = b.seen().await;
    let (status, replayed) = b.call(&b.member, with_approval(5000, &id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{replayed}");
    assert!(
        replayed["detail"]
            .as_str()
            .unwrap()
            .contains("used already"),
        "{replayed}"
    );
    let (_, used) = b.member.get(&format!("/approvals/{id}")).await;
    assert_eq!(used["status"], "used");

    // An approval given but not used before it expires is refused.
    let (_, held) = b.transfer(&b.member, 7000, "DE").await;
    let late = held["approval"]["id"].as_str().unwrap().to_owned();
    admin
        .post(&format!("/approvals/{late}/approve"), json!({}))
        .await
        .answered(StatusCode::OK);
    expire(&b.stack, &late).await;
    let (status, refused) = b.call(&b.member, with_approval(7000, &late)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
    // A denied one is refused, with the reason; an admin cannot approve their own call.
    let (_, held) = b.transfer(&b.member, 8000, "DE").await;
    let denied = held["approval"]["id"].as_str().unwrap().to_owned();
    admin
        .post(
            &format!("/approvals/{denied}/deny"),
            json!({"reason": "unknown payee"}),
        )
        .await
        .answered(StatusCode::OK);
    let (status, refused) = b.call(&b.member, with_approval(8000, &denied)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("unknown payee"),
        "{refused}"
    );
    let (_, own) = b.transfer(&admin, 9000, "DE").await;
    let own = own["approval"]["id"].as_str().unwrap().to_owned();
    let (status, refused) = admin
        .post(&format!("/approvals/{own}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(b.seen().await, sent, "nothing after the one approved call");
    // A member lists only their own approvals.
    let (_, mine) = b.member.get("/approvals").await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["requested_by"] == "bob"),
        "{mine}"
    );
}

/// Moves approval `id`'s expiry into the past, as time would.
async fn expire(api: &TestStack, id: &str) {
    let store = &api.state.store;
    let pk = shared::model::tenant_pk("acme");
    let mut item = store
        .get(&pk, &format!("APPROVAL#{id}"))
        .await
        .unwrap()
        .unwrap();
    let mut body: Value = item.data.read().unwrap();
    body["expires_at"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 1);
    item.data = Body::of(&body).unwrap();
    let version = item.version;
    store
        .transact(vec![TxOp::Update {
            item,
            expected_version: version,
        }])
        .await
        .unwrap();
}

/// One `tools/call` of the 2025-11-25 revision without a session to an agent's MCP endpoint
/// with a bearer `token`: the JSON-RPC answer.
async fn mcp_call(endpoint: &str, token: &str, name: &str, arguments: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(endpoint)
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": name, "arguments": arguments}}))
        .send()
        .await
        .unwrap();
    let text = answer.text().await.unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .chain(std::iter::once(text.as_str()))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC answer: {text}"))
}

async fn an_mcp_client_is_sent_to_the_approval_page_and_its_repeat_runs(backend: Backend) {
    let b = bank(backend).await;
    b.policy("approve over 1000", APPROVE_OVER_1000, "enforce")
        .await;
    b.policy("embargo", NO_EMBARGOED_COUNTRY, "enforce").await;
    let token = b.stack.api_token("acme", "bob").await;
    let endpoint = format!("{}/mcp/agents/{}", b.stack.api, b.agent);
    let arguments = json!({"amount": 5000, "currency": "EUR",
                           "to": {"iban": "DE89370400440532013000", "country": "DE"}});
    let sent = b.seen().await;
    // Held: a URL elicitation to the approval's console page; nothing sent.
    let held = mcp_call(&endpoint, &token, "transfer", arguments.clone()).await;
    assert_eq!(held["error"]["code"], -32042, "{held}");
    let elicitation = &held["error"]["data"]["elicitations"][0];
    assert_eq!(elicitation["mode"], "url", "{held}");
    let url = elicitation["url"].as_str().unwrap();
    let id = url
        .rsplit_once("/console/approvals/")
        .map(|(_, id)| id.to_owned())
        .unwrap_or_else(|| panic!("not an approval page: {url}"));
    let (_, approval) = b.stack.get(&format!("/approvals/{id}")).await;
    assert_eq!(approval["status"], "pending", "{approval}");
    assert_eq!(approval["requested_by"], "bob");
    // Denied calls are tool errors the model can read, naming the policy.
    let denied = mcp_call(
        &endpoint,
        &token,
        "transfer",
        json!({"amount": 5, "currency": "EUR", "to": {"iban": "X", "country": "KP"}}),
    )
    .await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    let text = denied["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("forbid"), "{text}");
    assert_eq!(b.seen().await, sent);

    // Approved by an admin: the client's repeat of the same call runs, once.
    b.stack
        .post(&format!("/approvals/{id}/approve"), json!({}))
        .await
        .answered(StatusCode::OK);
    let ran = mcp_call(&endpoint, &token, "transfer", arguments.clone()).await;
    assert_eq!(ran["result"]["isError"], false, "{ran}");
    assert!(b.seen().await > sent);
    let (_, used) = b.stack.get(&format!("/approvals/{id}")).await;
    assert_eq!(used["status"], "used", "{used}");
    // Again: a new approval is asked for.
    let again = mcp_call(&endpoint, &token, "transfer", arguments).await;
    assert_eq!(again["error"]["code"], -32042, "{again}");
    assert!(
        !again["error"]["data"]["elicitations"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with(&id)
    );
}
// On the deployment rehearsal too (where another function sees a change at once: see its
// `RECENT_RECORDS_SECONDS` deviation).
e2e::on_the_rehearsal!(
    policies_allow_deny_hold_and_shadow_calls,
    catalogues_leave_out_what_the_caller_can_never_call,
    an_approval_runs_the_approved_call_once_and_nothing_else,
    an_mcp_client_is_sent_to_the_approval_page_and_its_repeat_runs,
);
