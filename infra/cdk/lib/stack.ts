// The Agent Studio Connect stack as CDK constructs: the same resources as template.yaml — REST API
// with the REQUEST authorizer and problem+json gateway answers, one arm64 function per endpoint
// group plus the background ones (the planner on a schedule, the worker on the jobs queue), the
// table (GSI, TTL, point-in-time recovery), the KMS key with rotation, the event bus, the jobs
// queue and its dead-letter queue, least-privilege policies, log groups with retention, JSON
// access logs and the alarms.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  StackProps,
  aws_apigateway as apigw,
  aws_cloudwatch as cw,
  aws_cloudwatch_actions as cwActions,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_lambda_event_sources as sources,
  aws_logs as logs,
  aws_scheduler as scheduler,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
  aws_sqs as sqs,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

import { EnvValue, FUNCTIONS, FunctionSpec, SettingName, Statement } from './functions';

/** Deployment settings (CDK context values of the same names, with these defaults). */
export interface Settings {
  /** Where package.sh put the artifacts (`<dir>/<binary>/bootstrap.zip`). */
  artifacts: string;
  /** Synthesize with placeholder code where an artifact is missing (checks only, never deploy). */
  allowMissingArtifacts: boolean;
  architecture: 'arm64' | 'x86_64';
  stageName: string;
  logRetentionDays: logs.RetentionDays;
  apiRateLimit: number;
  apiBurstLimit: number;
  apiFunctionConcurrency: number;
  /** Most worker instances at once (the queue's maximum concurrency). */
  workerConcurrency: number;
  /** Reserve 1 for the planner and workerConcurrency for the worker. */
  reserveBackgroundConcurrency: boolean;
  healthCheckIntervalSeconds: number;
  publicBaseUrl: string;
  clientRedirectUris: string;
  /** The external authorization server of the agents' MCP endpoints ('' for none); needs publicBaseUrl. */
  mcpAuthIssuer: string;
  mcpAuthTenantClaim: string;
  mcpAuthUserClaim: string;
  mcpAuthRoleClaim: string;
  /** Space-separated scopes every MCP access token must carry. */
  mcpAuthScopes: string;
  /**
   * MCP sessions' standalone streams of tool changes: each open one holds an execution of the
   * MCP function, out of apiFunctionConcurrency.
   */
  mcpSessionStreams: boolean;
  alarmEmail: string;
  /** Keep earlier versions' GSI1 beside the Due index: the first of two deploys that upgrade such a stack. */
  keepLegacyIndex: boolean;
  /** Set up API Gateway's account-wide CloudWatch Logs role (false when the account has one). */
  apiGatewayLogsRole: boolean;
  tracing: boolean;
  /**
   * An OpenTelemetry collector Lambda layer (the ADOT collector layer), run by every function,
   * which then exports its traces and metrics to it over OTLP; empty: no export.
   */
  otelCollectorLayerArn: string;
}

export const DEFAULT_SETTINGS: Settings = {
  artifacts: path.join(__dirname, '..', '..', '..', '..', 'target', 'lambda'),
  allowMissingArtifacts: false,
  architecture: 'arm64',
  stageName: 'prod',
  logRetentionDays: logs.RetentionDays.ONE_MONTH,
  apiRateLimit: 200,
  apiBurstLimit: 400,
  apiFunctionConcurrency: 50,
  workerConcurrency: 20,
  reserveBackgroundConcurrency: true,
  healthCheckIntervalSeconds: 900,
  publicBaseUrl: '',
  clientRedirectUris: '',
  mcpAuthIssuer: '',
  mcpAuthTenantClaim: 'tenant_id',
  mcpAuthUserClaim: 'sub',
  mcpAuthRoleClaim: 'role',
  mcpAuthScopes: '',
  mcpSessionStreams: false,
  alarmEmail: '',
  apiGatewayLogsRole: true,
  keepLegacyIndex: false,
  tracing: true,
  otelCollectorLayerArn: '',
};

const PROBLEM = 'application/problem+json';

