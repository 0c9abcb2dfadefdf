#![allow(clippy::unwrap_used)]
//! The cache of opened data keys, counted at the key provider: a key is opened once and then
//! kept, for its own envelope and encryption context only.

use shared::{
    crypto::{Crypto, EncryptionContext},
    testing::CountingKeys,
};

#[tokio::test]
async fn an_opened_data_key_is_kept_for_its_own_envelope_and_context_only() {
    let dir = tempfile::tempdir().unwrap();
    let keys = CountingKeys::in_dir(dir.path());
    let warm = Crypto::new(keys.clone());
    let ctx = EncryptionContext::new("t", "r", "auth_config.secrets");
    let env = warm.seal(&ctx, b"x").await.unwrap();
    for _ in 0..3 {
        assert_eq!(&*warm.open(&ctx, &env).await.unwrap(), b"x");
    }
    assert_eq!(
        (keys.generated(), keys.decrypted()),
        (1, 0),
        "made here, kept"
    );
    let cold = Crypto::new(keys.clone());
    for _ in 0..3 {
        cold.open(&ctx, &env).await.unwrap();
    }
    assert_eq!(keys.decrypted(), 1, "opened once, then kept");
    // The same envelope under another record's context is not served from the cache.
    let moved = EncryptionContext::new("t", "r2", "auth_config.secrets");
    assert!(cold.open(&moved, &env).await.is_err());
    assert_eq!(keys.decrypted(), 2);
    let uncached = Crypto::with_cache(keys.clone(), std::time::Duration::ZERO, 0);
    uncached.open(&ctx, &env).await.unwrap();
    uncached.open(&ctx, &env).await.unwrap();
    assert_eq!(keys.decrypted(), 4);
}
