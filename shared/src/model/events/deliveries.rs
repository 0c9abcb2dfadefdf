//! Publishing events: onto the EventBridge bus when one is configured, and to the tenant's
//! webhooks that subscribe to their type.
//!
//! Webhook deliveries go through an outbox, so none is lost to a slow or failing receiver: each
//! (event, webhook) pair is an item `DELIVERY#<event id>#<webhook id>` in the tenant's partition,
//! tried at once, then — while it fails — again after a back-off ([`RETRY_AFTER_SECONDS`], at
//! most [`MAX_ATTEMPTS`] tries) by the scheduled pass, which finds due deliveries in the
//! `DELIVER#<shard>` index. A delivered item is deleted; one that used every attempt stays,
//! out of the index, until it expires.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{
    events::Event,
    scheduler::{self, Limits},
    tenant_pk,
    webhook::{self, StoredWebhook},
};
use crate::{
    AppState,
    store::{Body, Condition, IndexKey, Item, StoreError, TxOp},
};

/// Tries per delivery.
pub const MAX_ATTEMPTS: u32 = 5;
/// Seconds to wait after the n-th failed try (n = 1, 2, …) before the next.
pub const RETRY_AFTER_SECONDS: [i64; 4] = [30, 120, 600, 3600];
/// How long one try may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first try, made by whatever caused the event (an API request, a pass), may
/// take: a slow receiver delays nobody by more, and is retried later with the full timeout.
pub const FIRST_TRY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a delivery is kept (delivered or not).
const KEEP_SECONDS: i64 = 3 * 24 * 3600;
/// Shards of the delivery index.
/// Shards of the delivery index.
pub const DELIVER_SHARDS: u32 = 2;
const PREFIX: &str = "DELIVERY#";

/// A delivery in the outbox.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Delivery {
    event: Event,
    webhook_id: String,
    attempts: u32,
    last_error: Option<String>,
}

/// What a delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Due deliveries found.
    pub due: u64,
    /// Delivered (2xx).
    pub delivered: u64,
    /// Failed again, to be retried later.
    pub retrying: u64,
    /// Failed their last attempt: given up.
    pub given_up: u64,
    /// Left for the next pass (budget, or another pass holds them).
    pub deferred: u64,
    /// Internal errors (store, keys), logged.
    pub errors: u64,
}

/// Publishes `events`: onto the bus (if configured) and to every webhook of their tenant that
/// subscribes to their type, each delivery tried once now and kept for retries if it fails.
/// Never fails: what goes wrong is logged (a failed delivery stays in the outbox).
pub async fn publish(state: &AppState, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    for event in &events {
        tracing::info!(event_type = event.kind.as_str(), event_id = %event.id, tenant = %event.tenant, "event");
    }
    if let Some(bus) = &state.event_bus {
        let entries: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| Some((e.kind.as_str().to_owned(), serde_json::to_string(e).ok()?)))
            .collect();
        if let Err(error) = bus.put(&entries).await {
            tracing::warn!(%error, "putting events on the bus failed");
        }
    }
    // In order, each to every webhook at once: a receiver sees a server's events as they came.
    for event in &events {
        let hooks = match webhook::subscribed(state, &event.tenant, event.kind).await {
            Ok(hooks) => hooks,
            Err(error) => {
                tracing::warn!(%error, "reading webhooks failed; the event is not delivered");
                continue;
            }
        };
        let tries = hooks.iter().map(|hook| enqueue_and_try(state, event, hook));
        futures_util::future::join_all(tries).await;
    }
}

fn delivery_sk(event_id: &str, webhook_id: &str) -> String {
    format!("{PREFIX}{event_id}#{webhook_id}")
}

fn deliver_index_key(tenant_id: &str, sk: &str, due: i64) -> IndexKey {
    let digest = Sha256::digest(format!("{tenant_id}#{sk}").as_bytes());
    IndexKey {
        pk: format!("DELIVER#{}", u32::from(digest[0]) % DELIVER_SHARDS),
        sk: format!("{:012}#{tenant_id}#{sk}", due.max(0)),
    }
}

