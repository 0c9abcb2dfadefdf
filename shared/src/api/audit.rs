//! Records every change an API request makes in the audit log ([`crate::model::audit`]): a
//! middleware around the routes that, for each authenticated request that changes something
//! (any method but GET, plus the OAuth callback, which stores tokens) and each request whose
//! role was refused ([`super::access`]), writes the actor, the method and route template, the
//! target id and the status answered. It reads no body but a create's answer (for the new id)
//! and never a query string or header.

use axum::{
    Router,
    body::Body,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
};
use http::Method;
use std::sync::{Arc, Mutex};

use crate::{AppState, model::audit::ToolCallRecord};

/// Marks an answer that changes nothing though its method is not `GET` (an MCP message other than
/// a tool call, all of which are `POST`s): the audit log does not record it, unless a role
/// refused it.
#[derive(Debug, Clone, Copy)]
pub struct NotAudited;

/// Where a tool call's handler leaves its account of the call ([`ToolCallRecord`]) for the
/// entry: the layer puts one in every audited request's extensions and reads it once the
/// answer is made.
#[derive(Debug, Clone, Default)]
pub struct CallNote(Arc<Mutex<Option<ToolCallRecord>>>);

impl CallNote {
    /// Leaves `record` for the entry.
    pub fn set(&self, record: ToolCallRecord) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(record);
    }

    fn take(&self) -> Option<ToolCallRecord> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Largest create answer read for its id: more than any answer a Lambda may return (6 MB), so
/// no answer is ever cut.
const MAX_CREATED_BODY: usize = 8 * 1024 * 1024;

/// `router` with every change it makes recorded in the audit log.
pub fn layer(router: Router, state: AppState) -> Router {
    router.route_layer(middleware::from_fn_with_state(state, record))
}

/// Whether `template` is an OAuth callback (the shared one, or one config's): a GET that stores
/// tokens.
fn is_callback(template: &str) -> bool {
    template.ends_with("/oauth/callback") || template.ends_with("/oauth/{auth_config_id}/callback")
}

/// Whether a request to `template` with `method` changes something worth recording.
fn audited(method: &Method, template: &str) -> bool {
    *method != Method::GET || is_callback(template)
}

/// The value the first `{…}` segment of `template` takes in `path`.
fn path_target(template: &str, path: &str) -> Option<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(pattern, _)| pattern.starts_with('{'))
        .map(|(_, value)| value.to_owned())
}

async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let principal = super::extract::principal_of(req.extensions());
    let (Some(template), Some(principal)) = (template, principal) else {
        return next.run(req).await;
    };
    let method = req.method().clone();
    let path_id = path_target(&template, req.uri().path());
    let request_id = match req
        .extensions()
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let note = CallNote::default();
    let mut req = req;
    req.extensions_mut().insert(note.clone());
    let response = next.run(req).await;
    // A read is recorded only when a role refused it ([`super::access`]).
    if (!audited(&method, &template) || response.extensions().get::<NotAudited>().is_some())
        && response
            .extensions()
            .get::<super::access::Refused>()
            .is_none()
    {
        return response;
    }
    let status = response.status();
    // A create names its new record only in its answer.
    let (response, target) = match path_id {
        Some(id) => (response, Some(id)),
        None if status == http::StatusCode::CREATED => {
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, MAX_CREATED_BODY).await {
                Ok(bytes) => {
                    let id = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v.get("id")?.as_str().map(str::to_owned));
                    (Response::from_parts(parts, Body::from(bytes)), id)
                }
                Err(_) => (Response::from_parts(parts, Body::empty()), None),
            }
        }
        None => (response, None),
    };
    let action = format!("{method} {template}");
    write(
        &state,
        &principal,
        Entry {
            action,
            target,
            status: status.as_u16(),
            request_id,
            call: note.take(),
        },
    )
    .await;
    response
}

/// Metric counting audit entries that could not be written (an alarm watches it).
pub const LOST_METRIC: &str = "AuditEntriesLost";
/// Tries of one audit entry's write.
const TRIES: u32 = 4;

/// Writes one entry, trying again when the store is unavailable or throttled (after 50, 100 and
/// 200 ms); one still not written is logged with what it held and counted in [`LOST_METRIC`], so
/// no entry is lost silently.
/// One entry's fields, as the layer found them.
struct Entry {
    action: String,
    target: Option<String>,
    status: u16,
    request_id: Option<String>,
    call: Option<ToolCallRecord>,
}

async fn write(state: &AppState, principal: &crate::model::principal::Principal, entry: Entry) {
    let Entry {
        action,
        target,
        status,
        request_id,
        call,
    } = entry;
    let mut pause = std::time::Duration::from_millis(50);
    for attempt in 1..=TRIES {
        let written = crate::model::audit::record(
            state,
            principal,
            action.clone(),
            target.clone(),
            status,
            request_id.clone(),
            call.clone(),
        )
        .await;
        let error = match written {
            Ok(()) => return,
            Err(error) => error,
        };
        let transient = matches!(
            error,
            crate::Error::Store(crate::store::StoreError::Unavailable(_))
        );
        if transient && attempt < TRIES {
            tokio::time::sleep(pause).await;
            pause *= 2;
            continue;
        }
        tracing::error!(
            %error, %action, ?target, status, ?request_id,
            tenant_id = %principal.tenant_id, user_id = %principal.user_id,
            "an audit entry could not be written"
        );
        println!(
            "{}",
            crate::telemetry::emf_count(LOST_METRIC, 1, crate::telemetry::now_ms())
        );
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_first_path_parameter() {
        assert_eq!(
            path_target(
                "/ai/api/v1/config/mcp-server/{id}/tools/approve",
                "/ai/api/v1/config/mcp-server/0190-a/tools/approve"
            )
            .as_deref(),
            Some("0190-a")
        );
        assert_eq!(
            path_target("/ai/api/v1/auth_configs", "/ai/api/v1/auth_configs"),
            None
        );
        assert!(audited(&Method::GET, "/ai/api/v1/oauth/callback"));
        assert!(audited(
            &Method::GET,
            "/ai/api/v1/oauth/{auth_config_id}/callback"
        ));
        assert!(!audited(&Method::GET, "/ai/api/v1/auth_configs/{id}"));
        assert!(audited(&Method::DELETE, "/ai/api/v1/auth_configs/{id}"));
    }
}
