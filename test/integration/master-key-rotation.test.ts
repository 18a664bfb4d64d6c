import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { linesLeaking } from '../support/checks/logs.ts';
import { lambdaContext, postKeysEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Harness, MASTER_KEY_SECRET_ID, startHarness } from '../support/harness.ts';

/**
 * The master key is cached per container for SECRETS_CACHE_MS, and dropped as soon as LiteLLM
 * refuses it, so a rotation needs no redeploy and costs at most one refused call.
 */
const CACHE_MS = 2000;
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
  h.secrets.replace(MASTER_KEY_SECRET_ID, ROTATED);
  // A new lab: a replay would be answered from the ledger, without the master key reaching LiteLLM.
  const cached = await invokeHttp(handler, postKeysEvent({ guid: 'rot1b' }), lambdaContext());
  h.litellm.rotateMasterKey(ROTATED);
  await sleep(CACHE_MS * 1.5);

  const fresh = await invokeHttp(handler, postKeysEvent({ guid: 'rot2' }), lambdaContext());

  assert.equal(before.status, 201);
  assert.equal(cached.status, 201, 'the cached key is used until the cache expires');
  assert.equal(fresh.status, 201);
  assert.deepEqual(linesLeaking([ROTATED]), []);
});

it('drops a master key LiteLLM refuses, so the next call reads the rotated one', async () => {
  // The current key is cached, and stays cached (for CACHE_MS) after the rotation below.
  assert.equal((await invokeHttp(handler, postKeysEvent({ guid: 'rot2' }), lambdaContext())).status, 200);
  h.litellm.rotateMasterKey('sk-rotated-master-key-2222');
  h.secrets.replace(MASTER_KEY_SECRET_ID, 'sk-rotated-master-key-2222');

  const stale = await invokeHttp(handler, postKeysEvent({ guid: 'rot3' }), lambdaContext());
  const fresh = await invokeHttp(handler, postKeysEvent({ guid: 'rot3' }), lambdaContext());

  assert.equal(stale.status, 503);
  assert.equal(stale.body.type, 'urn:litellm-virtual-keys:problem:litellm-master-key-refused');
  assert.equal(fresh.status, 201);
});
