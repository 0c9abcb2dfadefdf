//! Client assertions (`private_key_jwt`): what a held key and a client's own PEM key sign, and
//! what input is refused.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;
use shared::model::{
    auth_record::{AuthConfigInput, StoredAuthConfig},
    auth_records::client_assertion::{LIFETIME_SECONDS, PemKey, check_pem, create_key, for_config},
};

/// A throw-away EC P-256 key (PKCS#8), made for this test.
const EC_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmxqIPvwMfbjGDrrX
MKOUaBGownvpKvbxoZyAKRqvIH2hRANCAASmLMVoeYryrieMm2tB8mEkjqpFVghc
xHJnsvb5OVQEqaf5l4NGqextmFRixkuJtmwqSZ1Vp4OdcEEcxiIcDIfe
-----END PRIVATE KEY-----
";

fn config(extra: serde_json::Value) -> StoredAuthConfig {
    let mut doc = serde_json::json!({
        "name": "cc",
        "auth_type": "CLIENT_CREDENTIALS",
        "token_url": "https://as.example.com/token",
        "client_id": "client-1",
        "token_endpoint_auth_method": "private_key_jwt",
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    let input: AuthConfigInput = serde_json::from_value(doc).unwrap();
    let mut config = shared::model::auth_input::validate_input(input, false, None)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config;
    config.meta.id = "ac_1".into();
    config
}

fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
    let pieces: Vec<&str> = jwt.split('.').collect();
    assert_eq!(pieces.len(), 3);
    let json = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (
        json(pieces[0]),
        json(pieces[1]),
        URL_SAFE_NO_PAD.decode(pieces[2]).unwrap(),
        format!("{}.{}", pieces[0], pieces[1]),
    )
}

#[tokio::test]
async fn a_held_key_signs_single_use_short_lived_assertions_for_one_audience() {
    let dir = tempfile::tempdir().unwrap();
    let state = shared::testing::local_state(dir.path(), false).await;
    let mut config = config(serde_json::json!({}));
    assert!(config.signing_key.is_none() && config.private_key.is_none());
    let key = create_key(&state, "t1").await.unwrap();
    config.signing_key = Some(key.clone());

    let first = for_config(&state, "t1", &config).await.unwrap().unwrap();
    let second = for_config(&state, "t1", &config).await.unwrap().unwrap();
    let (header, claims, signature, input) = parts(first.expose_secret());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], key.key.kid.as_str());
    assert_eq!(claims["iss"], "client-1");
    assert_eq!(claims["sub"], "client-1");
    // No issuer known: the token endpoint is the audience.
    assert_eq!(claims["aud"], "https://as.example.com/token");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        LIFETIME_SECONDS
    );
    assert_ne!(claims["jti"], parts(second.expose_secret()).1["jti"]);
    let mut point = vec![0x04];
    point.extend(URL_SAFE_NO_PAD.decode(&key.public_jwk.x).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(&key.public_jwk.y).unwrap());
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(input.as_bytes(), &signature)
        .unwrap();

    // Once the issuer is known, it is the audience.
    config.issuer = Some("https://as.example.com".into());
    let third = for_config(&state, "t1", &config).await.unwrap().unwrap();
    assert_eq!(
        parts(third.expose_secret()).1["aud"],
        "https://as.example.com"
    );
}

#[tokio::test]
async fn configs_without_private_key_jwt_sign_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = shared::testing::local_state(dir.path(), false).await;
    let config = config(serde_json::json!({
        "token_endpoint_auth_method": "client_secret_post", "client_secret": "s"
    }));
    assert!(for_config(&state, "t1", &config).await.unwrap().is_none());
}

#[test]
fn pem_keys_are_checked_at_input() {
    let key = PemKey::parse(EC_PEM).unwrap();
    assert_eq!(key.alg(), "ES256");
    assert!(format!("{key:?}").contains("redacted"));
    for bad in [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        assert!(check_pem(bad).is_err(), "{bad:?}");
    }
    // A key given with private_key_jwt is the config's own; a secret beside it is refused.
    let given = config(serde_json::json!({"private_key": EC_PEM}));
    assert!(given.private_key.is_some());
    let input: AuthConfigInput = serde_json::from_value(serde_json::json!({
        "name": "cc", "auth_type": "CLIENT_CREDENTIALS",
        "token_url": "https://as.example.com/token", "client_id": "c",
        "token_endpoint_auth_method": "private_key_jwt", "client_secret": "s",
        "private_key": "nope",
    }))
    .unwrap();
    let Err(shared::Error::Validation(errors)) =
        shared::model::auth_input::validate_input(input, false, None)
    else {
        panic!("accepted");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"client_secret") && fields.contains(&"private_key"),
        "{fields:?}"
    );
}

#[test]
fn a_clients_own_key_follows_a_moved_token_endpoint_only_when_given_again() {
    use shared::model::auth_input::check_secret_destinations;
    let stored = config(serde_json::json!({"private_key": EC_PEM}));
    let mut moved = stored.clone();
    moved.token_url = Some("https://elsewhere.example.net/token".into());
    // Whoever never held the key cannot point what it signs at another server...
    let patch = serde_json::json!({"token_url": "https://elsewhere.example.net/token"});
    let Err(shared::Error::Validation(errors)) = check_secret_destinations(&stored, &moved, &patch)
    else {
        panic!("a moved endpoint kept the stored key");
    };
    assert_eq!(errors[0].field, "private_key");
    // ...whoever gives it again can; and a move within the origin needs nothing.
    let again = serde_json::json!({"token_url": "https://elsewhere.example.net/token",
                                   "private_key": EC_PEM});
    assert!(check_secret_destinations(&stored, &moved, &again).is_ok());
    let mut same_origin = stored.clone();
    same_origin.token_url = Some("https://as.example.com/oauth2/token".into());
    let patch = serde_json::json!({"token_url": "https://as.example.com/oauth2/token"});
    assert!(check_secret_destinations(&stored, &same_origin, &patch).is_ok());
}
