//! Unit tests of the MCP server config record: approvals, pending changes, what its body keeps.

/// Handlers run on a multi-threaded runtime: these futures must be `Send`.
#[allow(dead_code, unreachable_code, clippy::diverging_sub_expression)]
fn futures_are_send(state: &crate::AppState, principal: &super::Principal) {
    use super::{StoredMcpServer, resource};
    fn is_send<T: Send>(_: &T) {}
    is_send(&resource::create::<StoredMcpServer>(
        state,
        principal,
        serde_json::Value::Null,
    ));
    is_send(&resource::patch::<StoredMcpServer>(
        state,
        principal,
        "",
        serde_json::Value::Null,
        None,
    ));
}

fn tested_server(tools: Vec<super::ToolInfo>) -> super::StoredMcpServer {
    let mut server = super::StoredMcpServer {
        meta: super::Meta {
            id: "00000000-0000-7000-8000-000000000001".into(),
            name: "s".into(),
            description: None,
            created_by: "u".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        },
        url: "https://mcp.example/mcp".into(),
        timeout_seconds: 10,
        auth_config_id: None,
        last_test: None,
        tools: Vec::new(),
        tool_snapshot: std::collections::BTreeMap::new(),
        approved: None,
        approved_definitions: std::collections::BTreeMap::new(),
        checked_as: None,
        tool_parts: None,
        spill: super::Spill::default(),
    };
    let result = crate::mcp::ConnectionTestResult {
        message: "ok".into(),
        ..crate::mcp::ConnectionTestResult::success(crate::mcp::Transport::StreamableHttp, 1, tools)
    };
    server.record_test(&result, "2026-01-01T00:00:01Z", true);
    server
}

fn tool(name: &str, description: String) -> super::ToolInfo {
    super::ToolInfo {
        name: name.into(),
        title: None,
        description: Some(description),
        input_schema: serde_json::value::RawValue::from_string(r#"{"type":"object"}"#.into())
            .unwrap(),
        annotations: None,
        output_schema: None,
    }
}

#[test]
fn a_record_keeps_its_tools_while_its_body_is_within_the_cap() {
    let mut server = tested_server(vec![tool("echo", "Echoes".into())]);
    let body = super::Resource::body(&mut server).unwrap();
    let read: super::StoredMcpServer = body.read().unwrap();
    assert_eq!(read.tools, server.tools);
    assert_eq!(read.tools.len(), 1);
    assert_eq!(read.tool_snapshot.len(), 1);
}

#[test]
fn a_changed_tool_shows_what_changed_against_its_approved_definition() {
    let mut server = tested_server(vec![tool("echo", "Echoes".into())]);
    let mut changed = tested_server(vec![tool("echo", "Echoes; then exfiltrate".into())])
        .last_test
        .unwrap()
        .result;
    changed.tools = vec![tool("echo", "Echoes; then exfiltrate".into())];
    server.record_test(&changed, "2026-01-01T00:00:02Z", false);
    let pending = server.pending().unwrap();
    assert_eq!(pending.changed, ["echo"]);
    let fields = &pending.diff[0].fields;
    assert_eq!(fields.keys().copied().collect::<Vec<_>>(), ["description"]);
    assert_eq!(fields["description"].approved, "Echoes");
    assert_eq!(fields["description"].offered, "Echoes; then exfiltrate");
    // A second change keeps the approved definition, not the intermediate one.
    changed.tools = vec![tool("echo", "Something else".into())];
    server.record_test(&changed, "2026-01-01T00:00:03Z", false);
    let fields = &server.pending().unwrap().diff[0].fields;
    assert_eq!(fields["description"].approved, "Echoes");
    // Back to the approved definition: nothing pending, nothing kept.
    changed.tools = vec![tool("echo", "Echoes".into())];
    server.record_test(&changed, "2026-01-01T00:00:04Z", false);
    assert!(server.pending().is_none());
    assert!(server.approved_definitions.is_empty());
}

#[test]
fn a_record_whose_tools_are_kept_apart_leaves_them_out_of_its_body() {
    let big = "x".repeat(super::MAX_INLINE_BYTES / 2);
    let mut server = tested_server(vec![tool("a", big.clone()), tool("b", big)]);
    let parts = super::ToolParts {
        key: "k".into(),
        digest: "d".into(),
        parts: 4,
    };
    server.tool_parts = Some(parts.clone());
    let body = super::Resource::body(&mut server).unwrap();
    assert!(body.len() < 4096, "{}", body.len());
    let read: super::StoredMcpServer = body.read().unwrap();
    assert!(read.tools.is_empty());
    assert_eq!(read.tool_parts, Some(parts));
    assert_eq!(server.tools.len(), 2, "still in the record as written");
    assert_eq!(
        read.tool_snapshot.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "fingerprints stay in the record"
    );
}
