//! `template.yaml` as CloudFormation would create it: AWS's SAM translator applies the transform
//! (`infra/scripts/translate-template.py`), and this module reads what the rehearsal needs from
//! the result: the REST API's routes, authorizer, gateway responses and binary media types, each
//! function's binary, environment, timeout and IAM statements, the schedules, the queue mappings
//! and the table. Intrinsic functions are resolved against the names the rehearsal gave the
//! resources it created (the table, the key, the bus, the queues).
// Test code: a failed step of the rehearsal panics with its cause.
#![allow(clippy::unwrap_used)]

use std::{collections::BTreeMap, path::Path};

use serde_json::{Map, Value};

/// The region and account every ARN of the rehearsal names.
pub const REGION: &str = "us-east-1";
/// The account every ARN of the rehearsal names.
pub const ACCOUNT: &str = "123456789012";

/// The physical names of the resources the rehearsal created, by logical id.
#[derive(Debug, Default, Clone)]
pub struct Physical {
    /// What `Ref` gives, by logical id (a table's name, a queue's URL, a bus's name).
    pub refs: BTreeMap<String, String>,
    /// What `Fn::GetAtt [id, Arn]` gives, by logical id.
    pub arns: BTreeMap<String, String>,
    /// Parameter values overriding the template's defaults.
    pub parameters: BTreeMap<String, String>,
}

/// One function of the stack.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Its logical id (`AgentsFunction`).
    pub logical_id: String,
    /// The binary `package.sh` builds for it (from `CodeUri: target/lambda/<binary>/bootstrap.zip`).
    pub binary: String,
    /// Its environment variables, resolved.
    pub environment: BTreeMap<String, String>,
    /// Its timeout.
    pub timeout: std::time::Duration,
    /// Its memory size in MB.
    pub memory_mb: u64,
    /// Its role's inline policy statements, resolved (what [`super::aws`] enforces).
    pub statements: Vec<Value>,
}

/// One method of the REST API.
#[derive(Debug, Clone)]
pub struct Route {
    /// The resource path (`/ai/api/v1/auth_configs/{id}`, `/console/{proxy+}`).
    pub path: String,
    /// The method, upper case (`ANY` for `x-amazon-apigateway-any-method`).
    pub method: String,
    /// The logical id of the function the proxy integration invokes.
    pub function: String,
    /// The logical id of the REQUEST authorizer's function, when the method has one.
    pub authorizer: Option<String>,
}

/// One gateway response the API customises.
#[derive(Debug, Clone)]
pub struct GatewayResponse {
    /// Its status code.
    pub status: u16,
    /// Its headers (static values, quotes removed).
    pub headers: Vec<(String, String)>,
    /// Its `application/json` template.
    pub body: String,
}

/// A queue a function consumes (an SQS event source mapping).
#[derive(Debug, Clone)]
pub struct QueueMapping {
    /// The consuming function's logical id.
    pub function: String,
    /// The queue's logical id.
    pub queue: String,
    /// Most messages in one batch.
    pub batch_size: usize,
    /// Whether the function reports partial batch failures.
    pub reports_item_failures: bool,
}

/// The stack, as deployed.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The raw CloudFormation template (after the SAM transform).
    pub cloudformation: Value,
    /// The API's stage name (its first path segment).
    pub stage: String,
    /// The API's methods.
    pub routes: Vec<Route>,
    /// Customised gateway responses, by type (`UNAUTHORIZED`).
    pub gateway_responses: BTreeMap<String, GatewayResponse>,
    /// The API's binary media types.
    pub binary_media_types: Vec<String>,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, FunctionSpec>,
    /// Scheduled functions: (logical id, schedule expression).
    pub schedules: Vec<(String, String)>,
    /// Queue consumers.
    pub queue_mappings: Vec<QueueMapping>,
}

