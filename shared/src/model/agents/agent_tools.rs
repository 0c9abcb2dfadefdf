//! An agent's tools at run time: the catalogue (its servers' tools from the last connection-test
//! snapshot, or listed live on request, filtered by the agent's `tool_allowlist` and named
//! unambiguously) and tool calls through `shared::mcp` with the server's stored credentials
//! (refreshed on demand, one retry after a 401), arguments checked against the tool's input
//! schema first, bounded by the server's `timeout_seconds`. The tenant's policies and the
//! agent's `read_only` switch ([`call_policy`]) narrow the catalogue and decide each call: it
//! runs, waits for an approval ([`approval`]), or is refused before anything is sent.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::model::{
    agent::{self, StoredAgent},
    approval::{self, ApprovalView, Asked, HeldCall},
    arguments,
    audit::ToolCallRecord,
    auth_record::{CredentialError, StoredAuthConfig},
    call_policy::{self, ToolRef, Verdict},
    connection_test,
    mcp_server::StoredMcpServer,
    recent_records,
    resource::{self, Principal},
    server_checks, tool_policy,
};
use crate::{
    AppState, Error,
    mcp::{self, Category, TestStatus, ToolInfo},
};

/// Longest catalogue name (what LLM tool-calling APIs accept).
pub const MAX_TOOL_NAME: usize = 64;
/// Largest tool result returned, serialized.
pub const MAX_RESULT_BYTES: usize = 4 * 1024 * 1024;

/// One tool of an agent's catalogue.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueTool {
    /// The name to call it by: the tool's own name, or `<server name>__<tool>` when two servers
    /// offer the same name (at most 64 characters).
    pub name: String,
    /// The tool's name on its server.
    pub tool: String,
    /// The MCP server config offering it.
    pub server_config_id: String,
    /// That server's name.
    pub server_name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of the arguments, as the server listed it.
    #[schema(value_type = Object)]
    pub input_schema: Box<RawValue>,
    /// JSON Schema of the result's `structuredContent`, as the server listed it.
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Box<RawValue>>,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, …), as the server listed them.
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Box<RawValue>>,
}

/// Where a server's tools came from, or why they are missing.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueServer {
    /// MCP server config id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Tools of this server in the catalogue (after the allowlist).
    pub tool_count: usize,
    /// When the tools were listed (RFC 3339), if ever.
    pub listed_at: Option<String>,
    /// Why no tools could be listed (a live listing failed).
    pub error: Option<String>,
    /// Tools the server offers new or changed since they were approved: left out of the
    /// catalogue until approved (`POST /config/mcp-server/{id}/tools/approve`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_tools: Vec<String>,
}

/// `GET /agent/{id}/tools`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolCatalogue {
    /// The agent.
    pub agent_id: String,
    /// Every tool the agent may call.
    pub tools: Vec<CatalogueTool>,
    /// Per server: where its tools came from.
    pub servers: Vec<CatalogueServer>,
}

/// Body of `POST /agent/{id}/tools/call`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCallInput {
    /// The catalogue name of the tool (see `GET /agent/{id}/tools`).
    #[schema(min_length = 1)]
    pub tool: String,
    /// Its arguments (an object; default `{}`).
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Value>,
    /// The approval of this exact call (from an earlier `202`), once an admin approved it: the
    /// call runs once, for the user who asked, with exactly the approved arguments.
    #[schema(format = Uuid)]
    pub approval_id: Option<String>,
}

/// The answer of a call that waits for a person's approval (`202`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalRequiredResponse {
    /// What to do next, in a sentence.
    pub detail: String,
    /// The approval: once approved, call again with `approval_id` set to its id.
    pub approval: ApprovalView,
}

/// What a tool call came to.
#[derive(Debug)]
pub enum CallOutcome {
    /// The tool ran.
    Ran(ToolCallResponse),
    /// It waits for an approval (new, or the same call's earlier one).
    Held(Box<ApprovalRequiredResponse>),
}

