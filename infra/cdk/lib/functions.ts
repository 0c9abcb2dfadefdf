// The functions of the stack, as data: one entry per Lambda, with its routes or schedule, its
// environment and its IAM statements — the same as template.yaml says (test/consistency.test.ts
// compares the two).

/** Where an environment value comes from. */
export type EnvValue =
  | { literal: string }
  | { table: true }
  | { keyArn: true }
  | { eventBus: true }
  | { jobsQueue: true }
  | { setting: SettingName };

/** The stack settings an environment value may come from. */
export type SettingName =
  | 'publicBaseUrl'
  | 'clientRedirectUris'
  | 'healthCheckIntervalSeconds'
  | 'mcpAuthIssuer'
  | 'mcpAuthTenantClaim'
  | 'mcpAuthUserClaim'
  | 'mcpAuthRoleClaim'
  | 'mcpAuthScopes'
  | 'mcpSessionStreams';

/** What an IAM statement applies to. */
export type Target =
  | 'table'
  | 'index'
  | 'key'
  | 'taggedSecrets'
  | 'eventBus'
  | 'jobsQueue'
  /** Every KMS key of the account and region (narrowed by the statement's tag condition). */
  | 'signingKeys'
  /** `*`: calls that name no resource (kms:CreateKey), narrowed by the request's tags. */
  | 'anyResource';

/** One IAM statement of a function's role. */
export interface Statement {
  sid: string;
  actions: string[];
  target: Target;
  /**
   * KMS calls must carry the encryption context keys; secrets must carry the tenant tag key;
   * a key must be tagged for client assertions; a new key must be tagged so, with no other tags
   * than its purpose and tenant.
   */
  condition?: 'encryptionContext' | 'tenantTag' | 'assertionKey' | 'newAssertionKey';
}

/** One API route. */
export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  /**
   * Served without the authorizer: a public document, or a route whose function authenticates
   * its requests itself (the agents' MCP endpoints).
   */
  public?: boolean;
}

/** One function. */
export interface FunctionSpec {
  /** Logical id, as in template.yaml. */
  id: string;
  /** The binary (crate under functions/), whose artifact is target/lambda/<binary>/bootstrap.zip. */
  binary: string;
  description: string;
  timeoutSeconds: number;
  /** Memory in MB (256 unless given). */
  memoryMb?: number;
  /**
   * Which reserved concurrency applies: `api` (apiFunctionConcurrency), `planner` (1) or
   * `worker` (workerConcurrency, also the queue's maximum concurrency); the last two only when
   * reserveBackgroundConcurrency is on.
   */
  concurrency: 'api' | 'planner' | 'worker';
  environment: Record<string, EnvValue>;
  /** Its IAM statements; none for a function that calls no AWS service (logs and X-Ray aside). */
  statements: Statement[];
  routes: Route[];
  /**
   * Its routes' integrations stream (response transfer mode STREAM, InvokeWithResponseStream):
   * the function answers in Lambda's response streaming mode.
   */
  streaming?: boolean;
  /** An EventBridge Scheduler expression, for the scheduled functions. */
  schedule?: { expression: string; description: string };
  /** The jobs queue as event source: messages per batch, and how long to wait to fill one. */
  jobs?: { batchSize: number; maxBatchingWindowSeconds: number };
}

const base: Record<string, EnvValue> = {
  STORE_BACKEND: { literal: 'dynamodb' },
  TABLE_NAME: { table: true },
  KEY_BACKEND: { literal: 'kms' },
  KMS_KEY_ID: { keyArn: true },
  RUST_LOG: { literal: 'info' },
};
const httpsOnly: Record<string, EnvValue> = { ALLOW_INSECURE_HTTP: { literal: 'false' } };
const bus: Record<string, EnvValue> = { EVENT_BUS_NAME: { eventBus: true } };
const clientIdentity: Record<string, EnvValue> = {
  PUBLIC_BASE_URL: { setting: 'publicBaseUrl' },
  CLIENT_REDIRECT_URIS: { setting: 'clientRedirectUris' },
};

