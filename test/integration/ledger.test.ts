import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Lab, labToItem } from '../../lib/ledger/lab-record.ts';
import { metricLines } from '../support/checks/logs.ts';
import {
  asClient,
  deleteKeysEvent,
  labDestroyedEvent,
  labProvisionedEvent,
  lambdaContext,
  listKeysEvent,
  postKeysEvent,
  scheduledSweepEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Handler, setKeyExpiry, useHarness } from '../support/harness.ts';
import { mulberry32 } from '../support/stand-ins/litellm/faults.ts';

let sweepHandler: Handler;
const importSweep = async () => {
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
};
const { h, route, issued } = useHarness({}, { setUp: importSweep });
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const DAY = 86_400_000;

async function provision(body: Record<string, unknown>) {
  const answer = await invokeHttp(route.provision, postKeysEvent(body), lambdaContext());
  if (typeof answer.body.litellm_virtual_key === 'string') issued.add(answer.body.litellm_virtual_key);
  return answer;
}
const destroy = (guid: string) => invokeHttp(route.destroy, deleteKeysEvent(guid), lambdaContext());
const lifecycleEvent = (event: ReturnType<typeof labProvisionedEvent>, time: Date) => ({
  ...event,
  time: time.toISOString(),
});
const keysCreated = () =>
  metricLines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((metric) => 'KeysCreated' in metric)
    .reduce((sum, metric) => sum + Number(metric.KeysCreated), 0);

const list = (query: Record<string, string>) =>
  invokeHttp(route.status, listKeysEvent(query), lambdaContext());

/** A lab as the ledger keeps it, without keys: enough for the listing's indexes. */
function labSummary(guid: string, fields: Partial<Lab>): Lab {
  return { guid, version: 1, generation: 1, target: 'default', keys: [], rechecks: [], ...fields };
}

