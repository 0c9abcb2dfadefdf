//! What the stateless MCP revision (2026-07-28) adds to a request, and how a server of that
//! revision is told from an older one: request metadata in every request's `params._meta`, the
//! standard headers (`Mcp-Method`, `Mcp-Name`), parameter headers (`Mcp-Param-*`) mirrored from
//! tool arguments whose schema designates them (`x-mcp-header`), and the JSON-RPC error codes a
//! server of that revision answers an older request with.

use base64::Engine;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The stateless revision this client speaks.
pub const STATELESS_VERSION: &str = "2026-07-28";
/// The newest revision with the `initialize` handshake, offered first.
pub const HANDSHAKE_VERSION: &str = "2025-11-25";
/// Header naming the JSON-RPC method of a request.
pub const METHOD_HEADER: &str = "mcp-method";
/// Header naming the tool, prompt or resource a request is about.
pub const NAME_HEADER: &str = "mcp-name";
/// Most parameter headers one tool may designate.
const MAX_PARAM_HEADERS: usize = 32;
/// Longest header value mirrored from an argument (encoded).
const MAX_PARAM_HEADER_BYTES: usize = 4096;

/// Error codes only a server of the stateless revision answers with: missing or mismatched
/// protocol version header (-32020), header and metadata disagreeing (-32021), unsupported
/// version (-32022).
const MODERN_CODES: [i64; 3] = [-32020, -32021, -32022];
/// Unsupported protocol version: `data.supported` lists what the server speaks.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// The client's identity and capabilities as request metadata, for `version`.
pub fn request_meta(version: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {
            "name": "agent-studio-connect",
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// `params` with the request metadata of `version` merged into its `_meta`.
pub fn with_meta(mut params: Value, version: &str) -> Value {
    if !params.is_object() {
        params = json!({});
    }
    if let Some(object) = params.as_object_mut() {
        let meta = object
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let (Some(meta), Value::Object(added)) = (meta.as_object_mut(), request_meta(version)) {
            meta.extend(added);
        }
    }
    params
}

/// A JSON-RPC error answered with an HTTP error status, as far as negotiation needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpcRefusal {
    /// The JSON-RPC error code.
    pub code: i64,
    /// For an unsupported version: the versions the server supports.
    pub supported: Vec<String>,
    /// For a missing client capability (`-32021`): the capabilities the request needs.
    pub required_capabilities: Option<Value>,
}

/// The JSON-RPC error code of a request that needs a client capability the client did not
/// declare (the stateless revision).
pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;

impl RpcRefusal {
    /// Reads the JSON-RPC error in an error answer's body, if it holds one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Message<'a> {
            #[serde(borrow)]
            error: &'a serde_json::value::RawValue,
        }
        let message: Message<'_> = serde_json::from_slice(body).ok()?;
        Self::of_error(message.error.get())
    }

    /// Reads a JSON-RPC `error` object (its JSON text).
    pub fn of_error(error: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Error {
            code: i64,
            data: Option<Data>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            #[serde(default)]
            supported: Vec<String>,
            required_capabilities: Option<Value>,
        }
        let error: Error = serde_json::from_str(error).ok()?;
        let data = error.data;
        let (supported, required_capabilities) = match data {
            Some(data) => (data.supported, data.required_capabilities),
            None => (Vec::new(), None),
        };
        Some(Self {
            code: error.code,
            supported,
            required_capabilities: required_capabilities.filter(Value::is_object),
        })
    }

    /// Whether only a server of the stateless revision answers this (`status` is the HTTP
    /// status it came with: an unknown method is modern only as a 404 to `initialize`).
    pub fn is_modern(&self, status: u16) -> bool {
        MODERN_CODES.contains(&self.code) || (status == 404 && self.code == -32601)
    }
}

