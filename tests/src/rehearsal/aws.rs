//! The AWS endpoints as each function's role sees them: every call a function makes goes
//! through this proxy (its `AWS_ENDPOINT_URL_<SERVICE>` is `http://…/<function>/<service>`),
//! which names the IAM action and resource of the call, evaluates the function's role from the
//! template (actions, resources, and the conditions the template uses: the KMS encryption context
//! keys and the Secrets Manager tenant tag), and forwards it to DynamoDB Local or moto. A call the
//! role does not allow is answered `AccessDeniedException`, as AWS answers it, and recorded: the
//! rehearsal fails when a function made a call no statement names (a missing permission); a
//! call refused by a statement's condition is a guard the template means (a secret without the
//! tenant's tag), and the product must handle its refusal.
// Test code: a failed step of the rehearsal panics with its cause.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    gateway::list,
    template::{ACCOUNT, REGION},
};

/// One call a role did not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The function's logical id.
    pub function: String,
    /// The IAM action (`dynamodb:PutItem`).
    pub action: String,
    /// The resource's ARN.
    pub resource: String,
    /// Whether a statement allows the action on the resource and only its condition refused
    /// the call (a guard the template means, such as a secret without the tenant tag), rather
    /// than no statement allowing it at all (a permission the template lacks).
    pub by_condition: bool,
}

/// The proxy's state.
pub struct Proxy {
    /// Each function's IAM statements (resolved), by logical id.
    pub statements: BTreeMap<String, Vec<Value>>,
    /// DynamoDB Local's endpoint.
    pub dynamodb: String,
    /// moto's endpoint (KMS, Secrets Manager, EventBridge, SQS).
    pub moto: String,
    /// The calls refused so far.
    pub denied: Mutex<Vec<Denied>>,
    /// Every action called, by function: what the rehearsal saw each function do.
    pub called: Mutex<BTreeMap<String, std::collections::BTreeSet<String>>>,
    http: reqwest::Client,
}

impl Proxy {
    /// A proxy enforcing `statements`.
    pub fn new(statements: BTreeMap<String, Vec<Value>>, dynamodb: String, moto: String) -> Self {
        Self {
            statements,
            dynamodb,
            moto,
            denied: Mutex::new(Vec::new()),
            called: Mutex::new(BTreeMap::new()),
            http: reqwest::Client::new(),
        }
    }
}

/// One authorization question: an action on a resource, with the request's condition keys.
struct Question {
    action: String,
    resource: String,
    /// `kms:EncryptionContextKeys`, when the call has an encryption context.
    context_keys: Option<Vec<String>>,
    /// The resource's tags: a secret's for Secrets Manager calls, a key's for KMS key calls.
    tags: Option<BTreeMap<String, String>>,
    /// The tags a call puts on what it creates (`aws:RequestTag/…`, `aws:TagKeys`).
    request_tags: Option<BTreeMap<String, String>>,
}

fn wildcard(pattern: &str, text: &str) -> bool {
    super::gateway::wildcard(pattern, text)
}

/// Whether `condition` holds for `question` (the operators and keys the template uses; any
/// other makes the statement not apply, so an unsupported condition fails closed).
fn condition_holds(condition: &Value, question: &Question) -> bool {
    let Some(operators) = condition.as_object() else {
        return true;
    };
    operators.iter().all(|(operator, keys)| {
        keys.as_object().unwrap().iter().all(|(key, expected)| {
            let present: Option<Vec<String>> = if key == "kms:EncryptionContextKeys" {
                question.context_keys.clone()
            } else if let Some(tag) = key
                .strip_prefix("secretsmanager:ResourceTag/")
                .or_else(|| key.strip_prefix("aws:ResourceTag/"))
            {
                question
                    .tags
                    .as_ref()
                    .and_then(|t| t.get(tag))
                    .map(|v| vec![v.clone()])
            } else if let Some(tag) = key.strip_prefix("aws:RequestTag/") {
                question
                    .request_tags
                    .as_ref()
                    .and_then(|t| t.get(tag))
                    .map(|v| vec![v.clone()])
            } else if key == "aws:TagKeys" {
                question
                    .request_tags
                    .as_ref()
                    .map(|t| t.keys().cloned().collect())
            } else {
                return false;
            };
            match operator.as_str() {
                "Null" => {
                    let is_null = present.as_ref().is_none_or(Vec::is_empty);
                    is_null == (expected == "true")
                }
                "ForAllValues:StringEquals" => {
                    let allowed = list(expected);
                    present
                        .unwrap_or_default()
                        .iter()
                        .all(|v| allowed.contains(v))
                }
                "StringEquals" => {
                    present.is_some_and(|p| list(expected).iter().any(|e| p.contains(e)))
                }
                _ => false,
            }
        })
    })
}

