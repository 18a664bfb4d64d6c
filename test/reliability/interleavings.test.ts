import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import type { Exploration } from '../support/fakes/explore-interleavings.ts';

const RUNS = 10_000;

it(`keeps the five invariants in ${RUNS} orders of provision, extend, destroy, sweep, move and late applies`, () => {
  const script = new URL('../support/fakes/explore-interleavings.ts', import.meta.url).pathname;
  const child = spawnSync(process.execPath, ['--import', 'tsx', script, String(RUNS), '24'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(child.status, 0, child.stderr);
  const exploration = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as Exploration;
  assert.equal(exploration.failure, undefined, exploration.failure);
  assert.equal(exploration.schedules, RUNS);
  process.stdout.write(`# interleavings: ${exploration.schedules} schedules in ${exploration.ms} ms\n`);
});
