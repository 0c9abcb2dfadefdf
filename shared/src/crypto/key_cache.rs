//! A bounded cache of opened data keys, so a warm function opens the same envelope (a config's
//! secrets, a user's tokens on every tool call) without a key-provider call each time.
//!
//! - An entry is found only by everything that opened it: the master key id, the wrapped data
//!   key and the whole encryption context (tenant, record, purpose), hashed together; a key is
//!   never handed out for another record, tenant or purpose than the one KMS unwrapped it for.
//! - It is kept at most [`MAX_AGE`] and there are at most [`CAPACITY`] entries (the oldest go
//!   first); a key leaves zeroized (`Zeroizing`), whether it expired, was evicted or the cache
//!   is dropped.
//! - What this trades: a KMS key disabled, or a grant revoked, stops a warm function from opening
//!   envelopes it has not opened in the last [`MAX_AGE`], not at once.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::EncryptionContext;

/// Longest an opened data key is kept.
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// Most data keys kept at once.
pub const CAPACITY: usize = 1024;

/// What a cached key is found by: a digest of everything that opened it.
pub(super) type KeyId = [u8; 32];

/// The cache.
pub(super) struct KeyCache {
    entries: Mutex<HashMap<KeyId, Entry>>,
    max_age: Duration,
    capacity: usize,
}

struct Entry {
    key: Zeroizing<[u8; 32]>,
    at: Instant,
}

impl KeyCache {
    /// A cache keeping at most `capacity` keys for at most `max_age` each.
    pub(super) fn new(max_age: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_age,
            capacity,
        }
    }

    /// The id of the data key `wrapped` under master key `key_id`, opened for `context`.
    pub(super) fn id(key_id: &str, wrapped: &[u8], context: &EncryptionContext) -> KeyId {
        let mut hash = Sha256::new();
        for part in [key_id.as_bytes(), wrapped, &context.aad()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key `id` names, if it was kept and is not too old.
    pub(super) fn get(&self, id: &KeyId) -> Option<Zeroizing<[u8; 32]>> {
        let mut entries = self.entries();
        match entries.get(id) {
            Some(entry) if entry.at.elapsed() < self.max_age => Some(entry.key.clone()),
            Some(_) => {
                entries.remove(id);
                None
            }
            None => None,
        }
    }

    /// Keeps `key` under `id`: expired keys go first, then the oldest while the cache is full.
    pub(super) fn put(&self, id: KeyId, key: &Zeroizing<[u8; 32]>) {
        if self.capacity == 0 || self.max_age.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.at.elapsed() < self.max_age);
        }
        while entries.len() >= self.capacity {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.at)
                .map(|(id, _)| *id);
            match oldest {
                Some(oldest) => entries.remove(&oldest),
                None => break,
            };
        }
        entries.insert(
            id,
            Entry {
                key: key.clone(),
                at: Instant::now(),
            },
        );
    }

    /// How many keys are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(record: &str, purpose: &'static str) -> EncryptionContext {
        EncryptionContext::new("t", record, purpose)
    }

    #[test]
    fn a_key_is_found_only_by_everything_that_opened_it() {
        let cache = KeyCache::new(MAX_AGE, 4);
        let id = KeyCache::id("k", b"wrapped", &context("r", "p"));
        cache.put(id, &Zeroizing::new([7; 32]));
        assert_eq!(cache.get(&id).as_deref(), Some(&[7; 32]));
        for other in [
            KeyCache::id("k2", b"wrapped", &context("r", "p")),
            KeyCache::id("k", b"wrapped2", &context("r", "p")),
            KeyCache::id("k", b"wrapped", &context("r2", "p")),
            KeyCache::id("k", b"wrapped", &context("r", "q")),
        ] {
            assert!(cache.get(&other).is_none());
        }
    }

    #[test]
    fn the_cache_is_bounded_in_count_and_age() {
        let cache = KeyCache::new(MAX_AGE, 2);
        let ids: Vec<KeyId> = (0..3)
            .map(|i| KeyCache::id("k", &[i], &context("r", "p")))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            cache.put(*id, &Zeroizing::new([u8::try_from(i).unwrap(); 32]));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&ids[0]).is_none(), "the oldest went first");
        assert!(cache.get(&ids[2]).is_some());

        let expired = KeyCache::new(Duration::from_millis(1), 8);
        expired.put(ids[0], &Zeroizing::new([1; 32]));
        std::thread::sleep(Duration::from_millis(5));
        assert!(expired.get(&ids[0]).is_none());
        assert_eq!(expired.len(), 0, "an expired key is dropped when found");
        let off = KeyCache::new(Duration::ZERO, 8);
        off.put(ids[0], &Zeroizing::new([1; 32]));
        assert!(off.get(&ids[0]).is_none());
    }
}
