//! The deployment, rehearsed on loopback: `template.yaml` translated by AWS's SAM translator,
//! its table, key, bus and queues created in DynamoDB Local and moto from the template's own
//! properties, every function's own binary run as Lambda runs it (separate processes under a
//! Lambda Runtime API emulator, with the template's environment), behind an emulator of the
//! REST API the template declares (`gateway`). Scheduled functions are invoked with EventBridge
//! Scheduler's event, queue consumers with SQS batches read from the template's queue.
//!
//! What differs from AWS, on purpose (each is a setting a private deployment may make too):
//! - [`DEVIATIONS`]: outbound `http://` and loopback are allowed, because the test servers
//!   (MCP servers, oidc-provider) listen on loopback without TLS; and a function reads the
//!   records a tool call uses every time (`RECENT_RECORDS_SECONDS=0`), because tests change one
//!   through a function and use it at once through another;
//! - the functions are this machine's debug builds of the crates `package.sh` packages, built
//!   alone as it builds them, in `target/rehearsal` (x86_64, not the arm64 release artifacts);
//! - AWS endpoints are DynamoDB Local and moto (`AWS_ENDPOINT_URL_<SERVICE>`), with fixed test
//!   credentials, reached through a proxy that enforces each function's role from the template
//!   ([`aws`]): a call the role does not allow is refused as AWS refuses it, and fails the
//!   rehearsal when it is dropped.
// Test code: a failed step of the rehearsal panics with its cause.
#![allow(clippy::unwrap_used)]

pub mod aws;
pub mod gateway;
pub mod lambda;
pub mod template;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::{Value, json};

use self::{
    gateway::Gateway,
    lambda::{Function, Outcome},
    template::{ACCOUNT, Deployment, Physical, REGION},
};

/// Environment variables the rehearsal sets beyond the template's, and why.
pub const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "ALLOW_INSECURE_HTTP",
        "true",
        "the test MCP servers and oidc-provider serve plain http on loopback",
    ),
    (
        "OUTBOUND_ALLOW_CIDRS",
        "127.0.0.0/8",
        "the test servers listen on loopback, which the outbound guard otherwise refuses",
    ),
    (
        "RECENT_RECORDS_SECONDS",
        "0",
        "tests change a policy, a tool's approval or a connection through one function and use it \
         at once through another; deployed, another function's warm instance may use what it read \
         up to 2 s earlier (its own tests: `recent_records`)",
    ),
];

/// The deployment running on loopback.
pub struct Rehearsal {
    /// The API's base URL: `http://127.0.0.1:<port>/<stage>`.
    pub url: String,
    /// The deployment read from the template.
    pub deployment: Deployment,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, Arc<Function>>,
    /// Physical names of the resources created.
    pub physical: Physical,
    /// The DynamoDB table's name.
    pub table: String,
    /// The KMS key's ARN (moto).
    pub key_arn: String,
    /// Where the functions' logs are (one file per function).
    pub logs: tempfile::TempDir,
    /// The AWS proxy enforcing each function's role.
    pub aws: Arc<aws::Proxy>,
    /// Where the functions' binaries are.
    pub binaries: PathBuf,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
        // A call no statement of the function's role names fails the rehearsal (unless it
        // already failed); one a statement's condition refused is a guard the template means.
        let missing: Vec<aws::Denied> = self
            .denied()
            .into_iter()
            .filter(|d| !d.by_condition)
            .collect();
        if !missing.is_empty() {
            eprintln!("calls the template's IAM statements do not allow: {missing:#?}");
        }
        if !std::thread::panicking() {
            assert!(
                missing.is_empty(),
                "calls the template's IAM statements do not allow: {missing:#?}"
            );
        }
    }
}

/// The workspace's root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the rehearsal builds the functions: a target directory of its own, because the test
/// build compiles some of the same binaries with test features (the worker's own runtime test
/// runs its binary on SQLite) into `target/debug`, and the two builds must not overwrite each
/// other's binaries while tests run.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("rehearsal")
}

/// Builds the functions' binaries as `package.sh` builds them (the function crates alone, so
/// without the local stack's SQLite store), in debug, into [`target_dir`]; a no-op when they are
/// current (`infra/scripts/test.sh` builds them before the tests).
fn build(binaries: &[String]) -> PathBuf {
    let root = workspace_root();
    let mut command = std::process::Command::new(env!("CARGO"));
    command
        .current_dir(&root)
        .args(["build", "--quiet", "--bins", "--target-dir"])
        .arg(target_dir());
    for binary in binaries {
        command.args(["-p", binary]);
    }
    let status = command.status().expect("run cargo build");
    assert!(status.success(), "the functions' binaries build");
    target_dir().join("debug")
}

