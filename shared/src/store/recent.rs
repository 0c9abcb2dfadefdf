//! Recent records: a short-lived cache, per warm instance, of records a hot read path (a tool
//! call reads the agent, its servers and an auth config) may use a few seconds old, and the store
//! wrapper that forgets a record the moment this process writes it.
//!
//! - Only callers that ask for it read through the cache ([`crate::model::recent_records::load_recent`]);
//!   every other read, and every read before a conditional write, goes to the store.
//! - An entry is found by its partition and sort key (`T#<tenant>`, `<kind>#<id>`): a record is
//!   never served to another tenant or as another kind (a value of the wrong type is a miss).
//! - Memory is bounded by the bytes kept, not the count: at most [`CAPACITY_BYTES`] of record
//!   bodies, none over [`MAX_RECORD_BYTES`] (a server whose tools are kept apart, up to 8 MiB, is
//!   read each time, as before), so a tenant with many large records cannot make an instance
//!   that serves every tenant run out of memory.
//! - It is kept at most `max_age`. A write by this process through [`Forgetting`] drops it at
//!   once, and a read that started before any such write is not kept (it may hold what the write
//!   replaced). A write by another instance is seen at most `max_age` late: the trade for reading
//!   a busy tenant's partition a few times per interval instead of on every call.

use std::{
    any::Any,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    StoreError,
    hooked::{Hooked, WriteHook},
};

/// Most bytes of record bodies kept at once.
pub const CAPACITY_BYTES: u64 = 16 * 1024 * 1024;
/// The largest record body kept.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
/// How many records the cache is sized for (a typical record is a few KiB).
const ESTIMATED_RECORDS: usize = 4096;

/// One kept record.
#[derive(Clone)]
struct Entry {
    at: Instant,
    version: u64,
    /// Its body's size: what it weighs.
    bytes: u64,
    value: Arc<dyn Any + Send + Sync>,
}

/// Weighs an entry by its body's size.
#[derive(Clone)]
struct BodyBytes;

impl quick_cache::Weighter<(String, String), Entry> for BodyBytes {
    fn weight(&self, _: &(String, String), entry: &Entry) -> u64 {
        entry.bytes.max(1)
    }
}

/// The cache.
pub struct RecentRecords {
    entries: quick_cache::sync::Cache<(String, String), Entry, BodyBytes>,
    max_age: Duration,
    /// Moves on every forgotten record: a read that began before a move is not kept.
    generation: AtomicU64,
}

impl std::fmt::Debug for RecentRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentRecords")
            .field("max_age", &self.max_age)
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl RecentRecords {
    /// A cache keeping at most [`CAPACITY_BYTES`] of records for at most `max_age` each.
    pub fn new(max_age: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::with_weighter(
                ESTIMATED_RECORDS,
                CAPACITY_BYTES,
                BodyBytes,
            ),
            max_age,
            generation: AtomicU64::new(0),
        }
    }

    /// Where writes stand now: pass it to [`RecentRecords::keep`] for a read started after it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The record kept under `(pk, sk)` and its version, if it is a `T` and not too old.
    pub fn get<T: Clone + 'static>(&self, pk: &str, sk: &str) -> Option<(T, u64)> {
        let key = (pk.to_owned(), sk.to_owned());
        let entry = self.entries.get(&key)?;
        if entry.at.elapsed() >= self.max_age {
            self.entries.remove(&key);
            return None;
        }
        let value = entry.value.downcast_ref::<T>()?.clone();
        Some((value, entry.version))
    }

    /// Keeps `value` (version `version`, its body `bytes` long) under `(pk, sk)`, read by a read
    /// that started at `generation`: not kept when a record was forgotten since, or when it is
    /// over [`MAX_RECORD_BYTES`].
    pub fn keep<T: Send + Sync + 'static>(
        &self,
        (pk, sk): (&str, &str),
        value: T,
        (version, bytes): (u64, usize),
        generation: u64,
    ) {
        if self.max_age.is_zero() || bytes > MAX_RECORD_BYTES || self.generation() != generation {
            return;
        }
        let entry = Entry {
            at: Instant::now(),
            version,
            bytes: u64::try_from(bytes).unwrap_or(u64::MAX),
            value: Arc::new(value),
        };
        self.entries.insert((pk.to_owned(), sk.to_owned()), entry);
        // A write that landed while this one was inserted must not leave it behind.
        if self.generation() != generation {
            self.entries.remove(&(pk.to_owned(), sk.to_owned()));
        }
    }

    /// Forgets the record under `(pk, sk)` (it is being written).
    pub fn forget(&self, pk: &str, sk: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(&(pk.to_owned(), sk.to_owned()));
    }
}

