//! The planner: reads what falls due in the sharded index, shard by shard, and sends one job per
//! entry. An entry is first moved [`PlanSettings::lease_seconds`] ahead, conditional on where it
//! is (`MoveIndex`): a second planner reading the same shard at the same moment finds it moved
//! and sends nothing, and an entry whose job is lost comes due again once the lease ends. The job
//! runs only while the entry is still where the planner moved it; its own write puts the entry
//! where its record says next.
//!
//! Which shards a planner reads is its *part* of *of* (`shard % of == part`), so several planners
//! can divide the shards between them. It holds one index page at a time, never records, moves
//! up to [`PlanSettings::concurrency`] entries at once, and stops taking entries once its run
//! has lasted [`PlanSettings::max_run_seconds`] (what it leaves is still due for the next run).

use std::{collections::BTreeMap, time::Duration};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use super::{
    Context, Message, OnEntry, Planned, Queue,
    jobs::{Check, Deliver, Refresh, Sweep},
    message,
};
use crate::{
    model::{health, refresh_index, refresh_pass},
    store::{IndexEntry, IndexKey, StoreError, TxOp},
};

/// How a planner runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// How far ahead an entry moves once its job is sent (`PLAN_LEASE_SECONDS`, default 300): the
    /// longest a job may wait and run before its entry comes due again.
    pub lease_seconds: i64,
    /// Most entries read from one shard per run (`PLAN_MAX_PER_SHARD`, default 1,000).
    pub max_per_shard: usize,
    /// This planner's part of the shards (`PLAN_PART`, default 0)...
    pub part: u32,
    /// ...of this many parts (`PLAN_PARTS`, default 1).
    pub of: u32,
    /// Entries moved at once (`PLAN_CONCURRENCY`, default 16): one conditional write each.
    pub concurrency: usize,
    /// How long one run takes entries, seconds (`PLAN_MAX_RUN_SECONDS`, default 45): a run
    /// every minute never overlaps the next, and what it leaves is due for that one.
    pub max_run_seconds: u64,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            lease_seconds: 300,
            max_per_shard: 1_000,
            part: 0,
            of: 1,
            concurrency: 16,
            max_run_seconds: 45,
        }
    }
}

impl PlanSettings {
    /// Reads the settings through `lookup` (the environment in a function).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::Settings;
        let (env, d) = (Settings(lookup), Self::default());
        let of = env.get("PLAN_PARTS", 1..=64, d.of)?;
        Ok(Self {
            lease_seconds: env.get("PLAN_LEASE_SECONDS", 60..=3600, d.lease_seconds)?,
            max_per_shard: env.get("PLAN_MAX_PER_SHARD", 1..=100_000, d.max_per_shard)?,
            part: env.get("PLAN_PART", 0..=of - 1, d.part)?,
            of,
            concurrency: env.get("PLAN_CONCURRENCY", 1..=256, d.concurrency)?,
            max_run_seconds: env.get("PLAN_MAX_RUN_SECONDS", 5..=840, d.max_run_seconds)?,
        })
    }

    fn mine(&self, shard: u32) -> bool {
        shard % self.of.max(1) == self.part
    }
}

/// What one planner run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    /// Jobs sent, by job name.
    pub sent: BTreeMap<String, u64>,
    /// Entries another planner moved first.
    pub taken: u64,
    /// Internal errors (store, queue), logged.
    pub errors: u64,
    /// Due entries left for the next run (this one was out of time).
    pub deferred: u64,
    /// How far behind the most overdue entry sent was, seconds (0 when none was overdue).
    pub oldest_overdue_seconds: i64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// One index family: its shards, how far ahead it reads, and the job an entry becomes.
struct Source {
    partition: &'static str,
    shards: u32,
    lookahead: i64,
}

