//! Who may do what inside a tenant: the one table of roles ([`RULES`]) and the one place that
//! enforces it ([`layer`]), a middleware around every function's routes that answers a caller
//! whose role is too small with a 403 `forbidden` problem naming the role needed — before any
//! extractor reads the body, before any validation, test or outbound request, so a refused
//! request stores nothing and sends nothing anywhere. The refusal is recorded in the audit log
//! ([`super::audit`] records every answer marked [`Refused`]). The same middleware refuses a
//! change sent with the session cookie by another site (`Origin`, `Sec-Fetch-Site`), since
//! `SameSite` alone does not stop every such request.
//!
//! The OpenAPI document reads the same table (`x-required-role` on every operation,
//! [`super::openapi`]), and a test walks every operation of that document with an admin, a
//! member and another tenant's admin: a route without a rule is refused to members (the
//! middleware fails closed) and fails that test.
//!
//! One decision needs the record as well as the route: authorizing a `shared` auth config (its
//! tokens act for every user) is for admins, a `per_user` one for anyone connecting their own
//! account; [`crate::model::oauth_flow::authorize`] decides it where it reads the config, with
//! [`Principal::require`].

use axum::{
    Router,
    extract::{MatchedPath, Request},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::Method;

use super::ApiError;
#[cfg(doc)]
use crate::model::resource::Principal;
use crate::model::resource::Role;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, without a credential (documents published for clients and providers).
    Public,
    /// A signed-in caller with at least this role.
    Role(Role),
}

impl Need {
    /// The value of `x-required-role` in the OpenAPI document.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Role(role) => role.as_str(),
        }
    }
}

/// One operation's rule: its method, its route template and who may call it, with the reason a
/// reader of the OpenAPI document and the README sees.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The HTTP method (`GET` also covers `HEAD`).
    pub method: &'static str,
    /// The route template as routed (`/ai/api/v1/auth_configs/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub need: Need,
    /// Why, when it is not obvious (shown in the OpenAPI document).
    pub note: &'static str,
}

const fn rule(method: &'static str, path: &'static str, need: Need, note: &'static str) -> Rule {
    Rule {
        method,
        path,
        need,
        note,
    }
}

const PUBLIC: Need = Need::Public;
const MEMBER: Need = Need::Role(Role::Member);
const ADMIN: Need = Need::Role(Role::Admin);

/// Reads: views never hold secrets, so every member may read them.
const READ: &str = "";
/// Changes of what credentials exist, where they go and what agents may call.
const CONFIGURES: &str = "Changes the tenant's configuration: admins only.";

