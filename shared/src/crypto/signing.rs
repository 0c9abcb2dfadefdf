//! Signing keys for client assertions (RFC 7523 `private_key_jwt`): ES256 (ECDSA P-256 with
//! SHA-256) keys whose private half never leaves the key service, and their public JWKs.
//!
//! - In AWS, [`KmsSigningKeys`]: one asymmetric KMS key per auth config (`CreateKey`,
//!   `ECC_NIST_P256`, `SIGN_VERIFY`, tagged with its tenant and purpose), used through `Sign`
//!   and `GetPublicKey`, and scheduled for deletion with its config.
//! - On a laptop, [`LocalSigningKeys`]: each key's private scalar is derived (HKDF-SHA256) from
//!   the local master key file and the key's id, so nothing but the id is ever written anywhere.
//!
//! Only a [`SigningKeyRef`] (the public `kid` and the key service's own key id) is stored. A
//! signature comes back in the JWS form (`r || s`, 64 bytes; KMS answers DER, converted here).

use async_trait::async_trait;
use aws_lc_rs::{agreement, signature};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::CryptoError;

/// `purpose` tag of every key this service creates in KMS.
pub const KEY_PURPOSE: &str = "client-assertion";
/// Tag keys on KMS signing keys.
pub const TAG_TENANT: &str = "studio:tenant";
/// Tag naming what a KMS key is for (IAM policies allow `kms:Sign` only on keys with
/// `studio:purpose=client-assertion`).
pub const TAG_PURPOSE: &str = "studio:purpose";

/// A signing key as stored with its auth config: no key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRef {
    /// The key's public id (`kid` of its JWK and of the assertions it signs; random).
    pub kid: String,
    /// The key service's id of the key (a KMS key ARN, or `local:<master key fingerprint>`).
    pub key_id: String,
}

/// An EC P-256 public key as a JWK (RFC 7517, RFC 7518 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicJwk {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The x coordinate (base64url).
    pub x: String,
    /// The y coordinate (base64url).
    pub y: String,
    /// The key id.
    pub kid: String,
    /// Always `ES256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl PublicJwk {
    /// The JWK of the uncompressed SEC1 point `point` (`04 || x || y`) under `kid`.
    pub fn from_point(kid: &str, point: &[u8]) -> Result<Self, CryptoError> {
        if point.len() != 65 || point[0] != 0x04 {
            return Err(CryptoError::Malformed("EC public key"));
        }
        Ok(Self {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            kid: kid.to_owned(),
            alg: "ES256".into(),
            use_: "sig".into(),
        })
    }
}

/// A JSON Web Key Set (RFC 7517 §5).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<PublicJwk>,
}

/// The key service holding client-assertion keys.
#[async_trait]
pub trait SigningKeys: Send + Sync {
    /// Creates a new ES256 key for `tenant_id`.
    async fn create(&self, tenant_id: &str) -> Result<SigningKeyRef, CryptoError>;
    /// The ES256 signature (`r || s`) of `message` by `key`.
    async fn sign(&self, key: &SigningKeyRef, message: &[u8]) -> Result<[u8; 64], CryptoError>;
    /// The public half of `key`.
    async fn public_jwk(&self, key: &SigningKeyRef) -> Result<PublicJwk, CryptoError>;
    /// Retires `key` (KMS: scheduled for deletion after the shortest waiting period).
    async fn retire(&self, key: &SigningKeyRef) -> Result<(), CryptoError>;
}

/// A fresh random key id: 128 bits, URL-safe.
pub fn new_kid() -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(super::random_bytes::<16>()?))
}

/// Keys derived from the local master key: the laptop stand-in for KMS.
pub struct LocalSigningKeys {
    master: Zeroizing<[u8; 32]>,
    key_id: String,
}

impl std::fmt::Debug for LocalSigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigningKeys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl LocalSigningKeys {
    /// Keys derived from the master key of `keys` (the same file that wraps data keys).
    pub fn new(keys: &super::LocalKeyProvider) -> Self {
        Self {
            master: keys.master.clone(),
            key_id: keys.key_id.clone(),
        }
    }

    /// The key pair of `kid`: its scalar is HKDF-SHA256(master key, kid), drawn again with a
    /// counter in the (about 2^-32) case it is not a valid P-256 scalar.
    fn key_pair(&self, key: &SigningKeyRef) -> Result<signature::EcdsaKeyPair, CryptoError> {
        if key.key_id != self.key_id {
            return Err(CryptoError::Unavailable(
                "the signing key belongs to another master key".into(),
            ));
        }
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"client-assertion");
        let prk = salt.extract(self.master.as_slice());
        for counter in 0u8..=255 {
            let info = [key.kid.as_bytes(), &[counter]];
            let mut scalar = Zeroizing::new([0u8; 32]);
            prk.expand(&info, aws_lc_rs::hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(scalar.as_mut_slice()))
                .map_err(|_| CryptoError::Unavailable("key derivation failed".into()))?;
            let Ok(private) =
                agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, scalar.as_slice())
            else {
                continue;
            };
            let public = private
                .compute_public_key()
                .map_err(|_| CryptoError::Unavailable("public key derivation failed".into()))?;
            return signature::EcdsaKeyPair::from_private_key_and_public_key(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                scalar.as_slice(),
                public.as_ref(),
            )
            .map_err(|_| CryptoError::Unavailable("derived key rejected".into()));
        }
        Err(CryptoError::Unavailable(
            "no valid key could be derived".into(),
        ))
    }
}

