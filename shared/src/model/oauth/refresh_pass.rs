//! The scheduled refresh pass: finds the authorization-code tokens that are due in the sharded
//! refresh index (every shard queried up to a bound, never a table scan) and refreshes them
//! through [`grants::refresh`] — the single-flight lease and fenced write the on-demand path uses —
//! with bounded concurrency, a cap per token endpoint and a time budget. Whatever it cannot start
//! within the budget stays due for the next pass; overlapping passes never refresh a token twice
//! (the lease, and a pass ignores tokens obtained after it started).

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use crate::model::{
    auth_record::{AuthType, StoredAuthConfig},
    grants::{self, RefreshOutcome, Trigger},
    provider_backoff::{self, Backoffs},
    refresh_index, resource,
    scheduler::{self, Limits},
    token,
};
use crate::{
    AppState,
    config::{ConfigError, Settings},
    store::{IndexKey, StoreError},
};

/// How a pass runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassSettings {
    /// Refreshes in flight at once (`REFRESH_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// Refreshes in flight against one token endpoint (`REFRESH_MAX_PER_ENDPOINT`; default three
    /// quarters of the concurrency, so one busy authorization server never holds every slot).
    pub per_endpoint: usize,
    /// How far past now a token's refresh time may lie for this pass to take it
    /// (`REFRESH_LOOKAHEAD_SECONDS`, default 300: the schedule period, so no token reaches its
    /// margin between two passes).
    pub lookahead_seconds: i64,
    /// Longest one token request may take (`REFRESH_REQUEST_TIMEOUT_SECONDS`, default 10). No
    /// refresh starts unless this much of the budget is left.
    pub request_timeout: Duration,
    /// Most due entries read from one shard per pass (`REFRESH_MAX_PER_SHARD`, default 2,000);
    /// the rest stay due for the next pass. The users' tokens of a `per_user` config are one
    /// entry here, however many there are.
    pub max_per_shard: usize,
    /// Most users' tokens of one `per_user` config refreshed per pass
    /// (`REFRESH_MAX_PER_CONFIG`, default 1,000); the rest stay due for the next pass.
    pub max_per_config: usize,
}

impl Default for PassSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            per_endpoint: 12,
            lookahead_seconds: 300,
            request_timeout: Duration::from_secs(10),
            max_per_shard: 2_000,
            max_per_config: 1_000,
        }
    }
}

impl PassSettings {
    /// Reads the settings through `lookup` (the environment in a function), defaults for what is
    /// not set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (env, d) = (Settings(lookup), Self::default());
        let concurrency = env.get("REFRESH_CONCURRENCY", 1..=256, d.concurrency)?;
        let per_endpoint = (concurrency * 3 / 4).max(1);
        let per_endpoint = env.get("REFRESH_MAX_PER_ENDPOINT", 1..=256, per_endpoint)?;
        Ok(Self {
            concurrency,
            per_endpoint,
            lookahead_seconds: env.get(
                "REFRESH_LOOKAHEAD_SECONDS",
                0..=3600,
                d.lookahead_seconds,
            )?,
            // At most the cap every refresh applies (the lease is sized for it).
            request_timeout: Duration::from_secs(env.get(
                "REFRESH_REQUEST_TIMEOUT_SECONDS",
                1..=token::MAX_TOKEN_REQUEST.as_secs(),
                d.request_timeout.as_secs(),
            )?),
            max_per_shard: env.get("REFRESH_MAX_PER_SHARD", 1..=100_000, d.max_per_shard)?,
            max_per_config: env.get("REFRESH_MAX_PER_CONFIG", 1..=100_000, d.max_per_config)?,
        })
    }
}

/// What one pass did. Every due token is counted once: in exactly one of the outcome fields, or
/// in `deferred` when the budget ran out before it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// Due tokens found in the refresh index (a `per_user` config's wake that another pass had
    /// claimed, or that could not be read, counts as one).
    pub due: u64,
    /// Refreshed by this pass.
    pub refreshed: u64,
    /// The grant is gone (`invalid_grant`): marked `REAUTHORIZATION_REQUIRED` and out of the index.
    pub reauthorization_required: u64,
    /// Network, 5xx or 429 failures: tokens kept, retried after a back-off.
    pub transient_failures: u64,
    /// Other refusals by the token endpoint (such as `invalid_client`): tokens kept, backed off.
    pub failed: u64,
    /// Another pass or caller held the refresh lease.
    pub skipped_locked: u64,
    /// Users' idle tokens left for their next use (see [`crate::model::idle_tokens`]).
    pub parked: u64,
    /// Moved past their token endpoint's back-off without a request (see
    /// [`crate::model::provider_backoff`]).
    pub backed_off: u64,
    /// Already refreshed by someone else, or no longer belonging to its config.
    pub not_needed: u64,
    /// Left due for the next pass: the time budget ran out first.
    pub deferred: u64,
    /// Internal errors (store or key provider), logged.
    pub errors: u64,
    /// Users' tokens of deleted `per_user` configs revoked (best effort) and deleted.
    pub swept_tokens: u64,
    /// Wall time of the pass in milliseconds.
    pub elapsed_ms: u64,
}

