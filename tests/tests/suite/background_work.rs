//! Background work as jobs, on both stores: the planner sends one job per due entry (none once its
//! run is out of time: they stay due for the next), and the
//! workers (here the in-process queue) serve the jobs' groups in turn, so one tenant's servers on
//! a host that stopped answering never hold up another tenant's health check; and over Amazon
//! SQS (moto), the worker function runs a batch, a job delivered twice does its work once, and a
//! message that is no job is answered as a batch item failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    Backend, TestStack, hostile,
    servers::{self, FastMcpAuth},
};
use serde_json::json;
use shared::{
    model::{
        mcp_server::StoredMcpServer,
        refresh_pass::PassSettings,
        resource::{self, Resource, sk},
        server_checks::HealthSettings,
        tenant_pk,
    },
    store::{Item, TxOp},
    work::{
        self,
        local::{self, LocalQueue, WorkerLimits},
        planner::{self, PlanSettings},
    },
};

/// Points the stored server `id` of `tenant` at `url` (its host moved or died since it was
/// tested) and makes its check due now.
async fn repoint_and_make_due(stack: &TestStack, tenant: &str, id: &str, url: Option<&str>) {
    let state = &stack.state;
    if let Some(url) = url {
        let (mut server, version) = resource::load::<StoredMcpServer>(state, tenant, id)
            .await
            .unwrap();
        server.url = url.to_owned();
        let item = Item::new(
            tenant_pk(tenant),
            sk::<StoredMcpServer>(id),
            server.body().unwrap(),
        );
        let update = TxOp::Update {
            item,
            expected_version: version,
        };
        state.store.write(update).await.unwrap();
    }
    e2e::make_check_due(state, tenant, id).await;
}

async fn a_dead_host_with_many_servers_never_holds_up_another_tenants_check(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let live = servers::fastmcp(FastMcpAuth::None, "http").await;
    let dead = format!("{}/never", hostile::start().await);
    let url = live.mcp_url();
    let globex = stack
        .client()
        .with_session(&stack.session_for("globex", "gina").await);
    let mut stalled = Vec::new();
    for i in 0..12 {
        let body = json!({"name": format!("s{i}"), "url": url, "timeout_seconds": 3});
        stalled.push(globex.created("/config/mcp-server", body).await);
    }
    for id in &stalled {
        repoint_and_make_due(&stack, "globex", id, Some(&dead)).await;
    }
    let mine = stack
        .created("/config/mcp-server", json!({"name": "mine", "url": url}))
        .await;
    repoint_and_make_due(&stack, "acme", &mine, None).await;

    let ctx = work::Context::new(
        stack.state.clone(),
        PassSettings::default(),
        HealthSettings::default(),
    );
    let queue = LocalQueue::default();
    // A run out of time takes nothing: every entry stays due for the next run.
    let late = PlanSettings {
        max_run_seconds: 0,
        ..PlanSettings::default()
    };
    let deferred = planner::plan(&ctx, &late, &queue).await;
    assert_eq!(
        (deferred.sent.len(), deferred.deferred),
        (0, 13),
        "{deferred:?}"
    );
    let planned = planner::plan(&ctx, &PlanSettings::default(), &queue).await;
    assert_eq!(planned.sent["check_server"], 13, "{planned:?}");
    // Time for one round of jobs only: each group gets its share of it (two at once), so the
    // dead host's twelve checks take two workers, and Acme's check runs beside them.
    let limits = WorkerLimits {
        concurrency: 4,
        per_group: 2,
        job_time: Duration::from_secs(5),
    };
    let end = tokio::time::Instant::now() + Duration::from_secs(6);
    let report = local::run(&ctx, queue.take(), &limits, end).await;
    assert_eq!(report.count("check_server.healthy"), 1, "{report:?}");
    assert_eq!(report.count("check_server.unreachable"), 2, "{report:?}");
    assert_eq!(report.left, 10, "{report:?}");
    let (_, view) = stack.get(&format!("/config/mcp-server/{mine}")).await;
    assert_eq!(view["health"]["status"], "healthy", "{view}");
}

async fn jobs_travel_over_sqs_and_a_duplicate_does_its_work_once(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let live = servers::fastmcp(FastMcpAuth::None, "http").await;
    let id = stack
        .created(
            "/config/mcp-server",
            json!({"name": "s", "url": live.mcp_url()}),
        )
        .await;
    repoint_and_make_due(&stack, "acme", &id, None).await;

    let aws = shared::config::aws_config_for_endpoint(&e2e::service_endpoint(
        "STUDIO_TEST_MOTO_ENDPOINT",
    ))
    .await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = sqs
        .create_queue()
        .queue_name(e2e::unique_name("jobs"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let ctx = work::Context::new(
        stack.state.clone(),
        PassSettings::default(),
        HealthSettings::default(),
    );
    let queue = work::sqs::SqsQueue::new(sqs.clone(), &url);
    let planned = planner::plan(&ctx, &PlanSettings::default(), &queue).await;
    assert_eq!(planned.sent["check_server"], 1, "{planned:?}");

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let record = |id: &str, body: &str| {
        let mut message = aws_lambda_events::sqs::SqsMessage::default();
        message.message_id = Some(id.to_owned());
        message.body = Some(body.to_owned());
        message
    };
    let body = received[0].body().unwrap();
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = vec![
        record("first", body),
        record("poison", r#"{"job":"mine_bitcoin","data":{}}"#),
    ];
    let response = worker::handle(&ctx, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["poison"], "only the message that is no job fails");
    let (_, view) = stack.get(&format!("/config/mcp-server/{id}")).await;
    assert_eq!(view["health"]["status"], "healthy", "{view}");
    let checks = |view: &serde_json::Value| view["health"]["checked_at"].clone();
    let checked = checks(&view);

    // The same message again (SQS delivers at least once): its entry has moved on, nothing runs.
    let mut again = aws_lambda_events::sqs::SqsEvent::default();
    again.records = vec![record("again", body)];
    assert!(
        worker::handle(&ctx, again)
            .await
            .batch_item_failures
            .is_empty()
    );
    let (_, view) = stack.get(&format!("/config/mcp-server/{id}")).await;
    assert_eq!(checks(&view), checked, "checked once");
}

e2e::on_both_stores!(
    a_dead_host_with_many_servers_never_holds_up_another_tenants_check,
    jobs_travel_over_sqs_and_a_duplicate_does_its_work_once,
);
