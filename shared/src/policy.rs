//! Tool-call policy, in Cedar (the `cedar-policy` crate): the vocabulary tenants write their
//! rules in ([`SCHEMA`]), checking a rule's text (a parse or validation error names its line
//! and column), and deciding one call against a tenant's rules.
//!
//! The vocabulary: principal `User::"<user id>"` with `role`; actions `Action::"call_tool"` (may
//! the call happen at all) and `Action::"call_tool_unattended"` (may it happen without a person's
//! approval); resource `Tool::"<server config id>/<tool name>"` with `name`, `server`,
//! `read_only` and `destructive`; context `agent` and `arguments` (the call's arguments as
//! Cedar values). Tools differ, so a rule may test any argument by name: validation accepts an
//! access below `context.arguments` whatever the name, and the call decides.
//!
//! The semantics: every call is allowed and unattended unless a `forbid` matches (a built-in
//! baseline permits both actions), so a tenant writes only the rules it wants. A `forbid` that
//! cannot be evaluated for a call (a missing argument, a type mismatch) forbids it — fail
//! closed, where Cedar itself would skip the erroring policy — and says which rule and why.
//! Three outcomes: `call_tool` forbidden is [`Outcome::Denied`]; permitted but
//! `call_tool_unattended` forbidden is [`Outcome::ApprovalRequired`]; else [`Outcome::Allowed`].
//! Shadow rules are decided beside the enforced ones and never change the outcome.

use std::collections::{HashMap, HashSet};

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Effect, Entities, Entity, EntityUid, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationError, ValidationMode,
    Validator,
};
use miette::Diagnostic;
use serde_json::Value;

/// The Cedar schema of the vocabulary (published for tenants as it is).
pub const SCHEMA: &str = r#"// The vocabulary of tool-call policies.
entity User = {
  // The caller's role in the tenant: "member" or "admin".
  role: String,
};
entity Tool = {
  // The tool's name at its server.
  name: String,
  // The id of the MCP server config that offers it.
  server: String,
  // From its approved annotations, with MCP's defaults when the server did not say:
  // read_only is readOnlyHint (default false); destructive is true unless the tool is
  // read-only or says destructiveHint: false.
  read_only: Bool,
  destructive: Bool,
};
// May the call happen at all; may it happen without a person's approval.
action call_tool, call_tool_unattended appliesTo {
  principal: [User],
  resource: [Tool],
  context: {
    // The agent making the call.
    agent: String,
    // The call's arguments: any argument may be tested by name (`has` for optional ones).
    arguments: Arguments,
  },
};
type Arguments = {};
"#;

/// What the rules mean beyond [`SCHEMA`], as published with it.
pub const SEMANTICS: &[&str] = &[
    "Every call is permitted and unattended unless a `forbid` matches: a built-in baseline \
     permits both actions, so write only `forbid` rules (a `permit` is refused).",
    "`call_tool` forbidden: the call is denied (403 `policy-denied`). Permitted, but \
     `call_tool_unattended` forbidden: it waits for an admin's approval (202). Otherwise it runs.",
    "A `forbid` that cannot be evaluated for a call (a missing argument, a type mismatch) \
     denies it, naming the policy and the error: guard optional arguments with `has`.",
    "Arguments become Cedar values: objects records, arrays sets, integers Long, other numbers \
     decimal (at most four decimals) or else strings; `null` is left out.",
    "A tool whose `call_tool` is forbidden whatever the context (rules that never mention \
     `context`) is left out of the caller's catalogue.",
    "`@loggable(\"amount,currency\")` before a rule lets the audit log show those arguments' \
     values for the calls the rule decides; no other argument value is ever logged.",
    "A policy in `shadow` mode never changes an outcome; what it would have decided is \
     recorded in the audit log and counted in the `PolicyShadowMatches` metric.",
];

/// [`SCHEMA`] in Cedar's JSON schema format.
pub fn schema_json() -> Value {
    cedar_policy::SchemaFragment::from_cedarschema_str(SCHEMA)
        .ok()
        .and_then(|(fragment, _warnings)| fragment.to_json_value().ok())
        .unwrap_or(Value::Null)
}

/// Deepest argument nesting turned into Cedar values (deeper values are left out).
const MAX_DEPTH: usize = 32;

/// The schema, parsed once.
fn schema() -> &'static Schema {
    static SCHEMA_PARSED: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    SCHEMA_PARSED.get_or_init(|| {
        Schema::from_cedarschema_str(SCHEMA)
            .map(|(schema, _warnings)| schema)
            .unwrap_or_else(|e| panic!("the built-in policy schema does not parse: {e}"))
    })
}

/// Why a rule's text was refused: where (1-based line and column of the text) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PolicyTextError {
    /// Line of the text, from 1.
    pub line: usize,
    /// Column of the line, from 1 (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The first source position a diagnostic labels, if any.
