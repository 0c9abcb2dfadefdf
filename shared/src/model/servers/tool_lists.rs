//! Tool lists too large for their server's record, kept beside it in parts.
//!
//! A DynamoDB item holds at most 400 KB, and a server may offer up to 8 MiB of tool metadata
//! (`mcp::MAX_TOOL_METADATA_BYTES`). A server record whose body would pass [`MAX_INLINE_BYTES`]
//! keeps its tools and the approved definitions of changed tools as parts
//! `TOOLS#<server id>#<key>#<nnn>` in the tenant's partition, each at most [`PART_BYTES`] of the
//! list's JSON text, and the record names them ([`ToolParts`]: key, digest, count).
//!
//! - Parts are written before the record that names them, under a key no other write uses, so a
//!   write that fails leaves no record pointing at missing parts (its own parts are removed).
//! - A write whose list is unchanged (same digest) writes no parts: it names the same ones.
//! - Once a record naming new parts is written, the parts it replaced are removed. A reader that
//!   read the record just before finds them incomplete and reads the record again.
//!
//! So a server of any size serves tool calls and catalogues from what it stored, and is never
//! tested again only because its tools did not fit (before, its tools were dropped from the
//! record and every catalogue read and tool call re-tested it, spending the tenant's test budget).

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::tenant_pk;
use crate::{
    AppState, Error,
    mcp::ToolInfo,
    store::{Body, Condition, Item, Query, StoreError, TxOp},
};

/// Largest record body kept whole; above it the tools go to parts.
pub const MAX_INLINE_BYTES: usize = 256 * 1024;
/// Most bytes of the list's JSON text in one part: its JSON string, escaped, stays well within an
/// item's 400 KB even if every character needs escaping.
pub const PART_BYTES: usize = 150_000;
/// Parts written or removed at once.
const CONCURRENCY: usize = 8;

/// Where a record's tools are kept when they are not in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolParts {
    /// The parts' key (unique to the write that made them).
    pub key: String,
    /// Digest of the list's JSON text: an unchanged list keeps its parts.
    pub digest: String,
    /// How many parts there are.
    pub parts: u32,
}

/// What a record keeps of its tools, as one JSON document.
#[derive(Serialize)]
struct ListRef<'a> {
    tools: &'a [ToolInfo],
    approved_definitions: &'a BTreeMap<String, ToolInfo>,
}

/// The same, read back.
#[derive(Deserialize)]
struct List {
    tools: Vec<ToolInfo>,
    approved_definitions: BTreeMap<String, ToolInfo>,
}

/// The parts a write made and the ones it replaces, settled once the write is known
/// ([`settle`]).
#[derive(Debug, Clone, Default)]
pub struct Spill {
    /// Parts this write made (removed again if the write fails).
    pub written: Option<ToolParts>,
    /// Parts the record named before (removed once the write succeeds).
    pub superseded: Option<ToolParts>,
}

fn part_prefix(server_id: &str, key: &str) -> String {
    format!("TOOLS#{server_id}#{key}#")
}

fn part_sk(server_id: &str, key: &str, n: u32) -> String {
    format!("{}{n:03}", part_prefix(server_id, key))
}

