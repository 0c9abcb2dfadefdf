//! Obtaining, refreshing and revoking the OAuth tokens that [`crate::model::token`] keeps: a
//! client-credentials token on demand (cached until near expiry), the authorization-code token
//! refreshed when due, the refresh itself, and revocation (RFC 7009) when tokens are voided.
//!
//! A refresh is single-flight across processes: the caller takes a lease with a conditional write
//! on the item's version (which also proves nothing changed since it read the item), makes exactly
//! one token request, and writes the new tokens fenced by the version it leased. Everyone else
//! waits for the lease holder's result instead of spending the refresh token again (with rotation
//! on, a second use would revoke the whole grant). Opening the old tokens keeps their data key, so
//! the new ones are sealed without a second key-provider call.

use secrecy::SecretString;

use crate::model::{
    auth_record::{self, CredentialError, StoredAuthConfig, client_auth},
    auth_records::client_assertion,
    idle_tokens, refresh_index,
    token::{
        AccessToken, CLIENT_CREDENTIALS_MARGIN_SECONDS, LEASE_POLL, LEASE_SECONDS, Lease,
        MAX_BACKOFF_SECONDS, MAX_TOKEN_REQUEST, STORE_RETRY_BUDGET, TokenKind, TokenOwner,
        TokenRecord, client_credentials_fingerprint, context, internal, load,
        load_authorization_code, open_access, open_bundle, record_item, refresh_margin,
        seal_bundle,
    },
};
use crate::{
    AppState,
    oauth::{self, TokenError},
    store::{StoreError, TxOp},
};

/// The access token of an `AUTHORIZATION_CODE` config, refreshed first (single-flight) when it is
/// within [`crate::model::token::PROACTIVE_MARGIN_SECONDS`] of expiry, or when `rejected` names the
/// token an MCP server just refused with 401. A failed refresh still yields the old token while it
/// has not expired.
pub async fn authorization_code_token(
    state: &AppState,
    tenant_id: &str,
    config: &TokenOwner<'_>,
    rejected: Option<i64>,
    timeout: std::time::Duration,
) -> Result<AccessToken, CredentialError> {
    let Some((record, version)) = load_authorization_code(state, tenant_id, config).await? else {
        return Err(CredentialError::NotAuthorized);
    };
    if record.reauthorization_required {
        return Err(CredentialError::ReauthorizationRequired);
    }
    idle_tokens::note_use(state, tenant_id, config, &record, version).await;
    if let Some(issuer) = &record.moved_to {
        return Err(CredentialError::AuthorizationServerChanged(issuer.clone()));
    }
    let now = state.clock.epoch_seconds();
    let trigger = match rejected {
        Some(obtained_at) => Trigger::Rejected { obtained_at },
        None => Trigger::Due,
    };
    if !trigger.needs_refresh(&record, now) {
        return open_access(state, tenant_id, &config.record_id(), &record).await;
    }
    // The client secret is opened only if a token request is made.
    let outcome = refresh(state, tenant_id, config, trigger, true, timeout).await?;
    let now = state.clock.epoch_seconds();
    match outcome {
        RefreshOutcome::Refreshed(token) => Ok(token),
        RefreshOutcome::NotNeeded(record) | RefreshOutcome::Parked(record) => {
            open_access(state, tenant_id, &config.record_id(), &record).await
        }
        RefreshOutcome::Failed { record, error, .. } => {
            if record.expires_at > now && rejected.is_none() {
                open_access(state, tenant_id, &config.record_id(), &record).await
            } else {
                Err(CredentialError::Expired(error))
            }
        }
        RefreshOutcome::ReauthorizationRequired => Err(CredentialError::ReauthorizationRequired),
        RefreshOutcome::NotAuthorized => Err(CredentialError::NotAuthorized),
        RefreshOutcome::Locked => Err(CredentialError::Expired(
            "another refresh of this token is still running".into(),
        )),
    }
}

/// Why a refresh is attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The token is (about to be) due: refresh unless someone already did, or a back-off after a
    /// failure is still running while the token is valid.
    Due,
    /// An MCP server refused the token obtained at `obtained_at`: refresh unless it was replaced.
    Rejected {
        /// When the refused token was obtained, Unix microseconds.
        obtained_at: i64,
    },
    /// The scheduled pass: refresh when the token's refresh time is at or before `horizon`
    /// (Unix seconds; the pass looks one schedule period ahead, so no token reaches its margin
    /// between two passes), unless it was obtained at or after the pass started (an overlapping
    /// pass already refreshed it). A back-off after a failure is honoured without looking ahead.
    Scheduled {
        /// When the pass started, Unix microseconds: a token obtained in the same second but
        /// before the pass is still the pass's to refresh.
        started_us: i64,
        /// Latest refresh time this pass takes.
        horizon: i64,
    },
}