describe('order and idempotence', () => {
  it('gives exactly one of 20 concurrent first provisions a 201, one event and one KeysCreated', async () => {
    const before = keysCreated();
    h.litellm.faults.set({ latencyMs: 10 });

    const answers = await Promise.all(Array.from({ length: 20 }, () => provision({ guid: 'first20' })));

    assert.deepEqual(
      answers.map((answer) => answer.status).sort((a, b) => a - b),
      [...Array.from({ length: 19 }, () => 200), 201],
    );
    assert.equal(new Set(answers.map((answer) => answer.body.litellm_virtual_key)).size, 1);
    const announced = h.bus.of('Virtual Key Provisioned');
    assert.equal(announced.filter((event) => event.detail.created === true).length, 1);
    assert.equal(keysCreated() - before, 1);
    assert.equal(await h.litellm.table.count(), 1);
  });

  it('refuses a repeat whose package, models, budget or shape differ, naming each; an identical repeat is 200', async () => {
    assert.equal((await provision({ guid: 'same1', package: 'ai-beginner' })).status, 201);
    assert.equal((await provision({ guid: 'multi1', users: 2 })).status, 201);

    const identical = await provision({ guid: 'same1', package: 'ai-beginner' });
    const differs = await provision({ guid: 'same1', package: 'ai-researcher', max_budget: 5 });
    const models = await provision({
      guid: 'same1',
      package: 'ai-beginner',
      models: ['mistral-7b-instruct'],
    });
    const shape = await provision({ guid: 'multi1' });
    const moreUsers = await provision({ guid: 'multi1', users: 3 });

    assert.equal(identical.status, 200);
    assert.equal(differs.status, 409);
    assert.equal(differs.body.type, 'urn:litellm-virtual-keys:problem:lab-differs');
    assert.deepEqual(
      (differs.body.errors as { field: string }[]).map((error) => error.field),
      ['package', 'models', 'max_budget'],
    );
    assert.deepEqual(
      (models.body.errors as { field: string }[]).map((error) => error.field),
      ['models'],
    );
    assert.equal(shape.status, 409);
    assert.deepEqual(
      (shape.body.errors as { field: string; message: string }[]).map((error) => error.field),
      ['users'],
    );
    assert.equal(moreUsers.status, 201, 'adding users to a multi-user lab is allowed');
    assert.equal(await h.litellm.table.count(), 4, 'one single-user key, three users’ keys: no lab-wide key');
  });

  it('refuses a Lab Provisioned older than the lab’s destroy as stale, settling it; a newer one provisions', async () => {
    const sent = new Date(Date.now() - 60_000);
    assert.equal((await provision({ guid: 'stale1' })).status, 201);
    assert.equal((await destroy('stale1')).status, 200);

    const stale = await route.provision(
      lifecycleEvent(labProvisionedEvent({ guid: 'stale1' }), sent),
      lambdaContext(),
    );

    assert.deepEqual(
      [(stale as Record<string, unknown>).outcome, (stale as Record<string, unknown>).status],
      ['rejected', 409],
    );
    assert.equal(await h.litellm.table.count(), 0);
    const tombstone = await h.ledger.lab('stale1');
    assert.deepEqual([tombstone.lab?.lab_state, tombstone.keys], ['destroyed', []], 'the tombstone stays');
    const [failed] = h.bus.of('Virtual Key Failed');
    assert.equal(failed?.detail.reason, 'stale-event');
    assert.equal(failed?.detail.guid, 'stale1');

    const fresh = await route.provision(
      lifecycleEvent(labProvisionedEvent({ guid: 'stale1' }), new Date(Date.now() + 1000)),
      lambdaContext(),
    );
    assert.equal((fresh as Record<string, unknown>).outcome, 'created');
    const renewed = await h.ledger.lab('stale1');
    assert.deepEqual(
      [renewed.lab?.lab_state, renewed.lab?.generation, renewed.lab?.client],
      ['active', 2, 'event:rhdp.lab'],
      'a new generation, owned by the event source',
    );
    assert.deepEqual(
      renewed.keys.map((key) => [key.alias, key.status]),
      [['virtkey-stale1', 'live']],
    );
    assert.equal(await h.litellm.table.count(), 1);
  });

  it('refuses a Lab Destroyed older than the lab’s current provision, and a Lab Destroyed for a lab never seen leaves a tombstone', async () => {
    const older = new Date(Date.now() - 60_000);
    assert.equal((await provision({ guid: 'stale2' })).status, 201);

    const stale = await route.destroy(
      lifecycleEvent(labDestroyedEvent({ guid: 'stale2' }), older),
      lambdaContext(),
    );
    const early = await route.destroy(labDestroyedEvent({ guid: 'never1' }), lambdaContext());
    const late = await route.provision(
      lifecycleEvent(labProvisionedEvent({ guid: 'never1' }), older),
      lambdaContext(),
    );

    assert.equal((stale as Record<string, unknown>).status, 409);
    assert.equal(await h.litellm.table.count(), 1, 'the lab keeps its key');
    assert.equal((early as Record<string, unknown>).outcome, 'already-gone');
    assert.equal((await h.ledger.lab('never1')).lab?.lab_state, 'destroyed');
    assert.equal(
      (late as Record<string, unknown>).status,
      409,
      'delivered after the destroy, sent before it',
    );
  });

  it('provision racing destroy ends clean every time: destroyed with nothing left, or provisioned with its key recorded', async () => {
    const random = mulberry32(11);
    const handed = new Map<string, Set<string>>();
    for (let round = 0; round < 12; round++) {
      const guid = `race${round}`;
      const calls = Array.from({ length: 16 }, () => (random() < 0.5 ? 'provision' : 'destroy'));
      const answers = await Promise.all(
        calls.map(async (call, index) => {
          await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 30) + index));
          return call === 'provision' ? provision({ guid }) : destroy(guid);
        }),
      );
      for (const answer of answers) assert.ok(answer.status < 500, JSON.stringify(answer.body));
      const values = answers.flatMap((answer) =>
        typeof answer.body.litellm_virtual_key === 'string' ? [answer.body.litellm_virtual_key] : [],
      );
      handed.set(guid, new Set(values));

      const rows = await h.litellm.table.list({ key_alias: `virtkey-${guid}` }, 1, 100);
      const ledger = await h.ledger.lab(guid);
      if (ledger.lab?.lab_state === 'destroyed') {
        assert.equal(rows.total, 0, `${guid}: destroyed, yet a key is left`);
        assert.deepEqual(ledger.keys, [], `${guid}: destroyed, yet a key is recorded`);
      } else {
        assert.equal(ledger.lab?.lab_state, 'active', `${guid}: ${ledger.lab?.lab_state}`);
        assert.equal(rows.total, 1, `${guid}: one key`);
        assert.deepEqual(
          ledger.keys.map((key) => [key.key_id, key.status]),
          [[rows.rows[0]?.token, 'live']],
          `${guid}: the key in LiteLLM is the one recorded`,
        );
        assert.ok(
          values.some((value) => sha256(value) === rows.rows[0]?.token),
          `${guid}: the live key was handed out`,
        );
      }
    }
  });
});

