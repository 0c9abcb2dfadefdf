#![allow(clippy::unwrap_used)]
//! KMS envelope encryption and Secrets Manager resolution against moto (endpoint from
//! `STUDIO_TEST_MOTO_ENDPOINT`, set by `infra/scripts/test.sh`).

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::ExposeSecret;
use shared::{
    config::AwsConfig,
    crypto::{Crypto, CryptoError, EncryptionContext, KmsKeyProvider},
    secrets::{SecretError, SecretRef, SecretResolver, SecretsManagerResolver, TENANT_TAG},
};

async fn aws() -> AwsConfig {
    let endpoint = std::env::var("STUDIO_TEST_MOTO_ENDPOINT").expect(
        "STUDIO_TEST_MOTO_ENDPOINT is not set: run the suite with infra/scripts/test.sh, \
         which starts moto (KMS, Secrets Manager)",
    );
    shared::config::aws_config_for_endpoint(&endpoint).await
}

/// A `Crypto` over a fresh KMS key, and that key's ARN.
async fn kms_crypto() -> (Crypto, String) {
    let aws = aws().await;
    let key = aws_sdk_kms::Client::new(&aws)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let provider = KmsKeyProvider::from_sdk(&aws, key.key_id());
    (Crypto::new(Arc::new(provider)), key.arn.unwrap())
}

fn context() -> EncryptionContext {
    EncryptionContext::new("tenant-1", "record-1", "auth_config.secrets")
}

#[tokio::test]
async fn a_kms_sealed_secret_opens_with_its_own_context() {
    let (crypto, key_arn) = kms_crypto().await;
    let envelope = crypto.seal(&context(), b"hunter2").await.unwrap();
    assert_eq!(envelope.key_id, key_arn);
    assert!(!envelope.ciphertext.contains("hunter2"));
    let opened = crypto.open(&context(), &envelope).await.unwrap();
    assert_eq!(opened.as_slice(), b"hunter2");
}

