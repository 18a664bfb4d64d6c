import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteKeysEvent, extendKeysEvent, getKeysEvent, lambdaContext } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Handler, useHarness } from '../support/harness.ts';

let sweepHandler: Handler;
const importSweep = async () => {
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
};
// The window has ended: the deployment is back to its own keys only.
const { h, route, issued } = useHarness(
  { ROLE_KEYS_TAKEOVER_UNTIL: '2020-01-01T00:00:00Z', ROLE_KEYS_TAKEOVER_CLIENTS: 'rhdp' },
  { setUp: importSweep },
);

describe('keys the Ansible role made, once the cut-over window is closed', () => {
  it('are untouched by destroy, extend, status and the sweep, which refuses the role-made run', async () => {
    const seeded = await h.litellm.seedKey({
      alias: 'virtkey-after1',
      expires: new Date(Date.now() - 86_400_000),
      metadata: { guid: 'after1', created_by: 'babylon', models: 'granite-3-2-8b-instruct', duration: '7d' },
    });
    issued.add(seeded.raw);
    const context = lambdaContext();

    const destroyed = await invokeHttp(route.destroy, deleteKeysEvent('after1'), context);
    const extended = await invokeHttp(
      route.extend,
      extendKeysEvent('after1', { duration: '7d' }),
      lambdaContext(),
    );
    const read = await invokeHttp(route.status, getKeysEvent('after1'), lambdaContext());
    const swept = (await sweepHandler({ role_made: true, dry_run: true }, lambdaContext(60_000))) as Record<
      string,
      unknown
    >;

    assert.deepEqual([destroyed.status, destroyed.body.was_missing], [200, true]);
    assert.equal(extended.status, 404);
    assert.equal(read.status, 404);
    assert.deepEqual([swept.outcome, swept.status], ['rejected', 400]);
    assert.match(String(swept.detail), /cut-over window is open: set ROLE_KEYS_TAKEOVER_UNTIL/);
    const rows = (await h.litellm.table.list({ key_alias: 'virtkey-after1' }, 1, 10)).rows;
    assert.equal(rows.length, 1);
    assert.equal((await h.ledger.lab('after1')).lab?.role_made, undefined);
  });
});
