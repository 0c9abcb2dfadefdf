//! Checking one server's health: what the health pass did for each due server, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::server_checks,
    store::Item,
    work::{Context, JobError, Planned, PlannedJob},
};

/// Check the server whose health item an entry of the check index names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckServer {
    /// The health item and where the planner put its entry.
    pub planned: Planned,
    /// The tenant.
    pub tenant_id: String,
    /// Latest check time the planner took, Unix seconds.
    pub horizon: i64,
}

impl PlannedJob for CheckServer {
    const KIND: &'static str = "check_server";
    /// By tenant: one tenant's servers (a dead host with many configs) never take every worker.
    const GROUP: &'static str = "check";

    fn planned(&self) -> &Planned {
        &self.planned
    }

    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    async fn work(&self, ctx: &Context, item: Item) -> Result<&'static str, JobError> {
        Ok(server_checks::check_item(&ctx.state, &ctx.health, item, self.horizon).await?)
    }
}