/** API Gateway's own answers, in the RFC 9457 shape of the functions' errors (as template.yaml). */
const GATEWAY_RESPONSES: Array<[apigw.ResponseType, string, string, Record<string, string>?]> = [
  [
    apigw.ResponseType.UNAUTHORIZED,
    '401',
    '{"type":"urn:agent-studio:problem:unauthenticated","title":"Unauthenticated","status":401,"detail":"A valid sessionid cookie or API token is required."}',
    { 'WWW-Authenticate': `'Bearer realm="agent-studio-connect"'` },
  ],
  [
    apigw.ResponseType.ACCESS_DENIED,
    '403',
    '{"type":"urn:agent-studio:problem:forbidden","title":"Forbidden","status":403,"detail":"The credential does not grant access to this resource."}',
  ],
  [
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    '404',
    '{"type":"urn:agent-studio:problem:not-found","title":"Not found","status":404,"detail":"No such resource."}',
  ],
  [
    apigw.ResponseType.THROTTLED,
    '429',
    '{"type":"urn:agent-studio:problem:too-many-requests","title":"Too many requests","status":429,"detail":"The API is receiving more requests than it serves. Retry later; nothing was done."}',
    { 'Retry-After': "'1'" },
  ],
  [
    apigw.ResponseType.AUTHORIZER_FAILURE,
    '503',
    '{"type":"urn:agent-studio:problem:unavailable","title":"Service unavailable","status":503,"detail":"A dependency is temporarily unavailable; nothing was changed. Retry later."}',
  ],
];

/** One JSON line per request: who, what, how it ended, how long (never a header or body). */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  time: '$context.requestTime',
  method: '$context.httpMethod',
  resource: '$context.resourcePath',
  status: '$context.status',
  latencyMs: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatencyMs: '$context.integrationLatency',
  authorizerError: '$context.authorizer.error',
  tenant: '$context.authorizer.tenant_id',
  user: '$context.authorizer.user_id',
  role: '$context.authorizer.role',
  responseLength: '$context.responseLength',
});