describe('GET /keys', () => {
  it('lists 10,000 labs from the ledger, filtered by state, package, client and expiry, page by page', async () => {
    const now = Date.now();
    const packages = ['ai-beginner', 'ai-developer', 'lab-prod'];
    const clients = ['rhdp', 'partner'];
    const items = Array.from({ length: 10_000 }, (_, i) => {
      const destroyed = i % 10 === 0;
      return labToItem(
        labSummary(`lab${i}`, {
          state: destroyed ? 'destroyed' : 'active',
          package: packages[i % 3],
          client: clients[i % 2],
          createdAt: new Date(now - DAY).toISOString(),
          lastExpiry: new Date(now + (i % 100) * DAY).toISOString(),
          ...(destroyed ? { destroyedAt: new Date(now).toISOString() } : {}),
        }),
      ) as { guid: string; lab_state: string; package: string; client: string; expires_at: string };
    });
    await h.ledger.putItems(items);
    const expectedActive = items.filter((item) => item.lab_state === 'active');
    const before = new Date(now + 10 * DAY).toISOString();
    const expected = expectedActive.filter(
      (item) => item.package === 'lab-prod' && item.client === 'partner' && item.expires_at < before,
    );

    const seen: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const answer = await list({
        state: 'active',
        package: 'lab-prod',
        client: 'partner',
        expires_before: before,
        limit: '100',
        ...(cursor ? { cursor } : {}),
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const labs = answer.body.labs as Record<string, unknown>[];
      assert.ok(labs.length <= 100);
      seen.push(...labs);
      cursor = (answer.body.next_cursor as string | null) ?? undefined;
      pages++;
    } while (cursor);

    assert.equal(seen.length, expected.length);
    assert.deepEqual(
      new Set(seen.map((lab) => lab.guid)),
      new Set(expected.map((item) => item.guid)),
      'every matching lab once',
    );
    const expiries = seen.map((lab) => String(lab.litellm_key_expires));
    assert.deepEqual(expiries, [...expiries].sort(), 'soonest expiry first');
    assert.ok(pages >= Math.ceil(expected.length / 100));
    assert.deepEqual(Object.keys(seen[0] ?? {}).sort(), [
      'client',
      'created_at',
      'guid',
      'litellm_key_expires',
      'package',
      'state',
      'target',
      'users',
    ]);

    const all = await list({ limit: '1000' });
    assert.equal((all.body.labs as unknown[]).length, 1000);
    const destroyed = await list({ state: 'destroyed', limit: '1000' });
    assert.equal((destroyed.body.labs as unknown[]).length, 1000);
    assert.equal(destroyed.body.next_cursor, null);
  });

  it('lists a provisioned lab with its client, and refuses a cursor it did not give', async () => {
    await provision({ guid: 'listed1', package: 'lab-dev' });

    const answer = await list({ package: 'lab-dev' });
    const bad = await list({ cursor: 'not-a-cursor' });
    const limit = await list({ limit: '5000' });
    // Cursors shaped like the service's but not its own: a query out of range, a key it never names.
    const cursor = (position: unknown) => Buffer.from(JSON.stringify(position)).toString('base64url');
    const tampered = await Promise.all([
      list({ cursor: cursor({ s: -1 }) }),
      list({ cursor: cursor({ s: 9 }) }),
      list({ cursor: cursor({ s: 0, k: { pk: 'LAB#listed1', secret: 'x' } }) }),
      list({ cursor: cursor({ s: 0, k: { pk: { S: 'LAB#x' } } }) }),
    ]);

    assert.deepEqual(
      (answer.body.labs as Record<string, unknown>[]).map((lab) => [
        lab.guid,
        lab.state,
        lab.client,
        lab.target,
      ]),
      [['listed1', 'active', 'rhdp', 'default']],
    );
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body.errors as { field: string }[]).map((e) => e.field),
      ['cursor'],
    );
    assert.equal(limit.status, 400);
    assert.deepEqual(
      tampered.map((answer) => [answer.status, (answer.body.errors as { field: string }[])?.[0]?.field]),
      Array.from({ length: 4 }, () => [400, 'cursor']),
    );
  });

  it('reads a client’s page from its own index: at most 3 DynamoDB requests whatever 3,000 labs of others hold', async () => {
    const now = Date.now();
    const states = ['active', 'expired', 'destroyed'] as const;
    await h.ledger.putItems(
      Array.from({ length: 3_000 }, (_, i) =>
        labToItem(
          labSummary(`other${i}`, {
            state: states[i % 3],
            client: `other-client${i % 7}`,
            package: 'ai-developer',
            createdAt: new Date(now - DAY).toISOString(),
            lastExpiry: new Date(now + (i % 50) * DAY).toISOString(),
            ...(i % 3 === 2 ? { destroyedAt: new Date(now).toISOString() } : {}),
          }),
        ),
      ),
    );
    const portal = <T extends ReturnType<typeof listKeysEvent>>(event: T) =>
      asClient(event, 'portal', ['provision', 'list']);
    for (const guid of ['own1', 'own2']) {
      const made = await invokeHttp(route.provision, portal(postKeysEvent({ guid })), lambdaContext());
      assert.equal(made.status, 201, JSON.stringify(made.body));
      issued.add(String(made.body.litellm_virtual_key));
    }

    const pages: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    do {
      h.ledger.resetCounters();
      const answer = await invokeHttp(
        route.status,
        portal(listKeysEvent({ limit: '1', ...(cursor ? { cursor } : {}) })),
        lambdaContext(),
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.ok(h.ledger.callCount() <= 3, `DynamoDB requests: ${JSON.stringify([...h.ledger.calls])}`);
      assert.equal(h.ledger.callCount('Scan'), 0);
      assert.ok(h.ledger.callCount('Query') >= 1);
      pages.push(...(answer.body.labs as Record<string, unknown>[]));
      cursor = (answer.body.next_cursor as string | null) ?? undefined;
    } while (cursor && pages.length < 10);

    assert.deepEqual(pages.map((lab) => [lab.guid, lab.state, lab.client]).sort(), [
      ['own1', 'active', 'portal'],
      ['own2', 'active', 'portal'],
    ]);
  });

  it('lists a lab whose keys the sweep removed as expired, not active', async () => {
    const made = await provision({ guid: 'swept1' });
    assert.equal(made.status, 201);
    await provision({ guid: 'kept1' });
    await setKeyExpiry(
      h,
      'swept1',
      sha256(String(made.body.litellm_virtual_key)),
      new Date(Date.now() - DAY),
    );

    const report = (await sweepHandler(scheduledSweepEvent(), lambdaContext(140_000))) as Record<
      string,
      unknown
    >;

    assert.equal(report.deleted, 1, JSON.stringify(report));
    const swept = await h.ledger.lab('swept1');
    assert.deepEqual([swept.lab?.lab_state, swept.keys], ['expired', []]);
    const expired = await list({ state: 'expired' });
    const active = await list({ state: 'active' });
    assert.deepEqual(
      (expired.body.labs as Record<string, unknown>[]).map((lab) => [lab.guid, lab.state, lab.client]),
      [['swept1', 'expired', 'rhdp']],
    );
    assert.notEqual((expired.body.labs as Record<string, unknown>[])[0]?.litellm_key_expires, null);
    assert.deepEqual(
      (active.body.labs as Record<string, unknown>[]).map((lab) => lab.guid),
      ['kept1'],
    );
  });
});

