//! Each resource's editable and read-only members, as the generic PATCH derives them from its
//! input and view types.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use shared::model::{
    agent::StoredAgent,
    auth_config::StoredAuthConfig,
    llm_config::StoredLlmConfig,
    mcp_server::StoredMcpServer,
    resource::{input_fields, read_only_fields},
};

#[test]
fn each_resource_edits_the_members_of_its_input() {
    let fields = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        input_fields::<StoredLlmConfig>(),
        fields(&[
            "name",
            "description",
            "provider",
            "model",
            "base_url",
            "api_key"
        ])
    );
    assert_eq!(
        input_fields::<StoredMcpServer>(),
        fields(&[
            "name",
            "description",
            "url",
            "timeout_seconds",
            "auth_config_id",
            "auth_config"
        ])
    );
    let agent = input_fields::<StoredAgent>();
    assert!(
        agent.contains("tool_allowlist") && agent.contains("prompt"),
        "{agent:?}"
    );
    let auth = input_fields::<StoredAuthConfig>();
    assert_eq!(auth.len(), 22, "{auth:?}");
    assert!(auth.contains("auth_type") && auth.contains("connection_mode"));
    let read_only = read_only_fields::<StoredMcpServer>();
    for field in [
        "id",
        "version",
        "created_by",
        "created_at",
        "updated_at",
        "tool_names",
        "last_test",
    ] {
        assert!(read_only.contains(field), "{field}: {read_only:?}");
    }
    assert!(!read_only.contains("name") && !read_only.contains("url"));
    let auth_read_only = read_only_fields::<StoredAuthConfig>();
    assert!(auth_read_only.contains("token_status") && auth_read_only.contains("connected_users"));
}
