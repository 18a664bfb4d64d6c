import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { readConfig } from '../../lib/config.ts';
import { Deadline } from '../../lib/deadline.ts';
import { LiteLlmClient } from '../../lib/litellm/client.ts';
import { LiteLlmResponseError } from '../../lib/litellm/errors.ts';
import { closeLiteLlmConnections } from '../../lib/litellm/transport.ts';

/** A scripted server: each request takes the next answer; 'reset' drops the connection. */
let answers: (['reset'] | ['hang'] | [number, unknown])[] = [];
let requests: { method?: string; url?: string; authorization?: string }[] = [];
let server: Server;

function clientFor(retries: number, deadlineAt?: number, timeoutMs = '500') {
  const { port } = server.address() as AddressInfo;
  const config = readConfig({
    LITELLM_URL: `http://127.0.0.1:${port}/proxy/`,
    LITELLM_MASTER_KEY_SECRET_ID: 'm',
    API_TOKENS_SECRET_ID: 't',
    LABS_TABLE: 'labs',
    KEY_VALUES_KMS_KEY_ID: 'alias/litellm-virtual-keys',
    LITELLM_RETRIES: String(retries),
    LITELLM_TIMEOUT_MS: timeoutMs,
  });
  return new LiteLlmClient(
    config.litellm,
    'sk-master-unit',
    deadlineAt === undefined ? undefined : new Deadline(deadlineAt),
  );
}

