//! The rules of request bodies that the derived schemas leave out, stated in JSON Schema so that
//! generated clients and validators know them as the API does:
//!
//! - **formats** ([`fields`]): display names, URLs (https; redirect URIs also http on a loopback
//!   host), ids, OAuth scopes, header names and values, secret values and Secrets Manager
//!   references, tool name patterns. Each pattern states one validator of
//!   [`crate::model::validate`] (or of the model that owns the field); the tests hold each to it.
//! - **rules between fields** ([`between_fields`]): one schema per `auth_type` (a `oneOf` with a
//!   discriminator) with the fields it takes and requires, `discover_from` and what it fills, the
//!   client authentication rules; the LLM providers that need `base_url` or `api_key`;
//!   `auth_config` xor `auth_config_id`; `tools` xor `all` for approvals.
//! - **merge patches**: `{"set": true}` (keep the stored secret) only in a patch, and the
//!   create-only inline `auth_config` of an MCP server config never in one.
//!
//! What JSON Schema cannot state stays in prose: rules that compare two values (a
//! `revocation_url` on the `token_url`'s origin, allowlist keys among `mcp_server_config_ids`)
//! and rules that depend on stored state (references, secrets in Secrets Manager, the record a
//! patch applies to).

use serde_json::{Map, Value, json};

use crate::model::{
    agent::MAX_ALLOWLIST_ENTRIES,
    auth_discovery::DISCOVERED,
    auth_record::{AuthType, TokenEndpointAuthMethod},
    llm_config::LlmProvider,
    validate::{self, MAX_URL_LEN, RESERVED_HEADERS, RESERVED_PREFIXES},
};

/// Text without control characters and not only whitespace (`validate::text`).
pub const TEXT: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";
/// A user name for HTTP Basic: [`TEXT`] without `:`.
pub const USERNAME: &str =
    r"^[^:\x00-\x1F\x7F-\x9F]*[^:\s\x00-\x1F\x7F-\x9F][^:\x00-\x1F\x7F-\x9F]*$";
const HTTPS: &str = "[Hh][Tt][Tt][Pp][Ss]";

/// An https URL of a remote server: a host, no user info, no fragment (`validate::remote_url`;
/// `http` too where the deployment allows insecure HTTP, as the local stack does).
pub fn https_url() -> String {
    validate::url_pattern(HTTPS, true)
}

/// An issuer identifier: [`https_url`] without a query.
pub fn issuer_url() -> String {
    validate::url_pattern(HTTPS, false)
}

/// A redirect URI: https, or http on a loopback host (`validate::redirect_uri`).
pub fn redirect_uri() -> String {
    let https = validate::url_pattern(HTTPS, true);
    let loopback = validate::url_pattern_on(
        "[Hh][Tt][Tt][Pp]",
        r"(localhost|127\.0\.0\.1|\[::1\])",
        true,
    );
    format!("({https})|({loopback})")
}

/// An OAuth scope token (`validate::scope`).
pub const SCOPE: &str = r"^[\x21\x23-\x5B\x5D-\x7E]+$";
/// An HTTP header name: an RFC 9110 token (`validate::header_name`).
pub const HEADER_NAME: &str = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/// A header value: no control characters but tab, not starting or ending with whitespace
/// (`validate::header_value`).
pub const HEADER_VALUE: &str = r"^[^\x00-\x08\x0A-\x1F\x7F-\x9F \t]([^\x00-\x08\x0A-\x1F\x7F-\x9F]*[^\x00-\x08\x0A-\x1F\x7F-\x9F \t])?$";
/// A secret given inline: no CR, LF or NUL (`validate::secret_value`).
pub const SECRET_VALUE: &str = r"^[^\r\n\x00]+$";
/// A Secrets Manager secret ARN (`validate::secret_arn`).
pub const SECRET_ARN: &str = r"^arn:aws[^:]*:secretsmanager:[^:]+:[0-9]{12}:secret:[\s\S]+$";
/// A tool name, optionally ending in `*` as a prefix glob (the agent's allowlist).
pub const TOOL_PATTERN: &str = r"^[A-Za-z0-9_./-]*\*?$";
/// Longest header value and inline secret: the validators count bytes, the document characters
/// (a value of that many characters outside ASCII is longer in bytes and refused).
const MAX_SECRET_BYTES: usize = validate::MAX_SECRET_BYTES;

