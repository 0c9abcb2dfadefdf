//! The mcp-gateway function: every agent is an MCP server. `/ai/api/v1/mcp/agents/{agent_id}`
//! speaks MCP over Streamable HTTP (rmcp's server transport, both the session-less 2026-07-28
//! revision and the earlier ones, negotiated as the specification says), behind the same
//! authentication as the REST API. `tools/list` is the agent's catalogue
//! ([`agent_tools::catalogue`]: approved tools only, the allowlist applied, names as the REST
//! catalogue gives them, schemas and annotations as the servers listed them); `tools/call` takes
//! the REST tool call's path ([`agent_tools::call`]: stored credentials, the caller's own
//! connection for `per_user` configs, rate limits, audit, health).
//!
//! No conversation state is kept, for any revision: each request stands alone (any Lambda
//! instance answers it), and what a tool call's server sends while it runs (progress, log
//! messages) travels on that request's own answer. Clients of the 2025 revisions get a session
//! all the same ([`sessions`]: its lifecycle only, kept in the store). See ARCHITECTURE ("Every
//! agent as an MCP server") for why.

pub mod sessions;
pub mod tool_changes;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
#[allow(deprecated, reason = "see forward_notices")]
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
        Implementation, InitializeRequestParams, InitializeResult, InputRequiredResult, JsonObject,
        ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, RequestMetaObject,
        ResultType, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use shared::{
    AppState, Error,
    api::{
        ApiError, Principal,
        audit::{CallNote, NotAudited},
    },
    mcp::{ClientInput, Reauthorization, ReauthorizationReason, Relay, wire},
    model::{
        agent::StoredAgent,
        agent_tools::{self, ApprovalRequiredResponse, CallOutcome, CatalogueTool},
        recent_records,
    },
    resource_server::{self, ProtectedResourceMetadata, TokenRefusal},
    session,
};
use utoipa::OpenApi;

/// Where an agent's MCP endpoint is.
pub const PATH: &str = "/ai/api/v1/mcp/agents/{agent_id}";

/// Where an endpoint's protected resource metadata is: the well-known prefix before the
/// endpoint's path (RFC 9728 §3.1).
pub const METADATA_PATH: &str =
    "/.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent_id}";

/// What an endpoint's path starts with, before the agent id.
const ENDPOINT_PREFIX: &str = "/ai/api/v1/mcp/agents/";
/// The well-known prefix of protected resource metadata.
const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// The JSON-RPC error code of a request that needs the user to visit a URL first (MCP URL-mode
/// elicitation).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// OpenAPI description of this function's endpoint.
#[derive(OpenApi)]
#[openapi(
    paths(agent_endpoint, not_offered, end_session, protected_resource_metadata),
    components(schemas(shared::resource_server::ProtectedResourceMetadata))
)]
pub struct ApiDoc;

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    let server = AgentServer {
        state: state.clone(),
    };
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        transport_settings(),
    );
    Router::new()
        .route_service(PATH, service)
        .route_layer(middleware::from_fn_with_state(state.clone(), admit))
        .route(METADATA_PATH, get(protected_resource_metadata))
        .with_state(state)
}

/// `router` (any function's or the local stack's, holding this function's routes, with the
/// role and audit layers already around it) with the endpoint's own authentication: the MCP
/// endpoint takes, besides the session cookie and API tokens, the access tokens of the external
/// authorization server when one is configured, and answers a missing or refused credential
/// with the RFC 9728 challenge that names its metadata. Other paths pass untouched. In AWS its
/// routes are served without the API's authorizer (which knows neither the JWTs nor the
/// challenge), so this is where they are authenticated.
pub fn authenticating(router: Router, state: AppState) -> Router {
    router.layer(middleware::from_fn_with_state(state, authenticate))
}

/// Whether `path` is one of this function's, which authenticate as [`authenticating`] says
/// (the local stack's authorizer leaves them to it).
pub fn authenticates_itself(path: &str) -> bool {
    path.starts_with(ENDPOINT_PREFIX) || path.starts_with(METADATA_PREFIX)
}

