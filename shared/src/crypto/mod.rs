//! Envelope encryption of secrets (DESIGN §4). Each sealed value gets a fresh 256-bit data key from a
//! [`KeyProvider`] (AWS KMS `GenerateDataKey`, or a local master key file), is encrypted with
//! AES-256-GCM under a fresh 96-bit nonce, and binds its [`EncryptionContext`] (tenant, record,
//! purpose) both as the KMS encryption context and as GCM associated data, so a ciphertext copied to
//! another record or tenant fails to decrypt. Opened data keys are kept a few minutes in a bounded
//! cache ([`key_cache`]), so a warm function opens what it opened recently without a key-provider
//! call.

pub mod key_cache;
pub mod signing;

use std::{collections::BTreeMap, io::Write, path::Path, sync::Arc};

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Current envelope format version.
const ENVELOPE_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Encryption or key management failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: tampered data, wrong key, or a context that does not match.
    #[error("ciphertext could not be authenticated")]
    Integrity,
    /// The envelope is malformed or of an unknown version.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// The key provider (KMS) is unreachable or refused the call.
    #[error("key provider unavailable: {0}")]
    Unavailable(String),
    /// The local key file could not be read or created.
    #[error("local key file: {0}")]
    KeyFile(String),
}

/// What a ciphertext is bound to. Decryption succeeds only with the identical context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext {
    /// Owning tenant.
    pub tenant_id: String,
    /// Record the secret belongs to.
    pub record_id: String,
    /// What the secret is for (e.g. `auth_config.secrets`).
    pub purpose: &'static str,
}

impl EncryptionContext {
    /// A context for `purpose` on `record_id` of `tenant_id`.
    pub fn new(tenant_id: &str, record_id: &str, purpose: &'static str) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            record_id: record_id.to_owned(),
            purpose,
        }
    }

    /// The context as the key/value map KMS takes.
    pub fn as_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("purpose".to_owned(), self.purpose.to_owned()),
            ("record_id".to_owned(), self.record_id.clone()),
            ("tenant_id".to_owned(), self.tenant_id.clone()),
        ])
    }

    /// Canonical bytes of the context (sorted-key JSON), used as AES-GCM associated data.
    pub fn aad(&self) -> Vec<u8> {
        serde_json::to_vec(&self.as_map()).unwrap_or_default()
    }
}

/// A fresh data key: the plaintext (zeroed on drop) and its wrapped form to store.
pub struct DataKey {
    /// The 256-bit key in the clear; never stored.
    pub plaintext: Zeroizing<[u8; 32]>,
    /// The key encrypted under the master key; stored in the envelope.
    pub wrapped: Vec<u8>,
    /// Id of the master key that wrapped it.
    pub key_id: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"[redacted]")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A source of data keys: KMS in AWS, a local key file on a laptop.
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// Creates a new data key bound to `context`.
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, CryptoError>;
    /// Unwraps a data key; fails unless `context` is the one it was generated with.
    async fn decrypt_data_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError>;

    /// The signing keys of the same key service: KMS asymmetric keys beside a KMS master key,
    /// keys derived from the local master key beside it.
    fn signing_keys(&self) -> Arc<dyn signing::SigningKeys>;
}

/// A sealed secret as stored: `{v, key_id, wrapped_key, nonce, ciphertext}` (byte fields base64).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version.
    pub v: u8,
    /// Master key that wrapped the data key.
    pub key_id: String,
    /// The wrapped data key (base64).
    pub wrapped_key: String,
    /// AES-GCM nonce (base64).
    pub nonce: String,
    /// AES-GCM ciphertext with tag (base64).
    pub ciphertext: String,
    /// When the data key was generated, Unix seconds (absent in envelopes written before it was
    /// kept: such a key is not reused).
    pub key_created_at: Option<i64>,
    /// How many values this data key has sealed so far, this one included.
    pub key_uses: Option<u32>,
}

