//! In-process tests of the auth-configs router over the real embedded store and a local key file:
//! every request goes through `router()` exactly as production runs it.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::{
    AppState,
    api::Principal,
    model::{
        auth_config::{self, StoredAuthConfig},
        resource,
    },
    store::{Query, TxOp},
    testing::{CountingKeys, local_state_with_keys},
};
use tower::ServiceExt;

struct TestApp {
    state: AppState,
    router: Router,
    _dir: tempfile::TempDir,
}

fn alice() -> Principal {
    Principal::admin("acme", "alice")
}

fn mallory() -> Principal {
    Principal::admin("evil", "mallory")
}

async fn app_with(allow_insecure_http: bool) -> TestApp {
    app_with_keys(allow_insecure_http).await.0
}

async fn app_with_keys(allow_insecure_http: bool) -> (TestApp, Arc<CountingKeys>) {
    let dir = tempfile::tempdir().unwrap();
    let keys = CountingKeys::in_dir(dir.path());
    // Secrets Manager is never called by these tests: its endpoint is a closed port.
    let state = local_state_with_keys(dir.path(), allow_insecure_http, keys.clone()).await;
    let app = TestApp {
        router: shared::api::with_fallbacks(auth_configs::router(state.clone())),
        state,
        _dir: dir,
    };
    (app, keys)
}

