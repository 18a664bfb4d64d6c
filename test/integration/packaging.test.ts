import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  deployedResources,
  KEY_VALUE_CONTEXT_CONDITION,
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
function packageService(
  config: string,
  out: string,
  params: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
): Resources {
  const run = runServerless(
    [
      'package',
      '--config',
      config,
      '--stage',
      'ci',
      '--package',
      out,
      ...Object.entries(params).flatMap(([name, value]) => ['--param', `${name}=${value}`]),
    ],
    { env },
  );
  assert.equal(run.status, 0, `serverless package failed:\n${run.stdout}\n${run.stderr}`);
  return deployedResources(
    JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')),
  );
}

let resources: Resources;
const scratch = mkdtempSync(join(tmpdir(), 'sls-package-'));
const out = join(scratch, 'out');
/** The temp folder of the first run: serverless-esbuild stages its zips there. */
const runTemp = join(scratch, 'tmp');
/** A file in the repository's `.serverless/`, as `npm run package` leaves it: packaging here must not touch it. */
const marker = join('.serverless', `marker-${process.pid}`);
const hadServerlessFolder = existsSync('.serverless');

before(() => {
  mkdirSync(runTemp);
  mkdirSync('.serverless', { recursive: true });
  writeFileSync(marker, 'npm run package made this folder');
  resources = packageService('serverless.yml', out, {}, { TMPDIR: runTemp });
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(marker, { force: true });
  // A folder made for the marker only; one `npm run package` filled meanwhile stays.
  if (!hadServerlessFolder && readdirSync('.serverless').length === 0)
    rmSync('.serverless', { recursive: true });
});

const ofType = (type: string): Resource[] => Object.values(resources).filter((r) => r.Type === type);

/** The ledger's indexes, as resources/labs-table.yml declares them. */
const LEDGER_INDEXES = ['labs-by-state', 'labs-by-client', 'labs-by-sweep', 'labs-in-flight'];
/** Every function but the authorizer: each reads master keys and the ledger. */
const LEDGER_ROLES = ['ProvisionRole', 'DestroyRole', 'StatusRole', 'ExtendRole', 'MoveRole', 'SweepRole'];
const LEDGER_FUNCTIONS = ['Provision', 'Destroy', 'Status', 'Extend', 'Move', 'Sweep'].map(
  (n) => `${n}LambdaFunction`,
);
/** The functions given the key values' KMS key (the sweep's role may not use it; health only describes it). */
const KEY_VALUE_FUNCTIONS = [...LEDGER_FUNCTIONS, 'HealthLambdaFunction'];