/// Whether an Allow statement names the action and the resource, whatever its condition.
fn named(statements: &[Value], question: &Question) -> bool {
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && list(&s["Action"])
                .iter()
                .any(|a| wildcard(a, &question.action))
            && list(&s["Resource"])
                .iter()
                .any(|r| wildcard(r, &question.resource))
    })
}

fn allowed(statements: &[Value], question: &Question) -> bool {
    let applies = |s: &Value| {
        list(&s["Action"])
            .iter()
            .any(|a| wildcard(a, &question.action))
            && list(&s["Resource"])
                .iter()
                .any(|r| wildcard(r, &question.resource))
            && condition_holds(&s["Condition"], question)
    };
    let effect = |s: &Value| s["Effect"].as_str().unwrap_or_default().to_owned();
    !statements.iter().any(|s| effect(s) == "Deny" && applies(s))
        && statements
            .iter()
            .any(|s| effect(s) == "Allow" && applies(s))
}

fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

/// The questions a DynamoDB call asks (a transaction asks one per item).
fn dynamodb_questions(operation: &str, body: &Value) -> Vec<(String, String)> {
    let resource = |item: &Value| {
        let table = table_arn(item["TableName"].as_str().unwrap_or_default());
        match item["IndexName"].as_str() {
            Some(index) => format!("{table}/index/{index}"),
            None => table,
        }
    };
    match operation {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| {
                item.as_object().unwrap().iter().map(|(kind, inner)| {
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        _ => "ConditionCheckItem",
                    };
                    (format!("dynamodb:{action}"), resource(inner))
                })
            })
            .collect(),
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| ("dynamodb:GetItem".to_owned(), resource(&item["Get"])))
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(table, _)| (format!("dynamodb:{operation}"), table_arn(table)))
            .collect(),
        _ => vec![(format!("dynamodb:{operation}"), resource(body))],
    }
}

/// Serves `/{function}/{service}/…`: authorizes the call, then forwards it.
pub async fn handle(
    State(proxy): State<Arc<Proxy>>,
    Path((function, service)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or_default();
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let questions: Vec<Question> = match service.as_str() {
        "dynamodb" => dynamodb_questions(&operation, &json)
            .into_iter()
            .map(|(action, resource)| Question {
                action,
                resource,
                context_keys: None,
                tags: None,
                request_tags: None,
            })
            .collect(),
        // CreateKey names no resource (`*`); IAM reads the tags it puts on the new key.
        "kms" if operation == "CreateKey" => vec![Question {
            action: "kms:CreateKey".into(),
            resource: "*".into(),
            context_keys: None,
            tags: None,
            request_tags: Some(kms_tags(&json["Tags"])),
        }],
        "kms" => {
            // Calls name the key by its ARN or id; Decrypt names none (the ciphertext does),
            // and the role's statements name the one key.
            let resource = match json["KeyId"].as_str() {
                Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
                Some(id) => format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}"),
                None => proxy_key(&proxy, &function),
            };
            let tags = key_tags(&proxy, &resource).await;
            vec![Question {
                action: format!("kms:{operation}"),
                resource,
                context_keys: json["EncryptionContext"]
                    .as_object()
                    .map(|c| c.keys().cloned().collect()),
                tags: Some(tags),
                request_tags: None,
            }]
        }
        "secretsmanager" => {
            let id = json["SecretId"].as_str().unwrap_or_default().to_owned();
            let tags = secret_tags(&proxy, &id).await;
            vec![Question {
                action: format!("secretsmanager:{operation}"),
                resource: id,
                context_keys: None,
                tags: Some(tags),
                request_tags: None,
            }]
        }
        "events" => json["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| Question {
                action: "events:PutEvents".into(),
                resource: entry["EventBusName"]
                    .as_str()
                    .map_or_else(String::new, |bus| {
                        if bus.starts_with("arn:") {
                            bus.to_owned()
                        } else {
                            format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}")
                        }
                    }),
                context_keys: None,
                tags: None,
                request_tags: None,
            })
            .collect(),
        "sqs" => {
            let action = if operation.is_empty() {
                form.get("Action").cloned().unwrap_or_default()
            } else {
                operation.clone()
            };
            let url = json["QueueUrl"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| form.get("QueueUrl").cloned())
                .unwrap_or_default();
            let name = url.rsplit('/').next().unwrap_or_default();
            // IAM authorizes SQS's batch calls by the single call's action.
            let action = match action.as_str() {
                "SendMessageBatch" => "SendMessage",
                "DeleteMessageBatch" => "DeleteMessage",
                "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
                other => other,
            };
            vec![Question {
                action: format!("sqs:{action}"),
                resource: format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"),
                context_keys: None,
                tags: None,
                request_tags: None,
            }]
        }
        other => panic!("{function} called {other}, which the rehearsal does not serve"),
    };
    let statements = proxy.statements.get(&function).cloned().unwrap_or_default();
    for question in &questions {
        proxy
            .called
            .lock()
            .unwrap()
            .entry(function.clone())
            .or_default()
            .insert(question.action.clone());
        if !allowed(&statements, question) {
            proxy.denied.lock().unwrap().push(Denied {
                function: function.clone(),
                action: question.action.clone(),
                resource: question.resource.clone(),
                by_condition: named(&statements, question),
            });
            let message = format!(
                "User: arn:aws:sts::{ACCOUNT}:assumed-role/{function}Role/{function} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
                question.action, question.resource, question.action
            );
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.0")],
                serde_json::json!({"__type": "AccessDeniedException", "message": message})
                    .to_string(),
            )
                .into_response();
        }
    }
    let upstream = if service == "dynamodb" {
        &proxy.dynamodb
    } else {
        &proxy.moto
    };
    let mut request = proxy.http.request(method, format!("{upstream}/"));
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.body(body).send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let mut out = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out = out.header(name, value);
        }
    }
    out.body(axum::body::Body::from(
        answer.bytes().await.unwrap_or_default(),
    ))
    .unwrap()
}

