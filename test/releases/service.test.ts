import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { beforeEach, describe, it } from 'node:test';
import { clearCache } from '@middy/util';
import { forgetReleases } from '../../lib/litellm/release.ts';
import { logEntries } from '../support/checks/logs.ts';
import { lambdaContext, scheduledSweepEvent } from '../support/fixtures/events.ts';
import { keyInfoState, probeKey } from '../support/fixtures/http.ts';
import { labCalls } from '../support/fixtures/lab-calls.ts';
import {
  type Handler,
  MASTER_KEY,
  MASTER_KEY_SECRET_ID,
  setKeyExpiry,
  useHarness,
} from '../support/harness.ts';
import { RELEASE_NAMES, RELEASES } from '../support/stand-ins/litellm/releases.ts';

/**
 * The service against each supported LiteLLM release, on the cases where releases differ. The
 * full suites of test/integration run on the newest profile (or on any with
 * LITELLM_STANDIN_RELEASE); these run on every profile in one process.
 */
let sweepHandler: Handler;
const importSweep = async () => {
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
};
// Each describe resets the stand-ins itself, then sets the release it runs on.
const { h, route, issued } = useHarness({ FORCE_DB_DELETE: 'true' }, { reset: false, setUp: importSweep });

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const DAY = 86_400_000;

const { provision, destroy, status, extend } = labCalls(route, issued);
const sweep = () =>
  sweepHandler(scheduledSweepEvent(), lambdaContext(60_000)) as Promise<Record<string, unknown>>;
const rows = () =>
  h.litellm.table.db.query<{ key_alias: string; token: string; expires: string | null }>(
    `SELECT key_alias, token, to_char(expires, 'YYYY-MM-DD"T"HH24:MI:SS') AS expires FROM "LiteLLM_VerificationToken" ORDER BY key_alias`,
  );

