import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { LiteLlmStandIn } from '../support/stand-ins/litellm/server.ts';

/**
 * The stand-in holds to LiteLLM's documented key API; the service's tests are only as good as this.
 * These cases hold for the oldest supported release; litellm-releases.test.ts covers what changed since.
 */
const MASTER = 'sk-master-contract-0000';
let s: LiteLlmStandIn;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function call(method: string, path: string, body?: unknown, key = MASTER) {
  const response = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown> & { error?: Record<string, unknown> },
  };
}

before(async () => {
  s = await LiteLlmStandIn.start({ masterKey: MASTER, release: '1.81' });
});
beforeEach(() => s.reset());
after(() => s.close());

describe('LiteLLM stand-in: /key/generate', () => {
  it('stores a custom key under its sha256 and answers 200 with the raw key once', async () => {
    const answer = await call('POST', '/key/generate', {
      key: 'sk-custom-1',
      key_alias: 'a1',
      duration: '1h',
    });

    assert.equal(answer.status, 200);
    assert.equal(answer.body.key, 'sk-custom-1');
    assert.equal(answer.body.token_id, sha256('sk-custom-1'));
    assert.equal(answer.body.key_name, 'sk-...om-1');
    assert.ok(await s.table.get(sha256('sk-custom-1')));
  });

  it('refuses a duplicate alias with LiteLLM’s 400 body', async () => {
    await call('POST', '/key/generate', { key: 'sk-one', key_alias: 'dup' });

    const answer = await call('POST', '/key/generate', { key: 'sk-two', key_alias: 'dup' });

    assert.deepEqual(answer, {
      status: 400,
      body: {
        error: {
          message: "Key with alias 'dup' already exists. Unique key aliases across all keys are required.",
          type: 'bad_request_error',
          param: 'key_alias',
          code: '400',
        },
      },
    });
  });

  it('answers 200 to a repeated key value and writes nothing', async () => {
    await call('POST', '/key/generate', { key: 'sk-same', key_alias: 'first' });

    const answer = await call('POST', '/key/generate', { key: 'sk-same', key_alias: 'second' });

    assert.equal(answer.status, 200);
    assert.equal(answer.body.key_alias, 'second');
    assert.equal(await s.table.count(), 1);
    assert.equal((await s.table.get(sha256('sk-same')))?.key_alias, 'first');
  });

  it('lets two racing generates share an alias (check and insert are not atomic)', async () => {
    s.faults.set({ aliasRaceGapMs: 50 });

    const answers = await Promise.all([
      call('POST', '/key/generate', { key: 'sk-race-a', key_alias: 'raced' }),
      call('POST', '/key/generate', { key: 'sk-race-b', key_alias: 'raced' }),
    ]);

    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200],
    );
    assert.equal((await s.table.list({ key_alias: 'raced' }, 1, 10)).total, 2);
  });

  it('answers 500 to a duration outside the grammar, and 400 to a key without sk-', async () => {
    const year = await call('POST', '/key/generate', { duration: '1y' });
    const noUnit = await call('POST', '/key/generate', { duration: '3600' });
    const badKey = await call('POST', '/key/generate', { key: 'custom-no-prefix' });

    assert.equal(year.status, 500);
    assert.equal(year.body.error?.message, 'Unsupported duration unit, passed duration: 1y');
    assert.equal(noUnit.status, 500);
    assert.equal(noUnit.body.error?.message, 'Invalid duration format');
    assert.equal(badKey.status, 400);
    assert.match(String(badKey.body.error?.message), /must start with 'sk-'. Received: cust\*\*\*\*efix/);
  });
});

