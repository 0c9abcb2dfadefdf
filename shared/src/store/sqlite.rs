//! The embedded store: one SQLite file in WAL mode (so `studio-local session create` can write while
//! `serve` runs), one table mirroring the DynamoDB item shape. Transactions are `BEGIN IMMEDIATE`
//! transactions that check every condition before writing anything.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    Body, Condition, IndexEntry, IndexKey, Item, Query, QueryPage, Store, StoreError, TxOp,
    validate_transaction,
};
use crate::clock::Clock;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    ref_count INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
";

/// Address space mapped for reading the database file (only what the file uses is touched).
const MMAP_BYTES: i64 = 256 * 1024 * 1024;
/// Creates an item in one statement: inserted, or replacing an expired item with the same key;
/// a live one is left as it is and the statement changes no row.
const CREATE: &str = "INSERT INTO items (pk, sk, version, ref_count, data, gsi1pk, gsi1sk, expires_at) \
     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (pk, sk) DO UPDATE SET version = 1, ref_count = excluded.ref_count, \
     data = excluded.data, gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, \
     expires_at = excluded.expires_at \
     WHERE items.expires_at IS NOT NULL AND items.expires_at <= ?8";
const COLUMNS: &str = "pk, sk, version, ref_count, data, gsi1pk, gsi1sk, expires_at";
const LIVE: &str = "(expires_at IS NULL OR expires_at > ?)";

/// [`Store`] on an embedded SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(unavailable)?;
        }
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        // Pages are read through a memory map instead of one `pread` each: the page cache does
        // not survive the WAL's changes, so without it a point read re-reads its B-tree path.
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, i64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        let now = self.clock.epoch_seconds();
        let run = move || {
            let mut guard = conn
                .lock()
                .map_err(|_| unavailable("connection lock poisoned"))?;
            f(&mut guard, now)
        };
        // Statements take tens of microseconds: on a multi-threaded runtime they run in place
        // (the runtime moves other tasks off this worker) instead of paying a hop to the blocking
        // pool; a current-thread runtime cannot do that, so there they go to the pool.
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(run)
        } else {
            tokio::task::spawn_blocking(run)
                .await
                .map_err(unavailable)?
        }
    }
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let gsi1pk: Option<String> = row.get(5)?;
    let gsi1sk: Option<String> = row.get(6)?;
    let version: i64 = row.get(2)?;
    let ref_count: i64 = row.get(3)?;
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        version: u64::try_from(version).unwrap_or_default(),
        ref_count: u64::try_from(ref_count).unwrap_or_default(),
        data: Body::stored(row.get(4)?),
        index: gsi1pk.zip(gsi1sk).map(|(pk, sk)| IndexKey { pk, sk }),
        expires_at: row.get(7)?,
    })
}

