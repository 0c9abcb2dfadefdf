//! Benchmark: the same tool called directly on its MCP server and through an agent's MCP
//! endpoint, warm, on loopback: the whole API in-process on the embedded store, the server being
//! the conformance suite's test server (`test_simple_text`, no credentials). Each call is one
//! `tools/call` request of the 2025-11-25 revision without a session, as a session-less client
//! sends it (to the endpoint, and to the server). Prints p50 and p99 of each, their ratio and
//! difference, after a warm-up. Then the memory of open sessions: sessions opened (each one
//! store item, nothing in memory) and session streams held open (each a task and a
//! connection), as the growth of the process's resident memory per session or stream.
//!
//!     cargo run --release -p e2e --bin bench-gateway [-- CALLS]

use std::time::{Duration, Instant};

use e2e::{Backend, TestStack, conformance_upstream};
use serde_json::{Value, json};

/// Calls made before measuring, on each path.
const WARM_UP: usize = 50;

/// Sends one `tools/call` of `test_simple_text` to `url` (with `token`, if any); panics unless it
/// succeeded.
async fn call(http: &reqwest::Client, url: &str, token: Option<&str>) {
    let mut request = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "test_simple_text", "arguments": {}}}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.expect("an answer");
    assert!(answer.status().is_success(), "{}", answer.status());
    let text = answer.text().await.expect("a body");
    let body = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .chain(std::iter::once(text.as_str()))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .expect("a JSON-RPC answer");
    assert!(body["result"]["content"].is_array(), "{body}");
}

/// `calls` timed calls after the warm-up, sorted.
async fn measure(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    calls: usize,
) -> Vec<Duration> {
    for _ in 0..WARM_UP {
        call(http, url, token).await;
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call(http, url, token).await;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let calls = e2e::arg(1, 500);
    let stack = TestStack::start(Backend::Sqlite).await;
    let upstream = conformance_upstream::start().await;
    let server = stack.mcp_server("bench", &upstream).await;
    let agent = stack.agent_using(&[&server]).await;
    let token = stack.api_token("acme", "bench").await;
    let endpoint = format!("{}/mcp/agents/{agent}", stack.api);
    let http = reqwest::Client::new();

    let direct = measure(&http, &upstream, None, calls).await;
    let through = measure(&http, &endpoint, Some(&token), calls).await;
    println!("{calls} calls each, after {WARM_UP} to warm up");
    for (what, times) in [("direct", &direct), ("through the endpoint", &through)] {
        println!(
            "{what:>22}: p50 {:7.2} ms  p99 {:7.2} ms",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99))
        );
    }
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (a, b) = (percentile(&direct, p), percentile(&through, p));
        println!(
            "{name}: {:.2}x, +{:.2} ms (target p50: at most 1.2x + 2 ms)",
            ms(b) / ms(a),
            ms(b) - ms(a)
        );
    }

    // Sessions: `initialize` answered with an Mcp-Session-Id, then nothing.
    const OPEN: usize = 500;
    let before = resident_kib();
    let mut sessions = Vec::with_capacity(OPEN);
    for _ in 0..OPEN {
        sessions.push(initialize(&http, &endpoint, &token).await);
    }
    let after_sessions = resident_kib();
    // Their streams, each held open once its first look is in.
    let mut streams = Vec::with_capacity(OPEN);
    for session in &sessions {
        let mut stream = http
            .get(&endpoint)
            .bearer_auth(&token)
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", session)
            .header("MCP-Protocol-Version", "2025-11-25")
            .send()
            .await
            .expect("a stream")
            .bytes_stream();
        use futures_util::StreamExt;
        stream.next().await.expect("a first look").expect("bytes");
        streams.push(stream);
    }
    let after_streams = resident_kib();
    let per = |from: u64, to: u64| (to.saturating_sub(from) as f64) * 1024.0 / OPEN as f64;
    println!(
        "{OPEN} sessions opened: {:.0} bytes of resident memory each (a session is one store item)",
        per(before, after_sessions)
    );
    println!(
        "{OPEN} session streams open: {:.0} bytes of resident memory each (the endpoint's task \
         and both ends of its loopback connection)",
        per(after_sessions, after_streams)
    );
    drop(streams);
}

/// Opens a session of the 2025 revisions at `url`; its id.
async fn initialize(http: &reqwest::Client, url: &str, token: &str) -> String {
    let answer = http
        .post(url)
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}}))
        .send()
        .await
        .expect("an answer");
    answer.headers()["mcp-session-id"]
        .to_str()
        .expect("a session id")
        .to_owned()
}

/// The process's resident memory (`VmRSS`), in KiB.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
