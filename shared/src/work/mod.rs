//! Background work fanned out as jobs: a planner finds what is due in the sharded index and sends
//! one job per entry to a queue; workers take jobs from the queue and run them.
//!
//! - **Jobs** ([`BackgroundJob`]): one type per kind of work, one file each under [`jobs`]: its
//!   name in a message, the fairness group it is sent under, and `run`. A job names one index
//!   entry, where the planner put it and whose work it is ([`OnEntry`], with what its kind of
//!   work adds: [`EntryWork`]); it runs only while the entry is still there, so a job delivered
//!   twice, or planned again after it ran, does its work once (the work's own lease or claim
//!   holds the rest). Refreshes, health checks, webhook retries and
//!   sweeps are jobs.
//! - **The planner** ([`planner`]) reads what falls due (only the entries' keys matter), moves
//!   each entry it sends a job for a few minutes ahead (`MoveIndex`, conditional on where the
//!   entry is, so two planners never send the same entry twice, and an entry whose job is lost
//!   comes due again), and sends the jobs in batches. It reads no records and holds no more than
//!   one index page.
//! - **The queue is an adapter** ([`Queue`]): in-process locally and in tests ([`local`], the
//!   jobs run by the same bounded scheduler the passes use, round-robin over groups) and Amazon
//!   SQS ([`sqs`]: one message per job, its `MessageGroupId` the job's group, a fair queue; the
//!   worker function runs a batch).
//! - **The functions' shell** ([`lambda`]): what the planner's and the worker's `main` share.

pub mod jobs;
pub mod lambda;
pub mod local;
pub mod planner;
pub mod sqs;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    AppState,
    model::{
        provider_backoff::Backoffs, refresh_pass::PassSettings, server_checks::HealthSettings,
    },
    store::{IndexKey, Item},
};

/// What a job needs besides itself: the state, the settings of the work it does, and what a
/// worker keeps between its jobs.
#[derive(Debug)]
pub struct Context {
    /// The application state.
    pub state: AppState,
    /// How refreshes run (request timeout, per-config bounds).
    pub refresh: PassSettings,
    /// How health checks run.
    pub health: HealthSettings,
    /// Token endpoints backed off, as this worker knows them.
    pub backoffs: Backoffs,
}

impl Context {
    /// A context with the given settings and no back-offs known yet.
    pub fn new(state: AppState, refresh: PassSettings, health: HealthSettings) -> Self {
        Self {
            state,
            refresh,
            health,
            backoffs: Backoffs::default(),
        }
    }
}

/// Why a job did not finish: the message is to be delivered again (and, after a few tries, goes
/// to the dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The message is not a job this worker knows.
    #[error("not a known job: {0}")]
    Unknown(String),
    /// The job's work failed in a way worth trying again (store, keys).
    #[error("{0}")]
    Failed(String),
}

impl From<crate::Error> for JobError {
    fn from(error: crate::Error) -> Self {
        Self::Failed(error.to_string())
    }
}

impl From<serde_json::Error> for JobError {
    fn from(error: serde_json::Error) -> Self {
        Self::Failed(error.to_string())
    }
}

impl From<crate::store::StoreError> for JobError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Failed(error.to_string())
    }
}

/// A kind of background work.
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + Sync {
    /// The job's name in a message.
    const NAME: &'static str;

    /// The fairness group the job is sent under: work of one group never takes every worker
    /// from the others.
    fn group(&self) -> String;

    /// Runs the job: what it came to, by name (counted in reports).
    fn run(&self, ctx: &Context) -> impl Future<Output = Result<&'static str, JobError>> + Send;
}

/// A job about one entry the planner moved (every kind so far): where the planner put the entry,
/// whose work it is, and what the kind of work adds (`W`, flattened into the same object). It
/// works only while the entry is where the planner put it, on the entry's item as it is then,
/// and otherwise ends as `moved`. Its group is `<GROUP>:<tenant>`, so one tenant's work of a
/// kind never takes every worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnEntry<W> {
    /// The item and where the planner put its entry.
    pub planned: Planned,
    /// The tenant whose work it is.
    pub tenant_id: String,
    /// What the kind of work adds.
    #[serde(flatten)]
    pub work: W,
}