for (const release of RELEASE_NAMES) {
  describe(`on LiteLLM ${RELEASES[release].version}`, () => {
    beforeEach(async () => {
      await h.reset();
      h.litellm.useRelease(release);
      forgetReleases();
      clearCache();
    });

    it('provision, status, extend and destroy of lab abc touch only abc, among abc1 and ABC-x', async () => {
      assert.equal((await provision({ guid: 'abc1' })).status, 201);
      const foreign = await h.litellm.seedKey({ alias: 'virtkey-ABC-x', expires: null });
      const teamKey = await h.litellm.seedKey({ alias: 'team-virtkey-abc', expires: null });
      const before = await rows();

      const created = await provision({ guid: 'abc' });
      const read = await status('abc');
      const extended = await extend('abc', { duration: '60d' });
      const after = await rows();
      const destroyed = await destroy('abc');

      assert.equal(created.status, 201, JSON.stringify(created.body));
      const abcKey = sha256(String(created.body.litellm_virtual_key));
      assert.deepEqual(
        (read.body.keys as { litellm_key_id: string }[]).map((key) => key.litellm_key_id),
        [abcKey],
      );
      assert.equal(extended.status, 200);
      assert.deepEqual(
        (extended.body.keys as { litellm_key_alias: string }[]).map((key) => key.litellm_key_alias),
        ['virtkey-abc'],
      );
      const untouched = (list: typeof before) => list.filter((row) => row.key_alias !== 'virtkey-abc');
      assert.deepEqual(untouched(after), before, 'the neighbours’ rows did not change');
      assert.equal(destroyed.status, 200);
      assert.equal(destroyed.body.deleted_keys, 1);
      assert.deepEqual((await rows()).map((row) => row.token).sort(), before.map((row) => row.token).sort());
      assert.ok(before.some((row) => row.token === foreign.token && row.token !== teamKey.token));
    });

    it('replaces lab abc’s expired key among its neighbours: 201, no false 409', async () => {
      assert.equal((await provision({ guid: 'abc1' })).status, 201);
      await h.litellm.seedKey({ alias: 'virtkey-ABC-x', expires: null });
      const first = await provision({ guid: 'abc' });
      const expired = sha256(String(first.body.litellm_virtual_key));
      await setKeyExpiry(h, 'abc', expired, new Date(Date.now() - DAY));

      const answer = await provision({ guid: 'abc' });

      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      assert.equal(answer.body.replaced_expired_key, true);
      assert.equal(await h.litellm.table.get(expired), undefined);
      const fresh = sha256(String(answer.body.litellm_virtual_key));
      assert.deepEqual(
        (await h.ledger.lab('abc')).keys.map((key) => [key.key_id, key.status]),
        [[fresh, 'live']],
      );
      assert.equal((await rows()).length, 3);
    });

    it('re-provisions a lab whose key was deleted outside the service once the sweep closes it: 201, never the deleted key', async () => {
      const first = await provision({ guid: 'outside' });
      const old = String(first.body.litellm_virtual_key);
      // Someone else's key: LiteLLM is not empty, so the sweep's breaker lets it close a vanished key.
      await h.litellm.seedKey({ alias: 'team-key-outside', expires: null });
      await fetch(`${h.litellm.url}/key/delete`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ keys: [old] }),
      });

      // The ledger is trusted: the replay makes no LiteLLM call, and hands out what it recorded.
      h.litellm.resetCounters();
      h.kms.reset();
      const replayed = await provision({ guid: 'outside' });
      assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
      assert.equal(replayed.body.litellm_virtual_key, old);
      assert.equal(h.litellm.callCount(), 0);
      assert.equal(h.kms.callCount('Decrypt'), 1);

      const report = await sweep();
      assert.equal((report.reconciliation as Record<string, unknown>).closed, 1);
      assert.equal((await h.ledger.lab('outside')).lab?.lab_state, 'expired');
      const again = await provision({ guid: 'outside' });

      assert.equal(again.status, 201, JSON.stringify(again.body));
      const fresh = String(again.body.litellm_virtual_key);
      assert.notEqual(fresh, old);
      assert.equal((await probeKey(h.litellm.url, fresh)).status, 200);
      assert.deepEqual(
        (await h.ledger.lab('outside')).keys.map((key) => [key.key_id, key.status]),
        [[sha256(fresh), 'live']],
      );
      if (RELEASES[release].servesDeletedKeys) {
        assert.notEqual(fresh, old, 'LiteLLM says the old key was deleted: a new value');
        assert.equal(await keyInfoState(h.litellm.url, MASTER_KEY, sha256(old)), 'deleted');
        assert.equal((await probeKey(h.litellm.url, old)).status, 401);
      }
    });

    it('extend of a key deleted meanwhile is a 404 about the lab, not a LiteLLM error', async () => {
      const created = await provision({ guid: 'vanish' });
      // Between extend's read of the key and its update: /key/update of an unknown key (401 or 404).
      h.litellm.beforeNext('POST /key/update', async () => {
        await h.litellm.table.deleteWithAudit([sha256(String(created.body.litellm_virtual_key))], 'x', 'y');
      });

      const answer = await extend('vanish', { duration: '7d' });

      assert.equal(answer.status, 404, JSON.stringify(answer.body));
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:lab-not-found');
      const rechecks = (await h.ledger.lab('vanish')).lab?.rechecks as { key_id: string }[] | undefined;
      assert.deepEqual(
        rechecks?.map((recheck) => recheck.key_id),
        [sha256(String(created.body.litellm_virtual_key))],
        'looked for again, should a restore bring it back',
      );
    });

    it('a key the API delete leaves behind is verified gone however LiteLLM refuses it (over budget)', async () => {
      const created = await provision({ guid: 'spender', max_budget: 1 });
      const keyId = sha256(String(created.body.litellm_virtual_key));
      await h.litellm.table.update(keyId, { spend: 2 });
      h.litellm.faults.set({ stickyDelete: true });

      const answer = await destroy('spender');

      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.database_deleted_keys, 1);
      assert.equal(await h.litellm.table.get(keyId), undefined);
    });

    it('the sweep deletes exactly the expired keys of ours', async () => {
      const live = await provision({ guid: 'sweeplive' });
      const dead = await provision({ guid: 'sweepdead' });
      const deadId = sha256(String(dead.body.litellm_virtual_key));
      await setKeyExpiry(h, 'sweepdead', deadId, new Date(Date.now() - DAY));
      const foreign = await h.litellm.seedKey({
        alias: 'virtkey-sweepdead-x',
        expires: new Date(Date.now() - DAY),
      });

      const report = await sweep();

      assert.equal(report.deleted, 1);
      const reconciliation = report.reconciliation as Record<string, unknown>;
      assert.equal(reconciliation.listing, RELEASES[release].expiresFilter ? 'expires-filter' : 'full');
      assert.equal(await h.litellm.table.get(deadId), undefined);
      assert.ok(await h.litellm.table.get(sha256(String(live.body.litellm_virtual_key))));
      assert.ok(await h.litellm.table.get(foreign.token));
    });

    for (const operation of ['provision', 'status', 'extend', 'destroy'] as const) {
      it(`${operation} with a master key LiteLLM refuses: 503 naming the master key, nothing written`, async () => {
        const lab = await provision({ guid: `mk-${operation}` });
        assert.equal(lab.status, 201);
        const recorded = await h.ledger.lab(`mk-${operation}`);
        h.secrets.replace(MASTER_KEY_SECRET_ID, 'sk-a-master-key-litellm-never-had');
        clearCache();
        h.litellm.resetCounters();
        h.kms.reset();

        const answer =
          operation === 'provision'
            ? await provision({ guid: 'mk-new' })
            : operation === 'status'
              ? await status(`mk-${operation}`)
              : operation === 'extend'
                ? await extend(`mk-${operation}`, { duration: '7d' })
                : await destroy(`mk-${operation}`);

        h.secrets.replace(
          MASTER_KEY_SECRET_ID,
          JSON.stringify({ master_key: MASTER_KEY, database_url: h.litellm.table.db.url }),
        );
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:litellm-master-key-refused');
        assert.match(String(answer.body.detail), /master key/);
        assert.equal(h.litellm.mutatingCalls(), 0);
        assert.equal(h.kms.callCount('Encrypt'), 0, 'no key value was made');
        const now = await h.ledger.lab(`mk-${operation}`);
        assert.deepEqual([now.lab?.lab_state, now.keys], [recorded.lab?.lab_state, recorded.keys]);
        assert.equal(now.lab?.lease, undefined, 'the lease is given back');
        if (operation === 'provision') {
          const unmade = await h.ledger.lab('mk-new');
          assert.deepEqual([unmade.lab?.lab_state, unmade.keys], [undefined, []], 'no lab was begun');
        }
        assert.equal((await status(`mk-${operation}`)).status, 200, 'the lab is untouched');
      });
    }

    if (RELEASES[release].customKeySwitch) {
      it('disable_custom_api_keys: 502 naming the setting, no key; once lifted, a retry makes the same value', async () => {
        h.litellm.settings.disableCustomApiKeys = true;

        const refused = await provision({ guid: 'nocustom' });
        // The key was announced, its value sealed in the ledger, before LiteLLM refused it.
        const pinned = (await h.ledger.lab('nocustom')).keys;
        const keysWhileRefused = await h.litellm.table.count();
        h.litellm.settings.disableCustomApiKeys = false;
        const retried = await provision({ guid: 'nocustom' });

        assert.equal(refused.status, 502);
        assert.equal(refused.body.type, 'urn:litellm-virtual-keys:problem:litellm-custom-keys-refused');
        assert.match(String(refused.body.detail), /disable_custom_api_keys/);
        assert.equal(refused.body.litellm_virtual_key, undefined);
        assert.equal(keysWhileRefused, 0);
        assert.deepEqual(
          pinned.map((key) => key.status),
          ['intended'],
        );
        assert.equal(retried.status, 201);
        assert.equal(sha256(String(retried.body.litellm_virtual_key)), pinned[0]?.key_id, 'the same value');
        assert.deepEqual(
          (await h.ledger.lab('nocustom')).keys.map((key) => [key.key_id, key.status]),
          [[pinned[0]?.key_id, 'live']],
        );
      });
    }

    if (RELEASES[release].customKeyPolicy) {
      it('custom_key_policy refusing our key: 502 naming the policy, no key', async () => {
        h.litellm.settings.customKeyPolicy = (operation, request) =>
          operation === 'generate' && typeof request.key === 'string'
            ? { decision: false, message: 'only proxy-generated keys' }
            : { decision: true };

        const refused = await provision({ guid: 'policy' });

        assert.equal(refused.status, 502);
        assert.equal(refused.body.type, 'urn:litellm-virtual-keys:problem:litellm-key-policy-refused');
        assert.match(String(refused.body.detail), /custom_key_policy/);
        assert.match(String(refused.body.detail), /only proxy-generated keys/);
        assert.equal(await h.litellm.table.count(), 0);
      });
    }
  });
}