/** The external authorization server of the agents' MCP endpoints (optional). */
const mcpSignIn: Record<string, EnvValue> = {
  PUBLIC_BASE_URL: { setting: 'publicBaseUrl' },
  MCP_AUTH_ISSUER: { setting: 'mcpAuthIssuer' },
  MCP_AUTH_TENANT_CLAIM: { setting: 'mcpAuthTenantClaim' },
  MCP_AUTH_USER_CLAIM: { setting: 'mcpAuthUserClaim' },
  MCP_AUTH_ROLE_CLAIM: { setting: 'mcpAuthRoleClaim' },
  MCP_AUTH_SCOPES: { setting: 'mcpAuthScopes' },
  MCP_SESSION_STREAMS: { setting: 'mcpSessionStreams' },
};

const envelope: Statement = {
  sid: 'EnvelopeEncryption',
  actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
  target: 'key',
  condition: 'encryptionContext',
};
const records: Statement = {
  sid: 'Records',
  actions: [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:Query',
    'dynamodb:ConditionCheckItem',
  ],
  target: 'table',
};
const secrets: Statement = {
  sid: 'TenantTaggedSecrets',
  actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
  target: 'taggedSecrets',
  condition: 'tenantTag',
};
const publish: Statement = { sid: 'PublishEvents', actions: ['events:PutEvents'], target: 'eventBus' };
/** Client assertions (private_key_jwt) signed with the keys this service created for them. */
const signAssertions: Statement = {
  sid: 'SignClientAssertions',
  actions: ['kms:Sign'],
  target: 'signingKeys',
  condition: 'assertionKey',
};
/** One signing key per private_key_jwt auth config: created, read, retired (auth configs only). */
const signingKeys: Statement[] = [
  { sid: 'CreateSigningKeys', actions: ['kms:CreateKey', 'kms:TagResource'], target: 'anyResource', condition: 'newAssertionKey' },
  {
    sid: 'ManageSigningKeys',
    actions: ['kms:GetPublicKey', 'kms:ScheduleKeyDeletion'],
    target: 'signingKeys',
    condition: 'assertionKey',
  },
];
const workerRecords: Statement = {
  sid: 'Records',
  actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
  target: 'table',
};
/**
 * What a function that calls agents' tools needs (agent tools, the MCP endpoint): stored
 * credentials opened, records read and written (tokens, a live listing's test result), referenced
 * secrets, events.
 */
const toolCalls: Statement[] = [envelope, signAssertions, workerRecords, secrets, publish];

/** The resource routes of a collection: create, list, read, change, delete. */
function crud(path: string): Route[] {
  return [
    { method: 'POST', path },
    { method: 'GET', path },
    { method: 'GET', path: `${path}/{id}` },
    { method: 'PATCH', path: `${path}/{id}` },
    { method: 'DELETE', path: `${path}/{id}` },
  ];
}

