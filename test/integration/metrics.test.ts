import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { clearCache } from '@middy/util';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { metricLines } from '../support/checks/logs.ts';
import {
  deleteKeysEvent,
  getKeysEvent,
  labDestroyedEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
  sampleEvent,
  scheduledSweepEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Handler, type RouteHandlers, useHarness } from '../support/harness.ts';

/**
 * The metrics alarms read, as the functions print them (EMF lines on stdout): each name with its
 * value and dimensions, in the order written.
 */
let sweep: Handler;
let authorizer: Handler;
const { h, route, issued } = useHarness(
  {},
  {
    setUp: async () => {
      ({ handler: sweep } = (await import('../../functions/sweep.ts')) as { handler: Handler });
      ({ handler: authorizer } = (await import('../../functions/authorizer.ts')) as { handler: Handler });
    },
  },
);

const ALARMED = [
  'Failures',
  'Refusals',
  'ConfigErrors',
  'LiteLlmUnavailable',
  'AwsThrottled',
  'SweepCompleted',
] as const;

type Emitted = readonly [name: string, value: unknown, dimensions: Record<string, unknown>];

/** The alarmed metrics of EMF lines, each with its value and the dimensions it is filed under besides `service`. */
function alarmedIn(lines: readonly string[]): Emitted[] {
  return lines.flatMap((line) => {
    const emf = JSON.parse(line) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
    };
    const [directive] = emf._aws.CloudWatchMetrics;
    assert.equal(directive?.Namespace, 'LiteLLMVirtualKeys');
    // Every metric is filed under this service's name but AwsThrottled, whose `service` is AWS's.
    const named = (directive?.Dimensions[0] ?? []).filter(
      (d) => d !== 'service' || emf.service !== 'litellm-virtual-keys',
    );
    const dimensions = Object.fromEntries(named.map((d) => [d, emf[d]]));
    return ALARMED.filter((name) => name in emf).map((name): Emitted => [name, emf[name], dimensions]);
  });
}

/** What `run` emitted of the alarmed metrics. */
async function emittedBy(run: () => Promise<unknown>): Promise<Emitted[]> {
  const from = metricLines.length;
  await run();
  return alarmedIn(metricLines.slice(from));
}

const call = (name: keyof RouteHandlers, event: unknown) => route[name](event, lambdaContext());
const http = async (name: keyof RouteHandlers, event: Parameters<typeof invokeHttp>[1]) => {
  const answer = await invokeHttp(route[name], event, lambdaContext());
  if (typeof answer.body.litellm_virtual_key === 'string') issued.add(answer.body.litellm_virtual_key);
  return answer;
};

describe('Failures and Refusals', () => {
  it('counts a bad request, a 404, a 409 and a stale lab event as Refusals, never as Failures', async () => {
    assert.equal(
      (await http('provision', postKeysEvent({ guid: 'met1', package: 'ai-beginner' }))).status,
      201,
    );
    assert.equal((await http('destroy', deleteKeysEvent('met1'))).status, 200);
    const statuses: unknown[] = [];
    const emitted = await emittedBy(async () => {
      statuses.push((await http('provision', postKeysEvent({ guid: '-bad-' }))).status);
      statuses.push((await http('status', getKeysEvent('nosuchlab'))).status);
      await http('provision', postKeysEvent({ guid: 'met2', package: 'ai-beginner' }));
      statuses.push((await http('provision', postKeysEvent({ guid: 'met2', package: 'lab-dev' }))).status);
      const stale = {
        ...labProvisionedEvent({ guid: 'met1' }),
        time: new Date(Date.now() - 60_000).toISOString(),
      };
      statuses.push(((await call('provision', stale)) as { status?: number }).status);
    });

    assert.deepEqual(statuses, [400, 404, 409, 409]);
    assert.deepEqual(emitted, [
      ['Refusals', 1, { operation: 'provision' }],
      ['Refusals', 1, { operation: 'status' }],
      ['Refusals', 1, { operation: 'provision' }],
      ['Refusals', 1, { operation: 'provision' }],
    ]);
  });

  it('counts LiteLLM down as a Failure and LiteLlmUnavailable once per operation and target', async () => {
    assert.equal((await http('provision', postKeysEvent({ guid: 'met3a' }))).status, 201);
    h.litellm.faults.failNext('*', '503', 1000);
    let status: number | undefined;
    const users = { guid: 'met3', package: 'ai-beginner', users: 3 };
    const emitted = await emittedBy(async () => {
      status = (await http('provision', postKeysEvent(users))).status;
      await assert.rejects(call('destroy', labDestroyedEvent({ guid: 'met3a' })));
    });

    assert.equal(status, 503);
    assert.deepEqual(emitted, [
      ['LiteLlmUnavailable', 1, { target: 'default' }],
      ['Failures', 1, { operation: 'provision' }],
      ['LiteLlmUnavailable', 1, { target: 'default' }],
      ['Failures', 1, { operation: 'destroy' }],
    ]);
  });

  it('counts a target unreachable by the network (connections reset) as LiteLlmUnavailable too', async () => {
    h.litellm.faults.failNext('*', 'reset', 1000);
    const emitted = await emittedBy(() => http('provision', postKeysEvent({ guid: 'met4' })));
    assert.deepEqual(emitted, [
      ['LiteLlmUnavailable', 1, { target: 'default' }],
      ['Failures', 1, { operation: 'provision' }],
    ]);
  });
});

