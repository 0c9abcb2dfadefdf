// What the tests share: the stack synthesized once (with placeholder code: the tests check the
// infrastructure, not the artifacts), and template.yaml read with its CloudFormation tags.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { App, Aspects } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as YAML from 'yaml';

import { AgentStudioConnectStack, DEFAULT_SETTINGS, Settings } from '../lib/stack';

export const REPO_ROOT = path.join(__dirname, '..', '..', '..', '..');

/** A stack of `settings` (artifacts from an empty directory unless given) with the checks on. */
export function synth(overrides: Partial<Settings> = {}): { stack: AgentStudioConnectStack; template: Template } {
  const app = new App();
  const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'no-artifacts-'));
  const stack = new AgentStudioConnectStack(app, 'agent-studio-connect', {
    ...DEFAULT_SETTINGS,
    artifacts,
    allowMissingArtifacts: true,
    ...overrides,
  });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  return { stack, template: Template.fromStack(stack) };
}

/** A CloudFormation short-form tag (`!Ref x`) as its long form (`{Ref: x}`). */
const tags: YAML.Tags = ['Ref', 'Sub', 'GetAtt', 'If', 'Not', 'Equals', 'Join', 'Select', 'Split'].flatMap(
  (name): YAML.Tags => {
    const key = name === 'Ref' ? 'Ref' : `Fn::${name}`;
    return [
      { tag: `!${name}`, resolve: (value: string) => ({ [key]: value }) },
      { tag: `!${name}`, collection: 'seq', resolve: (value) => ({ [key]: value.toJSON() }) },
      { tag: `!${name}`, collection: 'map', resolve: (value) => ({ [key]: value.toJSON() }) },
    ];
  },
);

/** template.yaml as JSON. */
export function samTemplate(): { Resources: Record<string, { Type: string; Properties: any }> } {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'template.yaml'), 'utf8');
  return YAML.parse(text, { customTags: tags });
}
