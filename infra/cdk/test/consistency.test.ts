// SAM and CDK in step: the same functions (binary, description, timeout, memory), the same routes
// on each (and the same public one), the same schedules, the same queues and queue event source,
// the same environment variables, the same IAM statements (Sid, actions, what they apply to,
// conditions), and the same alarms on the same metrics. A change to one template that is not made
// to the other fails here.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FUNCTIONS } from '../lib/functions';
import { samTemplate, synth } from './support';

const sam = samTemplate().Resources;
const cdk = synth().template.toJSON().Resources as Record<string, { Type: string; Properties: any }>;

const samFunctions = Object.entries(sam).filter(([, r]) => r.Type === 'AWS::Serverless::Function');
const cdkFunctions = Object.entries(cdk).filter(([, r]) => r.Type === 'AWS::Lambda::Function');

/** An intrinsic as one form: `!GetAtt A.B` (SAM's short form) as `{"Fn::GetAtt": ["A", "B"]}`. */
function normal(value: unknown): string {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === 'object' && typeof v['Fn::GetAtt'] === 'string' ? { 'Fn::GetAtt': v['Fn::GetAtt'].split('.') } : v,
  );
}

/** What a statement's resource is, whichever way a template writes it. */
function target(resource: unknown): string {
  const text = normal(resource);
  if (text.includes('"JobsQueue"')) return 'jobsQueue';
  if (text.includes('index/Due')) return 'index';
  if (text.includes('secretsmanager')) return 'taggedSecrets';
  if (text.includes(':key/*')) return 'signingKeys';
  if (text === '"*"') return 'anyResource';
  if (text.includes('EventBus')) return 'eventBus';
  if (text.includes('Key')) return 'key';
  if (text.includes('Table')) return 'table';
  return text;
}

type Described = { actions: string[]; target: string; condition: string };

function describe(statements: any[]): Record<string, Described> {
  return Object.fromEntries(
    statements
      .filter((s) => s.Sid)
      .map((s) => [
        s.Sid,
        {
          actions: [s.Action].flat().sort(),
          target: target(s.Resource),
          condition: JSON.stringify(s.Condition ?? null),
        },
      ]),
  );
}

function cdkStatements(functionId: string): Record<string, Described> {
  const role = cdk[functionId].Properties.Role['Fn::GetAtt'][0];
  const statements = Object.values(cdk)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(`"${role}"`))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
  return describe(statements);
}

/** `METHOD path` of every API method of the CDK stack, by the function it integrates. */
function cdkRoutes(): Record<string, string[]> {
  const pathOf = (ref: any): string => {
    if (!ref.Ref) return '';
    const resource = cdk[ref.Ref].Properties;
    return `${pathOf(resource.ParentId)}/${resource.PathPart}`;
  };
  const routes: Record<string, string[]> = {};
  for (const r of Object.values(cdk).filter((r) => r.Type === 'AWS::ApiGateway::Method')) {
    const uri = JSON.stringify(r.Properties.Integration);
    const fn = cdkFunctions.map(([id]) => id).find((id) => uri.includes(`"${id}"`));
    assert.ok(fn, `a method integrates a function: ${uri}`);
    const open = r.Properties.AuthorizationType === 'NONE' ? ' (public)' : '';
    (routes[fn] ??= []).push(`${r.Properties.HttpMethod} ${pathOf(r.Properties.ResourceId)}${open}`);
  }
  return routes;
}

test('the same functions', () => {
  assert.deepEqual(
    samFunctions.map(([id]) => id).sort(),
    cdkFunctions.map(([id]) => id).sort(),
  );
  for (const [id, fn] of samFunctions) {
    const spec = FUNCTIONS.find((f) => f.id === id)!;
    assert.equal(fn.Properties.CodeUri, `target/lambda/${spec.binary}/bootstrap.zip`, id);
    const other = cdk[id].Properties;
    assert.equal(other.Description, fn.Properties.Description, id);
    assert.equal(other.Timeout, fn.Properties.Timeout, id);
    assert.equal(other.MemorySize, fn.Properties.MemorySize, id);
    assert.equal(other.Handler, fn.Properties.Handler, id);
    assert.equal(other.Runtime, fn.Properties.Runtime, id);
  }
});