/// Runs one planner: every source's due entries (of this planner's shards), moved and sent.
pub async fn plan(ctx: &Context, settings: &PlanSettings, queue: &dyn Queue) -> PlanReport {
    let started = Instant::now();
    let state = &ctx.state;
    let started_us = state.clock.epoch_micros();
    let now = started_us.div_euclid(1_000_000);
    let mut report = PlanReport::default();
    let sources = [
        Source {
            partition: "REFRESH",
            shards: refresh_index::REFRESH_SHARDS,
            lookahead: ctx.refresh.lookahead_seconds,
        },
        Source {
            partition: "CHECK",
            shards: health::CHECK_SHARDS,
            lookahead: 0,
        },
        Source {
            partition: "DELIVER",
            shards: crate::model::deliveries::DELIVER_SHARDS,
            lookahead: 0,
        },
    ];
    let mut run = Run {
        ctx,
        settings,
        queue,
        now,
        started_us,
        deadline: started + Duration::from_secs(settings.max_run_seconds),
        report: &mut report,
    };
    for source in &sources {
        for shard in (0..source.shards).filter(|s| settings.mine(*s)) {
            let upto = IndexKey {
                pk: format!("{}#{shard}", source.partition),
                sk: format!("{:012}$", now + source.lookahead),
            };
            run.shard(&upto, now + source.lookahead).await;
        }
    }
    // Pending sweeps: one list, on its own schedule (the first planner part).
    if settings.mine(0) {
        let upto = IndexKey {
            pk: "SWEEP".into(),
            sk: format!("{now:012}$"),
        };
        run.shard(&upto, now).await;
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// One planner run under way.
struct Run<'a> {
    ctx: &'a Context,
    settings: &'a PlanSettings,
    queue: &'a dyn Queue,
    now: i64,
    started_us: i64,
    /// No entry is taken after this.
    deadline: Instant,
    report: &'a mut PlanReport,
}

/// What taking one entry came to.
enum Take {
    /// Moved: where the entry now is.
    Moved(Planned, i64),
    /// Another planner moved it first.
    ByAnother,
    /// The write failed (logged).
    Error,
    /// Not tried: the run is out of time.
    Deferred,
}

impl Run<'_> {
    /// Plans the due entries of one shard (up to `upto`).
    async fn shard(&mut self, upto: &IndexKey, horizon: i64) {
        let state = &self.ctx.state;
        let items = match state
            .store
            .query_index(upto, self.settings.max_per_shard)
            .await
        {
            Ok(items) => items,
            Err(error) => {
                tracing::warn!(%error, partition = %upto.pk, "reading an index shard failed");
                self.report.errors += 1;
                return;
            }
        };
        let mut messages = Vec::new();
        let (wakes, entries): (Vec<IndexEntry>, Vec<IndexEntry>) = items
            .into_iter()
            .partition(|item| item.sk.starts_with("USERS#"));
        for wake in wakes {
            let (Some(tenant_id), Some(config_id)) =
                (wake.pk.strip_prefix("T#"), wake.sk.strip_prefix("USERS#"))
            else {
                continue;
            };
            messages.extend(self.users(tenant_id, config_id, horizon).await);
        }
        for planned in self.take_all(entries).await {
            let Some(tenant_id) = planned.pk.strip_prefix("T#").map(str::to_owned) else {
                continue;
            };
            let job = match upto.pk.split('#').next() {
                Some("REFRESH") => self.refresh(planned, tenant_id, horizon),
                Some("CHECK") => message(&OnEntry {
                    planned,
                    tenant_id,
                    work: Check { horizon },
                }),
                Some("DELIVER") => message(&OnEntry {
                    planned,
                    tenant_id,
                    work: Deliver {},
                }),
                _ => message(&OnEntry {
                    planned,
                    tenant_id,
                    work: Sweep {},
                }),
            };
            self.push(&mut messages, job);
        }
        self.send(messages).await;
    }

    /// Moves the entries of tenants' items (`T#` keys) a lease ahead, [`PlanSettings::
    /// concurrency`] at once and oldest first: where each now is, for those this planner moved.
    async fn take_all(&mut self, items: Vec<IndexEntry>) -> Vec<Planned> {
        let (ctx, settings, now, deadline) = (self.ctx, self.settings, self.now, self.deadline);
        let takes = items
            .into_iter()
            .filter(|item| item.pk.starts_with("T#"))
            .map(|item| async move {
                if Instant::now() >= deadline {
                    return Take::Deferred;
                }
                take(ctx, settings, now, &item).await
            });
        let taken: Vec<Take> = futures_util::stream::iter(takes)
            .buffered(settings.concurrency.max(1))
            .collect()
            .await;
        let mut moved = Vec::new();
        for outcome in taken {
            match outcome {
                Take::Moved(planned, overdue) => {
                    self.report.oldest_overdue_seconds =
                        self.report.oldest_overdue_seconds.max(overdue);
                    moved.push(planned);
                }
                Take::ByAnother => self.report.taken += 1,
                Take::Error => self.report.errors += 1,
                Take::Deferred => self.report.deferred += 1,
            }
        }
        moved
    }

    fn refresh(
        &self,
        planned: Planned,
        tenant_id: String,
        horizon: i64,
    ) -> Result<Message, serde_json::Error> {
        let record_id = planned
            .sk
            .strip_prefix("TOKEN#")
            .unwrap_or_default()
            .to_owned();
        message(&OnEntry {
            planned,
            tenant_id,
            work: Refresh {
                record_id,
                started_us: self.started_us,
                horizon,
            },
        })
    }

    /// The jobs of a `per_user` config's due users, its wake claimed first and lowered after.
    async fn users(&mut self, tenant_id: &str, config_id: &str, horizon: i64) -> Vec<Message> {
        let state = &self.ctx.state;
        let found = refresh_pass::claim_due_users(
            state,
            &self.ctx.refresh,
            tenant_id,
            config_id,
            (self.now, horizon),
        )
        .await;
        let (entries, next) = match found {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.report.taken += 1;
                return Vec::new();
            }
            Err(error) => {
                tracing::warn!(%error, %tenant_id, auth_config_id = %config_id, "reading a config's due users failed");
                self.report.errors += 1;
                return Vec::new();
            }
        };
        let mut messages = Vec::new();
        for planned in self.take_all(entries).await {
            let job = self.refresh(planned, tenant_id.to_owned(), horizon);
            self.push(&mut messages, job);
        }
        if let Err(error) = refresh_index::lower_wake(state, tenant_id, config_id, next).await {
            tracing::warn!(%error, %tenant_id, auth_config_id = %config_id, "moving a refresh wake failed");
        }
        messages
    }

    fn push(&mut self, messages: &mut Vec<Message>, job: Result<Message, serde_json::Error>) {
        match job {
            Ok(message) => messages.push(message),
            Err(error) => {
                tracing::error!(%error, "a job could not be written as a message");
                self.report.errors += 1;
            }
        }
    }

    async fn send(&mut self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let names: Vec<String> = messages.iter().map(|m| super::job_name(&m.body)).collect();
        match self.queue.send(messages).await {
            Ok(()) => {
                for name in names {
                    *self.report.sent.entry(name).or_default() += 1;
                }
            }
            Err(error) => {
                // Their entries come due again when the lease ends.
                tracing::warn!(%error, jobs = names.len(), "sending jobs failed");
                self.report.errors += 1;
            }
        }
    }
}