describe('the supported range, read at run time', () => {
  beforeEach(async () => {
    await h.reset();
    h.litellm.useRelease('1.103');
    forgetReleases();
  });

  it('refuses to provision on a release older than 1.81 with a 502 naming it; destroy still works', async () => {
    const lab = await provision({ guid: 'oldproxy' });
    h.litellm.settings.version = '1.79.2';
    forgetReleases();
    h.litellm.resetCounters();

    const refused = await provision({ guid: 'oldproxy2' });
    const destroyed = await destroy('oldproxy');

    assert.equal(lab.status, 201);
    assert.equal(refused.status, 502);
    assert.equal(refused.body.type, 'urn:litellm-virtual-keys:problem:litellm-release-unsupported');
    assert.match(String(refused.body.detail), /LiteLLM 1\.79\.2 is older than 1\.81\.0/);
    assert.equal(destroyed.status, 200);
    assert.equal(h.litellm.callCount('POST /key/generate'), 0);
    assert.equal(h.litellm.callCount('GET /health/readiness'), 1, 'read once; destroy does not wait on it');
  });

  it('reads the version once per container, logs it, and warns of a release newer than tested', async () => {
    h.litellm.settings.version = '1.110.0';

    await provision({ guid: 'newproxy1' });
    await provision({ guid: 'newproxy2' });

    assert.equal(h.litellm.callCount('GET /health/readiness'), 1);
    const line = logEntries().findLast(
      (entry) =>
        entry.message === 'LiteLLM release not checked: newer than the newest checked, handled as that one',
    );
    assert.equal(line?.litellm_version, '1.110.0');
    assert.equal(line?.verdict, 'newer');
  });

  it('finds the version behind /health/readiness/details where the public probe hides it', async () => {
    h.litellm.settings.readinessDetails = 'details-route';

    await provision({ guid: 'hidden1' });

    assert.equal(h.litellm.callCount('GET /health/readiness/details'), 1);
    const line = logEntries().findLast((entry) => entry.message === 'LiteLLM release');
    assert.equal(line?.litellm_version, '1.103.0');
  });

  it('accepts models served through a wildcard deployment', async () => {
    h.litellm.models = ['granite-3-2-8b-instruct', 'openai/*'];

    const answer = await provision({ guid: 'wild', models: ['openai/gpt-4o', 'granite-3-2-8b-instruct'] });
    const missing = await provision({ guid: 'wild2', models: ['gpt-4o'] });

    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(missing.status, 400);
  });
});