/// A reused data key seals at most this many values...
pub const MAX_DATA_KEY_USES: u32 = 10_000;
/// ...and for at most this long (seconds) before a fresh one is generated.
pub const MAX_DATA_KEY_AGE_SECONDS: i64 = 30 * 24 * 3600;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| CryptoError::Unavailable(format!("random source: {e}")))?;
    Ok(buf)
}

fn gcm_seal(
    key: &[u8; 32],
    aad: &[u8],
    msg: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
    let cipher =
        Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Malformed("key length"))?;
    let nonce = random_bytes::<NONCE_LEN>()?;
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .map_err(|_| CryptoError::Integrity)?;
    Ok((nonce, ct))
}

fn gcm_open(
    key: &[u8; 32],
    nonce: &[u8],
    aad: &[u8],
    msg: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::Malformed("nonce length"));
    }
    let cipher =
        Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Malformed("key length"))?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Integrity)
}

/// Seals and opens secrets with envelope encryption: one key-provider call per sealing, and one
/// per opening unless the data key was opened (or made) in the last minutes.
#[derive(Clone)]
pub struct Crypto {
    keys: Arc<dyn KeyProvider>,
    cache: Arc<key_cache::KeyCache>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto").finish_non_exhaustive()
    }
}

impl Crypto {
    /// Envelope encryption over `keys`, with a cache of opened data keys of
    /// [`key_cache::CAPACITY`] keys kept [`key_cache::MAX_AGE`] each.
    pub fn new(keys: Arc<dyn KeyProvider>) -> Self {
        Self::with_cache(keys, key_cache::MAX_AGE, key_cache::CAPACITY)
    }

    /// Envelope encryption over `keys`, keeping at most `capacity` opened data keys for at most
    /// `max_age` each (zero for none).
    pub fn with_cache(
        keys: Arc<dyn KeyProvider>,
        max_age: std::time::Duration,
        capacity: usize,
    ) -> Self {
        Self {
            keys,
            cache: Arc::new(key_cache::KeyCache::new(max_age, capacity)),
        }
    }

    /// The client-assertion signing keys of the same key service.
    pub fn signing_keys(&self) -> Arc<dyn signing::SigningKeys> {
        self.keys.signing_keys()
    }

    /// Encrypts `plaintext` under a fresh data key bound to `context`.
    pub async fn seal(
        &self,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Envelope, CryptoError> {
        let key = self.keys.generate_data_key(context).await?;
        let (nonce, ct) = gcm_seal(&key.plaintext, &context.aad(), plaintext)?;
        let id = key_cache::KeyCache::id(&key.key_id, &key.wrapped, context);
        self.cache.put(id, &key.plaintext);
        Ok(Envelope {
            v: ENVELOPE_VERSION,
            key_id: key.key_id,
            wrapped_key: STANDARD.encode(&key.wrapped),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ct),
            key_created_at: Some(unix_now()),
            key_uses: Some(1),
        })
    }

    /// Decrypts `envelope`; fails with [`CryptoError::Integrity`] if it was tampered with or was
    /// sealed for another context.
    pub async fn open(
        &self,
        context: &EncryptionContext,
        envelope: &Envelope,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.open_for_reseal(context, envelope)
            .await
            .map(|(plaintext, _)| plaintext)
    }

