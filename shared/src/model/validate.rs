//! Field validators shared by the models. Each returns a message for the caller to attach to the
//! field's path; messages never contain the value (it may be a secret). A [`Checker`] collects
//! them for one document.

use url::Url;

use crate::{Error, error::FieldError};

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Collects field errors while validating one input document.
#[derive(Debug, Default)]
pub struct Checker {
    /// The errors so far.
    pub errors: Vec<FieldError>,
}

impl Checker {
    /// Records `result`'s error against `field`.
    pub fn check(&mut self, field: impl Into<String>, result: Result<(), String>) {
        if let Err(message) = result {
            self.errors.push(FieldError::new(field, message));
        }
    }

    /// Checks the `name` and `description` every record has.
    pub fn name_and_description(&mut self, name: &str, description: Option<&str>) {
        self.check("name", text(name, MAX_NAME_CHARS));
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            self.check(
                "description",
                Err(format!(
                    "must be at most {MAX_DESCRIPTION_CHARS} characters"
                )),
            );
        }
    }

    /// `Ok(value)` when nothing was wrong, else every error at once.
    pub fn finish<T>(self, value: T) -> Result<T, Error> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Deserializes an optional whole number as JSON Schema counts one: `286` or `286.0` (a number
/// whose fraction is zero is an integer there), refusing fractions, negatives and text.
pub fn optional_whole_number<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        let value = number.as_f64()?;
        // Exactly representable whole numbers only (below 2^53).
        (value >= 0.0 && value.fract() == 0.0 && value < 9_007_199_254_740_992.0)
            .then_some(value as u64)
    });
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("must be a whole number"))
}

/// Longest header value or inline secret, in bytes.
pub const MAX_SECRET_BYTES: usize = 8192;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Header names a user may not set: hop-by-hop and framing headers, headers the MCP client owns,
/// and forwarding metadata (prefixes in [`RESERVED_PREFIXES`]).
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "proxy-connection",
    "cookie",
    "content-type",
    "accept",
    "accept-encoding",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "forwarded",
    "via",
    "x-real-ip",
];

/// Header name prefixes that cannot be configured either: proxy and forwarding metadata (a
/// server or proxy on the way could trust them), and AWS request signing and tracing.
pub const RESERVED_PREFIXES: &[&str] = &["proxy-", "x-forwarded-", "x-amz-", "x-aws-"];

/// A host of a URL: a name (letters, digits, `-`, `_`) whose last label starts with a letter (so
/// it never reads as a number), an IPv4 address, or an IPv6 address in brackets.
const HOST: &str = concat!(
    r"(([A-Za-z0-9_-]+\.)*[A-Za-z][A-Za-z0-9_-]*",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|\[(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,7}:",
    r"|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}",
    r"|([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}|([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}",
    r"|([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}",
    r"|:((:[0-9A-Fa-f]{1,4}){1,7}|:))\])"
);
/// An optional port, 0 to 65535.
const PORT: &str =
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
/// A path of RFC 3986 characters (a `%` starts a percent-encoded byte).
const PATH: &str = r"(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*";
/// An optional query of RFC 3986 characters.
const QUERY: &str = r"(\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?";

/// The form of the URLs the API takes, as an ECMA-262 pattern (the OpenAPI document states it):
/// `scheme` (a pattern), `://`, a host, an optional port, a path and, if `query`, a query, all
/// of RFC 3986 characters; no user info, no fragment.
pub fn url_pattern(scheme: &str, query: bool) -> String {
    url_pattern_on(scheme, HOST, query)
}

/// [`url_pattern`] with the hosts `host` (a pattern) only.
pub fn url_pattern_on(scheme: &str, host: &str, query: bool) -> String {
    let query = if query { QUERY } else { "" };
    format!("^{scheme}://{host}{PORT}{PATH}{query}$")
}

/// An http(s) URL of the form [`url_pattern`] states.
static URL_FORM: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(&url_pattern("[Hh][Tt][Tt][Pp][Ss]?", true)).ok()
});

/// Refuses what a URL parser would mend: characters outside RFC 3986, a stray `%`, a host that
/// is not a name or an address.
fn url_form(text: &str) -> Result<(), String> {
    if URL_FORM.as_ref().is_some_and(|form| form.is_match(text)) {
        Ok(())
    } else {
        Err(
            "must be a URL of RFC 3986 characters: a host name or IP address, an optional port, \
             then a path and query (other characters, and a literal %, percent-encoded)"
                .into(),
        )
    }
}

/// Checks an absolute URL of a remote server: `https` (or `http` when `allow_insecure_http`), a
/// host, no user info, no fragment.
pub fn remote_url(text: &str, allow_insecure_http: bool) -> Result<Url, String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("must be an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {}
        "http" => {
            return Err(
                "must use https (http is only accepted when insecure HTTP is allowed)".into(),
            );
        }
        _ => return Err("must be an https URL".into()),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info (put credentials in the auth config)".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    url_form(text)?;
    Ok(url)
}

/// Checks an OAuth redirect URI: absolute, no fragment (RFC 6749 §3.1.2), `https`, or `http` on a
/// loopback host (RFC 8252 §7.3) or when insecure HTTP is allowed.
pub fn redirect_uri(text: &str, allow_insecure_http: bool) -> Result<(), String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("must be an absolute URI ({e})"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback || allow_insecure_http => {}
        _ => return Err("must use https (or http on a loopback host)".into()),
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info".into());
    }
    url_form(text)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a custom header name: an RFC 9110 token, not reserved, `Authorization` only when
