//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, client mode) against
//! `studio-local conformance-client`, which drives this service's own API in-process: one test
//! per scenario, each at the protocol revision the suite runs it at by default, and the
//! scenarios of both revisions once more on the stateless 2026-07-28 wire. A scenario passes
//! only when the suite reports no failure and no warning (its single-scenario verdict). No
//! scenario is expected to fail.
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs `scenario` (at `spec_version` when given) and fails with the suite's report unless it
/// passed.
fn run(scenario: &str, spec_version: Option<&str>) {
    let (node, cli) = shared::testing::conformance_suite();
    let out = tempfile::tempdir().unwrap();
    let client = format!("{} conformance-client", env!("CARGO_BIN_EXE_studio-local"));
    let mut command = Command::new(node);
    command
        .arg(cli)
        .args(["client", "--command", &client, "--scenario", scenario])
        .args(["--timeout", "60000", "-o"])
        .arg(out.path())
        .env_remove("MCP_CONFORMANCE_CONTEXT")
        .env("RUST_LOG", "warn");
    if let Some(version) = spec_version {
        command.args(["--spec-version", version]);
    }
    let output = command.output().unwrap();
    // The suite prints the checks on standard output and its verdict on standard error.
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.contains("OVERALL: PASSED"),
        "conformance scenario {scenario} (wire {}) failed ({}):\n{report}",
        spec_version.unwrap_or("default"),
        output.status,
    );
}

macro_rules! scenarios {
    ($($test:ident => $scenario:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run($scenario, None);
            }
        )*
    };
}

macro_rules! stateless_scenarios {
    ($($test:ident => $scenario:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run($scenario, Some("2026-07-28"));
            }
        )*
    };
}

scenarios! {
    initialize => "initialize",
    tools_call => "tools_call",
    request_metadata => "request-metadata",
    http_standard_headers => "http-standard-headers",
    http_custom_headers => "http-custom-headers",
    http_invalid_tool_headers => "http-invalid-tool-headers",
    auth_metadata_default => "auth/metadata-default",
    auth_metadata_var1 => "auth/metadata-var1",
    auth_metadata_var2 => "auth/metadata-var2",
    auth_metadata_var3 => "auth/metadata-var3",
    auth_basic_cimd => "auth/basic-cimd",
    auth_scope_from_www_authenticate => "auth/scope-from-www-authenticate",
    auth_scope_from_scopes_supported => "auth/scope-from-scopes-supported",
    auth_scope_omitted_when_undefined => "auth/scope-omitted-when-undefined",
    auth_scope_step_up => "auth/scope-step-up",
    auth_scope_retry_limit => "auth/scope-retry-limit",
    auth_token_endpoint_auth_basic => "auth/token-endpoint-auth-basic",
    auth_token_endpoint_auth_post => "auth/token-endpoint-auth-post",
    auth_token_endpoint_auth_none => "auth/token-endpoint-auth-none",
    auth_pre_registration => "auth/pre-registration",
    auth_resource_mismatch => "auth/resource-mismatch",
    auth_offline_access_scope => "auth/offline-access-scope",
    auth_offline_access_not_supported => "auth/offline-access-not-supported",
    auth_authorization_server_migration => "auth/authorization-server-migration",
    auth_iss_supported => "auth/iss-supported",
    auth_iss_not_advertised => "auth/iss-not-advertised",
    auth_iss_supported_missing => "auth/iss-supported-missing",
    auth_iss_wrong_issuer => "auth/iss-wrong-issuer",
    auth_iss_unexpected => "auth/iss-unexpected",
    auth_iss_normalized => "auth/iss-normalized",
    auth_metadata_issuer_mismatch => "auth/metadata-issuer-mismatch",
    auth_client_credentials_basic => "auth/client-credentials-basic",
    auth_client_credentials_jwt => "auth/client-credentials-jwt",
    json_schema_2020_12_preservation => "json-schema-2020-12-preservation",
    json_schema_ref_no_deref => "json-schema-ref-no-deref",
    sse_retry => "sse-retry",
}

stateless_scenarios! {
    stateless_tools_call => "tools_call",
    stateless_auth_metadata_default => "auth/metadata-default",
    stateless_auth_metadata_var1 => "auth/metadata-var1",
    stateless_auth_metadata_var2 => "auth/metadata-var2",
    stateless_auth_metadata_var3 => "auth/metadata-var3",
    stateless_auth_basic_cimd => "auth/basic-cimd",
    stateless_auth_scope_from_www_authenticate => "auth/scope-from-www-authenticate",
    stateless_auth_scope_from_scopes_supported => "auth/scope-from-scopes-supported",
    stateless_auth_scope_omitted_when_undefined => "auth/scope-omitted-when-undefined",
    stateless_auth_scope_step_up => "auth/scope-step-up",
    stateless_auth_scope_retry_limit => "auth/scope-retry-limit",
    stateless_auth_token_endpoint_auth_basic => "auth/token-endpoint-auth-basic",
    stateless_auth_token_endpoint_auth_post => "auth/token-endpoint-auth-post",
    stateless_auth_token_endpoint_auth_none => "auth/token-endpoint-auth-none",
    stateless_auth_pre_registration => "auth/pre-registration",
    stateless_json_schema_2020_12_preservation => "json-schema-2020-12-preservation",
}
