import '../support/fixtures/quiet-logs.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Deadline } from '../../lib/deadline.ts';
import { NotFoundError, UnavailableError } from '../../lib/errors.ts';
import { extendLab } from '../../lib/extend/extend-lab.ts';
import { parseExtendRequest } from '../../lib/extend/request.ts';
import { StaleEventError } from '../../lib/lab/lifecycle.ts';
import { GuidTakenError } from '../../lib/lab/ownership.ts';
import type { Lab } from '../../lib/ledger/lab-record.ts';
import { HeldLab, LeaseLostError, underLease } from '../../lib/ledger/lease.ts';
import { GUID, OWNER, World } from '../support/fakes/lab-world.ts';
import type { MemoryLiteLlm } from '../support/fakes/memory-litellm.ts';

const keysOf = (world: World, target = 'default') => [...(world.proxies[target]?.keys.values() ?? [])];

/** A provisioned lab whose key expired, visited by a sweep whose lease then lapsed. */
async function sweepThatLapses(world: World) {
  await world.step('provision');
  world.advance(2 * 3_600_000);
  const sweep = await world.store.acquire(GUID, 'sweep', world.time + 60_000, world.time);
  assert.ok(sweep);
  world.advance(61_000);
  return sweep;
}

/** What the lapsed sweep would write before its /key/delete: the keys announced as being deleted. */
function announceDeletion(world: World, sweep: Lab) {
  return new HeldLab(world.store, sweep).record((lab) => ({
    ...lab,
    keys: lab.keys.map((key) => ({ ...key, status: 'deleting' })),
  }));
}