/// A tool call's outcome and its account for the audit log.
#[derive(Debug)]
pub struct Called {
    /// What it came to.
    pub result: Result<CallOutcome, Error>,
    /// The tool, server, decision, policies and approval, as far as the call got.
    pub record: ToolCallRecord,
}

/// The answer of a tool call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolCallResponse {
    /// The catalogue name called.
    pub tool: String,
    /// The MCP server config that ran it.
    pub server_config_id: String,
    /// Milliseconds from the start of the session to the result.
    pub elapsed_ms: u64,
    /// Whether the tool reported an error (`result.isError`).
    pub is_error: bool,
    /// The MCP `CallToolResult`: `content` blocks, `isError`, optional `structuredContent`.
    #[schema(value_type = Object)]
    pub result: Value,
}

/// A server's tools, as listed.
struct Listing {
    server: StoredMcpServer,
    tools: Vec<ToolInfo>,
    listed_at: Option<String>,
    error: Option<String>,
}

async fn load_servers(
    state: &AppState,
    principal: &Principal,
    agent: &StoredAgent,
) -> Result<Vec<StoredMcpServer>, Error> {
    let loads = agent
        .mcp_server_config_ids
        .iter()
        .map(|id| recent_records::load_recent::<StoredMcpServer>(state, &principal.tenant_id, id));
    Ok(futures_util::future::try_join_all(loads)
        .await?
        .into_iter()
        .map(|(server, _)| server)
        .collect())
}

/// One server's tools: the stored snapshot, or a live listing (`refresh`, or when the snapshot
/// was too large to store), which is recorded as the server's new test result.
async fn listing(
    state: &AppState,
    principal: &Principal,
    server: StoredMcpServer,
    refresh: bool,
) -> Result<Listing, Error> {
    let tested_at = server.last_test.as_ref().map(|t| t.tested_at.clone());
    let snapshot_missing = server.tools.is_empty() && !server.tool_snapshot.is_empty();
    if !refresh && !snapshot_missing {
        let tools = server.tools.clone();
        return Ok(Listing {
            server,
            tools,
            listed_at: tested_at,
            error: None,
        });
    }
    let result = server_checks::retest(state, principal, &server.meta.id).await?;
    let listed_at = crate::model::rfc3339(state.clock.now());
    Ok(if result.status == TestStatus::Success {
        // What the re-test recorded decides which of the tools are approved.
        let server =
            resource::load::<StoredMcpServer>(state, &principal.tenant_id, &server.meta.id)
                .await
                .map(|(server, _)| server)
                .unwrap_or(server);
        Listing {
            server,
            tools: result.tools,
            listed_at: Some(listed_at),
            error: None,
        }
    } else {
        Listing {
            server,
            tools: Vec::new(),
            listed_at: tested_at,
            error: Some(result.message),
        }
    })
}

/// Replaces every character an LLM tool name may not hold with `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Catalogue names: a tool's own name when no other server offers it (and it fits), else
/// `<server name>__<tool>`, else `<server id suffix>__<tool>`, else a hash; always unique.
fn name_tools(listings: &[(&StoredMcpServer, Vec<ToolInfo>)]) -> Vec<Vec<String>> {
    let mut offered: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, tools) in listings {
        for tool in tools {
            *offered.entry(tool.name.as_str()).or_default() += 1;
        }
    }
    let mut taken: BTreeSet<String> = BTreeSet::new();
    listings
        .iter()
        .map(|(server, tools)| {
            tools
                .iter()
                .map(|tool| {
                    let suffix = &server.meta.id[server.meta.id.len().saturating_sub(8)..];
                    let digest = Sha256::digest(format!("{}#{}", server.meta.id, tool.name));
                    let hashed = hex::encode(&digest[..8]);
                    let mut candidates = Vec::new();
                    if offered[tool.name.as_str()] == 1 {
                        candidates.push(tool.name.clone());
                    }
                    candidates.push(format!("{}__{}", sanitize(&server.meta.name), tool.name));
                    candidates.push(format!("{suffix}__{}", tool.name));
                    candidates.push(format!("{suffix}__{hashed}"));
                    let name = candidates
                        .into_iter()
                        .find(|c| c.len() <= MAX_TOOL_NAME && !taken.contains(c))
                        .unwrap_or_else(|| format!("{suffix}__{hashed}"));
                    taken.insert(name.clone());
                    name
                })
                .collect()
        })
        .collect()
}

