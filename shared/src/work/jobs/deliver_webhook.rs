//! Trying one webhook delivery again: what the health pass did after its checks, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::deliveries,
    work::{BackgroundJob, Context, JobError, Planned},
};

/// Try the delivery an entry of the delivery index names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    /// The delivery item and where the planner put its entry.
    pub planned: Planned,
    /// The tenant.
    pub tenant_id: String,
}

impl BackgroundJob for DeliverWebhook {
    const NAME: &'static str = "deliver_webhook";

    fn group(&self) -> String {
        format!("deliver:{}", self.tenant_id)
    }

    async fn run(&self, ctx: &Context) -> Result<&'static str, JobError> {
        let Some(item) = self.planned.item(&ctx.state).await? else {
            return Ok("moved");
        };
        Ok(deliveries::deliver_item(&ctx.state, item).await?)
    }
}