impl Trigger {
    pub(crate) fn needs_refresh(self, record: &TokenRecord, now: i64) -> bool {
        match self {
            Self::Due => {
                let margin = refresh_margin(record.expires_at, record.obtained_at);
                let due = record.expires_at - margin <= now;
                let backing_off =
                    record.next_refresh_at.is_some_and(|at| at > now) && record.expires_at > now;
                due && !backing_off
            }
            Self::Rejected { obtained_at } => record.obtained_us() == obtained_at,
            Self::Scheduled {
                started_us,
                horizon,
            } => {
                if record.obtained_us() >= started_us {
                    return false;
                }
                let horizon = if record.failures > 0 {
                    horizon.min(now)
                } else {
                    horizon
                };
                let refresh_at = record.next_refresh_at.unwrap_or(
                    record.expires_at - refresh_margin(record.expires_at, record.obtained_at),
                );
                refresh_at <= horizon
            }
        }
    }
}

/// Writes refreshed tokens, fenced by the leased version. The old refresh token may already be
/// rotated out at the provider, so this write is what keeps the grant alive: a store that fails
/// transiently is tried again (with back-off, within [`STORE_RETRY_BUDGET`], inside the lease);
/// a write that still fails, or whose fence no longer holds (the config changed meanwhile), is an
/// error in the log with the config named, never a silent loss.
async fn store_refreshed(state: &AppState, auth_config_id: &str, write: TxOp) -> bool {
    let started = tokio::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match state.store.write(write.clone()).await {
            Ok(()) => return true,
            Err(StoreError::Unavailable(cause))
                if started.elapsed() + pause < STORE_RETRY_BUDGET =>
            {
                tracing::warn!(%auth_config_id, %cause, "storing refreshed tokens failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => {
                tracing::error!(
                    %auth_config_id,
                    error = %e,
                    "refreshed tokens could not be stored: the grant may need re-authorization"
                );
                return false;
            }
        }
    }
}

/// Longest time a revocation may take: it never holds up the delete it accompanies for long.
const REVOCATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Revokes the refresh token of an `AUTHORIZATION_CODE` config at its revocation endpoint
/// (RFC 7009) before its tokens are deleted. Best effort: any failure is logged, never returned,
/// so it cannot block the delete; a config without `revocation_url` or tokens has nothing to do.
pub async fn revoke_stored(state: &AppState, tenant_id: &str, config: &TokenOwner<'_>) {
    if let Some(pending) = prepare_revocation(state, tenant_id, config).await {
        pending.send(state).await;
    }
}

/// A revocation read and ready to send ([`prepare_revocation`]): what a change that deletes
/// tokens sends once its write has succeeded, and only then — a refused or lost write revokes
/// nothing, and a retried one revokes once. Its Debug output holds no secret.
pub struct PendingRevocation {
    auth_config_id: String,
    revocation_url: String,
    token_url: String,
    client_id: String,
    client_secret: Option<secrecy::SecretString>,
    client_assertion: Option<secrecy::SecretString>,
    auth: oauth::ClientAuth,
    refresh_token: secrecy::SecretString,
}

impl std::fmt::Debug for PendingRevocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRevocation")
            .field("auth_config_id", &self.auth_config_id)
            .field("revocation_url", &self.revocation_url)
            .finish_non_exhaustive()
    }
}

