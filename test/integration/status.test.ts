import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Context } from 'aws-lambda';
import { linesLeaking } from '../support/checks/logs.ts';
import { asClient, getKeysEvent, lambdaContext, postKeysEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Harness, MASTER_KEY, setKeyExpiry, startHarness } from '../support/harness.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let h: Harness;
let provisionHandler: Handler;
let statusHandler: Handler;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const status = (guid: string, query?: Record<string, string>) =>
  invokeHttp(statusHandler, getKeysEvent(guid, query), lambdaContext());
const provision = (body: Record<string, unknown>) =>
  invokeHttp(provisionHandler, postKeysEvent(body), lambdaContext());

before(async () => {
  h = await startHarness();
  ({ handler: provisionHandler } = (await import('../../functions/provision.ts')) as { handler: Handler });
  ({ handler: statusHandler } = (await import('../../functions/status.ts')) as { handler: Handler });
});
beforeEach(() => h.reset());
after(async () => {
  await h.close();
  // The raw key is in the status answer by design; it must still never reach a log line.
  assert.deepEqual(linesLeaking([MASTER_KEY, ...h.litellm.issuedKeys]), []);
});

describe('GET /keys/{guid}', () => {
  it('returns the lab’s key with its models, expiry, spend, budget, blocked flag and raw value', async () => {
    const provisioned = await provision({ guid: 'stat1', package: 'ai-beginner', max_budget: 25 });
    const key = String(provisioned.body.litellm_virtual_key);
    await h.litellm.recordSpend(sha256(key), 1.25);
    const decrypts = h.kms.callCount('Decrypt');

    const answer = await status('stat1');

    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      guid: 'stat1',
      state: 'active',
      litellm_target: 'default',
      keys: [
        {
          litellm_key_alias: 'virtkey-stat1',
          litellm_key_id: sha256(key),
          litellm_available_models: ['granite-3-2-8b-instruct'],
          litellm_key_expires: provisioned.body.litellm_key_expires,
          expired: false,
          spend: 1.25,
          period_spend: 1.25,
          ...(h.litellm.release.totalSpend ? { total_spend: 1.25 } : {}),
          max_budget: 25,
          blocked: false,
          created_at: (answer.body.keys as { created_at: string }[])[0]?.created_at,
          package: 'ai-beginner',
          litellm_virtual_key: key,
        },
      ],
    });
    assert.match(String((answer.body.keys as { created_at: string }[])[0]?.created_at), /^2\d{3}-/);
    assert.equal(h.litellm.mutatingCalls(), 1);
    // The raw value is the ledger's sealed one, opened once.
    assert.equal(h.kms.callCount('Decrypt') - decrypts, 1);
  });

  it('shows expired and blocked keys, and leaves out the raw key for a client without read-key', async () => {
    const provisioned = await provision({ guid: 'stat2', package: 'lab-dev' });
    const keyId = String(provisioned.body.litellm_key_id);
    await setKeyExpiry(h, 'stat2', keyId, new Date(Date.now() - 3_600_000));
    await h.litellm.table.update(keyId, { blocked: true });
    const decrypts = h.kms.callCount('Decrypt');

    const answer = await invokeHttp(
      statusHandler,
      asClient(getKeysEvent('stat2'), 'viewer', ['read', 'all-labs']),
      lambdaContext(),
    );

    assert.equal(answer.status, 200);
    assert.equal(answer.body.state, 'active');
    const [entry] = answer.body.keys as Record<string, unknown>[];
    assert.equal(entry?.expired, true);
    assert.equal(entry?.blocked, true);
    assert.equal(entry?.litellm_key_id, keyId);
    assert.equal(entry?.package, 'lab-dev');
    assert.equal('litellm_virtual_key' in (entry ?? {}), false);
    assert.equal(h.kms.callCount('Decrypt'), decrypts, 'no value is opened for a client without read-key');
  });

  it('answers 404 for a lab without a key of ours, even when another system’s key holds the alias', async () => {
    await h.litellm.seedKey({ alias: 'virtkey-stat3', expires: null, metadata: { team: 'x' } });

    for (const guid of ['stat3', 'nosuchlab']) {
      const answer = await status(guid);
      assert.equal(answer.status, 404, guid);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:lab-not-found');
    }
  });

  it('refuses a bad guid or an unknown query parameter with 400', async () => {
    assert.equal((await status('Not-A-Guid')).status, 400);
    const typo = await status('stat4', { verbose: '1' });
    assert.equal(typo.status, 400);
    assert.deepEqual(typo.body.errors, [{ field: 'verbose', message: 'is not a known field' }]);
  });

  it('answers 503 while LiteLLM is unreachable', async () => {
    assert.equal((await provision({ guid: 'stat5' })).status, 201);
    h.litellm.faults.set({ resetRate: 1 });
    const answer = await status('stat5');
    h.litellm.faults.clear();
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '30');
  });
});