/// The public base URL of the endpoints: the configured one when tokens are bound to it, else
/// the one the request came in on.
fn endpoint_base(state: &AppState, request: &Request) -> String {
    match &state.mcp_authorization {
        Some(server) => server.config().public_base_url.clone(),
        None => public_base(request),
    }
}

/// See [`authenticating`].
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let is_endpoint = path
        .strip_prefix(ENDPOINT_PREFIX)
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    // Named already (an authorizer in front), or not the endpoint: nothing to do here.
    if !is_endpoint || shared::api::principal_of(request.extensions()).is_some() {
        return next.run(request).await;
    }
    let base = endpoint_base(&state, &request);
    let scopes = state
        .mcp_authorization
        .as_ref()
        .map(|server| server.config().scopes.clone())
        .unwrap_or_default();
    let refuse = |refusal: Option<TokenRefusal>| {
        let challenge = resource_server::challenge(
            &format!("{base}{METADATA_PREFIX}{path}"),
            &scopes,
            refusal.as_ref(),
        );
        match refusal {
            Some(TokenRefusal::KeysUnavailable(cause)) => ApiError::Unavailable(cause),
            Some(refusal) => ApiError::Challenged {
                insufficient_scope: matches!(refusal, TokenRefusal::InsufficientScope(_)),
                detail: refusal.to_string(),
                challenge,
            },
            None => ApiError::Challenged {
                insufficient_scope: false,
                detail: "A valid API token, sessionid cookie or access token is required.".into(),
                challenge,
            },
        }
        .into_response()
    };
    let principal = match (bearer_jwt(request.headers()), &state.mcp_authorization) {
        (Some(token), Some(server)) => {
            match server
                .verify(token.expose_secret(), &format!("{base}{path}"))
                .await
            {
                Ok(principal) => principal,
                Err(refusal) => return refuse(Some(refusal)),
            }
        }
        _ => {
            let Some(credential) = session::credential_from_headers(request.headers()) else {
                return refuse(None);
            };
            match session::authenticate(state.store.as_ref(), &credential).await {
                Ok(Some(principal)) => principal,
                Ok(None) => {
                    return refuse(Some(TokenRefusal::Invalid(
                        "The API token, session or access token is unknown or has expired.".into(),
                    )));
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The request's bearer token when it is a JWT (three dot-separated parts; the API's own
/// tokens have none).
fn bearer_jwt(headers: &http::HeaderMap) -> Option<SecretString> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.matches('.').count() == 2)
        .then(|| SecretString::from(token.to_owned()))
}

/// The protected resource metadata (RFC 9728) of an agent's endpoint: the endpoint's URL (the
/// audience its access tokens must name) and, when one is configured, the authorization server
/// an MCP client signs in with. Public, and the same for any agent id (whether an agent exists
/// is not told to a caller without a credential).
#[utoipa::path(get, path = "/.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent_id}", tag = "mcp",
    security(()),
    params(("agent_id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The endpoint's protected resource metadata", body = shared::resource_server::ProtectedResourceMetadata),
    ))]
async fn protected_resource_metadata(
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
    request: Request,
) -> Response {
    let resource = format!(
        "{}{}",
        endpoint_base(&state, &request),
        PATH.replace("{agent_id}", &agent_id)
    );
    let authorization = state.mcp_authorization.as_ref().map(|s| s.config());
    axum::Json(ProtectedResourceMetadata::new(resource, authorization)).into_response()
}

/// How the transport answers: no session (each request stands alone, as Lambda instances share
/// no memory), JSON rather than a stream when nothing is sent before the result, no `Host`
/// allowlist (API Gateway names the host, and credentials are bound to it), and no request a
/// web page sends unless the page is on this machine (an `Origin` other than a loopback one is
/// refused: MCP clients are not web pages, and a page must not use a signed-in user's cookie;
/// the local stack's pages are on loopback).
fn transport_settings() -> StreamableHttpServerConfig {
    let mut settings = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .enforce_origin_validation();
    settings.legacy_session_mode = false;
    settings.json_response = true;
    settings.sse_keep_alive = None;
    settings.allowed_origins = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]
        .map(String::from)
        .to_vec();
    settings
}