/// The work of one kind of [`OnEntry`] job.
pub trait EntryWork: Serialize + DeserializeOwned + Send + Sync {
    /// The job's name in a message ([`BackgroundJob::NAME`]).
    const KIND: &'static str;
    /// The first part of the job's group: the kind of work.
    const GROUP: &'static str;

    /// The work for `tenant_id`, on the entry's item: what it came to, by name.
    fn work(
        &self,
        ctx: &Context,
        tenant_id: &str,
        item: Item,
    ) -> impl Future<Output = Result<&'static str, JobError>> + Send;
}

impl<W: EntryWork> BackgroundJob for OnEntry<W> {
    const NAME: &'static str = W::KIND;

    fn group(&self) -> String {
        format!("{}:{}", W::GROUP, self.tenant_id)
    }

    async fn run(&self, ctx: &Context) -> Result<&'static str, JobError> {
        let Some(item) = self.planned.item(&ctx.state).await? else {
            return Ok("moved");
        };
        self.work.work(ctx, &self.tenant_id, item).await
    }
}

/// Where the planner put the entry a job is about, and the entry's item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// Partition key of the item.
    pub pk: String,
    /// Sort key of the item.
    pub sk: String,
    /// Index partition the entry is in.
    pub index_pk: String,
    /// Index sort key the planner moved it to.
    pub index_sk: String,
}

impl Planned {
    /// The index key the planner moved the entry to.
    pub fn index(&self) -> IndexKey {
        IndexKey {
            pk: self.index_pk.clone(),
            sk: self.index_sk.clone(),
        }
    }

    /// The item, if its entry is still where the planner put it: `None` once the job's work was
    /// done (by this job delivered before, or by anyone else), or the item is gone.
    pub async fn item(&self, state: &AppState) -> Result<Option<Item>, JobError> {
        let item = state.store.get(&self.pk, &self.sk).await?;
        Ok(item.filter(|item| item.index.as_ref() == Some(&self.index())))
    }
}

/// One message: the job's group and its JSON (`{"job": <name>, "data": <job>}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The fairness group (`MessageGroupId` in SQS).
    pub group: String,
    /// The message body.
    pub body: String,
}

/// A message's body.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    job: String,
    data: T,
}

/// The message for `job`.
pub fn message<J: BackgroundJob>(job: &J) -> Result<Message, serde_json::Error> {
    let body = serde_json::to_string(&Envelope {
        job: J::NAME.to_owned(),
        data: job,
    })?;
    Ok(Message {
        group: job.group(),
        body,
    })
}

/// Where jobs are sent.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends `messages` (in batches the queue allows).
    async fn send(&self, messages: Vec<Message>) -> Result<(), JobError>;
}

/// Runs the job a message holds: `<job>.<outcome>`.
pub async fn run_message(ctx: &Context, body: &str) -> Result<String, JobError> {
    let envelope: Envelope<serde_json::Value> =
        serde_json::from_str(body).map_err(|e| JobError::Unknown(e.to_string()))?;
    let outcome = match envelope.job.as_str() {
        jobs::RefreshToken::NAME => Box::pin(run::<jobs::RefreshToken>(ctx, envelope.data)).await,
        jobs::CheckServer::NAME => Box::pin(run::<jobs::CheckServer>(ctx, envelope.data)).await,
        jobs::DeliverWebhook::NAME => {
            Box::pin(run::<jobs::DeliverWebhook>(ctx, envelope.data)).await
        }
        jobs::SweepConnections::NAME => {
            Box::pin(run::<jobs::SweepConnections>(ctx, envelope.data)).await
        }
        other => return Err(JobError::Unknown(other.to_owned())),
    }?;
    Ok(format!("{}.{outcome}", envelope.job))
}