fn labelled(diagnostic: &dyn Diagnostic) -> Option<usize> {
    diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset())
}

/// Checks a rule's text: it must parse as Cedar policies (one or more) and validate against
/// [`SCHEMA`] (strictly, but for accesses below `context.arguments`). The first error found,
/// with its position.
pub fn check(text: &str) -> Result<(), PolicyTextError> {
    let set: PolicySet = text.parse().map_err(|e: cedar_policy::ParseErrors| {
        let (line, column) = labelled(&e).map_or((1, 1), |offset| position(text, offset));
        PolicyTextError {
            line,
            column,
            message: e.to_string(),
        }
    })?;
    if set.policies().next().is_none() {
        return Err(PolicyTextError {
            line: 1,
            column: 1,
            message: "holds no policy".into(),
        });
    }
    for policy in set.policies() {
        // Where the first occurrence of `word` (outside comments) is, for an error about it.
        let at_word = |word: &str, message: String| {
            let (line, column) = first_word(text, word).map_or((1, 1), |at| position(text, at));
            PolicyTextError {
                line,
                column,
                message,
            }
        };
        if policy.effect() == Effect::Permit {
            return Err(at_word(
                "permit",
                "only `forbid` rules change a decision: every call is permitted unless a \
                 `forbid` matches, so write the rule as `forbid(…) unless { … }`"
                    .into(),
            ));
        }
        if let Some(fields) = policy.annotation(LOGGABLE) {
            if loggable_fields(fields).is_none() {
                return Err(at_word(
                    "@loggable",
                    format!(
                        "@{LOGGABLE} names the arguments whose values the audit log may show, \
                     separated by commas (e.g. @{LOGGABLE}(\"amount,currency\"))"
                    ),
                ));
            }
        }
    }
    let validated = Validator::new(schema().clone()).validate(&set, ValidationMode::Strict);
    let first = validated
        .validation_errors()
        .find(|e| !argument_access(text, e));
    match first {
        Some(error) => {
            let (line, column) = labelled(error).map_or((1, 1), |offset| position(text, offset));
            Err(PolicyTextError {
                line,
                column,
                message: error.to_string(),
            })
        }
        None => Ok(()),
    }
}

/// The annotation by which a rule names the arguments whose values the audit log may show for
/// the calls it decides: `@loggable("amount,currency")`.
pub const LOGGABLE: &str = "loggable";

/// The argument names of a `@loggable` value, or `None` when it names none or something that
/// is not a name.
fn loggable_fields(value: &str) -> Option<Vec<String>> {
    let fields: Vec<String> = value.split(',').map(|f| f.trim().to_owned()).collect();
    let valid = |f: &String| {
        !f.is_empty()
            && f.len() <= 100
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    fields.iter().all(valid).then_some(fields)
}

/// The byte offset of the first `word` in `text` outside `//` comments that no identifier
/// character surrounds.
fn first_word(text: &str, word: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = line.split("//").next().unwrap_or(line);
        let mut from = 0;
        while let Some(found) = code[from..].find(word) {
            let start = from + found;
            let end = start + word.len();
            let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
            let before = code[..start].chars().next_back().is_some_and(ident);
            let after = code[end..].chars().next().is_some_and(ident);
            if !before && !after {
                return Some(offset + start);
            }
            from = end;
        }
        offset += line.len();
    }
    None
}

/// Whether `error` is an access of an argument by name (`context.arguments.<name>…`), which the
/// schema cannot declare since tools differ.
fn argument_access(text: &str, error: &ValidationError) -> bool {
    let ValidationError::UnsafeAttributeAccess(_) = error else {
        return false;
    };
    labelled(error)
        .and_then(|offset| text.get(offset..))
        .is_some_and(|accessed| {
            let accessed: String = accessed.split_whitespace().collect();
            accessed.starts_with("context.arguments.")
        })
}

/// A tenant's rules, parsed once: the enforced ones and the shadow ones, each beside the
/// baseline that permits everything, and each split by the action they can decide ([`Split`]).
#[derive(Debug)]
pub struct Rules {
    enforced: Split,
    shadow: Split,
    /// Per Cedar policy id: the arguments its `@loggable` names.
    loggable: HashMap<String, Vec<String>>,
    /// What [`Rules::hidden`] found, per caller and tool: it depends on nothing else, and these
    /// rules never change (a tenant's change builds new ones), so a catalogue of many tools is
    /// decided once per caller rather than on every call.
    hidden: std::sync::Mutex<HashMap<HiddenKey, Option<Vec<String>>>>,
}

/// What [`Rules::hidden`] depends on: user, role, server, tool and its annotations.
type HiddenKey = (String, String, String, String, bool, bool);

/// Most [`Rules::hidden`] answers kept per tenant (then they are forgotten and found again).
const MAX_HIDDEN: usize = 100_000;