/// Speak MCP with the agent: one JSON-RPC message per request (`initialize`,
/// `notifications/initialized`, `ping`, `tools/list`, `tools/call`, `server/discover`). The
/// request must accept both `application/json` and `text/event-stream`.
#[utoipa::path(post, path = "/ai/api/v1/mcp/agents/{agent_id}", tag = "mcp",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body(content = Object, description = "One JSON-RPC 2.0 message of the Model Context Protocol", content_type = "application/json"),
    responses(
        (status = 200, description = "The JSON-RPC response (`application/json`), or the messages that precede it and then it (`text/event-stream`)", body = Object),
        (status = 202, description = "A notification or a response, accepted"),
        (status = 400, description = "Not a JSON-RPC message, or MCP headers that contradict it"),
        (status = 403, description = "A browser request from another origin"),
        (status = 404, description = "No such agent in this tenant", body = shared::api::Problem),
        (status = 406, description = "`Accept` does not take both `application/json` and `text/event-stream`"),
        (status = 415, description = "The body is not `application/json`"),
    ))]
#[allow(
    dead_code,
    reason = "documents the endpoint that rmcp's service answers"
)]
async fn agent_endpoint() {}

/// The standalone event stream of an MCP session (2025 revisions; `Mcp-Session-Id` names it):
/// `notifications/tools/list_changed` whenever the agent's tools change ([`tool_changes`]). It
/// ends before the function must; the client opens the next one (`retry`, `Last-Event-ID`).
#[utoipa::path(get, path = "/ai/api/v1/mcp/agents/{agent_id}", tag = "mcp",
    params(
        ("agent_id" = String, Path, description = "Agent id"),
        ("Mcp-Session-Id" = String, Header, description = "The session"),
    ),
    responses(
        (status = 200, description = "The event stream (`text/event-stream`)"),
        (status = 404, description = "No such agent in this tenant, or no such live session of the caller with it", body = shared::api::Problem),
        (status = 405, description = "Without a session, or with session streams off (`MCP_SESSION_STREAMS`): no stream", body = shared::api::Problem),
    ))]
#[allow(dead_code, reason = "documents what admit answers")]
async fn not_offered() {}

/// Ends an MCP session (2025 revisions) that `initialize` opened: the `Mcp-Session-Id` header
/// names it. A request naming it afterwards is answered 404.
#[utoipa::path(delete, path = "/ai/api/v1/mcp/agents/{agent_id}", tag = "mcp",
    params(
        ("agent_id" = String, Path, description = "Agent id"),
        ("Mcp-Session-Id" = String, Header, description = "The session to end"),
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "No `Mcp-Session-Id` header", body = shared::api::Problem),
        (status = 404, description = "No such agent in this tenant, or no such live session of the caller with it", body = shared::api::Problem),
    ))]
#[allow(dead_code, reason = "documents what admit answers")]
async fn end_session() {}

/// Who asked, for which agent: what [`admit`] attaches to a request it lets through.
#[derive(Debug, Clone)]
struct Admitted {
    principal: Principal,
    agent_id: String,
    /// Where the console's pages are, as the caller reached the API ([`public_base`]).
    origin: String,
    /// The session the request names (2025 revisions).
    session: Option<sessions::Live>,
}