/// The outbox item of `delivery`, due at `due` (out of the index when `None`).
fn delivery_item(
    tenant_id: &str,
    delivery: &Delivery,
    due: Option<i64>,
    expires_at: i64,
) -> Option<Item> {
    let sk = delivery_sk(&delivery.event.id, &delivery.webhook_id);
    let data = Body::of(delivery).ok()?;
    let item = Item::new(tenant_pk(tenant_id), sk.clone(), data).expiring_at(expires_at);
    Some(match due {
        Some(due) => item.indexed(deliver_index_key(tenant_id, &sk, due)),
        None => item,
    })
}

fn now_s(state: &AppState) -> i64 {
    state.clock.epoch_micros().div_euclid(1_000_000)
}

async fn enqueue_and_try(state: &AppState, event: &Event, hook: &StoredWebhook) {
    let delivery = Delivery {
        event: event.clone(),
        webhook_id: hook.meta.id.clone(),
        attempts: 0,
        last_error: None,
    };
    let now = now_s(state);
    // Due at the first retry's time, not now: a pass running meanwhile leaves it to this try
    // (no double delivery); should this process stop before trying, a pass tries it then.
    let due = now + RETRY_AFTER_SECONDS[0];
    let Some(item) = delivery_item(&event.tenant, &delivery, Some(due), now + KEEP_SECONDS) else {
        return;
    };
    if let Err(error) = state.store.write(TxOp::Create(item)).await {
        tracing::warn!(%error, webhook_id = %hook.meta.id, "queueing a webhook delivery failed");
        return;
    }
    attempt(state, delivery, hook, 1, FIRST_TRY_TIMEOUT).await;
}