fn text(max: usize) -> Value {
    json!({ "pattern": TEXT, "minLength": 1, "maxLength": max })
}

fn url(pattern: String) -> Value {
    json!({ "format": "uri", "pattern": pattern, "maxLength": MAX_URL_LEN })
}

/// `[Xx]` for each letter: a case-insensitive pattern without flags (ECMA-262 has none inline).
fn caseless(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// The header names a config may set: tokens, not reserved, `Authorization` only for `NONE`.
fn header_names(authorization_allowed: bool) -> Value {
    let mut exact: Vec<String> = RESERVED_HEADERS.iter().map(|h| caseless(h)).collect();
    if !authorization_allowed {
        exact.push(caseless("authorization"));
    }
    let prefixes: Vec<String> = RESERVED_PREFIXES.iter().map(|p| caseless(p)).collect();
    json!({
        "pattern": HEADER_NAME,
        "minLength": 1,
        "maxLength": 128,
        "not": { "pattern": format!("^({})$|^({})", exact.join("|"), prefixes.join("|")) }
    })
}

/// Merges `rule` into the schema at `pointer` (an object property may be a `oneOf` with `null`:
/// the rule then goes to the non-null branch).
fn add(schemas: &mut Map<String, Value>, schema: &str, pointer: &str, rule: Value) {
    let Some(target) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(pointer)) else {
        return;
    };
    let target = match target.get_mut("oneOf").and_then(Value::as_array_mut) {
        Some(branches) => match branches.iter_mut().find(|b| b["type"] != "null") {
            Some(branch) => branch,
            None => return,
        },
        None => target,
    };
    if let (Some(target), Value::Object(rule)) = (target.as_object_mut(), rule) {
        target.extend(rule);
    }
}

fn secret_schemas(schemas: &mut Map<String, Value>) {
    schemas.remove("SecretObject");
    schemas.insert(
        "SecretReference".into(),
        json!({
            "type": "object",
            "description": "A secret kept in AWS Secrets Manager, tagged `agent-studio:tenant=<tenant>`; resolved when used.",
            "properties": {
                "secret_arn": { "type": "string", "description": "Secrets Manager secret ARN.",
                                "pattern": SECRET_ARN, "maxLength": 2048 },
                "json_key": { "type": ["string", "null"], "description": "Key inside a JSON secret.",
                              "pattern": TEXT, "minLength": 1, "maxLength": 256 },
                "set": { "enum": [true, null], "description": "Allowed, and ignored, with a reference." }
            },
            "required": ["secret_arn"],
            "additionalProperties": false
        }),
    );
    schemas.insert(
        "SecretKept".into(),
        json!({
            "type": "object",
            "description": "In a merge patch: keep the stored secret.",
            "properties": {
                "set": { "const": true },
                "secret_arn": { "type": "null" },
                "json_key": { "type": "null" }
            },
            "required": ["set"],
            "additionalProperties": false
        }),
    );
    let reference = json!({ "$ref": "#/components/schemas/SecretReference" });
    let kept = json!({ "$ref": "#/components/schemas/SecretKept" });
    let value = json!({ "type": "string", "description": "The secret value.", "pattern": SECRET_VALUE,
                        "minLength": 1, "maxLength": MAX_SECRET_BYTES });
    let header = json!({ "type": "string", "description": "The header value.", "pattern": HEADER_VALUE,
                         "minLength": 1, "maxLength": MAX_SECRET_BYTES });
    let kinds = [
        ("SecretInput", "A secret", value),
        ("HeaderValueInput", "A header value (secret)", header),
    ];
    for (name, what, inline) in kinds {
        let description = format!("{what}: the value itself, or a Secrets Manager reference.");
        let patch = json!({
            "description": format!("{description} `{{\"set\": true}}` keeps the stored one."),
            "oneOf": [inline, reference, kept]
        });
        let create = json!({ "description": description, "oneOf": [inline, reference] });
        schemas.insert(name.into(), create);
        schemas.insert(format!("{name}Patch"), patch);
    }
}

