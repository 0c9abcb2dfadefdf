//! An emulator of the API Gateway REST API the template creates, serving on loopback:
//! `/{stage}/…` matched against the API's resources and methods (literal segments before
//! `{param}`, `{proxy+}` greedy), the REQUEST authorizer invoked as API Gateway invokes it (its
//! policy evaluated against the method ARN, its context handed to the integration, an
//! `Unauthorized` error answered 401), Lambda proxy integrations with the v1 event
//! (`aws_lambda_events`' `ApiGatewayProxyRequest`), buffered or streamed, the customised gateway
//! responses, binary media types, the 10 MB request and 6 MB response limits and the 29 s
//! integration timeout. Not emulated: stage throttling, usage plans, caching, WAF, custom domains.
// Test code: a failed step of the rehearsal panics with its cause.
#![allow(clippy::unwrap_used)]

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    lambda::{Function, Outcome},
    template::{ACCOUNT, Deployment, GatewayResponse, REGION, Route},
};

/// The REST API's id in ARNs and the request context.
pub const API_ID: &str = "rehearsal";
/// API Gateway's payload limit for a request.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Lambda's limit for a synchronous (buffered) response.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// API Gateway's integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// What the gateway serves from.
pub struct Gateway {
    /// The deployment (routes, gateway responses, stage).
    pub deployment: Deployment,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, Arc<Function>>,
}

/// The axum handler: every request of the emulated API.
pub async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let request_id = uuid_like();
    let mut response = gateway.serve(request, &request_id).await;
    response.headers_mut().insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&request_id).unwrap(),
    );
    response
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A route matched to a path: its parameters.
fn matches(route: &Route, path: &str) -> Option<BTreeMap<String, String>> {
    let template: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut parameters = BTreeMap::new();
    for (i, segment) in template.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            let rest = actual
                .get(i..)
                .filter(|r| !r.is_empty() && !r[0].is_empty())?;
            parameters.insert(name.to_owned(), rest.join("/"));
            return Some(parameters);
        }
        let value = *actual.get(i)?;
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if value.is_empty() {
                return None;
            }
            parameters.insert(name.to_owned(), percent_decode(value));
        } else if *segment != value {
            return None;
        }
    }
    (actual.len() == template.len()).then_some(parameters)
}

fn percent_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// How specific a route is: literal segments first, then parameters, greedy last.
fn specificity(route: &Route) -> (usize, usize) {
    let segments: Vec<&str> = route.path.split('/').collect();
    let literal = segments.iter().filter(|s| !s.starts_with('{')).count();
    let greedy = segments.iter().filter(|s| s.ends_with("+}")).count();
    (literal, usize::MAX - greedy)
}

/// `*`/`?` wildcard matching of IAM resource patterns.
pub(crate) fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A policy field that holds one string or a list of them.
pub(crate) fn list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The authorizer's decision for `method_arn`: explicit deny wins, then an allow.
fn decide(policy: &Value, method_arn: &str) -> bool {
    let statements = match &policy["Statement"] {
        Value::Array(s) => s.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let applies = |statement: &Value| {
        list(&statement["Action"])
            .iter()
            .any(|a| wildcard(a, "execute-api:Invoke"))
            && list(&statement["Resource"])
                .iter()
                .any(|r| wildcard(r, method_arn))
    };
    let effect = |s: &Value| s["Effect"].as_str().unwrap_or_default().to_owned();
    if statements.iter().any(|s| effect(s) == "Deny" && applies(s)) {
        return false;
    }
    statements
        .iter()
        .any(|s| effect(s) == "Allow" && applies(s))
}

fn multi_values(headers: &HeaderMap) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, value) in headers {
        let value = value.to_str().unwrap_or_default().to_owned();
        // API Gateway keeps header names as the client sent them; hyper lower-cases them.
        single.insert(name.as_str().to_owned(), Value::String(value.clone()));
        multi
            .entry(name.as_str().to_owned())
            .or_default()
            .push(Value::String(value));
    }
    (Value::Object(single), json!(multi))
}

