//! The scheduled refresh pass against oidc-provider on loopback (short-lived tokens, rotation on),
//! on both stores: tokens near expiry are refreshed by one pass, a revoked grant becomes
//! `REAUTHORIZATION_REQUIRED` and leaves the index, a failing token endpoint keeps the tokens and
//! is retried later, a pass out of time leaves the rest due, two passes started at once (each
//! with its own store client, as two Lambda invocations) make exactly one token request per token,
//! a deleted `per_user` config's many users never delay another tenant's refresh, and a
//! `per_user` config's due users are taken a bounded number per pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use e2e::{
    Backend, TestStack,
    oidc::{self, OidcOptions, OidcProvider},
    tokens,
};
use futures_util::{StreamExt, stream};
use serde_json::json;
use shared::{
    AppState,
    api::Principal,
    clock::SystemClock,
    config::aws_config_for_endpoint,
    crypto::LocalKeyProvider,
    model::{
        auth_config::{AuthConfigView, StoredAuthConfig, TokenStatus},
        credentials, idle_tokens,
        refresh_pass::{self, PassSettings, RefreshReport},
        resource, token,
    },
    oauth::TokenSet,
    store::{DynamoStore, SqliteStore, Store},
};
use tokio::time::Instant;

/// Access-token lifetime at the provider: refreshed after half of it.
const ACCESS_TTL: u64 = 10;

struct Fixture {
    stack: TestStack,
    provider: OidcProvider,
    backend: Backend,
}

fn alice() -> Principal {
    Principal::admin("acme", "alice")
}

/// Pass settings that take every token due within a token lifetime.
fn settings() -> PassSettings {
    PassSettings {
        lookahead_seconds: i64::try_from(ACCESS_TTL).unwrap(),
        ..PassSettings::default()
    }
}

impl Fixture {
    async fn start(backend: Backend) -> Self {
        Self {
            provider: oidc::start(
                OidcOptions::default()
                    .with_access_ttl(ACCESS_TTL)
                    .rotating(),
            )
            .await,
            stack: TestStack::start(backend).await,
            backend,
        }
    }

    fn state(&self) -> &AppState {
        &self.stack.state
    }

    /// A second state on the same data with its own store client: another Lambda instance.
    async fn other_instance(&self) -> AppState {
        let clock = Arc::new(SystemClock);
        let (store, aws): (Arc<dyn Store>, _) = match self.backend {
            Backend::Sqlite => (
                Arc::new(
                    SqliteStore::open(&self.stack.dir.path().join("studio.db"), clock).unwrap(),
                ),
                aws_config_for_endpoint("http://127.0.0.1:9").await,
            ),
            Backend::DynamoDb | Backend::Rehearsal => {
                let aws = e2e::dynamodb_local().await;
                let table = self.stack.table.as_deref().unwrap();
                (Arc::new(DynamoStore::from_sdk(&aws, table, clock)), aws)
            }
        };
        let keys = Arc::new(
            LocalKeyProvider::load_or_create(&self.stack.dir.path().join("master.key")).unwrap(),
        );
        AppState::local(store, keys, &aws, true).unwrap()
    }

    /// Creates an AUTHORIZATION_CODE config and authorizes it (login and consent over HTTP).
    async fn authorized_config(&self, name: String) -> String {
        tokens::authorized_config(self.state(), &self.provider, &alice(), &name, None).await
    }

    async fn authorized_configs(&self, n: usize) -> Vec<String> {
        let ids: Vec<String> = stream::iter(0..n)
            .map(|i| self.authorized_config(format!("provider-{i}")))
            .buffer_unordered(8)
            .collect()
            .await;
        // No pause: a pass started right after the authorizations (usually in the same second)
        // still refreshes their tokens; it skips only tokens obtained after it started.
        ids
    }

    async fn pass(&self, state: &AppState, settings: &PassSettings) -> RefreshReport {
        refresh_pass::run(state, settings, Instant::now() + Duration::from_secs(60)).await
    }

    async fn refresh_requests(&self) -> u64 {
        let stats = self.provider.stats().await;
        stats.by_grant.get("refresh_token").copied().unwrap_or(0)
    }

    async fn view(&self, id: &str) -> AuthConfigView {
        resource::get::<StoredAuthConfig>(self.state(), &alice(), id)
            .await
            .unwrap()
    }