export const FUNCTIONS: FunctionSpec[] = [
  {
    id: 'AuthorizerFunction',
    binary: 'authorizer',
    description: 'REQUEST authorizer — sessionid cookie or API token to {tenant_id, user_id}.',
    timeoutSeconds: 10,
    concurrency: 'api',
    environment: { STORE_BACKEND: base.STORE_BACKEND, TABLE_NAME: base.TABLE_NAME, RUST_LOG: base.RUST_LOG },
    statements: [{ sid: 'ReadSessions', actions: ['dynamodb:GetItem'], target: 'table' }],
    routes: [],
  },
  {
    id: 'AuthConfigsFunction',
    binary: 'auth-configs',
    description: 'Auth config CRUD (/ai/api/v1/auth_configs).',
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...bus, ...clientIdentity },
    statements: [envelope, signAssertions, ...signingKeys, records, secrets, publish],
    routes: crud('/ai/api/v1/auth_configs'),
  },
  {
    id: 'McpServersFunction',
    binary: 'mcp-servers',
    description: 'MCP server configs with connection tests (/ai/api/v1/config/mcp-server).',
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...bus, ...httpsOnly },
    statements: [envelope, signAssertions, records, secrets, publish],
    routes: [
      ...crud('/ai/api/v1/config/mcp-server'),
      { method: 'POST', path: '/ai/api/v1/config/mcp-server/{id}/test' },
      { method: 'POST', path: '/ai/api/v1/config/mcp-server/{id}/tools/approve' },
      { method: 'GET', path: '/ai/api/v1/config/mcp-server/{id}/health' },
    ],
  },
  {
    id: 'OAuthFunction',
    binary: 'oauth',
    description:
      'OAuth authorization-code flow (/ai/api/v1/oauth/{id}/authorize, /ai/api/v1/oauth/callback, /ai/api/v1/oauth/{id}/callback), the public client metadata document and the public JWKS of held signing keys.',
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...bus, ...httpsOnly, ...clientIdentity },
    statements: [envelope, signAssertions, records, secrets, publish],
    routes: [
      { method: 'POST', path: '/ai/api/v1/oauth/{auth_config_id}/authorize' },
      { method: 'GET', path: '/ai/api/v1/oauth/callback' },
      { method: 'GET', path: '/ai/api/v1/oauth/{auth_config_id}/callback' },
      { method: 'GET', path: '/ai/api/v1/oauth/connections' },
      { method: 'DELETE', path: '/ai/api/v1/oauth/connections/{auth_config_id}' },
      { method: 'GET', path: '/ai/api/v1/oauth/client-metadata.json', public: true },
      { method: 'GET', path: '/ai/api/v1/oauth/jwks/{kid}', public: true },
    ],
  },
  {
    id: 'AuditFunction',
    binary: 'audit',
    description: "The tenant's audit log, newest first (/ai/api/v1/audit), and who the caller is (/ai/api/v1/me). Every API function writes the log.",
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...httpsOnly },
    // Reads the audit partitions; writes the audit entries of the requests it serves.
    statements: [{ sid: 'Records', actions: ['dynamodb:Query', 'dynamodb:PutItem'], target: 'table' }],
    routes: [
      { method: 'GET', path: '/ai/api/v1/audit' },
      { method: 'GET', path: '/ai/api/v1/me' },
    ],
  },
  {
    id: 'WebhooksFunction',
    binary: 'webhooks',
    description: "Webhooks that receive the tenant's events, signed (/ai/api/v1/config/webhook).",
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...httpsOnly },
    statements: [
      { sid: 'SealSigningSecrets', actions: ['kms:GenerateDataKey'], target: 'key', condition: 'encryptionContext' },
      records,
    ],
    routes: crud('/ai/api/v1/config/webhook'),
  },
  {
    id: 'AgentsFunction',
    binary: 'agents',
    description: 'LLM configs, agents with counted references, tool-call policies (/ai/api/v1/config/llm, /config/agent, /config/policy).',
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...bus, ...httpsOnly },
    statements: [envelope, signAssertions, records, secrets, publish],
    routes: [
      ...crud('/ai/api/v1/config/llm'),
      ...crud('/ai/api/v1/config/agent'),
      ...crud('/ai/api/v1/config/policy'),
      { method: 'GET', path: '/ai/api/v1/config/policy/schema' },
    ],
  },
  {
    id: 'AgentToolsFunction',
    binary: 'agent-tools',
    description: "An agent's tool catalogue, tool calls and their approvals (/ai/api/v1/agent/{id}/tools, /tools/call, /approvals).",
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...bus, ...httpsOnly },
    statements: toolCalls,
    routes: [
      { method: 'GET', path: '/ai/api/v1/agent/{id}/tools' },
      { method: 'POST', path: '/ai/api/v1/agent/{id}/tools/call' },
      { method: 'GET', path: '/ai/api/v1/approvals' },
      { method: 'GET', path: '/ai/api/v1/approvals/{id}' },
      { method: 'POST', path: '/ai/api/v1/approvals/{id}/approve' },
      { method: 'POST', path: '/ai/api/v1/approvals/{id}/deny' },
    ],
  },
  {
    id: 'McpGatewayFunction',
    binary: 'mcp-gateway',
    description: 'Every agent as an MCP server (/ai/api/v1/mcp/agents/{agent_id}, Streamable HTTP).',
    timeoutSeconds: 29,
    concurrency: 'api',
    environment: { ...base, ...bus, ...httpsOnly, ...mcpSignIn },
    statements: toolCalls,
    streaming: true,
    // Without the authorizer: the function authenticates these itself (API tokens, sessions and
    // the external authorization server's JWTs) and answers with the RFC 9728 challenge.
    routes: [
      { method: 'POST', path: '/ai/api/v1/mcp/agents/{agent_id}', public: true },
      { method: 'DELETE', path: '/ai/api/v1/mcp/agents/{agent_id}', public: true },
      { method: 'GET', path: '/ai/api/v1/mcp/agents/{agent_id}', public: true },
      { method: 'GET', path: '/.well-known/oauth-protected-resource/ai/api/v1/mcp/agents/{agent_id}', public: true },
    ],
  },
  {
    id: 'ConsoleFunction',
    binary: 'console',
    description:
      'The web console and hosted OAuth connect/callback pages (/console), static assets embedded in the binary, and the API\'s OpenAPI document; every data call goes through the API.',
    timeoutSeconds: 10,
    memoryMb: 128,
    concurrency: 'api',
    // Reads no table, key, secret or bus: logging only, and no IAM statement of its own.
    environment: { RUST_LOG: base.RUST_LOG },
    statements: [],
    // Behind the session authorizer like the API routes; `{proxy+}` is every asset path below.
    routes: [
      { method: 'GET', path: '/console' },
      { method: 'GET', path: '/console/{proxy+}' },
      { method: 'GET', path: '/ai/api/v1/openapi.json', public: true },
    ],
  },
  {
    id: 'PlannerFunction',
    binary: 'planner',
    description:
      'Sends one job per due entry (refreshes, health checks, webhook retries, sweeps) to the jobs queue, every minute.',
    timeoutSeconds: 60,
    concurrency: 'planner',
    environment: {
      ...base,
      JOBS_QUEUE_URL: { jobsQueue: true },
      PLAN_MAX_RUN_SECONDS: { literal: '45' },
      REFRESH_LOOKAHEAD_SECONDS: { literal: '120' },
      HEALTH_CHECK_INTERVAL_SECONDS: { setting: 'healthCheckIntervalSeconds' },
    },
    statements: [
      { sid: 'PlanIndex', actions: ['dynamodb:Query'], target: 'index' },
      { sid: 'MoveEntries', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], target: 'table' },
      { sid: 'SendJobs', actions: ['sqs:SendMessage'], target: 'jobsQueue' },
    ],
    routes: [],
    schedule: { expression: 'rate(1 minute)', description: 'Planner run.' },
  },
  {
    id: 'WorkerFunction',
    binary: 'worker',
    description:
      'Runs the jobs of the jobs queue (refreshes, health checks, webhook retries, sweeps), ten at a time.',
    timeoutSeconds: 120,
    concurrency: 'worker',
    environment: {
      ...base,
      ...bus,
      ...httpsOnly,
      HEALTH_CHECK_INTERVAL_SECONDS: { setting: 'healthCheckIntervalSeconds' },
    },
    statements: [envelope, signAssertions, workerRecords, secrets, publish],
    routes: [],
    jobs: { batchSize: 10, maxBatchingWindowSeconds: 1 },
  },
];