    /// Decrypts `envelope` like [`Crypto::open`] and keeps its data key, so a new value of the same
    /// record can be sealed without another key-provider call (a token refresh: one call, not two).
    pub async fn open_for_reseal(
        &self,
        context: &EncryptionContext,
        envelope: &Envelope,
    ) -> Result<(Zeroizing<Vec<u8>>, Resealer), CryptoError> {
        if envelope.v != ENVELOPE_VERSION {
            return Err(CryptoError::Malformed("unknown envelope version"));
        }
        let decode = |s: &str, what| STANDARD.decode(s).map_err(|_| CryptoError::Malformed(what));
        let wrapped = decode(&envelope.wrapped_key, "wrapped_key")?;
        let nonce = decode(&envelope.nonce, "nonce")?;
        let ct = decode(&envelope.ciphertext, "ciphertext")?;
        let id = key_cache::KeyCache::id(&envelope.key_id, &wrapped, context);
        let key = match self.cache.get(&id) {
            Some(key) => key,
            None => {
                let key = self
                    .keys
                    .decrypt_data_key(&envelope.key_id, &wrapped, context)
                    .await?;
                self.cache.put(id, &key);
                key
            }
        };
        let plaintext = gcm_open(&key, &nonce, &context.aad(), &ct)?;
        let resealer = Resealer {
            key,
            aad: context.aad(),
            key_id: envelope.key_id.clone(),
            wrapped_key: envelope.wrapped_key.clone(),
            key_created_at: envelope.key_created_at,
            key_uses: envelope.key_uses.unwrap_or(u32::MAX),
        };
        Ok((plaintext, resealer))
    }
}

/// Implements `Debug` showing only the `key_id` of a type that holds key material.
macro_rules! debug_key_id_only {
    ($type:ty) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    .field("key_id", &self.key_id)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// The data key of an opened envelope, able to seal new values for the same context (with a fresh
/// nonce each time) at no key-provider cost.
pub struct Resealer {
    key: Zeroizing<[u8; 32]>,
    aad: Vec<u8>,
    key_id: String,
    wrapped_key: String,
    key_created_at: Option<i64>,
    key_uses: u32,
}

debug_key_id_only!(Resealer);

impl Resealer {
    /// Whether the kept data key may seal another value: younger than
    /// [`MAX_DATA_KEY_AGE_SECONDS`] and used fewer than [`MAX_DATA_KEY_USES`] times (a key from an
    /// envelope that does not say is not reused).
    pub fn reusable(&self) -> bool {
        self.key_created_at
            .is_some_and(|at| unix_now() - at < MAX_DATA_KEY_AGE_SECONDS)
            && self.key_uses < MAX_DATA_KEY_USES
    }

    /// Seals `plaintext` under the kept data key and context (check [`Resealer::reusable`]
    /// first; a key past its bounds is refused here too).
    pub fn seal(&self, plaintext: &[u8]) -> Result<Envelope, CryptoError> {
        if !self.reusable() {
            return Err(CryptoError::Malformed("data key past its age or use bound"));
        }
        let (nonce, ct) = gcm_seal(&self.key, &self.aad, plaintext)?;
        Ok(Envelope {
            v: ENVELOPE_VERSION,
            key_id: self.key_id.clone(),
            wrapped_key: self.wrapped_key.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ct),
            key_created_at: self.key_created_at,
            key_uses: Some(self.key_uses.saturating_add(1)),
        })
    }
}

/// Data keys wrapped by a 256-bit master key kept in a local file (mode 0600): the laptop stand-in
/// for KMS, with the same envelope format and context binding.
pub struct LocalKeyProvider {
    master: Zeroizing<[u8; 32]>,
    key_id: String,
}

debug_key_id_only!(LocalKeyProvider);

impl LocalKeyProvider {
    /// Loads the master key from `path`, creating it (32 random bytes, mode 0600) if it is absent.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let err = |e: std::io::Error| CryptoError::KeyFile(format!("{}: {e}", path.display()));
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(err)?;
                }
                let key = Zeroizing::new(random_bytes::<32>()?);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                options
                    .open(path)
                    .and_then(|mut f| f.write_all(&*key))
                    .map_err(err)?;
                Zeroizing::new(key.to_vec())
            }
            Err(e) => return Err(err(e)),
        };
        let master: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            CryptoError::KeyFile(format!("{}: must hold exactly 32 bytes", path.display()))
        })?;
        let fingerprint = Sha256::digest(master);
        Ok(Self {
            key_id: format!("local:{}", hex::encode(&fingerprint[..8])),
            master: Zeroizing::new(master),
        })
    }
}

