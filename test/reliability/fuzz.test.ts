/**
 * Hostile input, generated: every HTTP route, every lab event detail, the sweep's manual invoke and
 * the authorizer get bodies, guids, query strings, headers and base64 flags from fast-check. With
 * LiteLLM, KMS and the ledger healthy, every answer is a success or a 4xx problem+json; a 4xx
 * changes nothing; no answer shows a stack trace or a secret. FUZZ_SEED and FUZZ_RUNS replay or
 * widen a run.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { clearCache } from '@middy/util';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import type { Decision } from '../../functions/authorizer.ts';
import { SCOPES } from '../../lib/auth/client-grants.ts';
import { logLines } from '../support/checks/logs.ts';
import {
  labDestroyedEvent,
  labExtendedEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
  sampleEvent,
} from '../support/fixtures/events.ts';
import {
  headers,
  httpBody,
  httpEvent,
  pathGuid,
  payloadOf,
  queryString,
  REUSED_GUIDS,
} from '../support/fixtures/fuzz-inputs.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import {
  API_TOKENS_SECRET_ID,
  closeAndCheck,
  type Handler,
  type Harness,
  importRouteHandlers,
  MASTER_KEY,
  startHarness,
} from '../support/harness.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261126);
const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const API_TOKEN = 'test-api-token-rhdp-0001';
const EVERY_SCOPE = SCOPES.join(' ');
const PROVISION_FIELDS = [
  'guid',
  'package',
  'models',
  'duration',
  'user_id',
  'users',
  'user_base',
  'max_budget',
  'metadata',
];
const EXTEND_FIELDS = ['guid', 'duration', 'expires'];
const DESTROY_FIELDS = ['guid', 'force_db_delete'];
/** Frames of a stack trace, or paths of the code, in any form a body could carry them. */
const STACK = /(\n|\\n)\s*at |node:internal|file:\/\/|\.(ts|js|mjs|cjs):\d+|\/var\/task|\/work\//;

let h: Harness;
let handlers: Awaited<ReturnType<typeof importRouteHandlers>>;
let sweep: Handler;
let authorize: (event: APIGatewayRequestAuthorizerEventV2, context: Context) => Promise<Decision>;
/** A lab no generated input names: its key must never show up in an answer. */
let sentinelKey: string;
const seen = { success: 0, clientError: 0 };

before(async () => {
  h = await startHarness();
  handlers = await importRouteHandlers();
  ({ handler: sweep } = (await import('../../functions/sweep.ts')) as { handler: Handler });
  ({ handler: authorize } = await import('../../functions/authorizer.ts'));
  const sentinel = await invokeHttp(
    handlers.provision,
    postKeysEvent({ guid: 'zz-sentinel-q7' }),
    lambdaContext(),
  );
  sentinelKey = String(sentinel.body.litellm_virtual_key);
  // The guids inputs use again and again exist, so reads and extensions meet real labs.
  for (const guid of REUSED_GUIDS) {
    await invokeHttp(handlers.provision, postKeysEvent({ guid }), lambdaContext());
  }
});

after(async () => {
  // Whatever was accepted made keys with a term: a key without one would never expire.
  const endless = await h.litellm.table.db.query<{ key_alias: string }>(
    'SELECT key_alias FROM "LiteLLM_VerificationToken" WHERE expires IS NULL',
  );
  await closeAndCheck(h, [sentinelKey]);
  assert.deepEqual(endless, []);
});

/**
 * Run a property and show what it met; a property that met only successes or only refusals
 * proved little, so both must occur.
 */
async function fuzz<Ts>(t: TestContext, property: fc.IAsyncProperty<Ts>, runs = RUNS): Promise<void> {
  const start = { ...seen };
  await fc.assert(property, { seed: SEED, numRuns: runs, endOnFailure: true });
  const met = { success: seen.success - start.success, clientError: seen.clientError - start.clientError };
  t.diagnostic(`${runs} inputs (seed ${SEED}): ${met.success} successes, ${met.clientError} 4xx`);
  assert.ok(met.success > 0 && met.clientError > 0, JSON.stringify(met));
}