/// The agent's catalogue as `principal` sees it, from the stored snapshots (or listed live with
/// `refresh`).
pub async fn catalogue(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    refresh: bool,
) -> Result<ToolCatalogue, Error> {
    Ok(catalogue_of_servers(state, principal, agent_id, refresh)
        .await?
        .catalogue)
}

/// A tool the caller's catalogue leaves out, and the policies that say so.
struct Hidden {
    server_id: String,
    server_name: String,
    tool: String,
    policies: Vec<String>,
}

/// A catalogue with what it was made from: the server configs (a tool call uses the one it
/// calls as read here, not read again), the tenant's rules, and the tools left out.
struct Catalogued {
    catalogue: ToolCatalogue,
    servers: Vec<StoredMcpServer>,
    rules: Option<std::sync::Arc<crate::policy::Rules>>,
    hidden: Vec<Hidden>,
}

async fn catalogue_of_servers(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    refresh: bool,
) -> Result<Catalogued, Error> {
    let (agent, _) =
        recent_records::load_recent::<StoredAgent>(state, &principal.tenant_id, agent_id).await?;
    let rules = tool_policy::tenant_rules(state, &principal.tenant_id).await?;
    if refresh {
        // A live listing reaches every server of the agent: it counts as a connection test.
        crate::model::limits::check(
            state,
            principal,
            crate::model::limits::Action::ConnectionTest,
        )
        .await?;
    }
    let servers = load_servers(state, principal, &agent).await?;
    let listings = futures_util::future::try_join_all(
        servers
            .into_iter()
            .map(|server| listing(state, principal, server, refresh)),
    )
    .await?;
    let mut hidden = Vec::new();
    let allowed: Vec<(&StoredMcpServer, Vec<ToolInfo>)> = listings
        .iter()
        .map(|l| {
            let patterns = agent
                .tool_allowlist
                .as_ref()
                .and_then(|list| list.get(&l.server.meta.id));
            let tools = l
                .tools
                .iter()
                // The tool as offered, not its name: a definition that differs from the
                // approved one is left out even if the snapshot lags behind.
                .filter(|t| l.server.approved().get(&t.name) == Some(&t.fingerprint()))
                .filter(|t| patterns.is_none_or(|p| agent::tool_allowed(p, &t.name)))
                // What no call of this caller could run is not offered.
                .filter(|t| {
                    let tool = ToolRef {
                        server_id: &l.server.meta.id,
                        tool: &t.name,
                        annotations: t.annotations.as_deref(),
                    };
                    match call_policy::hidden(&agent, rules.as_deref(), principal, &tool) {
                        Some(policies) => {
                            hidden.push(Hidden {
                                server_id: l.server.meta.id.clone(),
                                server_name: l.server.meta.name.clone(),
                                tool: t.name.clone(),
                                policies,
                            });
                            false
                        }
                        None => true,
                    }
                })
                .cloned()
                .collect();
            (&l.server, tools)
        })
        .collect();
    let names = name_tools(&allowed);
    let mut tools = Vec::new();
    let mut summaries = Vec::new();
    for ((server, server_tools), (names, listing)) in
        allowed.iter().zip(names.into_iter().zip(&listings))
    {
        summaries.push(CatalogueServer {
            id: server.meta.id.clone(),
            name: server.meta.name.clone(),
            tool_count: server_tools.len(),
            listed_at: listing.listed_at.clone(),
            error: listing.error.clone(),
            pending_tools: listing
                .server
                .pending()
                .map(|p| p.added.into_iter().chain(p.changed).collect())
                .unwrap_or_default(),
        });
        for (tool, name) in server_tools.iter().zip(names) {
            tools.push(CatalogueTool {
                name,
                tool: tool.name.clone(),
                server_config_id: server.meta.id.clone(),
                server_name: server.meta.name.clone(),
                title: tool.title.clone(),
                description: tool.description.clone(),
                input_schema: tool.input_schema.clone(),
                output_schema: tool.output_schema.clone(),
                annotations: tool.annotations.clone(),
            });
        }
    }
    let catalogue = ToolCatalogue {
        agent_id: agent.meta.id,
        tools,
        servers: summaries,
    };
    Ok(Catalogued {
        catalogue,
        servers: listings.into_iter().map(|l| l.server).collect(),
        rules,
        hidden,
    })
}