describe('serverless package', () => {
  it('packages in folders of its own: the repository’s .serverless/ is left as it was, the temp folder empty', () => {
    assert.equal(readFileSync(marker, 'utf8'), 'npm run package made this folder');
    // npm (run by serverless-esbuild) keeps its compile cache there for every later npm run: not this run's.
    assert.deepEqual(
      readdirSync(runTemp).filter((name) => name !== 'node-compile-cache'),
      [],
      'serverless-esbuild’s zip staging folders are removed (serverless-plugins/invoke-local-esm.cjs)',
    );
  });

  it('builds every function for nodejs22.x on arm64, minified, with source maps', () => {
    const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    assert.deepEqual(functions.map(([name]) => name).sort(), [
      'AuthorizerLambdaFunction',
      'DestroyLambdaFunction',
      'ExtendLambdaFunction',
      'HealthLambdaFunction',
      'InFlightWatchLambdaFunction',
      'LabEventIntakeLambdaFunction',
      'LabEventQueueLambdaFunction',
      'MoveLambdaFunction',
      'ProvisionLambdaFunction',
      'StatusLambdaFunction',
      'SweepLambdaFunction',
    ]);
    for (const [, fn] of functions) {
      assert.equal(fn.Properties.Runtime, 'nodejs22.x');
      assert.deepEqual(fn.Properties.Architectures, ['arm64']);
    }
    for (const name of ['authorizer', 'provision', 'destroy', 'status', 'extend', 'move', 'sweep']) {
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
    // On every request's path: it carries no LiteLLM client (undici's error codes; the tracer only
    // names undici's diagnostics channels).
    const authorizer = readZip(join(out, 'authorizer.zip')).get('functions/authorizer.mjs')?.toString('utf8');
    assert.equal(authorizer?.includes('UND_ERR_'), false, 'the authorizer carries undici');
  });

  it('passes every packaging check (test/support/checks/packaging.ts)', () => {
    assert.deepEqual(packagingViolations(resources), []);
  });

  it('puts every HTTP route behind the bearer-token authorizer, decisions cached briefly', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    // Each route's function: its integration, named in the route's target, invokes that one.
    const functionOf = (route: Resource) => {
      const [, parts] = (route.Properties.Target as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      const integration = resources[(parts[1] as { Ref: string }).Ref];
      const uri = integration?.Properties.IntegrationUri as { 'Fn::GetAtt'?: [string, string] } | undefined;
      return uri?.['Fn::GetAtt']?.[0];
    };
    assert.deepEqual(Object.fromEntries(routes.map((r) => [r.Properties.RouteKey, functionOf(r)])), {
      'DELETE /keys/{guid}': 'DestroyLambdaFunction',
      'GET /health': 'HealthLambdaFunction',
      'GET /keys': 'StatusLambdaFunction',
      'GET /keys/{guid}': 'StatusLambdaFunction',
      'POST /keys': 'ProvisionLambdaFunction',
      'POST /keys/{guid}/extend': 'ExtendLambdaFunction',
      'POST /keys/{guid}/move': 'MoveLambdaFunction',
    });
    assert.equal(routes.length, 7, 'one route per method and path');
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
        'kms:Decrypt',
        'kms:Encrypt',
        ...logs,
        read,
        ...ledger('GetItem', 'PutItem', 'Query', 'UpdateItem'),
      ].sort(),
      DestroyRole: [
        'events:PutEvents',
        'kms:Decrypt',
        ...logs,
        read,
        ...ledger('GetItem', 'PutItem', 'UpdateItem'),
      ].sort(),
      StatusRole: ['kms:Decrypt', ...logs, read, ...ledger('GetItem', 'Query')].sort(),
      ExtendRole: [
        'events:PutEvents',
        'kms:Decrypt',
        ...logs,
        read,
        ...ledger('GetItem', 'PutItem', 'UpdateItem'),
      ].sort(),
      // It lists no labs (no Query).
      MoveRole: [
        'events:PutEvents',
        'kms:Decrypt',
        'kms:Encrypt',
        ...logs,
        read,
        ...ledger('GetItem', 'PutItem', 'UpdateItem'),
      ].sort(),
      SweepRole: [
        'events:PutEvents',
        ...logs,
        read,
        'sqs:SendMessage',
        ...ledger('GetItem', 'PutItem', 'Query', 'UpdateItem'),
      ].sort(),
      // GET /health: one ledger read, each target's master key, the key values' key described.
      HealthRole: [...logs, read, 'dynamodb:GetItem', 'kms:DescribeKey'].sort(),
      // The in-flight index queried, and nothing else: no item, no key, no secret.
      InFlightWatchRole: [...logs, 'dynamodb:Query'].sort(),
      // Lab events into the FIFO queue (or, when that fails, the failure queue), and out of it to
      // provision, destroy and extend: iam/lab-event-queue-roles.yml.
      LabEventIntakeRole: [...logs, 'sqs:SendMessage'].sort(),
      LabEventQueueRole: [
        'events:PutEvents',
        'lambda:InvokeFunction',
        ...logs,
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
      ].sort(),
    });
    // Items on the table only; Query on the table and only the indexes a function reads (status
    // lists labs by state or by client, the sweep finds labs with work due), none projecting a value.
    const ledgerGrants = (role: string) => {
      const byAction = new Map<string, string[]>();
      for (const statement of statementsByRole(resources).get(role) ?? []) {
        for (const action of [statement.Action].flat().filter((a) => a.startsWith('dynamodb:'))) {
          const granted = [statement.Resource].flat().map((r) => JSON.stringify(r));
          byAction.set(action, [...(byAction.get(action) ?? []), ...granted]);
        }
      }
      return Object.fromEntries([...byAction].sort(([a], [b]) => a.localeCompare(b)));
    };
    const table = JSON.stringify({ 'Fn::GetAtt': ['LabsTable', 'Arn'] });
    const index = (name: string) => JSON.stringify({ 'Fn::Sub': `\${LabsTable.Arn}/index/${name}` });
    const queried = (...indexes: string[]) => [table, ...indexes.map(index)];
    const items = (...names: string[]) => names.map((name) => [`dynamodb:${name}`, [table]]);
    const expected: Record<string, Record<string, string[]>> = {
      // Its own labs counted on the client index (limits.max_live_labs).
      ProvisionRole: Object.fromEntries([
        ...items('GetItem', 'PutItem'),
        ['dynamodb:Query', queried('labs-by-client')],
        ...items('UpdateItem'),
      ]),
      DestroyRole: Object.fromEntries(items('GetItem', 'PutItem', 'UpdateItem')),
      ExtendRole: Object.fromEntries(items('GetItem', 'PutItem', 'UpdateItem')),
      MoveRole: Object.fromEntries(items('GetItem', 'PutItem', 'UpdateItem')),
      StatusRole: Object.fromEntries([
        ...items('GetItem'),
        ['dynamodb:Query', queried('labs-by-state', 'labs-by-client')],
      ]),
      SweepRole: Object.fromEntries([
        ...items('GetItem', 'PutItem'),
        ['dynamodb:Query', queried('labs-by-sweep')],
        ...items('UpdateItem'),
      ]),
    };
    for (const role of LEDGER_ROLES) assert.deepEqual(ledgerGrants(role), expected[role], role);
    assert.deepEqual(ledgerGrants('InFlightWatchRole'), { 'dynamodb:Query': [index('labs-in-flight')] });
    assert.deepEqual(ledgerGrants('AuthorizerRole'), {}, 'the authorizer reads no ledger');
    assert.deepEqual(
      ledgerGrants('HealthRole'),
      Object.fromEntries(items('GetItem')),
      'health reads one item',
    );
    const secretsOf = (role: string) =>
      (statementsByRole(resources).get(role) ?? [])
        .filter((s) => [s.Action].flat().some((a) => a.startsWith('secretsmanager:')))
        .map((s) =>
          JSON.stringify(s.Resource)
            .replace(/.*:secret:/, '')
            .replace(/"}$/, ''),
        );
    // Secrets Manager holds the master keys and the API tokens only: no key secret anywhere.
    assert.deepEqual(secretsOf('AuthorizerRole'), ['litellm-virtual-keys/api-tokens-??????']);
    for (const role of LEDGER_ROLES) {
      assert.deepEqual(secretsOf(role), ['litellm-virtual-keys/litellm-master-key-??????'], role);
    }
    assert.doesNotMatch(JSON.stringify([...statementsByRole(resources)]), /virtkey|ListSecrets/);
    const logGroupsOf = (role: string) =>
      (statementsByRole(resources).get(role) ?? [])
        .filter((s) => JSON.stringify(s.Resource).includes(':logs:'))
        .map((s) =>
          JSON.stringify(s.Resource)
            .replace(/.*:log-group:/, '')
            .replace(/"}$/, ''),
        );
    assert.deepEqual(logGroupsOf('ProvisionRole'), ['/aws/lambda/litellm-virtual-keys-ci-provision:*']);
    assert.deepEqual(logGroupsOf('MoveRole'), ['/aws/lambda/litellm-virtual-keys-ci-move:*']);
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
      SweepLambdaFunction: [0, undefined, queue],
      // It fails only when SQS does; the queue's consumer is not invoked asynchronously.
      LabEventIntakeLambdaFunction: [2, 21600, queue],
      // A missed run has nothing to replay: the next, minutes later, looks again.
      InFlightWatchLambdaFunction: [0, undefined, '{}'],
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
      MoveLambdaFunction: 5,
      SweepLambdaFunction: 1,
      HealthLambdaFunction: 2,
      InFlightWatchLambdaFunction: 1,
      LabEventIntakeLambdaFunction: 10,
      LabEventQueueLambdaFunction: 5,
    });
    const logGroups = ofType('AWS::Logs::LogGroup').map((g) => g.Properties.RetentionInDays);
    // Every function's and the HTTP API's access log.
    assert.deepEqual(
      logGroups,
      [...ofType('AWS::Lambda::Function'), 'access log'].map(() => 30),
    );
  });

  const statements = () => [...statementsByRole(resources).values()].flat();

  it('lets the functions put events on their own bus only, as this service only', () => {
    const events = statements().filter((s) => [s.Action].flat().some((a) => a.startsWith('events:')));
    assert.equal(
      events.length,
      6,
      'provision, destroy, extend, move, sweep and the lab-event queue (parked events) announce on the bus',
    );
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
    assert.equal(labRules(resources).length, 1);
    for (const [name, rule] of labRules(resources)) {
      assert.deepEqual(rule.Properties.EventBusName, { Ref: 'LabEventBus' }, name);
    }
    assert.equal(eventPermissions(resources).length, 1);
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
      .filter(([, all]) =>
        all.some(
          (statement) =>
            [statement.Action].flat().includes('sqs:SendMessage') &&
            JSON.stringify(statement.Resource).includes('LabEventFailureQueue'),
        ),
      )
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
  const kmsOf = (from: Resources) =>
    Object.fromEntries(
      [...statementsByRole(from)]
        .map(
          ([role, all]) =>
            [role, all.filter((s) => [s.Action].flat().some((a) => a.startsWith('kms:')))] as const,
        )
        .filter(([, kms]) => kms.length > 0),
    );
  /** Each role's use of the key: seal and open (provision, move), or open only; under a key value's context, directly. */
  const keyGrants = (key: unknown) => {
    const grant = (...actions: string[]) => [
      {
        Effect: 'Allow',
        Action: actions.length === 1 ? actions[0] : actions,
        Resource: key,
        Condition: KEY_VALUE_CONTEXT_CONDITION,
      },
    ];
    return {
      ProvisionRole: grant('kms:Decrypt', 'kms:Encrypt'),
      DestroyRole: grant('kms:Decrypt'),
      StatusRole: grant('kms:Decrypt'),
      ExtendRole: grant('kms:Decrypt'),
      MoveRole: grant('kms:Decrypt', 'kms:Encrypt'),
      // GET /health: the key's state, no use of it (no context to condition on).
      HealthRole: [{ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: key }],
    };
  };
  const ownKey = { 'Fn::GetAtt': ['KeyValuesKey', 'Arn'] };
  const functionNames = (from: Resources) =>
    Object.keys(from).filter((n) => from[n]?.Type === 'AWS::Lambda::Function');

  it('passes the configuration the functions check requests against, and the key values’ key', () => {
    for (const name of functionNames(resources)) {
      assert.equal(env(resources, name).USER_ID_DOMAINS, 'lab.opentlc.com,opentlc.com,redhat.com', name);
      assert.equal(env(resources, name).LITELLM_ADMIN_USER_IDS, '', name);
      assert.deepEqual(
        env(resources, name).KEY_VALUES_KMS_KEY_ID,
        KEY_VALUE_FUNCTIONS.includes(name) ? ownKey : undefined,
        name,
      );
      assert.equal(env(resources, name).RECONCILE_GRACE, '1h', name);
      for (const gone of [
        'KEY_SECRET_PREFIX',
        'KEY_SECRETS_KMS_KEY_ID',
        'KEY_SECRET_READERS',
        'ORPHAN_MAX_SHARE',
      ]) {
        assert.equal(env(resources, name)[gone], undefined, `${name} ${gone}`);
      }
      assert.equal(
        env(resources, name).DATABASE_CA_FILE,
        name === 'DestroyLambdaFunction' ? '/var/runtime/ca-cert.pem' : undefined,
        name,
      );
    }
  });

  it('creates a rotated, retained symmetric key for key values, used only under a key value’s encryption context', () => {
    const keys = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::KMS::Key');
    assert.deepEqual(
      keys.map(([name]) => name),
      ['KeyValuesKey'],
    );
    const key = resources.KeyValuesKey as Resource;
    assert.equal(key.Properties.EnableKeyRotation, true);
    assert.equal(key.Properties.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(key.Properties.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.equal(key.DeletionPolicy, 'Retain');
    assert.equal(key.UpdateReplacePolicy, 'Retain');
    assert.deepEqual(
      Object.values(resources)
        .filter((r) => r.Type === 'AWS::KMS::Alias')
        .map((r) => r.Properties),
      [{ AliasName: 'alias/litellm-virtual-keys-ci-key-values', TargetKeyId: { Ref: 'KeyValuesKey' } }],
    );
    // The account administers the key (never using it); each function role uses it as its grant says.
    const root = { AWS: { 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:root` } };
    const role = (fn: string) => ({
      'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/litellm-virtual-keys-ci-us-east-1-${fn}`,
    });
    const statements = (key.Properties.KeyPolicy as { Statement: (Statement & { Sid: string })[] }).Statement;
    assert.deepEqual(
      statements.map((s) => [s.Sid, s.Principal, s.Resource]),
      [
        ['AccountAdministersTheKey', root, '*'],
        ['FunctionsSealAndOpenKeyValues', root, '*'],
        ['FunctionsOpenKeyValues', root, '*'],
      ],
    );
    const admin = [statements[0]?.Action].flat();
    assert.ok(admin.includes('kms:PutKeyPolicy') && admin.includes('kms:ScheduleKeyDeletion'));
    assert.deepEqual(
      admin.filter((action) => /Encrypt|Decrypt|GenerateDataKey|CreateGrant|\*/.test(action ?? '')),
      [],
      'administration, not use',
    );
    assert.deepEqual(
      statements.slice(1).map((s) => [s.Action, s.Condition]),
      [
        [
          ['kms:Decrypt', 'kms:Encrypt'],
          {
            ArnEquals: { 'aws:PrincipalArn': [role('provision'), role('move')] },
            ...KEY_VALUE_CONTEXT_CONDITION,
          },
        ],
        [
          'kms:Decrypt',
          {
            ArnEquals: { 'aws:PrincipalArn': [role('destroy'), role('extend'), role('status')] },
            ...KEY_VALUE_CONTEXT_CONDITION,
          },
        ],
      ],
    );
    // The functions' own grants: that key only, under the context, never through another service.
    assert.deepEqual(kmsOf(resources), keyGrants(ownKey));
    assert.doesNotMatch(JSON.stringify(resources), /kms:ViaService/);
  });

  describe('with a KMS key of the operator’s and RHDP principals configured', () => {
    const kmsKey = 'arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    const rhdp = [
      'arn:aws:iam::111111111111:role/rhdp-lab-events',
      'arn:aws:iam::123456789012:role/rhdp-relay',
    ];
    let configured: Resources;
    before(() => {
      configured = packageService('serverless.yml', join(scratch, 'configured'), {
        keyValuesKmsKeyArn: kmsKey,
        labEventPrincipals: rhdp.join(','),
      });
    });

    it('passes every packaging check', () => {
      assert.deepEqual(packagingViolations(configured), []);
    });

    it('creates no key, and grants that key only: provision and move seal and open, destroy, status and extend open', () => {
      assert.deepEqual(
        Object.values(configured).filter((r) => r.Type === 'AWS::KMS::Key' || r.Type === 'AWS::KMS::Alias'),
        [],
      );
      assert.deepEqual(kmsOf(configured), keyGrants(kmsKey));
      for (const name of functionNames(configured)) {
        assert.equal(
          env(configured, name).KEY_VALUES_KMS_KEY_ID,
          KEY_VALUE_FUNCTIONS.includes(name) ? kmsKey : undefined,
          name,
        );
      }
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
  });

  it('refuses to package a key values’ KMS key that is not a key ARN, naming the parameter', () => {
    const run = runServerless([
      'print',
      '--stage',
      'ci',
      '--param',
      'keyValuesKmsKeyArn=arn:aws:kms:us-east-1:111122223333:alias/litellm-key-values',
    ]);
    assert.notEqual(run.status, 0);
    assert.match(`${run.stdout}${run.stderr}`, /param keyValuesKmsKeyArn must be a KMS key ARN/);
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
        ['rhdp-labs'],
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
    const statementsOf = (role: string) =>
      (
        broken[role]?.Properties.Policies as
          | { PolicyDocument: { Statement: Record<string, unknown>[] } }[]
          | undefined
      )?.[0]?.PolicyDocument.Statement ?? [];
    const provision = statementsOf('ProvisionRole');
    const putEvents = provision.find((s) => s.Action === 'events:PutEvents');
    if (putEvents) delete putEvents.Condition;
    provision.push({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' });
    const destroyKms = statementsOf('DestroyRole').find((s) => s.Action === 'kms:Decrypt');
    if (destroyKms) {
      destroyKms.Condition = {
        ...(destroyKms.Condition as object),
        StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' },
      };
    }
    statementsOf('StatusRole').push({
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:litellm-virtual-keys/virtkey-*',
    });
    env(broken, 'SweepLambdaFunction').KEY_VALUES_KMS_KEY_ID =
      'arn:aws:kms:us-east-1:111122223333:key/another';
    const key = broken.KeyValuesKey as { Properties: Record<string, unknown>; DeletionPolicy?: string };
    key.Properties.EnableKeyRotation = false;
    delete key.DeletionPolicy;
    const opening = (key.Properties.KeyPolicy as { Statement: Statement[] }).Statement[2];
    const openers = (opening?.Condition?.ArnEquals?.['aws:PrincipalArn'] ?? []) as unknown[];
    openers.splice(1, 1); // the extend role
    const [labsByState] = (broken.LabsTable?.Properties.GlobalSecondaryIndexes ?? []) as {
      Projection: Record<string, unknown>;
    }[];
    if (labsByState) labsByState.Projection = { ProjectionType: 'ALL' };
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
      'DestroyRole grants kms:Decrypt only through another service (kms:ViaService)',
      "DestroyRole grants kms:Decrypt with conditions besides the context's (StringEquals)",
      'HttpApiStage has no ThrottlingBurstLimit',
      'HttpApiStage has no ThrottlingRateLimit',
      'HttpApiStage logs ua from a request header ($context.identity.userAgent)',
      'KeyValuesKey is not retained on deletion and replacement',
      'KeyValuesKey is not rotated',
      "KeyValuesKey's policy does not let ExtendRole kms:Decrypt, which its grant allows",
      'LabEventBus does not deny PutEvents to every principal it does not name',
      'LabEventBus lets ["*"] put events, not only named principals',
      "LabsTable's index labs-by-state projects ALL, sealed values too",
      'LitellmvirtualkeyscilabEventIntakerule1EventBridgeRule listens on the default event bus',
      'ProvisionRole grants kms:Decrypt on "*", not one key\'s ARN',
      'ProvisionRole grants kms:Decrypt under encryption context keys other than target, guid, alias, key_id (undefined)',
      'ProvisionRole grants kms:Decrypt without requiring kms:EncryptionContextKeys, kms:EncryptionContext:target, kms:EncryptionContext:guid, kms:EncryptionContext:alias, kms:EncryptionContext:key_id',
      'ProvisionRole may put events with a source other than litellm.virtual-keys',
      'ProvisionRole may use 2 KMS keys, not one',
      'StatusRole grants secretsmanager:GetSecretValue on key secrets (virtkey-*)',
      `SweepLambdaFunction's KEY_VALUES_KMS_KEY_ID "arn:aws:kms:us-east-1:111122223333:key/another" is not the key the other functions use`,
    ]);
  });

  it('creates the lab ledger on demand, with point-in-time recovery, TTL and its three summary indexes, and names it to every function', () => {
    const [table] = ofType('AWS::DynamoDB::Table');
    const properties = table?.Properties as Record<string, unknown>;
    assert.equal(properties.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.deepEqual(properties.TimeToLiveSpecification, { AttributeName: 'ttl', Enabled: true });
    assert.equal(properties.TableName, 'litellm-virtual-keys-ci-labs');
    // Its indexes as resources/labs-table.yml declares them (summaries only, never a lab's keys
    // and their sealed values: packagingViolations holds that).
    const tag = (name: string) => ({ tag: `!${name}`, resolve: (value: unknown) => ({ [name]: value }) });
    const declared = parseYaml(readFileSync('resources/labs-table.yml', 'utf8'), {
      customTags: [tag('Ref'), tag('GetAtt'), tag('Sub')],
    }) as { Resources: { LabsTable: { Properties: { GlobalSecondaryIndexes: unknown } } } };
    assert.deepEqual(
      properties.GlobalSecondaryIndexes,
      declared.Resources.LabsTable.Properties.GlobalSecondaryIndexes,
    );
    assert.deepEqual(
      (properties.GlobalSecondaryIndexes as { IndexName: string }[]).map((index) => index.IndexName),
      LEDGER_INDEXES,
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

  it('runs the sweep nightly at 03:00 UTC with a 15-minute budget, and the in-flight watch every 5 minutes', () => {
    const sweep = resources.SweepLambdaFunction;
    assert.equal(sweep?.Properties.Timeout, 900);
    const schedules = ofType('AWS::Events::Rule').filter((rule) => rule.Properties.ScheduleExpression);
    assert.deepEqual(
      schedules.map((rule) => {
        const targets = rule.Properties.Targets as { Arn: { 'Fn::GetAtt': [string, string] } }[];
        return [rule.Properties.ScheduleExpression, targets.map((target) => target.Arn['Fn::GetAtt'][0])];
      }),
      [
        ['cron(0 3 * * ? *)', ['SweepLambdaFunction']],
        ['rate(5 minutes)', ['InFlightWatchLambdaFunction']],
      ],
    );
  });

  it('routes the lab lifecycle events from the lab source to the intake, and the queue to their functions', () => {
    const rules = ofType('AWS::Events::Rule')
      .filter((rule) => rule.Properties.EventPattern)
      .map((rule) => {
        const targets = rule.Properties.Targets as { Arn: { 'Fn::GetAtt': [string, string] } }[];
        return [rule.Properties.EventPattern, targets.map((t) => t.Arn['Fn::GetAtt'][0])];
      });
    assert.deepEqual(rules, [
      [
        { source: ['rhdp.lab'], 'detail-type': ['Lab Provisioned', 'Lab Destroyed', 'Lab Extended'] },
        ['LabEventIntakeLambdaFunction'],
      ],
    ]);
    const [mapping] = ofType('AWS::Lambda::EventSourceMapping');
    assert.deepEqual(mapping?.Properties, {
      BatchSize: 5,
      EventSourceArn: { 'Fn::GetAtt': ['LabEventQueue', 'Arn'] },
      FunctionName: { 'Fn::GetAtt': ['LabEventQueueLambdaFunction', 'Arn'] },
      Enabled: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    const router = resources.LabEventQueueLambdaFunction?.Properties;
    assert.equal(router?.ReservedConcurrentExecutions, 5, 'no poller without a function to run its batch');
    const invoked = (statementsByRole(resources).get('LabEventQueueRole') ?? []).find(
      (statement) => statement.Action === 'lambda:InvokeFunction',
    );
    assert.deepEqual(invoked?.Resource, [
      { 'Fn::GetAtt': ['ProvisionLambdaFunction', 'Arn'] },
      { 'Fn::GetAtt': ['DestroyLambdaFunction', 'Arn'] },
      { 'Fn::GetAtt': ['ExtendLambdaFunction', 'Arn'] },
    ]);
    const parks = (statementsByRole(resources).get('LabEventQueueRole') ?? []).find(
      (statement) => statement.Action === 'sqs:SendMessage',
    );
    assert.deepEqual(
      parks?.Resource,
      { 'Fn::GetAtt': ['LabEventParkedQueue', 'Arn'] },
      'the parked queue only',
    );
    const queue = resources.LabEventQueue?.Properties;
    const parked = resources.LabEventParkedQueue?.Properties;
    assert.equal(queue?.QueueName, 'litellm-virtual-keys-ci-lab-events.fifo');
    assert.equal(parked?.QueueName, 'litellm-virtual-keys-ci-lab-events-parked.fifo');
    for (const q of [queue, parked]) {
      assert.equal(q?.FifoQueue, true);
      assert.equal(q?.ContentBasedDeduplication, false);
      assert.equal(q?.SqsManagedSseEnabled, true);
    }
    assert.equal(parked?.MessageRetentionPeriod, 1209600, '14 days to redrive');
    assert.deepEqual(queue?.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': ['LabEventParkedQueue', 'Arn'] },
      maxReceiveCount: 100,
    });
    assert.ok(
      Number(queue?.VisibilityTimeout) >= 6 * Number(router?.Timeout),
      'six times the consumer’s timeout',
    );
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
    for (const role of LEDGER_ROLES) assert.deepEqual(masterKeyResources(role), expected, role);
    assert.deepEqual(masterKeyResources('AuthorizerRole'), [], 'the authorizer reads no master key');
    for (const fn of LEDGER_FUNCTIONS) {
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