describe('a lab key whose owner LiteLLM makes a proxy admin (BerriAI/litellm#37810)', () => {
  beforeEach(async () => {
    await h.reset();
    h.litellm.useRelease('1.103');
    forgetReleases();
    clearCache();
  });

  it('still may not call /key/generate: 403 naming llm_api_routes; /v1/models still works', async () => {
    const lab = await provision({ guid: 'promoted' });
    const key = String(lab.body.litellm_virtual_key);
    const row = await h.litellm.table.get(sha256(key));
    await h.litellm.setUserRole(String(row?.user_id), 'proxy_admin');

    const minted = await fetch(`${h.litellm.url}/key/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key_alias: 'escalated' }),
    });
    const probe = await probeKey(h.litellm.url, key);

    assert.equal(lab.status, 201, JSON.stringify(lab.body));
    assert.deepEqual(row?.allowed_routes, ['llm_api_routes']);
    assert.equal(minted.status, 403);
    assert.deepEqual(await minted.json(), {
      detail:
        "Virtual key is not allowed to call this route. Only allowed to call routes: ['llm_api_routes']. Tried to call route: /key/generate",
    });
    assert.equal(probe.status, 200);
    assert.equal(await h.litellm.table.firstTokenWithAlias('escalated'), undefined);
  });
});