/// `authorization_allowed`.
pub fn header_name(name: &str, authorization_allowed: bool) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 || !name.bytes().all(is_tchar) {
        return Err("must be an HTTP header name (RFC 9110 token, at most 128 characters)".into());
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str())
        || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p))
    {
        return Err("is a reserved header that cannot be configured".into());
    }
    if lower == "authorization" && !authorization_allowed {
        return Err("Authorization is set by this auth type; a custom Authorization header is only allowed with auth_type NONE".into());
    }
    Ok(())
}

/// Checks a header value: at most 8 KiB, visible ASCII/UTF-8, spaces and tabs, no CR, LF or NUL.
pub fn header_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        return Err(format!("must be 1 to {MAX_SECRET_BYTES} bytes"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("must not contain control characters (CR, LF, NUL, ...)".into());
    }
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return Err("must not start or end with whitespace".into());
    }
    Ok(())
}

/// Checks a secret value given inline: 1 byte to 8 KiB, no CR, LF or NUL.
pub fn secret_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        return Err(format!("must be 1 to {MAX_SECRET_BYTES} bytes"));
    }
    if value.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err("must not contain CR, LF or NUL".into());
    }
    Ok(())
}

/// Checks a Secrets Manager ARN (`arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`).
pub fn secret_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let ok = arn.len() <= 2048
        && parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "secretsmanager"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "secret"
        && !parts[6].is_empty();
    if ok {
        Ok(())
    } else {
        Err("must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)".into())
    }
}

/// Checks a plain text field: trimmed, 1..=`max` characters, no control characters.
pub fn text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks an OAuth scope token (RFC 6749 §3.3 `scope-token`).
pub fn scope(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(
            "must be an OAuth scope token (printable ASCII without spaces, quotes or backslashes)"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_parsers_read_differently_are_refused() {
        // Each is parsed by a WHATWG parser to a host other than the one a reader (or another
        // parser) sees, or mended silently: credentials bound to the text must not go elsewhere.
        for url in [
            "https://good.example\\@evil.example/",
            "https://good.example%2F@evil.example/",
            "https://evil.example%23.good.example/",
            "https://good.example:443@evil.example/",
            "https://go\tod.example/",
            "https://go\nod.example/",
            " https://good.example/",
            "https://good.example./",
            "https://ｅvil.example/",
            "https://0x7f.1/",
            "https://2130706433/",
        ] {
            assert!(remote_url(url, true).is_err(), "{url:?}");
            assert!(redirect_uri(url, true).is_err(), "{url:?}");
        }
        // A host name's origin is the one written, so the origins compared are the text's.
        let url = remote_url("https://mcp_server.Example:8443/mcp", false).unwrap();
        assert_eq!(
            url.origin().ascii_serialization(),
            "https://mcp_server.example:8443"
        );
        // Long input is refused by its length before any pattern runs.
        let long = format!("https://a.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(remote_url(&long, false).unwrap_err().contains("at most"));
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "optional_whole_number")]
            t: Option<u64>,
        }
        let parse = |json: &str| serde_json::from_str::<T>(json).map(|v| v.t);
        assert_eq!(parse(r#"{"t": 286}"#).unwrap(), Some(286));
        assert_eq!(parse(r#"{"t": 286.0}"#).unwrap(), Some(286));
        assert_eq!(parse(r#"{"t": null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        for refused in [
            r#"{"t": 1.5}"#,
            r#"{"t": -1}"#,
            r#"{"t": "3"}"#,
            r#"{"t": 1e300}"#,
        ] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn remote_urls_must_be_https_unless_insecure_http_is_allowed() {
        assert!(remote_url("https://example.com/mcp", false).is_ok());
        assert!(remote_url("http://example.com/mcp", false).is_err());
        assert!(remote_url("http://127.0.0.1:9/mcp", true).is_ok());
        assert!(remote_url("ftp://example.com", true).is_err());
        assert!(remote_url("https://user:pw@example.com", false).is_err());
        assert!(remote_url("https://example.com/#frag", false).is_err());
        assert!(remote_url("/relative", false).is_err());
    }

    #[test]
    fn reserved_and_malformed_header_names_are_rejected() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "Cookie",
            "Mcp-Session-Id",
            "MCP-Protocol-Version",
            "X-Amz-Date",
            "x-amz-security-token",
            "Forwarded",
            "X-Forwarded-For",
            "x-forwarded-host",
            "X-Aws-Ec2-Metadata-Token",
            "Proxy-Authenticate",
            "proxy-anything",
            "Via",
        ] {
            assert!(header_name(name, true).is_err(), "{name}");
        }
        assert!(header_name("X Api", true).is_err());
        assert!(header_name("", true).is_err());
        assert!(header_name("X-Api-Key", false).is_ok());
        assert!(header_name("Authorization", true).is_ok());
        assert!(header_name("authorization", false).is_err());
    }

    #[test]
    fn header_values_may_not_smuggle_lines() {
        assert!(header_value("abc\r\nX-Evil: 1").is_err());
        assert!(header_value("abc\n").is_err());
        assert!(header_value("Bearer abc.def").is_ok());
    }

    #[test]
    fn secret_arns_are_checked_for_shape() {
        assert!(
            secret_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:my-secret-AbCdEf")
                .is_ok()
        );
        assert!(secret_arn("arn:aws:s3:::bucket").is_err());
        assert!(secret_arn("my-secret").is_err());
    }

    #[test]
    fn redirect_uris_allow_http_only_on_loopback() {
        assert!(redirect_uri("https://app.example.com/cb", false).is_ok());
        assert!(redirect_uri("http://localhost:3000/cb", false).is_ok());
        assert!(redirect_uri("http://app.example.com/cb", false).is_err());
        assert!(redirect_uri("https://app.example.com/cb#x", false).is_err());
    }
}
