// The CDK app: one stack, its settings from CDK context (`-c name=value`, or cdk.json), the
// AwsSolutions checks of cdk-nag on everything.

import { App, Aspects } from 'aws-cdk-lib';
import { aws_logs as logs } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

import { AgentStudioConnectStack, DEFAULT_SETTINGS, Settings } from '../lib/stack';

const app = new App();
const context = (name: string): string | undefined => {
  const value = app.node.tryGetContext(name);
  return value === undefined ? undefined : String(value);
};
const number = (name: string, fallback: number): number => {
  const value = context(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`context ${name} must be a whole number, not ${value}`);
  return n;
};
const flag = (name: string, fallback: boolean): boolean => {
  const value = context(name);
  return value === undefined ? fallback : value === 'true';
};
const architecture = context('architecture') ?? DEFAULT_SETTINGS.architecture;
if (architecture !== 'arm64' && architecture !== 'x86_64') {
  throw new Error(`context architecture must be arm64 or x86_64, not ${architecture}`);
}
const settings: Settings = {
  artifacts: context('artifacts') ?? DEFAULT_SETTINGS.artifacts,
  allowMissingArtifacts: flag('allowMissingArtifacts', false),
  architecture,
  stageName: context('stageName') ?? DEFAULT_SETTINGS.stageName,
  logRetentionDays: number('logRetentionDays', DEFAULT_SETTINGS.logRetentionDays) as logs.RetentionDays,
  apiRateLimit: number('apiRateLimit', DEFAULT_SETTINGS.apiRateLimit),
  apiBurstLimit: number('apiBurstLimit', DEFAULT_SETTINGS.apiBurstLimit),
  apiFunctionConcurrency: number('apiFunctionConcurrency', DEFAULT_SETTINGS.apiFunctionConcurrency),
  workerConcurrency: number('workerConcurrency', DEFAULT_SETTINGS.workerConcurrency),
  reserveBackgroundConcurrency: flag('reserveBackgroundConcurrency', DEFAULT_SETTINGS.reserveBackgroundConcurrency),
  healthCheckIntervalSeconds: number('healthCheckIntervalSeconds', DEFAULT_SETTINGS.healthCheckIntervalSeconds),
  publicBaseUrl: context('publicBaseUrl') ?? '',
  clientRedirectUris: context('clientRedirectUris') ?? '',
  mcpAuthIssuer: context('mcpAuthIssuer') ?? '',
  mcpAuthTenantClaim: context('mcpAuthTenantClaim') ?? DEFAULT_SETTINGS.mcpAuthTenantClaim,
  mcpAuthUserClaim: context('mcpAuthUserClaim') ?? DEFAULT_SETTINGS.mcpAuthUserClaim,
  mcpAuthRoleClaim: context('mcpAuthRoleClaim') ?? DEFAULT_SETTINGS.mcpAuthRoleClaim,
  mcpAuthScopes: context('mcpAuthScopes') ?? '',
  mcpSessionStreams: flag('mcpSessionStreams', DEFAULT_SETTINGS.mcpSessionStreams),
  alarmEmail: context('alarmEmail') ?? '',
  apiGatewayLogsRole: flag('apiGatewayLogsRole', true),
  keepLegacyIndex: flag('keepLegacyIndex', false),
  tracing: flag('tracing', true),
  otelCollectorLayerArn: context('otelCollectorLayerArn') ?? '',
};
const stack = new AgentStudioConnectStack(app, context('stackName') ?? 'agent-studio-connect', settings);
Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