/// Rules split by action, so a decision evaluates each rule once: those that may decide
/// `call_tool`, and those that may decide `call_tool_unattended` *differently*. A rule of any
/// action whose conditions do not look at the action decides both requests alike, so it is
/// evaluated for `call_tool` only: if it forbids that, the call is denied whatever the second
/// request says; if it does not, it does not forbid the second either.
///
/// `fixed` holds the rules of `call_tool` whose conditions never look at the context: what
/// they decide of a tool holds for every call of it, so a catalogue may leave out a tool they
/// forbid.
#[derive(Debug, Clone)]
struct Split {
    call: Indexed,
    unattended: Indexed,
    fixed: PolicySet,
    /// Rules in `fixed` (beside the baseline).
    fixed_count: usize,
}

/// One action's rules: those that can only decide calls of one tool, by its name, and the rest.
/// A rule whose first condition starts with `resource.name == "<name>"` neither matches nor
/// errs for a call of another tool (Cedar stops at that false), so such a call need not
/// evaluate it: a tenant with many tool-specific rules evaluates only the called tool's.
#[derive(Debug, Clone)]
struct Indexed {
    general: PolicySet,
    by_tool: HashMap<String, PolicySet>,
    count: usize,
}

impl Indexed {
    fn new() -> Self {
        Self {
            general: with_baseline(),
            by_tool: HashMap::new(),
            count: 0,
        }
    }

    fn add(&mut self, policy: Policy) -> Result<(), String> {
        let id = policy.id().to_string();
        let set = match tool_named_first(&policy) {
            Some(name) => self.by_tool.entry(name).or_insert_with(with_baseline),
            None => &mut self.general,
        };
        set.add(policy).map_err(|e| format!("policy {id}: {e}"))?;
        self.count += 1;
        Ok(())
    }

    /// The sets a call of the tool `name` evaluates.
    fn for_tool(&self, name: &str) -> impl Iterator<Item = &PolicySet> {
        std::iter::once(&self.general).chain(self.by_tool.get(name))
    }
}

/// The tool name `policy` requires before anything else: its first condition is a `when`
/// whose leftmost conjunct is `resource.name == "<name>"`.
fn tool_named_first(policy: &Policy) -> Option<String> {
    let json = policy.to_json().ok()?;
    let first = json.get("conditions")?.as_array()?.first()?;
    if first.get("kind")?.as_str()? != "when" {
        return None;
    }
    let mut expr = first.get("body")?;
    while let Some(and) = expr.get("&&") {
        expr = and.get("left")?;
    }
    let eq = expr.get("==")?;
    let left = eq.get("left")?.get(".")?;
    let is_name = left.get("left")? == &serde_json::json!({"Var": "resource"})
        && left.get("attr")?.as_str()? == "name";
    let name = eq.get("right")?.get("Value")?.as_str()?;
    is_name.then(|| name.to_owned())
}

impl Split {
    fn new() -> Self {
        Self {
            call: Indexed::new(),
            unattended: Indexed::new(),
            fixed: with_baseline(),
            fixed_count: 0,
        }
    }

