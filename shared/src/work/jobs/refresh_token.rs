//! Refreshing one token (a config's shared tokens, or one user's): what the refresh pass did for
//! each due token, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::{grants::Trigger, refresh_pass},
    store::Item,
    work::{Context, JobError, Planned, PlannedJob},
};

/// Refresh the tokens an entry of the refresh index names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// The token item and where the planner put its entry.
    pub planned: Planned,
    /// The tenant.
    pub tenant_id: String,
    /// `<config id>` or `<config id>#<user>`.
    pub record_id: String,
    /// When the planner started, Unix microseconds: tokens obtained since are not refreshed again.
    pub started_us: i64,
    /// Latest refresh time the planner took, Unix seconds.
    pub horizon: i64,
}

impl PlannedJob for RefreshToken {
    const KIND: &'static str = "refresh_token";
    /// By tenant: one tenant's refreshes never take every worker.
    const GROUP: &'static str = "refresh";

    fn planned(&self) -> &Planned {
        &self.planned
    }

    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The refresh reads the tokens itself (under its lease), not the item as planned.
    async fn work(&self, ctx: &Context, _: Item) -> Result<&'static str, JobError> {
        let trigger = Trigger::Scheduled {
            started_us: self.started_us,
            horizon: self.horizon,
        };
        let outcome = refresh_pass::refresh_token(
            &ctx.state,
            &ctx.refresh,
            &self.tenant_id,
            &self.record_id,
            trigger,
            &ctx.backoffs,
        )
        .await?;
        Ok(outcome.name())
    }
}
