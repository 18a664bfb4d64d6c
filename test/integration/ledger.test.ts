import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { labKey } from '../../lib/ledger/table.ts';
import { metricLines } from '../support/checks/logs.ts';
import {
  deleteKeysEvent,
  labDestroyedEvent,
  labProvisionedEvent,
  lambdaContext,
  listKeysEvent,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { useHarness } from '../support/harness.ts';
import { mulberry32 } from '../support/stand-ins/litellm/faults.ts';

const { h, route, issued } = useHarness();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const PREFIX = 'litellm-virtual-keys/';
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
    assert.equal(h.secrets.valueOf(`${PREFIX}virtkey-stale1`), undefined);
    const [failed] = h.bus.of('Virtual Key Failed');
    assert.equal(failed?.detail.reason, 'stale-event');
    assert.equal(failed?.detail.guid, 'stale1');

    const fresh = await route.provision(
      lifecycleEvent(labProvisionedEvent({ guid: 'stale1' }), new Date(Date.now() + 1000)),
      lambdaContext(),
    );
    assert.equal((fresh as Record<string, unknown>).outcome, 'created');
    assert.equal((await provision({ guid: 'stale1' })).status, 200);
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

  it('provision racing destroy ends clean every time: destroyed with nothing left, or provisioned with its value stored', async () => {
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
      const stored = h.secrets.valueOf(`${PREFIX}virtkey-${guid}`);
      const ledger = await h.ledger.lab(guid);
      if (ledger.lab?.lab_state === 'destroyed') {
        assert.equal(rows.total, 0, `${guid}: destroyed, yet a key is left`);
        assert.equal(stored, undefined, `${guid}: destroyed, yet a value is left`);
        assert.deepEqual(ledger.keys, []);
      } else {
        assert.equal(ledger.lab?.lab_state, 'active', `${guid}: ${ledger.lab?.lab_state}`);
        assert.equal(rows.total, 1, `${guid}: one key`);
        assert.equal(rows.rows[0]?.token, sha256(String(stored)), `${guid}: the key is the stored value`);
        assert.equal(ledger.keys.length, 1);
        assert.ok(values.includes(String(stored)), `${guid}: the live key was handed out`);
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
      return {
        ...labKey(`lab${i}`),
        guid: `lab${i}`,
        lab_state: destroyed ? 'destroyed' : 'active',
        package: packages[i % 3],
        client: clients[i % 2],
        target: 'default',
        created_at: new Date(now - DAY).toISOString(),
        expires_at: new Date(now + (i % 100) * DAY).toISOString(),
        ...(destroyed ? { destroyed_at: new Date(now).toISOString() } : {}),
      };
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
  });
});

describe('spend at destroy', () => {
  it('reads each key’s spend before deleting it, and answers and announces it per key and in total', async () => {
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
        ['virtkey-spend1-user1', 1.5, release.totalSpend ? 4.25 : undefined],
        ['virtkey-spend1-user2', 0.5, release.totalSpend ? 0.75 : undefined],
      ],
    );
    assert.equal(destroyed.body.total_spend, release.totalSpend ? 5 : 2);
    const event = h.bus.of('Virtual Key Destroyed').at(-1);
    assert.equal(event?.detail.total_spend, destroyed.body.total_spend);
    assert.deepEqual(event?.detail.spend, destroyed.body.spend);
    assert.equal((await h.ledger.lab('spend1')).lab?.total_spend, destroyed.body.total_spend);
  });
});

describe('labs from before the ledger', () => {
  it('adopts a lab on first touch: its key and stored value keep working, and it is recorded', async () => {
    const seeded = await h.litellm.seedKey({
      alias: 'virtkey-old7',
      expires: new Date(Date.now() + 10 * DAY),
      metadata: { managed_by: 'litellm-virtual-keys', guid: 'old7', package: 'ai-developer' },
      models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'],
    });
    h.secrets.put(`${PREFIX}virtkey-old7`, seeded.raw);

    const answer = await provision({ guid: 'old7' });

    assert.equal(answer.status, 200, 'the lab already had its key');
    assert.equal(answer.body.litellm_virtual_key, seeded.raw);
    const ledger = await h.ledger.lab('old7');
    assert.equal(ledger.lab?.adopted, true);
    assert.deepEqual(
      ledger.keys.map((key) => key.key_id),
      [seeded.token],
    );
  });
});