#[tokio::test]
async fn a_kms_sealed_secret_fails_to_open_for_another_record_tenant_or_purpose() {
    let (crypto, _) = kms_crypto().await;
    let envelope = crypto.seal(&context(), b"hunter2").await.unwrap();
    for other in [
        EncryptionContext::new("tenant-1", "record-2", "auth_config.secrets"),
        EncryptionContext::new("tenant-2", "record-1", "auth_config.secrets"),
        EncryptionContext::new("tenant-1", "record-1", "other.purpose"),
    ] {
        let result = crypto.open(&other, &envelope).await;
        assert!(
            matches!(result, Err(CryptoError::Integrity)),
            "{other:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_tampered_kms_sealed_ciphertext_fails_to_open() {
    let (crypto, _) = kms_crypto().await;
    let mut envelope = crypto.seal(&context(), b"hunter2").await.unwrap();
    let mut ciphertext = STANDARD.decode(&envelope.ciphertext).unwrap();
    ciphertext[0] ^= 1;
    envelope.ciphertext = STANDARD.encode(ciphertext);
    let result = crypto.open(&context(), &envelope).await;
    assert!(matches!(result, Err(CryptoError::Integrity)), "{result:?}");
}

fn secrets_client(aws: &AwsConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(aws)
}

const TENANT: &str = "acme";

/// Creates a secret with a unique name holding `value`, tagged `agent-studio:tenant=<tenant>`
/// when a tenant is given; returns its ARN.
async fn create_tagged_secret(aws: &AwsConfig, value: &str, tenant: Option<&str>) -> String {
    let name = format!("studio-test/{}", uuid::Uuid::now_v7());
    shared::testing::create_secret(aws, &name, value, tenant).await
}

/// A secret of tenant [`TENANT`].
async fn create_secret(aws: &AwsConfig, value: &str) -> String {
    create_tagged_secret(aws, value, Some(TENANT)).await
}

fn reference(arn: &str, json_key: Option<&str>) -> SecretRef {
    SecretRef {
        secret_arn: arn.to_owned(),
        json_key: json_key.map(str::to_owned),
    }
}

async fn resolve(resolver: &SecretsManagerResolver, reference: &SecretRef) -> String {
    let value = resolver.resolve(TENANT, reference).await.unwrap();
    value.expose_secret().to_owned()
}

fn assert_not_usable(result: Result<secrecy::SecretString, SecretError>, what: &str) {
    assert!(
        matches!(result, Err(SecretError::NotUsable)),
        "{what}: {:?}",
        result.map(|_| "a value")
    );
}

#[tokio::test]
async fn a_plain_string_secret_resolves_to_its_value() {
    let aws = aws().await;
    let arn = create_secret(&aws, "plain-value").await;
    let resolver = SecretsManagerResolver::from_sdk(&aws, Duration::from_secs(300));
    assert_eq!(
        resolve(&resolver, &reference(&arn, None)).await,
        "plain-value"
    );
}

#[tokio::test]
async fn a_json_secret_resolves_the_named_key() {
    let aws = aws().await;
    let arn = create_secret(&aws, r#"{"client_secret":"s3cret","other":"x"}"#).await;
    let resolver = SecretsManagerResolver::from_sdk(&aws, Duration::from_secs(300));
    let value = resolve(&resolver, &reference(&arn, Some("client_secret"))).await;
    assert_eq!(value, "s3cret");
}

#[tokio::test]
async fn missing_untagged_foreign_and_keyless_secrets_get_one_uniform_refusal() {
    let aws = aws().await;
    let json = create_secret(&aws, r#"{"client_secret":"s3cret","number":7}"#).await;
    let plain = create_secret(&aws, "not json").await;
    let untagged = create_tagged_secret(&aws, "untagged-value", None).await;
    let foreign = create_tagged_secret(&aws, "other-tenant-value", Some("globex")).await;
    let missing = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:studio-test/missing-{}-AbCdEf",
        uuid::Uuid::now_v7()
    );
    let resolver = SecretsManagerResolver::from_sdk(&aws, Duration::from_secs(300));
    for (arn, key, what) in [
        (&json, Some("absent"), "a key the secret lacks"),
        (&json, Some("number"), "a key that is not a string"),
        (&plain, Some("client_secret"), "a key of a non-JSON secret"),
        (&untagged, None, "an untagged secret"),
        (&foreign, None, "another tenant's secret"),
        (&missing, None, "no such secret"),
        (&"not-an-arn".to_owned(), None, "not an ARN"),
    ] {
        assert_not_usable(resolver.resolve(TENANT, &reference(arn, key)).await, what);
    }
    // The refusal names nothing about the secret.
    assert!(!SecretError::NotUsable.to_string().contains("globex"));
}

#[tokio::test]
async fn a_secret_resolved_for_its_tenant_is_not_served_from_the_cache_to_another() {
    let aws = aws().await;
    let arn = create_secret(&aws, "acme-only").await;
    let resolver = SecretsManagerResolver::from_sdk(&aws, Duration::from_secs(300));
    assert_eq!(
        resolve(&resolver, &reference(&arn, None)).await,
        "acme-only"
    );
    assert_not_usable(
        resolver.resolve("globex", &reference(&arn, None)).await,
        "another tenant after a cached resolution",
    );
}

#[tokio::test]
async fn a_cached_secret_is_reused_until_its_ttl_expires() {
    let aws = aws().await;
    let arn = create_secret(&aws, "old").await;
    let cached = SecretsManagerResolver::from_sdk(&aws, Duration::from_secs(300));
    let uncached = SecretsManagerResolver::from_sdk(&aws, Duration::ZERO);
    assert_eq!(resolve(&cached, &reference(&arn, None)).await, "old");
    assert_eq!(resolve(&uncached, &reference(&arn, None)).await, "old");

    secrets_client(&aws)
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("new")
        .send()
        .await
        .unwrap();
    assert_eq!(resolve(&cached, &reference(&arn, None)).await, "old");
    assert_eq!(resolve(&uncached, &reference(&arn, None)).await, "new");

    // Untagging takes effect at the next uncached read.
    secrets_client(&aws)
        .untag_resource()
        .secret_id(&arn)
        .tag_keys(TENANT_TAG)
        .send()
        .await
        .unwrap();
    assert_not_usable(
        uncached.resolve(TENANT, &reference(&arn, None)).await,
        "an untagged secret",
    );
}

/// Events go onto a real EventBridge bus (moto's), ten per call; a bus that does not exist is an
/// error that says so, never a silent drop.
#[tokio::test]
async fn events_are_put_on_the_bus_in_chunks_and_a_missing_bus_is_an_error() {
    let aws = aws().await;
    let name = format!("studio-{}", uuid::Uuid::now_v7().simple());
    let client = aws_sdk_eventbridge::Client::new(&aws);
    client.create_event_bus().name(&name).send().await.unwrap();
    let bus = shared::eventbus::EventBus::new(client.clone(), &name);
    let entries: Vec<(String, String)> = (0..12)
        .map(|n| {
            (
                "mcp_server.health_changed".to_owned(),
                format!(r#"{{"type":"mcp_server.health_changed","id":"evt_{n}"}}"#),
            )
        })
        .collect();
    bus.put(&entries).await.unwrap();
    let missing = shared::eventbus::EventBus::new(client, format!("{name}-gone"));
    let error = missing.put(&entries[..1]).await.unwrap_err();
    assert!(!error.is_empty());
}

#[tokio::test]
async fn jobs_sent_to_sqs_arrive_once_each_with_their_group() {
    use shared::work::{Message, Queue, sqs::SqsQueue};
    let aws = aws().await;
    let client = aws_sdk_sqs::Client::new(&aws);
    let url = client
        .create_queue()
        .queue_name(format!("jobs-{}", uuid_like()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(client.clone(), &url);
    // 25 messages: three batches of at most ten.
    let sent: Vec<Message> = (0..25)
        .map(|i| Message {
            group: format!("refresh:tenant-{}", i % 3),
            body: format!(r#"{{"job":"refresh_token","data":{{"n":{i}}}}}"#),
        })
        .collect();
    queue.send(sent.clone()).await.unwrap();
    let mut received = Vec::new();
    while received.len() < 25 {
        let batch = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .unwrap();
        let messages = batch.messages.unwrap_or_default();
        assert!(!messages.is_empty(), "{} of 25 arrived", received.len());
        for message in messages {
            client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            let group = message
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned();
            received.push((message.body.unwrap(), group));
        }
    }
    received.sort();
    let mut expected: Vec<(String, Option<String>)> =
        sent.into_iter().map(|m| (m.body, Some(m.group))).collect();
    expected.sort();
    assert_eq!(received, expected);
}

fn uuid_like() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn a_kms_signing_key_signs_in_kms_and_publishes_only_its_public_half() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    use shared::crypto::signing::{KmsSigningKeys, SigningKeys, TAG_PURPOSE, TAG_TENANT};

    let aws = aws().await;
    let keys = KmsSigningKeys::from_sdk(&aws);
    let key = keys.create("tenant-1").await.unwrap();
    let kms = aws_sdk_kms::Client::new(&aws);
    let describe = async || {
        kms.describe_key()
            .key_id(&key.key_id)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
    };
    let described = describe().await;
    assert_eq!(
        described.key_spec,
        Some(aws_sdk_kms::types::KeySpec::EccNistP256)
    );
    assert_eq!(
        described.key_usage,
        Some(aws_sdk_kms::types::KeyUsageType::SignVerify)
    );
    let tags: Vec<(String, String)> = kms
        .list_resource_tags()
        .key_id(&key.key_id)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.tag_key, t.tag_value))
        .collect();
    assert!(
        tags.contains(&(TAG_TENANT.into(), "tenant-1".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&(TAG_PURPOSE.into(), "client-assertion".into())),
        "{tags:?}"
    );

    // KMS signs (its DER answer becomes the JWS form); the public JWK verifies it.
    let jwk = keys.public_jwk(&key).await.unwrap();
    assert_eq!(
        (jwk.kty.as_str(), jwk.crv.as_str(), jwk.kid.as_str()),
        ("EC", "P-256", key.kid.as_str())
    );
    let signature = keys.sign(&key, b"header.claims").await.unwrap();
    let mut point = vec![0x04];
    point.extend(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&jwk.x)
            .unwrap(),
    );
    point.extend(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&jwk.y)
            .unwrap(),
    );
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(b"header.claims", &signature)
        .unwrap();

    // Retired: scheduled for deletion.
    keys.retire(&key).await.unwrap();
    let state = describe().await.key_state;
    assert_eq!(state, Some(aws_sdk_kms::types::KeyState::PendingDeletion));
}