describe('the lease', () => {
  it('is refused while held, taken over once it lapses, and the lapsed holder can no longer write', async () => {
    const world = new World();
    const first = await world.store.acquire(GUID, 'a', world.time + 1000, world.time);
    assert.ok(first);
    assert.equal(await world.store.acquire(GUID, 'b', world.time + 1000, world.time), undefined);
    const lapsed = new HeldLab(world.store, first);
    world.advance(2000);
    assert.ok(await world.store.acquire(GUID, 'b', world.time + 1000, world.time));
    await assert.rejects(
      lapsed.record((lab) => ({ ...lab, state: 'active' })),
      LeaseLostError,
    );
    assert.equal(world.store.lab(GUID).lease?.owner, 'b');
  });

  it('ends a wait with the answer another request left, and gives the lease back after a failure', async () => {
    const world = new World();
    await world.store.acquire(GUID, 'a', world.time + 60_000, world.time);
    const lease = {
      store: world.store,
      owner: 'b',
      deadline: new Deadline(world.time + 30_000),
      now: world.now,
      pause: async (ms: number) => world.advance(ms),
    };
    const answer = await underLease(
      GUID,
      lease,
      async () => 'ran',
      async (lab) => (lab.lease ? 'settled' : undefined),
    );
    assert.equal(answer, 'settled');
    world.advance(120_000);
    await assert.rejects(
      underLease(GUID, lease, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(world.store.lab(GUID).lease, undefined);
  });
});

describe('generations and intents', () => {
  it('records a key as intended, with its sealed value, before /key/generate is sent', async () => {
    const world = new World();
    const seen: string[] = [];
    const proxy = world.proxies.default;
    const generate = proxy?.generateKey.bind(proxy);
    if (!proxy || !generate) throw new Error('no proxy');
    proxy.generateKey = async (request) => {
      seen.push(...world.store.lab(GUID).keys.map((key) => `${key.status}:${(key.sealed ?? '').length > 0}`));
      return generate(request);
    };
    await world.step('provision');
    assert.deepEqual(seen, ['intended:true']);
    assert.equal(world.store.lab(GUID).keys[0]?.status, 'live');
  });

  it('starts a new generation after a destroy, and refuses an extend event older than its start', async () => {
    const world = new World();
    await world.step('provision');
    world.advance(1000);
    const before = world.now();
    world.advance(1000);
    await world.step('destroy');
    world.advance(1000);
    await world.step('provision');
    assert.equal(world.store.lab(GUID).generation, 2);
    const deps = await world.deps(OWNER, 'default');
    const stale = {
      ...deps,
      lifecycle: { ...deps.lifecycle, trigger: 'event' as const, occurredAt: before },
    };
    await assert.rejects(
      extendLab(parseExtendRequest({ guid: GUID, duration: '90d' }, 'event', world.now()), stale),
      StaleEventError,
    );
    assert.ok(keysOf(world).every((key) => Date.parse(key.expires ?? '') < world.time + 2 * 3_600_000));
  });

  it('deletes a key LiteLLM applies after its lab was destroyed, at the next sweep', async () => {
    const world = new World(undefined, [true, false]);
    await assert.rejects(world.step('provision'));
    await world.step('provision');
    await world.step('destroy');
    assert.equal(keysOf(world).length, 0);
    world.proxies.default?.applyLate();
    assert.equal(keysOf(world).length, 1, 'the held generate landed');
    world.advance(60_000);
    await world.sweep();
    assert.equal(keysOf(world).length, 0);
  });

  it('never deletes a key an extend took over from a sweep whose lease lapsed', async () => {
    const world = new World();
    const sweep = await sweepThatLapses(world);
    await world.step('extend');
    await assert.rejects(announceDeletion(world, sweep), LeaseLostError);
    assert.equal(keysOf(world).length, 1);
    assert.ok(Date.parse(keysOf(world)[0]?.expires ?? '') > world.time + 9 * 86_400_000);
  });

  it('never lets a sweep that read one generation delete the next one’s key', async () => {
    const world = new World();
    const sweep = await sweepThatLapses(world);
    await world.step('destroy');
    await world.step('provision');
    const fresh = keysOf(world);
    await assert.rejects(announceDeletion(world, sweep), LeaseLostError);
    assert.equal(world.store.lab(GUID).generation, 2);
    assert.deepEqual(keysOf(world), fresh);
    assert.equal(world.store.lab(GUID).keys[0]?.status, 'live');
  });
});

describe('keys that come and go', () => {
  it('reuses the key a failed replacement announced: the retry makes one key, and the next call replays it', async () => {
    const world = new World();
    await world.step('provision');
    world.advance(2 * 3_600_000);
    const proxy = world.proxies.default as MemoryLiteLlm;
    const deleteKeys = proxy.deleteKeys.bind(proxy);
    proxy.deleteKeys = async () => {
      proxy.deleteKeys = deleteKeys;
      throw new UnavailableError('LiteLLM /key/delete timed out');
    };
    await assert.rejects(world.step('provision'), UnavailableError);
    await world.step('provision');
    const [key] = keysOf(world);
    assert.equal(keysOf(world).length, 1);
    assert.deepEqual(
      world.store.lab(GUID).keys.map((entry) => [entry.keyId, entry.status]),
      [[key?.token, 'live']],
    );
    const before = world.store.lab(GUID).version;
    await world.step('provision');
    assert.equal(world.store.lab(GUID).version, before, 'a replay writes nothing');
  });

  it('deletes a key that vanished from LiteLLM and came back (a restored proxy) instead of leaving it unrecorded', async () => {
    const world = new World();
    await world.step('provision');
    const proxy = world.proxies.default as MemoryLiteLlm;
    const [row] = keysOf(world);
    assert.ok(row);
    proxy.keys.delete(row.token);
    await assert.rejects(world.step('extend'), NotFoundError);
    assert.deepEqual(
      world.store.lab(GUID).rechecks.map((recheck) => recheck.keyId),
      [row.token],
    );
    proxy.keys.set(row.token, row);
    await world.step('destroy');
    assert.equal(keysOf(world).length, 0);
  });
});

describe('ownership and moves', () => {
  it('refuses another client’s provision of a live guid without handing out its key', async () => {
    const world = new World();
    await world.step('provision');
    await assert.rejects(world.step('squat'), GuidTakenError);
    assert.equal(keysOf(world).length, 1);
  });

  it('moves once; a repeated move changes nothing and says where the lab came from', async () => {
    const world = new World();
    await world.step('provision');
    await world.step('move');
    const version = world.store.lab(GUID).version;
    const { moveLab } = await import('../../lib/move/move-lab.ts');
    const { parseMoveRequest } = await import('../../lib/move/request.ts');
    const again = await moveLab(
      parseMoveRequest({ guid: GUID, target: 'east' }),
      await world.deps(OWNER, 'east'),
    );
    assert.equal(again.changed, false);
    assert.equal(again.from, 'default');
    assert.equal(keysOf(world, 'default').length, 0);
    assert.equal(keysOf(world, 'east').length, 1);
    assert.equal(world.store.lab(GUID).version, version + 2, 'only the lease was taken and given back');
  });
});
