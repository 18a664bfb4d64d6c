/**
 * GET /health against the stand-ins, with two LiteLLM targets (`default`, the harness's stand-in,
 * and `east`, one of its own): each target's readiness and release, the ledger and KMS, 200 when
 * all is well and 503 when not, the targets a client may use and fixed reasons only (LiteLLM's and
 * AWS's words go to the log), never a secret; and tracing, which loads the X-Ray SDK only when the
 * stack turns it on.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KMSClient } from '@aws-sdk/client-kms';
import { clearCache } from '@middy/util';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NEWEST_TESTED } from '../../lib/litellm/release.ts';
import { logEntries, logLines } from '../support/checks/logs.ts';
import { asClient, lambdaContext, sampleEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import {
  closeAndCheck,
  type Handler,
  type Harness,
  MASTER_KEY,
  MASTER_KEY_SECRET_ID,
  startHarness,
} from '../support/harness.ts';
import { LiteLlmStandIn } from '../support/stand-ins/litellm/server.ts';

const EAST_KEY = 'sk-east-master-0123456789abcdef0123456789ab';
const EAST_SECRET_ID = 'litellm-virtual-keys/litellm-master-key-east';

let h: Harness;
let east: LiteLlmStandIn;
let health: Handler;

const putEastSecret = () =>
  h.secrets.put(EAST_SECRET_ID, JSON.stringify({ master_key: EAST_KEY, database_url: east.table.db.url }));

before(async () => {
  east = await LiteLlmStandIn.start({ masterKey: EAST_KEY });
  h = await startHarness();
  putEastSecret();
  // Configuration is read when the function is first imported, as at a Lambda cold start.
  process.env.LITELLM_TARGETS = JSON.stringify({
    default: { url: h.litellm.url, master_key_secret_id: MASTER_KEY_SECRET_ID },
    east: { url: east.url, master_key_secret_id: EAST_SECRET_ID },
  });
  ({ handler: health } = (await import('../../functions/health.ts')) as { handler: Handler });
});
beforeEach(async () => {
  await Promise.all([h.reset(), east.reset()]);
  putEastSecret();
});
afterEach(() => {
  h.litellm.faults.clear();
  east.faults.clear();
});
after(async () => {
  await east.close();
  await closeAndCheck(h, [EAST_KEY]);
});

/** `GET /health` as API Gateway sends it, from a client the authorizer let through. */
function healthEvent(): APIGatewayProxyEventV2 {
  const event = sampleEvent<APIGatewayProxyEventV2>('http-get-keys.json');
  Object.assign(event, { routeKey: 'GET /health', rawPath: '/health', rawQueryString: '' });
  Object.assign(event.requestContext, { routeKey: 'GET /health', requestId: 'health-request-1' });
  event.requestContext.http.path = '/health';
  delete event.pathParameters;
  return event;
}

const check = (event = healthEvent()) =>
  invokeHttp(health as Parameters<typeof invokeHttp>[0], event, lambdaContext());

/** Whether the X-Ray SDK has been loaded into this process (a CommonJS module, cached when imported). */
const xrayLoaded = () =>
  Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('aws-xray-sdk-core'));

const ready = (version: string) => ({
  ready: true,
  litellm_version: version,
  release: 'supported',
  release_checked: true,
});

type Targets = Record<string, Record<string, unknown>>;

/** The `health check failing` log lines written since `from`. */
const failingLines = (from: number) =>
  logEntries()
    .slice(from)
    .filter((entry) => entry.message === 'health check failing');