fn query_values(query: Option<&str>) -> (Value, Value) {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return (Value::Null, Value::Null);
    };
    let mut single = serde_json::Map::new();
    let mut multi: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        single.insert(k.to_string(), Value::String(v.to_string()));
        multi
            .entry(k.to_string())
            .or_default()
            .push(Value::String(v.to_string()));
    }
    (Value::Object(single), json!(multi))
}

impl Gateway {
    fn gateway_response(&self, kind: &str) -> Response {
        let defaults = |status: u16, message: &str| GatewayResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({ "message": message }).to_string(),
        };
        let configured = self.deployment.gateway_responses.get(kind).cloned();
        let fallback = || match kind {
            "UNAUTHORIZED" => defaults(401, "Unauthorized"),
            "ACCESS_DENIED" => defaults(
                403,
                "User is not authorized to access this resource with an explicit deny",
            ),
            "MISSING_AUTHENTICATION_TOKEN" => defaults(403, "Missing Authentication Token"),
            "AUTHORIZER_FAILURE" | "AUTHORIZER_CONFIGURATION_ERROR" => {
                defaults(500, "Internal server error")
            }
            "REQUEST_TOO_LARGE" => defaults(413, "Request Too Long"),
            "INTEGRATION_TIMEOUT" => defaults(504, "Endpoint request timed out"),
            _ => defaults(502, "Internal server error"),
        };
        let family = if kind == "REQUEST_TOO_LARGE"
            || kind.starts_with("UNAUTH")
            || kind.starts_with("ACCESS")
            || kind.starts_with("MISSING")
        {
            "DEFAULT_4XX"
        } else {
            "DEFAULT_5XX"
        };
        let response = configured
            .or_else(|| {
                let base = fallback();
                self.deployment
                    .gateway_responses
                    .get(family)
                    .map(|f| GatewayResponse {
                        status: base.status,
                        ..f.clone()
                    })
            })
            .unwrap_or_else(fallback);
        let mut out = Response::builder().status(response.status);
        for (name, value) in &response.headers {
            out = out.header(name, value);
        }
        out.body(Body::from(response.body)).unwrap()
    }

    async fn serve(&self, request: Request, request_id: &str) -> Response {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let Some(rest) = path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(self.deployment.stage.as_str()))
            .filter(|r| r.is_empty() || r.starts_with('/'))
        else {
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN");
        };
        let resource_path = if rest.is_empty() { "/" } else { rest };
        let method = parts.method.as_str().to_owned();
        let mut candidates: Vec<(&Route, BTreeMap<String, String>)> = self
            .deployment
            .routes
            .iter()
            .filter(|r| r.method == method || r.method == "ANY")
            .filter_map(|r| matches(r, resource_path).map(|p| (r, p)))
            .collect();
        candidates.sort_by_key(|(r, _)| std::cmp::Reverse(specificity(r)));
        let Some((route, parameters)) = candidates.into_iter().next() else {
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN");
        };
        let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
            Ok(body) => body,
            Err(_) => return self.gateway_response("REQUEST_TOO_LARGE"),
        };
        let (headers, multi_headers) = multi_values(&parts.headers);
        let (query, multi_query) = query_values(parts.uri.query());
        let method_arn = format!(
            "arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{}/{method}{resource_path}",
            self.deployment.stage
        );
        let path_parameters = if parameters.is_empty() {
            Value::Null
        } else {
            json!(parameters)
        };
        let now = time::OffsetDateTime::now_utc();
        let source_ip = "127.0.0.1";
        let mut context = json!({
            "accountId": ACCOUNT,
            "resourceId": "rehearsal",
            "stage": self.deployment.stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "identity": {"sourceIp": source_ip,
                         "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok())},
            "resourcePath": route.path,
            "httpMethod": method,
            "path": format!("/{}{resource_path}", self.deployment.stage),
            "apiId": API_ID,
            "protocol": "HTTP/1.1",
            "domainName": parts.headers.get("host").and_then(|v| v.to_str().ok()),
            "requestTimeEpoch": now.unix_timestamp() * 1000,
        });

        // What the authorizer's REQUEST event and the proxy integration's event share.
        let mut request_fields = json!({
            "resource": route.path,
            "path": resource_path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_parameters,
            "stageVariables": Value::Null,
        });
        if let Some(authorizer) = &route.authorizer {
            request_fields["requestContext"] = context.clone();
            let mut event = request_fields.clone();
            event["type"] = json!("REQUEST");
            event["methodArn"] = json!(method_arn);
            let typed: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest =
                serde_json::from_value(event.clone())
                    .expect("the authorizer event has the documented shape");
            drop(typed);
            let function = &self.functions[authorizer];
            let outcome = function.invoke(serde_json::to_vec(&event).unwrap()).await;
            let answer = match outcome {
                Outcome::Buffered(bytes) => serde_json::from_slice::<Value>(&bytes).ok(),
                Outcome::Failed(error) => {
                    let message: Value = serde_json::from_str(&error).unwrap_or_default();
                    if message["errorMessage"] == "Unauthorized" {
                        return self.gateway_response("UNAUTHORIZED");
                    }
                    None
                }
                _ => None,
            };
            let Some(answer) = answer.filter(|a| a["policyDocument"].is_object()) else {
                return self.gateway_response("AUTHORIZER_FAILURE");
            };
            if !decide(&answer["policyDocument"], &method_arn) {
                return self.gateway_response("ACCESS_DENIED");
            }
            let mut authorizer = answer["context"].as_object().cloned().unwrap_or_default();
            authorizer.insert("principalId".into(), answer["principalId"].clone());
            context["authorizer"] = Value::Object(authorizer);
        }

        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let binary = self.is_binary(content_type);
        let (body, base64) = if body.is_empty() {
            (Value::Null, false)
        } else if binary {
            (
                Value::String(base64::engine::general_purpose::STANDARD.encode(&body)),
                true,
            )
        } else {
            (
                Value::String(String::from_utf8_lossy(&body).into_owned()),
                false,
            )
        };
        let mut event = request_fields;
        event["requestContext"] = context;
        event["body"] = body;
        event["isBase64Encoded"] = json!(base64);
        let typed: aws_lambda_events::apigw::ApiGatewayProxyRequest =
            serde_json::from_value(event.clone())
                .expect("the proxy event has the documented shape");
        drop(typed);
        let function = &self.functions[&route.function];
        let accept = parts
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let invocation = function.invoke(serde_json::to_vec(&event).unwrap());
        match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
            Err(_) | Ok(Outcome::TimedOut) => self.gateway_response("INTEGRATION_TIMEOUT"),
            Ok(Outcome::Failed(_)) => self.gateway_response("DEFAULT_5XX"),
            Ok(Outcome::Buffered(bytes)) => {
                if bytes.len() > MAX_RESPONSE_BYTES {
                    return self.gateway_response("DEFAULT_5XX");
                }
                self.proxy_response(&bytes, &accept)
                    .unwrap_or_else(|| self.gateway_response("DEFAULT_5XX"))
            }
            Ok(Outcome::Streamed { prelude, body }) => {
                let mut out = Response::builder()
                    .status(prelude["statusCode"].as_u64().unwrap_or(200) as u16);
                for (name, value) in prelude["headers"].as_object().into_iter().flatten() {
                    out = out.header(name.as_str(), value.as_str().unwrap_or_default());
                }
                for (name, values) in prelude["multiValueHeaders"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    for value in values.as_array().into_iter().flatten() {
                        out = out.header(name.as_str(), value.as_str().unwrap_or_default());
                    }
                }
                for cookie in prelude["cookies"].as_array().into_iter().flatten() {
                    out = out.header("set-cookie", cookie.as_str().unwrap_or_default());
                }
                let stream = futures_util::stream::unfold(body, |mut body| async move {
                    body.recv()
                        .await
                        .map(|chunk| (Ok::<Bytes, std::io::Error>(chunk), body))
                });
                out.body(Body::from_stream(stream)).unwrap()
            }
        }
    }

    fn is_binary(&self, content_type: &str) -> bool {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        !media.is_empty()
            && self
                .deployment
                .binary_media_types
                .iter()
                .any(|t| wildcard(&t.replace("~1", "/"), media))
    }

    /// The HTTP response for a Lambda proxy integration's answer; `None` when it is malformed
    /// (API Gateway answers 502).
    fn proxy_response(&self, bytes: &[u8], accept: &str) -> Option<Response> {
        let answer: aws_lambda_events::apigw::ApiGatewayProxyResponse =
            serde_json::from_slice(bytes).ok()?;
        let status = StatusCode::from_u16(u16::try_from(answer.status_code).ok()?).ok()?;
        let mut response = Response::builder().status(status);
        let mut content_type = String::new();
        for (name, value) in answer.headers.iter() {
            if name == "content-type" {
                content_type = value.to_str().unwrap_or_default().to_owned();
            }
            response = response.header(name, value);
        }
        for (name, value) in answer.multi_value_headers.iter() {
            if answer.headers.contains_key(name) && name != "set-cookie" {
                continue;
            }
            response = response.header(name, value);
        }
        let body: Vec<u8> = match answer.body {
            None => Vec::new(),
            Some(aws_lambda_events::encodings::Body::Empty) => Vec::new(),
            Some(aws_lambda_events::encodings::Body::Text(text)) => text.into_bytes(),
            Some(aws_lambda_events::encodings::Body::Binary(bytes)) => {
                // The response says base64. API Gateway turns it into bytes only when the
                // request's Accept or the response's type is a binary media type; otherwise the
                // client gets the base64 text.
                if self.is_binary(accept) || self.is_binary(&content_type) {
                    bytes
                } else {
                    base64::engine::general_purpose::STANDARD
                        .encode(&bytes)
                        .into_bytes()
                }
            }
            Some(_) => return None,
        };
        response.body(Body::from(body)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        Route {
            path: path.into(),
            method: "GET".into(),
            function: "F".into(),
            authorizer: None,
        }
    }

    #[test]
    fn paths_match_as_api_gateway_matches_them() {
        let id = route("/ai/api/v1/auth_configs/{id}");
        assert_eq!(
            matches(&id, "/ai/api/v1/auth_configs/a%20b").unwrap()["id"],
            "a b"
        );
        assert!(matches(&id, "/ai/api/v1/auth_configs").is_none());
        assert!(matches(&id, "/ai/api/v1/auth_configs/a/b").is_none());
        let proxy = route("/console/{proxy+}");
        assert_eq!(
            matches(&proxy, "/console/a/b.js").unwrap()["proxy"],
            "a/b.js"
        );
        assert!(matches(&proxy, "/console").is_none());
        assert!(specificity(&route("/a/b")) > specificity(&route("/a/{x}")));
    }

    #[test]
    fn policies_are_evaluated_deny_first() {
        let arn = "arn:aws:execute-api:us-east-1:1:api/prod/GET/ai/api/v1/me";
        let allow = json!({"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                          "Resource": "arn:aws:execute-api:us-east-1:1:api/prod/*"}]});
        assert!(decide(&allow, arn));
        let deny = json!({"Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
            {"Effect": "Deny", "Action": "execute-api:*", "Resource": ["*/GET/ai/*"]}]});
        assert!(!decide(&deny, arn));
        assert!(!decide(&json!({"Statement": []}), arn));
    }
}
