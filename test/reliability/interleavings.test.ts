import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { Deadline } from '../../lib/deadline.ts';
import { tryLease } from '../../lib/ledger/lease.ts';
import type { Exploration } from '../support/fakes/explore-interleavings.ts';
import { GUID, World } from '../support/fakes/lab-world.ts';
import type { MemoryLiteLlm } from '../support/fakes/memory-litellm.ts';

const RUNS = 10_000;

const ROLE_MADE_RUNS = 5_000;

/** The explorer in a process of its own (node's test runner slows it several times over). */
function explore(runs: number, kind: 'lab' | 'role-made'): Exploration {
  const script = new URL('../support/fakes/explore-interleavings.ts', import.meta.url).pathname;
  const child = spawnSync(process.execPath, ['--import', 'tsx', script, String(runs), '24', kind], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(child.status, 0, child.stderr);
  const exploration = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as Exploration;
  assert.equal(exploration.failure, undefined, exploration.failure);
  assert.equal(exploration.schedules, runs);
  process.stdout.write(
    `# interleavings (${kind}): ${exploration.schedules} schedules in ${exploration.ms} ms\n`,
  );
  return exploration;
}

it(`keeps the six invariants in ${RUNS} orders of provision, extend, destroy, sweep, move and late applies`, () => {
  explore(RUNS, 'lab');
});

it(`takes the Ansible role's keys over once, deleting them only as recorded, in ${ROLE_MADE_RUNS} orders of the cut-over's operations`, () => {
  explore(ROLE_MADE_RUNS, 'role-made');
});

describe('a lab in flight', () => {
  const item = (world: World) => world.store.items.get(GUID) ?? {};
  const marked = (world: World) => [item(world).in_flight_since, item(world).in_flight_shard !== undefined];

  it('is marked from its lease taken until each operation ends, then no longer', async () => {
    const world = new World();
    for (const step of ['provision', 'extend', 'move', 'moveBack', 'sweep', 'destroy'] as const) {
      await world.step(step);
      assert.deepEqual(marked(world), [undefined, false], `after ${step}`);
    }
    assert.deepEqual(world.violations, []);
    assert.equal(item(world).lab_state, 'destroyed');
  });

  it('stays marked, from when it began, while an abandoned lease or a half-done move remains', async () => {
    const world = new World();
    await world.step('provision');
    const taken = world.now().toISOString();
    const deadline = new Deadline(world.time + 10_000);
    const held = await tryLease(GUID, { store: world.store, owner: 'died-1', deadline, now: world.now });
    assert.ok(held, 'the lease is taken, and its holder never gives it back');
    world.advance(31 * 60_000);
    assert.deepEqual(marked(world), [taken, true], 'a lapsed lease keeps the lab marked');

    await world.step('extend');
    assert.deepEqual(marked(world), [undefined, false], 'the next operation took over and ended');

    const east = world.proxies.east as MemoryLiteLlm;
    east.holdNext = () => true;
    const moveStarted = world.now().toISOString();
    await assert.rejects(world.step('move'), /unavailable/);
    assert.equal(item(world).moving_to, 'east');
    assert.equal(item(world).lease, undefined);
    assert.deepEqual(marked(world), [moveStarted, true], 'a move stopped half way keeps it marked');

    east.holdNext = () => false;
    world.advance(31 * 60_000);
    await world.step('move');
    assert.deepEqual([item(world).target, ...marked(world)], ['east', undefined, false]);
    assert.deepEqual(world.violations, []);
  });
});