/// Current (version, ref_count) of a live item.
fn current(
    tx: &rusqlite::Transaction<'_>,
    pk: &str,
    sk: &str,
    now: i64,
) -> Result<Option<(u64, u64)>, StoreError> {
    tx.prepare_cached(&format!(
        "SELECT version, ref_count FROM items WHERE pk = ? AND sk = ? AND {LIVE}"
    ))
    .and_then(|mut statement| {
        statement
            .query_row(params![pk, sk, now], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
    })
    .map(|found| {
        found.map(|(v, r)| {
            (
                u64::try_from(v).unwrap_or_default(),
                u64::try_from(r).unwrap_or_default(),
            )
        })
    })
    .map_err(unavailable)
}

/// Whether `condition` holds for an item whose live state is `state`.
pub(super) fn holds(condition: Condition, state: Option<(u64, u64)>) -> bool {
    match (condition, state) {
        (Condition::None, _) => true,
        (Condition::NotExists, state) => state.is_none(),
        (Condition::Exists, state) => state.is_some(),
        (Condition::Version(v), Some((version, _))) => version == v,
        (Condition::VersionUnreferenced(v), Some((version, refs))) => version == v && refs == 0,
        (Condition::Version(_) | Condition::VersionUnreferenced(_), None) => false,
    }
}

fn apply(
    tx: &rusqlite::Transaction<'_>,
    index: usize,
    op: &TxOp,
    now: i64,
) -> Result<(), StoreError> {
    let failed = || StoreError::ConditionFailed { index };
    let to_i64 =
        |n: u64| i64::try_from(n).map_err(|_| StoreError::Corrupt("version out of range".into()));
    match op {
        TxOp::Create(item) => {
            let (gpk, gsk) = index_columns(item.index.as_ref());
            let created = execute_cached(
                tx,
                CREATE,
                params![
                    item.pk,
                    item.sk,
                    to_i64(item.ref_count)?,
                    item.data.as_str(),
                    gpk,
                    gsk,
                    item.expires_at,
                    now
                ],
            )
            .map_err(unavailable)?;
            if created == 0 {
                return Err(failed());
            }
        }
        TxOp::Update {
            item,
            expected_version,
        } => {
            if !holds(
                Condition::Version(*expected_version),
                current(tx, &item.pk, &item.sk, now)?,
            ) {
                return Err(failed());
            }
            let (gpk, gsk) = index_columns(item.index.as_ref());
            execute_cached(tx,
                "UPDATE items SET version = ?, data = ?, gsi1pk = ?, gsi1sk = ?, expires_at = ? WHERE pk = ? AND sk = ?",
                params![to_i64(expected_version + 1)?, item.data.as_str(), gpk, gsk, item.expires_at, item.pk, item.sk],
            )
            .map_err(unavailable)?;
        }
        TxOp::Delete { pk, sk, condition } => {
            if !holds(*condition, current(tx, pk, sk, now)?) {
                return Err(failed());
            }
            execute_cached(
                tx,
                "DELETE FROM items WHERE pk = ? AND sk = ?",
                params![pk, sk],
            )
            .map_err(unavailable)?;
        }
        TxOp::Check { pk, sk, condition } => {
            if !holds(*condition, current(tx, pk, sk, now)?) {
                return Err(failed());
            }
        }
        TxOp::Count {
            pk,
            sk,
            limit,
            expires_at,
        } => {
            let counted = execute_cached(
                tx,
                "INSERT INTO items (pk, sk, version, ref_count, data, expires_at) VALUES (?1, ?2, 1, 1, '', ?3) \
                 ON CONFLICT (pk, sk) DO UPDATE SET ref_count = ref_count + 1 WHERE ref_count < ?4",
                params![pk, sk, expires_at, to_i64(*limit)?],
            )
            .map_err(unavailable)?;
            if counted == 0 || *limit == 0 {
                return Err(failed());
            }
        }
        TxOp::MoveIndex { pk, sk, from, to } => {
            if current(tx, pk, sk, now)?.is_none() {
                return Err(failed());
            }
            let moved = execute_cached(
                tx,
                "UPDATE items SET gsi1pk = ?, gsi1sk = ? \
                 WHERE pk = ? AND sk = ? AND gsi1pk = ? AND gsi1sk = ?",
                params![to.pk, to.sk, pk, sk, from.pk, from.sk],
            )
            .map_err(unavailable)?;
            if moved == 0 {
                return Err(failed());
            }
        }
        TxOp::AdjustRefs { pk, sk, delta } => {
            let Some((_, refs)) = current(tx, pk, sk, now)? else {
                return Err(failed());
            };
            let refs = i64::try_from(refs).map_err(|_| StoreError::Corrupt("ref_count".into()))?;
            if refs + delta < 0 {
                return Err(failed());
            }
            execute_cached(
                tx,
                "UPDATE items SET ref_count = ref_count + ? WHERE pk = ? AND sk = ?",
                params![delta, pk, sk],
            )
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// Runs one statement through the connection's prepared-statement cache.
fn execute_cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, rusqlite::Error> {
    conn.prepare_cached(sql)?.execute(params)
}

fn index_columns(index: Option<&IndexKey>) -> (Option<&str>, Option<&str>) {
    index.map_or((None, None), |k| (Some(k.pk.as_str()), Some(k.sk.as_str())))
}

/// The first key after every key that starts with `prefix` (its last character incremented),
/// if there is one.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(u32::from(last) + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.with_conn(move |conn, now| {
            let row = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM items WHERE pk = ? AND sk = ? AND {LIVE}"
                ))
                .and_then(|mut statement| {
                    statement
                        .query_row(params![pk, sk, now], row_to_item)
                        .optional()
                })
                .map_err(unavailable)?;
            Ok(row)
        })
        .await
    }

    async fn query(&self, query: Query<'_>) -> Result<QueryPage, StoreError> {
        let (pk, prefix, after) = (
            query.pk.to_owned(),
            query.prefix.to_owned(),
            query.after.map(str::to_owned),
        );
        let limit = query.limit.max(1);
        // The key range the prefix spans ends before its successor: the scan stops there
        // instead of filtering the rest of the partition (other kinds of items that sort later).
        let end = prefix_end(&prefix).unwrap_or_else(|| char::MAX.to_string());
        self.with_conn(move |conn, now| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM items WHERE pk = ? AND substr(sk, 1, length(?)) = ? AND sk > ? \
                     AND sk < ? AND {LIVE} ORDER BY sk LIMIT ?"
                ))
                .map_err(unavailable)?;
            let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
            let mut items = stmt
                .query_map(
                    params![pk, prefix, prefix, after.unwrap_or_default(), end, now, fetch],
                    row_to_item,
                )
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let more = items.len() > limit;
            items.truncate(limit);
            let last_sk = if more { items.last().map(|i| i.sk.clone()) } else { None };
            Ok(QueryPage { items, last_sk })
        })
        .await
    }

    async fn query_index(
        &self,
        upto: &IndexKey,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let (gpk, upto) = (upto.pk.clone(), upto.sk.clone());
        self.with_conn(move |conn, now| {
            // Keys only, as the DynamoDB index projects them.
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT pk, sk, gsi1pk, gsi1sk FROM items WHERE gsi1pk = ? AND gsi1sk <= ? AND {LIVE} ORDER BY gsi1sk LIMIT ?"
                ))
                .map_err(unavailable)?;
            let entry = |row: &rusqlite::Row<'_>| {
                Ok(IndexEntry {
                    pk: row.get(0)?,
                    sk: row.get(1)?,
                    index: IndexKey {
                        pk: row.get(2)?,
                        sk: row.get(3)?,
                    },
                })
            };
            stmt.query_map(params![gpk, upto, now, i64::try_from(limit).unwrap_or(i64::MAX)], entry)
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)
        })
        .await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        self.with_conn(move |conn, now| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            for (index, op) in ops.iter().enumerate() {
                apply(&tx, index, op, now)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prefix_range_ends_at_its_successor() {
        assert_eq!(super::prefix_end("AUTH#").as_deref(), Some("AUTH$"));
        assert_eq!(super::prefix_end("TOKEN#a#").as_deref(), Some("TOKEN#a$"));
        assert_eq!(super::prefix_end(""), None);
    }
}