async fn run<J: BackgroundJob>(
    ctx: &Context,
    data: serde_json::Value,
) -> Result<&'static str, JobError> {
    let job: J = serde_json::from_value(data).map_err(|e| JobError::Unknown(e.to_string()))?;
    job.run(ctx).await
}

/// The names of the jobs a worker knows.
pub const JOB_NAMES: [&str; 4] = [
    jobs::RefreshToken::NAME,
    jobs::CheckServer::NAME,
    jobs::DeliverWebhook::NAME,
    jobs::SweepConnections::NAME,
];

/// The job name of a message body: `unknown` when it names no job a worker knows (so what a
/// message says never becomes a metric name).
pub(crate) fn job_name(body: &str) -> String {
    #[derive(Deserialize)]
    struct Named {
        job: String,
    }
    serde_json::from_str::<Named>(body)
        .ok()
        .and_then(|named| JOB_NAMES.into_iter().find(|name| *name == named.job))
        .unwrap_or("unknown")
        .to_owned()
}

/// What a run of jobs came to: how many of each `<job>.<outcome>`, and the jobs that failed (to
/// be delivered again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkReport {
    /// Counts by `<job>.<outcome>`.
    pub outcomes: BTreeMap<String, u64>,
    /// Jobs that failed.
    pub failed: u64,
    /// Jobs that failed, by job name (`unknown` for a message that names no job).
    pub errors: BTreeMap<String, u64>,
    /// Jobs not started (out of time), left in the queue.
    pub left: u64,
}

impl WorkReport {
    /// How many jobs came to `outcome` (`<job>.<outcome>`).
    pub fn count(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    /// Counts what the job of message `body` came to.
    pub(crate) fn record(&mut self, body: &str, outcome: &Result<String, JobError>) {
        match outcome {
            Ok(outcome) => *self.outcomes.entry(outcome.clone()).or_default() += 1,
            Err(_) => {
                self.failed += 1;
                *self.errors.entry(job_name(body)).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_jobs_keep_the_shape_of_messages_already_queued() {
        // As the planner wrote them before a job was `OnEntry<W>`: a deploy must still run them.
        let planned = r#"{"pk":"T#acme","sk":"HEALTH#s","index_pk":"CHECK#3","index_sk":"0001#s"}"#;
        let check = format!(r#"{{"planned":{planned},"tenant_id":"acme","horizon":1700000000}}"#);
        let job: jobs::CheckServer = serde_json::from_str(&check).unwrap();
        assert_eq!(
            (job.tenant_id.as_str(), job.work.horizon),
            ("acme", 1_700_000_000)
        );
        assert_eq!(job.group(), "check:acme");
        let again: serde_json::Value = serde_json::to_value(&job).unwrap();
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(&check).unwrap()
        );
        let deliver = format!(r#"{{"planned":{planned},"tenant_id":"acme"}}"#);
        let job: jobs::DeliverWebhook = serde_json::from_str(&deliver).unwrap();
        assert_eq!(serde_json::to_string(&job).unwrap(), deliver);
    }

    #[test]
    fn a_message_names_its_job() {
        assert_eq!(
            job_name(r#"{"job":"refresh_token","data":{}}"#),
            "refresh_token"
        );
        assert_eq!(job_name("nonsense"), "unknown");
        assert_eq!(job_name(r#"{"job":"mine_bitcoin","data":{}}"#), "unknown");
    }

    #[test]
    fn a_report_counts_outcomes_and_errors_by_job() {
        let mut report = WorkReport::default();
        let body = r#"{"job":"check_server","data":{}}"#;
        report.record(body, &Ok("check_server.healthy".into()));
        report.record(body, &Err(JobError::Failed("store".into())));
        report.record("nonsense", &Err(JobError::Unknown("nonsense".into())));
        assert_eq!(report.count("check_server.healthy"), 1);
        assert_eq!(report.failed, 2);
        assert_eq!(report.errors["check_server"], 1);
        assert_eq!(report.errors["unknown"], 1);
    }
}
