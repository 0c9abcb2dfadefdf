//! The record store (DESIGN §3): a small item-level contract — keyed items with a version, a
//! reference count, a JSON body, an optional refresh-index key and an optional expiry — implemented
//! twice with identical semantics: [`DynamoStore`] (the single DynamoDB table) and `SqliteStore`
//! (one embedded file; feature `sqlite`, which the Lambda functions are built without). Writes go through [`Store::transact`], whose operations carry conditions, so
//! a failed operation leaves the store exactly as it was.

mod dynamo;
pub mod hooked;
pub mod recent;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use dynamo::DynamoStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Most operations one transaction may hold (the DynamoDB limit).
pub const MAX_TRANSACTION_OPS: usize = 100;

/// A secondary-index key (`GSI1PK`, `GSI1SK`): where an item is in the index of due work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    /// Partition, e.g. `REFRESH#7`.
    pub pk: String,
    /// Sort key, e.g. `<refresh_at>#<tenant>#<id>`.
    pub sk: String,
}

/// An entry of the index of due work: the item it stands for, and where it is. The index holds
/// keys only (and the expiry, so expired items are left out); a reader that needs the item's body
/// reads the item ([`Store::get`]), which is also the strongly consistent view of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Partition key of the item.
    pub pk: String,
    /// Sort key of the item.
    pub sk: String,
    /// Where the item is in the index.
    pub index: IndexKey,
}

/// A record body: the record's JSON text. Records are serialized straight into it and parsed
/// straight out of it, with no tree of values in between, and both stores keep the text as it is
/// (DynamoDB as the string attribute `data`, SQLite in the `data` column).
#[derive(Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    /// The JSON text of `record`.
    pub fn of<T: serde::Serialize + ?Sized>(record: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(record).map(Self)
    }

    /// Text read back from a store, as it was written.
    pub(crate) fn stored(text: String) -> Self {
        Self(text)
    }

    /// The record, parsed from the text.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty (never, for a body made by [`Body::of`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<serde_json::Value> for Body {
    fn from(value: serde_json::Value) -> Self {
        Self(value.to_string())
    }
}

/// Only the size: a body may hold sealed secrets, which have no business in a log line.
impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.0.len())
    }
}

/// One stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Partition key, e.g. `T#<tenant>`.
    pub pk: String,
    /// Sort key, e.g. `AUTH#<id>`.
    pub sk: String,
    /// Optimistic-locking version; 1 on create, +1 on every update.
    pub version: u64,
    /// How many other records reference this one; changed only by [`TxOp::AdjustRefs`].
    pub ref_count: u64,
    /// The record body.
    pub data: Body,
    /// Refresh-index key, if the item is in the index.
    pub index: Option<IndexKey>,
    /// Expiry (Unix seconds); an expired item is invisible to reads and conditions.
    pub expires_at: Option<i64>,
}

impl Item {
    /// A new item (version 1, no references) with `data`.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: Body) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            version: 1,
            ref_count: 0,
            data,
            index: None,
            expires_at: None,
        }
    }

    /// The same item expiring at `expires_at` (Unix seconds).
    #[must_use]
    pub fn expiring_at(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The same item placed in the secondary index under `index`.
    #[must_use]
    pub fn indexed(mut self, index: IndexKey) -> Self {
        self.index = Some(index);
        self
    }
}

/// A condition on the current state of an item, evaluated atomically with the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No condition.
    None,
    /// The item is absent (or expired).
    NotExists,
    /// The item is present (and not expired).
    Exists,
    /// The item is present with this version.
    Version(u64),
    /// The item is present with this version and nothing references it.
    VersionUnreferenced(u64),
}

/// One write in a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    /// Creates `item` (version 1, with its `ref_count`) if no live item has its key (an expired
    /// one is replaced).
    Create(Item),
    /// Replaces body, index key and expiry of a present item whose version is `expected_version`;
    /// the version becomes `expected_version + 1`; the reference count is kept.
    Update {
        /// The new state (its `version` and `ref_count` are ignored).
        item: Item,
        /// The version the caller read.
        expected_version: u64,
    },
    /// Deletes an item if `condition` holds.
    Delete {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Condition on the item.
        condition: Condition,
    },
    /// Only checks `condition`; writes nothing.
    Check {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Condition on the item.
        condition: Condition,
    },
    /// Adds `delta` to a present item's reference count; a decrement may not go below zero.
    AdjustRefs {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Change in references.
        delta: i64,
    },
    /// Moves a present item's index entry from `from` to `to`, if it is still at `from`; nothing
    /// else changes (not the version: a writer that read the item still writes it). What a
    /// planner does to an entry it has sent out as a job, so the next planner does not send it
    /// again while the job waits or runs; the job's own write puts the entry where the record
    /// says.
    MoveIndex {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Where the entry must be now.
        from: IndexKey,
        /// Where it goes.
        to: IndexKey,
    },
    /// Counts one more use of a counter item (its `ref_count`), creating it at 1 (with an empty
    /// body, expiring at `expires_at`) if absent; fails its condition once the count has reached
    /// `limit`. One conditional write: what a rate limit spends per request. Give each window
    /// its own key: an existing counter is never reset.
    Count {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Counts allowed.
        limit: u64,
        /// When the counter may be deleted (Unix seconds; the DynamoDB TTL attribute).
        expires_at: i64,
    },
}