before(async () => {
  server = createServer((req, res) => {
    requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    const answer = answers.shift() ?? [500, {}];
    if (answer[0] === 'reset') return void req.socket.destroy();
    if (answer[0] === 'hang') return;
    res.writeHead(answer[0], { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer[1]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
// Fresh connections per test: a request cut off by a deadline must not reach the next test's script.
beforeEach(async () => {
  await closeLiteLlmConnections();
  server.closeAllConnections();
  answers = [];
  requests = [];
});
after(async () => {
  await closeLiteLlmConnections();
  server.closeAllConnections();
  server.close();
});

describe('LiteLLM transport', () => {
  it('keeps the URL’s path prefix and sends the master key', async () => {
    answers = [[200, { data: [{ id: 'm1' }], object: 'list' }]];

    assert.deepEqual(await clientFor(0).listModels(), ['m1']);
    assert.deepEqual(requests, [
      { method: 'GET', url: '/proxy/v1/models', authorization: 'Bearer sk-master-unit' },
    ]);
  });

  it('retries resets and 5xx, then succeeds', async () => {
    answers = [['reset'], [503, {}], [200, { data: [], object: 'list' }]];

    assert.deepEqual(await clientFor(2).listModels(), []);
    assert.equal(requests.length, 3);
  });

  it('gives up after its retries with a 503-class error', async () => {
    answers = [
      [502, {}],
      [502, {}],
    ];

    await assert.rejects(clientFor(1).listModels(), { name: 'LiteLlmUnavailableError', status: 503 });
    assert.equal(requests.length, 2);
  });

  it('never retries a 4xx, and removes keys from its message', async () => {
    const body = {
      error: { message: 'User Key=sk-leaked-raw-key-123 does not exist', type: 'auth_error', code: '401' },
    };
    answers = [[401, body]];

    const error = await clientFor(3)
      .generateKey({
        key: 'sk-x',
        key_alias: 'a',
        models: [],
        duration: '1d',
        user_id: 'u',
        metadata: {},
        key_type: 'llm_api',
        allowed_routes: ['llm_api_routes'],
      })
      .catch((e: unknown) => e);

    assert.ok(error instanceof LiteLlmResponseError);
    assert.equal(error.upstreamStatus, 401);
    assert.equal(error.errorType, 'auth_error');
    assert.equal(error.upstreamMessage, 'User Key=sk-[redacted] does not exist');
    assert.equal(requests.length, 1);
  });

  it('tells LiteLLM’s "not found" from a route that does not exist', async () => {
    answers = [
      [404, { error: { message: 'Key not found in database', type: 'not_found_error', code: '404' } }],
      [404, { detail: 'Not Found' }],
      [404, { error: { message: "{'error': 'No keys found'}", type: 'internal_server_error', code: '404' } }],
    ];
    const client = clientFor(0);

    assert.deepEqual(await client.getKeyInfo('abc'), { state: 'unknown' });
    await assert.rejects(client.getKeyInfo('abc'), {
      name: 'LiteLlmResponseError',
      status: 502,
      fault: 'route-not-found',
    });
    assert.equal(await client.deleteKeys(['abc']), false);
  });

  it('sends nothing once the deadline has passed', async () => {
    const passed = Date.now() - 1;

    await assert.rejects(clientFor(10, passed).listModels(), { name: 'LiteLlmUnavailableError' });
    assert.equal(requests.length, 0);
  });

  it('does not start a retry whose backoff would end past the deadline', async () => {
    answers = Array.from({ length: 20 }, () => [503, {}] as [number, unknown]);
    const end = Date.now() + 150;

    await assert.rejects(clientFor(20, end).listModels(), { name: 'LiteLlmUnavailableError' });
    assert.ok(Date.now() <= end + 50, 'gave up by the deadline');
    assert.ok(requests.length < 20, `made ${requests.length} requests`);
  });

  it('shares the time left among its attempts, so every planned attempt is made', async () => {
    answers = Array.from({ length: 4 }, () => ['hang'] as ['hang']);
    const end = Date.now() + 1600;

    const error = await clientFor(3, end, '30000')
      .listModels()
      .then(() => new Error('no error'))
      .catch((e: unknown) => e as Error);

    assert.equal(requests.length, 4);
    assert.match(String(error.message), /timed out after 4 attempt\(s\)/);
    assert.ok(Date.now() <= end + 100, 'gave up by the deadline');
  });

  it('reports the attempts it made, not the ones it planned', async () => {
    answers = Array.from({ length: 10 }, () => ['hang'] as ['hang']);
    const end = Date.now() + 600;

    const error = await clientFor(9, end, '30000')
      .listModels()
      .then(() => new Error('no error'))
      .catch((e: unknown) => e as Error);

    assert.equal(requests.length, 2);
    assert.match(String(error.message), /timed out after 2 attempt\(s\)/);
  });

  it('reads a deleted key’s answer (v1.103) as deleted, never as live', async () => {
    answers = [
      [200, { key: 'h', info: { key_alias: 'a', models: [], status: 'deleted', deleted_at: '2026-11-01' } }],
      [200, { key: 'h', info: { key_alias: 'a', models: [], deleted_at: '2026-11-01T00:00:00' } }],
      [200, { key: 'h', status: 'deleted', info: { key_alias: 'a', models: [] } }],
      [200, { key: 'h', info: { key_alias: 'a', models: [], status: 'active', expires: null } }],
    ];
    const client = clientFor(0);

    assert.deepEqual(await client.getKeyInfo('h'), { state: 'deleted' });
    assert.deepEqual(await client.getKeyInfo('h'), { state: 'deleted' });
    assert.deepEqual(await client.getKeyInfo('h'), { state: 'deleted' });
    assert.equal((await client.getKeyInfo('h')).state, 'live');
  });

  it('turns a refused master key into a 503 saying so, never a missing key', async () => {
    const refused = {
      error: {
        message: 'Authentication Error, Invalid proxy server token passed. Received API Key = sk-...unit',
        type: 'token_not_found_in_db',
        param: 'key',
        code: '401',
      },
    };
    answers = [
      [401, refused],
      [401, refused],
    ];
    const client = clientFor(3);

    await assert.rejects(client.getKeyInfo('h'), {
      name: 'LiteLlmResponseError',
      status: 503,
      fault: 'master-key-refused',
    });
    await assert.rejects(client.extendKey('sk-lab', '1d'), { status: 503, fault: 'master-key-refused' });
    assert.equal(requests.length, 2, 'a refusal is not retried');
  });

  it('pages through every key holding an alias', async () => {
    const key = (n: number) => ({
      token: `t${n}`,
      key_alias: 'a',
      expires: null,
      models: [],
      metadata: {},
      user_id: null,
    });
    answers = [
      [200, { keys: [key(1)], total_count: 2, current_page: 1, total_pages: 2 }],
      [200, { keys: [key(2)], total_count: 2, current_page: 2, total_pages: 2 }],
    ];

    const keys = await clientFor(0).listKeysByAlias('a');

    assert.deepEqual(
      keys.map((k) => k.token),
      ['t1', 't2'],
    );
    assert.match(
      String(requests[0]?.url),
      /key_alias=a&page=1&size=100&return_full_object=true&substring_matching=false/,
    );
  });
});