/// One token to refresh: a config's shared tokens, or one user's.
struct Job {
    tenant_id: String,
    config: Arc<StoredAuthConfig>,
    user_id: Option<String>,
    /// The wake this user's token was reached through (its position in the pass's list).
    wake: Option<usize>,
}

impl Job {
    fn owner(&self) -> token::TokenOwner<'_> {
        token::TokenOwner {
            config: &self.config,
            user_id: self.user_id.as_deref(),
        }
    }
}

/// A due entry of a refresh index shard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    /// A config's shared tokens (or one user's, stored before users' tokens had queues):
    /// `<config id>` or `<config id>#<user>`.
    Tokens(String),
    /// The wake of a `per_user` config's users' tokens.
    Wake(String),
}

/// A wake claimed by this pass, and where it goes next.
struct Wake {
    tenant_id: String,
    config_id: String,
    next: i64,
}

/// The outcome of one job, as counted.
#[derive(Debug, Clone, Copy)]
enum Tally {
    Refreshed,
    Reauthorization,
    Transient,
    Failed,
    Locked,
    NotNeeded,
    Parked,
    BackedOff,
    Error,
}

impl RefreshReport {
    fn count(&mut self, tally: Tally) {
        let field = match tally {
            Tally::Refreshed => &mut self.refreshed,
            Tally::Reauthorization => &mut self.reauthorization_required,
            Tally::Transient => &mut self.transient_failures,
            Tally::Failed => &mut self.failed,
            Tally::Locked => &mut self.skipped_locked,
            Tally::NotNeeded => &mut self.not_needed,
            Tally::Parked => &mut self.parked,
            Tally::BackedOff => &mut self.backed_off,
            Tally::Error => &mut self.errors,
        };
        *field += 1;
    }
}

/// Reads the due entries of every shard: `(index sort key, tenant, entry)`, most urgent first.
async fn due_entries(
    state: &AppState,
    settings: &PassSettings,
    horizon: i64,
    report: &mut RefreshReport,
) -> Vec<(String, String, Entry)> {
    // `$` sorts right after `#`: every key of the horizon second is included.
    let upto = format!("{:012}$", horizon.max(0));
    let queries = (0..token::REFRESH_SHARDS).map(|shard| {
        let upto = IndexKey {
            pk: format!("REFRESH#{shard}"),
            sk: upto.clone(),
        };
        async move {
            let result = state.store.query_index(&upto, settings.max_per_shard).await;
            (upto.pk, result)
        }
    });
    let mut entries = Vec::new();
    for (partition, result) in futures_util::future::join_all(queries).await {
        let items = match result {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, %partition, "reading a refresh index shard failed");
                report.errors += 1;
                continue;
            }
        };
        if items.len() >= settings.max_per_shard {
            tracing::warn!(%partition, limit = settings.max_per_shard, "more tokens are due than one pass reads; the rest stay due");
        }
        entries.extend(items.into_iter().filter_map(|item| {
            let tenant = item.pk.strip_prefix("T#")?.to_owned();
            let entry = match item.sk.strip_prefix("TOKEN#") {
                Some(id) => Entry::Tokens(id.to_owned()),
                None => Entry::Wake(item.sk.strip_prefix("USERS#")?.to_owned()),
            };
            Some((item.index.sk, tenant, entry))
        }));
    }
    entries.sort_unstable();
    entries.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2);
    entries
}

/// The index entries of the users' tokens of one `per_user` config due by `horizon` (at most
/// [`PassSettings::max_per_config`]), and when the wake of the rest falls due: now when more
/// are due than one pass takes, else the first later entry, at most
/// [`refresh_index::RECHECK_SECONDS`] ahead.
async fn due_users(
    state: &AppState,
    settings: &PassSettings,
    tenant_id: &str,
    config_id: &str,
    (now, horizon): (i64, i64),
) -> Result<(Vec<crate::store::IndexEntry>, i64), StoreError> {
    let upto = IndexKey {
        pk: refresh_index::user_queue(tenant_id, config_id),
        sk: "~".into(),
    };
    let items = state
        .store
        .query_index(&upto, settings.max_per_config + 1)
        .await?;
    let mut due = Vec::new();
    let mut next = now + refresh_index::RECHECK_SECONDS;
    for item in items {
        let at = refresh_index::due_of(&item.index);
        if at.is_some_and(|at| at > horizon) {
            next = next.min(at.unwrap_or(next));
            break;
        }
        if due.len() == settings.max_per_config {
            next = now;
            break;
        }
        due.push(item);
    }
    Ok((due, next))
}

