import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  deleteKeysEvent,
  extendKeysEvent,
  labExtendedEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp, probeKey } from '../support/fixtures/http.ts';
import { useHarness } from '../support/harness.ts';

const { h, route, issued } = useHarness();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const DAY = 86_400_000;

async function provision(guid: string): Promise<string> {
  const answer = await invokeHttp(
    route.provision,
    postKeysEvent({ guid, package: 'ai-beginner' }),
    lambdaContext(),
  );
  assert.equal(answer.status, 201);
  const key = String(answer.body.litellm_virtual_key);
  issued.add(key);
  return key;
}

const extend = (guid: string, body: unknown) =>
  invokeHttp(route.extend, extendKeysEvent(guid, body), lambdaContext());
const expiryOf = async (token: string) => Date.parse(`${(await h.litellm.table.get(token))?.expires}Z`);
/** The lab's item and its key entries, as the ledger holds them. */
const ledgerKey = async (guid: string, keyId: string) =>
  (await h.ledger.lab(guid)).keys.find((entry) => entry.key_id === keyId);

describe('POST /keys/{guid}/extend', () => {
  it('moves the expiry of the lab’s key by a duration from now and leaves metadata as it was', async () => {
    const key = await provision('ext1');
    const forged = await h.litellm.seedKey({
      alias: 'virtkey-ext1',
      expires: new Date(Date.now() + DAY),
      metadata: { managed_by: 'litellm-virtual-keys', guid: 'ext1', package: 'ai-beginner', note: 'second' },
    });
    const metadataBefore = (await h.litellm.table.get(sha256(key)))?.metadata;
    const decrypts = h.kms.callCount('Decrypt');
    const started = Date.now();

    const answer = await extend('ext1', { duration: '30d' });

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(Math.abs((await expiryOf(sha256(key))) - (started + 30 * DAY)) < 5000);
    assert.ok(
      Math.abs((await expiryOf(forged.token)) - (started + DAY)) < 5000,
      'a key nothing records is left alone',
    );
    assert.deepEqual((await h.litellm.table.get(sha256(key)))?.metadata, metadataBefore);
    assert.equal(answer.body.guid, 'ext1');
    assert.equal(answer.body.litellm_key_duration, '30d');
    assert.ok(Math.abs(Date.parse(String(answer.body.litellm_key_expires)) - (started + 30 * DAY)) < 5000);
    const keys = answer.body.keys as { litellm_key_id: string; litellm_key_expires: string }[];
    assert.deepEqual(
      keys.map((k) => k.litellm_key_id),
      [sha256(key)],
    );
    assert.equal(h.litellm.callCount('POST /key/update'), 1);
    // The update is sent with the key's own value, opened from the ledger once.
    assert.equal(h.kms.callCount('Decrypt') - decrypts, 1);
    const { lab } = await h.ledger.lab('ext1');
    assert.equal(lab?.lab_state, 'active');
    assert.equal(lab?.extending, undefined, 'the announced expiry is cleared once applied');
    const entry = await ledgerKey('ext1', sha256(key));
    assert.equal(entry?.status, 'live');
    assert.equal(Date.parse(String(entry?.expires_at)), await expiryOf(sha256(key)));
    assert.deepEqual(
      (await h.ledger.lab('ext1')).keys.map((recorded) => recorded.key_id),
      [sha256(key)],
      'the key nothing records stays out of the ledger',
    );
  });

  it('refuses with 409 to revive keys a destroy began deleting, and the destroy’s retry finishes', async () => {
    const key = await provision('extdel1');
    h.litellm.faults.set({ errorRate: 1, endpoints: ['POST /key/delete'] });
    const destroy = () => invokeHttp(route.destroy, deleteKeysEvent('extdel1'), lambdaContext());
    assert.equal((await destroy()).status, 503);
    h.litellm.faults.clear();

    const answer = await extend('extdel1', { duration: '7d' });

    assert.equal(answer.status, 409);
    assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:keys-being-deleted');
    assert.equal((await ledgerKey('extdel1', sha256(key)))?.status, 'deleting');
    assert.equal((await destroy()).status, 200);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
  });

  it('sets an absolute expiry and revives an expired key', async () => {
    const key = await provision('ext2');
    await h.litellm.table.update(sha256(key), { expires: new Date(Date.now() - DAY) });
    assert.equal((await probeKey(h.litellm.url, key)).type, 'expired_key');
    const target = new Date(Date.now() + 45 * DAY);
    target.setUTCMilliseconds(0);

    const answer = await extend('ext2', { expires: target.toISOString() });

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(Math.abs((await expiryOf(sha256(key))) - target.getTime()) < 3000);
    assert.equal((await probeKey(h.litellm.url, key)).status, 200);
    assert.equal(
      Date.parse(String((await ledgerKey('ext2', sha256(key)))?.expires_at)),
      await expiryOf(sha256(key)),
    );
  });

  it('answers 404 when LiteLLM no longer holds the lab’s key, and records the lab expired', async () => {
    const key = await provision('ext7');
    await h.litellm.table.deleteWithAudit([sha256(key)], 'operator', 'x');

    const answer = await extend('ext7', { duration: '7d' });

    assert.equal(answer.status, 404, JSON.stringify(answer.body));
    assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:lab-not-found');
    assert.equal(h.litellm.callCount('POST /key/update'), 0);
    const { lab, keys } = await h.ledger.lab('ext7');
    assert.equal(lab?.lab_state, 'expired');
    assert.deepEqual(keys, []);
    const again = await invokeHttp(
      route.provision,
      postKeysEvent({ guid: 'ext7', package: 'ai-beginner' }),
      lambdaContext(),
    );
    assert.equal(again.status, 201, 'a provision makes the lab a new key');
    issued.add(String(again.body.litellm_virtual_key));
    assert.notEqual(again.body.litellm_virtual_key, key);
  });

  it('answers 404 for an unknown lab and never touches another system’s key under the alias', async () => {
    const stranger = await h.litellm.seedKey({ alias: 'virtkey-ext3', expires: new Date(Date.now() + DAY) });
    const before = await expiryOf(stranger.token);

    for (const guid of ['ext3', 'nosuchlab']) {
      const answer = await extend(guid, { duration: '7d' });
      assert.equal(answer.status, 404, guid);
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:lab-not-found');
    }
    assert.equal(await expiryOf(stranger.token), before);
    assert.equal(h.litellm.mutatingCalls(), 0);
  });

  it('refuses bad terms with 400 and changes nothing', async () => {
    const key = await provision('ext4');
    const before = await expiryOf(sha256(key));
    const cases: [unknown, string][] = [
      [{}, 'duration'],
      [{ duration: '7d', expires: '2030-01-01T00:00:00Z' }, 'expires'],
      [{ duration: '1y' }, 'duration'],
      [{ duration: '0d' }, 'duration'],
      [{ expires: '2020-01-01T00:00:00Z' }, 'expires'],
      [{ expires: 'next tuesday' }, 'expires'],
      [{ expires: '2030-01-01T00:00:00' }, 'expires'],
      [{ duration: '7d', durations: '8d' }, 'durations'],
      ['not json', '(body)'],
    ];
    for (const [body, field] of cases) {
      const answer = await extend('ext4', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.ok(
        (answer.body.errors as { field: string }[]).some((error) => error.field === field),
        `${JSON.stringify(body)}: ${JSON.stringify(answer.body.errors)}`,
      );
    }
    assert.equal(await expiryOf(sha256(key)), before);
    assert.equal(h.litellm.callCount('POST /key/update'), 0);
  });

  it('answers 503 while LiteLLM fails the update, and a retry applies it', async () => {
    const key = await provision('ext5');
    h.litellm.faults.set({ errorRate: 1, endpoints: ['POST /key/update'] });
    const failed = await extend('ext5', { duration: '60d' });
    h.litellm.faults.clear();
    assert.equal(failed.status, 503);

    const retried = await extend('ext5', { duration: '60d' });

    assert.equal(retried.status, 200);
    assert.ok(Math.abs((await expiryOf(sha256(key))) - (Date.now() + 60 * DAY)) < 5000);
  });
});

describe('Lab Extended events', () => {
  it('extends the lab; a bad detail is settled without a retry', async () => {
    const key = await provision('ext6');

    const result = await route.extend(
      labExtendedEvent({ guid: 'ext6', duration: '14d', extended_by: 'babylon' }),
      lambdaContext(),
    );

    assert.equal((result as { outcome: string }).outcome, 'extended');
    assert.ok(Math.abs((await expiryOf(sha256(key))) - (Date.now() + 14 * DAY)) < 5000);
    const rejected = await route.extend(labExtendedEvent({ guid: 'ext6' }), lambdaContext());
    assert.equal((rejected as { status: number }).status, 400);
  });
});