export class AgentStudioConnectStack extends Stack {
  /** The functions, by logical id. */
  readonly functions: Record<string, lambda.Function> = {};
  /** The jobs queue the planner sends to and the worker reads. */
  readonly jobs: sqs.Queue;
  /** Jobs that failed five times. */
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, settings: Settings, props?: StackProps) {
    super(scope, id, props);

    const table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Expired OAuth states, sessions, audit entries and deliveries are deleted eventually;
      // expiry is always checked on read too.
      timeToLiveAttribute: 'expires_at',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The index of due work: refreshes (REFRESH#, USERQ#), sweeps (SWEEP), checks (CHECK#) and
    // deliveries (DELIVER#). Keys and the expiry only: what the planner reads.
    table.addGlobalSecondaryIndex({
      indexName: 'Due',
      partitionKey: { name: 'GSI1PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'GSI1SK', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: ['expires_at'],
    });
    if (settings.keepLegacyIndex) {
      // Earlier versions' index, kept only while such a stack is upgraded (two deploys: DynamoDB
      // adds or removes one index per table update).
      table.addGlobalSecondaryIndex({
        indexName: 'GSI1',
        partitionKey: { name: 'GSI1PK', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'GSI1SK', type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    override(table, 'Table');

    // Retained: removing it would make every stored secret undecryptable.
    const key = new kms.Key(this, 'Key', {
      description: `Agent Studio Connect (${this.stackName}) envelope-encryption key for stored secrets`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    override(key, 'Key');
    key.addAlias(`alias/agent-studio-connect-${this.stackName}`);

    const bus = new events.EventBus(this, 'EventBus', {
      eventBusName: `agent-studio-connect-${this.stackName}`,
    });
    override(bus, 'EventBus');

    // The jobs queue: a standard queue used as a fair queue (each message's MessageGroupId is its
    // job's group), a job that failed five times to the dead-letter queue, TLS only.
    const deadLetters = new sqs.Queue(this, 'JobsDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });
    override(deadLetters, 'JobsDeadLetterQueue');
    const jobs = new sqs.Queue(this, 'JobsQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      // Six times the worker's timeout, as AWS advises for a Lambda event source.
      visibilityTimeout: Duration.seconds(720),
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    });
    override(jobs, 'JobsQueue');
    new sqs.CfnQueuePolicy(this, 'JobsQueuePolicy', {
      queues: [jobs.queueUrl, deadLetters.queueUrl],
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'TlsOnly',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*',
            Resource: [jobs.queueArn, deadLetters.queueArn],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    });
    this.jobs = jobs;
    this.deadLetters = deadLetters;

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogGroup', {
      logGroupName: `/aws/apigateway/agent-studio-connect-${this.stackName}/access`,
      retention: settings.logRetentionDays,
    });

    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `agent-studio-connect-${this.stackName}`,
      cloudWatchRole: settings.apiGatewayLogsRole,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: settings.stageName,
        tracingEnabled: settings.tracing,
        throttlingRateLimit: settings.apiRateLimit,
        throttlingBurstLimit: settings.apiBurstLimit,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });
    for (const [type, statusCode, body, headers] of GATEWAY_RESPONSES) {
      api.addGatewayResponse(`${type.responseType}Response`, {
        type,
        statusCode,
        responseHeaders: { 'Content-Type': `'${PROBLEM}'`, ...(headers ?? {}) },
        templates: { 'application/json': body },
      });
    }

    const placeholder = settings.allowMissingArtifacts ? placeholderCode() : undefined;
    const architecture = settings.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    if (settings.mcpAuthIssuer && !settings.publicBaseUrl) {
      throw new Error('mcpAuthIssuer needs publicBaseUrl, the URL access tokens are bound to');
    }
    const setting = (name: SettingName) => String(settings[name]);
    const envValue = (value: EnvValue): string => {
      if ('literal' in value) return value.literal;
      if ('table' in value) return table.tableName;
      if ('keyArn' in value) return key.keyArn;
      if ('eventBus' in value) return bus.eventBusName;
      if ('jobsQueue' in value) return jobs.queueUrl;
      return setting(value.setting);
    };

    const collectorLayer = settings.otelCollectorLayerArn
      ? lambda.LayerVersion.fromLayerVersionArn(this, 'OtelCollectorLayer', settings.otelCollectorLayerArn)
      : undefined;
    for (const spec of FUNCTIONS) {
      const artifact = path.join(settings.artifacts, spec.binary, 'bootstrap.zip');
      let code: lambda.Code;
      if (fs.existsSync(artifact)) {
        code = lambda.Code.fromAsset(artifact);
      } else if (placeholder) {
        code = placeholder;
      } else {
        throw new Error(`${artifact} is missing: build the artifacts with infra/scripts/package.sh first`);
      }
      const logGroup = new logs.LogGroup(this, `${spec.id}LogGroup`, { retention: settings.logRetentionDays });
      const reserved = {
        api: settings.apiFunctionConcurrency,
        planner: settings.reserveBackgroundConcurrency ? 1 : 0,
        worker: settings.reserveBackgroundConcurrency ? settings.workerConcurrency : 0,
      }[spec.concurrency];
      const fn = new lambda.Function(this, spec.id, {
        description: spec.description,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture,
        handler: 'bootstrap',
        code,
        memorySize: spec.memoryMb ?? 256,
        timeout: Duration.seconds(spec.timeoutSeconds),
        tracing: settings.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.PASS_THROUGH,
        reservedConcurrentExecutions: reserved > 0 ? reserved : undefined,
        environment: {
          ...Object.fromEntries(Object.entries(spec.environment).map(([k, v]) => [k, envValue(v)])),
          // Where the collector layer listens; empty turns export off.
          OTEL_EXPORTER_OTLP_ENDPOINT: collectorLayer ? 'http://localhost:4318' : '',
        },
        layers: collectorLayer ? [collectorLayer] : undefined,
        logGroup,
      });
      override(fn, spec.id);
      for (const statement of spec.statements) {
        fn.addToRolePolicy(this.statement(statement, table, key, bus));
      }
      if (spec.jobs) {
        // Only the messages whose job failed are delivered again.
        fn.addEventSource(
          new sources.SqsEventSource(jobs, {
            batchSize: spec.jobs.batchSize,
            maxBatchingWindow: Duration.seconds(spec.jobs.maxBatchingWindowSeconds),
            reportBatchItemFailures: true,
            maxConcurrency: settings.workerConcurrency,
          }),
        );
      }
      this.functions[spec.id] = fn;
    }

    // The REQUEST authorizer, without identity sources on purpose: a request carries EITHER the
    // `sessionid` cookie OR an `Authorization: Bearer` token, and API Gateway answers 401 without
    // calling the authorizer when a declared identity source is missing. That is allowed only
    // with result caching off (TTL 0) — an L1 resource, as the L2 construct requires a source.
    const authorizerFn = this.functions.AuthorizerFunction;
    const cfnAuthorizer = new apigw.CfnAuthorizer(this, 'SessionAuthorizer', {
      restApiId: api.restApiId,
      name: 'SessionAuthorizer',
      type: 'REQUEST',
      authorizerUri: `arn:${this.partition}:apigateway:${this.region}:lambda:path/2015-03-31/functions/${authorizerFn.functionArn}/invocations`,
      authorizerResultTtlInSeconds: 0,
    });
    authorizerFn.addPermission('ApiGatewayInvokesAuthorizer', {
      principal: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      sourceArn: `arn:${this.partition}:execute-api:${this.region}:${this.account}:${api.restApiId}/authorizers/${cfnAuthorizer.ref}`,
    });
    const authorizer: apigw.IAuthorizer = {
      authorizerId: cfnAuthorizer.ref,
      authorizationType: apigw.AuthorizationType.CUSTOM,
    };

    for (const spec of FUNCTIONS) {
      const integration = new apigw.LambdaIntegration(
        this.functions[spec.id],
        spec.streaming ? { responseTransferMode: apigw.ResponseTransferMode.STREAM } : {},
      );
      for (const route of spec.routes) {
        const resource = api.root.resourceForPath(route.path);
        const method = resource.addMethod(
          route.method,
          integration,
          route.public ? { authorizationType: apigw.AuthorizationType.NONE } : { authorizer },
        );
        if (route.public) {
          NagSuppressions.addResourceSuppressions(method, [
            {
              id: 'AwsSolutions-APIG4',
              reason:
                'Public documents (the client ID metadata document, protected resource metadata) are fetched before any credential; the MCP endpoint authenticates its requests itself.',
            },
            { id: 'AwsSolutions-COG4', reason: 'No user pool is involved: API tokens, sessions and an optional external issuer.' },
          ]);
        }
      }
      if (spec.schedule) {
        this.schedule(spec, this.functions[spec.id]);
      }
    }

    this.alarms(settings, api);

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the API (append e.g. /auth_configs).',
      value: `${api.url}ai/api/v1`,
    });
    new CfnOutput(this, 'ConsoleUrl', {
      description: 'The web console (same session as the API); its OAuth callback page is <ConsoleUrl>oauth/callback.',
      value: `${api.url}console/`,
    });
    new CfnOutput(this, 'TableName', { description: 'The DynamoDB table.', value: table.tableName });
    new CfnOutput(this, 'KeyArn', {
      description: 'The KMS key that wraps the data keys of stored secrets.',
      value: key.keyArn,
    });
    new CfnOutput(this, 'EventBusName', {
      description: 'The EventBridge bus the events are put on (source agent-studio-connect).',
      value: bus.eventBusName,
    });
    new CfnOutput(this, 'JobsDeadLetterQueueUrl', {
      description:
        "Jobs that failed five times (the worker's log says why; their entries come due again by themselves).",
      value: deadLetters.queueUrl,
    });

    this.suppressions();
  }

  /** One IAM statement as the template writes it. */
  private statement(s: Statement, table: dynamodb.Table, key: kms.Key, bus: events.EventBus): iam.PolicyStatement {
    const resources: Record<Statement['target'], string> = {
      table: table.tableArn,
      index: `${table.tableArn}/index/Due`,
      key: key.keyArn,
      taggedSecrets: `arn:${this.partition}:secretsmanager:${this.region}:${this.account}:secret:*`,
      eventBus: bus.eventBusArn,
      jobsQueue: this.jobs.queueArn,
      signingKeys: `arn:${this.partition}:kms:${this.region}:${this.account}:key/*`,
      anyResource: '*',
    };
    const conditions =
      s.condition === 'encryptionContext'
        ? {
            'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant_id', 'record_id', 'purpose'] },
            Null: { 'kms:EncryptionContextKeys': 'false' },
          }
        : s.condition === 'tenantTag'
          ? { Null: { 'secretsmanager:ResourceTag/agent-studio:tenant': 'false' } }
          : s.condition === 'assertionKey'
            ? { StringEquals: { 'aws:ResourceTag/studio:purpose': 'client-assertion' } }
            : s.condition === 'newAssertionKey'
              ? {
                  StringEquals: { 'aws:RequestTag/studio:purpose': 'client-assertion' },
                  'ForAllValues:StringEquals': { 'aws:TagKeys': ['studio:purpose', 'studio:tenant'] },
                }
              : undefined;
    return new iam.PolicyStatement({ sid: s.sid, actions: s.actions, resources: [resources[s.target]], conditions });
  }

  /** An EventBridge Scheduler schedule invoking `fn`; a missed tick is not replayed. */
  private schedule(spec: FunctionSpec, fn: lambda.Function): void {
    const role = new iam.Role(this, `${spec.id}ScheduleRole`, {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
    });
    fn.grantInvoke(role);
    new scheduler.CfnSchedule(this, `${spec.id}Schedule`, {
      description: spec.schedule!.description,
      scheduleExpression: spec.schedule!.expression,
      flexibleTimeWindow: { mode: 'OFF' },
      target: { arn: fn.functionArn, roleArn: role.roleArn, retryPolicy: { maximumRetryAttempts: 0 } },
    });
  }

  /** The alarms of template.yaml, on one SNS topic. */
  private alarms(settings: Settings, api: apigw.RestApi): void {
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Agent Studio Connect alarms',
      enforceSSL: true,
    });
    override(topic, 'AlarmTopic');
    if (settings.alarmEmail) {
      topic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    }
    const action = new cwActions.SnsAction(topic);
    const emf = (metricName: string, fn: string) =>
      new cw.Metric({
        namespace: 'AgentStudioConnect',
        metricName,
        dimensionsMap: { Function: fn },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    const alarm = (id: string, props: cw.AlarmProps) => {
      const created = new cw.Alarm(this, id, props);
      created.addAlarmAction(action);
      override(created, id);
    };
    const atLeastOne = {
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    };
    alarm('ReauthorizationRequiredAlarm', {
      alarmDescription: 'OAuth grants were found revoked by a token refresh; their configs need re-authorization.',
      metric: emf('RefreshTokenReauthorizationRequired', 'worker'),
      evaluationPeriods: 1,
      ...atLeastOne,
    });
    alarm('TokenRefreshFailuresAlarm', {
      alarmDescription:
        'Token refreshes failed (refused by the token endpoint, or internal errors) in three 5-minute periods in a row.',
      metric: new cw.MathExpression({
        expression: 'failed + errors',
        label: 'Refresh failures',
        usingMetrics: { failed: emf('RefreshTokenFailed', 'worker'), errors: emf('RefreshTokenErrors', 'worker') },
        period: Duration.minutes(5),
      }),
      evaluationPeriods: 3,
      ...atLeastOne,
    });
    alarm('HealthCheckErrorsAlarm', {
      alarmDescription: 'Health checks hit internal errors (store, keys) in three 5-minute periods in a row.',
      metric: emf('CheckServerErrors', 'worker'),
      evaluationPeriods: 3,
      ...atLeastOne,
    });
    alarm('PlannerBehindAlarm', {
      alarmDescription:
        'The planner took entries more than five minutes overdue in five runs in a row; more falls due than a run takes (see PLAN_MAX_PER_SHARD, PLAN_PARTS).',
      metric: new cw.Metric({
        namespace: 'AgentStudioConnect',
        metricName: 'OldestOverdueSeconds',
        dimensionsMap: { Function: 'planner' },
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
      evaluationPeriods: 5,
      threshold: 300,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    alarm('JobsWaitingAlarm', {
      alarmDescription:
        'A job waited more than five minutes in the jobs queue for three 5-minute periods; the workers are too few (WorkerConcurrency) or too slow.',
      metric: this.jobs.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: Duration.minutes(5) }),
      evaluationPeriods: 3,
      threshold: 300,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    alarm('JobsDeadLetterAlarm', {
      alarmDescription:
        "A job failed five times and is in the dead-letter queue; the worker's log says why (its entry comes due again by itself).",
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      evaluationPeriods: 1,
      ...atLeastOne,
    });
    alarm('AuditEntriesLostAlarm', {
      alarmDescription: "An audit entry could not be written after four tries; the function's log holds what it recorded.",
      metric: new cw.Metric({
        namespace: 'AgentStudioConnect',
        metricName: 'AuditEntriesLost',
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      evaluationPeriods: 1,
      ...atLeastOne,
    });
    alarm('Api5xxRateAlarm', {
      alarmDescription: 'More than 5% of API requests answered 5xx in two of three 5-minute periods.',
      metric: api.deploymentStage.metricServerError({ statistic: 'Average', period: Duration.minutes(5) }),
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      threshold: 0.05,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    // Errors and throttles of every function. An alarm on a metric math expression can reference
    // at most 10 metrics (a hard CloudWatch limit), hence one alarm for the API functions and one
    // for the background ones.
    const groups = [
      { api: true, prefix: 'Lambda', who: 'An API function', label: 'API' },
      { api: false, prefix: 'BackgroundLambda', who: 'A background function (planner, worker)', label: 'background' },
    ] as const;
    for (const group of groups) {
      const specs = FUNCTIONS.filter((spec) => (spec.concurrency === 'api') === group.api);
      if (specs.length > 10) {
        throw new Error(`${specs.length} ${group.label} functions: a metric math alarm references at most 10 metrics`);
      }
      for (const [metric, description] of [
        ['Errors', `${group.who} failed (an unhandled error, a timeout or a crash).`],
        ['Throttles', `${group.who} was throttled (its reserved concurrency, or the account's, was exhausted).`],
      ] as const) {
        const usingMetrics: Record<string, cw.IMetric> = {};
        specs.forEach((spec, i) => {
          const fn = this.functions[spec.id];
          usingMetrics[`m${i}`] =
            metric === 'Errors'
              ? fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) })
              : fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) });
        });
        alarm(`${group.prefix}${metric}Alarm`, {
          alarmDescription: description,
          metric: new cw.MathExpression({
            expression: `SUM([${Object.keys(usingMetrics).join(', ')}])`,
            label: `${metric} of every ${group.label} function`,
            usingMetrics,
            period: Duration.minutes(5),
          }),
          evaluationPeriods: 1,
          ...atLeastOne,
        });
      }
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'The SNS topic the alarms notify (subscribe your on-call to it).',
      value: topic.topicArn,
    });
    NagSuppressions.addResourceSuppressions(topic, [
      {
        id: 'AwsSolutions-SNS2',
        reason:
          'CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns; alarm messages carry no secrets.',
      },
    ]);
  }

  /** The AwsSolutions checks this stack does not follow, each with its reason. */
  private suppressions(): void {
    NagSuppressions.addStackSuppressions(this, [
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AWSLambdaBasicExecutionRole (write own logs) and API Gateway\'s AmazonAPIGatewayPushToCloudWatchLogs are the standard, narrow managed policies for logging.',
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Wildcards only where the resource is not known in advance and a condition narrows it: tenant-tagged Secrets Manager secrets (the tag is required by condition, its value checked by the code), X-Ray segments, and the scheduler role invoking a function version.',
      },
      {
        id: 'AwsSolutions-APIG2',
        reason: 'Every function validates its input and answers a precise problem+json 400 naming the field; API Gateway request validation would answer less precisely.',
      },
      {
        id: 'AwsSolutions-APIG3',
        reason: 'A WAF web ACL is deployment-specific (managed rules, IP lists); attach one to the stage where required. Stage throttling and per-user rate limits apply regardless.',
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'Callers authenticate with a session cookie or an API token checked by the REQUEST authorizer, not a Cognito user pool.',
      },
    ]);
  }
}

/** Sets a resource's logical id to the one template.yaml gives it. */
function override(construct: Construct, logicalId: string): void {
  const child = construct.node.defaultChild as { overrideLogicalId?: (id: string) => void } | undefined;
  child?.overrideLogicalId?.(logicalId);
}

/** Code that refuses to run, for synthesizing without the artifacts (checks and tests only). */
function placeholderCode(): lambda.Code {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-studio-connect-placeholder-'));
  fs.writeFileSync(
    path.join(dir, 'bootstrap'),
    '#!/bin/sh\necho "placeholder: build the artifacts with infra/scripts/package.sh and deploy again" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  return lambda.Code.fromAsset(dir);
}
