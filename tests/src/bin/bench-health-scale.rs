//! Benchmark: health checks through the planner and workers, on DynamoDB Local. N servers (default
//! 300, over 10 tenants) on an MCP server that takes 100 ms over every request (a check is an
//! initialize, a tools/list and the session's end: about 0.4 s); for W workers (1, 2, 4, 8; a
//! worker runs a batch of 10 jobs at once) every server is made due, one planner run sends the
//! jobs and the workers check them. Prints checks per second per worker count, the process's
//! peak memory after each round (what the planner and the queue hold does not grow with the due
//! servers: the planner holds one index page, a job one server), and the workers 100k servers
//! every 15 minutes (111 checks/s) imply.
//!
//!     cargo run --release -p e2e --bin bench-health-scale [-- SERVERS]
//!
//! Needs `STUDIO_TEST_DYNAMODB_ENDPOINT` (as the tests: `infra/scripts/test.sh` starts it).

use futures_util::StreamExt;
use serde_json::json;
use shared::{
    AppState,
    api::Principal,
    model::{mcp_server::StoredMcpServer, resource},
};

/// The process's peak resident memory so far, in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let servers = e2e::arg(1, 300);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = e2e::dynamodb_state("health-scale", dir.path()).await;
    let url = format!("{}/steady", e2e::hostile::start().await);

    eprintln!("creating {servers} server configs (each tested once)…");
    let created: Vec<(String, String)> = futures_util::stream::iter(0..servers)
        .map(|n| {
            let (state, url) = (&state, &url);
            async move {
                let principal = Principal::admin(format!("bench-{}", n % 10), format!("user-{n}"));
                let body = json!({"name": format!("s{n}"), "url": url, "timeout_seconds": 10});
                let view = resource::create::<StoredMcpServer>(state, &principal, body)
                    .await
                    .expect("create");
                (principal.tenant_id, view.meta.id)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    let mut rows = Vec::new();
    let mut slowest = f64::INFINITY;
    for workers in [1_usize, 2, 4, 8] {
        make_due(&state, &created).await;
        let (planned, report, wall) = e2e::work_round(&state, workers, servers).await;
        let checked = report.count("check_server.healthy");
        assert_eq!(checked, servers as u64, "{planned:?} {report:?}");
        let rate = checked as f64 / wall;
        slowest = slowest.min(rate / workers as f64);
        rows.push(format!(
            "| {workers} | {checked} | {wall:.1} s | {rate:.0} | {:.0} | {:.0} MiB |",
            rate / workers as f64,
            peak_rss_mib()
        ));
        eprintln!("{workers} worker(s): {rate:.0} checks/s");
    }
    println!("| workers | checked | wall | checks/s | per worker | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    let needed = 100_000.0 / 900.0;
    println!(
        "100k servers every 15 minutes: {needed:.0} checks/s, {:.0} workers at the lowest rate per worker measured",
        (needed / slowest).ceil()
    );
}

/// Makes every server's check due now.
async fn make_due(state: &AppState, created: &[(String, String)]) {
    futures_util::stream::iter(created)
        .for_each_concurrent(16, |(tenant, id)| e2e::make_check_due(state, tenant, id))
        .await;
}