/// Lets a request through to the MCP service only for an authenticated caller and an agent of
/// their tenant (else 401, or 404 as for every other record of another tenant), keeping the
/// sessions of the 2025 revisions ([`sessions`]): a successful `initialize` opens one (its id in
/// `Mcp-Session-Id`), a request naming one must name a live one of the caller with this agent
/// (else 404), and `DELETE` ends it. No standalone stream (`GET`, 405).
async fn admit(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(agent_id): Path<String>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match principal {
        Ok(principal) => principal,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(e) =
        recent_records::load_recent::<StoredAgent>(&state, &principal.tenant_id, &agent_id).await
    {
        return ApiError::from(e).into_response();
    }
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    match *request.method() {
        http::Method::POST => {}
        http::Method::DELETE => {
            let Some(id) = session else {
                return ApiError::field(SESSION_HEADER, "names the session to end; it is missing")
                    .into_response();
            };
            let mut answer = match sessions::end(&state, &principal, &agent_id, &id).await {
                Ok(true) => http::StatusCode::NO_CONTENT.into_response(),
                Ok(false) => ApiError::NotFound("MCP session").into_response(),
                Err(e) => ApiError::from(e).into_response(),
            };
            answer.extensions_mut().insert(NotAudited);
            return answer;
        }
        http::Method::GET if session.is_some() && state.mcp_session_streams => {
            let id = session.as_deref().unwrap_or_default();
            let mut answer = match sessions::is_live(&state, &principal, &agent_id, id).await {
                Ok(true) => {
                    let last = request
                        .headers()
                        .get("last-event-id")
                        .and_then(|v| v.to_str().ok());
                    tool_changes::stream(
                        state.clone(),
                        principal,
                        agent_id,
                        lambda_deadline(&request),
                        last,
                    )
                }
                Ok(false) => ApiError::NotFound("MCP session").into_response(),
                Err(e) => ApiError::from(e).into_response(),
            };
            answer.extensions_mut().insert(NotAudited);
            return answer;
        }
        _ => {
            let mut refused = ApiError::MethodNotAllowed.into_response();
            refused.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("POST, GET, DELETE"),
            );
            return refused;
        }
    }
    let live = match &session {
        Some(id) => match sessions::live(&state, &principal, &agent_id, id).await {
            Ok(Some(live)) => Some(live),
            Ok(None) => return ApiError::NotFound("MCP session").into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => None,
    };
    let origin = public_base(&request);
    request.extensions_mut().insert(Admitted {
        principal: principal.clone(),
        agent_id: agent_id.clone(),
        origin,
        session: live,
    });
    // Only tool calls are recorded in the audit log; the rest of MCP (initialize, lists,
    // notifications) changes nothing.
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(body) => body,
        Err(_) => return ApiError::PayloadTooLarge.into_response(),
    };
    let method = serde_json::from_slice::<JsonRpcMethod<'_>>(&body)
        .ok()
        .and_then(|message| message.method)
        .map(str::to_owned);
    let mut response = next
        .run(Request::from_parts(parts, axum::body::Body::from(body)))
        .await;
    if method.as_deref() != Some("tools/call") {
        response.extensions_mut().insert(NotAudited);
    }
    if method.as_deref() == Some("initialize") && session.is_none() {
        response = with_session(&state, &principal, &agent_id, response).await;
    }
    response
}

/// When the Lambda invocation serving `request` must be over, if it is one.
fn lambda_deadline(request: &Request) -> Option<tokio::time::Instant> {
    let context = request.extensions().get::<lambda_http::Context>()?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(context.deadline).saturating_sub(now_ms);
    Some(tokio::time::Instant::now() + std::time::Duration::from_millis(u64::try_from(left).ok()?))
}

/// The request metadata key of the client's capabilities (the stateless revision).
const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// The header naming an MCP session.
const SESSION_HEADER: &str = "mcp-session-id";
/// Largest `initialize` answer read to see whether it succeeded.
const MAX_INITIALIZE_ANSWER: usize = 64 * 1024;

