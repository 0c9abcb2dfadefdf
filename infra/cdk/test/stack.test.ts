// Assertions on the synthesized stack: the resources and their security settings, every route
// behind the authorizer (but the public document), the planner's schedule, the jobs queue and the
// worker on it, the alarms, and no unexplained AwsSolutions finding.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';

import { FUNCTIONS } from '../lib/functions';
import { AgentStudioConnectStack, DEFAULT_SETTINGS } from '../lib/stack';
import { synth } from './support';

const { stack, template } = synth();

test('one arm64 provided.al2023 function per endpoint group, the planner and the worker, with a log group each', () => {
  const functions = template.findResources('AWS::Lambda::Function');
  assert.deepEqual(Object.keys(functions).sort(), FUNCTIONS.map((f) => f.id).sort());
  for (const [id, fn] of Object.entries(functions)) {
    const p = (fn as any).Properties;
    const spec = FUNCTIONS.find((f) => f.id === id)!;
    assert.equal(p.Runtime, 'provided.al2023', id);
    assert.deepEqual(p.Architectures, ['arm64'], id);
    assert.equal(p.Handler, 'bootstrap', id);
    assert.equal(p.MemorySize, spec.memoryMb ?? 256, id);
    assert.deepEqual(p.TracingConfig, { Mode: 'Active' }, id);
    assert.ok(p.ReservedConcurrentExecutions > 0, id);
    assert.ok(p.LoggingConfig?.LogGroup, `${id} logs to its own group`);
  }
  const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
  assert.equal(groups.length, FUNCTIONS.length + 1, 'one per function, and the access logs');
  for (const group of groups) {
    assert.equal((group as any).Properties.RetentionInDays, 30);
  }
});

test('the table has the GSI, TTL, point-in-time recovery and encryption, and is retained', () => {
  template.hasResource('AWS::DynamoDB::Table', {
    DeletionPolicy: 'Retain',
    Properties: Match.objectLike({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'Due', Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['expires_at'] } })],
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    }),
  });
  template.hasResource('AWS::KMS::Key', {
    DeletionPolicy: 'Retain',
    Properties: Match.objectLike({ EnableKeyRotation: true }),
  });
});

test('every route goes through the REQUEST authorizer without caching, but the public documents and the MCP endpoint that authenticates itself', () => {
  template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
    Type: 'REQUEST',
    AuthorizerResultTtlInSeconds: 0,
    IdentitySource: Match.absent(),
  });
  const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).map((m: any) => m.Properties);
  const routes = FUNCTIONS.flatMap((f) => f.routes);
  assert.equal(methods.length, routes.length);
  const open = routes.filter((r) => r.public).map((r) => `${r.method} ${r.path}`);
  assert.equal(methods.filter((m) => m.AuthorizationType !== 'CUSTOM').length, open.length);
  assert.deepEqual(open.sort(), [
    'DELETE /ai/api/v1/mcp/agents/{agent_id}',
    'GET /.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent_id}',
    'GET /ai/api/v1/mcp/agents/{agent_id}',
    'GET /ai/api/v1/oauth/client-metadata.json',
    'GET /ai/api/v1/oauth/jwks/{kid}',
    'GET /ai/api/v1/openapi.json',
    'POST /ai/api/v1/mcp/agents/{agent_id}',
  ]);
});

test('API Gateway answers in problem+json, logs each request as JSON, and is throttled', () => {
  for (const type of ['UNAUTHORIZED', 'ACCESS_DENIED', 'MISSING_AUTHENTICATION_TOKEN', 'THROTTLED', 'AUTHORIZER_FAILURE']) {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: type,
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Content-Type': "'application/problem+json'" }),
    });
  }
  const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0] as any;
  assert.equal(stage.Properties.StageName, 'prod');
  assert.ok(JSON.parse(stage.Properties.AccessLogSetting.Format).requestId);
  assert.equal(stage.Properties.MethodSettings[0].ThrottlingRateLimit, 200);
  assert.equal(stage.Properties.MethodSettings[0].ThrottlingBurstLimit, 400);
  assert.equal(JSON.parse(stage.Properties.AccessLogSetting.Format).role, '$context.authorizer.role');
});

