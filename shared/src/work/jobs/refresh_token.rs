//! Refreshing one token (a config's shared tokens, or one user's): what the refresh pass did for
//! each due token, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::{grants::Trigger, refresh_pass},
    store::Item,
    work::{Context, EntryWork, JobError, OnEntry},
};

/// Refresh the tokens an entry of the refresh index names.
pub type RefreshToken = OnEntry<Refresh>;

/// What refreshing adds to the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refresh {
    /// `<config id>` or `<config id>#<user>`.
    pub record_id: String,
    /// When the planner started, Unix microseconds: tokens obtained since are not refreshed again.
    pub started_us: i64,
    /// Latest refresh time the planner took, Unix seconds.
    pub horizon: i64,
}

impl EntryWork for Refresh {
    const KIND: &'static str = "refresh_token";
    /// By tenant: one tenant's refreshes never take every worker.
    const GROUP: &'static str = "refresh";

    /// The refresh reads the tokens itself (under its lease), not the item as planned.
    async fn work(
        &self,
        ctx: &Context,
        tenant_id: &str,
        _: Item,
    ) -> Result<&'static str, JobError> {
        let trigger = Trigger::Scheduled {
            started_us: self.started_us,
            horizon: self.horizon,
        };
        let outcome = refresh_pass::refresh_token(
            &ctx.state,
            &ctx.refresh,
            tenant_id,
            &self.record_id,
            trigger,
            &ctx.backoffs,
        )
        .await?;
        Ok(outcome.name())
    }
}
