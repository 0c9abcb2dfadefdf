//! Benchmark: the time to decide one tool call by a tenant's Cedar rules
//! ([`shared::policy::Rules::decide`]), with 1, 100 and 1,000 rules in the tenant, against none.
//! The rules are `forbid`s of both actions with argument, role and annotation conditions, of
//! which none matches the calls measured (so every rule is evaluated, the worst case for an
//! allowed call). Prints p50 and p99 of each, after a warm-up.
//!
//!     cargo run --release -p e2e --bin bench-policy [-- DECISIONS]

use std::time::{Duration, Instant};

use e2e::{Backend, TestStack, conformance_upstream};
use serde_json::json;
use shared::policy::{Call, Rule, Rules};

/// Decisions made before measuring.
const WARM_UP: usize = 1_000;

/// The text of rule `n`: one of a few shapes, each with its own numbers.
fn rule_text(n: usize) -> String {
    match n % 4 {
        0 => format!(
            r#"forbid(principal, action == Action::"call_tool", resource) when {{ context.arguments has amount && context.arguments.amount > {} }};"#,
            1_000_000 + n
        ),
        1 => format!(
            r#"forbid(principal, action == Action::"call_tool_unattended", resource) when {{ resource.name == "tool-{n}" && context.arguments has amount && context.arguments.amount > 10 }};"#
        ),
        2 => format!(
            r#"forbid(principal, action, resource) when {{ principal.role == "guest-{n}" }};"#
        ),
        _ => format!(
            r#"forbid(principal, action, resource) when {{ resource.destructive && context.agent == "agent-{n}" }};"#
        ),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    decisions(e2e::arg(1, 10_000));
    calls(e2e::arg(2, 500)).await;
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One tool call's times, `calls` of them after a warm-up, sorted.
async fn timed_calls(stack: &TestStack, agent: &str, calls: usize) -> Vec<Duration> {
    let call = json!({"tool": "test_simple_text", "arguments": {}});
    let path = format!("/agent/{agent}/tools/call");
    for _ in 0..50 {
        let (status, body) = stack.post(&path, call.clone()).await;
        assert!(status.is_success(), "{status} {body}");
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let (status, body) = stack.post(&path, call.clone()).await;
        times.push(started.elapsed());
        assert!(status.is_success(), "{status} {body}");
    }
    times.sort_unstable();
    times
}

/// The tool-call overhead of 1,000 policies against none.
async fn calls(calls: usize) {
    let stack = TestStack::start(Backend::Sqlite).await;
    let upstream = conformance_upstream::start().await;
    let server = stack.mcp_server("bench", &upstream).await;
    let agent = stack.agent_using(&[&server]).await;
    let none = timed_calls(&stack, &agent, calls).await;
    for n in 0..1_000 {
        stack
            .created(
                "/config/policy",
                json!({"name": format!("p{n}"), "policy": rule_text(n)}),
            )
            .await;
    }
    let with = timed_calls(&stack, &agent, calls).await;
    println!(
        "{calls} tool calls each (REST, in-process API, loopback upstream), after 50 to warm up"
    );
    for (what, times) in [("no policy", &none), ("1,000 policies", &with)] {
        println!(
            "{what:>15}: p50 {:8.1} µs  p99 {:8.1} µs",
            us(percentile(times, 0.5)),
            us(percentile(times, 0.99))
        );
    }
    println!(
        "overhead: +{:.1} µs at p50, +{:.1} µs at p99",
        us(percentile(&with, 0.5)) - us(percentile(&none, 0.5)),
        us(percentile(&with, 0.99)) - us(percentile(&none, 0.99))
    );
}

/// Decision times with 0, 1, 100 and 1,000 rules.
fn decisions(decisions: usize) {
    let arguments = json!({"amount": 500, "target": {"region": "eu"}, "note": "monthly rent"});
    let call = Call {
        user_id: "bob",
        role: "member",
        agent_id: "agent-x",
        server_id: "0190a0b0-0000-7000-8000-000000000001",
        tool: "transfer",
        read_only: false,
        destructive: true,
        arguments: &arguments,
    };
    println!("{decisions} decisions each, after {WARM_UP} to warm up");
    let mut baseline = None;
    for count in [0usize, 1, 100, 1_000] {
        let texts: Vec<(String, String)> = (0..count)
            .map(|n| (format!("p{n}"), rule_text(n)))
            .collect();
        for (_, text) in &texts {
            shared::policy::check(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        let started = Instant::now();
        let rules = Rules::new(texts.iter().map(|(id, text)| Rule {
            id,
            text,
            shadow: false,
        }))
        .expect("the rules");
        let loaded = started.elapsed();
        for _ in 0..WARM_UP {
            std::hint::black_box(rules.decide(&call));
        }
        let mut times = Vec::with_capacity(decisions);
        for _ in 0..decisions {
            let started = Instant::now();
            let decided = std::hint::black_box(rules.decide(&call));
            times.push(started.elapsed());
            assert_eq!(decided.outcome, shared::policy::Outcome::Allowed);
        }
        times.sort_unstable();
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        let over = baseline.map_or(String::new(), |b: Duration| {
            format!("  (+{:.1} µs at p50 over none)", us(p50) - us(b))
        });
        println!(
            "{count:>5} rules: p50 {:8.1} µs  p99 {:8.1} µs  (loaded in {:.1} ms){over}",
            us(p50),
            us(p99),
            loaded.as_secs_f64() * 1e3
        );
        baseline.get_or_insert(p50);
    }
    println!("target: p99 at most 1 ms with 1,000 rules");
}