/// How a credential failure of a tool call is answered.
fn credential_error(e: CredentialError, auth: Option<&StoredAuthConfig>) -> Error {
    if let Some(why) = crate::model::refusals::missing_own_token(&e, auth) {
        return Error::Reauthorization(Box::new(why));
    }
    match e {
        CredentialError::AuthorizationServerChanged(issuer) => match auth {
            Some(config) => {
                Error::Reauthorization(Box::new(crate::model::refusals::moved(config, issuer)))
            }
            None => Error::Internal("a token without an auth config".into()),
        },
        CredentialError::NotAuthorized | CredentialError::ReauthorizationRequired => {
            Error::Conflict(format!(
                "The server's auth config cannot be used: {e}. Authorize it, then call again."
            ))
        }
        CredentialError::Secret(e) => Error::Secret(e),
        CredentialError::Internal(cause) => Error::Internal(cause),
        other => Error::Upstream(format!("Credentials could not be obtained: {other}.")),
    }
}

/// Calls a tool of the agent's catalogue; what the server sends while the tool runs goes to
/// `relay` when one is given. The tenant's policies decide first: a denied call is refused and
/// one that needs a person waits as an approval, both before anything is sent; an
/// `approval_id` is used (once) before the call is made.
pub async fn call(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    doc: Value,
    relay: Option<mcp::Relay>,
) -> Called {
    let via = Via {
        relay,
        runs_approved: false,
    };
    called(state, principal, agent_id, doc, via).await
}

/// [`call`] for a client that cannot name an approval (an MCP client): a held call that an
/// admin approved meanwhile (the same caller, tool and arguments) runs with that approval.
pub async fn call_using_approved(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    doc: Value,
    relay: Option<mcp::Relay>,
) -> Called {
    let via = Via {
        relay,
        runs_approved: true,
    };
    called(state, principal, agent_id, doc, via).await
}

/// A call made `via`, with its account for the audit log.
async fn called(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    doc: Value,
    via: Via,
) -> Called {
    let mut record = ToolCallRecord::default();
    let result = call_recorded(state, principal, agent_id, doc, via, &mut record).await;
    Called { result, record }
}

/// How a call is made: where the server's notices go, and whether the same call's approval,
/// once given, is used without being named.
struct Via {
    relay: Option<mcp::Relay>,
    runs_approved: bool,
}

/// The name a catalogue gives `tool` of the server `server_name`, when it must tell servers
/// apart.
fn qualified(server_name: &str, tool: &str) -> String {
    format!("{}__{tool}", sanitize(server_name))
}