/// States the format of each field (before merge patches are derived from the create bodies,
/// which then carry the same formats).
pub fn fields(schemas: &mut Map<String, Value>) {
    secret_schemas(schemas);
    for schema in [
        "AuthConfigInput",
        "McpServerInput",
        "LlmConfigInput",
        "AgentInput",
        "WebhookInput",
        "PolicyInput",
    ] {
        add(
            schemas,
            schema,
            "/properties/name",
            json!({ "pattern": TEXT }),
        );
    }
    let https = || url(https_url());
    let config = "AuthConfigInput";
    add(
        schemas,
        config,
        "/properties/username",
        json!({ "pattern": USERNAME, "minLength": 1, "maxLength": 256 }),
    );
    for field in [
        "token_url",
        "authorization_url",
        "revocation_url",
        "discover_from",
        "resource",
    ] {
        add(schemas, config, &format!("/properties/{field}"), https());
    }
    let issuer = url(issuer_url());
    add(schemas, config, "/properties/issuer", issuer);
    add(schemas, config, "/properties/client_id", text(256));
    add(schemas, config, "/properties/audience", text(512));
    add(
        schemas,
        config,
        "/properties/scopes/items",
        json!({ "pattern": SCOPE, "minLength": 1, "maxLength": 256 }),
    );
    add(
        schemas,
        config,
        "/properties/allowed_redirect_uris",
        json!({ "uniqueItems": true }),
    );
    add(
        schemas,
        config,
        "/properties/allowed_redirect_uris/items",
        url(redirect_uri()),
    );
    add(
        schemas,
        config,
        "/properties/allowed_origins/items",
        https(),
    );
    if let Some(headers) = schemas
        .get_mut(config)
        .and_then(|s| s.pointer_mut("/properties/custom_headers"))
    {
        headers["additionalProperties"] =
            json!({ "$ref": "#/components/schemas/HeaderValueInput" });
        headers["propertyNames"] = header_names(true);
        headers["maxProperties"] = json!(32);
    }
    add(
        schemas,
        "DecisionInput",
        "/properties/reason",
        json!({ "pattern": TEXT }),
    );
    add(schemas, "McpServerInput", "/properties/url", https());
    add(schemas, "WebhookInput", "/properties/url", https());
    add(
        schemas,
        "WebhookInput",
        "/properties/events",
        json!({ "minItems": 1 }),
    );
    add(
        schemas,
        "LlmConfigInput",
        "/properties/model",
        json!({ "pattern": TEXT }),
    );
    add(schemas, "LlmConfigInput", "/properties/base_url", https());
    let agent = "AgentInput";
    add(
        schemas,
        agent,
        "/properties/prompt",
        json!({ "pattern": r"\S" }),
    );
    add(
        schemas,
        agent,
        "/properties/mcp_server_config_ids",
        json!({ "uniqueItems": true, "items": { "type": "string", "format": "uuid" } }),
    );
    add(
        schemas,
        agent,
        "/properties/tool_allowlist",
        json!({
            "propertyNames": { "format": "uuid" },
            "additionalProperties": {
                "type": "array",
                "maxItems": MAX_ALLOWLIST_ENTRIES,
                "items": { "type": "string", "pattern": TOOL_PATTERN, "minLength": 1, "maxLength": 128 }
            }
        }),
    );
}

/// `field` is present and not `null`.
fn given(field: &str) -> Value {
    json!({ "required": [field], "properties": { field: { "not": { "type": "null" } } } })
}

/// `when` implies `then` (stated without `if`, which some generators read as unconditional).
fn implies(when: Value, then: Value) -> Value {
    json!({ "anyOf": [{ "not": when }, then] })
}

