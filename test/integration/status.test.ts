import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Context } from 'aws-lambda';
import { linesLeaking } from '../support/checks/logs.ts';
import { getKeysEvent, lambdaContext, postKeysEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Harness, MASTER_KEY, startHarness } from '../support/harness.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let h: Harness;
let provisionHandler: Handler;
let statusHandler: Handler;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const status = (guid: string, query?: Record<string, string>) =>
  invokeHttp(statusHandler, getKeysEvent(guid, query), lambdaContext());

before(async () => {
  h = await startHarness();
  ({ handler: provisionHandler } = (await import('../../functions/provision.ts')) as { handler: Handler });
  ({ handler: statusHandler } = (await import('../../functions/status.ts')) as { handler: Handler });
});
beforeEach(() => h.reset());
after(async () => {
  await h.close();
  // The stored key is in the status answer by design; it must still never reach a log line.
  assert.deepEqual(linesLeaking([MASTER_KEY, ...h.litellm.issuedKeys]), []);
});

describe('GET /keys/{guid}', () => {
  it('returns the lab’s key with its models, expiry, spend, budget, blocked flag and stored value', async () => {
    const provisioned = await invokeHttp(
      provisionHandler,
      postKeysEvent({ guid: 'stat1', package: 'ai-beginner', max_budget: 25 }),
      lambdaContext(),
    );
    const key = String(provisioned.body.litellm_virtual_key);
    await h.litellm.table.update(sha256(key), { spend: 1.25 });

    const answer = await status('stat1');

    assert.equal(answer.status, 200);
    const secretArn = h.secrets.secrets.get('litellm-virtual-keys/virtkey-stat1')?.arn;
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
          ...(h.litellm.release.totalSpend ? { total_spend: 0 } : {}),
          max_budget: 25,
          blocked: false,
          created_at: (answer.body.keys as { created_at: string }[])[0]?.created_at,
          package: 'ai-beginner',
          litellm_virtual_key: key,
          secret_arn: secretArn,
        },
      ],
    });
    assert.match(String((answer.body.keys as { created_at: string }[])[0]?.created_at), /^2\d{3}-/);
    assert.equal(h.litellm.mutatingCalls(), 1);
  });

  it('shows expired and blocked keys, and leaves out the raw key when it is not stored', async () => {
    const seeded = await h.litellm.seedKey({
      alias: 'virtkey-stat2',
      expires: new Date(Date.now() - 3_600_000),
      metadata: { managed_by: 'litellm-virtual-keys', guid: 'stat2', package: 'lab-dev' },
      models: ['mistral-7b-instruct'],
    });
    await h.litellm.table.update(seeded.token, { blocked: true });

    const answer = await status('stat2');

    assert.equal(answer.status, 200);
    const [entry] = answer.body.keys as Record<string, unknown>[];
    assert.equal(entry?.expired, true);
    assert.equal(entry?.blocked, true);
    assert.equal(entry?.litellm_key_id, seeded.token);
    assert.equal('litellm_virtual_key' in (entry ?? {}), false);
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
    h.litellm.faults.set({ resetRate: 1 });
    const answer = await status('stat5');
    h.litellm.faults.clear();
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '30');
  });
});
