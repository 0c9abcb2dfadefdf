//! Trying one webhook delivery again: what the health pass did after its checks, as a job.

use serde::{Deserialize, Serialize};

use crate::{
    model::deliveries,
    store::Item,
    work::{Context, EntryWork, JobError, OnEntry},
};

/// Try the delivery an entry of the delivery index names.
pub type DeliverWebhook = OnEntry<Deliver>;

/// A delivery's entry needs nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliver {}

impl EntryWork for Deliver {
    const KIND: &'static str = "deliver_webhook";
    const GROUP: &'static str = "deliver";

    async fn work(&self, ctx: &Context, _: &str, item: Item) -> Result<&'static str, JobError> {
        Ok(deliveries::deliver_item(&ctx.state, item).await?)
    }
}