describe('AwsThrottled', () => {
  // The harness lets the SDK make 2 attempts (AWS_MAX_ATTEMPTS): 2 throttled calls are its final error.
  it('counts KMS throttling, and not a KMS outage', async () => {
    h.kms.failNext('Encrypt', 2, 'throttled');
    const throttled = await emittedBy(() => http('provision', postKeysEvent({ guid: 'met5' })));
    h.kms.failNext('Encrypt', 2, 'unavailable');
    const down = await emittedBy(() => http('provision', postKeysEvent({ guid: 'met6' })));

    assert.deepEqual(throttled, [
      ['AwsThrottled', 1, { service: 'KMS' }],
      ['Failures', 1, { operation: 'provision' }],
    ]);
    assert.deepEqual(down, [['Failures', 1, { operation: 'provision' }]]);
  });

  it('counts DynamoDB throttling', async () => {
    h.ledger.failNext('GetItem', 2, 'throttled');
    const emitted = await emittedBy(() => http('status', getKeysEvent('met7')));
    assert.deepEqual(emitted, [
      ['AwsThrottled', 1, { service: 'DynamoDB' }],
      ['Failures', 1, { operation: 'status' }],
    ]);
  });

  it('counts Secrets Manager throttling, of a master key and of the API tokens', async () => {
    clearCache();
    h.secrets.failNext('GetSecretValue', 2, 400);
    const masterKey = await emittedBy(() => http('provision', postKeysEvent({ guid: 'met8' })));
    clearCache();
    h.secrets.failNext('GetSecretValue', 2, 400);
    const event = sampleEvent<APIGatewayRequestAuthorizerEventV2>('http-authorizer-request.json');
    const tokens = await emittedBy(() => assert.rejects(authorizer(event, lambdaContext())));

    assert.deepEqual(masterKey, [
      ['AwsThrottled', 1, { service: 'SecretsManager' }],
      ['Failures', 1, { operation: 'provision' }],
    ]);
    assert.deepEqual(tokens, [['AwsThrottled', 1, { service: 'SecretsManager' }]]);
  });
});

describe('the sweep', () => {
  it('publishes SweepCompleted for a run that ends, and a Failure when a target could not be reached', async () => {
    const done = await emittedBy(() => sweep(scheduledSweepEvent(), lambdaContext()));
    h.litellm.faults.failNext('*', '503', 1000);
    const unreachable = await emittedBy(() => sweep(scheduledSweepEvent(), lambdaContext()));
    h.litellm.faults.clear();
    const dry = await emittedBy(() => sweep({ dry_run: true }, lambdaContext()));

    assert.deepEqual(done, [['SweepCompleted', 1, { dry_run: 'false' }]]);
    assert.deepEqual(unreachable, [
      ['LiteLlmUnavailable', 1, { target: 'default' }],
      ['SweepCompleted', 1, { dry_run: 'false' }],
      ['Failures', 1, { operation: 'sweep' }],
    ]);
    assert.deepEqual(dry, [['SweepCompleted', 1, { dry_run: 'true' }]]);
  });
});

describe('ConfigErrors', () => {
  /** A handler module imported in a fresh process, as Lambda's init does, with `env` over the harness's. */
  function coldStart(file: string, env: Record<string, string | undefined>) {
    const script = `await import(${JSON.stringify(new URL(`../../functions/${file}`, import.meta.url).href)});`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, TEST_LOGS: undefined, ...env },
    });
    const lines = child.stdout.split('\n').filter(Boolean);
    const logs = lines
      .filter((line) => line.startsWith('{"level":'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return {
      status: child.status,
      metrics: alarmedIn(lines.filter((line) => line.startsWith('{"_aws":'))),
      logs: logs.map((entry) => [entry.level, entry.message, entry.function, entry.detail]),
      stderr: child.stderr,
    };
  }

  for (const [file, name, env, detail] of [
    ['provision.ts', 'provision', { RECONCILE_CALLS: 'many' }, 'RECONCILE_CALLS must be an integer >= 0'],
    ['sweep.ts', 'sweep', { LABS_TABLE: '' }, 'LABS_TABLE is required'],
    ['authorizer.ts', 'authorizer', { API_TOKENS_SECRET_ID: '' }, 'API_TOKENS_SECRET_ID is required'],
    ['in-flight-watch.ts', 'inFlightWatch', { LABS_TABLE: '' }, 'LABS_TABLE is required'],
  ] as const) {
    it(`emits ConfigErrors {function: ${name}} and one line naming the fault before ${file} fails to start`, () => {
      const started = coldStart(file, env);
      assert.notEqual(started.status, 0, 'the init error reaches Lambda');
      assert.match(started.stderr, /ConfigError/);
      assert.deepEqual(started.metrics, [['ConfigErrors', 1, { function: name }]]);
      assert.deepEqual(started.logs, [
        ['error', 'configuration unusable; the function cannot start', name, detail],
      ]);
    });
  }

  it('emits nothing of the kind when the configuration is sound', () => {
    const started = coldStart('provision.ts', {});
    assert.deepEqual([started.status, started.metrics, started.logs], [0, [], []]);
  });
});
