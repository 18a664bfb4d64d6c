import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  deployedResources,
  packagingViolations,
  RESULT_EVENT_SOURCE,
  type Resource,
  type Resources,
  type Statement,
  statementsByRole,
} from '../support/checks/packaging.ts';
import { runServerless } from '../support/fixtures/package-service.ts';
import { readZip } from '../support/fixtures/zip.ts';

/**
 * `serverless package` run offline, as CI and operators run it, with `config` (a file in the
 * service's folder, as the CLI requires) and stage `params` (--param); the resources of the
 * CloudFormation it writes are returned as they would be deployed (conditions decided).
 */
function packageService(config: string, out: string, params: Record<string, string> = {}): Resources {
  const run = runServerless([
    'package',
    '--config',
    config,
    '--stage',
    'ci',
    '--package',
    out,
    ...Object.entries(params).flatMap(([name, value]) => ['--param', `${name}=${value}`]),
  ]);
  assert.equal(run.status, 0, `serverless package failed:\n${run.stdout}\n${run.stderr}`);
  return deployedResources(
    JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')),
  );
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
      // The AWS SDK is inside: the version the tests ran, not the runtime's.
      assert.doesNotMatch(bundle, /from\s*"@aws-sdk\//, `${name} leaves the AWS SDK to the runtime`);
      assert.match(bundle, /@aws-sdk\/client-secrets-manager/, `${name} carries the Secrets Manager client`);
    }
    // On every request's path: it carries no LiteLLM client.
    const authorizer = readZip(join(out, 'authorizer.zip')).get('functions/authorizer.mjs')?.toString('utf8');
    assert.equal(authorizer?.includes('undici'), false, 'the authorizer carries undici');
  });

  it('passes every packaging check (test/support/checks/packaging.ts)', () => {
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
      'POST /keys/{guid}/move',
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
        'secretsmanager:DeleteSecret',
        'secretsmanager:DescribeSecret',
        read,
        'secretsmanager:PutResourcePolicy',
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
      AuthorizerLambdaFunction: 20,
      ProvisionLambdaFunction: 20,
      DestroyLambdaFunction: 10,
      StatusLambdaFunction: 10,
      ExtendLambdaFunction: 5,
      SweepLambdaFunction: 1,
    });
    const logGroups = ofType('AWS::Logs::LogGroup').map((g) => g.Properties.RetentionInDays);
    // The six functions' and the HTTP API's access log.
    assert.deepEqual(logGroups, [30, 30, 30, 30, 30, 30, 30]);
  });

  const statements = () => [...statementsByRole(resources).values()].flat();

  it('lets the functions put events on their own bus only, as this service only', () => {
    const events = statements().filter((s) => [s.Action].flat().some((a) => a.startsWith('events:')));
    assert.equal(events.length, 4, 'provision, destroy, extend and sweep announce on the bus');
    for (const statement of events) {
      assert.deepEqual([statement.Action].flat(), ['events:PutEvents']);
      assert.match(JSON.stringify(statement.Resource), /:event-bus\/default"/);
      assert.deepEqual(statement.Condition, { StringEquals: { 'events:source': RESULT_EVENT_SOURCE } });
    }
  });

  const busStatements = (bus: Resource | undefined) =>
    ((bus?.Properties.Policy as { Statement: Statement[] } | undefined)?.Statement ?? []).map((s) => ({
      ...s,
      Resource: undefined,
    }));
  const labRules = (from: Resources) =>
    Object.entries(from).filter(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern);
  const eventPermissions = (from: Resources) =>
    Object.entries(from).filter(
      ([name, r]) => r.Type === 'AWS::Lambda::Permission' && /EventBridge/.test(name),
    );

  it('takes lab events on a bus of its own that, by default, no one may put events on', () => {
    const buses = ofType('AWS::Events::EventBus');
    assert.equal(buses.length, 1);
    assert.equal(resources.LabEventBus?.Properties.Name, 'litellm-virtual-keys-ci-lab-events');
    assert.deepEqual(busStatements(resources.LabEventBus), [
      {
        Sid: 'NoOneElsePutsEvents',
        Effect: 'Deny',
        Principal: '*',
        Action: 'events:PutEvents',
        Resource: undefined,
      },
    ]);
    assert.equal(labRules(resources).length, 3);
    for (const [name, rule] of labRules(resources)) {
      assert.deepEqual(rule.Properties.EventBusName, { Ref: 'LabEventBus' }, name);
    }
    assert.equal(eventPermissions(resources).length, 3);
    for (const [name, permission] of eventPermissions(resources)) {
      assert.match(
        JSON.stringify(permission.Properties.SourceArn),
        /\["rule",\{"Ref":"LabEventBus"\},"litellm-virtual-keys-ci-/,
        name,
      );
    }
    // Dead letters come from rules on the lab-event bus, whichever it is.
    assert.match(
      JSON.stringify(resources.LabEventFailureQueuePolicy?.Properties.PolicyDocument),
      /:rule\/\*\/litellm-virtual-keys-ci-\*"/,
    );
    // Nobody else may plant a message that a replay would run as a lab event: the Deny spares
    // exactly the roles allowed to send (Lambda's destinations) and AWS services (aws:SourceArn).
    const policy = resources.LabEventFailureQueuePolicy?.Properties.PolicyDocument as
      | { Statement: Statement[] }
      | undefined;
    const deny = policy?.Statement.find((statement) => statement.Effect === 'Deny');
    assert.deepEqual(deny?.Condition?.Null, { 'aws:SourceArn': 'true' });
    const spared = JSON.stringify(deny?.Condition?.ArnNotEquals).match(/role\/[a-z0-9-]+/g);
    const senders = [...statementsByRole(resources)]
      .filter(([, all]) => all.some((statement) => [statement.Action].flat().includes('sqs:SendMessage')))
      .map(([role]) => `role/${resources[role]?.Properties.RoleName}`);
    assert.deepEqual(spared?.sort(), senders.sort());
  });

  it('throttles the HTTP API and logs each request as JSON of $context values, no header among them', () => {
    const [stage] = ofType('AWS::ApiGatewayV2::Stage');
    assert.deepEqual(stage?.Properties.DefaultRouteSettings, {
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
    const settings = stage?.Properties.AccessLogSettings as { Format: string; DestinationArn: unknown };
    assert.deepEqual(settings.DestinationArn, { 'Fn::GetAtt': ['HttpApiLogGroup', 'Arn'] });
    assert.deepEqual(JSON.parse(settings.Format), {
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      requestTime: '$context.requestTime',
      httpMethod: '$context.httpMethod',
      routeKey: '$context.routeKey',
      path: '$context.path',
      status: '$context.status',
      responseLength: '$context.responseLength',
      integrationLatency: '$context.integrationLatency',
      authorizerError: '$context.authorizer.error',
      client: '$context.authorizer.client',
    });
    assert.doesNotMatch(settings.Format, /header|authorization/i);
  });

  const env = (from: Resources, fn: string) =>
    (from[fn]?.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
    {};
  const keySecretFunctions = ['Provision', 'Destroy', 'Status', 'Extend', 'Sweep'].map(
    (n) => `${n}LambdaFunction`,
  );
  const readerRoles = ['ProvisionRole', 'DestroyRole', 'StatusRole', 'ExtendRole', 'SweepRole'];
  const kmsOf = (from: Resources) =>
    Object.fromEntries(
      [...statementsByRole(from)]
        .map(
          ([role, all]) =>
            [role, all.filter((s) => [s.Action].flat().some((a) => a.startsWith('kms:')))] as const,
        )
        .filter(([, kms]) => kms.length > 0),
    );

  it('passes the configuration the functions check requests and key secrets against', () => {
    for (const name of Object.keys(resources).filter((n) => resources[n]?.Type === 'AWS::Lambda::Function')) {
      assert.equal(env(resources, name).USER_ID_DOMAINS, 'lab.opentlc.com,opentlc.com,redhat.com', name);
      assert.equal(env(resources, name).LITELLM_ADMIN_USER_IDS, '', name);
      assert.equal(
        env(resources, name).KEY_SECRETS_KMS_KEY_ID,
        keySecretFunctions.includes(name) ? '' : undefined,
        name,
      );
      assert.equal(
        env(resources, name).DATABASE_CA_FILE,
        name === 'DestroyLambdaFunction' ? '/var/runtime/ca-cert.pem' : undefined,
        name,
      );
    }
    assert.deepEqual(kmsOf(resources), {}, 'no KMS key configured, no kms permission');
  });

  it('names every role that reads key values to provision, the only one that puts secret policies, on key secrets only', () => {
    // By role name, each role named so; no extra reader leaves an empty last entry, which the functions skip.
    const names = readerRoles.map((role) => String(resources[role]?.Properties.RoleName));
    assert.deepEqual(
      names,
      ['provision', 'destroy', 'status', 'extend', 'sweep'].map(
        (fn) => `litellm-virtual-keys-ci-us-east-1-${fn}`,
      ),
    );
    assert.equal(env(resources, 'ProvisionLambdaFunction').KEY_SECRET_READERS, `${names.join(',')},`);
    const policyWriters = [...statementsByRole(resources)].flatMap(([role, all]) =>
      all
        .filter((s) => [s.Action].flat().includes('secretsmanager:PutResourcePolicy'))
        .map((s) => [
          role,
          JSON.stringify(s.Resource)
            .replace(/.*:secret:/, '')
            .replace(/"}$/, ''),
        ]),
    );
    assert.deepEqual(policyWriters, [['ProvisionRole', 'litellm-virtual-keys/virtkey-*']]);
  });

  describe('with a KMS key, RHDP principals and a break-glass reader configured', () => {
    const kmsKey = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const rhdp = [
      'arn:aws:iam::111111111111:role/rhdp-lab-events',
      'arn:aws:iam::123456789012:role/rhdp-relay',
    ];
    const breakGlass = 'arn:aws:iam::123456789012:role/break-glass';
    let configured: Resources;
    before(() => {
      configured = packageService('serverless.yml', join(scratch, 'configured'), {
        keySecretsKmsKeyArn: kmsKey,
        labEventPrincipals: rhdp.join(','),
        keySecretExtraReaders: breakGlass,
      });
    });

    it('passes every packaging check', () => {
      assert.deepEqual(packagingViolations(configured), []);
    });

    it('uses the key through Secrets Manager only: provision encrypts and decrypts, the readers decrypt', () => {
      const via = {
        StringEquals: { 'kms:ViaService': { 'Fn::Sub': `secretsmanager.\${AWS::Region}.amazonaws.com` } },
      };
      const grant = (...actions: string[]) => [
        {
          Effect: 'Allow',
          Action: actions.length === 1 ? actions[0] : actions,
          Resource: kmsKey,
          Condition: via,
        },
      ];
      assert.deepEqual(kmsOf(configured), {
        ProvisionRole: grant('kms:Decrypt', 'kms:GenerateDataKey'),
        DestroyRole: grant('kms:Decrypt'),
        StatusRole: grant('kms:Decrypt'),
        ExtendRole: grant('kms:Decrypt'),
        SweepRole: grant('kms:Decrypt'),
      });
      for (const name of keySecretFunctions)
        assert.equal(env(configured, name).KEY_SECRETS_KMS_KEY_ID, kmsKey, name);
      assert.equal(env(configured, 'AuthorizerLambdaFunction').KEY_SECRETS_KMS_KEY_ID, undefined);
    });

    it('lets the named principals, and no one else, put lab events', () => {
      assert.deepEqual(busStatements(configured.LabEventBus), [
        {
          Sid: 'LabEventPrincipalsPutEvents',
          Effect: 'Allow',
          Principal: { AWS: rhdp },
          Action: 'events:PutEvents',
          Resource: undefined,
        },
        {
          Sid: 'NoOneElsePutsEvents',
          Effect: 'Deny',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: undefined,
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': rhdp } },
        },
      ]);
    });

    it('names the break-glass role among the key readers', () => {
      const names = readerRoles.map((role) => String(configured[role]?.Properties.RoleName));
      assert.equal(
        env(configured, 'ProvisionLambdaFunction').KEY_SECRET_READERS,
        `${names.join(',')},${breakGlass}`,
      );
    });
  });

  describe('with an existing lab-event bus', () => {
    let external: Resources;
    before(() => {
      external = packageService('serverless.yml', join(scratch, 'external-bus'), {
        labEventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/rhdp-labs',
      });
    });

    it('creates no bus and listens on that one', () => {
      assert.deepEqual(packagingViolations(external), []);
      assert.deepEqual(
        Object.values(external).filter((r) => r.Type === 'AWS::Events::EventBus'),
        [],
      );
      assert.deepEqual(
        labRules(external).map(([, rule]) => rule.Properties.EventBusName),
        ['rhdp-labs', 'rhdp-labs', 'rhdp-labs'],
      );
      for (const [name, permission] of eventPermissions(external)) {
        assert.match(
          JSON.stringify(permission.Properties.SourceArn),
          /\["rule","rhdp-labs","litellm-virtual-keys-ci-/,
          name,
        );
      }
    });
  });

  it('fails the checks when a trust boundary is missing', () => {
    const broken = structuredClone(resources) as Record<string, Resource>;
    const policies = broken.ProvisionRole?.Properties.Policies as
      | { PolicyDocument: { Statement: Record<string, unknown>[] } }[]
      | undefined;
    const provision = policies?.[0]?.PolicyDocument.Statement ?? [];
    const putEvents = provision.find((s) => s.Action === 'events:PutEvents');
    if (putEvents) delete putEvents.Condition;
    provision.push({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' });
    env(broken, 'ProvisionLambdaFunction').KEY_SECRET_READERS = String(
      broken.ProvisionRole?.Properties.RoleName,
    );
    const rule = labRules(broken)[0]?.[1];
    if (rule) delete rule.Properties.EventBusName;
    const bus = broken.LabEventBus?.Properties.Policy as { Statement: Statement[] };
    bus.Statement = [{ Effect: 'Allow', Principal: '*', Action: 'events:PutEvents', Resource: '*' }];
    const stage = broken.HttpApiStage?.Properties as Record<string, unknown>;
    stage.AccessLogSettings = {
      Format: '{"auth":"$context.authorizer.error","ua":"$context.identity.userAgent"}',
    };
    stage.DefaultRouteSettings = {};
    delete broken.AuthorizerLambdaFunction?.Properties.ReservedConcurrentExecutions;
    assert.deepEqual(packagingViolations(broken).sort(), [
      'AuthorizerLambdaFunction has no reserved concurrency',
      'HttpApiStage has no ThrottlingBurstLimit',
      'HttpApiStage has no ThrottlingRateLimit',
      'HttpApiStage logs ua from a request header ($context.identity.userAgent)',
      'LabEventBus does not deny PutEvents to every principal it does not name',
      'LabEventBus lets ["*"] put events, not only named principals',
      'Litellmvirtualkeysciprovisionrule2EventBridgeRule listens on the default event bus',
      "ProvisionLambdaFunction's KEY_SECRET_READERS leaves out DestroyRole, which reads key values",
      "ProvisionLambdaFunction's KEY_SECRET_READERS leaves out ExtendRole, which reads key values",
      "ProvisionLambdaFunction's KEY_SECRET_READERS leaves out StatusRole, which reads key values",
      "ProvisionLambdaFunction's KEY_SECRET_READERS leaves out SweepRole, which reads key values",
      'ProvisionRole grants kms:Decrypt on "*", not one key\'s ARN',
      'ProvisionRole grants kms:Decrypt outside Secrets Manager (kms:ViaService undefined)',
      'ProvisionRole may put events with a source other than litellm.virtual-keys',
    ]);
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

  it('grants each LiteLLM target’s master-key secret by name, and no other, when two targets are configured', () => {
    const targets = {
      default: { url: 'https://litellm-a.example.com', master_key_secret_id: 'lvk/proxy-a-master' },
      east: {
        url: 'https://litellm-b.example.com',
        public_url: 'https://ai-east.example.com',
        master_key_secret_id:
          'arn:aws:secretsmanager:us-east-1:123456789012:secret:lvk/proxy-b-master-AbCdEf',
      },
    };
    const two = packageService('serverless.yml', join(scratch, 'two-targets'), {
      litellmTargets: JSON.stringify(targets),
    });
    assert.deepEqual(packagingViolations(two), []);
    const masterKeyResources = (role: string) =>
      (statementsByRole(two).get(role) ?? [])
        .filter((s) => JSON.stringify(s.Resource).includes('master'))
        .map((s) => ({ actions: [s.Action].flat(), resources: [s.Resource].flat() }));
    const expected = [
      {
        actions: ['secretsmanager:GetSecretValue'],
        resources: [
          {
            'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:lvk/proxy-a-master-??????`,
          },
          'arn:aws:secretsmanager:us-east-1:123456789012:secret:lvk/proxy-b-master-AbCdEf',
        ],
      },
    ];
    for (const role of readerRoles) assert.deepEqual(masterKeyResources(role), expected, role);
    assert.deepEqual(masterKeyResources('AuthorizerRole'), [], 'the authorizer reads no master key');
    for (const fn of keySecretFunctions) {
      assert.deepEqual(JSON.parse(String(env(two, fn).LITELLM_TARGETS)), targets, fn);
    }
  });

  it('refuses to package a targets parameter without a target’s master-key secret, naming it', () => {
    const run = runServerless([
      'print',
      '--stage',
      'ci',
      '--param',
      `litellmTargets=${JSON.stringify({ default: { url: 'https://a.example.com' } })}`,
    ]);
    assert.notEqual(run.status, 0);
    assert.match(
      `${run.stdout}${run.stderr}`,
      /litellmTargets: target "default" field master_key_secret_id is required/,
    );
  });
});