/// The `Mcp-Param-*` headers for calling a tool with `input_schema` (its JSON text) with
/// `arguments`: each property designated by `x-mcp-header` whose argument is present and not
/// null, encoded per the revision (booleans and numbers as JSON, strings as they are unless they
/// hold characters outside visible ASCII or begin or end with white space, then
/// `=?base64?…?=`). A schema whose designations are invalid (empty, not a token, given twice,
/// on a property that is not a string, integer or boolean) makes the tool unusable: the error
/// says why.
pub fn param_headers(
    input_schema: &str,
    arguments: &Value,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    #[derive(Deserialize)]
    struct Schema {
        #[serde(default)]
        properties: Map<String, Value>,
    }
    let Ok(schema) = serde_json::from_str::<Schema>(input_schema) else {
        return Ok(Vec::new());
    };
    let mut headers = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (property, definition) in &schema.properties {
        let Some(designation) = definition.get("x-mcp-header") else {
            continue;
        };
        let Some(name) = designation.as_str() else {
            return Err(format!(
                "the x-mcp-header of parameter {property} is not a string"
            ));
        };
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(format!(
                "the x-mcp-header of parameter {property} is not a valid header name"
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!("the x-mcp-header {name} is designated twice"));
        }
        let kind = definition.get("type").and_then(Value::as_str);
        if !matches!(kind, Some("string" | "integer" | "boolean")) {
            return Err(format!(
                "parameter {property} designates a header but is not a string, integer or boolean"
            ));
        }
        if headers.len() >= MAX_PARAM_HEADERS {
            return Err(format!(
                "more than {MAX_PARAM_HEADERS} parameters designate headers"
            ));
        }
        let Some(value) = arguments.get(property).and_then(encode_value) else {
            continue;
        };
        if value.len() > MAX_PARAM_HEADER_BYTES {
            continue;
        }
        let header_name = HeaderName::from_bytes(format!("mcp-param-{name}").as_bytes())
            .map_err(|_| format!("the x-mcp-header {name} is not a valid header name"))?;
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of parameter {property} cannot be a header"))?;
        headers.push((header_name, header_value));
    }
    Ok(headers)
}

/// What a server checks of a `tools/call` of the stateless revision: each argument the tool's
/// `input_schema` designates (`x-mcp-header`) and the request's `Mcp-Param-*` header for it
/// agree (the value as [`param_headers`] encodes it; `=?base64?…?=` decoded strictly); an
/// argument without its header, or a header without its argument, disagrees. The error says
/// which header, never the value.
pub fn check_param_headers(
    input_schema: &str,
    arguments: &Value,
    headers: &http::HeaderMap,
) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Schema {
        #[serde(default)]
        properties: Map<String, Value>,
    }
    let Ok(schema) = serde_json::from_str::<Schema>(input_schema) else {
        return Ok(());
    };
    for (property, definition) in &schema.properties {
        let Some(name) = definition.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let header = format!("mcp-param-{}", name.to_ascii_lowercase());
        let sent = headers
            .get(&header)
            .map(|value| value.to_str().map(str::trim).map_err(|_| ()));
        let given = arguments.get(property).filter(|v| !v.is_null());
        let agree = match (given, sent) {
            (None, None) => true,
            (Some(value), Some(Ok(sent))) => {
                decode_param(sent).is_some_and(|sent| matches_argument(value, &sent))
            }
            _ => false,
        };
        if !agree {
            return Err(format!(
                "The {header} header does not match the argument {property}."
            ));
        }
    }
    Ok(())
}

/// A parameter header's value: `=?base64?…?=` decoded (none when that is not valid Base64 of
/// UTF-8), anything else as it is.
fn decode_param(sent: &str) -> Option<String> {
    match sent
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(sent.to_owned()),
    }
}

/// Whether a header's (decoded) text is the argument: a string as it is, a number or boolean
/// as its JSON text (numbers compared as numbers).
fn matches_argument(value: &Value, sent: &str) -> bool {
    match value {
        Value::String(s) => s == sent,
        Value::Bool(b) => sent == b.to_string(),
        Value::Number(n) => sent.parse::<f64>().ok() == n.as_f64(),
        _ => false,
    }
}