async fn call_recorded(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    doc: Value,
    Via {
        relay,
        runs_approved,
    }: Via,
    record: &mut ToolCallRecord,
) -> Result<CallOutcome, Error> {
    let input: ToolCallInput = resource::parse_document(doc)?;
    crate::model::limits::check(state, principal, crate::model::limits::Action::ToolCall).await?;
    let Catalogued {
        catalogue,
        servers,
        rules,
        hidden,
    } = catalogue_of_servers(state, principal, agent_id, false).await?;
    let Some(entry) = catalogue.tools.into_iter().find(|t| t.name == input.tool) else {
        if let Some(server) = catalogue.servers.iter().find(|s| {
            s.pending_tools
                .iter()
                .any(|t| *t == input.tool || qualified(&s.name, t) == input.tool)
        }) {
            return Err(Error::NotApproved(format!(
                "The tool {} of {} is new or changed since its tools were approved, and is not \
                 called until someone reviews and approves it: \
                 POST /ai/api/v1/config/mcp-server/{}/tools/approve.",
                input.tool, server.name, server.id
            )));
        }
        // A tool the caller may never call is refused as the policies decide it.
        if let Some(left_out) = hidden
            .into_iter()
            .find(|h| h.tool == input.tool || qualified(&h.server_name, &h.tool) == input.tool)
        {
            record.tool = Some(left_out.tool);
            record.server_config_id = Some(left_out.server_id);
            record.decision = Some(crate::model::audit::PolicyDecision::Denied);
            record.policies.clone_from(&left_out.policies);
            return Err(call_policy::denial(left_out.policies, Vec::new()));
        }
        return Err(Error::field(
            "tool",
            "is not in this agent's tool catalogue (see GET /agent/{id}/tools)",
        ));
    };
    record.tool = Some(entry.tool.clone());
    record.server_config_id = Some(entry.server_config_id.clone());
    let mut arguments = input
        .arguments
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    arguments::drop_null_optionals(&entry.input_schema, &mut arguments);
    arguments::check(&entry.input_schema, &arguments)?;
    let tool_ref = ToolRef {
        server_id: &entry.server_config_id,
        tool: &entry.tool,
        annotations: entry.annotations.as_deref(),
    };
    let verdict = call_policy::judge(
        rules.as_deref(),
        principal,
        agent_id,
        &tool_ref,
        &arguments,
        record,
    )?;
    let held = HeldCall {
        agent_id,
        server_config_id: &entry.server_config_id,
        tool: &entry.tool,
        name: &entry.name,
        arguments: &arguments,
    };
    match (verdict, input.approval_id.as_deref()) {
        // An approval named is checked and used, whatever the policies say now.
        (_, Some(id)) => {
            record.approval_id = Some(id.to_owned());
            approval::redeem(state, principal, id, &held).await?;
        }
        (Verdict::Run, None) => {}
        (Verdict::Hold(policies), None) => {
            let asked = approval::ask(state, principal, &held, &policies).await?;
            let now = state.clock.epoch_seconds();
            let approval = asked.approval().view(now);
            record.approval_id = Some(approval.id.clone());
            if runs_approved
                && matches!(asked, Asked::Existing(_))
                && approval.status == approval::ApprovalStatus::Approved
            {
                approval::redeem(state, principal, &approval.id, &held).await?;
                return run(state, principal, &entry, servers, arguments, relay).await;
            }
            let detail = match (&asked, approval.status) {
                (Asked::Existing(_), approval::ApprovalStatus::Approved) => format!(
                    "An admin approved this call: call again with \"approval_id\": \"{}\" to \
                     run it (once, before {}).",
                    approval.id, approval.expires_at
                ),
                _ => format!(
                    "The tenant's policies ({}) ask for a person's approval of this call; \
                     nothing was sent. Once an admin approves it, call again with \
                     \"approval_id\": \"{}\" and the same arguments (before {}).",
                    policies.join(", "),
                    approval.id,
                    approval.expires_at
                ),
            };
            return Ok(CallOutcome::Held(Box::new(ApprovalRequiredResponse {
                detail,
                approval,
            })));
        }
    }
    run(state, principal, &entry, servers, arguments, relay).await
}

