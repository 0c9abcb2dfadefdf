//! The OpenAPI document tells the truth: Schemathesis 4 (installed into `.deps/venv` by
//! `infra/scripts/test-deps.sh`) runs every check in every phase — examples, coverage, fuzzing and
//! stateful — against the local stack and must report no failure. Its settings, and why each
//! exists, are in `tests/schemathesis.toml`; the hooks in `tests/schemathesis_hooks.py` make
//! generated bodies meet the rules JSON Schema cannot state (two values compared, or a secret
//! that must exist), for which the test creates the secret.
#![allow(clippy::unwrap_used)]

use e2e::{Backend, TestStack, servers};

/// Examples per operation and phase: enough to find what the document gets wrong, small enough
/// for CI (about half a minute on 2 cores).
const MAX_EXAMPLES: &str = "40";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_openapi_document_gets_wrong() {
    let schemathesis = servers::require(servers::repo_root().join(".deps/venv/bin/schemathesis"));
    let stack = TestStack::start(Backend::Sqlite).await;
    // The secret every generated Secrets Manager reference is pointed at, tagged for the
    // session's tenant.
    let secret = shared::testing::create_secret(
        &e2e::moto().await,
        &e2e::unique_name("schemathesis"),
        r#"{"key": "value"}"#,
        Some("acme"),
    )
    .await;
    let origin = stack.api.trim_end_matches("/ai/api/v1").to_owned();
    // A fixed seed: a failure reproduces; a new finding comes with a change, not by chance.
    let output = tokio::process::Command::new(schemathesis)
        .current_dir(servers::repo_root())
        .env(
            "SCHEMATHESIS_HOOKS",
            servers::repo_root().join("tests/schemathesis_hooks.py"),
        )
        .env("STUDIO_SCHEMATHESIS_SECRET_ARN", &secret)
        .arg("--config-file")
        .arg(servers::repo_root().join("tests/schemathesis.toml"))
        .args(["--no-color", "run"])
        .arg(format!("{}/openapi.json", stack.api))
        .args(["--url", &origin])
        .arg("-H")
        .arg(format!("Cookie: sessionid={}", stack.session))
        .args([
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            "1",
        ])
        .args(["--request-timeout", "30"])
        .output()
        .await
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for phase in ["Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "the {phase} phase did not pass:\n{report}"
        );
    }
}
