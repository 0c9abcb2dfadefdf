"""Schemathesis hooks of the OpenAPI conformance run (tests/tests/suite/openapi_conformance.rs).

The OpenAPI document states every rule JSON Schema can state. A few rules it cannot: they
compare two values of one body, or need a secret that exists. Here each generated schema-valid
body (positive case) is made to meet them, so that it must be accepted; a negative case is left
as it was generated.

- Secrets Manager references name a secret tagged for the caller's tenant (stored state): a
  reference is pointed at the one the test created (STUDIO_SCHEMATHESIS_SECRET_ARN, JSON key
  `key`).
- A `revocation_url` is on its `token_url`'s origin (two values).
- An inline auth config's credentials may go to its MCP server's origin (two values).
- A `private_key` given as a value is a usable PEM key (a key format, not a JSON Schema): it is
  replaced by a throw-away EC P-256 key made for these tests; an inline auth config with
  `private_key_jwt` (created with its MCP server) is given one (it must bring its own key).
- An agent's `tool_allowlist` keys are among its `mcp_server_config_ids` (two values).
- A policy's text is Cedar that parses and validates against the policy schema (a grammar, not
  a JSON Schema): it is replaced by one such rule, which matches no tool of the run.
"""

import os
from urllib.parse import urlsplit

import schemathesis

SECRET_ARN = os.environ["STUDIO_SCHEMATHESIS_SECRET_ARN"]
MAX_URL_LEN = 2048
MAX_ORIGINS = 20
MAX_SERVERS = 20
# A throw-away key for the run, never used anywhere else.
PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmxqIPvwMfbjGDrrX
MKOUaBGownvpKvbxoZyAKRqvIH2hRANCAASmLMVoeYryrieMm2tB8mEkjqpFVghc
xHJnsvb5OVQEqaf5l4NGqextmFRixkuJtmwqSZ1Vp4OdcEEcxiIcDIfe
-----END PRIVATE KEY-----
"""
POLICY = 'forbid(principal, action, resource) when { resource.name == "no-such-tool" };'


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _point_references(value):
    """Points every Secrets Manager reference at the test's secret."""
    if isinstance(value, dict):
        if isinstance(value.get("secret_arn"), str):
            value["secret_arn"] = SECRET_ARN
            if isinstance(value.get("json_key"), str):
                value["json_key"] = "key"
        for item in value.values():
            _point_references(item)
    elif isinstance(value, list):
        for item in value:
            _point_references(item)


def _auth_config(config, server_url=None):
    if not isinstance(config, dict):
        return
    if isinstance(config.get("private_key"), str):
        config["private_key"] = PRIVATE_KEY
    # Inline (with a server), a private_key_jwt config brings its key: one this service would
    # create is not registered anywhere yet.
    key_signed = config.get("token_endpoint_auth_method") == "private_key_jwt"
    if server_url is not None and key_signed and config.get("private_key") is None:
        config["private_key"] = PRIVATE_KEY
    token_url, revocation_url = config.get("token_url"), config.get("revocation_url")
    if isinstance(token_url, str) and isinstance(revocation_url, str):
        moved = _origin(token_url) + revocation_url[len(_origin(revocation_url)) :]
        if len(moved) <= MAX_URL_LEN:
            config["revocation_url"] = moved
        else:
            config["revocation_url"] = _origin(token_url)
    if isinstance(server_url, str):
        origins = config.get("allowed_origins")
        if isinstance(origins, list):
            config["allowed_origins"] = (origins + [server_url])[-MAX_ORIGINS:]
        elif origins is None and isinstance(config.get("resource"), str):
            config["allowed_origins"] = [server_url]


def _agent(agent):
    ids, allowlist = agent.get("mcp_server_config_ids"), agent.get("tool_allowlist")
    if not isinstance(allowlist, dict):
        return
    if not isinstance(ids, list):
        ids = agent["mcp_server_config_ids"] = []
    for key in list(allowlist):
        if key not in ids:
            if len(ids) < MAX_SERVERS:
                ids.append(key)
            else:
                del allowlist[key]


@schemathesis.hook
def map_case(ctx, case):
    # A case hook: it runs in every phase (coverage cases bypass the body hooks).
    body = case.body
    if case.meta is None or case.meta.generation.mode != "positive" or not isinstance(body, dict):
        return case
    _point_references(body)
    path = case.operation.path
    if path.startswith("/ai/api/v1/auth_configs"):
        _auth_config(body)
    elif path.startswith("/ai/api/v1/config/mcp-server"):
        _auth_config(body.get("auth_config"), body.get("url"))
    elif path.startswith("/ai/api/v1/config/agent"):
        _agent(body)
    elif path.startswith("/ai/api/v1/config/policy") and "policy" in body:
        body["policy"] = POLICY
    return case
