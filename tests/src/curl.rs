//! Reads the curl commands of the product documentation (kept verbatim under
//! `tests/fixtures/documented-requests/`) into requests the tests can send: the method, URL,
//! headers and body exactly as written, after the caller substituted hosts and placeholders.

/// One documented request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurlRequest {
    /// `-X`, else POST when there is a body, else GET.
    pub method: reqwest::Method,
    /// The URL argument.
    pub url: String,
    /// Every `-H 'Name: value'`, in order.
    pub headers: Vec<(String, String)>,
    /// The `-d` argument, as written.
    pub body: Option<String>,
}

/// Splits a shell command line the way a POSIX shell does for the forms the documentation uses:
/// words separated by blanks, `'…'` taken literally, and a backslash before a newline joining
/// lines.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    word.get_or_insert_with(String::new).push(next);
                }
            }
            '\'' => {
                let quoted = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    quoted.push(q);
                }
            }
            c if c.is_whitespace() => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Parses a `curl` command with `-X`, `-H`, `-d` and one URL.
///
/// # Panics
/// On any other form: the fixtures are ours, so a surprise is a test bug.
pub fn parse(command: &str) -> CurlRequest {
    let words = words(command);
    assert_eq!(words.first().map(String::as_str), Some("curl"), "{command}");
    let (mut method, mut url, mut headers, mut body) = (None, None, Vec::new(), None);
    let mut args = words.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "-X" => method = Some(value()),
            "-H" => {
                let header = value();
                let (name, value) = header.split_once(':').expect("a header is `Name: value`");
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "-d" => body = Some(value()),
            other if other.starts_with('-') => panic!("unexpected curl option {other}"),
            _ => {
                assert!(url.is_none(), "two URLs in {command}");
                url = Some(arg);
            }
        }
    }
    let method = match method {
        Some(m) => reqwest::Method::from_bytes(m.as_bytes()).expect("an HTTP method"),
        None if body.is_some() => reqwest::Method::POST,
        None => reqwest::Method::GET,
    };
    CurlRequest {
        method,
        url: url.expect("a URL"),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_command_is_read_as_written() {
        let request = parse(
            "curl -X POST 'https://h.example/a?b=c' \\\n-H 'Cookie: sessionid=x' \\\n-H 'Content-Type: application/json' \\\n-d '{\n\"name\": \"n\"\n}'\n",
        );
        assert_eq!(request.method, reqwest::Method::POST);
        assert_eq!(request.url, "https://h.example/a?b=c");
        assert_eq!(
            request.headers,
            [
                ("Cookie".to_owned(), "sessionid=x".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned())
            ]
        );
        assert_eq!(request.body.as_deref(), Some("{\n\"name\": \"n\"\n}"));
        assert_eq!(parse("curl 'u'").method, reqwest::Method::GET);
    }
}
