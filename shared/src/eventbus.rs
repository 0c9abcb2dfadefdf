//! The AWS EventBridge adapter: every event this service produces is put on the configured bus
//! (`EVENT_BUS_NAME`), source [`SOURCE`], detail type the event's type, detail the event itself,
//! so operators route them with ordinary EventBridge rules.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// The `source` of every event put on the bus.
pub const SOURCE: &str = "agent-studio-connect";
/// Entries one `PutEvents` call may carry.
const MAX_ENTRIES: usize = 10;

/// One EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBus {
    /// The bus `name`, with a client configured from `aws`.
    pub fn from_sdk(aws: &crate::config::AwsConfig, name: impl Into<String>) -> Self {
        Self::new(aws_sdk_eventbridge::Client::new(aws), name)
    }

    /// The bus `name` reached through `client`.
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// Puts `(detail type, detail JSON)` entries on the bus, ten per call. Fails with a message
    /// naming how many entries the bus refused.
    pub async fn put(&self, entries: &[(String, String)]) -> Result<(), String> {
        for chunk in entries.chunks(MAX_ENTRIES) {
            let request = chunk
                .iter()
                .fold(self.client.put_events(), |request, (kind, detail)| {
                    request.entries(
                        PutEventsRequestEntry::builder()
                            .event_bus_name(&self.name)
                            .source(SOURCE)
                            .detail_type(kind)
                            .detail(detail)
                            .build(),
                    )
                });
            let output = request.send().await.map_err(|e| {
                format!(
                    "PutEvents failed: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(e)
                )
            })?;
            if output.failed_entry_count() > 0 {
                return Err(format!(
                    "the bus refused {} of {} event(s)",
                    output.failed_entry_count(),
                    chunk.len()
                ));
            }
        }
        Ok(())
    }
}