#[async_trait]
impl KeyProvider for LocalKeyProvider {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, CryptoError> {
        let plaintext = Zeroizing::new(random_bytes::<32>()?);
        let (nonce, ct) = gcm_seal(&self.master, &context.aad(), plaintext.as_slice())?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&ct);
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id: self.key_id.clone(),
        })
    }

    async fn decrypt_data_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if key_id != self.key_id {
            return Err(CryptoError::Integrity);
        }
        if wrapped.len() < NONCE_LEN {
            return Err(CryptoError::Malformed("wrapped key"));
        }
        let (nonce, ct) = wrapped.split_at(NONCE_LEN);
        let opened = gcm_open(&self.master, nonce, &context.aad(), ct)?;
        if opened.len() != 32 {
            return Err(CryptoError::Malformed("data key length"));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&opened);
        Ok(key)
    }

    fn signing_keys(&self) -> Arc<dyn signing::SigningKeys> {
        Arc::new(signing::LocalSigningKeys::new(self))
    }
}

/// Data keys from AWS KMS (`GenerateDataKey` / `Decrypt`) with the encryption context enforced by KMS.
#[derive(Debug, Clone)]
pub struct KmsKeyProvider {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeyProvider {
    /// A provider with a client built from the shared AWS configuration.
    pub fn from_sdk(aws: &crate::config::AwsConfig, key_id: impl Into<String>) -> Self {
        Self::new(aws_sdk_kms::Client::new(aws), key_id)
    }

    /// A provider generating data keys under `key_id` (id, ARN or alias).
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn kms_error<E: std::error::Error + 'static>(e: aws_sdk_kms::error::SdkError<E>) -> CryptoError {
    let text = aws_sdk_kms::error::DisplayErrorContext(&e).to_string();
    if text.contains("InvalidCiphertextException") || text.contains("IncorrectKeyException") {
        CryptoError::Integrity
    } else {
        CryptoError::Unavailable(text)
    }
}

#[async_trait]
impl KeyProvider for KmsKeyProvider {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, CryptoError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .set_encryption_context(Some(context.as_map().into_iter().collect()))
            .send()
            .await
            .map_err(kms_error)?;
        let plaintext = data_key_bytes(out.plaintext)?;
        let wrapped = out
            .ciphertext_blob
            .ok_or(CryptoError::Malformed("KMS returned no ciphertext"))?
            .into_inner();
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()),
        })
    }

    async fn decrypt_data_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped))
            .set_encryption_context(Some(context.as_map().into_iter().collect()))
            .send()
            .await
            .map_err(kms_error)?;
        data_key_bytes(out.plaintext)
    }

    fn signing_keys(&self) -> Arc<dyn signing::SigningKeys> {
        Arc::new(signing::KmsSigningKeys::new(self.client.clone()))
    }
}