/// Reads what revoking the config's stored refresh token needs (the token, the client), sending
/// nothing; `None` when there is nothing to revoke or it cannot be read (logged).
pub async fn prepare_revocation(
    state: &AppState,
    tenant_id: &str,
    config: &TokenOwner<'_>,
) -> Option<PendingRevocation> {
    let (Some(revocation_url), Some(client_id)) = (&config.revocation_url, &config.client_id)
    else {
        return None;
    };
    let read = async {
        let Some((record, _)) = load_authorization_code(state, tenant_id, config).await? else {
            return Ok(None);
        };
        let Some(envelope) = record.sealed.as_ref().filter(|_| record.has_refresh_token) else {
            return Ok(None);
        };
        let (bundle, _) = open_bundle(state, tenant_id, &config.record_id(), envelope).await?;
        let Some(refresh_token) = bundle.refresh_token.clone() else {
            return Ok(None);
        };
        let client_secret = auth_record::client_secret(state, tenant_id, config).await?;
        let client_assertion = client_assertion::for_config(state, tenant_id, config).await?;
        Ok::<_, CredentialError>(Some(PendingRevocation {
            auth_config_id: config.meta.id.clone(),
            revocation_url: revocation_url.clone(),
            token_url: config.token_url.clone().unwrap_or_default(),
            client_id: client_id.clone(),
            client_secret,
            client_assertion,
            auth: client_auth(config),
            refresh_token,
        }))
    }
    .await;
    read.unwrap_or_else(|e| {
        tracing::warn!(auth_config_id = %config.meta.id, error = %e, "revocation failed");
        None
    })
}

impl PendingRevocation {
    /// Sends the revocation (best effort: the outcome is logged, never returned).
    pub async fn send(self, state: &AppState) {
        let client = oauth::OAuthClient {
            token_url: &self.token_url,
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            auth: self.auth,
            client_assertion: self.client_assertion.as_ref(),
        };
        let id = &self.auth_config_id;
        match oauth::revoke(
            &state.http,
            &client,
            &self.revocation_url,
            &self.refresh_token,
            REVOCATION_TIMEOUT,
        )
        .await
        {
            Ok(200) => tracing::info!(auth_config_id = %id, "refresh token revoked"),
            Ok(status) => tracing::warn!(auth_config_id = %id, status, "revocation refused"),
            Err(e) => tracing::warn!(auth_config_id = %id, error = %e, "revocation failed"),
        }
    }
}

/// What a refresh attempt did.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// This call refreshed the tokens.
    Refreshed(AccessToken),
    /// No refresh was needed (someone else refreshed, or it is not due).
    NotNeeded(TokenRecord),
    /// A user's idle tokens were left for their next use (the scheduled pass only; see
    /// [`crate::model::idle_tokens`]).
    Parked(TokenRecord),
    /// Another process holds the lease (only when not waiting).
    Locked,
    /// The grant is gone; marked and removed from the refresh index.
    ReauthorizationRequired,
    /// The token request failed; old tokens kept, the next attempt backed off.
    Failed {
        /// The record as now stored.
        record: TokenRecord,
        /// What failed.
        error: String,
        /// Network, 5xx or 429: worth retrying.
        transient: bool,
    },
    /// There are no tokens for the config's current settings.
    NotAuthorized,
}

