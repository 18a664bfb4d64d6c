import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  packagingViolations,
  type Resource,
  type Resources,
  statementsByRole,
} from '../support/packaging-checks.ts';
import { readZip } from '../support/zip.ts';

/**
 * `serverless package` run offline, as CI and operators run it, with `config` (a file in the
 * service's folder, as the CLI requires); the CloudFormation it writes is returned.
 */
function packageService(config: string, out: string): Resources {
  const run = spawnSync(
    process.execPath,
    ['node_modules/osls/bin/serverless.js', 'package', '--config', config, '--stage', 'ci', '--package', out],
    { encoding: 'utf8', env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' }, timeout: 120_000 },
  );
  assert.equal(run.status, 0, `serverless package failed:\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')).Resources;
}

let resources: Resources;
const scratch = mkdtempSync(join(tmpdir(), 'sls-package-'));
const out = join(scratch, 'out');

before(() => {
  resources = packageService('serverless.yml', out);
});
after(() => rmSync(scratch, { recursive: true, force: true }));

const ofType = (type: string): Resource[] => Object.values(resources).filter((r) => r.Type === type);

describe('serverless package', () => {
  it('builds every function for nodejs22.x on arm64, minified, with source maps', () => {
    const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    assert.deepEqual(functions.map(([name]) => name).sort(), [
      'AuthorizerLambdaFunction',
      'DestroyLambdaFunction',
      'ExtendLambdaFunction',
      'ProvisionLambdaFunction',
      'StatusLambdaFunction',
      'SweepLambdaFunction',
    ]);
    for (const [, fn] of functions) {
      assert.equal(fn.Properties.Runtime, 'nodejs22.x');
      assert.deepEqual(fn.Properties.Architectures, ['arm64']);
    }
    for (const name of ['authorizer', 'provision', 'destroy', 'status', 'extend', 'sweep']) {
      const files = readZip(join(out, `${name}.zip`));
      assert.deepEqual([...files.keys()].sort(), [`functions/${name}.mjs`, `functions/${name}.mjs.map`]);
      const bundle = files.get(`functions/${name}.mjs`)?.toString('utf8') ?? '';
      const lines = bundle.split('\n').length;
      assert.ok(bundle.length / lines > 500, `${name} is minified (${lines} lines)`);
      assert.match(bundle, /\/\/# sourceMappingURL=.+\.mjs\.map/);
    }
    // On every request's path: it carries neither the LiteLLM client nor request validation.
    const authorizer = readZip(join(out, 'authorizer.zip')).get('functions/authorizer.mjs');
    assert.ok((authorizer?.length ?? 0) < 64 * 1024, `authorizer bundle is ${authorizer?.length} bytes`);
  });

  it('passes every packaging check: authorizer on each route, no secret wildcard, failure destinations, a role per function', () => {
    assert.deepEqual(packagingViolations(resources), []);
  });

  it('puts every HTTP route behind the bearer-token authorizer, decisions cached briefly', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    assert.deepEqual(routes.map((r) => r.Properties.RouteKey).sort(), [
      'DELETE /keys/{guid}',
      'GET /keys',
      'GET /keys/{guid}',
      'POST /keys',
      'POST /keys/{guid}/extend',
    ]);
    const [authorizer] = ofType('AWS::ApiGatewayV2::Authorizer');
    assert.deepEqual(
      [
        authorizer?.Properties.AuthorizerType,
        authorizer?.Properties.IdentitySource,
        authorizer?.Properties.EnableSimpleResponses,
        authorizer?.Properties.AuthorizerPayloadFormatVersion,
        authorizer?.Properties.AuthorizerResultTtlInSeconds,
      ],
      ['REQUEST', ['$request.header.Authorization'], true, '2.0', 60],
    );
  });

  it('fails the check when a route loses its authorizer', () => {
    const config = readFileSync('serverless.yml', 'utf8');
    const guarded = '          path: /keys\n          authorizer:\n            name: bearerToken\n';
    assert.ok(config.includes(guarded));
    const unguarded = `serverless.no-authorizer-${process.pid}.yml`;
    writeFileSync(unguarded, config.replace(guarded, '          path: /keys\n'));
    try {
      const violations = packagingViolations(packageService(unguarded, join(scratch, 'no-authorizer')));
      assert.deepEqual(violations, ['route POST /keys has no authorizer']);
    } finally {
      rmSync(unguarded, { force: true });
    }
  });

  it('gives each function its own role with only the actions it uses', () => {
    const actions = Object.fromEntries(
      [...statementsByRole(resources)].map(([role, statements]) => [
        role,
        [...new Set(statements.flatMap((s) => [s.Action].flat()))].sort(),
      ]),
    );
    const logs = ['logs:CreateLogStream', 'logs:PutLogEvents'];
    const read = 'secretsmanager:GetSecretValue';
    const ledger = (...names: string[]) => names.map((name) => `dynamodb:${name}`);
    assert.deepEqual(actions, {
      AuthorizerRole: [...logs, read].sort(),
      ProvisionRole: [
        'events:PutEvents',
        ...logs,
        'secretsmanager:CreateSecret',
        read,
        'secretsmanager:PutSecretValue',
        'secretsmanager:RestoreSecret',
        'secretsmanager:TagResource',
        'sqs:SendMessage',
        ...ledger('BatchWriteItem', 'GetItem', 'Query', 'UpdateItem'),
      ].sort(),
      DestroyRole: [
        'events:PutEvents',
        ...logs,
        'secretsmanager:DeleteSecret',
        read,
        'sqs:SendMessage',
        ...ledger('BatchWriteItem', 'Query', 'UpdateItem'),
      ].sort(),
      StatusRole: [...logs, read, ...ledger('Query')].sort(),
      ExtendRole: [
        'events:PutEvents',
        ...logs,
        read,
        'sqs:SendMessage',
        ...ledger('BatchWriteItem', 'GetItem', 'Query', 'UpdateItem'),
      ].sort(),
      SweepRole: [
        'events:PutEvents',
        ...logs,
        'secretsmanager:DeleteSecret',
        read,
        'secretsmanager:ListSecrets',
        'sqs:SendMessage',
        ...ledger('BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'),
      ].sort(),
    });
    const ledgerResources = (role: string) =>
      (statementsByRole(resources).get(role) ?? [])
        .filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')))
        .flatMap((s) => [s.Resource].flat().map((r) => JSON.stringify(r)));
    const table = JSON.stringify({ 'Fn::GetAtt': ['LabsTable', 'Arn'] });
    const index = (name: string) => JSON.stringify({ 'Fn::Sub': `\${LabsTable.Arn}/index/${name}` });
    for (const role of ['ProvisionRole', 'DestroyRole', 'ExtendRole']) {
      assert.deepEqual(ledgerResources(role), [table], `${role} reaches the ledger table only`);
    }
    assert.deepEqual(ledgerResources('StatusRole'), [table, index('labs-by-state')]);
    assert.deepEqual(ledgerResources('SweepRole'), [table, index('keys-by-expiry')]);
    const secretsOf = (role: string) =>
      (statementsByRole(resources).get(role) ?? [])
        .filter((s) => [s.Action].flat().some((a) => a.startsWith('secretsmanager:')))
        .map((s) =>
          JSON.stringify(s.Resource)
            .replace(/.*:secret:/, '')
            .replace(/"}$/, ''),
        );
    assert.deepEqual(secretsOf('AuthorizerRole'), ['litellm-virtual-keys/api-tokens-??????']);
    assert.deepEqual(secretsOf('StatusRole'), [
      'litellm-virtual-keys/litellm-master-key-??????',
      'litellm-virtual-keys/virtkey-*',
    ]);
    assert.deepEqual(
      (statementsByRole(resources).get('ProvisionRole') ?? [])
        .filter((s) => JSON.stringify(s.Resource).includes(':logs:'))
        .map((s) =>
          JSON.stringify(s.Resource)
            .replace(/.*:log-group:/, '')
            .replace(/"}$/, ''),
        ),
      ['/aws/lambda/litellm-virtual-keys-ci-provision:*'],
    );
  });

  it('retries lab events, then parks them in the failure queue; caps concurrency per function', () => {
    const configs = Object.fromEntries(
      ofType('AWS::Lambda::EventInvokeConfig').map((c) => [
        (c.Properties.FunctionName as { Ref: string }).Ref,
        [
          c.Properties.MaximumRetryAttempts,
          c.Properties.MaximumEventAgeInSeconds,
          JSON.stringify(c.Properties.DestinationConfig),
        ],
      ]),
    );
    const queue = JSON.stringify({
      OnFailure: { Destination: { 'Fn::GetAtt': ['LabEventFailureQueue', 'Arn'] } },
    });
    assert.deepEqual(configs, {
      ProvisionLambdaFunction: [2, 21600, queue],
      DestroyLambdaFunction: [2, 21600, queue],
      ExtendLambdaFunction: [2, 21600, queue],
      SweepLambdaFunction: [0, undefined, queue],
    });
    const concurrency = Object.fromEntries(
      Object.entries(resources)
        .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
        .map(([name, r]) => [name, r.Properties.ReservedConcurrentExecutions]),
    );
    assert.deepEqual(concurrency, {
      AuthorizerLambdaFunction: undefined,
      ProvisionLambdaFunction: 20,
      DestroyLambdaFunction: 10,
      StatusLambdaFunction: 10,
      ExtendLambdaFunction: 5,
      SweepLambdaFunction: 1,
    });
    const logGroups = ofType('AWS::Logs::LogGroup').map((g) => g.Properties.RetentionInDays);
    assert.deepEqual(logGroups, [30, 30, 30, 30, 30, 30]);
  });

  const statements = () => [...statementsByRole(resources).values()].flat();

  it('lets the functions put events on their own bus only', () => {
    const events = statements().filter((s) => [s.Action].flat().some((a) => a.startsWith('events:')));
    assert.equal(events.length, 4, 'provision, destroy, extend and sweep announce on the bus');
    for (const statement of events) {
      assert.deepEqual([statement.Action].flat(), ['events:PutEvents']);
      assert.match(JSON.stringify(statement.Resource), /:event-bus\/default"/);
    }
  });

  it('creates the lab ledger on demand, with point-in-time recovery, TTL and both indexes, and names it to every function', () => {
    const [table] = ofType('AWS::DynamoDB::Table');
    const properties = table?.Properties as Record<string, unknown>;
    assert.equal(properties.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.deepEqual(properties.TimeToLiveSpecification, { AttributeName: 'ttl', Enabled: true });
    assert.equal(properties.TableName, 'litellm-virtual-keys-ci-labs');
    assert.deepEqual(
      (properties.GlobalSecondaryIndexes as { IndexName: string }[]).map((index) => index.IndexName),
      ['labs-by-state', 'keys-by-expiry'],
    );
    assert.equal((table as unknown as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
    for (const [name, fn] of Object.entries(resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Function',
    )) {
      const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      if (name === 'AuthorizerLambdaFunction') continue;
      assert.equal(env.LABS_TABLE, 'litellm-virtual-keys-ci-labs', name);
    }
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
