//! Secrets Manager references are tenant-bound, end to end (the local stack with moto as Secrets
//! Manager): a tenant may use a secret only while it is tagged `agent-studio:tenant=<tenant>`.
//! Another tenant's secret, an untagged one, a missing one and a missing `json_key` all get the
//! same 400 naming the field, and nothing is stored; at use time an untagged secret is never sent.
#![allow(clippy::unwrap_used)]

use e2e::{
    Backend, Expect, TestStack,
    servers::{self, FASTMCP_API_KEY, FastMcpAuth},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::secrets::{SecretError, TENANT_TAG};

async fn secrets() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&e2e::moto().await)
}

/// A secret holding `value`, tagged for `tenant` if given; its ARN.
async fn secret(value: &str, tenant: Option<&str>) -> String {
    let name = e2e::unique_name("studio-e2e");
    shared::testing::create_secret(&e2e::moto().await, &name, value, tenant).await
}

fn api_key_server(arn: &str, json_key: Option<&str>, url: &str) -> Value {
    let mut reference = json!({"secret_arn": arn});
    if let Some(key) = json_key {
        reference["json_key"] = json!(key);
    }
    json!({"name": "by reference", "url": url,
           "auth_config": {"name": "key ref", "auth_type": "NONE",
                           "custom_headers": {"X-Api-Key": reference}}})
}

async fn references_are_usable_only_by_the_tenant_they_are_tagged_for(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let client = stack.client();
    let server = servers::fastmcp(FastMcpAuth::ApiKey, "http").await;
    let url = server.mcp_url();

    // The tenant's own secret: the value reaches the server, only the reference is stored.
    let own = secret(&format!(r#"{{"key": "{FASTMCP_API_KEY}"}}"#), Some("acme")).await;
    let created = client
        .call(
            Method::POST,
            "/config/mcp-server",
            Some(api_key_server(&own, Some("key"), &url)),
        )
        .await
        .answered(StatusCode::CREATED);
    assert_eq!(created["connection_test_result"]["status"], "SUCCESS");
    assert!(!created.to_string().contains(FASTMCP_API_KEY));
    let auth_id = created["auth_config_id"].as_str().unwrap().to_owned();
    let (_, auth) = client.get(&format!("/auth_configs/{auth_id}")).await;
    assert_eq!(
        auth["custom_headers"]["X-Api-Key"],
        json!({"set": true, "secret_arn": own, "json_key": "key"})
    );

    // Everything else is one uniform refusal naming the field; nothing is stored.
    let foreign = secret(FASTMCP_API_KEY, Some("globex")).await;
    let untagged = secret(FASTMCP_API_KEY, None).await;
    let missing = format!("{own}-gone");
    let expected = SecretError::NotUsable.to_string();
    let (configs, servers_before) = (
        client.count("/auth_configs").await,
        client.count("/config/mcp-server").await,
    );
    for (arn, key) in [
        (&foreign, None),
        (&untagged, None),
        (&missing, None),
        (&own, Some("absent")),
    ] {
        for (path, body) in [
            ("/config/mcp-server", api_key_server(arn, key, &url)),
            (
                "/auth_configs",
                api_key_server(arn, key, &url)["auth_config"].clone(),
            ),
        ] {
            let (status, problem) = client.post(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{arn} {key:?}: {problem}");
            let field = problem["errors"][0]["field"].as_str().unwrap();
            assert!(field.ends_with("custom_headers.X-Api-Key"), "{field}");
            assert_eq!(problem["errors"][0]["message"], expected);
        }
    }
    assert_eq!(client.count("/auth_configs").await, configs);
    assert_eq!(client.count("/config/mcp-server").await, servers_before);

    // A PATCH cannot point a config at another tenant's secret either.
    client
        .patch(
            &format!("/auth_configs/{auth_id}"),
            json!({"custom_headers": {"X-Api-Key": {"secret_arn": foreign}}}),
        )
        .await
        .answered(StatusCode::BAD_REQUEST);
    let (_, unchanged) = client.get(&format!("/auth_configs/{auth_id}")).await;
    assert_eq!(unchanged["custom_headers"], auth["custom_headers"]);

    // Untagged after the fact: the next use refuses it, and the server never receives the value.
    secrets()
        .await
        .untag_resource()
        .secret_id(&own)
        .tag_keys(TENANT_TAG)
        .send()
        .await
        .unwrap();
    // A fresh stack instance has no cached resolution (a warm one re-checks within 5 minutes).
    let server_id = created["id"].as_str().unwrap();
    let fresh = shared::secrets::SecretsManagerResolver::from_sdk(
        &e2e::moto().await,
        std::time::Duration::ZERO,
    );
    let mut state = stack.state.clone();
    state.secrets = std::sync::Arc::new(fresh);
    let principal = shared::api::Principal::admin("acme", "alice");
    let seen = || async {
        reqwest::get(format!("{}/_requests", server.base))
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .len()
    };
    let before = seen().await;
    let retest = shared::model::server_checks::retest(&state, &principal, server_id)
        .await
        .unwrap();
    assert_eq!(
        seen().await,
        before,
        "no request may leave without the credential"
    );
    assert_eq!(
        serde_json::to_value(&retest).unwrap()["status"],
        "FAILED",
        "{retest:?}"
    );
}

e2e::on_both_stores!(references_are_usable_only_by_the_tenant_they_are_tagged_for);
e2e::on_the_rehearsal!(references_are_usable_only_by_the_tenant_they_are_tagged_for,);
