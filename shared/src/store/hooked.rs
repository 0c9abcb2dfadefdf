//! A store around another that runs a hook before and after every write, and passes reads
//! through untouched: what the recent records use to forget what this process writes, and what
//! tests use to make chosen writes fail.

use std::sync::Arc;

use async_trait::async_trait;

use super::{IndexEntry, IndexKey, Item, Query, QueryPage, Store, StoreError, TxOp};

/// What a [`Hooked`] store does around each write (a transaction or a single write), given the
/// keys (partition, sort) of the items it writes.
pub trait WriteHook: Send + Sync {
    /// Before the write: an error refuses it, and nothing is written.
    fn before(&self, keys: &[(&str, &str)]) -> Result<(), StoreError>;

    /// After the write, whatever came of it.
    fn after(&self, keys: &[(&str, &str)]);
}

/// `inner`, with `hook` around its writes.
pub struct Hooked<H> {
    inner: Arc<dyn Store>,
    hook: H,
}

impl<H: WriteHook> Hooked<H> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, hook: H) -> Self {
        Self { inner, hook }
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

#[async_trait]
impl<H: WriteHook> Store for Hooked<H> {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }

    async fn query(&self, query: Query<'_>) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }

    async fn query_index(
        &self,
        upto: &IndexKey,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        self.inner.query_index(upto, limit).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        let owned: Vec<(String, String)> = ops.iter().map(owned_key).collect();
        let keys: Vec<(&str, &str)> = owned
            .iter()
            .map(|(p, s)| (p.as_str(), s.as_str()))
            .collect();
        self.hook.before(&keys)?;
        let result = self.inner.transact(ops).await;
        self.hook.after(&keys);
        result
    }

    async fn write(&self, op: TxOp) -> Result<(), StoreError> {
        let (pk, sk) = owned_key(&op);
        let keys = [(pk.as_str(), sk.as_str())];
        self.hook.before(&keys)?;
        let result = self.inner.write(op).await;
        self.hook.after(&keys);
        result
    }
}

fn owned_key(op: &TxOp) -> (String, String) {
    let (pk, sk) = op.key();
    (pk.to_owned(), sk.to_owned())
}