/// Tries `delivery` (its outbox item at `version`) within `timeout`, then deletes it or
/// schedules the next try.
async fn attempt(
    state: &AppState,
    mut delivery: Delivery,
    hook: &StoredWebhook,
    version: u64,
    timeout: Duration,
) -> Outcome {
    let tenant = delivery.event.tenant.clone();
    let sk = delivery_sk(&delivery.event.id, &delivery.webhook_id);
    let sent = webhook::send(state, hook, &delivery.event, timeout).await;
    delivery.attempts += 1;
    let (op, outcome) = match sent {
        Ok(()) => (
            TxOp::Delete {
                pk: tenant_pk(&tenant),
                sk,
                condition: Condition::Version(version),
            },
            Outcome::Delivered,
        ),
        Err(error) => {
            tracing::info!(webhook_id = %hook.meta.id, event_id = %delivery.event.id, attempts = delivery.attempts, %error, "webhook delivery failed");
            delivery.last_error = Some(error);
            let next = RETRY_AFTER_SECONDS
                .get(delivery.attempts as usize - 1)
                .filter(|_| delivery.attempts < MAX_ATTEMPTS)
                .map(|wait| now_s(state) + wait);
            let expires_at = now_s(state) + KEEP_SECONDS;
            let Some(item) = delivery_item(&tenant, &delivery, next, expires_at) else {
                return Outcome::Error;
            };
            let outcome = if next.is_some() {
                Outcome::Retrying
            } else {
                Outcome::GivenUp
            };
            (
                TxOp::Update {
                    item,
                    expected_version: version,
                },
                outcome,
            )
        }
    };
    match state.store.write(op).await {
        Ok(()) => outcome,
        Err(error) => {
            tracing::warn!(%error, "recording a webhook delivery failed");
            Outcome::Error
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Delivered,
    Retrying,
    GivenUp,
    Deferred,
    Error,
}

/// Retries the deliveries that are due, with bounded concurrency, at most two at a time per
/// receiver origin, starting none after `limits.budget_end` minus the delivery timeout.
pub async fn deliver_due(
    state: &AppState,
    concurrency: usize,
    budget_end: tokio::time::Instant,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let now = now_s(state);
    let upto = format!("{now:012}$");
    let mut items = Vec::new();
    for shard in 0..DELIVER_SHARDS {
        let key = IndexKey {
            pk: format!("DELIVER#{shard}"),
            sk: upto.clone(),
        };
        let found = match state.store.query_index(&key, 1_000).await {
            Ok(entries) => crate::store::read_entries(state.store.as_ref(), entries).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(found) => items.extend(found),
            Err(error) => {
                tracing::warn!(%error, "reading the delivery index failed");
                report.errors += 1;
            }
        }
    }
    report.due = items.len() as u64;
    // Their webhooks, read a few at a time, group the deliveries by receiver origin.
    let mut loaded = futures_util::stream::iter(items)
        .map(|item| load_webhook(state, item))
        .buffer_unordered(concurrency.max(1) * 4);
    let mut jobs = Vec::new();
    while let Some(found) = loaded.next().await {
        match found {
            Ok(Some((item, delivery, hook))) => {
                jobs.push((scheduler::origin_key(&hook.url), (item, delivery, hook)));
            }
            Ok(None) => {}
            Err(()) => report.errors += 1,
        }
    }
    drop(loaded);
    let limits = Limits {
        concurrency,
        per_key: 2,
        job_time: DELIVERY_TIMEOUT + Duration::from_secs(2),
        budget_end,
    };
    let left = scheduler::run(
        jobs,
        &limits,
        |(item, delivery, hook)| async move { retry(state, item, delivery, hook).await },
        |outcome| match outcome {
            Outcome::Delivered => report.delivered += 1,
            Outcome::Retrying => report.retrying += 1,
            Outcome::GivenUp => report.given_up += 1,
            Outcome::Deferred => report.deferred += 1,
            Outcome::Error => report.errors += 1,
        },
    )
    .await;
    report.deferred += left.len() as u64;
    report
}

/// Tries the due delivery `item` as the pass does (one planner job): `delivered`, `retrying`,
/// `given_up`, `deferred` (another worker holds it) or `webhook_gone`; an internal error is an
/// error, for the job to be tried again.
pub async fn deliver_item(state: &AppState, item: Item) -> Result<&'static str, crate::Error> {
    let failed = || crate::Error::Internal("a webhook delivery failed (logged)".into());
    let Some((item, delivery, hook)) = load_webhook(state, item).await.map_err(|()| failed())?
    else {
        return Ok("webhook_gone");
    };
    match retry(state, item, delivery, hook).await {
        Outcome::Delivered => Ok("delivered"),
        Outcome::Retrying => Ok("retrying"),
        Outcome::GivenUp => Ok("given_up"),
        Outcome::Deferred => Ok("deferred"),
        Outcome::Error => Err(failed()),
    }
}

/// A due delivery with its webhook; `None` when the webhook is gone (the delivery is deleted).
async fn load_webhook(
    state: &AppState,
    item: Item,
) -> Result<Option<(Item, Delivery, StoredWebhook)>, ()> {
    let delivery = item.data.read::<Delivery>().map_err(|_| ())?;
    match webhook::load(state, &delivery.event.tenant, &delivery.webhook_id).await {
        Ok(Some(hook)) => Ok(Some((item, delivery, hook))),
        Ok(None) => {
            let _ = state.store.write(TxOp::delete_as_read(&item)).await;
            Ok(None)
        }
        Err(error) => {
            tracing::warn!(%error, "reading a webhook failed");
            Err(())
        }
    }
}

/// Claims a due delivery (so an overlapping pass leaves it alone), then tries it.
async fn retry(state: &AppState, item: Item, delivery: Delivery, hook: StoredWebhook) -> Outcome {
    let now = now_s(state);
    let lease = now + DELIVERY_TIMEOUT.as_secs() as i64 * 3;
    let tenant = delivery.event.tenant.clone();
    let Some(claimed) = delivery_item(&tenant, &delivery, Some(lease), now + KEEP_SECONDS) else {
        return Outcome::Error;
    };
    match state
        .store
        .write(TxOp::Update {
            item: claimed,
            expected_version: item.version,
        })
        .await
    {
        Ok(()) => attempt(state, delivery, &hook, item.version + 1, DELIVERY_TIMEOUT).await,
        Err(StoreError::ConditionFailed { .. }) => Outcome::Deferred,
        Err(error) => {
            tracing::warn!(%error, "claiming a webhook delivery failed");
            Outcome::Error
        }
    }
}