/// The schema without its `null` alternative.
fn non_null(schema: &Value) -> Value {
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = branches.iter().filter(|b| b["type"] != "null").collect();
        if let [only] = rest.as_slice() {
            return (*only).clone();
        }
    }
    let mut schema = schema.clone();
    if let Some(types) = schema.get("type").and_then(Value::as_array) {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = match rest.as_slice() {
            [only] => only.clone(),
            _ => Value::Array(rest),
        };
    }
    schema
}

fn name_of<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The schema of one `auth_type`, from the flat `AuthConfigInput`.
fn auth_config_variant(flat: &Value, t: AuthType) -> Value {
    let mut variant = flat.clone();
    let every: Vec<&str> = AuthType::ALL
        .iter()
        .flat_map(|t| t.fields())
        .copied()
        .collect();
    let discovers = matches!(t, AuthType::ClientCredentials | AuthType::AuthorizationCode);
    let mut rules = Vec::new();
    let mut required = vec!["name", "auth_type"];
    let Some(properties) = variant["properties"].as_object_mut() else {
        return variant;
    };
    let null = |p: &mut Map<String, Value>, field: &str, why: &str| {
        p.insert(field.into(), json!({ "type": "null", "description": why }));
    };
    for field in every {
        if !t.fields().contains(&field) {
            null(
                properties,
                field,
                &format!("Not taken by auth_type {}.", t.name()),
            );
        }
    }
    if !discovers {
        null(properties, "discover_from", "Only for OAuth configs.");
    }
    properties.insert(
        "auth_type".into(),
        json!({ "const": t.name(), "description": "Credential type (`type` is accepted as a deprecated alias, never together with it)." }),
    );
    if let Some(headers) = properties.get_mut("custom_headers") {
        headers["propertyNames"] = header_names(t == AuthType::None);
    }
    for field in t.required_fields() {
        // Discovery fills the endpoints and, for AUTHORIZATION_CODE, registers the client.
        let filled = DISCOVERED.contains(field)
            || (t == AuthType::AuthorizationCode && *field == "client_id");
        if !(discovers && filled) {
            required.push(field);
            let schema = non_null(&properties[*field]);
            properties.insert((*field).into(), schema);
        }
    }
    if discovers {
        let filled: Vec<&str> = t
            .required_fields()
            .iter()
            .filter(|f| !required.contains(f))
            .copied()
            .collect();
        let absent: Map<String, Value> = DISCOVERED
            .iter()
            .filter(|f| t.fields().contains(f))
            .map(|f| ((*f).to_owned(), json!({ "type": "null" })))
            .collect();
        rules.push(implies(
            given("discover_from"),
            json!({ "properties": absent }),
        ));
        let mut either = vec![given("discover_from")];
        either.push(json!({ "allOf": filled.iter().map(|f| given(f)).collect::<Vec<_>>() }));
        rules.push(json!({ "anyOf": either }));
    }
    let method = "token_endpoint_auth_method";
    let [basic, post, none, key_jwt] = [
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::None,
        TokenEndpointAuthMethod::PrivateKeyJwt,
    ]
    .map(name_of);
    let is = |value: &Value| json!({ "required": [method], "properties": { method: { "enum": value } } });
    if discovers {
        // A private key only signs assertions, and replaces the client secret.
        let no_secret = json!({ "properties": { "client_secret": { "type": "null" } } });
        rules.push(implies(given("private_key"), is(&json!([key_jwt]))));
        rules.push(implies(is(&json!([key_jwt])), no_secret));
    }
    match t {
        AuthType::ClientCredentials => {
            properties.insert(
                method.into(),
                json!({ "enum": [basic, post, key_jwt, null], "description": "Client authentication at the token endpoint (default client_secret_basic)." }),
            );
            rules.push(json!({ "anyOf": [is(&json!([key_jwt])), given("client_secret")] }));
        }
        AuthType::AuthorizationCode => {
            let pkce = json!({ "properties": { "use_pkce": { "enum": [true, null] } } });
            let public = json!({ "properties": { "client_secret": { "type": "null" } } });
            rules.push(implies(is(&json!([none])), public));
            rules.push(implies(is(&json!([none])), pkce.clone()));
            rules.push(implies(is(&json!([basic, post])), given("client_secret")));
            rules.push(json!({ "anyOf": [given(method), given("client_secret"), pkce] }));
            rules.push(implies(
                json!({ "allOf": [given("discover_from"), given("client_secret")] }),
                given("client_id"),
            ));
        }
        AuthType::None | AuthType::Basic => {}
    }
    variant["required"] = json!(required);
    variant["title"] = json!(t.name());
    if !rules.is_empty() {
        variant["allOf"] = Value::Array(rules);
    }
    variant
}

