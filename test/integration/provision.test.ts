import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { clearCache } from '@middy/util';
import { linesLeaking, logEntries, metricLines } from '../support/checks/logs.ts';
import {
  asClient,
  deleteKeysEvent,
  getKeysEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp, probeKey } from '../support/fixtures/http.ts';
import { MASTER_KEY, MASTER_KEY_SECRET_ID, setKeyExpiry, useHarness } from '../support/harness.ts';

const { h, route, issued } = useHarness();
// After useHarness's leak check: it must have had keys to look for.
after(() => {
  assert.ok(h.litellm.issuedKeys.size > 20, 'the leak check looked at the keys the suite issued');
});

async function provision(body: unknown, options: { base64?: boolean } = {}) {
  const answer = await invokeHttp(route.provision, postKeysEvent(body, options), lambdaContext());
  const key = answer.body.litellm_virtual_key;
  if (typeof key === 'string') issued.add(key);
  return answer;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const DAY = 86_400_000;
/** Ledger writes: the lease taken (UpdateItem) and the lab written (PutItem). */
const ledgerWrites = () => h.ledger.callCount('UpdateItem') + h.ledger.callCount('PutItem');

describe('provision over HTTP', () => {
  const packages = {
    'ai-beginner': { models: ['granite-3-2-8b-instruct'], days: 7 },
    'ai-developer': { models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'], days: 30 },
    'ai-researcher': {
      models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct', 'llama-scout-17b'],
      days: 90,
    },
    'lab-dev': { models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'], days: 14 },
    'lab-prod': { models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'], days: 90 },
  };

  for (const [name, expected] of Object.entries(packages)) {
    it(`gives package ${name} its models and a ${expected.days}d expiry, on a key that works`, async () => {
      const started = Date.now();

      const answer = await provision({ guid: `pkg-${name}`, package: name });

      assert.equal(answer.status, 201);
      const key = String(answer.body.litellm_virtual_key);
      const expires = Date.parse(String(answer.body.litellm_key_expires));
      assert.ok(
        Math.abs(expires - (started + expected.days * DAY)) < 5000,
        `expiry ${answer.body.litellm_key_expires}`,
      );
      assert.deepEqual(answer.body.litellm_available_models, expected.models);
      assert.equal(answer.body.litellm_key_duration, `${expected.days}d`);
      const probe = await probeKey(h.litellm.url, key);
      assert.equal(probe.status, 200);
      assert.deepEqual(probe.models, expected.models);
      const row = await h.litellm.table.get(sha256(key));
      assert.equal(row?.key_alias, `virtkey-pkg-${name}`);
      assert.deepEqual(row?.metadata, {
        managed_by: 'litellm-virtual-keys',
        guid: `pkg-${name}`,
        package: name,
        models: expected.models.join(','),
        duration: `${expected.days}d`,
        owner: `pkg-${name}@lab.opentlc.com`,
        created_by: 'babylon',
        api_client: 'rhdp',
      });
      assert.equal(row?.user_id, `pkg-${name}@lab.opentlc.com`);
    });
  }

  it('answers with the role’s facts and AgnosticD user info', async () => {
    const answer = await provision({
      guid: 'shape1',
      package: 'ai-beginner',
      metadata: { catalog_item: 'ai-101' },
    });

    const key = String(answer.body.litellm_virtual_key);
    const expires = String(answer.body.litellm_key_expires);
    assert.match(expires, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const facts = {
      litellm_virtual_key: key,
      litellm_key_alias: 'virtkey-shape1',
      litellm_key_id: sha256(key),
      litellm_api_endpoint: 'https://litellm.example.com',
      litellm_api_base_url: 'https://litellm.example.com/v1',
      litellm_available_models: ['granite-3-2-8b-instruct'],
      litellm_key_duration: '7d',
      litellm_key_expires: expires,
      subscription_package: 'ai-beginner',
      litellm_target: 'default',
    };
    assert.deepEqual(answer.body, {
      ...facts,
      replaced_expired_key: false,
      user_info: {
        messages: [
          'LiteLLM API Base URL: https://litellm.example.com/v1',
          `LiteLLM Virtual Key: ${key}`,
          'Available Models: granite-3-2-8b-instruct',
          'Key Duration: 7d',
          `Key Expires: ${expires}`,
        ],
        data: { ...facts, litellm_available_models_list: 'granite-3-2-8b-instruct' },
      },
    });
    assert.equal(answer.headers['content-type'], 'application/json');
    const row = await h.litellm.table.get(sha256(key));
    assert.equal(row?.metadata.catalog_item, 'ai-101');
  });

  it('takes custom models, duration, owner, budget and metadata', async () => {
    const answer = await provision({
      guid: 'custom1',
      models: ['llama-scout-17b'],
      duration: '36h',
      user_id: 'student@redhat.com',
      max_budget: 12.5,
      metadata: { created_by: 'agnosticd', environment: 'dev' },
    });

    assert.equal(answer.status, 201);
    const row = await h.litellm.table.get(sha256(String(answer.body.litellm_virtual_key)));
    assert.deepEqual(row?.models, ['llama-scout-17b']);
    assert.equal(row?.user_id, 'student@redhat.com');
    assert.equal(row?.max_budget, 12.5);
    assert.equal(row?.metadata.created_by, 'agnosticd');
    assert.equal(row?.metadata.owner, 'student@redhat.com');
    assert.equal(row?.metadata.environment, 'dev');
    const expires = Date.parse(String(answer.body.litellm_key_expires));
    assert.ok(Math.abs(expires - (Date.now() + 36 * 3_600_000)) < 5000);
  });

  it('accepts a base64-encoded body', async () => {
    const answer = await provision({ guid: 'b64lab' }, { base64: true });

    assert.equal(answer.status, 201);
    assert.equal(answer.body.litellm_key_alias, 'virtkey-b64lab');
  });

  it('returns the same key with 200 on a replay, from the ledger: no LiteLLM call, one KMS Decrypt', async () => {
    const first = await provision({ guid: 'replay1' });
    h.litellm.resetCounters();
    h.secrets.resetCounters();
    h.ledger.resetCounters();
    h.kms.reset();

    const again = await provision({ guid: 'replay1' });

    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    assert.equal(again.body.litellm_virtual_key, first.body.litellm_virtual_key);
    assert.equal(again.body.litellm_key_expires, first.body.litellm_key_expires);
    assert.equal(again.body.litellm_key_id, first.body.litellm_key_id);
    assert.equal(h.litellm.callCount(), 0);
    assert.equal(h.secrets.callCount(), 0);
    assert.deepEqual([h.kms.callCount('Decrypt'), h.kms.callCount('Encrypt')], [1, 0]);
    assert.equal(ledgerWrites(), 0, 'a replay takes no lease and writes nothing');
    assert.equal(await h.litellm.table.count(), 1);
  });

  it('refuses another client’s provision of a lab’s guid with 409 guid-taken, naming neither owner nor settings', async () => {
    const owned = await provision({ guid: 'owned1', package: 'lab-dev' });
    assert.equal(owned.status, 201);
    h.litellm.resetCounters();
    h.kms.reset();

    for (const scopes of [['provision'], ['provision', 'read-key', 'all-labs']]) {
      const answer = await invokeHttp(
        route.provision,
        asClient(postKeysEvent({ guid: 'owned1', package: 'lab-dev' }), 'portal', scopes),
        lambdaContext(),
      );
      assert.equal(answer.status, 409, scopes.join(' '));
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:guid-taken');
      const said = JSON.stringify(answer.body);
      for (const hidden of ['rhdp', 'lab-dev', String(owned.body.litellm_virtual_key), 'virtkey-']) {
        assert.ok(!said.includes(hidden), `the refusal names ${hidden}: ${said}`);
      }
    }
    assert.equal(h.litellm.mutatingCalls(), 0);
    assert.equal(h.kms.callCount(), 0, 'the owner’s key value is never opened for another client');
    const { lab, keys } = await h.ledger.lab('owned1');
    assert.deepEqual([lab?.client, lab?.lab_state, keys.length], ['rhdp', 'active', 1]);

    const destroyed = await invokeHttp(route.destroy, deleteKeysEvent('owned1'), lambdaContext());
    assert.equal(destroyed.status, 200);
    const taken = await invokeHttp(
      route.provision,
      asClient(postKeysEvent({ guid: 'owned1' }), 'portal', ['provision']),
      lambdaContext(),
    );
    assert.equal(taken.status, 201, 'once destroyed, the guid is free for any client');
    issued.add(String(taken.body.litellm_virtual_key));
    assert.equal((await h.ledger.lab('owned1')).lab?.client, 'portal');
  });

  it('gives 20 concurrent provisions of one new lab one key value and one key', async () => {
    h.litellm.faults.set({ aliasRaceGapMs: 20 });

    const answers = await Promise.all(Array.from({ length: 20 }, () => provision({ guid: 'burst1' })));

    assert.deepEqual(
      answers.map((a) => a.status).filter((s) => s !== 200 && s !== 201),
      [],
    );
    const values = new Set(answers.map((a) => a.body.litellm_virtual_key));
    assert.equal(values.size, 1);
    assert.equal(await h.litellm.table.count(), 1);
    assert.equal((await probeKey(h.litellm.url, String([...values][0]))).status, 200);
  });
});

describe('provision after a failure between steps', () => {
  async function assertOneWorkingKey(guid: string, returned: unknown) {
    const { rows } = await h.litellm.table.list({ key_alias: `virtkey-${guid}` }, 1, 100);
    assert.equal(rows.length, 1, 'exactly one key under the alias');
    assert.equal(rows[0]?.token, sha256(String(returned)), 'the key returned is the key in LiteLLM');
    assert.equal((await probeKey(h.litellm.url, String(returned))).status, 200);
    const { lab, keys } = await h.ledger.lab(guid);
    assert.equal(lab?.lab_state, 'active');
    assert.equal(lab?.lease, undefined, 'the lease is given back');
    assert.deepEqual(
      keys.map((key) => [key.alias, key.key_id, key.status]),
      [[`virtkey-${guid}`, sha256(String(returned)), 'live']],
      'the ledger records exactly the key returned, live',
    );
    assert.ok(!JSON.stringify(lab).includes(String(returned)), 'the ledger holds the value sealed only');
  }

  it('recovers when /key/generate keeps failing', async () => {
    h.litellm.faults.failNext('POST /key/generate', '503', 3);

    const failed = await provision({ guid: 'genfail' });
    const retried = await provision({ guid: 'genfail' });

    assert.equal(failed.status, 503);
    assert.equal(failed.headers['retry-after'], '30');
    assert.equal(failed.headers['content-type'], 'application/problem+json');
    assert.equal(retried.status, 201);
    await assertOneWorkingKey('genfail', retried.body.litellm_virtual_key);
  });

  it('recovers within one call when the answer to /key/generate is lost', async () => {
    h.litellm.faults.failNext('POST /key/generate', 'reset-after', 1);

    const answer = await provision({ guid: 'lostanswer' });

    assert.equal(answer.status, 201);
    assert.equal(h.litellm.callCount('POST /key/generate'), 2);
    await assertOneWorkingKey('lostanswer', answer.body.litellm_virtual_key);
  });

  it('recovers when every answer to /key/generate is lost, with the value announced the first time', async () => {
    h.litellm.faults.failNext('POST /key/generate', 'reset-after', 3);

    const failed = await provision({ guid: 'alllost' });

    assert.equal(failed.status, 503);
    const announced = (await h.ledger.lab('alllost')).keys;
    assert.deepEqual(
      announced.map((key) => [key.alias, key.status]),
      [['virtkey-alllost', 'intended']],
    );
    assert.equal((await h.ledger.lab('alllost')).lab?.lab_state, 'provisioning');
    const retried = await provision({ guid: 'alllost' });
    assert.equal(retried.status, 201, 'the first caller to be told of the key hears it was created');
    assert.equal(sha256(String(retried.body.litellm_virtual_key)), announced[0]?.key_id);
    assert.deepEqual([h.kms.callCount('Encrypt'), h.kms.callCount('Decrypt')], [1, 1]);
    await assertOneWorkingKey('alllost', retried.body.litellm_virtual_key);
  });

  it('recovers when the key value cannot be sealed, having made nothing in LiteLLM', async () => {
    h.kms.failNext('Encrypt', 2, 'unavailable');

    const failed = await provision({ guid: 'sealfail' });

    assert.equal(failed.status, 503);
    assert.equal(failed.headers['retry-after'], '10');
    assert.equal(await h.litellm.table.count(), 0);
    assert.equal(h.litellm.mutatingCalls(), 0);
    const { lab, keys } = await h.ledger.lab('sealfail');
    assert.deepEqual([lab?.lab_state, lab?.lease, keys], [undefined, undefined, []]);
    const retried = await provision({ guid: 'sealfail' });
    assert.equal(retried.status, 201);
    await assertOneWorkingKey('sealfail', retried.body.litellm_virtual_key);
  });

  it('recovers when the key cannot be announced in the ledger, having made nothing in LiteLLM', async () => {
    h.ledger.failNext('PutItem', 2);

    const failed = await provision({ guid: 'storefail' });

    assert.equal(failed.status, 503);
    assert.equal(await h.litellm.table.count(), 0);
    assert.equal(h.litellm.mutatingCalls(), 0);
    const { lab, keys } = await h.ledger.lab('storefail');
    assert.deepEqual([lab?.lab_state, lab?.lease, keys], [undefined, undefined, []]);
    const retried = await provision({ guid: 'storefail' });
    assert.equal(retried.status, 201);
    await assertOneWorkingKey('storefail', retried.body.litellm_virtual_key);
  });

  it('recovers when the function fails after the key was generated, before it is recorded live', async () => {
    // The second lab write (the key recorded live, after /key/generate) fails.
    h.ledger.beforeNext('PutItem', async () =>
      h.ledger.beforeNext('PutItem', async () => h.ledger.failNext('PutItem', 2)),
    );

    const failed = await provision({ guid: 'diedafter' });

    assert.equal(failed.status, 503);
    assert.equal(await h.litellm.table.count(), 1);
    const { lab, keys } = await h.ledger.lab('diedafter');
    assert.deepEqual(
      [lab?.lab_state, lab?.lease, keys.map((key) => key.status)],
      ['provisioning', undefined, ['intended']],
    );
    const retried = await provision({ guid: 'diedafter' });
    assert.equal(retried.status, 201, 'the first caller to be told of the key hears it was created');
    assert.equal(sha256(String(retried.body.litellm_virtual_key)), keys[0]?.key_id);
    await assertOneWorkingKey('diedafter', retried.body.litellm_virtual_key);
  });

  it('recovers when LiteLLM hangs past the timeout', async () => {
    h.litellm.faults.failNext('POST /key/generate', 'hang-after', 1);

    const answer = await provision({ guid: 'hung1' });

    assert.equal(answer.status, 201);
    await assertOneWorkingKey('hung1', answer.body.litellm_virtual_key);
  });
});

describe('provision when the alias is taken', () => {
  it('replaces an expired key of the lab with a new one and says so', async () => {
    const first = await provision({ guid: 'expired1' });
    const oldKey = String(first.body.litellm_virtual_key);
    await setKeyExpiry(h, 'expired1', sha256(oldKey), new Date(Date.now() - DAY));

    const answer = await provision({ guid: 'expired1' });

    assert.equal(answer.status, 201);
    assert.equal(answer.body.replaced_expired_key, true, JSON.stringify(logEntries().slice(-8)));
    const newKey = String(answer.body.litellm_virtual_key);
    assert.notEqual(newKey, oldKey);
    assert.equal((await probeKey(h.litellm.url, oldKey)).status, 401);
    assert.equal((await probeKey(h.litellm.url, newKey)).status, 200);
    assert.equal(await h.litellm.table.count(), 1);
    const { lab, keys } = await h.ledger.lab('expired1');
    assert.deepEqual(
      keys.map((key) => [key.key_id, key.status]),
      [[sha256(newKey), 'live']],
    );
    assert.deepEqual(
      ((lab?.rechecks ?? []) as { key_id: string }[]).map((recheck) => recheck.key_id),
      [sha256(oldKey)],
      'the replaced key is looked for again, in case a late apply brings it back',
    );
  });

  it('refuses with 409, touching nothing, when a key with the lab’s marker the ledger never recorded holds the alias', async () => {
    const unrecorded = await h.litellm.seedKey({
      alias: 'virtkey-unrec1',
      expires: new Date(Date.now() - DAY),
      metadata: { managed_by: 'litellm-virtual-keys', guid: 'unrec1' },
    });

    const answer = await provision({ guid: 'unrec1' });

    assert.equal(answer.status, 409);
    assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:alias-conflict');
    assert.ok(
      await h.litellm.table.get(unrecorded.token),
      'the marker alone proves nothing: the key is left alone',
    );
    assert.equal(await h.litellm.table.count(), 1);
    const { lab, keys } = await h.ledger.lab('unrec1');
    assert.deepEqual([lab?.lab_state, keys], [undefined, []]);
  });

  it('refuses with 409, touching nothing, when a key of another system holds the alias', async () => {
    const foreign = await h.litellm.seedKey({
      alias: 'virtkey-taken1',
      expires: null,
      metadata: { team: 'ml' },
    });

    const answer = await provision({ guid: 'taken1' });

    assert.equal(answer.status, 409);
    assert.equal(answer.body.status, 409);
    assert.match(String(answer.body.detail), /virtkey-taken1/);
    assert.ok(await h.litellm.table.get(foreign.token));
    assert.equal(await h.litellm.table.count(), 1);
  });

  it('refuses with 409 when user1 of lab abc holds the alias lab abc-user1 would use', async () => {
    const other = await h.litellm.seedKey({
      alias: 'virtkey-abc-user1',
      expires: new Date(Date.now() - DAY),
      metadata: { managed_by: 'litellm-virtual-keys', guid: 'abc', user: 'user1' },
    });

    const answer = await provision({ guid: 'abc-user1' });

    assert.equal(answer.status, 409);
    assert.ok(await h.litellm.table.get(other.token), 'the other lab’s key, even expired, is left alone');
  });
});

describe('provision with bad input', () => {
  const cases: [string, unknown, string][] = [
    ['missing guid', { package: 'ai-developer' }, 'guid'],
    ['an uppercase guid', { guid: 'ABC12' }, 'guid'],
    ['a guid with a space', { guid: 'abc 12' }, 'guid'],
    ['a guid with ../', { guid: '../abc' }, 'guid'],
    ['a guid with a quote', { guid: "abc'12" }, 'guid'],
    ['a guid over 40 characters', { guid: 'a'.repeat(41) }, 'guid'],
    ['a guid ending in -', { guid: 'abc-' }, 'guid'],
    ['an unknown package', { guid: 'bad1', package: 'ai-wizard' }, 'package'],
    ['empty models', { guid: 'bad1', models: [] }, 'models'],
    ['an unknown model', { guid: 'bad1', models: ['granite-3-2-8b-instruct', 'gpt-99'] }, 'models'],
    ['duration 1y', { guid: 'bad1', duration: '1y' }, 'duration'],
    ['duration 0d', { guid: 'bad1', duration: '0d' }, 'duration'],
    ['a misspelt field', { guid: 'bad1', pakage: 'ai-beginner' }, 'pakage'],
    ['a reserved metadata name', { guid: 'bad1', metadata: { managed_by: 'me' } }, 'metadata.managed_by'],
    ['an owner LiteLLM treats as admin', { guid: 'bad1', user_id: 'default_user_id' }, 'user_id'],
    ['a negative budget', { guid: 'bad1', max_budget: -1 }, 'max_budget'],
    ['a body that is not JSON', '{"guid": "bad1",', '(body)'],
    ['a JSON array body', '[{"guid": "bad1"}]', '(body)'],
    ['an empty body', '', '(body)'],
  ];

  for (const [name, body, field] of cases) {
    it(`answers 400 naming ${field} for ${name}, changing nothing`, async () => {
      const answer = await provision(body);

      assert.equal(answer.status, 400);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:invalid-request');
      const fields = (answer.body.errors as { field: string }[]).map((e) => e.field);
      assert.ok(fields.includes(field), `errors name ${field}: ${JSON.stringify(answer.body.errors)}`);
      assert.equal(h.litellm.mutatingCalls(), 0);
      assert.equal(h.secrets.mutatingCalls(), 0);
      assert.equal(h.kms.callCount('Encrypt'), 0);
      assert.equal(await h.litellm.table.count(), 0);
      const { lab, keys } = await h.ledger.lab('bad1');
      assert.deepEqual([lab?.lab_state, keys], [undefined, []]);
    });
  }
});

describe('provision when LiteLLM misbehaves', () => {
  it('answers 503 with Retry-After when LiteLLM cannot be reached', async () => {
    h.litellm.faults.failNext('GET /v1/models', 'reset', 3);

    const answer = await provision({ guid: 'down1' });

    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '30');
    assert.equal(h.litellm.callCount('GET /v1/models'), 3);
  });

  it('answers 503 saying the master key was refused, writing nothing, when LiteLLM refuses it', async () => {
    const wrongKey = 'sk-rotated-away-master-key-0000';
    h.secrets.reset();
    h.secrets.put(MASTER_KEY_SECRET_ID, wrongKey);
    clearCache();
    h.secrets.resetCounters();

    const answer = await provision({ guid: 'wrongmaster' });

    const written = h.secrets.mutatingCalls();
    h.secrets.reset();
    h.secrets.put(MASTER_KEY_SECRET_ID, JSON.stringify({ master_key: MASTER_KEY }));
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '30');
    assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:litellm-master-key-refused');
    assert.match(String(answer.body.detail), /does not accept the master key/);
    assert.equal(h.litellm.mutatingCalls(), 0);
    assert.equal(written, 0);
    assert.equal(h.kms.callCount(), 0);
    const { lab, keys } = await h.ledger.lab('wrongmaster');
    assert.deepEqual([lab?.lab_state, lab?.lease, keys], [undefined, undefined, []], 'no key is announced');
    assert.ok(
      metricLines.some((line) => line.includes('"Failures"') && line.includes('"provision"')),
      'a Failures metric',
    );
    assert.ok(!JSON.stringify(answer.body).includes(wrongKey));
    assert.deepEqual(linesLeaking([wrongKey]), []);
    assert.equal(
      (await provision({ guid: 'wrongmaster' })).status,
      201,
      'the restored master key is read again',
    );
  });
});

describe('provision when Secrets Manager misbehaves', () => {
  it('answers 503 when the master key cannot be read', async () => {
    clearCache();
    h.secrets.failNext('GetSecretValue', 2);

    const answer = await provision({ guid: 'smdown' });

    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '10');
    assert.equal(h.litellm.callCount(), 0);
  });

  it('answers 500, without detail, when the master-key secret is missing', async () => {
    clearCache();
    h.secrets.secrets.delete(MASTER_KEY_SECRET_ID);

    const answer = await provision({ guid: 'nosecret' });

    h.secrets.put(MASTER_KEY_SECRET_ID, JSON.stringify({ master_key: MASTER_KEY }));
    clearCache();
    assert.equal(answer.status, 500);
    assert.equal(answer.body.detail, 'the service failed; the error is logged');
    assert.ok(
      logEntries().some(
        (entry) => entry.status === 500 && JSON.stringify(entry).includes('ResourceNotFound'),
      ),
    );
  });
});

describe('provision from a Lab Provisioned event', () => {
  it('makes the key once, however often the event is delivered', async () => {
    const event = labProvisionedEvent({ guid: 'evt1', package: 'ai-beginner', catalog_item: 'ai-101' });

    const first = await route.provision(event, lambdaContext());
    const second = await route.provision(event, lambdaContext());

    assert.deepEqual(first, { outcome: 'created', guid: 'evt1', aliases: ['virtkey-evt1'] });
    assert.deepEqual(second, { outcome: 'existing', guid: 'evt1', aliases: ['virtkey-evt1'] });
    assert.equal(await h.litellm.table.count(), 1);
    assert.equal(h.litellm.callCount('POST /key/generate'), 1);
    const status = await invokeHttp(route.status, getKeysEvent('evt1'), lambdaContext());
    const key = String((status.body.keys as { litellm_virtual_key: string }[])[0]?.litellm_virtual_key);
    issued.add(key);
    assert.deepEqual((await probeKey(h.litellm.url, key)).models, ['granite-3-2-8b-instruct']);
  });

  it('settles a bad detail without a retry and without changes', async () => {
    const result = await route.provision(labProvisionedEvent({ guid: 'Bad Guid' }), lambdaContext());

    assert.deepEqual(Object.keys(result as object).sort(), ['detail', 'outcome', 'status']);
    assert.equal((result as { status: number }).status, 400);
    assert.equal(h.litellm.mutatingCalls(), 0);
    const line = logEntries().find((entry) => entry.message === 'provision failed' && entry.status === 400);
    assert.ok(line, 'the rejection is logged');
  });

  it('throws when LiteLLM is unavailable, so Lambda retries the event', async () => {
    h.litellm.faults.failNext('GET /v1/models', '503', 3);

    await assert.rejects(route.provision(labProvisionedEvent({ guid: 'evt503' }), lambdaContext()), {
      name: 'LiteLlmUnavailableError',
    });
    assert.equal(await h.litellm.table.count(), 0);
  });
});