    /// Adds `policy` to the sets of the actions it may decide differently.
    fn add(&mut self, policy: Policy) -> Result<(), String> {
        let id = policy.id().to_string();
        let names = |uids: &[EntityUid]| -> Vec<String> {
            uids.iter()
                .map(|uid| uid.id().unescaped().to_owned())
                .collect()
        };
        let (call, unattended) = match policy.action_constraint() {
            ActionConstraint::Eq(uid) => {
                let name = names(std::slice::from_ref(&uid));
                (name[0] == "call_tool", name[0] == "call_tool_unattended")
            }
            ActionConstraint::In(uids) => {
                let names = names(&uids);
                (
                    names.iter().any(|n| n == "call_tool"),
                    names.iter().any(|n| n == "call_tool_unattended"),
                )
            }
            ActionConstraint::Any => (true, looks_at_action(&policy)),
        };
        if call {
            self.call.add(policy.clone())?;
            if !looks_at_context(&policy) {
                self.fixed
                    .add(policy.clone())
                    .map_err(|e| format!("policy {id}: {e}"))?;
                self.fixed_count += 1;
            }
        }
        if unattended {
            self.unattended.add(policy)?;
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.call.count + self.unattended.count
    }
}

/// Whether `policy`'s conditions use the `action` variable (conservatively: any mention).
fn looks_at_action(policy: &Policy) -> bool {
    policy.to_json().map_or(true, |json| {
        json.get("conditions")
            .is_none_or(|c| c.to_string().contains(r#"{"Var":"action"}"#))
    })
}

/// Whether `policy`'s conditions may depend on the call's context (the agent or the
/// arguments): any mention of the `context` variable.
fn looks_at_context(policy: &Policy) -> bool {
    policy.to_json().map_or(true, |json| {
        json.get("conditions")
            .is_none_or(|c| c.to_string().contains(r#"{"Var":"context"}"#))
    })
}

/// One of a tenant's rules, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    /// Its id (the policy record's); its Cedar policies are named `<id>` (one) or `<id>#<n>`.
    pub id: &'a str,
    /// Its Cedar text.
    pub text: &'a str,
    /// Decided only to be recorded, never to change an outcome.
    pub shadow: bool,
}

/// The id of the built-in baseline `permit`.
const BASELINE: &str = "baseline";

fn with_baseline() -> PolicySet {
    let mut set = PolicySet::new();
    let baseline = Policy::parse(
        Some(PolicyId::new(BASELINE)),
        "permit(principal, action, resource);",
    )
    .expect("the baseline parses");
    set.add(baseline).expect("the baseline is added once");
    set
}

impl Rules {
    /// The rules of a tenant. A rule whose text does not parse (it passed [`check`] when it was
    /// stored, so only a corrupt record) is an error naming it.
    pub fn new<'a>(rules: impl IntoIterator<Item = Rule<'a>>) -> Result<Self, String> {
        let (mut enforced, mut shadow) = (Split::new(), Split::new());
        let mut loggable = HashMap::new();
        for rule in rules {
            let set: PolicySet = rule
                .text
                .parse()
                .map_err(|e| format!("policy {} does not parse: {e}", rule.id))?;
            let policies: Vec<&Policy> = set.policies().collect();
            let one = policies.len() == 1;
            for (n, policy) in policies.into_iter().enumerate() {
                let id = if one {
                    rule.id.to_owned()
                } else {
                    format!("{}#{}", rule.id, n + 1)
                };
                if let Some(fields) = policy.annotation(LOGGABLE).and_then(loggable_fields) {
                    loggable.insert(id.clone(), fields);
                }
                let target = if rule.shadow {
                    &mut shadow
                } else {
                    &mut enforced
                };
                target.add(policy.new_id(PolicyId::new(id)))?;
            }
        }
        Ok(Self {
            enforced,
            shadow,
            loggable,
            hidden: std::sync::Mutex::default(),
        })
    }

    /// Whether the tenant has no rule.
    pub fn is_empty(&self) -> bool {
        self.enforced.len() + self.shadow.len() == 0
    }

    /// The enforced rules that forbid every call of `call`'s tool by its caller, whatever the
    /// agent and arguments (`call`'s are not looked at), or `None` when it may be called: what
    /// a catalogue leaves out. A call of a left-out tool is denied by the same rules.
    pub fn hidden(&self, call: &Call<'_>) -> Option<Vec<String>> {
        if self.enforced.fixed_count == 0 {
            return None;
        }
        let key: HiddenKey = (
            call.user_id.to_owned(),
            call.role.to_owned(),
            call.server_id.to_owned(),
            call.tool.to_owned(),
            call.read_only,
            call.destructive,
        );
        let known = |memo: &std::sync::Mutex<HashMap<HiddenKey, Option<Vec<String>>>>| {
            memo.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .cloned()
        };
        if let Some(found) = known(&self.hidden) {
            return found;
        }
        let empty = Value::Object(serde_json::Map::new());
        let inputs = Inputs::of(&Call {
            arguments: &empty,
            ..*call
        });
        let (policies, _errors) = forbidden(&self.enforced.fixed, &inputs, "call_tool");
        let found = (!policies.is_empty()).then_some(policies);
        let mut memo = self
            .hidden
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if memo.len() >= MAX_HIDDEN {
            memo.clear();
        }
        memo.insert(key, found.clone());
        found
    }

    /// The arguments whose values the audit log may show for a call that `policies` decided
    /// (their `@loggable` annotations).
    pub fn loggable<'a>(&self, policies: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut fields: Vec<String> = policies
            .into_iter()
            .filter_map(|id| self.loggable.get(id))
            .flatten()
            .cloned()
            .collect();
        fields.sort();
        fields.dedup();
        fields
    }

    /// Decides `call` by the enforced rules, and by the shadow rules beside them.
    pub fn decide(&self, call: &Call<'_>) -> Decided {
        let inputs = Inputs::of(call);
        Decided {
            outcome: decide(&self.enforced, &inputs),
            shadow: (self.shadow.len() > 0).then(|| decide(&self.shadow, &inputs)),
        }
    }
}

/// One tool call, as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The caller.
    pub user_id: &'a str,
    /// The caller's role (`member`, `admin`).
    pub role: &'a str,
    /// The agent making the call.
    pub agent_id: &'a str,
    /// The MCP server config that offers the tool.
    pub server_id: &'a str,
    /// The tool's name at its server.
    pub tool: &'a str,
    /// Its approved annotations.
    pub read_only: bool,
    /// Its approved annotations.
    pub destructive: bool,
    /// The call's arguments (a JSON object).
    pub arguments: &'a Value,
}

/// What the rules decide of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It may run.
    Allowed,
    /// It may run once a person approves it: the rules that ask for that.
    ApprovalRequired {
        /// The `forbid` rules of `call_tool_unattended` that matched.
        policies: Vec<String>,
    },
    /// It may not run: the rules that say so, and why a rule could not be evaluated.
    Denied {
        /// The `forbid` rules of `call_tool` that matched or could not be evaluated.
        policies: Vec<String>,
        /// For a rule that could not be evaluated: its id and the error.
        errors: Vec<String>,
    },
}