impl Rehearsal {
    /// Creates the stack's resources, starts the functions' runtime APIs and the gateway.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Rehearsal::start`], the functions given `extra` environment variables too (a test's
    /// own deviation, such as where traces are exported).
    pub async fn start_with(extra: &[(String, String)]) -> Self {
        let root = workspace_root();
        let cloudformation = template::translate(&root, &root.join("template.yaml"));
        let ddb = crate::dynamodb_local().await;
        let moto = crate::moto().await;
        let mut physical = Physical::default();
        let suffix = crate::unique_name("r");

        // The table, from the template's own definition.
        let table = format!("rehearsal-{suffix}");
        let properties = template::Resolver::new(&cloudformation, &physical)
            .resolve(&cloudformation["Resources"]["Table"]["Properties"])
            .expect("the table's properties");
        create_table(&aws_sdk_dynamodb::Client::new(&ddb), &table, &properties).await;
        physical.refs.insert("Table".into(), table.clone());
        physical.arns.insert(
            "Table".into(),
            format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"),
        );

        // The key, the bus and the queues, in moto.
        let kms = aws_sdk_kms::Client::new(&moto);
        let key = kms
            .create_key()
            .send()
            .await
            .expect("create the key in moto");
        let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
        physical.arns.insert("Key".into(), key_arn.clone());
        let bus = format!("agent-studio-connect-{suffix}");
        let events = aws_sdk_eventbridge::Client::new(&moto);
        let created = events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("create the bus in moto");
        physical.refs.insert("EventBus".into(), bus.clone());
        physical.arns.insert(
            "EventBus".into(),
            created.event_bus_arn().unwrap().to_owned(),
        );
        let sqs = aws_sdk_sqs::Client::new(&moto);
        for queue in template::resources_of(&cloudformation, "AWS::SQS::Queue") {
            let url = sqs
                .create_queue()
                .queue_name(format!("{queue}-{suffix}"))
                .send()
                .await
                .expect("create the queue in moto")
                .queue_url
                .unwrap();
            physical.refs.insert(queue.clone(), url.clone());
            physical.arns.insert(
                queue.clone(),
                format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}-{suffix}"),
            );
        }
        for id in &template::resources_of(&cloudformation, "AWS::Lambda::Function") {
            physical.refs.insert(id.clone(), id.clone());
            physical.arns.insert(
                id.clone(),
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{id}"),
            );
        }
        let deployment = Deployment::read(cloudformation, &physical);