/// An argument as a parameter header value; none for null, objects and arrays.
fn encode_value(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => {
            let plain = s.bytes().all(|b| (0x20..=0x7e).contains(&b))
                && !s.starts_with(' ')
                && !s.ends_with(' ');
            Some(if plain {
                s.clone()
            } else {
                format!(
                    "=?base64?{}?=",
                    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(schema: Value, arguments: Value) -> Result<Vec<(String, String)>, String> {
        param_headers(&schema.to_string(), &arguments).map(|list| {
            list.into_iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect()
        })
    }

    #[test]
    fn designated_arguments_are_mirrored_and_unsafe_strings_encoded() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "priority": {"type": "integer", "x-mcp-header": "Priority"},
            "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
            "text": {"type": "string", "x-mcp-header": "Text"},
            "padded": {"type": "string", "x-mcp-header": "Padded"},
            "empty": {"type": "string", "x-mcp-header": "Empty"},
            "query": {"type": "string"},
        }});
        let got = headers(
            schema,
            json!({"region": "us west 1", "priority": 42, "verbose": null, "text": "Hello, 世界",
                   "padded": " x", "empty": "", "query": "SELECT 1"}),
        )
        .unwrap();
        // In the schema's order (header order carries no meaning); compared sorted.
        let mut got = got;
        got.sort();
        assert_eq!(
            got,
            [
                ("mcp-param-empty".into(), String::new()),
                ("mcp-param-padded".into(), "=?base64?IHg=?=".into()),
                ("mcp-param-priority".into(), "42".into()),
                ("mcp-param-region".into(), "us west 1".into()),
                (
                    "mcp-param-text".into(),
                    "=?base64?SGVsbG8sIOS4lueVjA==?=".into()
                ),
            ]
        );
    }

    #[test]
    fn a_server_checks_parameter_headers_against_the_arguments() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"}}})
        .to_string();
        let check = |arguments: Value, sent: &[(&str, &str)]| {
            let mut headers = http::HeaderMap::new();
            for (name, value) in sent {
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            check_param_headers(&schema, &arguments, &headers)
        };
        let args = json!({"region": "Hello", "count": 3});
        let both = [("mcp-param-region", "Hello"), ("mcp-param-count", "3")];
        assert!(check(args.clone(), &both).is_ok());
        let encoded = [
            ("mcp-param-region", "=?base64?SGVsbG8=?="),
            ("mcp-param-count", " 3 "),
        ];
        assert!(check(args.clone(), &encoded).is_ok());
        for bad in ["=?base64?SGVsbG8?=", "=?base64?SGVs!!!bG8=?=", "Hullo"] {
            let sent = [("mcp-param-region", bad), ("mcp-param-count", "3")];
            assert!(check(args.clone(), &sent).is_err(), "{bad}");
        }
        assert!(check(args, &[("mcp-param-count", "3")]).is_err());
        assert!(check(json!({}), &both).is_err());
        assert!(check(json!({}), &[]).is_ok());
    }

    #[test]
    fn invalid_designations_make_the_tool_unusable() {
        for properties in [
            json!({"a": {"type": "string", "x-mcp-header": ""}}),
            json!({"a": {"type": "object", "x-mcp-header": "A"}}),
            json!({"a": {"type": "number", "x-mcp-header": "A"}}),
            json!({"a": {"type": "string", "x-mcp-header": "A B"}}),
            json!({"a": {"type": "string", "x-mcp-header": "Région"}}),
            json!({"a": {"type": "string", "x-mcp-header": "X"}, "b": {"type": "string", "x-mcp-header": "x"}}),
        ] {
            let schema = json!({"type": "object", "properties": properties});
            assert!(headers(schema.clone(), json!({})).is_err(), "{schema}");
        }
    }

    #[test]
    fn modern_refusals_are_told_from_older_servers_errors() {
        let body = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"x","data":{"supported":["2026-07-28"],"requested":"2025-11-25"}}}"#;
        let refusal = RpcRefusal::parse(body).unwrap();
        assert!(refusal.is_modern(400));
        assert_eq!(refusal.supported, ["2026-07-28"]);
        let legacy =
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request"}}"#;
        assert!(!RpcRefusal::parse(legacy).unwrap().is_modern(400));
        assert!(RpcRefusal::parse(b"not json").is_none());
        let meta = with_meta(json!({"cursor": "c"}), STATELESS_VERSION);
        assert_eq!(meta["cursor"], "c");
        assert_eq!(
            meta["_meta"]["io.modelcontextprotocol/protocolVersion"],
            STATELESS_VERSION
        );
    }
}