test('one schedule, the planner every minute, never replayed', () => {
  const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')) as any[];
  assert.equal(schedules.length, 1);
  assert.equal(schedules[0].Properties.ScheduleExpression, 'rate(1 minute)');
  assert.deepEqual(schedules[0].Properties.Target.RetryPolicy, { MaximumRetryAttempts: 0 });
  assert.equal(template.findResources('AWS::Lambda::Function').PlannerFunction.Properties.ReservedConcurrentExecutions, 1);
});

test('the worker reads the encrypted, TLS-only jobs queue in partial batches, as many at once as it reserves', () => {
  const queues = template.findResources('AWS::SQS::Queue') as Record<string, any>;
  assert.deepEqual(Object.keys(queues).sort(), ['JobsDeadLetterQueue', 'JobsQueue']);
  for (const queue of Object.values(queues)) {
    assert.equal(queue.Properties.SqsManagedSseEnabled, true);
  }
  assert.equal(queues.JobsQueue.Properties.RedrivePolicy.maxReceiveCount, 5);
  const worker = template.findResources('AWS::Lambda::Function').WorkerFunction.Properties;
  assert.ok(queues.JobsQueue.Properties.VisibilityTimeout >= 6 * worker.Timeout, 'six times the worker timeout');
  const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy'))[0] as any;
  const deny = policy.Properties.PolicyDocument.Statement[0];
  assert.deepEqual([deny.Effect, deny.Condition], ['Deny', { Bool: { 'aws:SecureTransport': 'false' } }]);
  assert.equal(policy.Properties.Queues.length, 2);
  const mapping = (Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0] as any).Properties;
  assert.deepEqual(mapping.FunctionResponseTypes, ['ReportBatchItemFailures']);
  assert.equal(mapping.BatchSize, 10);
  assert.equal(mapping.ScalingConfig.MaximumConcurrency, DEFAULT_SETTINGS.workerConcurrency);
  assert.equal(worker.ReservedConcurrentExecutions, DEFAULT_SETTINGS.workerConcurrency);
  // Unreserved on request, for accounts with a small concurrency quota.
  const unreserved = synth({ reserveBackgroundConcurrency: false }).template.findResources('AWS::Lambda::Function');
  assert.equal(unreserved.WorkerFunction.Properties.ReservedConcurrentExecutions, undefined);
  assert.equal(unreserved.PlannerFunction.Properties.ReservedConcurrentExecutions, undefined);
});

test('alarms for revoked grants, refresh failures, health-check errors, work falling behind, dead letters, lost audit entries, 5xx rate, Lambda errors and throttles', () => {
  const alarms = template.findResources('AWS::CloudWatch::Alarm');
  // Errors and throttles: one alarm each for the API functions and for the background ones.
  assert.equal(Object.keys(alarms).length, 12);
  assert.equal(alarms.AuditEntriesLostAlarm.Properties.MetricName, 'AuditEntriesLost');
  assert.equal(alarms.PlannerBehindAlarm.Properties.MetricName, 'OldestOverdueSeconds');
  assert.equal(alarms.JobsDeadLetterAlarm.Properties.MetricName, 'ApproximateNumberOfMessagesVisible');
  for (const alarm of Object.values(alarms) as any[]) {
    assert.equal(alarm.Properties.AlarmActions.length, 1);
  }
});

test('the AwsSolutions checks find nothing that is not explained', () => {
  const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.deepEqual(
    errors.map((e) => `${e.id}: ${e.entry.data}`),
    [],
  );
  const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.deepEqual(
    warnings.map((e) => `${e.id}: ${e.entry.data}`),
    [],
  );
});

test('a stack without its artifacts is refused unless synthesized for checks only', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'no-artifacts-'));
  assert.throws(
    () => new AgentStudioConnectStack(new App(), 's', { ...DEFAULT_SETTINGS, artifacts: empty }),
    /package\.sh/,
  );
});

test('no OpenTelemetry export by default; a collector layer makes every function export to it', () => {
  for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
    const p = (fn as any).Properties;
    assert.equal(p.Layers, undefined);
    assert.equal(p.Environment.Variables.OTEL_EXPORTER_OTLP_ENDPOINT, '');
  }
  const layer = 'arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1';
  const exporting = synth({ otelCollectorLayerArn: layer }).template;
  const functions = Object.entries(exporting.findResources('AWS::Lambda::Function'));
  assert.equal(functions.length, FUNCTIONS.length);
  for (const [id, fn] of functions) {
    const p = (fn as any).Properties;
    assert.deepEqual(p.Layers, [layer], id);
    assert.equal(p.Environment.Variables.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://localhost:4318', id);
  }
});