async fn app() -> TestApp {
    app_with(false).await
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl TestApp {
    async fn send(
        &self,
        principal: Option<Principal>,
        request: axum::http::request::Builder,
        body: Body,
    ) -> Reply {
        let mut request = request.body(body).unwrap();
        if let Some(p) = principal {
            request.extensions_mut().insert(p);
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        principal: &Principal,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let builder = Request::builder().method(method).uri(path);
        match body {
            Some(b) => {
                self.send(
                    Some(principal.clone()),
                    builder.header(header::CONTENT_TYPE, "application/json"),
                    Body::from(b.to_string()),
                )
                .await
            }
            None => {
                self.send(Some(principal.clone()), builder, Body::empty())
                    .await
            }
        }
    }

    async fn create(&self, body: Value) -> Reply {
        self.call(
            &alice(),
            Method::POST,
            "/ai/api/v1/auth_configs",
            Some(body),
        )
        .await
    }

    /// Creates a config as alice and returns its id.
    async fn create_id(&self, body: Value) -> String {
        let reply = self.create(body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// The sealed secrets of alice's config `id`, opened.
    async fn secrets(&self, id: &str) -> std::collections::BTreeMap<String, secrecy::SecretString> {
        let (stored, _) = resource::load::<StoredAuthConfig>(&self.state, "acme", id)
            .await
            .unwrap();
        let envelope = stored.secrets.as_ref().unwrap();
        auth_config::open_secrets(&self.state, "acme", id, envelope)
            .await
            .unwrap()
    }

    /// A list request without a principal.
    async fn anonymous(&self) -> Reply {
        let request = Request::builder().uri("/ai/api/v1/auth_configs");
        self.send(None, request, Body::empty()).await
    }

    async fn get(&self, principal: &Principal, path: &str) -> Reply {
        self.call(principal, Method::GET, path, None).await
    }

    async fn delete(&self, principal: &Principal, path: &str) -> Reply {
        self.call(principal, Method::DELETE, path, None).await
    }

    async fn patch(&self, principal: &Principal, path: &str, body: Value) -> Reply {
        self.call(principal, Method::PATCH, path, Some(body)).await
    }

    async fn stored_count(&self, tenant: &str) -> usize {
        self.state
            .store
            .query(Query::prefix(&format!("T#{tenant}"), "").limit(1000))
            .await
            .unwrap()
            .items
            .len()
    }
}

fn field_errors(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn basic() -> Value {
    json!({"name": "basic", "auth_type": "BASIC", "username": "svc", "password": "canary-basic-pw"})
}

fn client_credentials() -> Value {
    json!({
        "name": "cc", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://auth.example.com/token",
        "client_id": "svc", "client_secret": "canary-cc-secret", "scopes": ["mcp:read", "mcp:write"],
        "audience": "https://mcp.example.com", "token_endpoint_auth_method": "client_secret_post"
    })
}

fn authorization_code() -> Value {
    json!({
        "name": "ac", "auth_type": "AUTHORIZATION_CODE",
        "authorization_url": "https://auth.example.com/authorize", "token_url": "https://auth.example.com/token",
        "client_id": "web", "client_secret": "canary-ac-secret",
        "allowed_redirect_uris": ["https://app.example.com/oauth/callback"], "scopes": ["openid", "offline_access"],
        "resource": "https://mcp.example.com/mcp"
    })
}

#[tokio::test]
async fn each_auth_type_is_created_and_its_secrets_are_write_only() {
    let app = app().await;
    let none = json!({"name": "api key", "auth_type": "NONE", "custom_headers": {"X-Api-Key": "canary-header-value"}});
    for body in [none, basic(), client_credentials(), authorization_code()] {
        let reply = app.create(body.clone()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let text = reply.body.to_string();
        assert!(!text.contains("canary"), "secret leaked: {text}");
        assert_eq!(reply.body["auth_type"], body["auth_type"]);
        assert_eq!(reply.body["version"], 1);
        assert_eq!(reply.headers[header::ETAG], "\"1\"");
        let id = reply.body["id"].as_str().unwrap();
        let fetched = app
            .get(&alice(), &format!("/ai/api/v1/auth_configs/{id}"))
            .await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.body, reply.body);
    }
    let list = app.get(&alice(), "/ai/api/v1/auth_configs").await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[0]["custom_headers"]["X-Api-Key"],
        json!({"set": true})
    );
    assert_eq!(items[1]["password"], json!({"set": true}));
    assert_eq!(items[2]["client_secret"], json!({"set": true}));
    assert_eq!(items[2]["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(items[3]["token_status"], "NOT_AUTHORIZED");
    assert_eq!(items[3]["use_pkce"], true);
    assert_eq!(
        items[3]["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert!(list.body["next_token"].is_null());
}

#[tokio::test]
async fn the_deprecated_type_alias_is_accepted_alone_and_never_answered() {
    let app = app().await;
    let created = app
        .create(json!({"name": "legacy", "type": "BASIC", "username": "svc", "password": "pw"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["auth_type"], "BASIC");
    assert!(created.body.get("type").is_none(), "{}", created.body);
    let path = format!(
        "/ai/api/v1/auth_configs/{}",
        created.body["id"].as_str().unwrap()
    );

    // Both names in one document: 400 naming `type`, even when they agree; nothing written.
    let before = app.stored_count("acme").await;
    let both = app
        .create(json!({"name": "x", "type": "NONE", "auth_type": "NONE"}))
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_errors(&both), ["type"]);
    assert_eq!(app.stored_count("acme").await, before);
    let both = app
        .patch(
            &alice(),
            &path,
            json!({"type": "NONE", "auth_type": "NONE", "username": null, "password": null}),
        )
        .await;
    assert_eq!(field_errors(&both), ["type"]);

    // A merge patch may change the type through the alias, too.
    let patched = app
        .patch(
            &alice(),
            &path,
            json!({"type": "NONE", "username": null, "password": null}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["auth_type"], "NONE");
    assert!(patched.body.get("type").is_none());
    let listed = app.get(&alice(), "/ai/api/v1/auth_configs").await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item.get("type").is_none() && item.get("auth_type").is_some())
    );
}

#[tokio::test]
async fn records_stored_with_the_old_type_member_still_read() {
    let app = app().await;
    let created = app.create(basic()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    // Rewrite the stored body as it was before the rename: `type` instead of `auth_type`.
    let item = app
        .state
        .store
        .get("T#acme", &format!("AUTH#{id}"))
        .await
        .unwrap()
        .unwrap();
    let mut body: Value = item.data.read().unwrap();
    let t = body.as_object_mut().unwrap().remove("auth_type").unwrap();
    body["type"] = t;
    let mut old = item.clone();
    old.data = shared::store::Body::of(&body).unwrap();
    app.state
        .store
        .write(TxOp::Update {
            item: old,
            expected_version: item.version,
        })
        .await
        .unwrap();
    let fetched = app
        .get(&alice(), &format!("/ai/api/v1/auth_configs/{id}"))
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
    assert_eq!(fetched.body["auth_type"], "BASIC");
}

#[tokio::test]
async fn sealed_secrets_decrypt_to_what_was_given() {
    let app = app().await;
    let reply = app.create(client_credentials()).await;
    let id = reply.body["id"].as_str().unwrap();
    let (stored, _) = resource::load::<StoredAuthConfig>(&app.state, &alice().tenant_id, id)
        .await
        .unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains("canary"));
    let secrets =
        auth_config::open_secrets(&app.state, "acme", id, stored.secrets.as_ref().unwrap())
            .await
            .unwrap();
    assert_eq!(secrets["client_secret"].expose_secret(), "canary-cc-secret");
}

#[tokio::test]
async fn malformed_secret_references_are_rejected_naming_the_field() {
    // Well-formed references are resolved against Secrets Manager (tests/tests/suite/secret_references.rs).
    let app = app().await;
    let bad = app
        .create(json!({"name": "ref", "auth_type": "BASIC", "username": "u", "password": {"secret_arn": "nope"}}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_errors(&bad), ["password.secret_arn"]);
}

#[tokio::test]
async fn invalid_input_is_rejected_naming_the_field_and_nothing_is_written() {
    let app = app().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"auth_type": "NONE"}), vec!["name"]),
        (
            json!({"name": "x", "auth_type": "KERBEROS"}),
            vec!["auth_type"],
        ),
        (
            json!({"name": "x", "auth_type": "BASIC", "username": "u"}),
            vec!["password"],
        ),
        (
            json!({"name": "x", "auth_type": "BASIC", "username": "a:b", "password": "p"}),
            vec!["username"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "username": "u"}),
            vec!["username"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "colour": "red"}),
            vec!["colour"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "custom_headers": {"Host": "h"}}),
            vec!["custom_headers.Host"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "custom_headers": {"X-Amz-Date": "d"}}),
            vec!["custom_headers.X-Amz-Date"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "custom_headers": {"Mcp-Session-Id": "s"}}),
            vec!["custom_headers.Mcp-Session-Id"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "custom_headers": {"Bad Name": "v"}}),
            vec!["custom_headers.Bad Name"],
        ),
        (
            json!({"name": "x", "auth_type": "NONE", "custom_headers": {"X-Evil": "a\r\nInjected: 1"}}),
            vec!["custom_headers.X-Evil"],
        ),
        (
            json!({"name": "x", "auth_type": "BASIC", "username": "u", "password": "p", "custom_headers": {"Authorization": "Bearer t"}}),
            vec!["custom_headers.Authorization"],
        ),
        (
            json!({"name": "x", "auth_type": "CLIENT_CREDENTIALS", "token_url": "http://auth.example.com/token", "client_id": "c", "client_secret": "s"}),
            vec!["token_url"],
        ),
        (
            json!({"name": "x", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://auth.example.com/token", "client_id": "c"}),
            vec!["client_secret"],
        ),
        (
            json!({"name": "x", "auth_type": "CLIENT_CREDENTIALS", "token_url": "https://a.example.com/t", "client_id": "c", "client_secret": "s", "token_endpoint_auth_method": "none"}),
            vec!["token_endpoint_auth_method"],
        ),
        (
            json!({"name": "x", "auth_type": "AUTHORIZATION_CODE", "authorization_url": "https://a.example.com/a", "token_url": "https://a.example.com/t", "client_id": "c", "allowed_redirect_uris": []}),
            vec!["allowed_redirect_uris"],
        ),
        (
            json!({"name": "x", "auth_type": "AUTHORIZATION_CODE", "authorization_url": "https://a.example.com/a", "token_url": "https://a.example.com/t", "client_id": "c", "allowed_redirect_uris": ["https://app.example.com/cb"], "use_pkce": false}),
            vec!["use_pkce"],
        ),
        (
            json!({"name": "x", "auth_type": "AUTHORIZATION_CODE", "authorization_url": "https://a.example.com/a", "token_url": "https://a.example.com/t", "client_id": "c", "allowed_redirect_uris": ["https://app.example.com/cb"], "scopes": ["two words"]}),
            vec!["scopes.0"],
        ),
        (
            json!({"name": "x", "auth_type": "BASIC", "username": "u", "password": 12345}),
            vec!["password"],
        ),
        (
            json!({"name": "x", "auth_type": "BASIC", "username": "u", "password": {"set": true}}),
            vec!["password"],
        ),
    ];
    for (body, fields) in cases {
        let reply = app.create(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(
            reply.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(reply.body["status"], 400);
        assert_eq!(field_errors(&reply), fields, "{body}: {}", reply.body);
        assert!(
            !reply.body.to_string().contains("12345"),
            "value echoed: {}",
            reply.body
        );
    }
    assert_eq!(app.stored_count("acme").await, 0);
}

#[tokio::test]
async fn http_urls_are_accepted_only_when_insecure_http_is_allowed() {
    let body = json!({"name": "x", "auth_type": "CLIENT_CREDENTIALS", "token_url": "http://127.0.0.1:9000/token",
        "client_id": "c", "client_secret": "s"});
    assert_eq!(
        app_with(true).await.create(body.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app_with(false).await.create(body).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn malformed_requests_get_400_413_and_415_problems() {
    let app = app().await;
    let post = |content_type: Option<&str>, body: String| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/ai/api/v1/auth_configs");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        app.send(Some(alice()), request, Body::from(body))
    };
    let json = Some("application/json");

    let reply = post(Some("text/plain"), "{}".into()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );

    let reply = post(None, basic().to_string()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge =
        json!({"name": "x", "auth_type": "NONE", "description": "a".repeat(600_000)}).to_string();
    let reply = post(json, huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["status"], 413);

    let reply = post(json, "{\"name\": ".into()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_errors(&reply), ["body"]);

    let reply = post(json, "[1]".into()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.stored_count("acme").await, 0);
}

#[tokio::test]
async fn requests_without_a_principal_are_unauthenticated() {
    let app = app().await;
    let reply = app.anonymous().await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body["type"],
        "urn:agent-studio:problem:unauthenticated"
    );
}

#[tokio::test]
async fn another_tenants_config_is_not_found_and_not_listed() {
    let app = app().await;
    let id = app.create_id(basic()).await;
    let path = format!("/ai/api/v1/auth_configs/{id}");
    assert_eq!(
        app.get(&mallory(), &path).await.status,
        StatusCode::NOT_FOUND
    );
    let patch = app.patch(&mallory(), &path, json!({"name": "pwned"})).await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&mallory(), &path).await.status,
        StatusCode::NOT_FOUND
    );
    let list = app.get(&mallory(), "/ai/api/v1/auth_configs").await;
    assert_eq!(list.body["items"], json!([]));
    let mine = app.get(&alice(), &path).await;
    assert_eq!(mine.body["name"], "basic");
    assert_eq!(mine.body["version"], 1);
    let bogus = app.get(&alice(), "/ai/api/v1/auth_configs/not-an-id").await;
    assert_eq!(bogus.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_merge_patch_keeps_unmentioned_secrets_and_replaces_given_ones() {
    let app = app().await;
    let created = app
        .create(json!({"name": "n", "auth_type": "NONE", "custom_headers": {"X-Api-Key": "key-1", "X-Org": "org-1"}}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/ai/api/v1/auth_configs/{id}");

    let reply = app
        .patch(
            &alice(),
            &path,
            json!({"description": "d", "custom_headers": {"X-Api-Key": "key-2"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["version"], 2);
    assert_eq!(reply.body["description"], "d");
    let secrets = app.secrets(&id).await;
    assert_eq!(secrets["custom_headers.X-Api-Key"].expose_secret(), "key-2");
    assert_eq!(secrets["custom_headers.X-Org"].expose_secret(), "org-1");

    // null removes a header; a patch that touches no secret keeps the envelope as it is.
    let reply = app
        .patch(&alice(), &path, json!({"custom_headers": {"X-Org": null}}))
        .await;
    assert_eq!(
        reply.body["custom_headers"],
        json!({"X-Api-Key": {"set": true}})
    );
    let before = resource::load::<StoredAuthConfig>(&app.state, &alice().tenant_id, &id)
        .await
        .unwrap()
        .0
        .secrets;
    let reply = app.patch(&alice(), &path, json!({"name": "renamed"})).await;
    assert_eq!(reply.body["version"], 4);
    assert_eq!(
        resource::load::<StoredAuthConfig>(&app.state, &alice().tenant_id, &id)
            .await
            .unwrap()
            .0
            .secrets,
        before
    );
}

#[tokio::test]
async fn a_patch_can_change_the_type_once_the_old_fields_are_removed() {
    let app = app().await;
    let id = app.create_id(basic()).await;
    let path = format!("/ai/api/v1/auth_configs/{id}");
    let half = app
        .patch(&alice(), &path, json!({"auth_type": "NONE"}))
        .await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_errors(&half), ["username", "password"]);
    let full = app.patch(&alice(), &path, json!({"auth_type": "NONE", "username": null, "password": null, "custom_headers": {"Authorization": "Bearer t0k"}}))
        .await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.body);
    assert_eq!(full.body["auth_type"], "NONE");
    assert!(full.body.get("password").is_none());
    let secrets = app.secrets(&id).await;
    assert_eq!(
        secrets.len(),
        1,
        "the old password must not linger in the envelope"
    );
}

#[tokio::test]
async fn a_stale_or_invalid_patch_is_rejected_and_changes_nothing() {
    let app = app().await;
    let created = app.create(basic()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/ai/api/v1/auth_configs/{id}");
    let patch = |if_match: &str| {
        Request::builder()
            .method(Method::PATCH)
            .uri(&path)
            .header(header::CONTENT_TYPE, "application/merge-patch+json")
            .header(header::IF_MATCH, if_match)
    };
    let stale = app
        .send(Some(alice()), patch("\"7\""), Body::from(r#"{"name":"x"}"#))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        stale.body["type"],
        "urn:agent-studio:problem:precondition-failed"
    );
    // A tag this API never issued, or a weak one, matches no version: 412, not 400.
    for foreign in ["soon", "W/\"1\"", "\"1.0\"", ""] {
        let reply = app
            .send(Some(alice()), patch(foreign), Body::from(r#"{"name":"x"}"#))
            .await;
        assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED, "{foreign}");
    }
    let invalid = app.patch(&alice(), &path, json!({"username": "a:b"})).await;
    assert_eq!(field_errors(&invalid), ["username"]);
    let read_only = app.patch(&alice(), &path, json!({"version": 9})).await;
    assert_eq!(field_errors(&read_only), ["version"]);
    let after = app.get(&alice(), &path).await;
    assert_eq!(after.body, created.body);

    let ok = app
        .send(Some(alice()), patch("\"1\""), Body::from(r#"{"name":"x"}"#))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers[header::ETAG], "\"2\"");
}

#[tokio::test]
async fn deleting_a_referenced_auth_config_is_a_conflict() {
    let app = app().await;
    let id = app.create_id(basic()).await;
    let path = format!("/ai/api/v1/auth_configs/{id}");
    let refs = |delta| TxOp::AdjustRefs {
        pk: "T#acme".into(),
        sk: format!("AUTH#{id}"),
        delta,
    };
    app.state.store.write(refs(1)).await.unwrap();
    let reply = app.delete(&alice(), &path).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(app.get(&alice(), &path).await.status, StatusCode::OK);
    app.state.store.write(refs(-1)).await.unwrap();
    assert_eq!(
        app.delete(&alice(), &path).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&alice(), &path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&alice(), &path).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn lists_are_paginated_with_an_opaque_token() {
    let app = app().await;
    for i in 0..5 {
        let reply = app
            .create(json!({"name": format!("c{i}"), "auth_type": "NONE"}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let mut names = Vec::new();
    let mut path = "/ai/api/v1/auth_configs?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let reply = app.get(&alice(), &path).await;
        assert_eq!(reply.status, StatusCode::OK);
        pages += 1;
        for item in reply.body["items"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        match reply.body["next_token"].as_str() {
            Some(token) => path = format!("/ai/api/v1/auth_configs?limit=2&next_token={token}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
    // A well-formed token that was never issued is a position in key order, clamped to this
    // list: before it, the first page; after it, an empty page; never another kind's records.
    for (position, expected) in [("A", 5), ("MCP#x", 0), ("AUTH#", 5), ("AUTH#~", 0)] {
        let token = shared::store::encode_page_token(position);
        let reply = app
            .get(
                &alice(),
                &format!("/ai/api/v1/auth_configs?limit=10&next_token={token}"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{position}");
        assert_eq!(
            reply.body["items"].as_array().unwrap().len(),
            expected,
            "{position}"
        );
    }
    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "next_token=%%%",
        "limit=1&limit=2",
        "colour=red",
    ] {
        let reply = app
            .get(&alice(), &format!("/ai/api/v1/auth_configs?{bad}"))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problems() {
    let app = app().await;
    let reply = app.get(&alice(), "/ai/api/v1/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["status"], 404);
    let reply = app
        .call(&alice(), Method::PUT, "/ai/api/v1/auth_configs", None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body["status"], 405);
}

#[tokio::test]
async fn secrets_cost_one_key_call_per_sealing_and_none_when_untouched() {
    let (app, keys) = app_with_keys(false).await;
    let calls = || keys.calls();
    let created = app
        .create(json!({"name": "n", "auth_type": "NONE", "custom_headers": {"X-Api-Key": "k1", "X-Org": "o1"}}))
        .await;
    assert_eq!(
        calls(),
        1,
        "one GenerateDataKey for all secrets of a record"
    );
    let path = format!(
        "/ai/api/v1/auth_configs/{}",
        created.body["id"].as_str().unwrap()
    );
    app.get(&alice(), &path).await;
    app.get(&alice(), "/ai/api/v1/auth_configs").await;
    assert_eq!(calls(), 1, "reads never decrypt");
    app.patch(&alice(), &path, json!({"name": "renamed"})).await;
    assert_eq!(
        calls(),
        1,
        "a patch that keeps every secret reuses the envelope"
    );
    app.patch(
        &alice(),
        &path,
        json!({"custom_headers": {"X-Api-Key": "k2"}}),
    )
    .await;
    assert_eq!(
        calls(),
        2,
        "replacing one secret while keeping another: one GenerateDataKey (the kept secret's data \
         key is still in the cache of opened keys: no Decrypt)"
    );
}

#[tokio::test]
async fn every_answer_is_uncacheable_unsniffable_and_sends_no_referrer() {
    let app = app().await;
    let created = app.create(basic()).await;
    let invalid = app.create(json!({"name": ""})).await;
    let unknown = app.get(&alice(), "/ai/api/v1/nope").await;
    let anonymous = app.anonymous().await;
    for reply in [created, invalid, unknown, anonymous] {
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(reply.headers[header::REFERRER_POLICY], "no-referrer");
    }
}

#[tokio::test]
async fn a_dependency_failure_is_a_generic_503_with_a_request_id() {
    // Secrets Manager is a closed port here: resolving the reference cannot succeed.
    let app = app().await;
    let before = app.stored_count("acme").await;
    let reply = app
        .create(json!({"name": "ref", "auth_type": "BASIC", "username": "u",
            "password": {"secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"}}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["type"], "urn:agent-studio:problem:unavailable");
    let request_id = reply.body["request_id"].as_str().unwrap();
    assert!(shared::model::is_valid_id(request_id), "{request_id}");
    let text = reply.body.to_string();
    for internal in [
        "127.0.0.1",
        "dispatch",
        "connect",
        "secretsmanager unavailable",
    ] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
    assert_eq!(app.stored_count("acme").await, before);
}