        let binaries: Vec<String> = deployment
            .functions
            .values()
            .map(|f| f.binary.clone())
            .collect();
        let target = build(&binaries);
        let logs = tempfile::tempdir().unwrap();
        let proxy = Arc::new(aws::Proxy::new(
            deployment
                .functions
                .iter()
                .map(|(id, f)| (id.clone(), f.statements.clone()))
                .collect(),
            crate::service_endpoint("STUDIO_TEST_DYNAMODB_ENDPOINT"),
            crate::service_endpoint("STUDIO_TEST_MOTO_ENDPOINT"),
        ));
        let proxy_app = axum::Router::new()
            .route("/{function}/{service}", axum::routing::any(aws::handle))
            .route("/{function}/{service}/", axum::routing::any(aws::handle))
            .with_state(Arc::clone(&proxy));
        let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_origin = format!("http://{}", proxy_listener.local_addr().unwrap());
        let proxy_server = tokio::spawn(async move {
            let _ = axum::serve(proxy_listener, proxy_app).await;
        });
        let mut functions = BTreeMap::new();
        for (id, spec) in &deployment.functions {
            let endpoint = |service: &str| format!("{proxy_origin}/{id}/{service}");
            let mut environment: Vec<(String, String)> = vec![
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ("AWS_SESSION_TOKEN".into(), "test".into()),
                ("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint("dynamodb")),
                ("AWS_ENDPOINT_URL_KMS".into(), endpoint("kms")),
                (
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                    endpoint("secretsmanager"),
                ),
                ("AWS_ENDPOINT_URL_EVENTBRIDGE".into(), endpoint("events")),
                ("AWS_ENDPOINT_URL_SQS".into(), endpoint("sqs")),
            ];
            environment.extend(
                DEVIATIONS
                    .iter()
                    .map(|(k, v, _)| ((*k).to_owned(), (*v).to_owned())),
            );
            environment.extend(extra.iter().cloned());
            let function = Function::start(
                spec.clone(),
                target.join(&spec.binary),
                environment,
                4,
                logs.path().join(format!("{id}.log")),
            )
            .await;
            functions.insert(id.clone(), Arc::new(function));
        }
        let gateway = Arc::new(Gateway {
            deployment: deployment.clone(),
            functions: functions.clone(),
        });
        let app = axum::Router::new()
            .fallback(gateway::handle)
            .with_state(gateway);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/{}", deployment.stage),
            deployment,
            functions,
            physical,
            table,
            key_arn,
            logs,
            aws: proxy,
            binaries: target,
            servers: vec![server, proxy_server],
        }
    }

    /// The calls the functions made that their roles refused (missing permissions, and calls a
    /// statement's condition refused).
    pub fn denied(&self) -> Vec<aws::Denied> {
        self.aws.denied.lock().unwrap().clone()
    }

    /// Invokes a scheduled function as EventBridge Scheduler does (its event for a
    /// `rate(…)` schedule); returns its answer.
    pub async fn run_schedule(&self, function: &str) -> Value {
        assert!(
            self.deployment.schedules.iter().any(|(f, _)| f == function),
            "{function} has no schedule in the template"
        );
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        // Scheduler's default payload for a Lambda target: the same shape as a scheduled
        // EventBridge rule's event.
        let event = json!({
            "version": "0",
            "id": crate::unique_name("schedule"),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": ACCOUNT,
            "time": now,
            "region": REGION,
            "resources": [format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{function}Schedule")],
            "detail": "{}",
        });
        match self.functions[function]
            .invoke(serde_json::to_vec(&event).unwrap())
            .await
        {
            Outcome::Buffered(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Outcome::Failed(e) => panic!("{function} failed: {e}"),
            Outcome::TimedOut => panic!("{function} timed out"),
            Outcome::Streamed { .. } => panic!("{function} streamed"),
        }
    }

    /// Delivers what waits on each queue to its consumer in SQS batches, as an event source
    /// mapping does, until the queues are empty; deletes what the consumer handled and leaves
    /// the failures it reports. Returns how many messages were handled.
    pub async fn drain_queues(&self) -> usize {
        let sqs = aws_sdk_sqs::Client::new(&crate::moto().await);
        let mut handled = 0;
        for mapping in &self.deployment.queue_mappings {
            let url = &self.physical.refs[&mapping.queue];
            let arn = &self.physical.arns[&mapping.queue];
            loop {
                let received = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(mapping.batch_size.min(10) as i32)
                    .visibility_timeout(30)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .send()
                    .await
                    .expect("receive from the queue");
                let messages = received.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                let records: Vec<Value> = messages
                    .iter()
                    .map(|m| {
                        json!({
                            "messageId": m.message_id(),
                            "receiptHandle": m.receipt_handle(),
                            "body": m.body(),
                            "attributes": m.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect::<BTreeMap<_, _>>()).unwrap_or_default(),
                            "messageAttributes": {},
                            "md5OfBody": m.md5_of_body(),
                            "eventSource": "aws:sqs",
                            "eventSourceARN": arn,
                            "awsRegion": REGION,
                        })
                    })
                    .collect();
                let event = json!({ "Records": records });
                let typed: aws_lambda_events::sqs::SqsEvent =
                    serde_json::from_value(event.clone()).expect("the documented SQS event");
                drop(typed);
                let failed: Vec<String> = match self.functions[&mapping.function]
                    .invoke(serde_json::to_vec(&event).unwrap())
                    .await
                {
                    Outcome::Buffered(bytes) if mapping.reports_item_failures => {
                        let answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                        answer["batchItemFailures"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                            .collect()
                    }
                    Outcome::Buffered(_) => Vec::new(),
                    _ => panic!("{} failed a batch", mapping.function),
                };
                for message in &messages {
                    if failed
                        .iter()
                        .any(|f| Some(f.as_str()) == message.message_id())
                    {
                        continue;
                    }
                    handled += 1;
                    sqs.delete_message()
                        .queue_url(url)
                        .receipt_handle(message.receipt_handle().unwrap())
                        .send()
                        .await
                        .expect("delete a handled message");
                }
                if !failed.is_empty() {
                    break;
                }
            }
        }
        handled
    }

    /// Everything the functions wrote to their logs.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.logs.path()).unwrap() {
            all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
        }
        all
    }
}

/// Creates `name` in DynamoDB Local with the template's key schema, attributes, indexes and TTL.
async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, properties: &Value) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let keys = |schema: &Value| -> Vec<KeySchemaElement> {
        schema
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                    .build()
                    .unwrap()
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(
            properties["BillingMode"]
                .as_str()
                .unwrap_or("PAY_PER_REQUEST"),
        ))
        .set_key_schema(Some(keys(&properties["KeySchema"])));
    for attribute in properties["AttributeDefinitions"].as_array().unwrap() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    attribute["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap(),
        );
    }
    for index in properties["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let projection = &index["Projection"];
        let mut p = Projection::builder().projection_type(ProjectionType::from(
            projection["ProjectionType"].as_str().unwrap(),
        ));
        for attribute in projection["NonKeyAttributes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            p = p.non_key_attributes(attribute.as_str().unwrap());
        }
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index["IndexName"].as_str().unwrap())
                .set_key_schema(Some(keys(&index["KeySchema"])))
                .projection(p.build())
                .build()
                .unwrap(),
        );
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("create the template's table: {e:?}"));
    if let Some(ttl) = properties["TimeToLiveSpecification"].as_object() {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl["AttributeName"].as_str().unwrap())
                    .enabled(ttl["Enabled"].as_bool().unwrap_or(true))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("the table's TTL");
    }
}
