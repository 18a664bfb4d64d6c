/**
 * A workshop morning in one container: 1,000 labs provisioned at once, plus 200 callers retrying a
 * provision that is still under way, against a LiteLLM answering each request after 5 ms.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { BUILT_IN_PACKAGES } from '../../lib/packages.ts';
import { burstRequests } from '../support/fixtures/burst.ts';
import { lambdaContext, postKeysEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { useHarness } from '../support/harness.ts';

const LABS = 1000;
const RETRIES = 200;
/** Not the default (10), so the test shows the environment sets the cap. */
const CONNECTION_CAP = 8;
const LATENCY_MS = 5;
const PACKAGES = Object.keys(BUILT_IN_PACKAGES);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/**
 * In AWS each container serves one invocation; here 1,200 share one client and queue for its
 * connections, so the last wait for nearly all the others. Deadlines and timeouts are stretched to
 * cover that queue on a slow machine; they are not what the suite measures.
 */
const INVOCATION_MS = 300_000;

const { h, route, issued } = useHarness(
  { LITELLM_MAX_CONNECTIONS: String(CONNECTION_CAP), LITELLM_TIMEOUT_MS: String(INVOCATION_MS) },
  { reset: false, clearFaults: false },
);

it('provisions 1,000 labs at once, with 200 repeated calls: one key each, never past the connection cap', async (t) => {
  h.litellm.faults.set({ latencyMs: LATENCY_MS });
  const requests = burstRequests(LABS, 'burst-');
  const started = Date.now();
  const answers = await Promise.all(
    requests.map(async (body) => ({
      body,
      answer: await invokeHttp(route.provision, postKeysEvent(body), lambdaContext(INVOCATION_MS)),
    })),
  );
  const wallMs = Date.now() - started;

  const failed = answers.filter(({ answer }) => answer.status !== 200 && answer.status !== 201);
  assert.deepEqual(
    failed.map(({ body, answer }) => `${body.guid}: ${answer.status} ${String(answer.body.detail)}`),
    [],
  );
  const statuses = answers.map(({ answer }) => answer.status);
  assert.equal(statuses.filter((s) => s === 201).length, LABS, 'one 201 per lab');
  assert.equal(statuses.filter((s) => s === 200).length, RETRIES, 'the second caller gets the same lab: 200');

  // Both callers of a lab hold the same key.
  const keyOf = new Map<string, string>();
  for (const { body, answer } of answers) {
    const key = String(answer.body.litellm_virtual_key);
    issued.add(key);
    assert.equal(keyOf.get(body.guid) ?? key, key, `${body.guid}: both callers get one key`);
    keyOf.set(body.guid, key);
  }

  // LiteLLM holds exactly those keys, one per lab, with the lab's models; the ledger records each, live.
  const rows = await h.litellm.table.db.query<{ token: string; key_alias: string; models: string[] }>(
    'SELECT token, key_alias, models FROM "LiteLLM_VerificationToken"',
  );
  assert.equal(rows.length, LABS, 'exactly 1,000 keys');
  const rowOf = new Map(rows.map((row) => [row.key_alias, row]));
  const recorded = new Map<string, { key_id?: unknown; status?: unknown }[]>();
  for (const guid of keyOf.keys()) recorded.set(guid, (await h.ledger.lab(guid)).keys);
  const mismatched = [...keyOf].filter(([guid, key], i) => {
    const row = rowOf.get(`virtkey-${guid}`);
    const models = BUILT_IN_PACKAGES[PACKAGES[i % PACKAGES.length] as string]?.models;
    const entries = recorded.get(guid) ?? [];
    return (
      row?.token !== sha256(key) ||
      JSON.stringify(row.models) !== JSON.stringify(models) ||
      entries.length !== 1 ||
      entries[0]?.key_id !== sha256(key) ||
      entries[0]?.status !== 'live'
    );
  });
  assert.deepEqual(mismatched, [], 'each lab’s LiteLLM key and recorded key are the key its callers got');
  // Each value sealed once, when its key was announced; each repeated call opened the one it was given.
  assert.equal(h.kms.callCount('Encrypt'), LABS);
  assert.equal(h.kms.callCount('Decrypt'), RETRIES);

  assert.ok(h.litellm.peakInFlight <= CONNECTION_CAP, `peak ${h.litellm.peakInFlight} in flight`);
  assert.equal(
    h.litellm.peakInFlight,
    CONNECTION_CAP,
    'the burst saturates the cap, so the cap is what held it',
  );
  const provisioned = h.bus.of('Virtual Key Provisioned');
  assert.equal(provisioned.filter((e) => e.detail.created === true).length, LABS);
  assert.equal(provisioned.length, LABS + RETRIES);

  t.diagnostic(
    `${requests.length} provisions in ${wallMs} ms; LiteLLM calls ${h.litellm.callCount()} ` +
      `(/key/generate ${h.litellm.callCount('POST /key/generate')}), KMS calls ` +
      `${h.kms.callCount()}, peak in flight ${h.litellm.peakInFlight}`,
  );
});