describe('LiteLLM stand-in: info, list, delete, update', () => {
  it('finds a key by raw value or hash, and answers 404 otherwise', async () => {
    await call('POST', '/key/generate', { key: 'sk-info', key_alias: 'i1' });

    const byRaw = await call('GET', '/key/info?key=sk-info');
    const byHash = await call('GET', `/key/info?key=${sha256('sk-info')}`);
    const missing = await call('GET', '/key/info?key=sk-nope');

    assert.equal((byRaw.body.info as { key_alias: string }).key_alias, 'i1');
    assert.equal(byHash.body.key, sha256('sk-info'));
    assert.ok(!('token' in (byRaw.body.info as object)));
    assert.deepEqual(missing.body, {
      error: { message: 'Key not found in database', type: 'not_found_error', param: 'key', code: '404' },
    });
  });

  it('pages at most 100, lists hashes unless asked for full objects, and includes expired keys', async () => {
    const earlier = new Date(Date.now() - 60_000);
    await s.seedKey({
      raw: 'sk-expired',
      alias: 'x1',
      expires: new Date(Date.now() - 1000),
      createdAt: earlier,
    });
    await s.seedKey({ raw: 'sk-live', alias: 'x2', expires: null });

    const hashes = await call('GET', '/key/list?size=1&page=2');
    const full = await call('GET', '/key/list?return_full_object=true&key_alias=x1');
    const tooBig = await call('GET', '/key/list?size=101');

    assert.deepEqual(hashes.body, {
      keys: [sha256('sk-expired')],
      total_count: 2,
      current_page: 2,
      total_pages: 2,
    });
    assert.equal((full.body.keys as { token: string }[])[0]?.token, sha256('sk-expired'));
    assert.equal(tooBig.status, 422);
    assert.ok(Array.isArray(tooBig.body.detail));
  });

  it('deletes by alias with an audit copy, and answers 404 "No keys found" when nothing matches', async () => {
    await s.seedKey({ raw: 'sk-del', alias: 'gone', expires: null });

    const deleted = await call('POST', '/key/delete', { key_aliases: ['gone'] });
    const again = await call('POST', '/key/delete', { key_aliases: ['gone'] });
    const neither = await call('POST', '/key/delete', {});

    assert.deepEqual(deleted, { status: 200, body: { deleted_keys: ['gone'] } });
    assert.equal(again.status, 404);
    assert.equal(again.body.error?.message, "{'error': 'No keys found'}");
    assert.equal(neither.status, 422);
    assert.deepEqual(
      (await s.table.deletedRows()).map((r) => r.key_alias),
      ['gone'],
    );
  });

  it('can answer a delete with 200 and keep the key (sticky delete)', async () => {
    await s.seedKey({ raw: 'sk-sticky', alias: 'sticky', expires: null });
    s.faults.set({ stickyDelete: true });

    const answer = await call('POST', '/key/delete', { keys: ['sk-sticky'] });

    assert.equal(answer.status, 200);
    assert.ok(await s.table.get(sha256('sk-sticky')));
  });

  it('leaves a deleted key usable on another replica until that replica’s auth cache lapses', async () => {
    await s.seedKey({ raw: 'sk-cached', alias: 'cached', expires: null });
    s.faults.set({ replicaAuthCacheMs: 300 });
    assert.equal((await call('GET', '/v1/models', undefined, 'sk-cached')).status, 200);

    await call('POST', '/key/delete', { keys: ['sk-cached'] });

    assert.equal((await call('GET', `/key/info?key=${sha256('sk-cached')}`)).status, 404);
    assert.equal((await call('GET', '/v1/models', undefined, 'sk-cached')).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const lapsed = await call('GET', '/v1/models', undefined, 'sk-cached');
    assert.equal(lapsed.status, 401);
    assert.equal(lapsed.body.error?.type, 'token_not_found_in_db');
  });

  it('updates expiry and replaces metadata; an unknown key is a 401', async () => {
    await s.seedKey({ raw: 'sk-upd', alias: 'u1', expires: null, metadata: { a: '1', b: '2' } });

    const answer = await call('POST', '/key/update', { key: 'sk-upd', duration: '2h', metadata: { c: '3' } });
    const unknown = await call('POST', '/key/update', { key: 'sk-unknown', duration: '2h' });

    assert.equal(answer.status, 200);
    const row = await s.table.get(sha256('sk-upd'));
    assert.deepEqual(row?.metadata, { c: '3' });
    assert.ok(Math.abs(Date.parse(`${row?.expires}Z`) - (Date.now() + 7_200_000)) < 5000);
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error?.type, 'auth_error');
  });
});

describe('LiteLLM stand-in: virtual keys on /v1/models', () => {
  it('serves a key its own models, and refuses unknown, expired and blocked keys with 401', async () => {
    await s.seedKey({ raw: 'sk-ok', alias: 'ok', expires: null, models: ['mistral-7b-instruct'] });
    await s.seedKey({ raw: 'sk-old', alias: 'old', expires: new Date(Date.now() - 1000) });
    await s.seedKey({ raw: 'sk-blocked', alias: 'blk', expires: null });
    await call('POST', '/key/block', { key: 'sk-blocked' });

    const ok = await call('GET', '/v1/models', undefined, 'sk-ok');
    const unknown = await call('GET', '/v1/models', undefined, 'sk-unknown');
    const expired = await call('GET', '/v1/models', undefined, 'sk-old');
    const blocked = await call('GET', '/v1/models', undefined, 'sk-blocked');

    assert.deepEqual(
      (ok.body.data as { id: string }[]).map((m) => m.id),
      ['mistral-7b-instruct'],
    );
    assert.deepEqual([unknown.status, unknown.body.error?.type], [401, 'token_not_found_in_db']);
    assert.deepEqual([expired.status, expired.body.error?.type], [401, 'expired_key']);
    assert.equal(blocked.status, 401);
    assert.match(String(blocked.body.error?.message), /Key is blocked/);
  });

  it('answers health probes and /model/info', async () => {
    const live = await fetch(`${s.url}/health/liveliness`);
    const info = await call('GET', '/model/info');

    assert.equal(await live.json(), "I'm alive!");
    assert.equal((info.body.data as unknown[]).length, 3);
  });
});

