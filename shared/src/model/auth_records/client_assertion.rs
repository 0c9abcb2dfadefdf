//! Client assertions (RFC 7523 §2.2, `private_key_jwt`): the short-lived JWT a config's client
//! authenticates with at the token endpoint instead of a shared secret. Each is single-use (a
//! fresh random `jti`), valid 60 seconds, and bound to one audience: the authorization server's
//! issuer when the config knows it (discovered or given), else the token endpoint itself. It is
//! signed by the key the config names: its own PEM (`private_key`, sealed like any secret), or
//! the key this service holds for it ([`crate::crypto::signing`]), whose private half never
//! leaves the key service.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::AppState;
use crate::model::{
    auth_record::{CredentialError, StoredAuthConfig, TokenEndpointAuthMethod, open_secrets},
    secret_fields::SecretSlot,
};
use crate::store::{Body, Condition, Item, TxOp};

/// How long an assertion is valid.
pub const LIFETIME_SECONDS: i64 = 60;

/// The claims of an assertion (RFC 7523 §3).
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// The audience an assertion of `config` names: the issuer when known, else the token endpoint.
pub fn audience(config: &StoredAuthConfig) -> Option<&str> {
    config
        .discovery
        .as_ref()
        .map(|d| d.issuer.as_str())
        .or(config.issuer.as_deref())
        .or(config.token_url.as_deref())
}

/// A client's own private key, parsed from PEM.
pub enum PemKey {
    /// EC P-256 (PKCS#8 or SEC 1): signs ES256.
    Ec(aws_lc_rs::signature::EcdsaKeyPair),
    /// RSA of 2048 bits or more (PKCS#8 or PKCS#1): signs RS256.
    Rsa(aws_lc_rs::signature::RsaKeyPair),
}

impl std::fmt::Debug for PemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ec(_) => "PemKey::Ec([redacted])",
            Self::Rsa(_) => "PemKey::Rsa([redacted])",
        })
    }
}

impl PemKey {
    /// Parses `pem`: EC P-256 or RSA (2048 bits or more); anything else is refused.
    pub fn parse(pem: &str) -> Result<Self, String> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RsaKeyPair};
        use rustls_pki_types::{PrivateKeyDer, pem::PemObject};
        let refused = || {
            "must be a PEM private key: EC P-256 (ES256) or RSA of 2048 bits or more (RS256), \
             PKCS#8, SEC 1 or PKCS#1"
                .to_owned()
        };
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| refused())?;
        let ec = |der: &[u8]| {
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der).ok()
        };
        let key = match &der {
            PrivateKeyDer::Pkcs8(der) => ec(der.secret_pkcs8_der()).map(Self::Ec).or_else(|| {
                RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                    .ok()
                    .map(Self::Rsa)
            }),
            PrivateKeyDer::Sec1(der) => ec(der.secret_sec1_der()).map(Self::Ec),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .ok()
                .map(Self::Rsa),
            _ => None,
        };
        match key {
            Some(Self::Rsa(rsa)) if rsa.public_modulus_len() < 256 => Err(refused()),
            Some(key) => Ok(key),
            None => Err(refused()),
        }
    }

    /// The JWS `alg` it signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::Ec(_) => "ES256",
            Self::Rsa(_) => "RS256",
        }
    }

    /// The JWS signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Self::Ec(key) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "signing failed".to_owned()),
            Self::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    message,
                    &mut signature,
                )
                .map_err(|_| "signing failed".to_owned())?;
                Ok(signature)
            }
        }
    }
}

/// Checks a `private_key` value at input.
pub fn check_pem(pem: &str) -> Result<(), String> {
    if pem.len() > 16 * 1024 {
        return Err("must be at most 16 KiB".into());
    }
    PemKey::parse(pem).map(|_| ())
}

/// The JWS signing input of `header` and `claims` (RFC 7515 §5.1).
fn signing_input(
    header: &serde_json::Value,
    claims: &Claims<'_>,
) -> Result<String, CredentialError> {
    let claims = serde_json::to_vec(claims)
        .map_err(|e| CredentialError::Internal(format!("assertion claims: {e}")))?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims)
    ))
}

