//! Checking one server's health: what the health pass did for each due server, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::server_checks,
    work::{BackgroundJob, Context, JobError, Planned},
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

impl BackgroundJob for CheckServer {
    const NAME: &'static str = "check_server";

    /// By tenant: one tenant's servers (a dead host with many configs) never take every worker.
    fn group(&self) -> String {
        format!("check:{}", self.tenant_id)
    }

    async fn run(&self, ctx: &Context) -> Result<&'static str, JobError> {
        let Some(item) = self.planned.item(&ctx.state).await? else {
            return Ok("moved");
        };
        Ok(server_checks::check_item(&ctx.state, &ctx.health, item, self.horizon).await?)
    }
}