/// Splits `text` into pieces of at most [`PART_BYTES`], on character boundaries.
fn split(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(PART_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Keeps `tools` and `approved_definitions` of server `server_id` as parts, unless `current`
/// already holds the same list: the parts the record is to name, and the spill to settle.
pub async fn spill(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
    current: Option<&ToolParts>,
    tools: &[ToolInfo],
    approved_definitions: &BTreeMap<String, ToolInfo>,
) -> Result<(ToolParts, Spill), Error> {
    let text = serde_json::to_string(&ListRef {
        tools,
        approved_definitions,
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    let digest = hex::encode(&Sha256::digest(text.as_bytes())[..16]);
    if let Some(current) = current.filter(|c| c.digest == digest) {
        return Ok((current.clone(), Spill::default()));
    }
    let key = crate::model::new_id();
    let pieces = split(&text);
    let parts = ToolParts {
        key: key.clone(),
        digest,
        parts: u32::try_from(pieces.len()).map_err(|e| Error::Internal(e.to_string()))?,
    };
    let pk = tenant_pk(tenant_id);
    let items = pieces
        .into_iter()
        .enumerate()
        .map(|(n, piece)| {
            let data = Body::of(piece).map_err(|e| Error::Internal(e.to_string()))?;
            let n = u32::try_from(n).map_err(|e| Error::Internal(e.to_string()))?;
            Ok(Item::new(pk.clone(), part_sk(server_id, &key, n), data))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let spill = Spill {
        written: Some(parts.clone()),
        superseded: current.cloned(),
    };
    let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(items)
        .map(|item| state.store.write(TxOp::Create(item)))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        remove(state, tenant_id, server_id, &parts).await;
        return Err(e.into());
    }
    Ok((parts, spill))
}

/// The tools and approved definitions `parts` hold, or `None` when some are missing (replaced by
/// a write since the record naming them was read).
pub async fn read(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
    parts: &ToolParts,
) -> Result<Option<(Vec<ToolInfo>, BTreeMap<String, ToolInfo>)>, Error> {
    let pk = tenant_pk(tenant_id);
    let prefix = part_prefix(server_id, &parts.key);
    let want = usize::try_from(parts.parts).unwrap_or(usize::MAX);
    let mut text = String::new();
    let mut found = 0;
    let mut after: Option<String> = None;
    loop {
        let page = state
            .store
            .query(
                Query::prefix(&pk, &prefix)
                    .after(after.as_deref())
                    .limit(Query::DEFAULT_LIMIT),
            )
            .await?;
        for item in &page.items {
            let piece: String = item
                .data
                .read()
                .map_err(|e| Error::Internal(format!("a tool list part: {e}")))?;
            text.push_str(&piece);
            found += 1;
        }
        match page.last_sk {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    if found != want {
        return Ok(None);
    }
    let list: List = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("a stored tool list: {e}")))?;
    Ok(Some((list.tools, list.approved_definitions)))
}

/// Removes the parts `parts` names. Best effort: a part left behind is logged (it is never read).
pub async fn remove(state: &AppState, tenant_id: &str, server_id: &str, parts: &ToolParts) {
    let pk = tenant_pk(tenant_id);
    let failed = futures_util::stream::iter(0..parts.parts)
        .map(|n| {
            state.store.write(TxOp::Delete {
                pk: pk.clone(),
                sk: part_sk(server_id, &parts.key, n),
                condition: Condition::None,
            })
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    if failed > 0 {
        tracing::warn!(
            server_id,
            failed,
            "removing a replaced tool list left parts behind"
        );
    }
}

/// Settles `spill` once its write is known: the replaced parts go when it was `committed`, its
/// own parts when it was not.
pub async fn settle(
    state: &AppState,
    tenant_id: &str,
    server_id: &str,
    spill: Spill,
    committed: bool,
) {
    let gone = if committed {
        spill.superseded
    } else {
        spill.written
    };
    if let Some(parts) = gone {
        remove(state, tenant_id, server_id, &parts).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_bounded_and_split_on_character_boundaries() {
        let text = "é".repeat(PART_BYTES);
        let pieces = split(&text);
        assert_eq!(pieces.concat(), text);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= PART_BYTES && !p.is_empty())
        );
        assert_eq!(pieces.len(), 2);
        assert!(split("").is_empty());
        // Escaped as a JSON string, the worst piece still fits an item.
        let quotes = "\"".repeat(PART_BYTES);
        assert!(Body::of(split(&quotes)[0]).unwrap().len() < 350_000);
    }

    #[test]
    fn part_keys_sort_in_order() {
        assert!(part_sk("s", "k", 9) < part_sk("s", "k", 10));
        assert!(part_sk("s", "k", 99) < part_sk("s", "k", 100));
        assert!(part_sk("s", "k", 0).starts_with(&part_prefix("s", "k")));
    }
}
