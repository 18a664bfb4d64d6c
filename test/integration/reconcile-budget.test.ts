import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { lambdaContext, scheduledSweepEvent } from '../support/fixtures/events.ts';
import { seedRecordedKeys } from '../support/fixtures/recorded-keys.ts';
import { type Handler, useHarness } from '../support/harness.ts';

interface Report {
  readonly reconciliation: {
    readonly calls: number;
    readonly closed: number;
    readonly cycle_complete: boolean;
  };
}

let sweepHandler: Handler;
// Three LiteLLM calls a night: one listing page, one page of recorded keys, and the check that LiteLLM is not empty.
const { h } = useHarness(
  { RECONCILE_CALLS: '3' },
  {
    setUp: async () => {
      ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
    },
  },
);

const sweep = () => sweepHandler(scheduledSweepEvent(), lambdaContext(140_000)) as Promise<Report>;

it('checks the recorded keys a budget at a time, night after night, from where the last run stopped', async () => {
  const seeded = await seedRecordedKeys(
    h,
    Array.from({ length: 24 }, (_, index) => ({
      guid: `bud${index}`,
      expires: new Date(Date.now() + 30 * 86_400_000),
    })),
  );
  const gone = seeded.at(-1);
  assert.ok(gone);
  await h.litellm.table.deleteWithAudit([gone.keyId], 'operator', 'x');

  const nights: Report[] = [];
  while (nights.length < 12 && (nights.at(-1)?.reconciliation.closed ?? 0) === 0) nights.push(await sweep());

  // Each night stays within its budget and checks one page of the index; the cursor carries the walk on.
  assert.ok(
    nights.every((night) => night.reconciliation.calls <= 3),
    JSON.stringify(nights.map((n) => n.reconciliation)),
  );
  assert.equal(nights.at(-1)?.reconciliation.closed, 1);
  assert.deepEqual((await h.ledger.lab(gone.guid)).keys, []);
  assert.ok(nights.length > 1, 'one night’s budget does not cover every shard of the index');
  for (const key of seeded.slice(0, -1))
    assert.equal((await h.ledger.lab(key.guid)).keys[0]?.status, 'live', `${key.guid} kept`);
});