/// Every operation of the API and who may call it. Keep it sorted by path, then method.
pub const RULES: &[Rule] = &[
    rule(
        "GET",
        "/.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent_id}",
        PUBLIC,
        "Published for MCP clients, which read it before they have a credential.",
    ),
    rule("GET", "/ai/api/v1/agent/{id}/tools", MEMBER, READ),
    rule(
        "POST",
        "/ai/api/v1/agent/{id}/tools/call",
        MEMBER,
        "Agents' tools are for every member; a per_user server acts with the caller's own connection.",
    ),
    rule(
        "GET",
        "/ai/api/v1/approvals",
        MEMBER,
        "Admins see the tenant's approvals; a member sees their own.",
    ),
    rule(
        "GET",
        "/ai/api/v1/approvals/{id}",
        MEMBER,
        "Admins read any approval; a member only their own (404 otherwise).",
    ),
    rule(
        "POST",
        "/ai/api/v1/approvals/{id}/approve",
        ADMIN,
        "Lets a held tool call run: an admin other than the caller who asked.",
    ),
    rule(
        "POST",
        "/ai/api/v1/approvals/{id}/deny",
        ADMIN,
        "Decides a held tool call: an admin other than the caller who asked.",
    ),
    rule(
        "GET",
        "/ai/api/v1/audit",
        ADMIN,
        "The audit log names every user's actions: admins only.",
    ),
    rule("GET", "/ai/api/v1/auth_configs", MEMBER, READ),
    rule("POST", "/ai/api/v1/auth_configs", ADMIN, CONFIGURES),
    rule("DELETE", "/ai/api/v1/auth_configs/{id}", ADMIN, CONFIGURES),
    rule("GET", "/ai/api/v1/auth_configs/{id}", MEMBER, READ),
    rule("PATCH", "/ai/api/v1/auth_configs/{id}", ADMIN, CONFIGURES),
    rule("GET", "/ai/api/v1/config/agent", MEMBER, READ),
    rule("POST", "/ai/api/v1/config/agent", ADMIN, CONFIGURES),
    rule("DELETE", "/ai/api/v1/config/agent/{id}", ADMIN, CONFIGURES),
    rule("GET", "/ai/api/v1/config/agent/{id}", MEMBER, READ),
    rule("PATCH", "/ai/api/v1/config/agent/{id}", ADMIN, CONFIGURES),
    rule("GET", "/ai/api/v1/config/llm", MEMBER, READ),
    rule("POST", "/ai/api/v1/config/llm", ADMIN, CONFIGURES),
    rule("DELETE", "/ai/api/v1/config/llm/{id}", ADMIN, CONFIGURES),
    rule("GET", "/ai/api/v1/config/llm/{id}", MEMBER, READ),
    rule("PATCH", "/ai/api/v1/config/llm/{id}", ADMIN, CONFIGURES),
    rule("GET", "/ai/api/v1/config/mcp-server", MEMBER, READ),
    rule("POST", "/ai/api/v1/config/mcp-server", ADMIN, CONFIGURES),
    rule(
        "DELETE",
        "/ai/api/v1/config/mcp-server/{id}",
        ADMIN,
        CONFIGURES,
    ),
    rule("GET", "/ai/api/v1/config/mcp-server/{id}", MEMBER, READ),
    rule(
        "PATCH",
        "/ai/api/v1/config/mcp-server/{id}",
        ADMIN,
        CONFIGURES,
    ),
    rule(
        "GET",
        "/ai/api/v1/config/mcp-server/{id}/health",
        MEMBER,
        READ,
    ),
    rule(
        "POST",
        "/ai/api/v1/config/mcp-server/{id}/test",
        MEMBER,
        "A re-test sends the stored credentials only where the config already points.",
    ),
    rule(
        "POST",
        "/ai/api/v1/config/mcp-server/{id}/tools/approve",
        ADMIN,
        "Approved tools become callable by every agent using the server: admins only.",
    ),
    rule("GET", "/ai/api/v1/config/policy", MEMBER, READ),
    rule(
        "POST",
        "/ai/api/v1/config/policy",
        ADMIN,
        "Decides what every member's tool calls may do: admins only.",
    ),
    rule("GET", "/ai/api/v1/config/policy/schema", MEMBER, READ),
    rule(
        "DELETE",
        "/ai/api/v1/config/policy/{id}",
        ADMIN,
        "Decides what every member's tool calls may do: admins only.",
    ),
    rule("GET", "/ai/api/v1/config/policy/{id}", MEMBER, READ),
    rule(
        "PATCH",
        "/ai/api/v1/config/policy/{id}",
        ADMIN,
        "Decides what every member's tool calls may do: admins only.",
    ),
    rule("GET", "/ai/api/v1/config/webhook", MEMBER, READ),
    rule("POST", "/ai/api/v1/config/webhook", ADMIN, CONFIGURES),
    rule(
        "DELETE",
        "/ai/api/v1/config/webhook/{id}",
        ADMIN,
        CONFIGURES,
    ),
    rule("GET", "/ai/api/v1/config/webhook/{id}", MEMBER, READ),
    rule("PATCH", "/ai/api/v1/config/webhook/{id}", ADMIN, CONFIGURES),
    rule(
        "GET",
        "/ai/api/v1/me",
        MEMBER,
        "Who the caller is and what their role may do.",
    ),
    rule(
        "DELETE",
        "/ai/api/v1/mcp/agents/{agent_id}",
        MEMBER,
        "Ends the caller's own MCP session.",
    ),
    rule(
        "GET",
        "/ai/api/v1/mcp/agents/{agent_id}",
        MEMBER,
        "The session's own stream of tool changes.",
    ),
    rule(
        "POST",
        "/ai/api/v1/mcp/agents/{agent_id}",
        MEMBER,
        "An agent's tools over MCP, as the REST tool calls: for every member.",
    ),
    rule(
        "GET",
        "/ai/api/v1/oauth/callback",
        MEMBER,
        "Finishes only an authorization the same user started.",
    ),
    rule(
        "GET",
        "/ai/api/v1/oauth/client-metadata.json",
        PUBLIC,
        "Published for authorization servers.",
    ),
    rule(
        "GET",
        "/ai/api/v1/oauth/jwks/{kid}",
        PUBLIC,
        "Public keys, published for authorization servers.",
    ),
    rule(
        "GET",
        "/ai/api/v1/oauth/connections",
        MEMBER,
        "The caller's own connections.",
    ),
    rule(
        "DELETE",
        "/ai/api/v1/oauth/connections/{auth_config_id}",
        MEMBER,
        "Disconnects the caller's own account only.",
    ),
    rule(
        "GET",
        "/ai/api/v1/oauth/{auth_config_id}/callback",
        MEMBER,
        "Finishes only an authorization of this config that the same user started.",
    ),
    rule(
        "POST",
        "/ai/api/v1/oauth/{auth_config_id}/authorize",
        MEMBER,
        "Members connect their own account of a per_user config; authorizing a shared config \
         (its tokens act for everyone) needs the admin role (403).",
    ),
    rule("GET", "/ai/api/v1/openapi.json", PUBLIC, "This document."),
];

/// The rule of `method` on the route `template`, if the table has one.
pub fn rule_for(method: &Method, template: &str) -> Option<&'static Rule> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES
        .iter()
        .find(|r| r.method == method && r.path == template)
}

/// What a request to `template` with `method` needs: its rule's, or the admin role for a route
/// the table does not know (fail closed).
pub fn need(method: &Method, template: &str) -> Need {
    rule_for(method, template).map_or(Need::Role(Role::Admin), |r| r.need)
}