/// The auth config a due token belongs to, if it is still an `AUTHORIZATION_CODE` config.
async fn load_config(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<Option<StoredAuthConfig>, crate::Error> {
    match resource::load::<StoredAuthConfig>(state, tenant_id, id).await {
        Ok((config, _)) => Ok((config.auth_type == AuthType::AuthorizationCode).then_some(config)),
        Err(crate::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn refresh_one(
    state: &AppState,
    job: &Job,
    trigger: Trigger,
    timeout: Duration,
    backoffs: &Backoffs,
) -> Tally {
    let (tenant_id, auth_config_id) = (&job.tenant_id, &job.config.meta.id);
    let key = provider_backoff::key(
        tenant_id,
        job.config.token_url.as_deref().unwrap_or_default(),
        job.config.client_id.as_deref().unwrap_or_default(),
    );
    let now = state.clock.epoch_seconds();
    if let Some(until) = backoffs.active(state, &key, now).await {
        return match provider_backoff::move_past(state, tenant_id, &job.owner(), until).await {
            Ok(_) => Tally::BackedOff,
            Err(e) => {
                tracing::warn!(%tenant_id, %auth_config_id, error = %e, "moving a token past its provider's back-off failed");
                Tally::Error
            }
        };
    }
    let outcome =
        grants::refresh(state, &job.tenant_id, &job.owner(), trigger, false, timeout).await;
    if let Ok(RefreshOutcome::Failed {
        transient: true,
        record,
        ..
    }) = &outcome
    {
        let until = record.next_refresh_at.unwrap_or(now + 30);
        backoffs.set(state, &key, until).await;
    }
    match outcome {
        Ok(RefreshOutcome::Refreshed(_)) => Tally::Refreshed,
        Ok(RefreshOutcome::NotNeeded(_)) => Tally::NotNeeded,
        Ok(RefreshOutcome::Parked(_)) => Tally::Parked,
        Ok(RefreshOutcome::NotAuthorized) => {
            // Tokens a change of the config voided: out of the index, so no pass reads them again.
            token::drop_void(state, &job.tenant_id, &job.owner()).await;
            Tally::NotNeeded
        }
        Ok(RefreshOutcome::Locked) => Tally::Locked,
        Ok(RefreshOutcome::ReauthorizationRequired) => {
            tracing::info!(%tenant_id, %auth_config_id, "grant revoked: reauthorization required");
            Tally::Reauthorization
        }
        Ok(RefreshOutcome::Failed {
            error, transient, ..
        }) => {
            tracing::warn!(%tenant_id, %auth_config_id, %error, transient, "token refresh failed");
            if transient {
                Tally::Transient
            } else {
                Tally::Failed
            }
        }
        Err(e) => {
            tracing::warn!(%tenant_id, %auth_config_id, error = %e, "token refresh failed");
            Tally::Error
        }
    }
}

/// Runs one pass: refreshes every token due by now + the lookahead, starting no refresh after
/// `budget_end` minus the request timeout. Never fails as a whole: a failure of one token or
/// shard is counted and logged, and the rest goes on.
pub async fn run(state: &AppState, settings: &PassSettings, budget_end: Instant) -> RefreshReport {
    let started_at = Instant::now();
    let started_us = state.clock.epoch_micros();
    let now = started_us.div_euclid(1_000_000);
    let horizon = now + settings.lookahead_seconds;
    let trigger = Trigger::Scheduled {
        started_us,
        horizon,
    };
    let mut report = RefreshReport::default();

    let entries = due_entries(state, settings, horizon, &mut report).await;

    // The configs, in urgency order, read a few at a time: once for a config's shared tokens,
    // once for all its users' due tokens.
    let mut loaded = futures_util::stream::iter(entries)
        .map(|(_, tenant_id, entry)| async move {
            let found = load_entry(state, settings, &tenant_id, &entry, (now, horizon)).await;
            (tenant_id, entry, found)
        })
        .buffered(settings.concurrency.max(1) * 4);
    let mut jobs = Vec::new();
    let mut wakes = Vec::new();
    while let Some((tenant_id, entry, found)) = loaded.next().await {
        let (config, owners, wake) = match found {
            Ok(Found::Tokens { config, user_id }) => (config, vec![user_id], None),
            Ok(Found::Users {
                config,
                users,
                next,
            }) => {
                let Entry::Wake(config_id) = &entry else {
                    unreachable!("only a wake has users")
                };
                wakes.push(Wake {
                    tenant_id: tenant_id.clone(),
                    config_id: config_id.clone(),
                    next,
                });
                (
                    config,
                    users.into_iter().map(Some).collect(),
                    Some(wakes.len() - 1),
                )
            }
            Ok(Found::Claimed) => {
                report.due += 1;
                report.count(Tally::Locked);
                continue;
            }
            Err(e) => {
                tracing::warn!(%tenant_id, ?entry, error = %e, "reading due tokens failed");
                report.due += 1;
                report.count(Tally::Error);
                continue;
            }
        };
        report.due += owners.len() as u64;
        let Some(config) = config.map(Arc::new) else {
            report.not_needed += owners.len() as u64;
            continue;
        };
        let endpoint = scheduler::origin_key(config.token_url.as_deref().unwrap_or_default());
        for user_id in owners {
            let job = Job {
                tenant_id: tenant_id.clone(),
                config: Arc::clone(&config),
                user_id,
                wake,
            };
            jobs.push((endpoint.clone(), job));
        }
    }
    drop(loaded);

    let limits = Limits {
        concurrency: settings.concurrency,
        per_key: settings.per_endpoint,
        job_time: settings.request_timeout,
        budget_end,
    };
    let timeout = settings.request_timeout;
    let backoffs = &Backoffs::default();
    let left = scheduler::run(
        jobs,
        &limits,
        |job| async move { refresh_one(state, &job, trigger, timeout, backoffs).await },
        |tally| report.count(tally),
    )
    .await;
    report.deferred = left.len() as u64;
    // A wake with users left over is due again at once; the others move to their next entry.
    for job in left {
        if let Some(wake) = job.wake {
            wakes[wake].next = now;
        }
    }
    for wake in wakes {
        let (tenant_id, config_id) = (&wake.tenant_id, &wake.config_id);
        if let Err(e) = refresh_index::lower_wake(state, tenant_id, config_id, wake.next).await {
            tracing::warn!(%tenant_id, auth_config_id = %config_id, error = %e, "moving a refresh wake failed");
        }
    }
    // Then the users' tokens of deleted per_user configs, with what time is left.
    let sweep_end = budget_end.checked_sub(settings.request_timeout);
    if let Some(end) = sweep_end.filter(|end| Instant::now() < *end) {
        let swept = crate::model::user_connections::sweep(state, end).await;
        report.swept_tokens = swept.tokens_deleted;
    }
    report.elapsed_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// What refreshing one token came to, as a planner's job sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    /// Refreshed.
    Refreshed,
    /// The grant is gone: marked `REAUTHORIZATION_REQUIRED`.
    ReauthorizationRequired,
    /// The token endpoint failed (network, 5xx, 429); backed off.
    TransientFailure,
    /// The token endpoint refused otherwise; backed off.
    Failed,
    /// Someone else holds the refresh lease.
    Locked,
    /// Nothing to do (refreshed meanwhile, or no longer the config's).
    NotNeeded,
    /// Idle: left for its next use.
    Parked,
    /// Moved past its provider's back-off without a request.
    BackedOff,
}

impl TokenOutcome {
    /// The outcome's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::ReauthorizationRequired => "reauthorization_required",
            Self::TransientFailure => "transient_failure",
            Self::Failed => "failed",
            Self::Locked => "locked",
            Self::NotNeeded => "not_needed",
            Self::Parked => "parked",
            Self::BackedOff => "backed_off",
        }
    }
}

/// Refreshes the tokens `record_id` (`<config id>` or `<config id>#<user>`) of `tenant_id` as a
/// pass does, with the pass's `trigger` and the worker's `backoffs`: one planner job. An internal
/// error (store, keys) is an error, for the job to be tried again.
pub async fn refresh_token(
    state: &AppState,
    settings: &PassSettings,
    tenant_id: &str,
    record_id: &str,
    trigger: Trigger,
    backoffs: &Backoffs,
) -> Result<TokenOutcome, crate::Error> {
    let (config_id, user_id) = match record_id.split_once('#') {
        Some((config_id, user)) => (config_id, Some(token::from_key_part(user))),
        None => (record_id, None),
    };
    let Some(config) = load_config(state, tenant_id, config_id).await? else {
        return Ok(TokenOutcome::NotNeeded);
    };
    let job = Job {
        tenant_id: tenant_id.to_owned(),
        config: Arc::new(config),
        user_id,
        wake: None,
    };
    Ok(
        match refresh_one(state, &job, trigger, settings.request_timeout, backoffs).await {
            Tally::Refreshed => TokenOutcome::Refreshed,
            Tally::Reauthorization => TokenOutcome::ReauthorizationRequired,
            Tally::Transient => TokenOutcome::TransientFailure,
            Tally::Failed => TokenOutcome::Failed,
            Tally::Locked => TokenOutcome::Locked,
            Tally::NotNeeded => TokenOutcome::NotNeeded,
            Tally::Parked => TokenOutcome::Parked,
            Tally::BackedOff => TokenOutcome::BackedOff,
            Tally::Error => {
                return Err(crate::Error::Internal(
                    "refreshing a token failed (logged)".into(),
                ));
            }
        },
    )
}

/// Claims the wake of the `per_user` config `config_id` for a planner and reads the index
/// entries of its due users' tokens: `None` when another planner has it, else the entries and
/// when the wake is due next (for [`refresh_index::lower_wake`] once their jobs are sent).
pub async fn claim_due_users(
    state: &AppState,
    settings: &PassSettings,
    tenant_id: &str,
    config_id: &str,
    (now, horizon): (i64, i64),
) -> Result<Option<(Vec<crate::store::IndexEntry>, i64)>, StoreError> {
    let until = now + refresh_index::RECHECK_SECONDS;
    if !refresh_index::claim_wake(state, tenant_id, config_id, horizon, until).await? {
        return Ok(None);
    }
    due_users(state, settings, tenant_id, config_id, (now, horizon))
        .await
        .map(Some)
}

/// What a due entry leads to.
enum Found {
    /// A config's shared tokens, or one user's (from before user queues); no config when it is
    /// gone or no longer `AUTHORIZATION_CODE`.
    Tokens {
        config: Option<StoredAuthConfig>,
        user_id: Option<String>,
    },
    /// The due users of a claimed wake, and where the wake goes next.
    Users {
        config: Option<StoredAuthConfig>,
        users: Vec<String>,
        next: i64,
    },
    /// Another pass claimed the wake first (or it moved meanwhile).
    Claimed,
}

/// Reads what `entry` leads to: the config (once), and for a wake, claimed first, its due users.
async fn load_entry(
    state: &AppState,
    settings: &PassSettings,
    tenant_id: &str,
    entry: &Entry,
    (now, horizon): (i64, i64),
) -> Result<Found, crate::Error> {
    let store = |e: StoreError| crate::Error::Internal(e.to_string());
    match entry {
        Entry::Tokens(id) => {
            // A user's tokens are kept under `<config id>#<user id>` (config ids hold no `#`).
            let (config_id, user_id) = match id.split_once('#') {
                Some((config_id, user)) => (config_id, Some(token::from_key_part(user))),
                None => (id.as_str(), None),
            };
            let config = load_config(state, tenant_id, config_id).await?;
            Ok(Found::Tokens { config, user_id })
        }
        Entry::Wake(config_id) => {
            let claimed =
                claim_due_users(state, settings, tenant_id, config_id, (now, horizon)).await;
            let Some((due, next)) = claimed.map_err(store)? else {
                return Ok(Found::Claimed);
            };
            let prefix = token::user_tokens_prefix(config_id);
            let users: Vec<String> = due
                .iter()
                .filter_map(|item| item.sk.strip_prefix(&prefix).map(token::from_key_part))
                .collect();
            let config = if users.is_empty() {
                None
            } else {
                load_config(state, tenant_id, config_id).await?
            };
            Ok(Found::Users {
                config,
                users,
                next,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_reject_out_of_range_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(
            PassSettings::from_lookup(env(&[])).unwrap(),
            PassSettings::default()
        );
        let custom = PassSettings::from_lookup(env(&[
            ("REFRESH_CONCURRENCY", "64"),
            ("REFRESH_LOOKAHEAD_SECONDS", "60"),
        ]))
        .unwrap();
        assert_eq!((custom.concurrency, custom.per_endpoint), (64, 48));
        assert_eq!(custom.lookahead_seconds, 60);
        let err = PassSettings::from_lookup(env(&[("REFRESH_CONCURRENCY", "0")])).unwrap_err();
        assert!(err.to_string().contains("REFRESH_CONCURRENCY"), "{err}");
        let err =
            PassSettings::from_lookup(env(&[("REFRESH_MAX_PER_ENDPOINT", "many")])).unwrap_err();
        assert!(
            err.to_string().contains("REFRESH_MAX_PER_ENDPOINT"),
            "{err}"
        );
    }
}