impl TxOp {
    /// Deletes `item` if it is still as read (a concurrent change keeps it).
    pub fn delete_as_read(item: &Item) -> Self {
        Self::Delete {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            condition: Condition::Version(item.version),
        }
    }

    /// The partition and sort key of the item the operation is about.
    pub fn key(&self) -> (&str, &str) {
        match self {
            Self::Create(item) | Self::Update { item, .. } => (&item.pk, &item.sk),
            Self::Delete { pk, sk, .. }
            | Self::Check { pk, sk, .. }
            | Self::AdjustRefs { pk, sk, .. }
            | Self::MoveIndex { pk, sk, .. }
            | Self::Count { pk, sk, .. } => (pk, sk),
        }
    }
}

/// The items `entries` stand for, read 16 at a time, in the entries' order: for a reader of the
/// index that needs the items' bodies. Those gone since the index was read are left out.
pub async fn read_entries(
    store: &dyn Store,
    entries: Vec<IndexEntry>,
) -> Result<Vec<Item>, StoreError> {
    use futures_util::StreamExt;
    let reads = entries
        .into_iter()
        .map(|entry| async move { store.get(&entry.pk, &entry.sk).await });
    let found: Vec<Result<Option<Item>, StoreError>> = futures_util::stream::iter(reads)
        .buffered(16)
        .collect()
        .await;
    found.into_iter().filter_map(Result::transpose).collect()
}

/// What a [`Store::query`] reads: live items of partition `pk` whose sort key starts with
/// `prefix`, in ascending order, after `after` (exclusive), at most `limit` (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// Partition key.
    pub pk: &'a str,
    /// Sort-key prefix.
    pub prefix: &'a str,
    /// Sort key to continue after.
    pub after: Option<&'a str>,
    /// Most items returned.
    pub limit: usize,
}

impl<'a> Query<'a> {
    /// The first page (of at most [`Query::DEFAULT_LIMIT`] items) of `prefix` in `pk`.
    pub const fn prefix(pk: &'a str, prefix: &'a str) -> Self {
        Self {
            pk,
            prefix,
            after: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// Page size when none is set.
    pub const DEFAULT_LIMIT: usize = 100;

    /// The same query continuing after `after`.
    pub const fn after(self, after: Option<&'a str>) -> Self {
        Self { after, ..self }
    }

    /// The same query returning at most `limit` items.
    pub const fn limit(self, limit: usize) -> Self {
        Self { limit, ..self }
    }
}

/// A page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    /// Items in ascending sort-key order.
    pub items: Vec<Item>,
    /// Sort key of the last item returned, present only if more items follow.
    pub last_sk: Option<String>,
}

/// A conditional write's outcome: `true` when written, `false` when its condition did not hold
/// (another write came first), other errors as they are.
pub fn written(result: Result<(), StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of operation `index` (0 for single writes) did not hold; nothing was written.
    #[error("condition of operation {index} failed")]
    ConditionFailed {
        /// Position of the failed operation in the transaction.
        index: usize,
    },
    /// The transaction is malformed (too many operations, one key twice).
    #[error("invalid transaction: {0}")]
    InvalidTransaction(&'static str),
    /// The backend is unreachable, throttled or failed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be decoded.
    #[error("corrupt item: {0}")]
    Corrupt(String),
}

/// The record store contract. Both backends pass one contract test suite.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads one live item (strongly consistent).
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Lists the live items `query` names.
    async fn query(&self, query: Query<'_>) -> Result<QueryPage, StoreError>;

    /// Lists the entries of live items in index partition `upto.pk` whose index sort key is
    /// ≤ `upto.sk`, in ascending order, at most `limit`. The index may lag writes slightly (as a
    /// DynamoDB GSI does), and holds keys only.
    async fn query_index(
        &self,
        upto: &IndexKey,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError>;

    /// Applies all of `ops` atomically, or none of them if any condition fails.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError>;

    /// Applies one write; shorthand for a transaction of one.
    async fn write(&self, op: TxOp) -> Result<(), StoreError> {
        self.transact(vec![op]).await
    }
}

/// Rejects transactions DynamoDB would reject, so both backends fail the same way.
fn validate_transaction(ops: &[TxOp]) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Err(StoreError::InvalidTransaction("no operations"));
    }
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(StoreError::InvalidTransaction("more than 100 operations"));
    }
    let mut keys: Vec<_> = ops.iter().map(TxOp::key).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::InvalidTransaction("one item named twice"));
    }
    Ok(())
}

/// Opaque pagination token for a sort key.
pub fn encode_page_token(last_sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_sk.as_bytes())
}

/// Decodes a pagination token: any unpadded base64url text of at most 2048 characters (the
/// form [`encode_page_token`] produces) names a position in sort-key order, so a token that was
/// not issued still only moves within the list it is used on; `None` if it is not of that form.
pub fn decode_page_token(token: &str) -> Option<String> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    if token.len() > 2048 {
        return None;
    }
    let bytes = LENIENT.decode(token).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
