//! Work with side effects done once per write, however often the write is retried: a write that
//! loses a race is built again on fresh data ([`super::resource::retry_lost_races`]), and what a
//! build sends elsewhere (discovery's requests to an MCP server and its authorization server,
//! their count against the rate limits) must not be sent again for each attempt. [`per_write`]
//! runs the retries of one write inside a scope, and [`remembered`] runs a piece of work the
//! first time its key is seen in that scope and hands back a copy of its result after.

use std::{
    any::Any,
    future::Future,
    sync::{Arc, Mutex},
};

use sha2::{Digest, Sha256};

use crate::Error;

type Results = Arc<Mutex<Vec<([u8; 32], Box<dyn Any + Send>)>>>;

tokio::task_local! {
    static RESULTS: Results;
}

/// Runs `write` (the attempts of one write) in a scope where [`remembered`] keeps its results.
pub async fn per_write<T>(write: impl Future<Output = T>) -> T {
    RESULTS.scope(Results::default(), write).await
}

/// The result of `work` for `key` (hashed: a key may hold secret input): computed the first
/// time in the current [`per_write`] scope, copied after; outside a scope, computed every time.
/// A failure is not kept (it ends the write anyway).
pub async fn remembered<T, F>(key: &[u8], work: F) -> Result<T, Error>
where
    T: Clone + Send + 'static,
    F: Future<Output = Result<T, Error>>,
{
    let digest: [u8; 32] = Sha256::digest(key).into();
    let Ok(results) = RESULTS.try_with(Arc::clone) else {
        return work.await;
    };
    let found = results
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|(k, _)| *k == digest)
        .and_then(|(_, v)| v.downcast_ref::<T>().cloned());
    if let Some(value) = found {
        return Ok(value);
    }
    let value = work.await?;
    results
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((digest, Box::new(value.clone())));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn work_runs_once_per_write_and_every_time_outside_one() {
        let runs = AtomicU32::new(0);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(7u32)
        };
        per_write(async {
            for _ in 0..3 {
                assert_eq!(remembered(b"k", work()).await.unwrap(), 7);
            }
            remembered(b"other", work()).await.unwrap();
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        remembered(b"k", work()).await.unwrap();
        remembered(b"k", work()).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    }
}
