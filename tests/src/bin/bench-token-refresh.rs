//! Benchmark: one scheduled refresh pass over N due tokens (default 10,000) against a token
//! endpoint on loopback that answers after 50 ms, on the embedded store. Every token belongs to
//! its own AUTHORIZATION_CODE config with an inline client secret (the costliest case: the secret
//! is decrypted too). Counts key-provider calls during the pass and how often each refresh token
//! was presented (a double refresh would present one twice). Prints wall time, refreshes/s,
//! key-provider calls per refresh and double refreshes.
//!
//!     cargo run --release -p e2e --bin bench-token-refresh [-- TOKENS [CONCURRENCY [PER_ENDPOINT]]]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};
use shared::{
    api::Principal,
    model::refresh_pass::{self, PassSettings},
    testing::{CountingKeys, local_state_with_keys},
};

/// Latency of every token response.
const TOKEN_LATENCY: Duration = Duration::from_millis(50);

/// Refresh tokens presented, and how often each.
type Presented = Arc<Mutex<HashMap<String, u32>>>;

async fn token_endpoint(presented: Presented) -> String {
    let router = Router::new()
        .route(
            "/token",
            post(
                |State(presented): State<Presented>, body: String| async move {
                    tokio::time::sleep(TOKEN_LATENCY).await;
                    let refresh = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(name, _)| name == "refresh_token")
                        .map(|(_, value)| value.into_owned())
                        .unwrap_or_default();
                    let generation = {
                        let mut seen = presented.lock().expect("lock");
                        let count = seen.entry(refresh.clone()).or_default();
                        *count += 1;
                        *count
                    };
                    Json(json!({
                        "access_token": format!("at-{refresh}-{generation}"),
                        "refresh_token": format!("{refresh}-next"),
                        "token_type": "Bearer",
                        "expires_in": 3600,
                    }))
                },
            ),
        )
        .with_state(presented);
    e2e::serve_on_loopback(router).await
}

#[tokio::main]
async fn main() {
    let tokens = e2e::arg(1, 10_000);
    let concurrency = e2e::arg(2, 16);
    let per_endpoint = e2e::arg(3, PassSettings::default().per_endpoint);
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = CountingKeys::in_dir(dir.path());
    let state = local_state_with_keys(dir.path(), true, keys.clone()).await;
    let presented: Presented = Arc::default();
    let idp = token_endpoint(Arc::clone(&presented)).await;

    eprintln!("seeding {tokens} authorized configs…");
    let seeding = Instant::now();
    let principal = Principal::admin("bench", "bench");
    for n in 0..tokens {
        // A 60-second token: due after half its lifetime, well inside the pass's lookahead.
        let (name, refresh) = (format!("idp {n}"), format!("rt-{n}"));
        e2e::tokens::seed_authorized(&state, &principal, &idp, &name, &refresh, 60).await;
    }
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());
    // A pass ignores tokens obtained in the second it starts.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    keys.reset();
    let settings = PassSettings {
        concurrency,
        per_endpoint,
        ..PassSettings::default()
    };
    let started = Instant::now();
    let report = refresh_pass::run(
        &state,
        &settings,
        tokio::time::Instant::now() + Duration::from_secs(285),
    )
    .await;
    let wall = started.elapsed();

    let calls = keys.calls();
    let seen = presented.lock().expect("lock");
    let requests: u64 = seen.values().map(|&n| u64::from(n)).sum();
    let doubles = seen.values().filter(|&&n| n > 1).count();
    let refreshed = report.refreshed.max(1);
    let summary: Value = json!({
        "tokens": tokens,
        "concurrency": concurrency,
        "per_endpoint": per_endpoint,
        "token_latency_ms": TOKEN_LATENCY.as_millis(),
        "wall_s": (wall.as_secs_f64() * 100.0).round() / 100.0,
        "refreshes_per_s": (report.refreshed as f64 / wall.as_secs_f64()).round(),
        "key_provider_calls": calls,
        "key_provider_calls_per_refresh": calls as f64 / refreshed as f64,
        "generate_data_key_calls": keys.generated(),
        "token_requests": requests,
        "double_refreshes": doubles,
        "report": report,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).expect("summary")
    );
    assert_eq!(report.refreshed, tokens as u64, "every token refreshed");
    assert_eq!(doubles, 0, "no refresh token presented twice");
}