test('the same routes on each function', () => {
  const routes = cdkRoutes();
  for (const [id, fn] of samFunctions) {
    const samRoutes = Object.values(fn.Properties.Events ?? {})
      .filter((e: any) => e.Type === 'Api')
      .map((e: any) => {
        const open = e.Properties.Auth?.Authorizer === 'NONE' ? ' (public)' : '';
        return `${e.Properties.Method} ${e.Properties.Path}${open}`;
      });
    assert.deepEqual((routes[id] ?? []).sort(), samRoutes.sort(), id);
  }
});

test('the same routes stream their answers', () => {
  const cdkStreamed = Object.values(cdk)
    .filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.Integration.ResponseTransferMode === 'STREAM')
    .map((r) => {
      const uri = JSON.stringify(r.Properties.Integration.Uri);
      assert.ok(uri.includes('/response-streaming-invocations'), uri);
      return `${r.Properties.HttpMethod} ${cdkFunctions.map(([id]) => id).find((id) => uri.includes(`"${id}"`))}`;
    })
    .sort();
  // SAM spells the mode RESPONSE_STREAM; it drops any other value without a word.
  const samStreamed = samFunctions
    .flatMap(([id, fn]) =>
      Object.values(fn.Properties.Events ?? {})
        .filter((e: any) => e.Type === 'Api' && e.Properties.ResponseTransferMode !== undefined)
        .map((e: any) => {
          assert.equal(e.Properties.ResponseTransferMode, 'RESPONSE_STREAM', id);
          return `${e.Properties.Method} ${id}`;
        }),
    )
    .sort();
  assert.deepEqual(cdkStreamed, samStreamed);
  assert.equal(samStreamed.length, 4);
});

test('the same schedules', () => {
  const cdkSchedules = Object.values(cdk)
    .filter((r) => r.Type === 'AWS::Scheduler::Schedule')
    .map((r) => `${JSON.stringify(r.Properties.Target.Arn['Fn::GetAtt'][0])} ${r.Properties.ScheduleExpression}`)
    .sort();
  const samSchedules = samFunctions
    .flatMap(([id, fn]) =>
      Object.values(fn.Properties.Events ?? {})
        .filter((e: any) => e.Type === 'ScheduleV2')
        .map((e: any) => `${JSON.stringify(id)} ${e.Properties.ScheduleExpression}`),
    )
    .sort();
  assert.deepEqual(cdkSchedules, samSchedules);
});

test('the same table indexes (the legacy one only on request)', () => {
  const indexes = (resources: Record<string, { Type: string; Properties: any }>) =>
    resources.Table.Properties.GlobalSecondaryIndexes.filter((i: any) => !i['Fn::If']);
  assert.deepEqual(indexes(cdk), indexes(sam));
  assert.deepEqual(
    indexes(cdk).map((i: any) => [i.IndexName, i.Projection]),
    [['Due', { ProjectionType: 'INCLUDE', NonKeyAttributes: ['expires_at'] }]],
  );
  const legacy = sam.Table.Properties.GlobalSecondaryIndexes.find((i: any) => i['Fn::If'])['Fn::If'];
  const kept = synth({ keepLegacyIndex: true }).template.toJSON().Resources.Table.Properties.GlobalSecondaryIndexes;
  assert.deepEqual(kept.map((i: any) => i.IndexName), ['Due', 'GSI1']);
  assert.deepEqual(kept[1], legacy[1]);
});