/// A store that forgets, in its recent records, every record it writes (before and after the
/// write, so no read running meanwhile keeps what the write replaced).
pub type Forgetting = Hooked<Arc<RecentRecords>>;

impl WriteHook for Arc<RecentRecords> {
    fn before(&self, keys: &[(&str, &str)]) -> Result<(), StoreError> {
        for (pk, sk) in keys {
            self.forget(pk, sk);
        }
        Ok(())
    }

    fn after(&self, keys: &[(&str, &str)]) {
        for (pk, sk) in keys {
            self.forget(pk, sk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_kept_for_its_age_and_only_as_its_own_type() {
        let recent = RecentRecords::new(Duration::from_secs(60));
        let generation = recent.generation();
        recent.keep(
            ("T#acme", "AGENT#a"),
            String::from("agent a"),
            (3, 100),
            generation,
        );
        assert_eq!(
            recent.get::<String>("T#acme", "AGENT#a"),
            Some(("agent a".to_owned(), 3))
        );
        assert_eq!(
            recent.get::<String>("T#globex", "AGENT#a"),
            None,
            "another tenant"
        );
        assert_eq!(recent.get::<u64>("T#acme", "AGENT#a"), None, "another type");
        let expired = RecentRecords::new(Duration::ZERO);
        expired.keep(("T#acme", "AGENT#a"), 1_u8, (1, 100), expired.generation());
        assert_eq!(expired.get::<u8>("T#acme", "AGENT#a"), None);
    }

    #[test]
    fn a_read_that_began_before_a_write_is_not_kept() {
        let recent = RecentRecords::new(Duration::from_secs(60));
        let before = recent.generation();
        recent.forget("T#acme", "MCP#s");
        recent.keep(("T#acme", "MCP#s"), 1_u8, (1, 100), before);
        assert_eq!(recent.get::<u8>("T#acme", "MCP#s"), None);
        recent.keep(("T#acme", "MCP#s"), 2_u8, (2, 100), recent.generation());
        assert_eq!(recent.get::<u8>("T#acme", "MCP#s"), Some((2, 2)));
        recent.forget("T#acme", "MCP#s");
        assert_eq!(
            recent.get::<u8>("T#acme", "MCP#s"),
            None,
            "forgotten on write"
        );
    }

    #[test]
    fn memory_is_bounded_by_the_bytes_kept() {
        let recent = RecentRecords::new(Duration::from_secs(60));
        let big = MAX_RECORD_BYTES + 1;
        recent.keep(("T#acme", "MCP#big"), 1_u8, (1, big), recent.generation());
        assert_eq!(
            recent.get::<u8>("T#acme", "MCP#big"),
            None,
            "over the largest kept"
        );
        // A tenant filling the cache with the largest records keeps at most the capacity.
        for i in 0..200 {
            let sk = format!("MCP#{i}");
            let largest = (1, MAX_RECORD_BYTES);
            recent.keep(("T#hog", &sk), 0_u8, largest, recent.generation());
        }
        assert!(
            recent.entries.weight() <= CAPACITY_BYTES,
            "{}",
            recent.entries.weight()
        );
        assert!(recent.entries.len() <= 64, "{}", recent.entries.len());
    }
}
