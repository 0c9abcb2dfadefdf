//! The public client ID metadata document, through `lambda_http` with an API Gateway REST event
//! that carries no authorizer context (the route has none): served when the deployment has a
//! public base URL, 404 otherwise.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use shared::{
    config::ClientIdentity,
    testing::{self, local_state},
};

const EVENT: &str = r#"{
  "resource": "/ai/api/v1/oauth/client-metadata.json",
  "path": "/ai/api/v1/oauth/client-metadata.json",
  "httpMethod": "GET",
  "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
  "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
  "queryStringParameters": null, "multiValueQueryStringParameters": null,
  "pathParameters": null, "stageVariables": null,
  "requestContext": {
    "accountId": "123456789012", "apiId": "abc123", "resourceId": "r9",
    "resourcePath": "/ai/api/v1/oauth/client-metadata.json", "httpMethod": "GET",
    "path": "/prod/ai/api/v1/oauth/client-metadata.json", "stage": "prod",
    "requestId": "d7af9ac6-7b61-11e6-9a41-93e8deadbeef", "requestTimeEpoch": 1795000000500,
    "protocol": "HTTP/1.1", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
    "identity": {"sourceIp": "203.0.113.10", "userAgent": "authorization-server/1.0"}
  },
  "body": null, "isBase64Encoded": false
}"#;

#[tokio::test]
async fn the_document_is_public_and_names_its_own_url_as_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = local_state(dir.path(), false).await;
    let response = testing::invoke(oauth::router(state.clone()), EVENT).await;
    assert_eq!(response.status, 404, "{}", response.body);

    let identity = ClientIdentity::new("https://studio.example.com", None, None).unwrap();
    state.client_identity = Some(Arc::new(identity));
    let response = testing::invoke(oauth::router(state), EVENT).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let url = "https://studio.example.com/ai/api/v1/oauth/client-metadata.json";
    assert_eq!(response.body["client_id"], url);
    assert_eq!(
        response.body["redirect_uris"],
        serde_json::json!([
            "https://studio.example.com/ai/api/v1/oauth/callback",
            "https://studio.example.com/console/oauth/callback"
        ])
    );
    assert_eq!(response.body["token_endpoint_auth_method"], "none");
}