    /// Moves a token's next refresh to now, and ends any back-off of its client at its token
    /// endpoint (the back-off has passed).
    async fn due_now(&self, id: &str) {
        tokens::rewrite_token(self.state(), "acme", id, |record| {
            record.next_refresh_at = Some(tokens::now() - 1);
        })
        .await;
        let view = self.view(id).await;
        let key = shared::model::provider_backoff::key(
            "acme",
            view.token_url.as_deref().unwrap(),
            view.client_id.as_deref().unwrap(),
        );
        let ended = shared::store::TxOp::Delete {
            pk: key,
            sk: "BACKOFF".into(),
            condition: shared::store::Condition::None,
        };
        self.state().store.write(ended).await.unwrap();
    }
}

async fn near_expiry_tokens_are_refreshed_by_one_pass(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let ids = fx.authorized_configs(5).await;
    let before = fx.refresh_requests().await;
    let old: Vec<_> = futures_util::future::join_all(ids.iter().map(|id| fx.view(id))).await;

    // Out of time before it starts: nothing is refreshed and everything stays due.
    let late = refresh_pass::run(fx.state(), &settings(), Instant::now()).await;
    assert_eq!(
        (late.due, late.deferred, late.refreshed),
        (5, 5, 0),
        "{late:?}"
    );
    assert_eq!(fx.refresh_requests().await, before);

    let report = fx.pass(fx.state(), &settings()).await;
    assert_eq!(
        report,
        RefreshReport {
            due: 5,
            refreshed: 5,
            elapsed_ms: report.elapsed_ms,
            ..RefreshReport::default()
        }
    );
    assert_eq!(fx.refresh_requests().await - before, 5);
    for (id, old) in ids.iter().zip(old) {
        let view = fx.view(id).await;
        assert_eq!(view.token_status, Some(TokenStatus::Valid));
        assert!(view.last_refresh_at.is_some(), "{view:?}");
        assert!(view.token_expires_at >= old.token_expires_at);
        assert!(view.next_refresh_at >= old.next_refresh_at);
        assert_eq!(view.last_refresh_error, None);
        // The refreshed token is the one the next MCP request carries.
        let (config, _) = resource::load::<StoredAuthConfig>(fx.state(), &alice().tenant_id, id)
            .await
            .unwrap();
        let credentials = credentials::credential_headers(
            fx.state(),
            "acme",
            &alice().user_id,
            &config,
            &url::Url::parse("http://127.0.0.1/mcp").unwrap(),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert!(credentials.headers.contains_key("authorization"));
    }
    // Nothing is due now: the new tokens are refreshed at half their lifetime.
    let now_only = PassSettings {
        lookahead_seconds: 0,
        ..settings()
    };
    let again = fx.pass(fx.state(), &now_only).await;
    assert_eq!(again.due, 0, "{again:?}");
    assert_eq!(fx.refresh_requests().await - before, 5);
}

/// A receiver that keeps every delivery's body (signatures are verified elsewhere).
async fn event_receiver() -> (String, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(event): axum::Json<serde_json::Value>| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push(event);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    (format!("{}/hook", e2e::serve_on_loopback(app).await), seen)
}

async fn a_revoked_grant_needs_reauthorization_and_leaves_the_index(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let ids = fx.authorized_configs(2).await;
    let (hook_url, seen) = event_receiver().await;
    let hook =
        serde_json::json!({"url": hook_url, "events": ["auth_config.reauthorization_required"]});
    let (status, created) = fx.stack.post("/config/webhook", hook).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    fx.provider.revoke_all().await;

    let report = fx.pass(fx.state(), &settings()).await;
    assert_eq!(
        (
            report.due,
            report.reauthorization_required,
            report.refreshed
        ),
        (2, 2, 0),
        "{report:?}"
    );
    for id in &ids {
        let view = fx.view(id).await;
        assert_eq!(
            view.token_status,
            Some(TokenStatus::ReauthorizationRequired)
        );
        assert!(
            view.last_refresh_error
                .as_deref()
                .is_some_and(|e| e.starts_with("invalid_grant")),
            "{view:?}"
        );
        assert_eq!(view.next_refresh_at, None);
    }
    let far_ahead = PassSettings {
        lookahead_seconds: 3600,
        ..settings()
    };
    let again = fx.pass(fx.state(), &far_ahead).await;
    assert_eq!(again.due, 0, "out of the refresh index: {again:?}");
    // Each revoked grant is one event, delivered to the tenant's webhook.
    let mut events: Vec<(String, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["auth_config_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    events.sort();
    let mut expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            (
                "auth_config.reauthorization_required".to_owned(),
                id.clone(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(events, expected);
}

async fn a_failing_token_endpoint_keeps_the_tokens_and_is_retried_later(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let ids = fx.authorized_configs(1).await;
    let id = &ids[0];
    let before = fx.view(id).await;
    fx.provider.fail_token_requests(1).await;

    let report = fx.pass(fx.state(), &settings()).await;
    assert_eq!(
        (report.due, report.transient_failures, report.refreshed),
        (1, 1, 0),
        "{report:?}"
    );
    let failed = fx.view(id).await;
    assert_eq!(
        failed.token_status,
        Some(TokenStatus::Valid),
        "the tokens are kept"
    );
    assert_eq!(failed.token_expires_at, before.token_expires_at);
    assert!(failed.last_refresh_error.is_some());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (record, _) = token::load(fx.state(), "acme", id).await.unwrap().unwrap();
    assert!(
        record.next_refresh_at.is_some_and(|at| at >= now + 20),
        "backed off: {record:?}"
    );
    // The back-off holds even for a pass that looks ahead.
    let during_backoff = fx.pass(fx.state(), &settings()).await;
    assert_eq!(during_backoff.refreshed, 0, "{during_backoff:?}");

    // Once the back-off has passed, the next pass refreshes with the kept refresh token.
    fx.due_now(id).await;
    let retried = fx.pass(fx.state(), &settings()).await;
    assert_eq!((retried.due, retried.refreshed), (1, 1), "{retried:?}");
    let view = fx.view(id).await;
    assert_eq!(view.last_refresh_error, None);
    assert!(view.last_refresh_at.is_some());
    assert_eq!(fx.provider.stats().await.refresh_failures, 0);
}

async fn two_passes_at_once_refresh_each_token_once(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let ids = fx.authorized_configs(100).await;
    let other = fx.other_instance().await;
    let before = fx.provider.stats().await;

    // Two instances at once, each on its own task (as two Lambdas run): both start before either
    // has refreshed anything. (Polled in one task, the first pass could finish refreshes before
    // the second even starts, and a pass rightly refreshes a due token obtained before it began.)
    let budget_end = Instant::now() + Duration::from_secs(60);
    let [a, b] = [fx.state().clone(), other].map(|state| {
        tokio::spawn(async move { refresh_pass::run(&state, &settings(), budget_end).await })
    });
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let after = fx.provider.stats().await;
    let refreshes = after.by_grant["refresh_token"] - before.by_grant["refresh_token"];
    assert_eq!(refreshes, 100, "one token request per token: {a:?} {b:?}");
    assert_eq!(a.refreshed + b.refreshed, 100, "{a:?} {b:?}");
    assert_eq!(after.refresh_failures, before.refresh_failures);
    for report in [&a, &b] {
        assert_eq!(
            report.refreshed + report.skipped_locked + report.not_needed,
            report.due,
            "{report:?}"
        );
        assert_eq!(report.errors + report.transient_failures + report.failed, 0);
    }
    // Rotation is on: a second use of any refresh token would have revoked its grant.
    let views = futures_util::future::join_all(ids.iter().map(|id| fx.view(id))).await;
    assert!(
        views
            .iter()
            .all(|v| v.token_status == Some(TokenStatus::Valid) && v.last_refresh_at.is_some()),
        "every grant intact and refreshed"
    );
}

async fn a_refresh_whose_store_write_fails_first_keeps_the_new_tokens(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let id = fx.authorized_config("flaky store".into()).await;
    // The lease write passes, the fenced write of the refreshed tokens fails once.
    let faulty = Arc::new(shared::testing::FaultyStore::scripted(
        Arc::clone(&fx.state().store),
        &[false, true],
    ));
    let mut state = fx.state().clone();
    state.store = faulty.clone();
    let report = fx.pass(&state, &settings()).await;
    assert_eq!(report.refreshed, 1, "{report:?}");
    assert!(faulty.script_done(), "the refresh wrote twice");
    let view = fx.view(&id).await;
    assert_eq!(view.token_status, Some(TokenStatus::Valid));
    assert!(
        view.last_refresh_at.is_some(),
        "the retried write stored the tokens: {view:?}"
    );

    // Rotation is on: only the new refresh token works now. Had it been lost, this refresh would
    // present the old one, and the provider would revoke the grant.
    fx.due_now(&id).await;
    let before = fx.provider.stats().await;
    let again = fx.pass(fx.state(), &settings()).await;
    assert_eq!(again.refreshed, 1, "{again:?}");
    assert_eq!(
        fx.provider.stats().await.refresh_failures,
        before.refresh_failures
    );
    assert_eq!(fx.view(&id).await.token_status, Some(TokenStatus::Valid));
}

/// Creates a `per_user` config of `principal`'s tenant at the provider, with `users` connected
/// (their tokens stored as a callback stores them, but unknown to the provider), all due an hour
/// ago.
async fn per_user_config_with_users(fx: &Fixture, principal: &Principal, users: usize) -> String {
    let token_url = fx.provider.token_endpoint();
    per_user_config_at(fx, principal, users, &token_url, "web-app").await
}

/// Like [`per_user_config_with_users`], with the client `client_id` at `token_url`.
async fn per_user_config_at(
    fx: &Fixture,
    principal: &Principal,
    users: usize,
    token_url: &str,
    client_id: &str,
) -> String {
    let state = fx.state();
    let body = json!({
        "name": format!("team login {client_id}"),
        "auth_type": "AUTHORIZATION_CODE",
        "authorization_url": fx.provider.authorization_endpoint(),
        "token_url": token_url,
        "client_id": client_id,
        "client_secret": "web-secret",
        "token_endpoint_auth_method": "client_secret_post",
        "allowed_redirect_uris": [e2e::tokens::REDIRECT_URI],
        "connection_mode": "per_user",
    });
    let id = resource::create::<StoredAuthConfig>(state, principal, body)
        .await
        .unwrap()
        .meta
        .id;
    let (config, _) = resource::load::<StoredAuthConfig>(state, &principal.tenant_id, &id)
        .await
        .unwrap();
    stream::iter(0..users)
        .for_each_concurrent(8, |i| {
            let config = &config;
            let tenant = principal.tenant_id.as_str();
            async move {
                let user = format!("user-{i}");
                let tokens = TokenSet {
                    access_token: format!("access-{i}").into(),
                    refresh_token: Some(format!("refresh-{i}").into()),
                    expires_in: 3600,
                    scopes: None,
                };
                let owner = token::TokenOwner::of(config, &user);
                token::store_authorized(state, tenant, &owner, tokens, None)
                    .await
                    .unwrap();
                tokens::rewrite_token(state, tenant, &owner.record_id(), |record| {
                    record.next_refresh_at = Some(tokens::now() - 3600);
                })
                .await;
            }
        })
        .await;
    id
}

async fn a_deleted_per_user_config_never_delays_another_tenants_refresh(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let globex = Principal::admin("globex", "gina");
    let crowded = per_user_config_with_users(&fx, &globex, 48).await;
    // Acme's token falls due after every one of them.
    let live = fx.authorized_config("live".into()).await;
    fx.due_now(&live).await;
    resource::delete::<StoredAuthConfig>(fx.state(), &globex, &crowded, None)
        .await
        .unwrap();

    // One entry read per shard and pass: the first pass refreshes Acme's token, reading none of
    // the deleted config's 48 users (whose items wait for the sweep, out of the index).
    let one_each = PassSettings {
        max_per_shard: 1,
        ..settings()
    };
    let before = fx.refresh_requests().await;
    let report = fx.pass(fx.state(), &one_each).await;
    assert_eq!((report.due, report.refreshed), (1, 1), "{report:?}");
    assert_eq!(fx.refresh_requests().await, before + 1);
    assert!(fx.view(&live).await.last_refresh_at.is_some());
}

async fn a_per_user_configs_due_users_are_taken_a_bounded_number_per_pass(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let id = per_user_config_with_users(&fx, &alice(), 5).await;
    let two_each = PassSettings {
        max_per_config: 2,
        ..settings()
    };
    // The provider does not know these refresh tokens: each refresh ends the user's grant, and
    // takes the token out of the index. Two users per pass, the config's wake due again at once
    // while users are left, and quiet once none are.
    let mut handled = Vec::new();
    for _ in 0..4 {
        let report = fx.pass(fx.state(), &two_each).await;
        assert_eq!(report.due, report.reauthorization_required, "{report:?}");
        handled.push(report.due);
    }
    assert_eq!(handled, [2, 2, 1, 0]);
    let (connected, _) = token::load(fx.state(), "acme", &format!("{id}#user-0"))
        .await
        .unwrap()
        .unwrap();
    assert!(connected.reauthorization_required);
}

async fn idle_users_tokens_wait_for_their_next_use_or_their_keep_alive(backend: Backend) {
    let fx = Fixture::start(backend).await;
    let id = per_user_config_with_users(&fx, &alice(), 4).await;
    let (state, day) = (fx.state(), 24 * 3600);
    // Three users last used their connection two days ago; the fourth just connected.
    for i in 0..3 {
        tokens::rewrite_token(state, "acme", &format!("{id}#user-{i}"), |record| {
            record.last_used_at = Some(tokens::now() - 2 * day);
        })
        .await;
    }
    let report = fx.pass(state, &settings()).await;
    assert_eq!(
        (report.due, report.parked, report.reauthorization_required),
        (4, 3, 1),
        "only the user in use is refreshed (the provider ends this made-up grant): {report:?}"
    );
    let (parked, _) = token::load(state, "acme", &format!("{id}#user-0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        parked.next_refresh_at,
        Some(parked.obtained_at + idle_tokens::KEEPALIVE_SECONDS)
    );
    assert!(parked.sealed.is_some(), "the tokens stay");
    assert_eq!(fx.pass(state, &settings()).await.due, 0);

    // At its keep-alive time an idle token is refreshed once more.
    tokens::rewrite_token(state, "acme", &format!("{id}#user-1"), |record| {
        record.obtained_at = tokens::now() - idle_tokens::KEEPALIVE_SECONDS - 1;
        record.obtained_at_us = 0;
        record.next_refresh_at = Some(tokens::now() - 1);
    })
    .await;
    let kept = fx.pass(state, &settings()).await;
    assert_eq!(
        (kept.due, kept.parked, kept.reauthorization_required),
        (1, 0, 1),
        "{kept:?}"
    );
}

async fn a_client_its_provider_answers_429_is_backed_off_as_a_whole(backend: Backend) {
    let fx = Fixture::start(backend).await;
    // A token endpoint that answers every request 429 (retry in two minutes), counting them.
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let busy = axum::Router::new().route(
        "/token",
        axum::routing::post(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {
                (
                    http::StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "120")],
                    "",
                )
            }
        }),
    );
    let token_url = format!("{}/token", e2e::serve_on_loopback(busy).await);
    let crowded = per_user_config_at(&fx, &alice(), 30, &token_url, "busy-client").await;
    per_user_config_at(&fx, &alice(), 1, &token_url, "other-client").await;
    // Another tenant naming the same client id (client ids are not secret) at the same endpoint.
    let globex = Principal::admin("globex", "gina");
    per_user_config_at(&fx, &globex, 1, &token_url, "busy-client").await;

    let settings = PassSettings {
        concurrency: 4,
        per_endpoint: 2,
        ..settings()
    };
    let report = fx.pass(fx.state(), &settings).await;
    let requests = hits.load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert_eq!(report.due, 32, "{report:?}");
    assert_eq!(report.transient_failures, requests, "{report:?}");
    assert_eq!(
        report.transient_failures + report.backed_off,
        32,
        "{report:?}"
    );
    // The busy client: only what was under way when its first 429 came back (at most the two a
    // pass runs at once against one endpoint). Neither the other client at the same endpoint nor
    // the other tenant's config of the same client id is held back by it: each made its own
    // request.
    assert!(
        (3..=4).contains(&requests),
        "{requests} requests: {report:?}"
    );

    // Moved past the back-off (two minutes and up to a quarter more), spread over a quarter of
    // it: not due again.
    let (moved, _) = token::load(fx.state(), "acme", &format!("{crowded}#user-29"))
        .await
        .unwrap()
        .unwrap();
    let at = moved.next_refresh_at.unwrap() - tokens::now();
    assert!((110..=200).contains(&at), "next refresh in {at} s");
    let again = fx.pass(fx.state(), &settings).await;
    assert_eq!(again.due, 0, "{again:?}");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst) as u64,
        requests
    );
}

async fn planned_refreshes_run_once_however_often_their_jobs_arrive(backend: Backend) {
    use shared::work::{
        self,
        local::{self, LocalQueue, WorkerLimits},
        planner::{self, PlanSettings},
    };
    let fx = Fixture::start(backend).await;
    let ids = fx.authorized_configs(10).await;
    let team = per_user_config_with_users(&fx, &alice(), 5).await;
    let ctx = work::Context::new(
        fx.state().clone(),
        settings(),
        shared::model::server_checks::HealthSettings::default(),
    );
    // Two planners at once: every due entry is sent once, by one of them.
    let (first, second) = (LocalQueue::default(), LocalQueue::default());
    let plan = PlanSettings::default();
    let (a, b) = futures_util::join!(
        planner::plan(&ctx, &plan, &first),
        planner::plan(&ctx, &plan, &second)
    );
    let mut messages = first.take();
    messages.extend(second.take());
    assert_eq!(messages.len(), 15, "{a:?} {b:?}");
    let sent = |r: &planner::PlanReport| r.sent.get("refresh_token").copied().unwrap_or(0);
    assert_eq!(sent(&a) + sent(&b), 15);

    // Every job delivered twice: each token is refreshed once.
    let twice: Vec<_> = messages.iter().chain(&messages).cloned().collect();
    let before = fx.refresh_requests().await;
    let end = Instant::now() + Duration::from_secs(60);
    let report = local::run(&ctx, twice, &WorkerLimits::default(), end).await;
    assert_eq!(report.count("refresh_token.refreshed"), 10, "{report:?}");
    // The team's users hold made-up grants: refreshing them ends them, once each.
    assert_eq!(
        report.count("refresh_token.reauthorization_required"),
        5,
        "{report:?}"
    );
    let repeats = ["moved", "locked", "not_needed"]
        .map(|o| report.count(&format!("refresh_token.{o}")))
        .iter()
        .sum::<u64>();
    assert_eq!(repeats, 15, "{report:?}");
    assert_eq!(report.failed, 0);
    assert_eq!(
        fx.refresh_requests().await - before,
        15,
        "one token request per token"
    );
    let views = futures_util::future::join_all(ids.iter().map(|id| fx.view(id))).await;
    assert!(
        views
            .iter()
            .all(|v| v.token_status == Some(TokenStatus::Valid))
    );
    let (gone, _) = token::load(fx.state(), "acme", &format!("{team}#user-4"))
        .await
        .unwrap()
        .unwrap();
    assert!(gone.reauthorization_required);

    // Nothing is due any more (the new 10-second tokens are not yet: looking no further ahead
    // than now), and the next planner sends nothing.
    let now_only = work::Context::new(
        fx.state().clone(),
        PassSettings {
            lookahead_seconds: 0,
            ..settings()
        },
        shared::model::server_checks::HealthSettings::default(),
    );
    let (again, worked) =
        planner::plan_and_run(&now_only, &plan, &WorkerLimits::default(), end).await;
    assert!(again.sent.is_empty(), "{again:?} {worked:?}");
}

e2e::on_both_stores!(
    planned_refreshes_run_once_however_often_their_jobs_arrive,
    a_client_its_provider_answers_429_is_backed_off_as_a_whole,
    idle_users_tokens_wait_for_their_next_use_or_their_keep_alive,
    a_deleted_per_user_config_never_delays_another_tenants_refresh,
    a_per_user_configs_due_users_are_taken_a_bounded_number_per_pass,
    near_expiry_tokens_are_refreshed_by_one_pass,
    a_revoked_grant_needs_reauthorization_and_leaves_the_index,
    a_failing_token_endpoint_keeps_the_tokens_and_is_retried_later,
    two_passes_at_once_refresh_each_token_once,
    a_refresh_whose_store_write_fails_first_keeps_the_new_tokens,
);