/// `response` to an `initialize` with a new session's id, when it is a success (a JSON-RPC
/// result); an error opens none.
async fn with_session(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
    response: Response,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_INITIALIZE_ANSWER).await else {
        return ApiError::Internal("the initialize answer could not be read".into())
            .into_response();
    };
    #[derive(serde::Deserialize)]
    struct Answer {
        result: Option<serde::de::IgnoredAny>,
    }
    let succeeded = parts.status == http::StatusCode::OK
        && serde_json::from_slice::<Answer>(&body).is_ok_and(|a| a.result.is_some());
    if succeeded {
        match sessions::open(state, principal, agent_id).await {
            Ok(id) => {
                if let Ok(value) = http::HeaderValue::from_str(&id) {
                    parts.headers.insert(SESSION_HEADER, value);
                }
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Largest MCP message taken (rmcp's own limit).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The method of a JSON-RPC message, if it names one.
#[derive(serde::Deserialize)]
struct JsonRpcMethod<'a> {
    #[serde(borrow)]
    method: Option<&'a str>,
}

/// Where the deployment's pages are, as the caller reached this request: its `Host`, over the
/// scheme API Gateway forwarded (`X-Forwarded-Proto`), else https (http for a loopback host, as
/// the local stack serves), and the path prefix API Gateway took off (the stage of an
/// `execute-api` address, or a custom domain's base path).
fn public_base(request: &Request) -> String {
    let header = |name: &str| request.headers().get(name).and_then(|h| h.to_str().ok());
    let host = header("host").unwrap_or("localhost");
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let scheme = match header("x-forwarded-proto") {
        Some("http") => "http",
        Some(_) => "https",
        None if matches!(name, "localhost" | "127.0.0.1" | "[::1]") => "http",
        None => "https",
    };
    let prefix = match request
        .extensions()
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV1(context)) => context
            .path
            .as_deref()
            .and_then(|full| full.strip_suffix(request.uri().path()))
            .filter(|prefix| prefix.starts_with('/'))
            .unwrap_or_default(),
        _ => "",
    };
    format!("{scheme}://{host}{prefix}")
}

/// The MCP server of one request: an agent's tools, for the caller [`admit`] let through.
#[derive(Clone)]
struct AgentServer {
    state: AppState,
}

impl AgentServer {
    /// Tells the client of `session` that the agent's tools changed since it last saw them
    /// (`notifications/tools/list_changed`, before the answer to this request), and remembers
    /// that it knows. Nothing when it never listed them, or when they cannot be read now (the
    /// call itself will say so).
    async fn announce_tool_changes(
        &self,
        context: &RequestContext<RoleServer>,
        principal: &Principal,
        agent_id: &str,
        session: &sessions::Live,
    ) {
        let Some(known) = session.tools else { return };
        let Ok(catalogue) = agent_tools::catalogue(&self.state, principal, agent_id, false).await
        else {
            return;
        };
        let now = tool_changes::fingerprint_of(&catalogue.tools);
        if now != known {
            let _ = context.peer.notify_tool_list_changed().await;
            self.saw_tools(principal, agent_id, session, now).await;
        }
    }

    /// [`sessions::saw_tools`], a failure logged (the client is told again next time).
    async fn saw_tools(
        &self,
        principal: &Principal,
        agent_id: &str,
        session: &sessions::Live,
        tools: u64,
    ) {
        if let Err(e) = sessions::saw_tools(&self.state, principal, agent_id, session, tools).await
        {
            tracing::warn!(error = %e, "an MCP session's known tools could not be recorded");
        }
    }

    /// The caller and agent of the request `context` belongs to.
    fn admitted(context: &RequestContext<RoleServer>) -> Result<Admitted, ErrorData> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Admitted>())
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("the request was not admitted", None))
    }
}