describe('spend at destroy', () => {
  it('reads each key’s spend before deleting it (the larger of lifetime and period), and answers and announces it per key and in total', async () => {
    const answer = await provision({ guid: 'spend1', users: 2 });
    const keys = (answer.body.users as { litellm_virtual_key: string }[]).map((u) =>
      sha256(u.litellm_virtual_key),
    );
    await h.litellm.table.update(keys[0] ?? '', { spend: 1.5, total_spend: 4.25 });
    await h.litellm.table.update(keys[1] ?? '', { spend: 0.5, total_spend: 0.75 });

    const destroyed = await destroy('spend1');

    const release = h.litellm.release;
    const spend = destroyed.body.spend as {
      litellm_key_alias: string;
      spend: number;
      total_spend?: number;
    }[];
    assert.deepEqual(
      spend.map((key) => [key.litellm_key_alias, key.spend, key.total_spend]),
      [
        ['virtkey-spend1-user1', release.totalSpend ? 4.25 : 1.5, release.totalSpend ? 4.25 : undefined],
        ['virtkey-spend1-user2', release.totalSpend ? 0.75 : 0.5, release.totalSpend ? 0.75 : undefined],
      ],
    );
    assert.equal(destroyed.body.total_spend, release.totalSpend ? 5 : 2);
    const event = h.bus.of('Virtual Key Destroyed').at(-1);
    assert.equal(event?.detail.total_spend, destroyed.body.total_spend);
    assert.deepEqual(event?.detail.spend, destroyed.body.spend);
    assert.equal((await h.ledger.lab('spend1')).lab?.total_spend, destroyed.body.total_spend);
  });
});