/// Why a call was denied (the body of a 403 `policy-denied`): the deciding rules and, for a
/// rule that could not be evaluated, the error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyDenial {
    /// In a sentence.
    pub detail: String,
    /// Ids of the deciding rules: a policy's id, `<id>#<n>` for the n-th rule of a policy
    /// holding several, `read_only` for an agent that calls only read-only tools.
    pub policies: Vec<String>,
    /// For each rule that could not be evaluated for the call (fail closed): `<id>: <error>`.
    pub errors: Vec<String>,
}

/// The enforced outcome of a call, and the shadow rules' (when the tenant has any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// What happens.
    pub outcome: Outcome,
    /// What the shadow rules would have decided.
    pub shadow: Option<Outcome>,
}

/// A call as Cedar requests and entities.
struct Inputs {
    user: EntityUid,
    tool: EntityUid,
    /// The tool's name, which picks its rules ([`Indexed`]).
    name: String,
    context: Option<Context>,
    entities: Entities,
}

impl Inputs {
    fn of(call: &Call<'_>) -> Self {
        let uid = |kind: &str, id: &str| {
            EntityUid::from_type_name_and_id(
                kind.parse().expect("a built-in type name"),
                cedar_policy::EntityId::new(id),
            )
        };
        let user = uid("User", call.user_id);
        let tool = uid("Tool", &format!("{}/{}", call.server_id, call.tool));
        let string = |s: &str| RestrictedExpression::new_string(s.to_owned());
        let user_entity = Entity::new(
            user.clone(),
            HashMap::from([("role".to_owned(), string(call.role))]),
            HashSet::new(),
        );
        let tool_entity = Entity::new(
            tool.clone(),
            HashMap::from([
                ("name".to_owned(), string(call.tool)),
                ("server".to_owned(), string(call.server_id)),
                (
                    "read_only".to_owned(),
                    RestrictedExpression::new_bool(call.read_only),
                ),
                (
                    "destructive".to_owned(),
                    RestrictedExpression::new_bool(call.destructive),
                ),
            ]),
            HashSet::new(),
        );
        let entities = match (user_entity, tool_entity) {
            (Ok(u), Ok(t)) => {
                Entities::from_entities([u, t], None).unwrap_or_else(|_| Entities::empty())
            }
            _ => Entities::empty(),
        };
        let arguments = cedar_value(call.arguments, 0)
            .unwrap_or_else(|| RestrictedExpression::new_record([]).expect("an empty record"));
        let context = Context::from_pairs([
            ("agent".to_owned(), string(call.agent_id)),
            ("arguments".to_owned(), arguments),
        ])
        .ok();
        Self {
            user,
            tool,
            name: call.tool.to_owned(),
            context,
            entities,
        }
    }
}

/// A JSON value as a Cedar value: objects as records, arrays as sets, integers as `Long`,
/// other numbers as `decimal` when they have at most four decimals and fit, else as strings;
/// `null` (and what nests deeper than [`MAX_DEPTH`]) is left out. Built directly, never read as
/// Cedar's JSON form, so an argument cannot pose as an entity (`__entity`) or an extension
/// value (`__extn`).
fn cedar_value(value: &Value, depth: usize) -> Option<RestrictedExpression> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => RestrictedExpression::new_long(i),
            None => {
                let text = n.to_string();
                let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
                if decimals <= 4
                    && !text.contains(['e', 'E'])
                    && n.as_f64().is_some_and(|f| f.abs() < 9.2e14)
                {
                    let text = if text.contains('.') {
                        text
                    } else {
                        format!("{text}.0")
                    };
                    RestrictedExpression::new_decimal(text)
                } else {
                    RestrictedExpression::new_string(text)
                }
            }
        },
        Value::Array(items) => RestrictedExpression::new_set(
            items.iter().filter_map(|item| cedar_value(item, depth + 1)),
        ),
        Value::Object(fields) => RestrictedExpression::new_record(
            fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), cedar_value(v, depth + 1)?))),
        )
        .ok()?,
    })
}

/// What `split` decides of `inputs`: `call_tool`, then `call_tool_unattended`.
fn decide(split: &Split, inputs: &Inputs) -> Outcome {
    let (denied, errors) = forbidden_in(&split.call, inputs, "call_tool");
    if !denied.is_empty() {
        return Outcome::Denied {
            policies: denied,
            errors,
        };
    }
    // A rule about approval that cannot be evaluated asks for a person too (it is among `held`).
    let (held, _errors) = forbidden_in(&split.unattended, inputs, "call_tool_unattended");
    if !held.is_empty() {
        return Outcome::ApprovalRequired { policies: held };
    }
    Outcome::Allowed
}

