//! Trying one webhook delivery again: what the health pass did after its checks, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::deliveries,
    store::Item,
    work::{Context, JobError, Planned, PlannedJob},
};

/// Try the delivery an entry of the delivery index names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    /// The delivery item and where the planner put its entry.
    pub planned: Planned,
    /// The tenant.
    pub tenant_id: String,
}

impl PlannedJob for DeliverWebhook {
    const KIND: &'static str = "deliver_webhook";
    const GROUP: &'static str = "deliver";

    fn planned(&self) -> &Planned {
        &self.planned
    }

    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    async fn work(&self, ctx: &Context, item: Item) -> Result<&'static str, JobError> {
        Ok(deliveries::deliver_item(&ctx.state, item).await?)
    }
}