/// Marks an answer as a refusal by role, so the audit log records it even for a read.
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// `router` with every route's rule enforced: add it inside the audit layer, so refusals are
/// recorded.
pub fn layer(router: Router) -> Router {
    router.route_layer(middleware::from_fn(check))
}

/// Whether a request that changes something, authenticated by the session cookie, was sent by
/// another site: a browser says so in `Sec-Fetch-Site` (anything but `same-origin` or `none`,
/// a typed address), or in an `Origin` that is not the API's own host. A request with neither
/// (curl, a server) is no browser's, and one with a bearer token carries no ambient credential.
/// `SameSite` alone is not enough: it lets through sibling subdomains (same site, other
/// origin) and, in some browsers, top-level POSTs just after the cookie was set. Reads are
/// exempt, the OAuth callbacks among them (GETs a provider's redirect reaches from its own site
/// by design; their `state` is bound to the user who started the authorization).
fn cross_site(req: &Request) -> bool {
    let method = req.method();
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let headers = req.headers();
    if crate::session::session_cookie(headers).is_none() {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return false;
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    origin_host.is_none_or(|o| !o.eq_ignore_ascii_case(host))
}

async fn check(req: Request, next: Next) -> Response {
    let Some(template) = req.extensions().get::<MatchedPath>() else {
        return next.run(req).await;
    };
    if cross_site(&req) {
        tracing::warn!(
            method = %req.method(),
            route = template.as_str(),
            "cross-site change with the session cookie refused"
        );
        return refusal(ApiError::CrossSite);
    }
    // No principal: a public route, or the handler's extractor answers 401.
    let Some(principal) = super::extract::principal_of(req.extensions()) else {
        return next.run(req).await;
    };
    let Need::Role(needed) = need(req.method(), template.as_str()) else {
        return next.run(req).await;
    };
    if principal.role.allows(needed) {
        return next.run(req).await;
    }
    tracing::warn!(
        tenant = %principal.tenant_id,
        user = %principal.user_id,
        role = %principal.role,
        method = %req.method(),
        route = template.as_str(),
        "refused by role"
    );
    refusal(ApiError::Forbidden {
        needs: needed,
        detail: format!(
            "Your role ({}) may not call {} {}.",
            principal.role,
            req.method(),
            template.as_str()
        ),
    })
}

/// The answer of a refused request, marked for the audit log.
fn refusal(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.extensions_mut().insert(Refused);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_has_one_rule() {
        let mut seen = std::collections::BTreeSet::new();
        for r in RULES {
            assert!(
                seen.insert((r.path, r.method)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(
                ["GET", "POST", "PATCH", "DELETE", "PUT"].contains(&r.method),
                "{}",
                r.method
            );
        }
    }

    #[test]
    fn unknown_routes_need_the_admin_role_and_head_is_a_read() {
        assert_eq!(
            need(&Method::POST, "/ai/api/v1/new-thing"),
            Need::Role(Role::Admin)
        );
        assert_eq!(
            need(&Method::HEAD, "/ai/api/v1/auth_configs"),
            Need::Role(Role::Member)
        );
        assert_eq!(
            need(&Method::PATCH, "/ai/api/v1/auth_configs/{id}"),
            Need::Role(Role::Admin)
        );
    }

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("/ai/api/v1/auth_configs");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn a_change_by_cookie_from_another_site_is_cross_site() {
        let cookie = ("cookie", "sessionid=abc");
        let host = ("host", "api.example.com");
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[cookie, host, ("sec-fetch-site", "same-origin")], false),
            (&[cookie, host, ("sec-fetch-site", "none")], false),
            (&[cookie, host, ("sec-fetch-site", "same-site")], true),
            (&[cookie, host, ("sec-fetch-site", "cross-site")], true),
            (
                &[cookie, host, ("origin", "https://api.example.com")],
                false,
            ),
            (
                &[cookie, host, ("origin", "https://evil.example.com")],
                true,
            ),
            (&[cookie, host, ("origin", "null")], true),
            (
                &[
                    cookie,
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                ],
                false,
            ),
            (&[cookie, host], false),
            (
                &[
                    ("authorization", "Bearer t"),
                    host,
                    ("origin", "https://evil.example.com"),
                ],
                false,
            ),
            (
                &[
                    ("cookie", "theme=dark"),
                    ("authorization", "Bearer t"),
                    host,
                    ("origin", "https://evil.example.com"),
                ],
                false,
            ),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                cross_site(&request(Method::POST, headers)),
                *expected,
                "{headers:?}"
            );
        }
        // Reads pass, the OAuth callbacks among them.
        let evil = [cookie, host, ("sec-fetch-site", "cross-site")];
        assert!(!cross_site(&request(Method::GET, &evil)));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Member));
        assert!(Role::Admin.allows(Role::Admin));
        assert!(Role::Member.allows(Role::Member));
        assert!(!Role::Member.allows(Role::Admin));
        let member = crate::model::resource::Principal::member("acme", "bob");
        let refusal = member
            .require(Role::Admin, "authorize a shared config")
            .unwrap_err();
        assert!(matches!(
            refusal,
            crate::Error::Forbidden {
                needs: Role::Admin,
                ..
            }
        ));
    }
}