/// [`forbidden`] over the sets of `indexed` that a call of `inputs`' tool evaluates.
fn forbidden_in(indexed: &Indexed, inputs: &Inputs, action: &str) -> (Vec<String>, Vec<String>) {
    let (mut policies, mut errors) = (Vec::new(), Vec::new());
    for set in indexed.for_tool(&inputs.name) {
        let (p, e) = forbidden(set, inputs, action);
        policies.extend(p);
        errors.extend(e);
    }
    policies.sort();
    policies.dedup();
    (policies, errors)
}

/// The `forbid` rules of `action` that matched, or could not be evaluated (fail closed), and
/// the evaluation errors.
fn forbidden(set: &PolicySet, inputs: &Inputs, action: &str) -> (Vec<String>, Vec<String>) {
    let action = EntityUid::from_type_name_and_id(
        "Action".parse().expect("a built-in type name"),
        cedar_policy::EntityId::new(action),
    );
    let Some(context) = inputs.context.clone() else {
        return (
            vec![BASELINE.to_owned()],
            vec!["the call's context could not be built".to_owned()],
        );
    };
    let request = match Request::new(
        inputs.user.clone(),
        action,
        inputs.tool.clone(),
        context,
        None,
    ) {
        Ok(request) => request,
        Err(e) => return (vec![BASELINE.to_owned()], vec![e.to_string()]),
    };
    let response = Authorizer::new().is_authorized(&request, set, &inputs.entities);
    let mut policies: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    if response.decision() == Decision::Deny {
        policies.extend(response.diagnostics().reason().map(ToString::to_string));
    }
    for error in response.diagnostics().errors() {
        let cedar_policy::AuthorizationError::PolicyEvaluationError(error) = error;
        let id = error.policy_id();
        if set.policy(id).is_some_and(|p| p.effect() == Effect::Forbid) {
            policies.push(id.to_string());
            errors.push(format!("{id}: {error}"));
        }
    }
    policies.sort();
    policies.dedup();
    (policies, errors)
}

/// Tenants' rules as last built by this instance, each under the revision of the tenant's
/// policies it was built from: a tenant's rules are built again only when that revision moves.
/// Holds at most [`RulesCache::MAX_RULES`] rules in all (the least recently used tenants go
/// first), so a warm instance serving many tenants stays small.
#[derive(Debug, Default)]
pub struct RulesCache {
    kept: std::sync::Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    tenants: HashMap<String, KeptRules>,
    rules: usize,
    clock: u64,
}

#[derive(Debug)]
struct KeptRules {
    revision: u64,
    rules: std::sync::Arc<Rules>,
    count: usize,
    used: u64,
}

impl RulesCache {
    /// Most rules kept over all tenants.
    pub const MAX_RULES: usize = 20_000;

    /// The tenant's rules if they were built from `revision`.
    pub fn get(&self, tenant_id: &str, revision: u64) -> Option<std::sync::Arc<Rules>> {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.clock += 1;
        let now = kept.clock;
        let entry = kept.tenants.get_mut(tenant_id)?;
        if entry.revision != revision {
            return None;
        }
        entry.used = now;
        Some(std::sync::Arc::clone(&entry.rules))
    }

