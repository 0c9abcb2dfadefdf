//! Checking one server's health: what the health pass did for each due server, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::server_checks,
    store::Item,
    work::{Context, EntryWork, JobError, OnEntry},
};

/// Check the server whose health item an entry of the check index names.
pub type CheckServer = OnEntry<Check>;

/// What checking a server adds to its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Latest check time the planner took, Unix seconds.
    pub horizon: i64,
}

impl EntryWork for Check {
    const KIND: &'static str = "check_server";
    /// By tenant: one tenant's servers (a dead host with many configs) never take every worker.
    const GROUP: &'static str = "check";

    async fn work(&self, ctx: &Context, _: &str, item: Item) -> Result<&'static str, JobError> {
        Ok(server_checks::check_item(&ctx.state, &ctx.health, item, self.horizon).await?)
    }
}