impl ServerHandler for AgentServer {
    /// The handshake of the 2025 revisions, whose clients have a session and so, where session
    /// streams are on, a stream that says when the tools change ([`tool_changes`]):
    /// `tools.listChanged` is offered to them then.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        let mut result = self.negotiate_initialize(&request)?;
        if let Some(tools) = result.capabilities.tools.as_mut()
            && self.state.mcp_session_streams
        {
            tools.list_changed = Some(true);
        }
        Ok(result)
    }

    fn get_info(&self) -> ServerConfig {
        #[allow(deprecated, reason = "see forward_notices")]
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_logging()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "agent-studio-connect",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "The tools of one agent of Agent Studio Connect, called with the credentials \
                 its MCP server configs hold.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let Admitted {
            principal,
            agent_id,
            session,
            ..
        } = Self::admitted(&context)?;
        let catalogue = agent_tools::catalogue(&self.state, &principal, &agent_id, false)
            .await
            .map_err(protocol_error)?;
        // The session's client now knows these tools: a change from here is announced.
        if let Some(session) = &session {
            let seen = tool_changes::fingerprint_of(&catalogue.tools);
            if session.tools != Some(seen) {
                self.saw_tools(&principal, &agent_id, session, seen).await;
            }
        }
        Ok(ListToolsResult::with_all_items(
            catalogue.tools.into_iter().map(tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Admitted {
            principal,
            agent_id,
            origin,
            session,
        } = Self::admitted(&context)?;
        if let Some(session) = &session {
            self.announce_tool_changes(&context, &principal, &agent_id, session)
                .await;
        }
        let stateless = context
            .meta
            .protocol_version()
            .is_some_and(|version| !version.has_initialize());
        let client = ClientInput {
            capabilities: context.meta.get(CLIENT_CAPABILITIES).cloned(),
            input_responses: request
                .input_responses
                .and_then(|responses| serde_json::to_value(responses).ok()),
            request_state: request.request_state,
        };
        let declared = client.capabilities.clone();
        let arguments = request.arguments.map_or(Value::Null, Value::Object);
        if stateless {
            self.check_param_headers(&context, &principal, &agent_id, &request.name, &arguments)
                .await?;
        }
        let (relay, relayed) = Relay::new(context.meta.get_progress_token().is_some());
        // A client that goes away (or cancels) cancels the call at its server too.
        let mut relay = relay.cancelled_by(context.ct.clone());
        // A client of the stateless revision brings its capabilities (and, calling again, its
        // answers to what the server asked), which pass to the server as they came.
        if stateless {
            relay = relay.with_client_input(client);
        }
        let forwarding = tokio::spawn(forward_notices(
            context.peer.clone(),
            context.meta.clone(),
            relayed,
        ));
        let note = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CallNote>())
            .cloned();
        let body = json!({"tool": request.name, "arguments": arguments});
        // A client cannot name an approval: the same call, approved meanwhile, runs with it.
        let called =
            agent_tools::call_using_approved(&self.state, &principal, &agent_id, body, Some(relay))
                .await;
        if let Some(note) = note {
            note.set(called.record.clone());
        }
        // Every notice sent during the call reaches the client before the result.
        let _ = forwarding.await;
        let outcome = match called.result {
            Ok(CallOutcome::Ran(answer)) => Ok(answer),
            Ok(CallOutcome::Held(held)) => return approval_required(&held, &origin),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(answer)
                if answer.result.get("resultType").and_then(Value::as_str)
                    == Some("input_required") =>
            {
                // The server asks the client for input first (multi round-trip requests): the
                // client answers by calling again with its responses and the opaque state.
                serde_json::from_value::<InputRequiredResult>(answer.result)
                    .map(CallToolResponse::InputRequired)
                    .or_else(|_| {
                        Ok(tool_error(
                            "The MCP server asked for input in a form that is not valid.",
                        )
                        .into())
                    })
            }
            Ok(answer) => {
                let mut result = serde_json::from_value::<CallToolResult>(answer.result)
                    .unwrap_or_else(|_| {
                        tool_error(
                            "The MCP server answered with something that is not a tool result.",
                        )
                    });
                // The upstream may speak an older revision, whose results carry no type; ours
                // states it (rmcp leaves it out again for a client of an older revision).
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(result.into())
            }
            Err(e) => call_failure(e, &origin, declared.as_ref()).map(Into::into),
        }
    }

    #[allow(
        deprecated,
        reason = "logging/setLevel is deprecated by SEP-2577; clients of the 2025 revisions send it"
    )]
    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // No session keeps a level: a call's log messages are all passed on to a client of the
        // 2025 revisions, and filtered by the level in each request of the 2026-07-28 one.
        Ok(())
    }
}

impl AgentServer {
    /// The `Mcp-Param-*` headers of a 2026-07-28 `tools/call` must agree with the arguments
    /// the tool's schema designates (SEP-2243): a missing, malformed or different one is a
    /// header mismatch (HTTP 400), and nothing is called.
    async fn check_param_headers(
        &self,
        context: &RequestContext<RoleServer>,
        principal: &Principal,
        agent_id: &str,
        tool: &str,
        arguments: &Value,
    ) -> Result<(), ErrorData> {
        let catalogue = agent_tools::catalogue(&self.state, principal, agent_id, false)
            .await
            .map_err(protocol_error)?;
        let Some(entry) = catalogue.tools.iter().find(|t| t.name == tool) else {
            return Ok(());
        };
        let headers = context
            .extensions
            .get::<http::request::Parts>()
            .map(|parts| parts.headers.clone())
            .unwrap_or_default();
        wire::check_param_headers(entry.input_schema.get(), arguments, &headers)
            .map_err(|why| ErrorData::new(ErrorCode::HEADER_MISMATCH, why, None))
    }
}