/// Moves a plaintext data key out of a KMS answer into zeroed-on-drop memory: the answer's own
/// buffer is zeroized too, and no unprotected copy is left on the stack.
fn data_key_bytes(
    blob: Option<aws_sdk_kms::primitives::Blob>,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let bytes = Zeroizing::new(
        blob.ok_or(CryptoError::Malformed("KMS returned no plaintext"))?
            .into_inner(),
    );
    if bytes.len() != 32 {
        return Err(CryptoError::Malformed("KMS data key length"));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> (tempfile::TempDir, Crypto) {
        let dir = tempfile::tempdir().unwrap();
        let keys = LocalKeyProvider::load_or_create(&dir.path().join("master.key")).unwrap();
        (dir, Crypto::new(Arc::new(keys)))
    }

    #[tokio::test]
    async fn a_sealed_secret_opens_with_its_own_context() {
        let (_dir, crypto) = local();
        let ctx = EncryptionContext::new("t1", "r1", "test");
        let env = crypto.seal(&ctx, b"hunter2").await.unwrap();
        assert_eq!(&*crypto.open(&ctx, &env).await.unwrap(), b"hunter2");
        assert!(!env.ciphertext.contains("hunter2"));
    }

    #[tokio::test]
    async fn a_resealed_value_opens_with_the_same_context_only() {
        let (_dir, crypto) = local();
        let context = EncryptionContext::new("t1", "r1", "test");
        let envelope = crypto.seal(&context, b"old").await.expect("seal");
        let (old, resealer) = crypto
            .open_for_reseal(&context, &envelope)
            .await
            .expect("open");
        assert_eq!(old.as_slice(), b"old");
        let next = resealer.seal(b"new").expect("reseal");
        assert_ne!(next.nonce, envelope.nonce);
        assert_eq!(next.wrapped_key, envelope.wrapped_key);
        let opened = crypto.open(&context, &next).await.expect("open");
        assert_eq!(opened.as_slice(), b"new");
        let other = EncryptionContext::new("t1", "r2", "test");
        assert!(crypto.open(&other, &next).await.is_err());
    }

    #[tokio::test]
    async fn a_tampered_ciphertext_fails_to_open() {
        let (_dir, crypto) = local();
        let ctx = EncryptionContext::new("t1", "r1", "test");
        let mut env = crypto.seal(&ctx, b"hunter2").await.unwrap();
        let mut ct = STANDARD.decode(&env.ciphertext).unwrap();
        ct[0] ^= 1;
        env.ciphertext = STANDARD.encode(ct);
        assert!(matches!(
            crypto.open(&ctx, &env).await,
            Err(CryptoError::Integrity)
        ));
    }

    #[tokio::test]
    async fn a_ciphertext_moved_to_another_record_or_tenant_fails_to_open() {
        let (_dir, crypto) = local();
        let ctx = EncryptionContext::new("t1", "r1", "test");
        let env = crypto.seal(&ctx, b"hunter2").await.unwrap();
        for other in [
            EncryptionContext::new("t1", "r2", "test"),
            EncryptionContext::new("t2", "r1", "test"),
            EncryptionContext::new("t1", "r1", "other"),
        ] {
            assert!(matches!(
                crypto.open(&other, &env).await,
                Err(CryptoError::Integrity)
            ));
        }
    }

    #[tokio::test]
    async fn the_local_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let a = LocalKeyProvider::load_or_create(&path).unwrap();
        let b = LocalKeyProvider::load_or_create(&path).unwrap();
        assert_eq!(a.key_id, b.key_id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let ctx = EncryptionContext::new("t", "r", "p");
        let env = Crypto::new(Arc::new(a)).seal(&ctx, b"x").await.unwrap();
        assert_eq!(
            &*Crypto::new(Arc::new(b)).open(&ctx, &env).await.unwrap(),
            b"x"
        );
    }

    #[tokio::test]
    async fn a_reused_data_key_is_bounded_in_uses_and_age() {
        let (_dir, crypto) = local();
        let context = EncryptionContext::new("t", "r", "p");
        let first = crypto.seal(&context, b"one").await.unwrap();
        assert_eq!(first.key_uses, Some(1));
        let (_, resealer) = crypto.open_for_reseal(&context, &first).await.unwrap();
        assert!(resealer.reusable());
        let second = resealer.seal(b"two").unwrap();
        assert_eq!(second.key_uses, Some(2));
        assert_eq!(
            second.wrapped_key, first.wrapped_key,
            "the data key was reused"
        );

        for (uses, created) in [
            (Some(MAX_DATA_KEY_USES), first.key_created_at),
            (
                Some(1),
                first.key_created_at.map(|at| at - MAX_DATA_KEY_AGE_SECONDS),
            ),
            (None, None),
        ] {
            let mut worn = second.clone();
            worn.key_uses = uses;
            worn.key_created_at = created;
            let (plaintext, resealer) = crypto.open_for_reseal(&context, &worn).await.unwrap();
            assert_eq!(plaintext.as_slice(), b"two", "it still opens");
            assert!(!resealer.reusable(), "{uses:?} {created:?}");
            assert!(resealer.seal(b"three").is_err());
        }
    }
}
