//! What changed in a tool since it was approved: each differing field (`title`, `description`,
//! `input_schema`, `annotations`) as approved and as offered now, for the reviewer of a pending
//! change (`pending_tools.diff` of an MCP server config).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::mcp::ToolInfo;

/// How a changed tool differs from its approved definition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolDiff {
    /// The tool.
    pub name: String,
    /// The fields that differ (`title`, `description`, `input_schema`, `annotations`), each as
    /// `{"approved": …, "offered": …}` (`null` where absent). Empty when the approved definition
    /// is not known (the server's tool list was too large to keep).
    #[schema(value_type = Object)]
    pub fields: BTreeMap<&'static str, FieldChange>,
}

/// One field of a changed tool, as approved and as offered now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldChange {
    /// The approved value.
    #[schema(value_type = Object)]
    pub approved: Value,
    /// The value offered now.
    #[schema(value_type = Object)]
    pub offered: Value,
}

/// The fields of `approved` and `offered` that differ.
pub(crate) fn diff(approved: &ToolInfo, offered: &ToolInfo) -> BTreeMap<&'static str, FieldChange> {
    let json = |raw: Option<&serde_json::value::RawValue>| {
        raw.and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
            .unwrap_or(Value::Null)
    };
    let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::String);
    let pairs = [
        ("title", text(&approved.title), text(&offered.title)),
        (
            "description",
            text(&approved.description),
            text(&offered.description),
        ),
        (
            "input_schema",
            json(Some(&approved.input_schema)),
            json(Some(&offered.input_schema)),
        ),
        (
            "annotations",
            json(approved.annotations.as_deref()),
            json(offered.annotations.as_deref()),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, a, o)| a != o)
        .map(|(field, approved, offered)| (field, FieldChange { approved, offered }))
        .collect()
}