/// Passes what the upstream sends while a tool runs on to the client, until the call is over: progress under the client's own token (only when it asked for progress), and log
/// messages (for a 2026-07-28 request, only when it asked for them, from its level up).
#[allow(
    deprecated,
    reason = "log messages are deprecated by SEP-2577; the 2025 revisions' clients still read them"
)]
async fn forward_notices(
    peer: Peer<RoleServer>,
    meta: RequestMetaObject,
    mut relayed: tokio::sync::mpsc::Receiver<Value>,
) {
    let token = meta.get_progress_token();
    let modern = meta
        .protocol_version()
        .is_some_and(|version| !version.has_initialize());
    let floor = meta.log_level().map(level_rank);
    while let Some(notice) = relayed.recv().await {
        let params = notice.get("params").cloned().unwrap_or(Value::Null);
        match notice.get("method").and_then(Value::as_str) {
            Some("notifications/progress") => {
                let (Some(token), Ok(mut progress)) = (
                    token.clone(),
                    serde_json::from_value::<ProgressNotificationParam>(params),
                ) else {
                    continue;
                };
                progress.progress_token = token;
                let _ = peer.notify_progress(progress).await;
            }
            Some("notifications/message") => {
                let Ok(message) = serde_json::from_value::<LoggingMessageNotificationParam>(params)
                else {
                    continue;
                };
                let wanted = match floor {
                    Some(floor) => level_rank(message.level) >= floor,
                    None => !modern,
                };
                if wanted {
                    let _ = peer.notify_logging_message(message).await;
                }
            }
            _ => {}
        }
    }
}

/// A log level's severity, lowest first.
#[allow(deprecated, reason = "see forward_notices")]
fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// A catalogue tool as MCP lists it: its catalogue name, and the server's title, description,
/// schemas and annotations as listed.
fn tool(entry: CatalogueTool) -> Tool {
    let object = |text: &str| serde_json::from_str::<JsonObject>(text).ok();
    let mut tool = Tool::new_with_raw(
        entry.name,
        entry.description.map(Into::into),
        Arc::new(object(entry.input_schema.get()).unwrap_or_default()),
    );
    tool.title = entry.title;
    tool.output_schema = entry
        .output_schema
        .as_deref()
        .and_then(|s| object(s.get()))
        .map(Arc::new);
    tool.annotations = entry
        .annotations
        .as_deref()
        .and_then(|a| serde_json::from_str::<ToolAnnotations>(a.get()).ok());
    tool
}

