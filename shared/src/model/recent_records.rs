//! Reading a record through the recent records a warm instance keeps
//! ([`crate::store::recent`]): what a hot read path that writes nothing back uses.

use super::{
    resource::{Resource, load, read_body, sk},
    tenant_pk,
};
use crate::{AppState, Error};

/// Like [`load`](super::resource::load), through the state's recent records when it keeps them
/// ([`crate::AppState::with_recent_records`]): the record as read at most that long ago by this
/// instance, never older than its own last write of it. For a hot path that writes nothing back
/// (a tool call reads the agent, its servers and an auth config), never before a conditional
/// write.
pub async fn load_recent<R: Resource + Clone + Send + Sync + 'static>(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<(R, u64), Error> {
    let Some(recent) = &state.recent else {
        return load::<R>(state, tenant_id, id).await;
    };
    let (pk, sk) = (tenant_pk(tenant_id), sk::<R>(id));
    if let Some(kept) = recent.get::<R>(&pk, &sk) {
        return Ok(kept);
    }
    let generation = recent.generation();
    let (mut record, version, bytes) = read_body::<R>(state, tenant_id, id).await?;
    // Only a record its body holds whole is kept, weighed by that body.
    if record.held_whole() {
        recent.keep((&pk, &sk), record.clone(), (version, bytes), generation);
    }
    R::complete(state, tenant_id, &mut record).await?;
    Ok((record, version))
}
