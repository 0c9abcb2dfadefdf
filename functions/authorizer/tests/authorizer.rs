//! The REQUEST authorizer driven with an API Gateway authorizer event over the real embedded store.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use lambda_runtime::{Context, LambdaEvent};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::{
    api::Principal,
    clock::{Clock, ManualClock},
    session::{self, CredentialKind},
    store::SqliteStore,
};

fn event(
    headers: Value,
) -> LambdaEvent<aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/request-authorizer.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    for (name, value) in headers.as_object().unwrap() {
        event["headers"][name] = value.clone();
        event["multiValueHeaders"][name] = json!([value]);
    }
    LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
}

struct Fixture {
    store: SqliteStore,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let store = SqliteStore::open(&dir.path().join("db.sqlite"), clock.clone()).unwrap();
    Fixture {
        store,
        clock,
        _dir: dir,
    }
}

impl Fixture {
    /// The authorizer's answer to a request with `headers`.
    async fn authorize(
        &self,
        headers: Value,
    ) -> Result<authorizer::AuthorizerResponse, lambda_runtime::Error> {
        authorizer::handle(&self.store, event(headers)).await
    }

    /// A new session of alice's, valid for an hour.
    async fn session(&self) -> secrecy::SecretString {
        self.credential(CredentialKind::Session, time::Duration::hours(1))
            .await
    }

    /// A new session or API token of alice's.
    async fn credential(&self, kind: CredentialKind, ttl: time::Duration) -> secrecy::SecretString {
        session::create(&self.store, self.clock.as_ref(), &alice(), kind, ttl)
            .await
            .unwrap()
    }
}

fn alice() -> Principal {
    Principal::admin("acme", "alice")
}

#[tokio::test]
async fn a_session_cookie_is_allowed_with_the_tenant_in_the_context() {
    let f = fixture();
    let sid = f.session().await;
    let cookie = format!("theme=dark; sessionid={}; other=1", sid.expose_secret());
    let response = f.authorize(json!({ "Cookie": cookie })).await.unwrap();
    let body = serde_json::to_value(&response).unwrap();
    assert_eq!(body["principalId"], "alice");
    assert_eq!(
        body["context"],
        json!({"tenant_id": "acme", "user_id": "alice", "role": "admin"})
    );
    assert_eq!(body["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(
        body["policyDocument"]["Statement"][0]["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
    );
}

#[tokio::test]
async fn an_api_token_is_accepted_as_a_bearer_credential() {
    let f = fixture();
    let token = f
        .credential(CredentialKind::ApiToken, time::Duration::days(90))
        .await;
    assert!(token.expose_secret().starts_with("sct_"));
    let auth = format!("Bearer {}", token.expose_secret());
    let response = f.authorize(json!({ "Authorization": auth })).await.unwrap();
    assert_eq!(response.context["tenant_id"], "acme");
}

#[tokio::test]
async fn missing_unknown_and_expired_credentials_are_unauthorized() {
    let f = fixture();
    let sid = f.session().await;
    for headers in [
        json!({}),
        json!({ "Cookie": "sessionid=forged" }),
        json!({ "Authorization": "Bearer forged" }),
        json!({ "Authorization": format!("Basic {}", sid.expose_secret()) }),
    ] {
        let err = f.authorize(headers.clone()).await.unwrap_err();
        assert_eq!(err.to_string(), "Unauthorized", "{headers}");
    }
    f.clock.advance(time::Duration::hours(2));
    assert!(f.clock.now() > time::OffsetDateTime::now_utc());
    let cookie = format!("sessionid={}", sid.expose_secret());
    let err = f.authorize(json!({ "Cookie": cookie })).await.unwrap_err();
    assert_eq!(err.to_string(), "Unauthorized");
}

#[tokio::test]
async fn sessions_are_stored_only_as_hashes() {
    let f = fixture();
    let sid = f.session().await;
    drop(f.store);
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(f._dir.path()).unwrap() {
        raw.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let needle = sid.expose_secret().as_bytes();
    assert!(!raw.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test]
async fn the_role_stored_with_the_credential_reaches_the_context() {
    let f = fixture();
    let bob = Principal::member("acme", "bob");
    let token = session::create(
        &f.store,
        f.clock.as_ref(),
        &bob,
        CredentialKind::ApiToken,
        time::Duration::days(1),
    )
    .await
    .unwrap();
    let auth = format!("Bearer {}", token.expose_secret());
    let response = f.authorize(json!({ "Authorization": auth })).await.unwrap();
    assert_eq!(response.context["role"], "member");
    assert_eq!(response.context["user_id"], "bob");
}

#[tokio::test]
async fn a_credential_stored_before_roles_existed_is_an_admin() {
    use sha2::{Digest, Sha256};
    use shared::store::{Body, Item, Store, TxOp};
    let f = fixture();
    let credential = "legacy-session-made-before-roles";
    let pk = format!(
        "SESSION#{}",
        hex::encode(Sha256::digest(credential.as_bytes()))
    );
    let record =
        json!({"tenant_id": "acme", "user_id": "carol", "kind": "session", "created_at": 0});
    let item = Item::new(pk, "SESSION", Body::of(&record).unwrap());
    f.store.write(TxOp::Create(item)).await.unwrap();
    let cookie = format!("sessionid={credential}");
    let response = f.authorize(json!({ "Cookie": cookie })).await.unwrap();
    assert_eq!(response.context["role"], "admin");
}