describe('GET /health', () => {
  it('answers 200 with every part well, to a client without any scope, and never a secret', async () => {
    const answer = await check(asClient(healthEvent(), 'auditor', []));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      status: 'ok',
      targets: { default: ready(h.litellm.release.version), east: ready(east.release.version) },
      ledger: { reachable: true },
      kms: { reachable: true, key_state: 'Enabled' },
    });
    const raw = JSON.stringify(answer.body);
    for (const secret of [MASTER_KEY, EAST_KEY, h.litellm.url, east.url, '127.0.0.1'])
      assert.equal(raw.includes(secret), false, secret);
  });

  it('shows a client limited to one target only that target, and still the whole service failing', async () => {
    const limited = () => asClient(healthEvent(), 'workshop', ['provision'], { targets: ['east'] });
    const well = await check(limited());
    assert.equal(well.status, 200);
    assert.deepEqual(well.body.targets, { east: ready(east.release.version) });

    h.litellm.faults.failNext('GET /health/readiness', 'reset', 1);
    const from = logLines.length;
    const failing = await check(limited());
    assert.equal(failing.status, 503);
    assert.deepEqual(failing.body, {
      status: 'failing',
      targets: { east: ready(east.release.version) },
      ledger: { reachable: true },
      kms: { reachable: true, key_state: 'Enabled' },
    });
    // The operator's log names the failing target and what it said.
    const [line] = failingLines(from);
    assert.equal((line?.targets as Targets | undefined)?.default?.reason, 'unreachable');
    assert.match(
      String((line?.details as Record<string, unknown> | undefined)?.default),
      /^LiteLLM GET \/health\/readiness is unavailable: /,
    );

    const none = await check(asClient(healthEvent(), 'nowhere', ['provision'], { targets: [] }));
    assert.deepEqual([none.status, none.body.targets], [200, {}]);
  });

  it('says a release newer than the newest checked is not checked, and stays 200', async () => {
    h.litellm.settings.version = '9.1.0';
    const answer = await check();
    assert.equal(answer.status, 200);
    assert.deepEqual((answer.body.targets as Targets).default, {
      ready: true,
      litellm_version: '9.1.0',
      release: 'newer',
      release_checked: false,
      message: `LiteLLM 9.1.0 is newer than the newest release checked (${NEWEST_TESTED}, on 2026-12-07); it is handled as that one`,
    });
  });

  it('answers 503 when LiteLLM’s database is down, the ledger unreachable or the KMS key disabled', async () => {
    east.settings.databaseDown = true;
    const from = logLines.length;
    const litellmDown = await check();
    assert.equal(litellmDown.status, 503);
    assert.equal(litellmDown.body.status, 'failing');
    assert.deepEqual((litellmDown.body.targets as Targets).east, {
      ready: false,
      reason: 'database-down',
      litellm_version: east.release.version,
      release: 'supported',
      release_checked: true,
    });
    assert.deepEqual(
      [litellmDown.body.ledger, litellmDown.body.kms],
      [{ reachable: true }, { reachable: true, key_state: 'Enabled' }],
    );
    assert.deepEqual(failingLines(from)[0]?.details, { east: 'readiness status disconnected, db connected' });
    east.settings.databaseDown = false;

    h.ledger.failNext('GetItem', 5);
    const ledgerDown = await check();
    assert.equal(ledgerDown.status, 503);
    assert.deepEqual(ledgerDown.body.ledger, {
      reachable: false,
      error: 'DynamoDB GetItem: ServiceUnavailable',
    });

    h.kms.setKeyEnabled(h.kms.keyArn, false);
    const kmsFrom = logLines.length;
    const kmsOff = await check();
    assert.equal(kmsOff.status, 503);
    assert.deepEqual(kmsOff.body.kms, { reachable: false, key_state: 'Disabled' });
    assert.deepEqual(failingLines(kmsFrom)[0]?.kms, { reachable: false, key_state: 'Disabled' });
  });

  it('gives a fixed reason for each target that cannot be asked, never LiteLLM’s or AWS’s words', async () => {
    h.litellm.faults.failNext('GET /health/readiness', 'reset', 1);
    h.secrets.scheduleDeletion(EAST_SECRET_ID);
    clearCache(); // the master keys read earlier, gone: as in a container started afresh
    const from = logLines.length;
    const answer = await check();
    assert.equal(answer.status, 503);
    const failed = (reason: string) => ({
      ready: false,
      reason,
      litellm_version: null,
      release: 'unknown',
      release_checked: false,
    });
    assert.deepEqual(answer.body.targets, {
      default: failed('unreachable'),
      east: failed('master-key-unreadable'),
    });
    const details = failingLines(from)[0]?.details as Record<string, string> | undefined;
    assert.deepEqual(Object.keys(details ?? {}).sort(), ['default', 'east']);
    const raw = JSON.stringify(answer.body);
    for (const said of [...Object.values(details ?? {}), h.litellm.url, east.url, 'Secrets', 'LiteLLM'])
      assert.equal(raw.includes(said), false, said);
  });
});

describe('tracing', () => {
  it('loads no tracer, nor the X-Ray SDK, while the stack leaves it off', async () => {
    assert.equal(process.env.POWERTOOLS_TRACE_ENABLED, undefined);
    assert.equal((await check()).status, 200);
    assert.equal(xrayLoaded(), false);
  });

  it('traces the handler and its AWS SDK clients when turned on, quietly, sending segments to the daemon', async () => {
    const daemon = createSocket('udp4');
    const segments: string[] = [];
    daemon.on('message', (message) => segments.push(message.toString('utf8')));
    await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
    // What tracing a Lambda invocation finds: the X-Ray SDK in Lambda mode, a trace header, the daemon's address.
    const lambdaEnv = {
      POWERTOOLS_TRACE_ENABLED: 'true',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      LAMBDA_TASK_ROOT: '/var/task',
      _HANDLER: 'functions/health.handler',
      _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
      AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
    };
    const { traced, tracerLoaded } = await import('../../lib/tracer-state.ts');
    // What the tracer or the X-Ray SDK writes besides the service's own JSON lines (console, stderr).
    const written: string[] = [];
    const writes = { out: process.stdout.write, err: process.stderr.write };
    const capture = (stream: NodeJS.WriteStream, through: typeof process.stdout.write) =>
      ((chunk: unknown, ...rest: unknown[]) => {
        if (typeof chunk === 'string' && chunk.startsWith('{'))
          return (through as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
        written.push(String(chunk));
        return true;
      }) as typeof process.stdout.write;
    process.stdout.write = capture(process.stdout, writes.out);
    process.stderr.write = capture(process.stderr, writes.err);
    Object.assign(process.env, lambdaEnv);
    try {
      assert.equal((await check()).status, 200);
      assert.equal((await check()).status, 200);
      const client = traced(new KMSClient({}));
      assert.ok(client.middlewareStack.identify().some((name) => /xray/i.test(name)));
      const handlerSegments = () =>
        segments.filter((s) => s.includes('"name":"## functions/health.handler"'));
      for (let waited = 0; waited < 50 && handlerSegments().length < 2; waited++) await sleep(100);
    } finally {
      Object.assign(process.stdout, { write: writes.out });
      Object.assign(process.stderr, { write: writes.err });
      for (const name of Object.keys(lambdaEnv)) delete process.env[name];
      daemon.close();
    }
    assert.equal(tracerLoaded(), true);
    assert.equal(xrayLoaded(), true);
    assert.deepEqual(written, []);
    const handlerSegments = segments.filter((s) => s.includes('"name":"## functions/health.handler"'));
    assert.equal(handlerSegments.length, 2);
    // LiteLLM's calls too (undici's), by URL without the port, the query or any credentials.
    assert.ok(segments.some((s) => s.includes('"url":"http://127.0.0.1/health/readiness"')));
    // Nothing of the answer (captureResponse off), and no secret.
    for (const segment of segments) assert.equal(segment.includes(MASTER_KEY), false);
  });
});