/** Every lab the ledger records, as a request leaves it: the lease and the version it bumps aside. */
async function recordedLabs(): Promise<string> {
  const items = await h.ledger.scan();
  // A guid never provisioned leaves at most an item with no state behind its lease: no lab.
  const labs = items
    .filter((item) => item.sk === 'LAB' && item.lab_state !== undefined)
    .map(({ version: _version, lease: _lease, ...lab }) => lab)
    .sort((a, b) => String(a.pk).localeCompare(String(b.pk)));
  // Attributes in a fixed order: DynamoDB keeps none.
  return JSON.stringify(labs, (_, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
}

/** What requests have changed so far: LiteLLM's writes, values sealed in KMS, and the labs recorded. */
const writes = async () =>
  `${h.litellm.mutatingCalls()} LiteLLM writes, ${h.kms.callCount('Encrypt')} values sealed, labs ${await recordedLabs()}`;

function assertClean(text: string, input: unknown): void {
  const shown = JSON.stringify(input)?.slice(0, 400);
  assert.doesNotMatch(text, STACK, `a stack trace for ${shown}`);
  for (const secret of [MASTER_KEY, API_TOKEN, h.litellm.table.db.url, sentinelKey]) {
    assert.ok(!text.includes(secret), `a secret in the answer to ${shown}`);
  }
}

/** One HTTP call: a success, or a 4xx problem+json that changed nothing. */
async function checkHttp(handler: Handler, event: APIGatewayProxyEventV2): Promise<void> {
  const before = await writes();
  const result = (await handler(event, lambdaContext())) as {
    statusCode: number;
    headers?: Record<string, string>;
    body?: string;
  };
  const input = { path: event.pathParameters, query: event.queryStringParameters, body: event.body };
  const text = result.body ?? '';
  assertClean(text, input);
  assert.ok(result.statusCode < 500, `${result.statusCode} for ${JSON.stringify(input)}: ${text}`);
  if (result.statusCode < 400) {
    seen.success++;
    return;
  }
  seen.clientError++;
  assert.equal(result.headers?.['content-type'], 'application/problem+json');
  const problem = JSON.parse(text) as Record<string, unknown>;
  assert.equal(problem.status, result.statusCode);
  assert.equal(typeof problem.title, 'string');
  assert.equal(typeof problem.detail, 'string');
  assert.equal(
    await writes(),
    before,
    `a ${result.statusCode} that wrote something, for ${JSON.stringify(input)}`,
  );
}

/** One lab event or manual invoke: settled with a result, or rejected with a 4xx, never thrown; a rejection changes nothing. */
async function checkEvent(handler: Handler, event: unknown, outcomes: readonly string[]): Promise<void> {
  const before = await writes();
  const result = (await handler(event, lambdaContext())) as Record<string, unknown>;
  const text = JSON.stringify(result);
  assertClean(text, event);
  if (result.outcome !== 'rejected') {
    seen.success++;
    assert.ok(
      outcomes.length === 0 || outcomes.includes(String(result.outcome)),
      `outcome ${String(result.outcome)}`,
    );
    return;
  }
  seen.clientError++;
  const status = Number(result.status);
  assert.ok(status >= 400 && status < 500, `rejected with ${status}: ${text}`);
  assert.equal(await writes(), before, `a rejected event that wrote something: ${text}`);
}

describe('HTTP routes under generated input', () => {
  it('POST /keys', async (t) => {
    const sample = sampleEvent<APIGatewayProxyEventV2>('http-post-keys.json');
    await fuzz(
      t,
      fc.asyncProperty(headers, queryString, httpBody(PROVISION_FIELDS, ['guid']), (head, query, body) =>
        checkHttp(handlers.provision, httpEvent(sample, { headers: head, query, body })),
      ),
    );
  });

  it('GET /keys/{guid}', async (t) => {
    const sample = sampleEvent<APIGatewayProxyEventV2>('http-get-keys.json');
    await fuzz(
      t,
      fc.asyncProperty(headers, queryString, fc.option(pathGuid, { nil: undefined }), (head, query, path) =>
        checkHttp(handlers.status, httpEvent(sample, { headers: head, query, guid: path })),
      ),
    );
  });

  it('POST /keys/{guid}/extend', async (t) => {
    const sample = sampleEvent<APIGatewayProxyEventV2>('http-post-extend.json');
    await fuzz(
      t,
      fc.asyncProperty(
        headers,
        queryString,
        fc.option(pathGuid, { nil: undefined }),
        httpBody(EXTEND_FIELDS.filter((field) => field !== 'guid')),
        (head, query, path, body) =>
          checkHttp(handlers.extend, httpEvent(sample, { headers: head, query, guid: path, body })),
      ),
    );
  });

  it('DELETE /keys/{guid}', async (t) => {
    const sample = sampleEvent<APIGatewayProxyEventV2>('http-delete-keys.json');
    await fuzz(
      t,
      fc.asyncProperty(headers, queryString, fc.option(pathGuid, { nil: undefined }), (head, query, path) =>
        checkHttp(handlers.destroy, httpEvent(sample, { headers: head, query, guid: path })),
      ),
    );
  });
});

describe('event details under generated input', () => {
  it('Lab Provisioned', async (t) => {
    await fuzz(
      t,
      fc.asyncProperty(payloadOf(PROVISION_FIELDS, ['guid']), (detail) =>
        checkEvent(handlers.provision, labProvisionedEvent(detail), ['created', 'existing']),
      ),
    );
  });

  it('Lab Extended', async (t) => {
    await fuzz(
      t,
      fc.asyncProperty(payloadOf(EXTEND_FIELDS, ['guid']), (detail) =>
        checkEvent(handlers.extend, labExtendedEvent(detail), ['extended']),
      ),
    );
  });

  it('Lab Destroyed', async (t) => {
    await fuzz(
      t,
      fc.asyncProperty(payloadOf(DESTROY_FIELDS, ['guid']), (detail) =>
        checkEvent(handlers.destroy, labDestroyedEvent(detail), ['destroyed', 'already-gone']),
      ),
    );
  });

  it('the sweep’s manual invoke', async (t) => {
    await fuzz(
      t,
      fc.asyncProperty(payloadOf(['dry_run']), (input) => checkEvent(sweep, input, [])),
      Math.ceil(RUNS / 3),
    );
  });
});

describe('the authorizer under generated headers', () => {
  const authorization = fc.oneof(
    fc.constantFrom(
      `Bearer ${API_TOKEN}`,
      `bearer  ${API_TOKEN} `,
      `Bearer ${API_TOKEN}x`,
      `Bearer ${API_TOKEN.slice(0, -1)}`,
      `Bearer ${API_TOKEN.toUpperCase()}`,
      `Basic ${API_TOKEN}`,
      API_TOKEN,
      'Bearer',
      'Bearer ',
      '',
    ),
    fc.string({ maxLength: 80, unit: 'binary' }),
    fc.string({ maxLength: 60 }).map((text) => `Bearer ${text}`),
  );

  it('allows exactly the known token, and never fails', async (t) => {
    const sample = sampleEvent<APIGatewayRequestAuthorizerEventV2>('http-authorizer-request.json');
    await fuzz(
      t,
      fc.asyncProperty(fc.option(authorization, { nil: undefined }), headers, async (header, head) => {
        const { authorization: _, ...rest } = head;
        const event = {
          ...sample,
          headers: header === undefined ? rest : { ...rest, authorization: header },
        };
        const decision = await authorize(event, lambdaContext());
        const known = header !== undefined && /^bearer +(.*?) *$/i.exec(header)?.[1] === API_TOKEN;
        assert.deepEqual(
          decision,
          known
            ? { isAuthorized: true, context: { client: 'rhdp', scopes: EVERY_SCOPE } }
            : { isAuthorized: false },
        );
        seen[known ? 'success' : 'clientError']++;
      }),
      RUNS * 2,
    );
  });
});

describe('bodies around the 64 KiB limit', () => {
  /** A valid body padded with blanks, or one with thousands of unknown fields: both near the limit. */
  const bigBody = fc
    .record({
      guid: fc.constantFrom(...REUSED_GUIDS),
      size: fc.integer({ min: 60 * 1024, max: 200 * 1024 }),
      unknownFields: fc.boolean(),
    })
    .map(({ guid, size, unknownFields }) => {
      if (!unknownFields) return `{"guid":"${guid}"${' '.repeat(Math.max(0, size - guid.length - 12))}}`;
      const fields = Array.from({ length: Math.ceil(size / 14) }, (_, i) => `"f${i}":1`);
      return `{"guid":"${guid}",${fields.join(',')}}`.slice(0, size).replace(/,?"?[^,]*$/, '}');
    });

  it('POST /keys: over 64 KiB is a 413 before parsing, under it a short answer', async (t) => {
    await fuzz(
      t,
      fc.asyncProperty(bigBody, async (body) => {
        const before = await writes();
        const result = (await handlers.provision(postKeysEvent(body), lambdaContext())) as {
          statusCode: number;
          body: string;
        };
        assertClean(result.body, body);
        seen[result.statusCode < 400 ? 'success' : 'clientError']++;
        if (result.statusCode >= 400)
          assert.equal(await writes(), before, `a ${result.statusCode} that wrote`);
        const bytes = Buffer.byteLength(body);
        if (bytes > 64 * 1024) assert.equal(result.statusCode, 413, `${bytes} bytes`);
        else assert.notEqual(result.statusCode, 413, `${bytes} bytes`);
        // Whatever came in, the answer stays small: at most 20 field errors and a count.
        assert.ok(result.body.length < 8 * 1024, `${result.body.length}-byte answer to ${bytes} bytes`);
        if (result.statusCode === 400) assert.ok((JSON.parse(result.body).errors as unknown[]).length <= 20);
      }),
      Math.ceil(RUNS / 4),
    );
  });
});

describe('the authorizer under generated tokens secrets', () => {
  const token = (i: number) => fc.stringMatching(/^[A-Za-z0-9._~+/-]{16,40}$/).map((t) => `${t}-${i}`);
  const limits = fc.oneof(
    fc.constant(undefined),
    fc.record(
      {
        packages: fc.array(fc.constantFrom('ai-beginner', 'lab-dev'), { maxLength: 2 }),
        max_users: fc.integer({ min: 1, max: 200 }),
      },
      { requiredKeys: [] },
    ),
  );
  const badLimits = fc.constantFrom({ max_users: 0 }, { colour: 'red' }, { max_duration: 'forever' }, 'none');
  /** An entry for client i, and whether it must work. */
  const entry = (i: number) =>
    fc.oneof(
      token(i).map((value) => ({ entry: value as unknown, token: value, valid: true })),
      fc.string({ maxLength: 15 }).map((value) => ({ entry: value as unknown, token: value, valid: false })),
      fc
        .record({ value: token(i), scopes: fc.subarray([...SCOPES]), limits })
        .map(({ value, scopes, limits }) => ({
          entry: { token: value, scopes, ...(limits ? { limits } : {}) } as unknown,
          token: value,
          valid: true,
          scopes,
          limits,
        })),
      fc.record({ value: token(i), bad: badLimits }).map(({ value, bad }) => ({
        entry: { token: value, scopes: ['read'], limits: bad } as unknown,
        token: value,
        valid: false,
      })),
      fc
        .record({ value: token(i), scope: fc.constantFrom('admin', 'READ', 'read ', '') })
        .map(({ value, scope }) => ({
          entry: { token: value, scopes: ['read', scope] } as unknown,
          token: value,
          valid: false,
        })),
      token(i).map((value) => ({
        entry: { token: value, scopes: ['read'], extra: 1 } as unknown,
        token: value,
        valid: false,
      })),
    );
  const secret = fc
    .integer({ min: 1, max: 6 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => entry(i))));

  it('grants exactly the valid entries what they name, never throws, never logs a token', async () => {
    const sample = sampleEvent<APIGatewayRequestAuthorizerEventV2>('http-authorizer-request.json');
    let granted = 0;
    let refused = 0;
    try {
      await fc.assert(
        fc.asyncProperty(secret, async (entries) => {
          h.secrets.replace(
            API_TOKENS_SECRET_ID,
            JSON.stringify(Object.fromEntries(entries.map((e, i) => [`client-${i}`, e.entry]))),
          );
          clearCache();
          const from = logLines.length;
          for (const [i, e] of entries.entries()) {
            const event = { ...sample, headers: { ...sample.headers, authorization: `Bearer ${e.token}` } };
            const decision = await authorize(event, lambdaContext());
            if (!e.valid || e.token.length < 16) {
              assert.equal(decision.isAuthorized, false, JSON.stringify(e.entry));
              refused++;
              continue;
            }
            granted++;
            const scopes = 'scopes' in e ? [...new Set(e.scopes)].join(' ') : EVERY_SCOPE;
            const bounded = 'limits' in e && e.limits && Object.keys(e.limits).length > 0;
            assert.deepEqual(decision, {
              isAuthorized: true,
              context: {
                client: `client-${i}`,
                scopes,
                ...(bounded ? { limits: JSON.stringify(e.limits) } : {}),
              },
            });
          }
          const logged = logLines.slice(from).join('\n');
          for (const e of entries)
            if (e.token.length >= 4) assert.ok(!logged.includes(e.token), 'a token in the log');
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      h.secrets.replace(API_TOKENS_SECRET_ID, JSON.stringify({ rhdp: API_TOKEN }));
      clearCache();
    }
    assert.ok(granted > 0 && refused > 0, JSON.stringify({ granted, refused }));
  });
});
