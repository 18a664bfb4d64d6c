import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoLabStore } from '../../lib/ledger/lab-store.ts';
import { watchInFlight } from '../../lib/watch/in-flight-watch.ts';
import { logEntries, metricLines } from '../support/checks/logs.ts';
import { lambdaContext, postKeysEvent, sampleEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Handler, useHarness } from '../support/harness.ts';

let handler: Handler;
const { h, route, issued } = useHarness(
  {},
  {
    setUp: async () => {
      ({ handler } = (await import('../../functions/in-flight-watch.ts')) as { handler: Handler });
    },
  },
);

const MINUTE = 60_000;

/** A lease taken at `at` whose holder never gives it back (it died, or hangs). */
async function abandonedLease(guid: string, at: number): Promise<void> {
  const store = new DynamoLabStore(h.ledger.tableName);
  assert.ok(await store.acquire(guid, `request-of-${guid}`, at + 5 * MINUTE, at), `lease of ${guid} taken`);
}

/** What a run of the watch wrote: each lab it named, and its two figures. */
async function watched(run: () => Promise<unknown>) {
  const [logsFrom, metricsFrom] = [logEntries().length, metricLines.length];
  await run();
  const named = logEntries()
    .slice(logsFrom)
    .filter((entry) => entry.message === 'lab in flight too long')
    .map((entry) => [entry.guid, entry.lease_owner, entry.lease_state, entry.minutes]);
  const figures = metricLines
    .slice(metricsFrom)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((emf) => 'LabsInFlightTooLong' in emf)
    .map((emf) => [emf.LabsInFlightTooLong, emf.OldestInFlightSeconds]);
  return { named, figures };
}

describe('the in-flight watch', () => {
  it('finds a lease abandoned 15 minutes ago, and not before', async () => {
    const provisioned = await invokeHttp(route.provision, postKeysEvent({ guid: 'fly0' }), lambdaContext());
    issued.add(String(provisioned.body.litellm_virtual_key));
    const taken = Date.now();
    await abandonedLease('fly1', taken);

    const early = await watched(() => watchInFlight(h.ledger.tableName, new Date(taken + 15 * MINUTE)));
    const late = await watched(() => watchInFlight(h.ledger.tableName, new Date(taken + 16 * MINUTE + 500)));

    assert.equal(provisioned.status, 201, 'a lab whose provision ended is not in flight');
    assert.deepEqual(early, { named: [], figures: [[0, 0]] });
    assert.deepEqual(late, { named: [['fly1', 'request-of-fly1', 'lapsed', 16]], figures: [[1, 960]] });
    const [line] = logEntries().filter((entry) => entry.guid === 'fly1');
    assert.equal(line?.level, 'warn');
    assert.equal(line?.in_flight_since, new Date(taken).toISOString());
  });

  it('runs as scheduled: every lab in flight too long named once, the oldest counted', async () => {
    await abandonedLease('fly2', Date.now() - 40 * MINUTE);
    await abandonedLease('fly3', Date.now() - 20 * MINUTE);
    await abandonedLease('fly4', Date.now() - 10 * MINUTE);

    const run = await watched(() =>
      handler(sampleEvent('schedule-sweep.json'), lambdaContext()).then((report) =>
        assert.deepEqual(Object.keys(report as object), ['too_long', 'oldest_seconds']),
      ),
    );

    assert.deepEqual(run.named.map(([guid]) => guid).sort(), ['fly2', 'fly3']);
    assert.equal(run.figures.length, 1);
    assert.equal(run.figures[0]?.[0], 2);
    assert.ok(Math.abs(Number(run.figures[0]?.[1]) - 40 * 60) < 60, `oldest ${run.figures[0]?.[1]} s`);
  });
});