/// `AuthConfigInput` becomes one schema per `auth_type`, chosen by the discriminator.
fn auth_config_variants(schemas: &mut Map<String, Value>) {
    let Some(flat) = schemas.get("AuthConfigInput").cloned() else {
        return;
    };
    let mut branches = Vec::new();
    let mut mapping = Map::new();
    for t in AuthType::ALL {
        let camel: String = t
            .name()
            .split('_')
            .map(|w| w[..1].to_owned() + &w[1..].to_ascii_lowercase())
            .collect();
        let name = format!("AuthConfig{camel}");
        let reference = format!("#/components/schemas/{name}");
        branches.push(json!({ "$ref": reference }));
        mapping.insert(t.name().into(), Value::from(reference));
        schemas.insert(name, auth_config_variant(&flat, t));
    }
    schemas.insert(
        "AuthConfigInput".into(),
        json!({
            "description": flat.get("description").cloned().unwrap_or_default(),
            "oneOf": branches,
            "discriminator": { "propertyName": "auth_type", "mapping": mapping }
        }),
    );
}

/// States the rules between fields of the create bodies, and what only a merge patch (or only a
/// create) may say. Runs after the merge patches were derived.
pub fn between_fields(schemas: &mut Map<String, Value>) {
    auth_config_variants(schemas);
    // The providers that need a field, from the validator's own rule.
    let needs = |field: &str, rule: fn(LlmProvider) -> bool| {
        let names: Vec<Value> = LlmProvider::ALL
            .into_iter()
            .filter(|p| rule(*p))
            .map(name_of)
            .collect();
        implies(
            json!({ "properties": { "provider": { "enum": names } } }),
            given(field),
        )
    };
    let llm = vec![
        needs("base_url", LlmProvider::needs_base_url),
        needs("api_key", LlmProvider::needs_api_key),
    ];
    if let Some(schema) = schemas.get_mut("LlmConfigInput") {
        schema["allOf"] = Value::Array(llm);
    }
    if let Some(schema) = schemas.get_mut("McpServerInput") {
        schema["not"] = json!({ "allOf": [given("auth_config"), given("auth_config_id")] });
    }
    if let Some(schema) = schemas.get_mut("McpServerInputPatch") {
        schema["properties"]["auth_config"] = json!({
            "type": "null",
            "description": "An inline auth config is only accepted on create."
        });
    }
    if let Some(schema) = schemas.get_mut("ToolApproval") {
        schema["oneOf"] = json!([
            { "required": ["tools"],
              "properties": { "tools": { "type": "array", "minItems": 1 }, "all": { "enum": [false, null] } } },
            { "required": ["all"], "properties": { "all": { "const": true }, "tools": { "type": "null" } } }
        ]);
    }
    // A merge patch may keep a stored secret.
    let patches: Vec<String> = schemas
        .keys()
        .filter(|k| {
            k.ends_with("InputPatch") && !k.starts_with("Secret") && !k.starts_with("Header")
        })
        .cloned()
        .collect();
    for name in patches {
        if let Some(schema) = schemas.get_mut(&name) {
            to_patch_secrets(schema);
        }
    }
}