/// Runs the SAM translator on `template` (the project's `infra/scripts/translate-template.py`
/// with the test venv's Python) and returns CloudFormation JSON.
pub fn translate(root: &Path, template: &Path) -> Value {
    let python = root.join(".deps/venv/bin/python");
    assert!(
        python.exists(),
        "the deployment rehearsal needs AWS's SAM translator: run `bash infra/scripts/test-deps.sh` \
         (it installs aws-sam-translator into .deps/venv)"
    );
    let output = std::process::Command::new(python)
        .arg(root.join("infra/scripts/translate-template.py"))
        .arg(template)
        .arg(REGION)
        .output()
        .expect("run the SAM translator");
    assert!(
        output.status.success(),
        "the SAM translator refused {}: {}",
        template.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the translator prints JSON")
}

/// Resolves intrinsic functions in template values.
pub struct Resolver<'a> {
    template: &'a Value,
    physical: &'a Physical,
}

impl<'a> Resolver<'a> {
    /// A resolver for `template` with the rehearsal's `physical` names.
    pub fn new(template: &'a Value, physical: &'a Physical) -> Self {
        Self { template, physical }
    }

    /// A parameter's value: the override, else its default.
    pub fn parameter(&self, name: &str) -> Option<String> {
        if let Some(value) = self.physical.parameters.get(name) {
            return Some(value.clone());
        }
        let default = self.template["Parameters"].get(name)?.get("Default")?;
        Some(match default {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn reference(&self, name: &str) -> Option<Value> {
        Some(Value::String(match name {
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::StackName" => "rehearsal".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NoValue" => return None,
            _ => {
                if let Some(value) = self.parameter(name) {
                    value
                } else if let Some(value) = self.physical.refs.get(name) {
                    value.clone()
                } else {
                    panic!("the rehearsal has no value for Ref {name}")
                }
            }
        }))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> String {
        match attribute {
            "Arn" => self
                .physical
                .arns
                .get(resource)
                .cloned()
                .unwrap_or_else(|| format!("arn:aws:rehearsal:{REGION}:{ACCOUNT}:{resource}")),
            other => panic!("the rehearsal has no value for {resource}.{other}"),
        }
    }

    /// Whether the template's condition `name` holds.
    pub fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        self.truth(condition)
    }

    fn truth(&self, value: &Value) -> bool {
        let Some((function, args)) = single(value) else {
            return value.as_bool().unwrap_or(false);
        };
        match function {
            "Fn::Equals" => {
                let a = self.resolve(&args[0]).map(|v| scalar(&v));
                let b = self.resolve(&args[1]).map(|v| scalar(&v));
                a == b
            }
            "Fn::Not" => !self.truth(&args[0]),
            "Fn::And" => args.as_array().unwrap().iter().all(|a| self.truth(a)),
            "Fn::Or" => args.as_array().unwrap().iter().any(|a| self.truth(a)),
            "Condition" => self.condition(args.as_str().unwrap()),
            other => panic!("unsupported condition function {other}"),
        }
    }

    /// `value` with every intrinsic function resolved; `None` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Value) -> Option<Value> {
        if let Some((function, args)) = single(value) {
            return match function {
                "Ref" => self.reference(args.as_str().unwrap()),
                "Fn::GetAtt" => {
                    let (resource, attribute) = match args {
                        Value::Array(a) => (a[0].as_str().unwrap(), a[1].as_str().unwrap()),
                        Value::String(s) => s.split_once('.').unwrap(),
                        _ => panic!("Fn::GetAtt {args}"),
                    };
                    Some(Value::String(self.attribute(resource, attribute)))
                }
                "Fn::Sub" => Some(Value::String(self.sub(args))),
                "Fn::If" => {
                    let branch = if self.condition(args[0].as_str().unwrap()) {
                        &args[1]
                    } else {
                        &args[2]
                    };
                    self.resolve(branch)
                }
                "Fn::Join" => {
                    let separator = args[0].as_str().unwrap();
                    let parts = self.resolve(&args[1]).unwrap();
                    let parts: Vec<String> = parts.as_array().unwrap().iter().map(scalar).collect();
                    Some(Value::String(parts.join(separator)))
                }
                _ if function.starts_with("Fn::") => panic!("unsupported intrinsic {function}"),
                _ => Some(self.resolve_object(value.as_object().unwrap())),
            };
        }
        Some(match value {
            Value::Object(map) => self.resolve_object(map),
            Value::Array(items) => {
                Value::Array(items.iter().filter_map(|v| self.resolve(v)).collect())
            }
            other => other.clone(),
        })
    }

    fn resolve_object(&self, map: &Map<String, Value>) -> Value {
        Value::Object(
            map.iter()
                .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
                .collect(),
        )
    }

    fn sub(&self, args: &Value) -> String {
        let (text, variables) = match args {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(a) => (
                a[0].as_str().unwrap(),
                a[1].as_object().cloned().unwrap_or_default(),
            ),
            _ => panic!("Fn::Sub {args}"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let name = &rest[start + 2..end];
            let value = if let Some(v) = variables.get(name) {
                scalar(&self.resolve(v).unwrap())
            } else if let Some((resource, attribute)) = name.split_once('.') {
                self.attribute(resource, attribute)
            } else {
                scalar(&self.reference(name).unwrap())
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// `{"Fn::X": args}` or `{"Ref": name}` or `{"Condition": name}`.
fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, args) = map.iter().next()?;
    (key == "Ref" || key == "Condition" || key.starts_with("Fn::")).then_some((key.as_str(), args))
}

/// A scalar value as text.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The logical id named by `${<Id>.Arn}` in an integration or authorizer URI.
fn function_of_uri(uri: &Value) -> String {
    let text = match uri {
        Value::Object(_) => uri.to_string(),
        other => scalar(other),
    };
    if let Some(at) = text.find("\"Fn::GetAtt\":[\"") {
        let rest = &text[at + 15..];
        return rest[..rest.find('"').unwrap()].to_owned();
    }
    let start = text.find("functions/${").expect("a Lambda integration URI") + 12;
    let rest = &text[start..];
    rest[..rest.find(".Arn}").expect("${<Function>.Arn}")].to_owned()
}

impl Deployment {
    /// Reads the deployment from `cloudformation` with the rehearsal's `physical` names.
    pub fn read(cloudformation: Value, physical: &Physical) -> Self {
        let resolver = Resolver::new(&cloudformation, physical);
        let resources = cloudformation["Resources"].as_object().expect("Resources");
        let of_type = |kind: &'static str| {
            resources
                .iter()
                .filter(move |(_, r)| r["Type"] == kind)
                .map(|(id, r)| (id.as_str(), &r["Properties"]))
        };

        let (_, api) = of_type("AWS::ApiGateway::RestApi")
            .next()
            .expect("the template has a REST API");
        let body = &api["Body"];
        let schemes = &body["components"]["securitySchemes"];
        let mut authorizers = BTreeMap::new();
        for (name, scheme) in schemes.as_object().into_iter().flatten() {
            let authorizer = &scheme["x-amazon-apigateway-authorizer"];
            assert_eq!(
                authorizer["type"], "request",
                "the rehearsal emulates REQUEST authorizers ({name})"
            );
            authorizers.insert(name.clone(), function_of_uri(&authorizer["authorizerUri"]));
        }
        let mut routes = Vec::new();
        for (path, methods) in body["paths"].as_object().expect("paths") {
            for (method, operation) in methods.as_object().unwrap() {
                let integration = &operation["x-amazon-apigateway-integration"];
                assert_eq!(
                    integration["type"], "aws_proxy",
                    "{method} {path}: the rehearsal emulates Lambda proxy integrations"
                );
                let authorizer = operation["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_object())
                    .flat_map(|s| s.keys())
                    .find_map(|name| authorizers.get(name).cloned());
                routes.push(Route {
                    path: path.clone(),
                    method: match method.as_str() {
                        "x-amazon-apigateway-any-method" => "ANY".into(),
                        m => m.to_uppercase(),
                    },
                    function: function_of_uri(&integration["uri"]),
                    authorizer,
                });
            }
        }
        let mut gateway_responses = BTreeMap::new();
        for (kind, response) in body["x-amazon-apigateway-gateway-responses"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let headers = response["responseParameters"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    let name = k.strip_prefix("gatewayresponse.header.")?;
                    let value = v.as_str()?.trim_matches('\'');
                    Some((name.to_owned(), value.to_owned()))
                })
                .collect();
            gateway_responses.insert(
                kind.clone(),
                GatewayResponse {
                    status: scalar(&response["statusCode"]).parse().expect("a status"),
                    headers,
                    body: response["responseTemplates"]["application/json"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                },
            );
        }
        let binary_media_types = body["x-amazon-apigateway-binary-media-types"]
            .as_array()
            .or_else(|| api["BinaryMediaTypes"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let (_, stage) = of_type("AWS::ApiGateway::Stage")
            .next()
            .expect("the API has a stage");
        let stage = scalar(&resolver.resolve(&stage["StageName"]).unwrap());

        let mut functions = BTreeMap::new();
        for (id, properties) in of_type("AWS::Lambda::Function") {
            let key = properties["Code"]["S3Key"].as_str().expect("packaged code");
            let binary = key
                .strip_prefix("target/lambda/")
                .and_then(|k| k.strip_suffix("/bootstrap.zip"))
                .unwrap_or_else(|| panic!("{id}: CodeUri {key} is not a package.sh artifact"));
            let environment = resolver
                .resolve(&properties["Environment"]["Variables"])
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, scalar(&v)))
                .collect();
            let role = properties["Role"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_default();
            let statements = resources
                .get(role)
                .map(|r| &r["Properties"]["Policies"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|p| {
                    p["PolicyDocument"]["Statement"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|s| resolver.resolve(&s))
                .collect();
            functions.insert(
                id.to_owned(),
                FunctionSpec {
                    logical_id: id.to_owned(),
                    binary: binary.to_owned(),
                    environment,
                    timeout: std::time::Duration::from_secs(
                        properties["Timeout"].as_u64().unwrap_or(3),
                    ),
                    memory_mb: properties["MemorySize"].as_u64().unwrap_or(128),
                    statements,
                },
            );
        }
        let function_of_arn = |arn: &Value| -> String {
            let arn = arn.to_string();
            let at = arn.find("\"Fn::GetAtt\":[\"").expect("a function's Arn") + 15;
            arn[at..at + arn[at..].find('"').unwrap()].to_owned()
        };
        let schedules = of_type("AWS::Scheduler::Schedule")
            .map(|(_, s)| {
                (
                    function_of_arn(&s["Target"]["Arn"]),
                    scalar(&s["ScheduleExpression"]),
                )
            })
            .collect();
        let queue_mappings = of_type("AWS::Lambda::EventSourceMapping")
            .map(|(_, m)| QueueMapping {
                function: m["FunctionName"]["Ref"]
                    .as_str()
                    .expect("Ref function")
                    .to_owned(),
                queue: function_of_arn(&m["EventSourceArn"]),
                batch_size: m["BatchSize"].as_u64().unwrap_or(10) as usize,
                reports_item_failures: m["FunctionResponseTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures")),
            })
            .collect();
        Self {
            cloudformation: cloudformation.clone(),
            stage,
            routes,
            gateway_responses,
            binary_media_types,
            functions,
            schedules,
            queue_mappings,
        }
    }

    /// A resource's properties with intrinsics resolved.
    pub fn properties(&self, logical_id: &str, physical: &Physical) -> Value {
        Resolver::new(&self.cloudformation, physical)
            .resolve(&self.cloudformation["Resources"][logical_id]["Properties"])
            .unwrap_or(Value::Null)
    }
}

/// Logical ids of the resources of `kind` in `cloudformation`.
pub fn resources_of(cloudformation: &Value, kind: &str) -> Vec<String> {
    cloudformation["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, _)| id.clone())
        .collect()
}