test('the same queues, and the same event source on the worker', () => {
  const queues = (resources: Record<string, { Type: string; Properties: any }>) =>
    Object.fromEntries(
      Object.entries(resources)
        .filter(([, r]) => r.Type === 'AWS::SQS::Queue')
        .map(([id, r]) => [
          id,
          {
            sse: r.Properties.SqsManagedSseEnabled,
            visibility: r.Properties.VisibilityTimeout,
            retention: r.Properties.MessageRetentionPeriod,
            maxReceiveCount: r.Properties.RedrivePolicy?.maxReceiveCount,
            deadLetters: normal(r.Properties.RedrivePolicy?.deadLetterTargetArn ?? null),
          },
        ]),
    );
  assert.deepEqual(queues(cdk), queues(sam));
  const policy = (resources: Record<string, { Type: string; Properties: any }>) =>
    Object.values(resources)
      .filter((r) => r.Type === 'AWS::SQS::QueuePolicy')
      .map((r) => ({ ...r.Properties.PolicyDocument.Statement[0], Resource: undefined }));
  assert.deepEqual(policy(cdk), policy(sam));

  const mapping = Object.values(cdk).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping')!.Properties;
  const samEvents = samFunctions.flatMap(([id, fn]) =>
    Object.values(fn.Properties.Events ?? {})
      .filter((e: any) => e.Type === 'SQS')
      .map((e: any) => ({ id, ...e.Properties })),
  );
  assert.equal(samEvents.length, 1);
  const samEvent = samEvents[0];
  assert.equal(JSON.stringify(mapping.FunctionName), JSON.stringify({ Ref: samEvent.id }));
  assert.deepEqual(
    {
      queue: normal(mapping.EventSourceArn),
      batch: mapping.BatchSize,
      window: mapping.MaximumBatchingWindowInSeconds,
      responses: mapping.FunctionResponseTypes,
    },
    {
      queue: normal(samEvent.Queue),
      batch: samEvent.BatchSize,
      window: samEvent.MaximumBatchingWindowInSeconds,
      responses: samEvent.FunctionResponseTypes,
    },
  );
  // SAM takes the maximum concurrency from a parameter whose default is CDK's setting.
  assert.deepEqual(samEvent.ScalingConfig, { MaximumConcurrency: { Ref: 'WorkerConcurrency' } });
  assert.equal(mapping.ScalingConfig.MaximumConcurrency, 20);
  assert.equal((samTemplate() as any).Parameters.WorkerConcurrency.Default, 20);
});

test('the same environment variables', () => {
  for (const [id, fn] of samFunctions) {
    assert.deepEqual(
      Object.keys(cdk[id].Properties.Environment.Variables).sort(),
      Object.keys(fn.Properties.Environment.Variables).sort(),
      id,
    );
  }
});

test('the same permissions', () => {
  for (const [id, fn] of samFunctions) {
    // A function that calls no AWS service declares no Policies (SAM's basic execution role only).
    const samStatements = describe((fn.Properties.Policies ?? []).flatMap((p: any) => p.Statement));
    assert.deepEqual(cdkStatements(id), samStatements, id);
  }
});

test('the same alarms on the same topic', () => {
  const ids = (resources: Record<string, { Type: string }>) =>
    Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
      .map(([id]) => id)
      .sort();
  assert.deepEqual(ids(cdk), ids(sam));
  // What each alarm watches: its namespaces, metric names and dimensions, and threshold (the API's
  // dimension values are its name and stage, which the two templates spell differently).
  const watches = (alarm: any) => {
    const p = alarm.Properties;
    const metrics = p.Metrics
      ? p.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric)
      : [{ Namespace: p.Namespace, MetricName: p.MetricName, Dimensions: p.Dimensions }];
    return {
      metrics: metrics
        .map((m: any) => {
          const dimensions = (m.Dimensions ?? []).map((d: any) =>
            m.Namespace === 'AWS/ApiGateway' ? d.Name : `${d.Name}=${normal(d.Value)}`,
          );
          return `${m.Namespace}/${m.MetricName} ${dimensions.join(' ')}`;
        })
        .sort(),
      threshold: p.Threshold,
      periods: p.EvaluationPeriods,
    };
  };
  for (const id of ids(sam)) {
    assert.deepEqual(cdk[id].Properties.AlarmActions, [{ Ref: 'AlarmTopic' }], id);
    assert.deepEqual(sam[id].Properties.AlarmActions, [{ Ref: 'AlarmTopic' }], id);
    assert.deepEqual(watches(cdk[id]), watches(sam[id]), id);
  }
});

test('every function in exactly one errors and one throttles alarm, at most 10 metrics an alarm', () => {
  const watched = (resources: Record<string, { Type: string; Properties: any }>, metricName: string) => {
    const byAlarm = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.Metrics)
      .map(([id, r]) => {
        const stats = r.Properties.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
        // CloudWatch refuses a metric math alarm that references more than 10 metrics.
        assert.ok(stats.length <= 10, `${id} references ${stats.length} metrics`);
        return stats
          .filter((m: any) => m.Namespace === 'AWS/Lambda' && m.MetricName === metricName)
          .map((m: any) => m.Dimensions.find((d: any) => d.Name === 'FunctionName').Value.Ref);
      });
    return byAlarm.flat().sort();
  };
  const all = FUNCTIONS.map((f) => f.id).sort();
  for (const metricName of ['Errors', 'Throttles']) {
    assert.deepEqual(watched(sam, metricName), all, `SAM ${metricName}`);
    assert.deepEqual(watched(cdk, metricName), all, `CDK ${metricName}`);
  }
});
