import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { lambdaContext, postKeysEvent } from '../support/events.ts';
import { type Harness, MASTER_KEY_SECRET_ID, startHarness } from '../support/harness.ts';
import { invokeHttp } from '../support/http.ts';
import { linesLeaking } from '../support/logs.ts';

/** The master key is cached per container for SECRETS_CACHE_MS only, so a rotation needs no redeploy. */
const CACHE_MS = 300;
const ROTATED = 'sk-rotated-master-key-1111';
let h: Harness;
let handler: (event: unknown, context: Context) => Promise<unknown>;

before(async () => {
  h = await startHarness({ SECRETS_CACHE_MS: String(CACHE_MS) });
  ({ handler } = (await import('../../functions/provision.ts')) as { handler: typeof handler });
});
after(() => h.close());

it('picks up a rotated master key once the cache expires', async () => {
  const before = await invokeHttp(handler, postKeysEvent({ guid: 'rot1' }), lambdaContext());
  h.litellm.rotateMasterKey(ROTATED);
  h.secrets.reset();
  h.secrets.put(MASTER_KEY_SECRET_ID, ROTATED);

  const stale = await invokeHttp(handler, postKeysEvent({ guid: 'rot2' }), lambdaContext());
  await sleep(CACHE_MS * 3);
  const fresh = await invokeHttp(handler, postKeysEvent({ guid: 'rot2' }), lambdaContext());

  assert.equal(before.status, 201);
  assert.equal(stale.status, 502, 'the cached old key is refused by LiteLLM until the cache expires');
  assert.equal(fresh.status, 201);
  assert.deepEqual(linesLeaking([ROTATED]), []);
});