/// Refreshes the tokens of an `AUTHORIZATION_CODE` config once, single-flight: takes the lease
/// (or, with `wait`, waits for the holder's result until `timeout`), makes one token request and
/// writes the outcome fenced by the leased version. `invalid_grant` marks the config
/// `REAUTHORIZATION_REQUIRED` after a re-read confirms nobody else refreshed; other failures keep
/// the tokens and move the next attempt back (honouring `Retry-After`).
pub async fn refresh(
    state: &AppState,
    tenant_id: &str,
    config: &TokenOwner<'_>,
    trigger: Trigger,
    wait: bool,
    timeout: std::time::Duration,
) -> Result<RefreshOutcome, CredentialError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let (Some(token_url), Some(client_id)) = (&config.token_url, &config.client_id) else {
        return Ok(RefreshOutcome::NotAuthorized);
    };
    // The token this call set out to replace: once another caller replaced it, that result is
    // taken instead of refreshing again.
    let mut first_seen = None;
    let mut resolved_secret: Option<Option<SecretString>> = None;
    loop {
        let Some((record, version)) = load_authorization_code(state, tenant_id, config).await?
        else {
            return Ok(RefreshOutcome::NotAuthorized);
        };
        if record.reauthorization_required {
            return Ok(RefreshOutcome::ReauthorizationRequired);
        }
        let now = state.clock.epoch_seconds();
        let replaced = *first_seen.get_or_insert(record.obtained_us()) != record.obtained_us();
        if replaced || !trigger.needs_refresh(&record, now) {
            return Ok(RefreshOutcome::NotNeeded(record));
        }
        let scheduled = matches!(trigger, Trigger::Scheduled { .. });
        if let Some(until) = idle_tokens::parked_until(&record, now).filter(|_| scheduled) {
            if idle_tokens::park(state, tenant_id, config, &record, version, until)
                .await
                .map_err(internal)?
            {
                return Ok(RefreshOutcome::Parked(record));
            }
            continue;
        }
        if record.lease.as_ref().is_some_and(|lease| lease.until > now) {
            if !wait || tokio::time::Instant::now() + LEASE_POLL >= deadline {
                return Ok(RefreshOutcome::Locked);
            }
            tokio::time::sleep(LEASE_POLL).await;
            continue;
        }
        let Some(envelope) = record.sealed.clone() else {
            return Ok(RefreshOutcome::ReauthorizationRequired);
        };
        if !record.has_refresh_token {
            return Ok(RefreshOutcome::Failed {
                error: "the authorization server issued no refresh token".into(),
                record,
                transient: false,
            });
        }
        // Take the lease: a conditional write on the version just read, which also proves the
        // tokens did not change in between.
        let mut leased = record.clone();
        leased.lease = Some(Lease {
            owner: crate::model::new_id(),
            until: now + LEASE_SECONDS,
        });
        let lease_write = TxOp::Update {
            item: record_item(tenant_id, &config.record_id(), &leased)?,
            expected_version: version,
        };
        match state.store.write(lease_write).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(internal(e)),
        }
        let leased_version = version + 1;
        let (bundle, resealer) =
            open_bundle(state, tenant_id, &config.record_id(), &envelope).await?;
        let Some(refresh_token) = bundle.refresh_token.as_ref() else {
            return Err(internal("the sealed tokens hold no refresh token"));
        };
        // Resolved only once the lease is taken, so a caller that finds the token already
        // refreshed or leased spends no decryption on it.
        if resolved_secret.is_none() {
            resolved_secret = Some(auth_record::client_secret(state, tenant_id, config).await?);
        }
        let client_secret = resolved_secret.as_ref().and_then(Option::as_ref);
        // One assertion per request: each is single-use.
        let client_assertion = client_assertion::for_config(state, tenant_id, config).await?;
        let client = oauth::OAuthClient {
            token_url,
            client_id,
            client_secret,
            auth: client_auth(config),
            client_assertion: client_assertion.as_ref(),
        };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = oauth::refresh(
            &state.http,
            &client,
            refresh_token,
            config.resource.as_deref(),
            remaining
                .min(MAX_TOKEN_REQUEST)
                .max(std::time::Duration::from_secs(1)),
        )
        .await;
        let now_us = state.clock.epoch_micros();
        let now = now_us.div_euclid(1_000_000);
        return match result {
            Ok(tokens) => {
                let refresh_token = tokens.refresh_token.as_ref().unwrap_or(refresh_token);
                let plaintext = seal_bundle(&tokens.access_token, Some(refresh_token))?;
                let expires_at = now + i64::try_from(tokens.expires_in).unwrap_or(i64::MAX / 4);
                let next = TokenRecord {
                    // The kept data key, unless it is past its age or use bound: then a fresh
                    // one (the one case a refresh calls GenerateDataKey).
                    sealed: Some(if resealer.reusable() {
                        resealer.seal(&plaintext).map_err(internal)?
                    } else {
                        state
                            .crypto
                            .seal(&context(tenant_id, &config.record_id()), &plaintext)
                            .await
                            .map_err(internal)?
                    }),
                    has_refresh_token: true,
                    expires_at,
                    obtained_at: now,
                    obtained_at_us: now_us,
                    granted_scopes: tokens.scopes.or(record.granted_scopes),
                    last_refresh_at: Some(now),
                    last_refresh_error: None,
                    next_refresh_at: Some(expires_at - refresh_margin(expires_at, now)),
                    failures: 0,
                    lease: None,
                    ..record
                };
                let write = TxOp::Update {
                    item: record_item(tenant_id, &config.record_id(), &next)?,
                    expected_version: leased_version,
                };
                if store_refreshed(state, &config.meta.id, write).await {
                    let due = next.refreshable_at();
                    refresh_index::after_write(state, tenant_id, &config.record_id(), due).await;
                }
                Ok(RefreshOutcome::Refreshed(AccessToken {
                    token: tokens.access_token,
                    obtained_at: now_us,
                }))
            }
            Err(e) if e.is_invalid_grant() => {
                // One re-read: if someone else changed the tokens meanwhile, theirs count.
                match load(state, tenant_id, &config.record_id())
                    .await
                    .map_err(internal)?
                {
                    Some((_, current)) if current == leased_version => {}
                    _ => continue,
                }
                let gone = TokenRecord {
                    sealed: None,
                    has_refresh_token: false,
                    reauthorization_required: true,
                    last_refresh_error: Some(
                        "invalid_grant: the authorization server no longer accepts the grant; authorize again"
                            .into(),
                    ),
                    next_refresh_at: None,
                    lease: None,
                    ..record
                };
                let write = TxOp::Update {
                    item: record_item(tenant_id, &config.record_id(), &gone)?,
                    expected_version: leased_version,
                };
                state.store.write(write).await.map_err(internal)?;
                let event = crate::model::events::event(
                    state,
                    tenant_id,
                    crate::model::events::EventType::ReauthorizationRequired,
                    serde_json::json!({
                        "auth_config_id": config.meta.id,
                        "name": config.meta.name,
                        "user_id": config.user_id,
                        "reason": "invalid_grant",
                    }),
                );
                crate::model::deliveries::publish(state, vec![event]).await;
                Ok(RefreshOutcome::ReauthorizationRequired)
            }
            Err(e) => {
                let failures = record.failures.saturating_add(1);
                let backoff = backoff_seconds(&e, failures);
                let error = e.to_string();
                let failed = TokenRecord {
                    last_refresh_error: Some(error.clone()),
                    next_refresh_at: Some(now + backoff),
                    failures,
                    lease: None,
                    ..record
                };
                let write = TxOp::Update {
                    item: record_item(tenant_id, &config.record_id(), &failed)?,
                    expected_version: leased_version,
                };
                match state.store.write(write).await {
                    Ok(()) => {
                        let due = failed.refreshable_at();
                        refresh_index::after_write(state, tenant_id, &config.record_id(), due)
                            .await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, auth_config_id = %config.meta.id, "recording a failed refresh failed");
                    }
                }
                Ok(RefreshOutcome::Failed {
                    record: failed,
                    error,
                    transient: e.is_transient(),
                })
            }
        };
    }
}

