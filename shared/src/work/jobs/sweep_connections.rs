//! Sweeping the users' tokens of one deleted `per_user` config, on its own list and schedule:
//! what the refresh pass did with its leftover time, as a job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    model::user_connections,
    store::Item,
    work::{Context, JobError, Planned, PlannedJob},
};

/// How long one sweep job works before it leaves the rest to the next (the planner sends it
/// again once its entry comes due).
const BUDGET: Duration = Duration::from_secs(60);

/// Sweep the deleted config a pending sweep's entry names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepConnections {
    /// The sweep item and where the planner put its entry.
    pub planned: Planned,
    /// The tenant.
    pub tenant_id: String,
}

impl PlannedJob for SweepConnections {
    const KIND: &'static str = "sweep_connections";
    const GROUP: &'static str = "sweep";

    fn planned(&self) -> &Planned {
        &self.planned
    }

    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    async fn work(&self, ctx: &Context, item: Item) -> Result<&'static str, JobError> {
        let end = tokio::time::Instant::now() + BUDGET;
        let report = user_connections::sweep_item(&ctx.state, item, end).await;
        Ok(if report.configs_done > 0 {
            "done"
        } else {
            "continues"
        })
    }
}