describe('LiteLLM stand-in: /v1/chat/completions', () => {
  const ask = (key: string, model: string, path = '/v1/chat/completions') =>
    call('POST', path, { model, messages: [{ role: 'user', content: 'Hello' }] }, key);

  it('answers a key’s own model with a canned OpenAI-shaped completion, on both paths', async () => {
    await s.seedKey({ raw: 'sk-chat', alias: 'chat', expires: null, models: ['mistral-7b-instruct'] });

    for (const path of ['/v1/chat/completions', '/chat/completions']) {
      const answer = await ask('sk-chat', 'mistral-7b-instruct', path);
      assert.equal(answer.status, 200);
      const { id, created, usage, ...rest } = answer.body as Record<string, unknown> & {
        usage: Record<string, number>;
      };
      assert.match(String(id), /^chatcmpl-[0-9a-f]{24}$/);
      assert.ok(Math.abs(Number(created) - Date.now() / 1000) < 60);
      assert.deepEqual(rest, {
        object: 'chat.completion',
        model: 'mistral-7b-instruct',
        choices: [
          {
            index: 0,
            finish_reason: 'stop',
            message: {
              role: 'assistant',
              content: 'A canned answer from the LiteLLM stand-in, as mistral-7b-instruct.',
            },
          },
        ],
      });
      assert.equal(usage.total_tokens, (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0));
    }
  });

  it('refuses a model the key may not use with LiteLLM’s 401 key_model_access_denied', async () => {
    await s.seedKey({
      raw: 'sk-two',
      alias: 'two',
      expires: null,
      models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'],
    });

    assert.deepEqual(await ask('sk-two', 'llama-scout-17b'), {
      status: 401,
      body: {
        error: {
          message:
            "key not allowed to access model. This key can only access models=['granite-3-2-8b-instruct', 'mistral-7b-instruct']. Tried to access llama-scout-17b",
          type: 'key_model_access_denied',
          param: 'model',
          code: '401',
        },
      },
    });
  });

  it('lets a key without models and the master key use any model the proxy serves, and no other', async () => {
    await s.seedKey({ raw: 'sk-any', alias: 'any', expires: null });

    assert.equal((await ask('sk-any', 'llama-scout-17b')).status, 200);
    assert.equal((await ask(MASTER, 'granite-3-2-8b-instruct')).status, 200);
    const unknown = await ask('sk-any', 'gpt-imaginary');
    assert.deepEqual(
      [unknown.status, unknown.body.error?.type, unknown.body.error?.message],
      [
        400,
        'invalid_request_error',
        'Invalid model name passed in model=gpt-imaginary. Call `/v1/models` to view available models for your key.',
      ],
    );
  });

  it('refuses unknown, expired and blocked keys with LiteLLM’s 401s, whatever the model', async () => {
    await s.seedKey({ raw: 'sk-old', alias: 'old', expires: new Date(Date.now() - 1000) });
    await s.seedKey({ raw: 'sk-blocked', alias: 'blk', expires: null });
    await call('POST', '/key/block', { key: 'sk-blocked' });

    const unknown = await ask('sk-unknown', 'mistral-7b-instruct');
    const expired = await ask('sk-old', 'mistral-7b-instruct');
    const blocked = await ask('sk-blocked', 'mistral-7b-instruct');
    const malformed = await ask('not-a-key', 'mistral-7b-instruct');

    assert.deepEqual(
      [unknown.status, unknown.body.error?.type, unknown.body.error?.param],
      [401, 'token_not_found_in_db', 'key'],
    );
    assert.deepEqual(
      [expired.status, expired.body.error?.type, expired.body.error?.param],
      [401, 'expired_key', 'sk-...-old'],
    );
    assert.match(
      String(expired.body.error?.message),
      /^Authentication Error - Expired Key\. Key Expiry time /,
    );
    assert.deepEqual(blocked, {
      status: 401,
      body: {
        error: {
          message: "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.",
          type: 'auth_error',
          param: 'None',
          code: '401',
        },
      },
    });
    assert.equal(malformed.status, 401);
    assert.match(String(malformed.body.error?.message), /LiteLLM Virtual Key expected/);
  });
});

describe('LiteLLM stand-in: faults and counters', () => {
  it('injects 5xx and resets, and counts calls and in-flight peaks', async () => {
    s.faults.failNext('GET /key/info', '503');
    s.faults.failNext('GET /key/info', 'reset');

    const first = await call('GET', '/key/info?key=x');
    const second = await fetch(`${s.url}/key/info?key=x`, {
      headers: { authorization: `Bearer ${MASTER}` },
    }).catch((error: unknown) => error);
    await Promise.all(Array.from({ length: 5 }, () => call('GET', '/health/readiness')));

    assert.equal(first.status, 503);
    assert.ok(second instanceof TypeError, 'the connection was reset');
    assert.equal(s.callCount('GET /key/info'), 2);
    assert.ok(s.peakInFlight >= 1);
  });
});