/// Seconds until the next attempt after `failures` failures in a row: `Retry-After` when given,
/// else 30 s doubling, at most [`MAX_BACKOFF_SECONDS`]; either way plus up to a quarter more at
/// random, so tokens that failed together (one provider's outage) come back spread out rather
/// than all in the same second.
fn backoff_seconds(error: &TokenError, failures: u32) -> i64 {
    let base = match error.retry_after() {
        Some(seconds) => i64::try_from(seconds).unwrap_or(MAX_BACKOFF_SECONDS),
        None => 30_i64 << failures.saturating_sub(1).min(10),
    }
    .clamp(1, MAX_BACKOFF_SECONDS);
    let mut byte = [0_u8];
    let spread = getrandom::fill(&mut byte).map_or(0, |()| base * i64::from(byte[0]) / 1024);
    (base + spread).min(MAX_BACKOFF_SECONDS)
}

/// A client-credentials access token: the cached one while it is valid for more than
/// [`CLIENT_CREDENTIALS_MARGIN_SECONDS`], was obtained with the current configuration and is not
/// the one named by `rejected`; otherwise a new one from the token endpoint, cached (sealed) for
/// the next caller. The client secret is opened (a decryption or a Secrets Manager look-up) only
/// for that token request.
pub async fn client_credentials_token(
    state: &AppState,
    tenant_id: &str,
    config: &StoredAuthConfig,
    rejected: Option<i64>,
    timeout: std::time::Duration,
) -> Result<AccessToken, CredentialError> {
    let (Some(token_url), Some(client_id)) = (&config.token_url, &config.client_id) else {
        return Err(internal("CLIENT_CREDENTIALS config is incomplete"));
    };
    let fingerprint = client_credentials_fingerprint(config);
    let now = state.clock.epoch_seconds();
    let cached = load(state, tenant_id, &config.meta.id)
        .await
        .map_err(internal)?;
    let previous_version = cached.as_ref().map(|(_, version)| *version);
    if let Some((record, _)) = cached {
        let usable = record.kind == TokenKind::ClientCredentials
            && record.config_fingerprint == fingerprint
            && record.expires_at - CLIENT_CREDENTIALS_MARGIN_SECONDS > now
            && rejected != Some(record.obtained_us());
        if usable {
            if let Ok(token) = open_access(state, tenant_id, &config.meta.id, &record).await {
                return Ok(token);
            }
        }
    }
    let client_secret = auth_record::client_secret(state, tenant_id, config).await?;
    let client_assertion = client_assertion::for_config(state, tenant_id, config).await?;
    if client_secret.is_none() && client_assertion.is_none() {
        return Err(internal(
            "CLIENT_CREDENTIALS config without client_secret or private_key_jwt",
        ));
    }
    let client = oauth::OAuthClient {
        token_url,
        client_id,
        client_secret: client_secret.as_ref(),
        auth: client_auth(config),
        client_assertion: client_assertion.as_ref(),
    };
    let params = oauth::TokenParams {
        scopes: config.scopes.as_deref().unwrap_or_default(),
        audience: config.audience.as_deref(),
        resource: config.resource.as_deref(),
    };
    let tokens = oauth::client_credentials(&state.http, &client, &params, timeout).await?;
    let obtained_us = state.clock.epoch_micros();
    let plaintext = seal_bundle(&tokens.access_token, None)?;
    let sealed = state
        .crypto
        .seal(&context(tenant_id, &config.meta.id), &plaintext)
        .await
        .map_err(internal)?;
    let record = TokenRecord {
        // The lifetime counts from before the request.
        expires_at: now + i64::try_from(tokens.expires_in).unwrap_or(i64::MAX / 4),
        obtained_at: now,
        granted_scopes: tokens.scopes,
        ..TokenRecord::obtained(
            TokenKind::ClientCredentials,
            Some(sealed),
            obtained_us,
            tokens.expires_in,
            fingerprint,
        )
    };
    let item = record_item(tenant_id, &config.meta.id, &record)?;
    let op = match previous_version {
        Some(expected_version) => TxOp::Update {
            item,
            expected_version,
        },
        None => TxOp::Create(item),
    };
    // Losing a race to another caller is fine: both tokens are valid; theirs is cached.
    if let Err(e) = state.store.write(op).await {
        if !matches!(e, StoreError::ConditionFailed { .. }) {
            tracing::warn!(error = %e, "caching a client-credentials token failed");
        }
    }
    Ok(AccessToken {
        token: tokens.access_token,
        obtained_at: obtained_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_record(obtained_at_us: i64) -> TokenRecord {
        let record = TokenRecord::obtained(
            TokenKind::AuthorizationCode,
            None,
            obtained_at_us,
            10,
            String::new(),
        );
        TokenRecord {
            has_refresh_token: true,
            next_refresh_at: Some(record.obtained_at + 5),
            ..record
        }
    }

    #[test]
    fn a_pass_refreshes_a_token_obtained_earlier_in_the_second_it_started() {
        let started_us = 1_700_000_000_900_000;
        let pass = Trigger::Scheduled {
            started_us,
            horizon: 1_700_000_000 + 60,
        };
        let now = 1_700_000_000;
        assert!(pass.needs_refresh(&due_record(started_us - 500_000), now));
        // Obtained at or after the start: an overlapping pass already refreshed it.
        assert!(!pass.needs_refresh(&due_record(started_us), now));
        assert!(!pass.needs_refresh(&due_record(started_us + 50), now));
        // Records written before microseconds were kept count from their whole second.
        let mut legacy = due_record(started_us - 500_000);
        legacy.obtained_at_us = 0;
        assert_eq!(legacy.obtained_us(), 1_700_000_000_000_000);
        assert!(pass.needs_refresh(&legacy, now));
    }

    #[test]
    fn back_off_doubles_honours_retry_after_and_spreads() {
        let status = |retry_after| TokenError::Status {
            status: 503,
            retry_after,
        };
        let within = |value: i64, base: i64| (base..=base + base / 4).contains(&value);
        let first: Vec<i64> = (0..64).map(|_| backoff_seconds(&status(None), 1)).collect();
        assert!(first.iter().all(|&s| within(s, 30)), "{first:?}");
        assert!(
            first.iter().any(|&s| s != first[0]),
            "64 back-offs after one failure all fell in the same second: {first:?}"
        );
        assert!(within(backoff_seconds(&status(None), 2), 60));
        assert_eq!(backoff_seconds(&status(None), 30), MAX_BACKOFF_SECONDS);
        assert!(within(backoff_seconds(&status(Some(100)), 5), 100));
    }
}
