import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eachLimited } from '../../lib/concurrency.ts';

/** Work whose items settle only when the test says so, recording when each started. */
function controlled() {
  const started: number[] = [];
  const settle = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
  const work = (item: number) =>
    new Promise<number>((resolve, reject) => {
      started.push(item);
      settle.set(item, { resolve, reject });
    });
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  return { started, settle, work, tick };
}

describe('eachLimited', () => {
  it('keeps at most `limit` items running and returns results in item order', async () => {
    const { started, settle, work, tick } = controlled();
    const run = eachLimited([1, 2, 3, 4, 5], 2, work);
    await tick();
    assert.deepEqual(started, [1, 2]);
    settle.get(2)?.resolve(20);
    await tick();
    assert.deepEqual(started, [1, 2, 3]);
    for (const item of [1, 3, 4, 5]) {
      await tick();
      settle.get(item)?.resolve(item * 10);
    }
    assert.deepEqual(await run, [10, 20, 30, 40, 50]);
  });

  it('runs every item after a failure, then rethrows the first failure', async () => {
    const { started, settle, work, tick } = controlled();
    const run = eachLimited([1, 2, 3, 4], 2, work);
    await tick();
    settle.get(1)?.reject(new Error('first'));
    await tick();
    settle.get(2)?.reject(new Error('second'));
    for (const item of [3, 4]) {
      await tick();
      settle.get(item)?.resolve(item);
    }
    await assert.rejects(run, { message: 'first' });
    assert.deepEqual(started, [1, 2, 3, 4]);
  });

  it('with stopAfterFailure, starts nothing new once an item failed and waits for those running', async () => {
    const { started, settle, work, tick } = controlled();
    const run = eachLimited([1, 2, 3, 4, 5], 2, work, { stopAfterFailure: true });
    await tick();
    settle.get(1)?.reject(new Error('down'));
    await tick();
    assert.deepEqual(started, [1, 2], 'no item started after the failure');
    let settled = false;
    run.catch(() => {
      settled = true;
    });
    await tick();
    assert.equal(settled, false, 'item 2 is still running');
    settle.get(2)?.resolve(2);
    await assert.rejects(run, { message: 'down' });
    assert.deepEqual(started, [1, 2]);
  });
});