fn to_patch_secrets(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref") {
                if reference.ends_with("/SecretInput") || reference.ends_with("/HeaderValueInput") {
                    reference.push_str("Patch");
                }
            }
            object.values_mut().for_each(to_patch_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(to_patch_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        jsonschema::is_valid(&json!({ "pattern": pattern }), &json!(text))
    }

    /// The pattern and the validator agree on each sample: both accept it (`true`) or both
    /// refuse it.
    fn agree(pattern: &str, validator: fn(&str) -> bool, samples: &[(&str, bool)]) {
        for &(text, accepted) in samples {
            assert_eq!(matches(pattern, text), accepted, "the pattern on {text:?}");
            assert_eq!(validator(text), accepted, "the validator on {text:?}");
        }
    }

    fn remote(url: &str) -> bool {
        validate::remote_url(url, false).is_ok()
    }

    fn redirect(uri: &str) -> bool {
        validate::redirect_uri(uri, false).is_ok()
    }

    fn name(text: &str) -> bool {
        validate::text(text, 200).is_ok()
    }

    #[test]
    fn each_pattern_says_what_its_validator_accepts() {
        let urls = [
            ("https://mcp.example.com/mcp", true),
            ("https://127.0.0.1:8443/a/b?c=d", true),
            ("HTTPS://Example.COM", true),
            ("https://a.b-c.d:65535/x%20y", true),
            ("https://[::1]:8443/x", true),
            ("https://mcp_server:8080/mcp", true),
            ("https://1.2.3/", false),
            ("https://k.com*", false),
            ("https://a.com/%zz", false),
            ("https://a.com/a b", false),
            ("http://example.com/", false),
            ("https://user:pw@example.com/", false),
            ("https://example.com/#frag", false),
            ("ftp://example.com", false),
            ("https://", false),
            ("https://example.com:65536/", false),
            ("example.com", false),
        ];
        agree(&https_url(), remote, &urls);
        let redirects = [
            ("https://app.example.com/cb", true),
            ("http://localhost:3000/cb", true),
            ("http://127.0.0.1/cb", true),
            ("http://[::1]:8080/cb", true),
            ("http://example.com/cb", false),
            ("https://example.com/cb#x", false),
        ];
        agree(&redirect_uri(), redirect, &redirects);
        let names = [
            ("Jira", true),
            (" a ", true),
            ("é ü", true),
            ("a\u{7}", false),
            ("   ", false),
            ("", false),
            ("a\u{85}b", false),
        ];
        agree(TEXT, name, &names);
        let scopes = [
            ("read:all", true),
            ("openid", true),
            ("a b", false),
            ("\"x\"", false),
            ("a\\b", false),
            ("ü", false),
        ];
        agree(SCOPE, |s| validate::scope(s).is_ok(), &scopes);
        let values = [
            ("key", true),
            ("a\tb", true),
            ("é", true),
            (" a", false),
            ("a ", false),
            ("a\r\nb", false),
            ("\u{0}", false),
        ];
        agree(HEADER_VALUE, |v| validate::header_value(v).is_ok(), &values);
        let secrets = [
            ("s3cr3t", true),
            (" spaced ", true),
            ("a\nb", false),
            ("a\0", false),
        ];
        agree(
            SECRET_VALUE,
            |v| validate::secret_value(v).is_ok(),
            &secrets,
        );
        let arns = [
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
                true,
            ),
            (
                "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a:b",
                true,
            ),
            ("arn:aws:secretsmanager::123456789012:secret:x", false),
            ("arn:aws:s3:us-east-1:123456789012:secret:x", false),
            ("arn:aws:secretsmanager:us-east-1:1234:secret:x", false),
        ];
        agree(SECRET_ARN, |a| validate::secret_arn(a).is_ok(), &arns);
        let names = header_names(false);
        for (name, ok) in [
            ("X-Api-Key", true),
            ("HOST", false),
            ("X-Forwarded-For", false),
            ("x-amz-date", false),
            ("Authorization", false),
            ("a b", false),
        ] {
            assert_eq!(jsonschema::is_valid(&names, &json!(name)), ok, "{name}");
            assert_eq!(validate::header_name(name, false).is_ok(), ok, "{name}");
        }
        assert!(jsonschema::is_valid(
            &header_names(true),
            &json!("Authorization")
        ));
    }
}
