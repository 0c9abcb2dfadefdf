//! Sweeping the users' tokens of one deleted `per_user` config, on its own list and schedule:
//! what the refresh pass did with its leftover time, as a job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    model::user_connections,
    store::Item,
    work::{Context, EntryWork, JobError, OnEntry},
};

/// How long one sweep job works before it leaves the rest to the next (the planner sends it
/// again once its entry comes due).
const BUDGET: Duration = Duration::from_secs(60);

/// Sweep the deleted config a pending sweep's entry names.
pub type SweepConnections = OnEntry<Sweep>;

/// A sweep's entry needs nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {}

impl EntryWork for Sweep {
    const KIND: &'static str = "sweep_connections";
    const GROUP: &'static str = "sweep";

    async fn work(&self, ctx: &Context, _: &str, item: Item) -> Result<&'static str, JobError> {
        let end = tokio::time::Instant::now() + BUDGET;
        let report = user_connections::sweep_item(&ctx.state, item, end).await;
        Ok(if report.configs_done > 0 {
            "done"
        } else {
            "continues"
        })
    }
}