/// The key ARN the function's statements name (for calls that name no key).
fn proxy_key(proxy: &Proxy, function: &str) -> String {
    proxy
        .statements
        .get(function)
        .into_iter()
        .flatten()
        .filter(|s| list(&s["Action"]).iter().any(|a| a.starts_with("kms:")))
        .flat_map(|s| list(&s["Resource"]))
        .next()
        .unwrap_or_default()
}

/// `[{<key>, <value>}]` (KMS names them `TagKey`/`TagValue`, Secrets Manager `Key`/`Value`) as
/// a map.
fn tag_map(tags: &Value, key: &str, value: &str) -> BTreeMap<String, String> {
    tags.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t[key].as_str()?.to_owned(), t[value].as_str()?.to_owned())))
        .collect()
}

/// KMS's `[{TagKey, TagValue}]` as a map.
fn kms_tags(tags: &Value) -> BTreeMap<String, String> {
    tag_map(tags, "TagKey", "TagValue")
}

/// Calls moto's JSON API `target` of `service` with `body` (what the proxy reads to evaluate a
/// condition); `Null` when moto cannot be reached.
async fn moto_call(proxy: &Proxy, service: &str, target: &str, body: Value) -> Value {
    let answer = proxy
        .http
        .post(format!("{}/", proxy.moto))
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await;
    match answer {
        Ok(answer) => answer.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

/// A KMS key's tags, read from moto (what IAM evaluates `aws:ResourceTag/…` against).
async fn key_tags(proxy: &Proxy, arn: &str) -> BTreeMap<String, String> {
    let body = serde_json::json!({ "KeyId": arn });
    let listed = moto_call(proxy, "kms", "TrentService.ListResourceTags", body).await;
    kms_tags(&listed["Tags"])
}

/// A secret's tags, read from moto (what IAM evaluates `secretsmanager:ResourceTag/…` against).
async fn secret_tags(proxy: &Proxy, id: &str) -> BTreeMap<String, String> {
    let body = serde_json::json!({ "SecretId": id });
    let described = moto_call(
        proxy,
        "secretsmanager",
        "secretsmanager.DescribeSecret",
        body,
    )
    .await;
    tag_map(&described["Tags"], "Key", "Value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_templates_conditions_are_evaluated() {
        let kms = json!([{"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "arn:aws:kms:us-east-1:1:key/k",
            "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant_id", "record_id", "purpose"]},
                          "Null": {"kms:EncryptionContextKeys": "false"}}}]);
        let ask = |keys: Option<Vec<&str>>| Question {
            action: "kms:Decrypt".into(),
            resource: "arn:aws:kms:us-east-1:1:key/k".into(),
            context_keys: keys.map(|k| k.into_iter().map(str::to_owned).collect()),
            tags: None,
            request_tags: None,
        };
        let statements = kms.as_array().unwrap();
        assert!(allowed(
            statements,
            &ask(Some(vec!["tenant_id", "record_id", "purpose"]))
        ));
        assert!(!allowed(statements, &ask(None)), "no context");
        assert!(!allowed(statements, &ask(Some(vec!["tenant_id", "other"]))));
        let records =
            json!([{"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": "arn:t"}]);
        let q = Question {
            action: "dynamodb:PutItem".into(),
            resource: "arn:t".into(),
            context_keys: None,
            tags: None,
            request_tags: None,
        };
        assert!(!allowed(records.as_array().unwrap(), &q));
        let transaction = json!({"TransactItems": [
            {"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]});
        let asked: Vec<String> = dynamodb_questions("TransactWriteItems", &transaction)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        assert_eq!(asked, ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"]);
    }
}
