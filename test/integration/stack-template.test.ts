import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  deployedResources,
  type Resource,
  type Resources,
  statementsByRole,
} from '../support/checks/packaging.ts';
import { runServerless } from '../support/fixtures/package-service.ts';

/**
 * The stack as operators deploy it, read from the packaged CloudFormation: with default parameters,
 * with production-like ones, and with a restored ledger. What it must hold to be operable (alarms,
 * their topic, the dashboard, the lab-event queues, the ledger's protection and its restore switch,
 * the destroy function's VPC) and that cfn-lint finds no error in it.
 */

interface Template {
  Resources: Record<string, Resource>;
  Conditions?: Record<string, unknown>;
  Outputs?: Record<string, { Value: unknown }>;
}

const scratch = mkdtempSync(join(tmpdir(), 'stack-template-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function packageStack(name: string, params: Record<string, string> = {}): string {
  const out = join(scratch, name);
  const run = runServerless([
    'package',
    '--stage',
    'ci',
    '--package',
    out,
    ...Object.entries(params).flatMap(([param, value]) => ['--param', `${param}=${value}`]),
  ]);
  assert.equal(run.status, 0, `serverless package failed:\n${run.stdout}\n${run.stderr}`);
  return join(out, 'cloudformation-template-update-stack.json');
}

const readTemplate = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Template;

const TARGETS = {
  default: { url: 'https://litellm-a.example.com', master_key_secret_id: 'lvk/proxy-a-master' },
  east: { url: 'https://litellm-b.example.com', master_key_secret_id: 'lvk/proxy-b-master' },
};
const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'];
const SECURITY_GROUPS = ['sg-0123456789abcdef0'];
const PRINCIPALS = [
  'arn:aws:iam::111111111111:role/rhdp-lab-events',
  'arn:aws:iam::123456789012:role/rhdp-relay',
];
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ops-pager';
const RESTORED = 'litellm-virtual-keys-ci-labs-restored';
const PRODUCTION = {
  litellmTargets: JSON.stringify(TARGETS),
  keyValuesKmsKeyArn: KMS_KEY,
  destroySubnetIds: SUBNETS.join(','),
  destroySecurityGroupIds: SECURITY_GROUPS.join(','),
  labEventPrincipals: PRINCIPALS.join(','),
  alarmTopicArn: TOPIC,
};

const files: Record<'defaults' | 'production' | 'restored', string> = {
  defaults: '',
  production: '',
  restored: '',
};
let defaults: Resources;
let production: Resources;
let restored: Resources;

before(() => {
  files.defaults = packageStack('defaults');
  files.production = packageStack('production', PRODUCTION);
  files.restored = packageStack('restored', { restoredLabsTable: RESTORED });
  defaults = deployedResources(readTemplate(files.defaults));
  production = deployedResources(readTemplate(files.production));
  restored = deployedResources(readTemplate(files.restored));
});

const ofType = (from: Resources, type: string) => Object.entries(from).filter(([, r]) => r.Type === type);
const functionIds = (from: Resources) => ofType(from, 'AWS::Lambda::Function').map(([id]) => id);
const alarm = (from: Resources, id: string) => {
  const found = from[id];
  assert.ok(found, `no alarm ${id}`);
  assert.equal(found.Type, 'AWS::CloudWatch::Alarm', id);
  return found.Properties;
};
const SERVICE = { Name: 'service', Value: 'litellm-virtual-keys' };

const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const noCfnLint = cfnLint.status === 0 ? false : 'cfn-lint is not on PATH (pip install cfn-lint)';

describe('the packaged stack', () => {
  for (const variant of ['defaults', 'production', 'restored'] as const) {
    it(`has no cfn-lint error with ${variant} parameters`, { skip: noCfnLint }, () => {
      const run = spawnSync('cfn-lint', ['--format', 'json', '--', files[variant]], { encoding: 'utf8' });
      const findings = JSON.parse(run.stdout || '[]') as {
        Level: string;
        Rule: { Id: string };
        Message: string;
      }[];
      assert.deepEqual(
        findings.filter((finding) => finding.Level === 'Error').map((f) => `${f.Rule.Id} ${f.Message}`),
        [],
      );
    });
  }

  it('sends every alarm to the topic it creates, when firing and when clear', () => {
    assert.deepEqual(defaults.AlarmTopic?.Type, 'AWS::SNS::Topic');
    assert.equal(defaults.AlarmTopic?.Properties.TopicName, 'litellm-virtual-keys-ci-alarms');
    const alarms = ofType(defaults, 'AWS::CloudWatch::Alarm');
    assert.ok(alarms.length > 30, `${alarms.length} alarms`);
    for (const [id, { Properties }] of alarms) {
      assert.deepEqual(Properties.AlarmActions, [{ Ref: 'AlarmTopic' }], id);
      assert.deepEqual(Properties.OKActions, [{ Ref: 'AlarmTopic' }], id);
      assert.match(String(Properties.AlarmDescription), /docs\/operating\.md#alarm-[a-z-]+$/, id);
      assert.ok(Properties.TreatMissingData, `${id} chooses how missing data counts`);
    }
  });

  it('sends every alarm to the operator’s topic when alarmTopicArn names one, and creates none', () => {
    assert.equal(production.AlarmTopic, undefined);
    assert.deepEqual(ofType(production, 'AWS::SNS::Topic'), []);
    for (const [id, { Properties }] of ofType(production, 'AWS::CloudWatch::Alarm')) {
      assert.deepEqual([Properties.AlarmActions, Properties.OKActions], [[TOPIC], [TOPIC]], id);
    }
  });

  it('alarms on queued failures, lab events waiting or parked, the sweep, AWS throttling, stuck labs and configuration errors', () => {
    const depth = (queue: string) => ({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
    const own = (metric: string, dimensions: unknown[], statistic = 'Sum') => ({
      Namespace: 'LiteLLMVirtualKeys',
      MetricName: metric,
      Dimensions: dimensions,
      Statistic: statistic,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
    const realRun = [SERVICE, { Name: 'dry_run', Value: 'false' }];
    const expected: Record<string, Record<string, unknown>> = {
      FailedEventsAlarm: depth('LabEventFailureQueue'),
      ParkedEventsAlarm: depth('LabEventParkedQueue'),
      LabEventsParkedAlarm: { ...own('LabEventsParked', [SERVICE]), Period: 60 },
      SweepStoppedEarlyAlarm: { ...own('SweepStoppedEarly', realRun, 'Maximum'), Period: 86400 },
      SweepNotCompletedAlarm: {
        ...own('SweepCompleted', realRun),
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        Period: 86400,
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        TreatMissingData: 'breaching',
      },
      SecretsManagerThrottledAlarm: own('AwsThrottled', [{ Name: 'service', Value: 'SecretsManager' }]),
      KmsThrottledAlarm: own('AwsThrottled', [{ Name: 'service', Value: 'KMS' }]),
      DynamoDbThrottledAlarm: own('AwsThrottled', [{ Name: 'service', Value: 'DynamoDB' }]),
      LabEventsWaitingAlarm: {
        ...depth('LabEventQueue'),
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: 3600,
        Period: 300,
        EvaluationPeriods: 1,
      },
      LabsInFlightTooLongAlarm: own('LabsInFlightTooLong', [SERVICE], 'Maximum'),
    };
    for (const [id, properties] of Object.entries(expected)) {
      const actual = alarm(defaults, id);
      assert.deepEqual(
        Object.fromEntries(Object.keys(properties).map((key) => [key, actual[key]])),
        properties,
        id,
      );
    }
    const configErrors = alarm(defaults, 'ConfigErrorsAlarm');
    const [query] = configErrors.Metrics as { Expression: string; Period: number; ReturnData: boolean }[];
    assert.match(
      String(query?.Expression),
      /^SELECT SUM\(ConfigErrors\) FROM SCHEMA\(LiteLLMVirtualKeys, "function", service\)/,
    );
    assert.deepEqual([configErrors.ComparisonOperator, configErrors.Threshold], ['GreaterThanThreshold', 0]);
  });

  it('alarms on each function’s errors, on sustained throttles but for the authorizer, health and the lab-event router, and on each operation’s failures, never its refusals', () => {
    const unthrottled = ['AuthorizerLambdaFunction', 'HealthLambdaFunction', 'LabEventQueueLambdaFunction'];
    for (const from of [defaults, production]) {
      for (const fn of functionIds(from)) {
        const short = fn.replace(/LambdaFunction$/, '');
        const errors = alarm(from, `${short}ErrorsAlarm`);
        assert.deepEqual(
          [errors.Namespace, errors.MetricName, errors.Dimensions, errors.Statistic, errors.Period],
          ['AWS/Lambda', 'Errors', [{ Name: 'FunctionName', Value: { Ref: fn } }], 'Sum', 300],
        );
        if (unthrottled.includes(fn)) {
          assert.equal(from[`${short}ThrottlesAlarm`], undefined, `${fn} has no throttle alarm`);
          continue;
        }
        const throttles = alarm(from, `${short}ThrottlesAlarm`);
        assert.deepEqual(
          [
            throttles.MetricName,
            throttles.Dimensions,
            throttles.Statistic,
            throttles.Period,
            throttles.EvaluationPeriods,
            throttles.DatapointsToAlarm,
          ],
          ['Throttles', [{ Name: 'FunctionName', Value: { Ref: fn } }], 'Sum', 60, 5, 3],
          fn,
        );
      }
      for (const fn of unthrottled) assert.ok(from[fn], `${fn} is in the stack`);
    }
    for (const operation of ['provision', 'destroy', 'extend', 'move', 'status', 'sweep']) {
      const properties = alarm(defaults, `${operation[0]?.toUpperCase()}${operation.slice(1)}FailuresAlarm`);
      assert.deepEqual(
        [properties.MetricName, properties.Dimensions, properties.Threshold],
        ['Failures', [SERVICE, { Name: 'operation', Value: operation }], 0],
      );
    }
    assert.doesNotMatch(
      JSON.stringify(ofType(defaults, 'AWS::CloudWatch::Alarm')),
      /Refusals/,
      'no alarm reads Refusals',
    );
  });

  it('alarms on LiteLLM unavailable per target, 3 of 5 minutes', () => {
    const unavailable = (from: Resources) =>
      ofType(from, 'AWS::CloudWatch::Alarm')
        .filter(([, r]) => r.Properties.MetricName === 'LiteLlmUnavailable')
        .map(([id, r]) => [
          id,
          r.Properties.Dimensions,
          r.Properties.Period,
          r.Properties.EvaluationPeriods,
          r.Properties.DatapointsToAlarm,
        ]);
    const target = (name: string) => [SERVICE, { Name: 'target', Value: name }];
    assert.deepEqual(unavailable(defaults), [
      ['LiteLlmUnavailableDefaultAlarm', target('default'), 60, 5, 3],
    ]);
    assert.deepEqual(unavailable(production), [
      ['LiteLlmUnavailableDefaultAlarm', target('default'), 60, 5, 3],
      ['LiteLlmUnavailableEastAlarm', target('east'), 60, 5, 3],
    ]);
  });

  it('draws a dashboard of operations, latency, LiteLLM per target, the sweep, the queues and every alarm', () => {
    const [dashboard] = ofType(production, 'AWS::CloudWatch::Dashboard').map(([, r]) => r.Properties);
    const body = String((dashboard?.DashboardBody as { 'Fn::Sub'?: string } | undefined)?.['Fn::Sub']);
    const { widgets } = JSON.parse(body) as {
      widgets: { type: string; properties: Record<string, unknown> }[];
    };
    const metrics = JSON.stringify(
      widgets.filter((w) => w.type === 'metric').map((w) => w.properties.metrics),
    );
    for (const name of ['KeysCreated', 'KeysDeleted', 'KeysExtended', 'Failures', 'Refusals']) {
      assert.match(metrics, new RegExp(`MetricName=\\\\+"${name}\\\\+"`), name);
    }
    for (const fn of functionIds(production)) {
      for (const stat of ['p50', 'p99']) {
        assert.ok(
          metrics.includes(`"Duration","FunctionName","\${${fn}}",{"stat":"${stat}"`),
          `${fn} ${stat}`,
        );
      }
    }
    for (const target of Object.keys(TARGETS)) {
      assert.ok(
        metrics.includes(`"LiteLlmUnavailable","service","litellm-virtual-keys","target","${target}"`),
        target,
      );
    }
    // The figures of the sweep's report (lib/sweep/metrics.ts), real runs.
    const sweepFile = readFileSync('lib/sweep/metrics.ts', 'utf8');
    const reported = [...sweepFile.matchAll(/\['([A-Za-z]+)', /g)].map(([, name]) => name);
    assert.ok(reported.length >= 10);
    for (const name of reported) {
      assert.ok(metrics.includes(`"${name}","service","litellm-virtual-keys","dry_run","false"`), name);
    }
    for (const queue of ['LabEventQueue', 'LabEventParkedQueue', 'LabEventFailureQueue']) {
      assert.ok(metrics.includes(`"QueueName","\${${queue}.QueueName}"`), queue);
    }
    const listed = widgets.filter((w) => w.type === 'alarm').flatMap((w) => w.properties.alarms as string[]);
    assert.deepEqual(
      listed.sort(),
      ofType(production, 'AWS::CloudWatch::Alarm')
        .map(([id]) => `\${${id}.Arn}`)
        .sort(),
    );
  });

  it('buffers lab events in a FIFO queue that parks them in a FIFO dead-letter queue', () => {
    const queue = defaults.LabEventQueue?.Properties;
    const parked = defaults.LabEventParkedQueue?.Properties;
    assert.deepEqual([queue?.QueueName, queue?.FifoQueue], ['litellm-virtual-keys-ci-lab-events.fifo', true]);
    assert.deepEqual(
      [parked?.QueueName, parked?.FifoQueue],
      ['litellm-virtual-keys-ci-lab-events-parked.fifo', true],
    );
    const redrive = queue?.RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: number };
    assert.deepEqual(redrive.deadLetterTargetArn, { 'Fn::GetAtt': ['LabEventParkedQueue', 'Arn'] });
    assert.ok(redrive.maxReceiveCount > 1);
  });

  it('protects the ledger from deletion and keeps it when the stack lets go of it', () => {
    const table = defaults.LabsTable;
    assert.equal(table?.Properties.DeletionProtectionEnabled, true);
    assert.deepEqual([table?.DeletionPolicy, table?.UpdateReplacePolicy], ['Retain', 'Retain']);
  });

  it('switches to a restored ledger without creating a table or replacing anything else', () => {
    assert.deepEqual(ofType(restored, 'AWS::DynamoDB::Table'), []);
    // Lambda versions are named by a hash of their function's configuration: a new one is published
    // beside the old on any change of it, as on every deploy of new code.
    const lasting = (from: Resources) =>
      Object.keys(from).filter((id) => from[id]?.Type !== 'AWS::Lambda::Version');
    assert.deepEqual(
      lasting(restored).sort(),
      lasting(defaults)
        .filter((id) => id !== 'LabsTable')
        .sort(),
    );
    // What changes: the ledger grants and LABS_TABLE, in place; no property that names a resource
    // (and would replace it) differs.
    const differences: string[] = [];
    const compare = (path: string, a: unknown, b: unknown) => {
      if (JSON.stringify(a) === JSON.stringify(b)) return;
      if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
        for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
          compare(`${path}.${key}`, (a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]);
        }
        return;
      }
      differences.push(path);
    };
    for (const id of lasting(restored)) compare(id, defaults[id], restored[id]);
    // (Each package names its code's S3 key anew, restore or not.)
    const allowed =
      /^(\w+Role\.Properties\.Policies\.\d+\.PolicyDocument\.Statement\.\d+\.Resource(\..+)?|\w+LambdaFunction\.Properties\.(Environment\.Variables\.LABS_TABLE|Code\.S3Key))$/;
    assert.deepEqual(
      differences.filter((path) => !allowed.test(path)),
      [],
    );
    assert.ok(differences.some((path) => path.endsWith('LABS_TABLE')));
    // Nothing left refers to the table the stack let go of.
    assert.doesNotMatch(JSON.stringify(restored), /LabsTable/);
    for (const fn of functionIds(restored)) {
      const env = restored[fn]?.Properties.Environment as { Variables?: Record<string, unknown> } | undefined;
      if (env?.Variables?.LABS_TABLE !== undefined) assert.equal(env.Variables.LABS_TABLE, RESTORED, fn);
    }
    const granted = JSON.stringify(
      [...statementsByRole(restored).values()]
        .flat()
        .filter((s) => JSON.stringify(s.Action).includes('dynamodb:')),
    );
    assert.match(granted, new RegExp(`:table/${RESTORED}"`));
    assert.doesNotMatch(granted.replaceAll(`table/${RESTORED}`, ''), /table\//);
    assert.equal(readTemplate(files.restored).Outputs?.LabsTableName?.Value, RESTORED);
  });

  it('puts only the destroy function in the VPC given, with the network-interface rights it needs', () => {
    for (const fn of functionIds(defaults)) assert.equal(defaults[fn]?.Properties.VpcConfig, undefined, fn);
    const ec2 = (from: Resources) =>
      Object.fromEntries(
        [...statementsByRole(from)]
          .map(([role, all]) => [role, all.filter((s) => JSON.stringify(s.Action).includes('ec2:'))] as const)
          .filter(([, statements]) => statements.length > 0),
      );
    assert.deepEqual(ec2(defaults), {});
    for (const fn of functionIds(production)) {
      assert.deepEqual(
        production[fn]?.Properties.VpcConfig,
        fn === 'DestroyLambdaFunction'
          ? { SecurityGroupIds: SECURITY_GROUPS, SubnetIds: SUBNETS }
          : undefined,
        fn,
      );
    }
    const arn = (part: string) => ({
      'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${part}`,
    });
    assert.deepEqual(ec2(production), {
      DestroyRole: [
        {
          Effect: 'Allow',
          Action: 'ec2:CreateNetworkInterface',
          Resource: [
            arn('network-interface/*'),
            ...SUBNETS.map((id) => arn(`subnet/${id}`)),
            ...SECURITY_GROUPS.map((id) => arn(`security-group/${id}`)),
          ],
        },
        {
          Effect: 'Allow',
          Action: [
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          Resource: arn('network-interface/*'),
        },
        { Effect: 'Allow', Action: 'ec2:DescribeNetworkInterfaces', Resource: '*' },
      ],
    });
  });

  it('refuses subnets without security groups, naming both parameters', () => {
    const run = runServerless(['print', '--stage', 'ci', '--param', `destroySubnetIds=${SUBNETS[0]}`]);
    assert.notEqual(run.status, 0);
    assert.match(`${run.stdout}${run.stderr}`, /destroySubnetIds and destroySecurityGroupIds go together/);
  });
});
