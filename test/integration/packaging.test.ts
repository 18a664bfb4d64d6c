import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readZip } from '../support/zip.ts';

/** `serverless package` run offline, as CI and operators run it; the CloudFormation it writes is checked. */
type Resource = { Type: string; Properties: Record<string, unknown> };
let resources: Record<string, Resource>;
const out = mkdtempSync(join(tmpdir(), 'sls-package-'));

before(() => {
  const run = spawnSync(
    process.execPath,
    ['node_modules/osls/bin/serverless.js', 'package', '--stage', 'ci', '--package', out],
    { encoding: 'utf8', env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' }, timeout: 120_000 },
  );
  assert.equal(run.status, 0, `serverless package failed:\n${run.stdout}\n${run.stderr}`);
  const template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  resources = template.Resources;
});
after(() => rmSync(out, { recursive: true, force: true }));

const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);

describe('serverless package', () => {
  it('builds every function for nodejs22.x on arm64', () => {
    const functions = ofType('AWS::Lambda::Function');
    assert.ok(functions.length >= 1);
    for (const fn of functions) {
      assert.equal(fn.Properties.Runtime, 'nodejs22.x');
      assert.deepEqual(fn.Properties.Architectures, ['arm64']);
    }
  });

  it('puts every HTTP route behind an authorizer', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    assert.deepEqual(routes.map((r) => r.Properties.RouteKey).sort(), [
      'DELETE /keys/{guid}',
      'GET /keys/{guid}',
      'POST /keys',
      'POST /keys/{guid}/extend',
    ]);
    for (const route of routes) {
      assert.notEqual(
        route.Properties.AuthorizationType ?? 'NONE',
        'NONE',
        String(route.Properties.RouteKey),
      );
    }
  });

  const statements = () =>
    ofType('AWS::IAM::Role').flatMap((role) =>
      (
        role.Properties.Policies as {
          PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] };
        }[]
      ).flatMap((policy) => policy.PolicyDocument.Statement),
    );

  it('grants no secretsmanager action on every resource but ListSecrets, which IAM cannot scope', () => {
    const secrets = statements().filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('secretsmanager:')),
    );
    const listsOnly = (s: { Action: string | string[] }) =>
      [s.Action].flat().join() === 'secretsmanager:ListSecrets';
    assert.deepEqual(
      secrets.filter(listsOnly).map((s) => s.Resource),
      ['*'],
    );
    const scoped = secrets.filter((s) => !listsOnly(s));
    assert.ok(scoped.length > 0);
    for (const statement of scoped) {
      const resourcesOf = JSON.stringify(statement.Resource);
      assert.ok(!/"\*"|:secret:\*/.test(resourcesOf), `wildcard resource: ${resourcesOf}`);
      assert.match(resourcesOf, /:secret:litellm-virtual-keys\//);
    }
  });

  it('lets the functions put events on their own bus only', () => {
    const events = statements().filter((s) => [s.Action].flat().some((a) => a.startsWith('events:')));
    assert.deepEqual(
      events.map((s) => [s.Action].flat()),
      [['events:PutEvents']],
    );
    assert.match(JSON.stringify(events[0]?.Resource), /:event-bus\/default"/);
  });

  it('runs the sweep nightly at 03:00 UTC with a 15-minute budget', () => {
    const sweep = resources.SweepLambdaFunction;
    assert.equal(sweep?.Properties.Timeout, 900);
    const schedules = ofType('AWS::Events::Rule').filter((rule) => rule.Properties.ScheduleExpression);
    assert.deepEqual(
      schedules.map((rule) => rule.Properties.ScheduleExpression),
      ['cron(0 3 * * ? *)'],
    );
    const targets = schedules[0]?.Properties.Targets as { Arn: { 'Fn::GetAtt': [string, string] } }[];
    assert.equal(targets[0]?.Arn['Fn::GetAtt'][0], 'SweepLambdaFunction');
  });

  it('routes each lab lifecycle event from the lab source to its function', () => {
    const rules = ofType('AWS::Events::Rule')
      .filter((rule) => rule.Properties.EventPattern)
      .map((rule) => {
        const targets = rule.Properties.Targets as { Arn: { 'Fn::GetAtt': [string, string] } }[];
        return [rule.Properties.EventPattern, targets.map((t) => t.Arn['Fn::GetAtt'][0])];
      });
    assert.deepEqual(rules, [
      [{ source: ['rhdp.lab'], 'detail-type': ['Lab Provisioned'] }, ['ProvisionLambdaFunction']],
      [{ source: ['rhdp.lab'], 'detail-type': ['Lab Destroyed'] }, ['DestroyLambdaFunction']],
      [{ source: ['rhdp.lab'], 'detail-type': ['Lab Extended'] }, ['ExtendLambdaFunction']],
    ]);
  });

  it('bundles pg for direct database deletion into the destroy function', () => {
    const files = readZip(join(out, 'destroy.zip'));
    assert.deepEqual([...files.keys()].sort(), ['functions/destroy.mjs', 'functions/destroy.mjs.map']);
    const bundle = files.get('functions/destroy.mjs')?.toString('utf8') ?? '';
    assert.match(bundle, /LiteLLM_DeletedVerificationToken/);
    // pg's client is inside the bundle, not imported from a node_modules the zip does not have
    assert.match(bundle, /ReadyForQuery|readyForQuery/);
    assert.doesNotMatch(bundle, /from\s*"pg"|require\("pg"\)/);
  });
});