    /// Keeps the tenant's rules, built from `revision` with `count` rules, unless a newer
    /// revision is kept already.
    pub fn put(&self, tenant_id: &str, revision: u64, rules: std::sync::Arc<Rules>, count: usize) {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept
            .tenants
            .get(tenant_id)
            .is_some_and(|entry| entry.revision > revision)
        {
            return;
        }
        kept.clock += 1;
        let used = kept.clock;
        if let Some(old) = kept.tenants.remove(tenant_id) {
            kept.rules -= old.count;
        }
        // Room for the new ones: the least recently used go (one tenant over the cap is kept
        // alone).
        while kept.rules + count > Self::MAX_RULES {
            let Some(oldest) = kept
                .tenants
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(tenant, _)| tenant.clone())
            else {
                break;
            };
            if let Some(old) = kept.tenants.remove(&oldest) {
                kept.rules -= old.count;
            }
        }
        kept.rules += count;
        kept.tenants.insert(
            tenant_id.to_owned(),
            KeptRules {
                revision,
                rules,
                count,
                used,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(arguments: &Value) -> Call<'_> {
        Call {
            user_id: "bob",
            role: "member",
            agent_id: "a1",
            server_id: "s1",
            tool: "transfer",
            read_only: false,
            destructive: false,
            arguments,
        }
    }

    fn rules(texts: &[(&str, &str, bool)]) -> Rules {
        for (_, text, _) in texts {
            check(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        Rules::new(texts.iter().map(|(id, text, shadow)| Rule {
            id,
            text,
            shadow: *shadow,
        }))
        .unwrap()
    }

    #[test]
    fn without_rules_every_call_is_allowed() {
        let none = Rules::new([]).unwrap();
        assert!(none.is_empty());
        let decided = none.decide(&call(&json!({"amount": 5})));
        assert_eq!(decided.outcome, Outcome::Allowed);
        assert_eq!(decided.shadow, None);
    }

    #[test]
    fn argument_conditions_deny_ask_for_approval_or_allow() {
        let set = rules(&[
            (
                "no-big",
                r#"forbid(principal, action == Action::"call_tool", resource) when { context.arguments.amount > 100000 };"#,
                false,
            ),
            (
                "ask-over-1000",
                r#"forbid(principal, action == Action::"call_tool_unattended", resource) when { context.arguments.amount > 1000 };"#,
                false,
            ),
        ]);
        assert_eq!(
            set.decide(&call(&json!({"amount": 10}))).outcome,
            Outcome::Allowed
        );
        assert_eq!(
            set.decide(&call(&json!({"amount": 5000}))).outcome,
            Outcome::ApprovalRequired {
                policies: vec!["ask-over-1000".into()]
            }
        );
        assert!(matches!(
            set.decide(&call(&json!({"amount": 500000}))).outcome,
            Outcome::Denied { ref policies, .. } if policies == &["no-big"]
        ));
    }

    #[test]
    fn a_forbid_that_cannot_be_evaluated_fails_closed_and_says_why() {
        let set = rules(&[(
            "no-big",
            r#"forbid(principal, action == Action::"call_tool", resource) when { context.arguments.amount > 100 };"#,
            false,
        )]);
        // Missing, and of the wrong type: denied, naming the rule and the error.
        for arguments in [json!({}), json!({"amount": "lots"})] {
            let Outcome::Denied { policies, errors } = set.decide(&call(&arguments)).outcome else {
                panic!("{arguments} was not denied");
            };
            assert_eq!(policies, ["no-big"]);
            assert!(errors[0].starts_with("no-big: "), "{errors:?}");
        }
        // `has` guards an optional argument.
        let guarded = rules(&[(
            "no-big",
            r#"forbid(principal, action, resource) when { context.arguments has amount && context.arguments.amount > 100 };"#,
            false,
        )]);
        assert_eq!(guarded.decide(&call(&json!({}))).outcome, Outcome::Allowed);
    }

    #[test]
    fn nested_arguments_strings_roles_and_annotations_can_be_tested() {
        let set = rules(&[
            (
                "eu-only",
                r#"forbid(principal, action, resource) when { context.arguments has target && context.arguments.target.region != "eu" };"#,
                false,
            ),
            (
                "members-read-only",
                r#"forbid(principal, action, resource) when { principal.role == "member" && !resource.read_only };"#,
                true,
            ),
        ]);
        let eu = json!({"target": {"region": "eu", "sizes": [1, 2.5]}});
        let us = json!({"target": {"region": "us"}});
        let decided = set.decide(&call(&eu));
        assert_eq!(decided.outcome, Outcome::Allowed);
        // The shadow rule would have denied; it changes nothing.
        assert!(
            matches!(decided.shadow, Some(Outcome::Denied { ref policies, .. }) if policies == &["members-read-only"])
        );
        assert!(matches!(
            set.decide(&call(&us)).outcome,
            Outcome::Denied { .. }
        ));
    }

    #[test]
    fn a_rule_that_looks_at_the_action_decides_each_action_on_its_own() {
        let set = rules(&[(
            "ask-for-deletes",
            r#"forbid(principal, action, resource) when { action == Action::"call_tool_unattended" && resource.name like "del*" };"#,
            false,
        )]);
        let arguments = json!({});
        let mut delete = call(&arguments);
        delete.tool = "delete_file";
        assert_eq!(
            set.decide(&delete).outcome,
            Outcome::ApprovalRequired {
                policies: vec!["ask-for-deletes".into()]
            }
        );
        assert_eq!(set.decide(&call(&arguments)).outcome, Outcome::Allowed);
    }

    #[test]
    fn an_argument_cannot_pose_as_an_entity() {
        let set = rules(&[(
            "not-admins",
            r#"forbid(principal, action, resource) when { context.arguments has who && context.arguments.who == User::"admin" };"#,
            false,
        )]);
        let posing = json!({"who": {"__entity": {"type": "User", "id": "admin"}}});
        assert_eq!(set.decide(&call(&posing)).outcome, Outcome::Allowed);
    }

    #[test]
    fn a_catalogue_leaves_out_only_what_no_call_could_run() {
        let set = rules(&[
            (
                "members-no-deletes",
                r#"forbid(principal, action == Action::"call_tool", resource) when { principal.role == "member" && resource.destructive };"#,
                false,
            ),
            (
                "no-big",
                r#"forbid(principal, action, resource) when { context.arguments.amount > 100 };"#,
                false,
            ),
            (
                "ask-first",
                r#"@loggable("amount, currency")
forbid(principal, action == Action::"call_tool_unattended", resource);"#,
                false,
            ),
            (
                "shadow-all",
                r#"forbid(principal, action, resource);"#,
                true,
            ),
        ]);
        let arguments = json!({"amount": 1});
        let mut delete = call(&arguments);
        delete.destructive = true;
        assert_eq!(
            set.hidden(&delete),
            Some(vec!["members-no-deletes".to_owned()])
        );
        assert!(
            matches!(set.decide(&delete).outcome, Outcome::Denied { ref policies, .. } if policies == &["members-no-deletes"])
        );
        // Rules that look at the arguments, ask for approval or only shadow hide nothing.
        assert_eq!(set.hidden(&call(&arguments)), None);
        delete.role = "admin";
        assert_eq!(set.hidden(&delete), None);
        let decided = set.decide(&call(&arguments));
        let Outcome::ApprovalRequired { policies } = &decided.outcome else {
            panic!("{decided:?}");
        };
        assert_eq!(set.loggable(policies), ["amount", "currency"]);
        assert!(set.loggable(&["no-big".to_owned()]).is_empty());
    }

    #[test]
    fn permit_rules_and_bad_annotations_are_refused() {
        let e = check(
            "// allow reads\npermit(principal, action, resource) when { resource.read_only };",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.message.contains("forbid"), "{e}");
        let e = check("@loggable(\"a b\")\nforbid(principal, action, resource);").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1), "{e}");
        check("@loggable(\"amount\") forbid(principal, action, resource);").unwrap();
    }

    #[test]
    fn the_cache_keeps_the_newest_revision_and_drops_the_least_recently_used() {
        let cache = RulesCache::default();
        let none = std::sync::Arc::new(Rules::new([]).unwrap());
        cache.put(
            "a",
            2,
            std::sync::Arc::clone(&none),
            RulesCache::MAX_RULES / 2,
        );
        cache.put("a", 1, std::sync::Arc::clone(&none), 1);
        assert!(cache.get("a", 2).is_some() && cache.get("a", 1).is_none());
        cache.put(
            "b",
            1,
            std::sync::Arc::clone(&none),
            RulesCache::MAX_RULES / 2,
        );
        assert!(cache.get("a", 2).is_some());
        // Over the cap: `b`, used least recently, goes.
        cache.put("c", 1, std::sync::Arc::clone(&none), 1);
        assert!(cache.get("b", 1).is_none());
        assert!(cache.get("a", 2).is_some() && cache.get("c", 1).is_some());
    }

    #[test]
    fn a_call_evaluates_only_its_tools_rules_and_the_general_ones() {
        let named = |text: &str| {
            let set: PolicySet = text.parse().unwrap();
            tool_named_first(set.policies().next().unwrap())
        };
        let first = r#"forbid(principal, action, resource) when { resource.name == "transfer" && context.arguments.amount > 5 };"#;
        let last = r#"forbid(principal, action, resource) when { context.arguments.amount > 5 && resource.name == "transfer" };"#;
        assert_eq!(named(first).as_deref(), Some("transfer"));
        assert_eq!(named(last), None);
        assert_eq!(
            named(r#"forbid(principal, action, resource) unless { resource.name == "x" };"#),
            None
        );
        // The same outcomes as evaluating every rule: a rule that names the tool first cannot
        // err for another tool; one that reads the argument first fails closed for it.
        let set = rules(&[("first", first, false), ("last", last, false)]);
        let arguments = json!({});
        let mut echo = call(&arguments);
        echo.tool = "echo";
        assert!(
            matches!(set.decide(&echo).outcome, Outcome::Denied { ref policies, .. } if policies == &["last"])
        );
        let amount = json!({"amount": 10});
        let transfer = call(&amount);
        assert!(
            matches!(set.decide(&transfer).outcome, Outcome::Denied { ref policies, .. } if policies == &["first", "last"])
        );
    }

    #[test]
    fn bad_text_is_refused_with_its_position() {
        let e = check("forbid(principal, action, resource)\nwhen { context.arguments.amount > };")
            .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = check("forbid(principal, action, resource)\n  when { resource.colour == 1 };")
            .unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e}");
        assert!(e.message.contains("colour"), "{e}");
        let e = check("forbid(principal, action, resource) when { context.argument.x == 1 };")
            .unwrap_err();
        assert!(e.message.contains("argument"), "{e}");
        assert!(check("").is_err());
        // Any argument by name validates, nested ones too.
        check(r#"forbid(principal, action, resource) when { context.arguments.a.b.c == "x" };"#)
            .unwrap();
    }
}
