//! What the tenant's policies ([`crate::policy`]) and the agent's `read_only` switch make of an
//! agent's tools: which ones a caller's catalogue leaves out (no call of theirs could run), and
//! what one call may do — run, wait for a person, or nothing — recorded for the audit entry
//! ([`ToolCallRecord`]) with the shadow policies' view beside it.

use serde_json::{Value, value::RawValue};

use crate::model::{
    agent::StoredAgent,
    audit::{PolicyDecision, ToolCallRecord},
    resource::Principal,
};
use crate::{
    Error,
    policy::{Call, Outcome, PolicyDenial, Rules},
};

/// Metric counting calls that a shadow policy would have denied or held for approval.
pub const SHADOW_METRIC: &str = "PolicyShadowMatches";
/// The id a read-only agent's refusal names as its deciding policy.
pub const READ_ONLY: &str = "read_only";

/// A tool's facts for policies, from its annotations with MCP's defaults: `read_only` is
/// `readOnlyHint` (default false); `destructive` is true unless the tool is read-only or says
/// `destructiveHint: false`.
pub fn tool_facts(annotations: Option<&RawValue>) -> (bool, bool) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Hints {
        read_only_hint: Option<bool>,
        destructive_hint: Option<bool>,
    }
    let hints = annotations
        .and_then(|a| serde_json::from_str::<Hints>(a.get()).ok())
        .unwrap_or(Hints {
            read_only_hint: None,
            destructive_hint: None,
        });
    let read_only = hints.read_only_hint == Some(true);
    let destructive = !read_only && hints.destructive_hint != Some(false);
    (read_only, destructive)
}

/// One tool as policies see it.
#[derive(Debug, Clone, Copy)]
pub struct ToolRef<'a> {
    /// The MCP server config offering it.
    pub server_id: &'a str,
    /// Its name at the server.
    pub tool: &'a str,
    /// Its annotations as approved.
    pub annotations: Option<&'a RawValue>,
}

impl ToolRef<'_> {
    fn call<'b>(
        &'b self,
        principal: &'b Principal,
        agent_id: &'b str,
        arguments: &'b Value,
    ) -> Call<'b> {
        let (read_only, destructive) = tool_facts(self.annotations);
        Call {
            user_id: &principal.user_id,
            role: principal.role.as_str(),
            agent_id,
            server_id: self.server_id,
            tool: self.tool,
            read_only,
            destructive,
            arguments,
        }
    }
}

/// Why `principal`'s catalogue of `agent` leaves `tool` out, whatever the arguments: the agent
/// is `read_only` and the tool is not, or enforced policies forbid every call of it by this
/// caller. `None` when it stays.
pub fn hidden(
    agent: &StoredAgent,
    rules: Option<&Rules>,
    principal: &Principal,
    tool: &ToolRef<'_>,
) -> Option<Vec<String>> {
    if agent.read_only && !tool_facts(tool.annotations).0 {
        return Some(vec![READ_ONLY.to_owned()]);
    }
    let rules = rules?;
    let empty = Value::Object(serde_json::Map::new());
    rules.hidden(&tool.call(principal, &agent.meta.id, &empty))
}

/// The refusal of a call the catalogue leaves out, or that the policies deny.
pub fn denial(policies: Vec<String>, errors: Vec<String>) -> Error {
    let detail = if policies == [READ_ONLY] {
        "The agent is read-only and the tool is not annotated read-only; nothing was sent."
            .to_owned()
    } else if errors.is_empty() {
        format!(
            "The tenant's policies forbid this call ({}); nothing was sent.",
            policies.join(", ")
        )
    } else {
        format!(
            "The tenant's policies forbid this call: a policy could not be evaluated for it \
             ({}), which denies it; nothing was sent.",
            policies.join(", ")
        )
    };
    Error::PolicyDenied(Box::new(PolicyDenial {
        detail,
        policies,
        errors,
    }))
}

/// What a call may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// Only with a person's approval: the policies that ask for it.
    Hold(Vec<String>),
}

fn decision_of(outcome: &Outcome) -> (PolicyDecision, Vec<String>) {
    match outcome {
        Outcome::Allowed => (PolicyDecision::Allowed, Vec::new()),
        Outcome::ApprovalRequired { policies } => {
            (PolicyDecision::ApprovalRequired, policies.clone())
        }
        Outcome::Denied { policies, .. } => (PolicyDecision::Denied, policies.clone()),
    }
}

/// Decides one call by the tenant's `rules` (none: it runs), recording the decision, the
/// deciding policies, the shadow policies' view and the `@loggable` arguments in `record`. A
/// denied call is the error.
pub fn judge(
    rules: Option<&Rules>,
    principal: &Principal,
    agent_id: &str,
    tool: &ToolRef<'_>,
    arguments: &Value,
    record: &mut ToolCallRecord,
) -> Result<Verdict, Error> {
    let Some(rules) = rules else {
        record.decision = Some(PolicyDecision::Allowed);
        return Ok(Verdict::Run);
    };
    let decided = rules.decide(&tool.call(principal, agent_id, arguments));
    let (decision, policies) = decision_of(&decided.outcome);
    let mut deciding = policies.clone();
    if let Some(shadow) = &decided.shadow {
        let (shadow_decision, shadow_policies) = decision_of(shadow);
        if shadow_decision != PolicyDecision::Allowed {
            println!(
                "{}",
                crate::telemetry::emf_count(SHADOW_METRIC, 1, crate::telemetry::now_ms())
            );
        }
        deciding.extend(shadow_policies.iter().cloned());
        record.shadow_decision = Some(shadow_decision);
        record.shadow_policies = shadow_policies;
    }
    let loggable = rules.loggable(&deciding);
    if !loggable.is_empty() {
        record.arguments = Some(
            loggable
                .iter()
                .filter_map(|name| Some((name.clone(), arguments.get(name)?.clone())))
                .collect(),
        );
    }
    record.decision = Some(decision);
    record.policies = policies;
    match decided.outcome {
        Outcome::Allowed => Ok(Verdict::Run),
        Outcome::ApprovalRequired { policies } => Ok(Verdict::Hold(policies)),
        Outcome::Denied { policies, errors } => Err(denial(policies, errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn annotations_follow_mcp_defaults() {
        assert_eq!(tool_facts(None), (false, true));
        assert_eq!(
            tool_facts(Some(&raw(r#"{"readOnlyHint": true}"#))),
            (true, false)
        );
        assert_eq!(
            tool_facts(Some(&raw(r#"{"destructiveHint": false}"#))),
            (false, false)
        );
        // A read-only tool destroys nothing, whatever else it says.
        assert_eq!(
            tool_facts(Some(&raw(
                r#"{"readOnlyHint": true, "destructiveHint": true}"#
            ))),
            (true, false)
        );
    }
}