#[async_trait]
impl SigningKeys for LocalSigningKeys {
    async fn create(&self, _tenant_id: &str) -> Result<SigningKeyRef, CryptoError> {
        let key = SigningKeyRef {
            kid: new_kid()?,
            key_id: self.key_id.clone(),
        };
        self.key_pair(&key)?;
        Ok(key)
    }

    async fn sign(&self, key: &SigningKeyRef, message: &[u8]) -> Result<[u8; 64], CryptoError> {
        let pair = self.key_pair(key)?;
        let signature = pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
            .map_err(|_| CryptoError::Unavailable("signing failed".into()))?;
        signature
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::Malformed("ES256 signature length"))
    }

    async fn public_jwk(&self, key: &SigningKeyRef) -> Result<PublicJwk, CryptoError> {
        use aws_lc_rs::signature::KeyPair;
        let pair = self.key_pair(key)?;
        PublicJwk::from_point(&key.kid, pair.public_key().as_ref())
    }

    async fn retire(&self, _key: &SigningKeyRef) -> Result<(), CryptoError> {
        // Nothing is kept: a derived key stops existing when nothing names its id.
        Ok(())
    }
}

/// Asymmetric KMS keys, one per auth config.
#[derive(Debug, Clone)]
pub struct KmsSigningKeys {
    client: aws_sdk_kms::Client,
}

impl KmsSigningKeys {
    /// Keys managed through `client`.
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        Self { client }
    }

    /// Keys managed with a client built from the shared AWS configuration.
    pub fn from_sdk(aws: &crate::config::AwsConfig) -> Self {
        Self::new(aws_sdk_kms::Client::new(aws))
    }
}

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1, an uncompressed
/// point of 65 bytes): what KMS `GetPublicKey` answers for an `ECC_NIST_P256` key.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The uncompressed point of a P-256 `SubjectPublicKeyInfo`.
pub fn p256_point_from_spki(spki: &[u8]) -> Result<&[u8], CryptoError> {
    spki.strip_prefix(P256_SPKI_PREFIX.as_slice())
        .filter(|point| point.len() == 65)
        .ok_or(CryptoError::Malformed("not a P-256 public key"))
}

/// Converts a DER `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`, as KMS answers) to
/// the JWS form (`r || s`, each 32 bytes big-endian).
pub fn ecdsa_der_to_jws(der: &[u8]) -> Result<[u8; 64], CryptoError> {
    let bad = CryptoError::Malformed("ECDSA signature");
    // A P-256 signature is at most 72 bytes, so every length fits in one byte.
    let [0x30, len, body @ ..] = der else {
        return Err(bad);
    };
    if usize::from(*len) != body.len() {
        return Err(bad);
    }
    let mut out = [0u8; 64];
    let mut rest = body;
    for half in out.chunks_exact_mut(32) {
        let [0x02, len, tail @ ..] = rest else {
            return Err(CryptoError::Malformed("ECDSA signature"));
        };
        let len = usize::from(*len);
        if len == 0 || len > 33 || tail.len() < len {
            return Err(CryptoError::Malformed("ECDSA signature"));
        }
        let (integer, after) = tail.split_at(len);
        // Positive integers: one leading zero only when the next byte has its high bit set.
        let digits = match integer {
            [0x00, next, ..] if next & 0x80 != 0 => &integer[1..],
            [0x00, _, ..] => return Err(CryptoError::Malformed("ECDSA signature")),
            [first, ..] if first & 0x80 != 0 => {
                return Err(CryptoError::Malformed("ECDSA signature"));
            }
            _ => integer,
        };
        if digits.len() > 32 {
            return Err(CryptoError::Malformed("ECDSA signature"));
        }
        half[32 - digits.len()..].copy_from_slice(digits);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad);
    }
    Ok(out)
}