/// Moves `item`'s entry a lease ahead, unless another planner moved it first.
async fn take(ctx: &Context, settings: &PlanSettings, now: i64, item: &IndexEntry) -> Take {
    let from = item.index.clone();
    let due = refresh_index::due_of(&from).unwrap_or(now);
    let to = IndexKey {
        pk: from.pk.clone(),
        sk: format!(
            "{:012}{}",
            (now + settings.lease_seconds).max(0),
            from.sk.get(12..).unwrap_or_default()
        ),
    };
    let moved = TxOp::MoveIndex {
        pk: item.pk.clone(),
        sk: item.sk.clone(),
        from,
        to: to.clone(),
    };
    match ctx.state.store.write(moved).await {
        Ok(()) => Take::Moved(
            Planned {
                pk: item.pk.clone(),
                sk: item.sk.clone(),
                index_pk: to.pk,
                index_sk: to.sk,
            },
            (now - due).max(0),
        ),
        Err(StoreError::ConditionFailed { .. }) => Take::ByAnother,
        Err(error) => {
            tracing::warn!(%error, sk = %item.sk, "moving a planned entry failed");
            Take::Error
        }
    }
}

/// Plans with `settings` into the in-process `queue` and runs what was sent, within `budget_end`:
/// what `studio-local` and the tests run where a deployment has a planner and workers.
pub async fn plan_and_run(
    ctx: &Context,
    settings: &PlanSettings,
    limits: &super::local::WorkerLimits,
    budget_end: Instant,
) -> (PlanReport, super::WorkReport) {
    let queue = super::local::LocalQueue::default();
    let planned = plan(ctx, settings, &queue).await;
    let worked = super::local::run(ctx, queue.take(), limits, budget_end).await;
    (planned, worked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_divide_the_shards() {
        let halves = [0, 1].map(|part| PlanSettings {
            part,
            of: 2,
            ..PlanSettings::default()
        });
        for shard in 0..16 {
            assert_eq!(halves.iter().filter(|s| s.mine(shard)).count(), 1);
        }
        let err = PlanSettings::from_lookup(|name| {
            (name == "PLAN_PART" || name == "PLAN_PARTS").then(|| "2".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("PLAN_PART"), "{err}");
    }
}
