//! Benchmark: one `per_user` auth config with N connected users (default 100,000) on the
//! embedded store. Seeds the users' tokens through the same write a callback makes, then
//! measures what must stay fast whatever N is: reading the config as a user (the caller's token
//! state and the user count), listing configs, deleting the config (one transaction), and the
//! scheduled sweep that revokes and deletes the users' tokens afterwards (tokens per second).
//!
//!     cargo run --release -p e2e --bin bench-per-user [-- USERS]

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;
use shared::{
    api::Principal,
    model::{
        auth_config::StoredAuthConfig,
        resource::{self, ListParams},
        token, user_connections,
    },
    oauth::TokenSet,
    testing::local_state,
};

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let users = e2e::arg(1, 100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = local_state(dir.path(), true).await;
    let alice = Principal::admin("bench", "user-0");
    let view = resource::create::<StoredAuthConfig>(
        &state,
        &alice,
        json!({
            "name": "per user", "auth_type": "AUTHORIZATION_CODE", "connection_mode": "per_user",
            "authorization_url": "https://idp.example.com/authorize",
            "token_url": "https://idp.example.com/token", "client_id": "bench-client",
            "allowed_redirect_uris": ["https://app.example.com/oauth/callback"],
        }),
    )
    .await
    .expect("create");
    let id = view.meta.id.clone();
    let (config, _) = resource::load::<StoredAuthConfig>(&state, "bench", &id)
        .await
        .expect("load");

    eprintln!("connecting {users} users…");
    let seeding = Instant::now();
    for n in 0..users {
        let user = format!("user-{n}");
        let owner = token::TokenOwner {
            config: &config,
            user_id: Some(&user),
        };
        let set = TokenSet {
            access_token: SecretString::from(format!("at-{n}")),
            refresh_token: Some(SecretString::from(format!("rt-{n}"))),
            expires_in: 3600,
            scopes: None,
        };
        token::store_authorized(&state, "bench", &owner, set, None)
            .await
            .expect("store tokens");
    }
    let seeded = seeding.elapsed();
    let count = user_connections::connected_users(&state, "bench", &id)
        .await
        .expect("count");
    assert_eq!(count as usize, users, "every user counted once");

    let mut reads = Vec::new();
    for n in 0..200 {
        let reader = Principal::admin("bench", format!("user-{}", n * 7 % users.max(1)));
        let started = Instant::now();
        let view = resource::get::<StoredAuthConfig>(&state, &reader, &id)
            .await
            .expect("read");
        reads.push(started.elapsed());
        assert_eq!(view.connected_users, Some(count));
    }
    let mut lists = Vec::new();
    for _ in 0..50 {
        let params = ListParams {
            limit: 50,
            start_after: None,
        };
        let started = Instant::now();
        resource::list::<StoredAuthConfig>(&state, &alice, &params)
            .await
            .expect("list");
        lists.push(started.elapsed());
    }
    let started = Instant::now();
    resource::delete::<StoredAuthConfig>(&state, &alice, &id, None)
        .await
        .expect("delete");
    let delete = started.elapsed();
    let started = Instant::now();
    let mut swept = 0;
    while swept < users as u64 {
        let report = user_connections::sweep(
            &state,
            tokio::time::Instant::now() + Duration::from_secs(60),
        )
        .await;
        assert!(
            report.tokens_deleted > 0 || users == 0,
            "the sweep made progress"
        );
        swept += report.tokens_deleted;
    }
    let sweep = started.elapsed();

    println!("| measure ({users} connected users, SQLite) | value |");
    println!("|---|---|");
    println!(
        "| seeding (one callback write per user) | {:.1} s ({:.0} users/s) |",
        seeded.as_secs_f64(),
        users as f64 / seeded.as_secs_f64()
    );
    println!(
        "| read the config as a user (median of 200) | {:.3} ms |",
        median_ms(reads)
    );
    println!(
        "| list configs, page of 50 (median of 50) | {:.3} ms |",
        median_ms(lists)
    );
    println!(
        "| delete the config | {:.2} ms |",
        delete.as_secs_f64() * 1e3
    );
    println!(
        "| sweep every user's tokens | {:.1} s ({:.0} tokens/s) |",
        sweep.as_secs_f64(),
        users as f64 / sweep.as_secs_f64()
    );
}