/// A tool result that tells the model what went wrong (`isError`), in words it can act on.
fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// How a failed tool call is answered: what the model or the user can act on as a tool error;
/// an unknown tool, a user who must connect first and a client capability the request did not
/// declare (`client`: the capabilities it did) as protocol errors, as MCP prescribes.
fn call_failure(
    e: Error,
    origin: &str,
    client: Option<&Value>,
) -> Result<CallToolResult, ErrorData> {
    match e {
        Error::Validation(errors) if errors.iter().any(|f| f.field == "tool") => Err(
            ErrorData::invalid_params("Unknown tool: it is not in this agent's tools.", None),
        ),
        // A tool new or changed since approval is not offered, so it is as unknown.
        Error::NotApproved(_) => Err(ErrorData::invalid_params(
            "Unknown tool: it is not in this agent's tools.",
            None,
        )),
        Error::Validation(errors) => Ok(tool_error(format!(
            "Invalid arguments: {}",
            errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Error::Reauthorization(why) => reauthorization(&why, origin),
        // The server needs what the client did not declare: the client learns which. A client
        // that declared it all the same is told why it did not reach the server.
        Error::CapabilityRequired(capabilities) => {
            let declared = |name: &String| {
                client
                    .and_then(|c| c.get(name))
                    .is_some_and(|c| !c.is_null())
            };
            let names: Vec<&String> = capabilities
                .as_object()
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            if !names.is_empty() && names.iter().all(|name| declared(name)) {
                return Ok(tool_error(format!(
                    "The tool's server asks the client for {}, which is relayed only from \
                     servers of the stateless revision (2026-07-28); this one speaks an \
                     earlier revision.",
                    names
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Err(ErrorData::new(
                ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "The tool needs client capabilities this request did not declare.",
                Some(json!({"requiredCapabilities": capabilities})),
            ))
        }
        Error::RateLimited {
            retry_after,
            detail,
        } => Ok(tool_error(format!("{detail} Retry in {retry_after} s."))),
        Error::Conflict(message)
        | Error::Upstream(message)
        | Error::UpstreamTimeout(message)
        | Error::ApprovalRefused(message) => Ok(tool_error(message)),
        // The model learns that the call is not allowed, and which policies say so.
        Error::PolicyDenied(denial) => Ok(tool_error(format!(
            "{} Policies: {}.",
            denial.detail,
            denial.policies.join(", ")
        ))),
        other => Err(protocol_error(other)),
    }
}

/// A tool whose credentials need a person: the user's own connection is missing (a URL
/// elicitation to the connect page, after which the same call succeeds), or the server wants
/// an authorization someone must give (a tool error saying what to do).
fn reauthorization(why: &Reauthorization, origin: &str) -> Result<CallToolResult, ErrorData> {
    match &why.connect_url {
        Some(page) if why.reason == ReauthorizationReason::AuthorizationRequired => {
            Err(ErrorData::new(
                ErrorCode(URL_ELICITATION_REQUIRED),
                "Connect your account first.",
                Some(json!({"elicitations": [{
                    "mode": "url",
                    "elicitationId": format!("connect-{}", why.auth_config_id),
                    "url": format!("{origin}{page}"),
                    "message": why.action,
                }]})),
            ))
        }
        _ => Ok(tool_error(why.action.clone())),
    }
}

/// A call that waits for a person's approval: a URL elicitation to the console's page of the
/// approval (where an admin decides it, and the caller sees where it stands); once approved,
/// the same call runs.
fn approval_required(
    held: &ApprovalRequiredResponse,
    origin: &str,
) -> Result<CallToolResponse, ErrorData> {
    Err(ErrorData::new(
        ErrorCode(URL_ELICITATION_REQUIRED),
        "This call needs a person's approval first.",
        Some(json!({"elicitations": [{
            "mode": "url",
            "elicitationId": format!("approval-{}", held.approval.id),
            "url": format!("{origin}/console/approvals/{}", held.approval.id),
            "message": held.detail,
        }]})),
    ))
}

/// A failure the protocol reports (not the tool's): no detail of the store, keys or secrets.
fn protocol_error(e: Error) -> ErrorData {
    match e {
        Error::NotFound(what) => ErrorData::invalid_params(format!("No such {what}."), None),
        Error::Validation(_) | Error::UnknownReferences(_) => {
            ErrorData::invalid_params(e.to_string(), None)
        }
        other => {
            tracing::error!(error = %other, "an MCP request failed");
            ErrorData::internal_error("The request could not be completed.", None::<Value>)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_where_the_caller_reached_the_api() {
        let request = |host: &str, proto: Option<&str>, stage_path: Option<&str>| {
            let mut request = Request::builder()
                .uri("/ai/api/v1/mcp/agents/a")
                .header("host", host);
            if let Some(proto) = proto {
                request = request.header("x-forwarded-proto", proto);
            }
            let mut request = request.body(axum::body::Body::empty()).unwrap();
            if let Some(path) = stage_path {
                let mut context =
                    lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext::default();
                context.path = Some(path.to_owned());
                request
                    .extensions_mut()
                    .insert(lambda_http::request::RequestContext::ApiGatewayV1(context));
            }
            public_base(&request)
        };
        assert_eq!(
            request("127.0.0.1:8080", None, None),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            request("studio.example.com", None, None),
            "https://studio.example.com"
        );
        assert_eq!(
            request(
                "abc.execute-api.eu-west-1.amazonaws.com",
                Some("https"),
                Some("/prod/ai/api/v1/mcp/agents/a")
            ),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
        );
        assert_eq!(
            request(
                "studio.example.com",
                Some("https"),
                Some("/ai/api/v1/mcp/agents/a")
            ),
            "https://studio.example.com"
        );
    }
}