/// Runs the tool `entry` (of one of `servers`) with `arguments`, decided and checked.
async fn run(
    state: &AppState,
    principal: &Principal,
    entry: &CatalogueTool,
    servers: Vec<StoredMcpServer>,
    arguments: Value,
    relay: Option<mcp::Relay>,
) -> Result<CallOutcome, Error> {
    let server = servers
        .into_iter()
        .find(|s| s.meta.id == entry.server_config_id)
        .ok_or_else(|| Error::Internal("a catalogue tool names no server of it".into()))?;
    let auth = match &server.auth_config_id {
        Some(id) => Some(
            recent_records::load_recent::<StoredAuthConfig>(state, &principal.tenant_id, id)
                .await?
                .0,
        ),
        None => None,
    };
    let url = url::Url::parse(&server.url)
        .map_err(|_| Error::Internal("stored MCP server URL is not a URL".into()))?;
    let timeout = std::time::Duration::from_secs(server.timeout_seconds).min(mcp::MAX_SYNC_TEST);
    let started = tokio::time::Instant::now();
    let schema = entry.input_schema.get();
    let (outcome, closer, remedy) = connection_test::with_credentials(
        state,
        principal,
        auth.as_ref(),
        &url,
        started + timeout,
        |target| {
            let (tool, arguments, relay) = (&entry.tool, arguments.clone(), relay.clone());
            async move {
                let (outcome, closer) =
                    mcp::call_tool(&state.http, &target, tool, arguments, Some(schema), relay)
                        .await;
                let refusal = match &outcome {
                    Err(f) if f.category == Category::Unauthorized => {
                        Some(connection_test::Refusal {
                            status: f.http_status.unwrap_or(401),
                            challenge: f.challenge.clone(),
                        })
                    }
                    _ => None,
                };
                (outcome, refusal, closer)
            }
        },
    )
    .await
    .map_err(|e| credential_error(e, auth.as_ref()))?;
    connection_test::beside(Some(closer), async {}).await;
    if let Some(remedy) = remedy {
        return Err(Error::Reauthorization(Box::new(remedy)));
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let result =
        outcome.map_err(
            |failure| match (failure.category, failure.required_capabilities) {
                (_, Some(capabilities)) => Error::CapabilityRequired(capabilities),
                (Category::Timeout, None) => Error::UpstreamTimeout(failure.message),
                (_, None) => Error::Upstream(failure.message),
            },
        )?;
    if serde_json::to_vec(&result).map_or(usize::MAX, |v| v.len()) > MAX_RESULT_BYTES {
        return Err(Error::Upstream(format!(
            "The tool result exceeds {MAX_RESULT_BYTES} bytes."
        )));
    }
    Ok(CallOutcome::Ran(ToolCallResponse {
        tool: entry.name.clone(),
        server_config_id: entry.server_config_id.clone(),
        elapsed_ms,
        is_error: result.get("isError").and_then(Value::as_bool) == Some(true),
        result,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn server(id: &str, name: &str) -> StoredMcpServer {
        serde_json::from_value(json!({
            "id": id, "name": name, "url": "https://x.example/mcp", "timeout_seconds": 10,
            "tools": [], "tool_snapshot": {}, "created_by": "u",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn tool(name: &str) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            title: None,
            description: None,
            input_schema: serde_json::value::to_raw_value(&json!({"type": "object"})).unwrap(),
            annotations: None,
            output_schema: None,
        }
    }

    #[test]
    fn colliding_tools_get_the_server_name_as_prefix() {
        let (a, b) = (
            server("00000000-0000-7000-8000-0000000000aa", "Weather API"),
            server("00000000-0000-7000-8000-0000000000bb", "files"),
        );
        let long = "x".repeat(60);
        let listings = vec![
            (&a, vec![tool("echo"), tool("forecast"), tool(&long)]),
            (&b, vec![tool("echo"), tool("read"), tool(&long)]),
        ];
        let names = name_tools(&listings);
        assert_eq!(names[0][..2], ["Weather_API__echo", "forecast"]);
        assert_eq!(names[1][..2], ["files__echo", "read"]);
        assert!(names[0][2].starts_with("000000aa__") && names[0][2].len() <= MAX_TOOL_NAME);
        assert!(names[1][2].starts_with("000000bb__") && names[1][2].len() <= MAX_TOOL_NAME);
    }
}
