//! The README's deployment guide, where it runs without AWS: a tenant's first API token made with
//! `studio-local token create --store dynamodb --table …` (as an operator does against the deployed
//! table) works on the API served from that table. Here the table is DynamoDB Local's.
#![allow(clippy::unwrap_used)]

use e2e::{Backend, TestStack};
use shared::testing::{readme_walkthrough, run_script};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_credential_of_the_deploy_guide_works_on_the_api() {
    let stack = TestStack::start(Backend::DynamoDb).await;
    let table = stack.table.clone().unwrap();
    let endpoint = e2e::service_endpoint("STUDIO_TEST_DYNAMODB_ENDPOINT");
    let env = [
        ("API", stack.api.as_str()),
        ("TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let out = run_script(&readme_walkthrough("deploy-credential"), &env).await;
    assert_eq!(out.trim(), "200", "{out}");
}
