//! Benchmark: refreshes through the planner and workers, on DynamoDB Local. N due tokens (default
//! 500, one shared AUTHORIZATION_CODE config each, spread over 10 tenants) against a token
//! endpoint on loopback that answers after a fixed latency (0.3 s, then 1 s); for W workers
//! (1, 2, 4, 8; a worker runs a batch of 10 jobs at once, as a Lambda instance on the jobs queue
//! does) every token is made due, one planner run sends the jobs, and the workers run them.
//! Prints refreshes per second for each latency and worker count, the double refreshes (a
//! refresh token presented twice; must be 0), and the workers the numbers imply for 1M and 10M
//! one-hour tokens (each refreshed every 45 minutes: 15 minutes before it expires).
//!
//!     cargo run --release -p e2e --bin bench-refresh-scale [-- TOKENS]
//!
//! Needs `STUDIO_TEST_DYNAMODB_ENDPOINT` (as the tests: `infra/scripts/test.sh` starts it).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use futures_util::StreamExt;
use serde_json::json;
use shared::{AppState, api::Principal};

/// The token endpoint's state: its latency in milliseconds, and how often each refresh token
/// was presented.
#[derive(Clone, Default)]
struct Endpoint {
    latency_ms: Arc<AtomicU64>,
    presented: Arc<Mutex<HashMap<String, u32>>>,
}

async fn token_endpoint(endpoint: Endpoint) -> String {
    let router = Router::new()
        .route(
            "/token",
            post(
                |State(endpoint): State<Endpoint>, body: String| async move {
                    let latency = endpoint.latency_ms.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(latency)).await;
                    let refresh = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(name, _)| name == "refresh_token")
                        .map(|(_, value)| value.into_owned())
                        .unwrap_or_default();
                    *endpoint
                        .presented
                        .lock()
                        .expect("lock")
                        .entry(refresh.clone())
                        .or_default() += 1;
                    Json(json!({
                        "access_token": format!("at-{refresh}"),
                        "refresh_token": format!("{refresh}+"),
                        "token_type": "Bearer",
                        "expires_in": 3600,
                    }))
                },
            ),
        )
        .with_state(endpoint);
    e2e::serve_on_loopback(router).await
}

#[tokio::main]
async fn main() {
    let tokens = e2e::arg(1, 500);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = e2e::dynamodb_state("refresh-scale", dir.path()).await;
    let endpoint = Endpoint::default();
    let idp = token_endpoint(endpoint.clone()).await;

    eprintln!("seeding {tokens} authorized configs on DynamoDB Local…");
    let seeded = futures_util::stream::iter(0..tokens)
        .map(|n| seed(&state, &idp, n))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    let mut rows = Vec::new();
    let mut per_worker = Vec::new();
    for latency_ms in [300_u64, 1_000] {
        endpoint.latency_ms.store(latency_ms, Ordering::SeqCst);
        for workers in [1_usize, 2, 4, 8] {
            make_due(&state, &seeded).await;
            // A planner ignores tokens obtained in the second it starts.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let (planned, report, wall) = e2e::work_round(&state, workers, tokens).await;
            let refreshed = report.count("refresh_token.refreshed");
            let rate = refreshed as f64 / wall;
            let doubles = endpoint
                .presented
                .lock()
                .expect("lock")
                .values()
                .filter(|&&n| n > 1)
                .count();
            assert_eq!(refreshed, tokens as u64, "{planned:?} {report:?}");
            assert_eq!(doubles, 0, "no refresh token presented twice");
            rows.push(format!(
                "| {:.1} s | {workers} | {refreshed} | {wall:.1} s | {rate:.0} | {:.0} | {doubles} |",
                latency_ms as f64 / 1000.0,
                rate / workers as f64
            ));
            per_worker.push((latency_ms, workers, rate / workers as f64));
            eprintln!("latency {latency_ms} ms, {workers} worker(s): {rate:.0} refreshes/s");
        }
    }
    println!(
        "| token latency | workers | refreshed | wall | refreshes/s | per worker | double refreshes |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    // One-hour tokens are refreshed 15 minutes before they expire: every 45 minutes.
    for (latency_ms, label) in [(300, "0.3 s"), (1_000, "1 s")] {
        // The rate one worker sustains: the lowest per-worker rate measured (the most workers).
        let rate = per_worker
            .iter()
            .filter(|(l, _, _)| *l == latency_ms)
            .map(|(_, _, r)| *r)
            .fold(f64::INFINITY, f64::min);
        for total in [1_000_000_f64, 10_000_000_f64] {
            let needed = total / 2_700.0;
            println!(
                "{label} token endpoint, {:.0}M one-hour tokens: {needed:.0} refreshes/s, {:.0} workers",
                total / 1e6,
                (needed / rate).ceil()
            );
        }
    }
}

/// Creates config `n` (tenant `bench-<n % 10>`) and stores its tokens; its tenant and id.
async fn seed(state: &AppState, idp: &str, n: usize) -> (String, String) {
    let principal = Principal::admin(format!("bench-{}", n % 10), "bench");
    let name = format!("idp {n}");
    let id =
        e2e::tokens::seed_authorized(state, &principal, idp, &name, &format!("rt-{n}"), 3600).await;
    (principal.tenant_id, id)
}

/// Makes every seeded token due now.
async fn make_due(state: &AppState, seeded: &[(String, String)]) {
    futures_util::stream::iter(seeded)
        .for_each_concurrent(16, |(tenant, id)| async move {
            shared::testing::rewrite_token(state, tenant, id, |record| {
                record.next_refresh_at = Some(time::OffsetDateTime::now_utc().unix_timestamp() - 1);
            })
            .await;
        })
        .await;
}
