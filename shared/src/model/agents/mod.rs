//! Agents: LLM configs, agents (an LLM config, a prompt and the MCP servers it may use, with
//! counted references), an agent's tools at run time (its catalogue, a tool call), the
//! tenant's tool-call policies and the approvals they ask for. May use
//! `servers`, `credentials`, `oauth`, `auth_records`, `events` and the core; nothing uses it but
//! the HTTP layer.

pub mod agent;
pub mod agent_tools;
pub mod approval;
pub mod arguments;
pub mod call_policy;
pub mod llm_config;
pub mod tool_policy;