/// The assertion `config`'s client authenticates with now; `None` unless it uses
/// `private_key_jwt`.
pub async fn for_config(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
) -> Result<Option<SecretString>, CredentialError> {
    if config.token_endpoint_auth_method != Some(TokenEndpointAuthMethod::PrivateKeyJwt) {
        return Ok(None);
    }
    let internal = |m: &str| CredentialError::Internal(m.to_owned());
    let client_id = config
        .client_id
        .as_deref()
        .ok_or_else(|| internal("no client_id"))?;
    let aud = audience(config).ok_or_else(|| internal("no token endpoint"))?;
    let iat = state.clock.epoch_seconds();
    let jti = URL_SAFE_NO_PAD
        .encode(crate::crypto::random_bytes::<16>().map_err(|e| internal(&e.to_string()))?);
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud,
        iat,
        exp: iat + LIFETIME_SECONDS,
        jti,
    };
    let jwt = match (&config.private_key, &config.signing_key) {
        (Some(slot), _) => {
            let pem = match slot {
                SecretSlot::Reference(reference) => {
                    state.secrets.resolve(tenant_id, reference).await?
                }
                SecretSlot::Inline => {
                    let envelope = config
                        .secrets
                        .as_ref()
                        .ok_or_else(|| internal("inline private_key without envelope"))?;
                    open_secrets(state, tenant_id, &config.meta.id, envelope)
                        .await
                        .map_err(|e| internal(&e.to_string()))?
                        .remove("private_key")
                        .ok_or_else(|| internal("sealed private_key is missing"))?
                }
            };
            let key = PemKey::parse(pem.expose_secret()).map_err(|_| {
                internal("the private key is not a usable PEM key (its reference may have changed)")
            })?;
            let input = signing_input(
                &serde_json::json!({"alg": key.alg(), "typ": "JWT"}),
                &claims,
            )?;
            let signature = key.sign(input.as_bytes()).map_err(|e| internal(&e))?;
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        }
        (None, Some(managed)) => {
            let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": managed.key.kid});
            let input = signing_input(&header, &claims)?;
            let signature = state
                .crypto
                .signing_keys()
                .sign(&managed.key, input.as_bytes())
                .await
                .map_err(|e| internal(&format!("the key service could not sign: {e}")))?;
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        }
        (None, None) => return Err(internal("private_key_jwt without a key")),
    };
    Ok(Some(SecretString::from(jwt)))
}

/// Partition key of the public record of a held key's JWK, by `kid` (what the public JWKS
/// endpoint reads: one item, no key-service call).
fn jwks_pk(kid: &str) -> String {
    format!("JWKS#{kid}")
}

/// Sort key of that record.
const JWKS_SK: &str = "JWKS";

/// A new key held by the key service for a config of `tenant_id`, with its public JWK.
pub async fn create_key(
    state: &AppState,
    tenant_id: &str,
) -> Result<crate::model::auth_record::ManagedKey, crate::Error> {
    let keys = state.crypto.signing_keys();
    let unavailable =
        |e: crate::crypto::CryptoError| crate::Error::Internal(format!("signing key: {e}"));
    let key = keys.create(tenant_id).await.map_err(unavailable)?;
    match keys.public_jwk(&key).await {
        Ok(public_jwk) => Ok(crate::model::auth_record::ManagedKey { key, public_jwk }),
        Err(e) => {
            let _ = keys.retire(&key).await;
            Err(unavailable(e))
        }
    }
}

/// Retires a held key no config uses any more (best effort: logged when the key service
/// refuses; the key then signs nothing, since no record names it).
pub async fn retire_key(state: &AppState, key: &crate::crypto::signing::SigningKeyRef) {
    if let Err(e) = state.crypto.signing_keys().retire(key).await {
        tracing::warn!(kid = %key.kid, error = %e, "retiring a signing key failed");
    }
}

/// The write that publishes `key`'s public JWK at its JWKS path.
pub fn publish_op(key: &crate::model::auth_record::ManagedKey) -> Result<TxOp, crate::Error> {
    let data = Body::of(&key.public_jwk).map_err(|e| crate::Error::Internal(e.to_string()))?;
    Ok(TxOp::Create(Item::new(
        jwks_pk(&key.key.kid),
        JWKS_SK.to_owned(),
        data,
    )))
}

/// The write that stops publishing the key `kid`.
pub fn unpublish_op(kid: &str) -> TxOp {
    TxOp::Delete {
        pk: jwks_pk(kid),
        sk: JWKS_SK.to_owned(),
        condition: Condition::None,
    }
}

/// The public JWK published for `kid`, if any.
pub async fn published(
    state: &AppState,
    kid: &str,
) -> Result<Option<crate::crypto::signing::PublicJwk>, crate::Error> {
    if kid.is_empty()
        || kid.len() > 64
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    let Some(item) = state.store.get(&jwks_pk(kid), JWKS_SK).await? else {
        return Ok(None);
    };
    item.data
        .read()
        .map(Some)
        .map_err(|e| crate::Error::Internal(format!("published key: {e}")))
}