#[async_trait]
impl SigningKeys for KmsSigningKeys {
    async fn create(&self, tenant_id: &str) -> Result<SigningKeyRef, CryptoError> {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};
        let tag = |key: &str, value: &str| {
            Tag::builder()
                .tag_key(key)
                .tag_value(value)
                .build()
                .map_err(|e| CryptoError::Unavailable(e.to_string()))
        };
        let out = self
            .client
            .create_key()
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .description("Agent Studio Connect: client assertions of one auth config")
            .tags(tag(TAG_TENANT, tenant_id)?)
            .tags(tag(TAG_PURPOSE, KEY_PURPOSE)?)
            .send()
            .await
            .map_err(super::kms_error)?;
        let key_id = out
            .key_metadata
            .map(|m| m.arn.unwrap_or(m.key_id))
            .ok_or(CryptoError::Malformed("KMS returned no key"))?;
        Ok(SigningKeyRef {
            kid: new_kid()?,
            key_id,
        })
    }

    async fn sign(&self, key: &SigningKeyRef, message: &[u8]) -> Result<[u8; 64], CryptoError> {
        use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
        let out = self
            .client
            .sign()
            .key_id(&key.key_id)
            .message(aws_sdk_kms::primitives::Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(super::kms_error)?;
        let der = out
            .signature
            .ok_or(CryptoError::Malformed("KMS returned no signature"))?;
        ecdsa_der_to_jws(der.as_ref())
    }

    async fn public_jwk(&self, key: &SigningKeyRef) -> Result<PublicJwk, CryptoError> {
        let out = self
            .client
            .get_public_key()
            .key_id(&key.key_id)
            .send()
            .await
            .map_err(super::kms_error)?;
        let spki = out
            .public_key
            .ok_or(CryptoError::Malformed("KMS returned no public key"))?;
        PublicJwk::from_point(&key.kid, p256_point_from_spki(spki.as_ref())?)
    }

    async fn retire(&self, key: &SigningKeyRef) -> Result<(), CryptoError> {
        // By its id: KMS takes the ARN as well, but moto (the tests' KMS) only the id.
        let id = key
            .key_id
            .rsplit_once(":key/")
            .map_or(key.key_id.as_str(), |(_, id)| id);
        self.client
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(7)
            .send()
            .await
            .map_err(super::kms_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    fn local() -> (tempfile::TempDir, LocalSigningKeys) {
        let dir = tempfile::tempdir().unwrap();
        let keys = super::super::LocalKeyProvider::load_or_create(&dir.path().join("k")).unwrap();
        let signing = LocalSigningKeys::new(&keys);
        (dir, signing)
    }

    fn point(jwk: &PublicJwk) -> Vec<u8> {
        let mut point = vec![0x04];
        point.extend(URL_SAFE_NO_PAD.decode(&jwk.x).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(&jwk.y).unwrap());
        point
    }

    #[tokio::test]
    async fn local_keys_sign_verifiably_and_stay_the_same_for_the_same_id() {
        let (_dir, keys) = local();
        let key = keys.create("t1").await.unwrap();
        let jwk = keys.public_jwk(&key).await.unwrap();
        assert_eq!((jwk.kty.as_str(), jwk.crv.as_str()), ("EC", "P-256"));
        assert_eq!(jwk.kid, key.kid);
        let signature = keys.sign(&key, b"header.payload").await.unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point(&jwk))
            .verify(b"header.payload", &signature)
            .unwrap();
        assert_eq!(keys.public_jwk(&key).await.unwrap(), jwk);
        let other = keys.create("t1").await.unwrap();
        assert_ne!(keys.public_jwk(&other).await.unwrap().x, jwk.x);
    }

    #[tokio::test]
    async fn a_key_of_another_master_key_is_refused() {
        let (_a, keys) = local();
        let (_b, others) = local();
        let key = keys.create("t1").await.unwrap();
        assert!(others.sign(&key, b"m").await.is_err());
    }

    #[test]
    fn der_signatures_convert_to_the_jws_form() {
        // r with a leading zero (high bit set), s short (leading zero bytes dropped).
        let mut r = vec![0x00, 0x80];
        r.extend([0x11; 31]);
        let s = vec![0x01, 0x02];
        let mut der = vec![0x30, (4 + r.len() + s.len()) as u8, 0x02, r.len() as u8];
        der.extend(&r);
        der.extend([0x02, s.len() as u8]);
        der.extend(&s);
        let jws = ecdsa_der_to_jws(&der).unwrap();
        assert_eq!(jws[0], 0x80);
        assert_eq!(&jws[1..32], &[0x11; 31]);
        assert_eq!(&jws[32..62], &[0u8; 30]);
        assert_eq!(&jws[62..], &[0x01, 0x02]);
        // Trailing bytes, a wrong outer length, a negative or over-long integer: refused.
        let mut trailing = der.clone();
        trailing.push(0);
        trailing[1] += 1;
        assert!(ecdsa_der_to_jws(&trailing).is_err());
        let mut wrong = der.clone();
        wrong[1] -= 1;
        assert!(ecdsa_der_to_jws(&wrong).is_err());
        assert!(ecdsa_der_to_jws(&[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]).is_err());
        assert!(ecdsa_der_to_jws(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]).is_err());
    }

    #[test]
    fn kms_public_keys_are_read_from_their_spki() {
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.push(0x04);
        spki.extend([7u8; 64]);
        let point = p256_point_from_spki(&spki).unwrap();
        let jwk = PublicJwk::from_point("k", point).unwrap();
        assert_eq!(jwk.x, URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(p256_point_from_spki(&spki[1..]).is_err());
    }
}
