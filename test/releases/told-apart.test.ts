import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { beforeEach, describe, it } from 'node:test';
import { clearCache } from '@middy/util';
import { forgetReleases } from '../../lib/litellm/release.ts';
import { logEntries } from '../support/checks/logs.ts';
import { labCalls } from '../support/fixtures/lab-calls.ts';
import { MASTER_KEY, MASTER_KEY_SECRET_ID, useHarness } from '../support/harness.ts';
import { RELEASE_NAMES, RELEASES, type ReleaseName } from '../support/stand-ins/litellm/releases.ts';

/**
 * Answers LiteLLM gives alike, told apart by what it says, on every release profile: an alias
 * refused by format or as taken, a 401 on /key/update, over-budget keys, and spend read across an
 * upgrade; with no /key/list on any lab operation's common path.
 */
const { h, route, issued } = useHarness({ FORCE_DB_DELETE: 'true' }, { reset: false });

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const { provision, destroy, status, extend } = labCalls(route, issued);

/** The stand-ins as new, on `release`, with every cache of the service forgotten. */
async function useRelease(release: ReleaseName) {
  await h.reset();
  h.litellm.useRelease(release);
  forgetReleases();
  clearCache();
}

/** The master-key secret as the harness keeps it, with another master key. */
const setMasterKey = (value: string) => {
  h.secrets.replace(
    MASTER_KEY_SECRET_ID,
    JSON.stringify({ master_key: value, database_url: h.litellm.table.db.url }),
  );
  clearCache();
};

for (const release of RELEASE_NAMES) {
  const profile = RELEASES[release];
  describe(`on LiteLLM ${profile.version}`, () => {
    beforeEach(() => useRelease(release));

    it('provision, replay, status, extend and destroy make no /key/list call', async () => {
      const first = await provision({ guid: 'nolist' });
      const replay = await provision({ guid: 'nolist' });
      const read = await status('nolist');
      const extended = await extend('nolist', { duration: '7d' });
      const destroyed = await destroy('nolist');

      assert.deepEqual(
        [first.status, replay.status, read.status, extended.status, destroyed.status],
        [201, 200, 200, 200, 200],
      );
      assert.equal(h.litellm.callCount('GET /key/list'), 0);
      assert.equal(first.body.alias_lookups, undefined, 'the answer says no lookup happened');
    });

    it('reads the release as the proxy answers readiness, and logs it once', async () => {
      const mark = logEntries().length;
      await provision({ guid: 'rel1' });
      await provision({ guid: 'rel2' });

      const lines = logEntries()
        .slice(mark)
        .filter((entry) => entry.message === 'LiteLLM release');
      assert.deepEqual(
        lines.map((line) => [line.litellm_version, line.verdict]),
        [[profile.version, 'supported']],
      );
      assert.equal(h.litellm.callCount('GET /health/readiness'), 1);
      assert.equal(
        h.litellm.callCount('GET /health/readiness/details'),
        profile.versionShownOn === 'details-route' ? 1 : 0,
      );
    });

    it('a 401 on /key/update from a master key without sk-: 503 about the master key, the lab kept whole', async () => {
      const lab = await provision({ guid: 'prefixless' });
      const before = await h.ledger.lab('prefixless');
      // The proxy's master key had no sk- prefix, and is rotated between extend's read and its update.
      const prefixless = 'master-key-without-the-prefix-0123456789';
      h.litellm.rotateMasterKey(prefixless);
      setMasterKey(prefixless);
      h.litellm.beforeNext('POST /key/update', async () => h.litellm.rotateMasterKey(MASTER_KEY));
      h.litellm.resetCounters();

      const answer = await extend('prefixless', { duration: '7d' });

      setMasterKey(MASTER_KEY);
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:litellm-master-key-refused');
      assert.equal(h.litellm.callCount('POST /key/update'), 1);
      assert.equal(
        h.litellm.callCount('GET /key/info'),
        1,
        'confirmed by /key/info before anything concluded',
      );
      const after = await h.ledger.lab('prefixless');
      assert.deepEqual(
        after.keys.map((key) => [key.key_id, key.status, key.expires_at]),
        before.keys.map((key) => [key.key_id, key.status, key.expires_at]),
      );
      assert.equal(after.lab?.lab_state, 'active');
      assert.ok(await h.litellm.table.get(sha256(String(lab.body.litellm_virtual_key))));
      assert.equal((await status('prefixless')).status, 200);
    });

    it('LiteLLM’s database down: 503 to the caller, nothing concluded, the lab kept', async () => {
      const lab = await provision({ guid: 'dbdown' });
      const before = await h.ledger.lab('dbdown');
      h.litellm.settings.databaseDown = true;

      const made = await provision({ guid: 'dbdown-new' });
      const destroyed = await destroy('dbdown');
      const extended = await extend('dbdown', { duration: '7d' });

      h.litellm.settings.databaseDown = false;
      for (const answer of [made, destroyed, extended]) {
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:unavailable');
      }
      assert.deepEqual(
        (await h.ledger.lab('dbdown')).keys.map((key) => [key.key_id, key.expires_at]),
        before.keys.map((key) => [key.key_id, key.expires_at]),
      );
      assert.deepEqual(
        (await h.ledger.lab('dbdown-new')).keys.map((key) => key.status),
        ['intended'],
        'the new key stays announced, for a retry to make',
      );
      assert.ok(await h.litellm.table.get(sha256(String(lab.body.litellm_virtual_key))));
      assert.equal((await destroy('dbdown')).status, 200, 'once it is back, the destroy finishes');
      assert.equal((await provision({ guid: 'dbdown-new' })).status, 201);
    });

    it('an over-budget key still counts as present when a destroy verifies it', async () => {
      const created = await provision({ guid: 'overbudget', max_budget: 1 });
      const keyId = sha256(String(created.body.litellm_virtual_key));
      await h.litellm.table.update(keyId, { spend: 2 });
      const probe = await fetch(`${h.litellm.url}/v1/models`, {
        headers: { authorization: `Bearer ${String(created.body.litellm_virtual_key)}` },
      });
      h.litellm.faults.set({ stickyDelete: true });

      const answer = await destroy('overbudget');

      assert.equal(probe.status, profile.overBudgetStatus);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.database_deleted_keys, 1, 'refused for budget is not gone');
      assert.equal(await h.litellm.table.get(keyId), undefined);
    });

    if (profile.aliasFormatCheck === 'configurable') {
      it('an alias the configured pattern refuses: 502 naming LiteLLM’s rule, one /key/generate, nothing lost', async () => {
        h.litellm.settings.keyAliasPattern = '^team-[a-z0-9-]+$';

        const refused = await provision({ guid: 'patterned' });
        const lab = await h.ledger.lab('patterned');
        delete h.litellm.settings.keyAliasPattern;
        const retried = await provision({ guid: 'patterned' });

        assert.equal(refused.status, 502, JSON.stringify(refused.body));
        assert.equal(refused.body.type, 'urn:litellm-virtual-keys:problem:litellm-alias-format-refused');
        assert.match(String(refused.body.detail), /Invalid key_alias format/);
        assert.match(String(refused.body.detail), /\^team-/, 'names the rule');
        assert.equal(h.litellm.callCount('POST /key/generate'), 2, 'one each: the refusal is not retried');
        assert.equal(h.litellm.callCount('GET /key/list'), 0, 'a format refusal is not a duplicate');
        assert.deepEqual(
          lab.keys.map((key) => key.status),
          ['intended'],
          'the announced key stays, so a retry makes the same value',
        );
        assert.equal(retried.status, 201, JSON.stringify(retried.body));
        assert.equal(sha256(String(retried.body.litellm_virtual_key)), lab.keys[0]?.key_id);
      });
    }

    if (profile.aliasFormatCheck !== 'none') {
      it('with the fixed alias rule on, every alias the service makes passes it', async () => {
        h.litellm.settings.keyAliasFormatValidation = true;

        const single = await provision({ guid: 'fmt-a1' });
        const multi = await provision({ guid: 'fmt-b2', users: ['user1', 'user2'] });

        assert.equal(single.status, 201, JSON.stringify(single.body));
        assert.equal(multi.status, 201, JSON.stringify(multi.body));
      });
    }

    it('an alias refused as taken whose holder is deleted before the lookup: asked for once more, 201, the answer says so', async () => {
      const other = await h.litellm.seedKey({ alias: 'virtkey-raced', expires: null });
      h.litellm.beforeNext('GET /key/list', async () => {
        await h.litellm.table.deleteWithAudit([other.token], 'someone', 'else');
      });

      const answer = await provision({ guid: 'raced' });

      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.alias_lookups, [
        { litellm_key_alias: 'virtkey-raced', reason: 'alias-taken', found: 'nobody' },
      ]);
      assert.equal(h.litellm.callCount('POST /key/generate'), 2);
      assert.equal(h.litellm.callCount('GET /key/list'), 1);
      assert.deepEqual(
        (await h.ledger.lab('raced')).keys.map((key) => key.status),
        ['live'],
      );
    });

    it('an alias refused twice with nobody holding it: 502 quoting LiteLLM, the key still announced', async () => {
      const holder = () => h.litellm.seedKey({ alias: 'virtkey-twice', expires: null });
      const dropOnLookup = (token: string, then?: () => void) =>
        h.litellm.beforeNext('GET /key/list', async () => {
          await h.litellm.table.deleteWithAudit([token], 'someone', 'else');
          then?.();
        });
      dropOnLookup((await holder()).token, () =>
        h.litellm.beforeNext('POST /key/generate', async () => dropOnLookup((await holder()).token)),
      );

      const answer = await provision({ guid: 'twice' });

      assert.equal(answer.status, 502, JSON.stringify(answer.body));
      assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:litellm-alias-refused');
      assert.match(String(answer.body.detail), /refused key alias virtkey-twice twice.*already exists/);
      assert.equal(h.litellm.callCount('POST /key/generate'), 2);
      assert.deepEqual(
        (await h.ledger.lab('twice')).keys.map((key) => key.status),
        ['intended'],
      );
    });

    if (profile.totalSpend) {
      it('spend of a key made before the proxy had total_spend: the larger figure, flagged', async () => {
        const older = RELEASE_NAMES.find((name) => !RELEASES[name].totalSpend) as ReleaseName;
        h.litellm.useRelease(older);
        forgetReleases();
        const made = await provision({ guid: 'upgraded' });
        const keyId = sha256(String(made.body.litellm_virtual_key));
        await h.litellm.recordSpend(keyId, 2);
        h.litellm.useRelease(release);
        forgetReleases();
        await h.litellm.recordSpend(keyId, 0.5);
        const fresh = await provision({ guid: 'madenow' });
        await h.litellm.recordSpend(sha256(String(fresh.body.litellm_virtual_key)), 1);

        const read = await status('upgraded');
        const destroyed = await destroy('upgraded');
        const freshDestroyed = await destroy('madenow');

        const perKey = {
          litellm_key_alias: 'virtkey-upgraded',
          litellm_key_id: keyId,
          spend: 2.5,
          period_spend: 2.5,
          total_spend: 0.5,
          total_spend_may_lack_backfill: true,
        };
        assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
        assert.deepEqual(destroyed.body.spend, [perKey]);
        assert.equal(destroyed.body.total_spend, 2.5);
        assert.equal(destroyed.body.total_spend_may_lack_backfill, true);
        assert.match(String(destroyed.body.spend_note), /backfill script.*PR #42967/);
        const { litellm_key_alias, litellm_key_id, ...fields } = perKey;
        const [statusKey] = read.body.keys as Record<string, unknown>[];
        assert.deepEqual(
          Object.fromEntries(Object.keys(fields).map((name) => [name, statusKey?.[name]])),
          fields,
        );
        const event = h.bus.entries.find(
          (entry) => entry.detailType === 'Virtual Key Destroyed' && entry.detail.guid === 'upgraded',
        );
        assert.deepEqual(event?.detail.spend, [perKey]);
        assert.equal(event?.detail.total_spend_may_lack_backfill, true);
        assert.equal((await h.ledger.lab('upgraded')).lab?.total_spend, 2.5);
        assert.deepEqual(freshDestroyed.body.spend, [
          {
            litellm_key_alias: 'virtkey-madenow',
            litellm_key_id: sha256(String(fresh.body.litellm_virtual_key)),
            spend: 1,
            period_spend: 1,
            total_spend: 1,
          },
        ]);
        assert.equal(freshDestroyed.body.total_spend_may_lack_backfill, undefined);
      });
    }

    if (profile.hidesUndiscoverableModels) {
      it('a model left out of /v1/models (not discoverable) is granted by a package, never by a pattern', async () => {
        h.litellm.models = [...h.litellm.models, '*'];
        h.litellm.settings.undiscoverableModels = ['granite-3-2-8b-instruct', '*'];

        const packaged = await provision({ guid: 'hidden-model', package: 'ai-beginner' });
        const chosen = await provision({ guid: 'chosen-model', models: ['granite-3-2-8b-instruct'] });
        const everything = await provision({ guid: 'every-model', models: ['all-proxy-models'] });

        assert.equal(packaged.status, 201, JSON.stringify(packaged.body));
        assert.deepEqual(packaged.body.litellm_available_models, ['granite-3-2-8b-instruct']);
        assert.equal(
          chosen.status,
          400,
          'a client without a models limit naming it may not pick a hidden model',
        );
        assert.match(String(chosen.body.detail), /granted only by a package, or by a client limit naming it/);
        assert.equal(everything.status, 400, 'a wildcard deployment is no licence for any name');
        assert.match(String(everything.body.detail), /all-proxy-models/);
        assert.equal(h.litellm.callCount('POST /key/generate'), 1);
      });
    }

    if (profile.customKeySwitch) {
      it('disable_custom_api_keys in the Admin UI: the advice fits the release', async () => {
        h.litellm.settings.disableCustomApiKeys = true;

        const refused = await provision({ guid: 'advice' });

        assert.equal(refused.status, 502);
        assert.equal(refused.body.type, 'urn:litellm-virtual-keys:problem:litellm-custom-keys-refused');
        const detail = String(refused.body.detail);
        if (profile.customKeySwitchEverywhere) {
          assert.match(
            detail,
            /v1\.104 or later: set general_settings\.disable_custom_api_keys to false in config\.yaml/,
          );
        } else {
          assert.match(detail, /before v1\.104: turn it off in the Admin UI/);
          assert.match(detail, /retry after 10 minutes/);
        }
      });
    }

    if (profile.customKeySwitchEverywhere) {
      it('disable_custom_api_keys in config.yaml is enforced: 502 saying to change config.yaml', async () => {
        h.litellm.settings.configDisableCustomApiKeys = true;

        const refused = await provision({ guid: 'configured' });

        assert.equal(refused.status, 502, JSON.stringify(refused.body));
        assert.match(String(refused.body.detail), /config\.yaml and restart the proxy/);
        assert.equal(await h.litellm.table.count(), 0);
      });
    }
  });
}

describe('a release newer than any checked', () => {
  beforeEach(() => useRelease(RELEASE_NAMES.at(-1) as ReleaseName));

  it('keeps working and says once which release it was not checked against', async () => {
    h.litellm.settings.version = '1.120.3';
    const mark = logEntries().length;

    const first = await provision({ guid: 'future1' });
    forgetReleases('reads');
    const second = await provision({ guid: 'future2' });

    assert.deepEqual([first.status, second.status], [201, 201]);
    assert.equal(h.litellm.callCount('GET /health/readiness'), 2, 'read again, as after an hour');
    const lines = logEntries()
      .slice(mark)
      .filter((entry) => String(entry.message).startsWith('LiteLLM release not checked'));
    assert.deepEqual(
      lines.map((line) => [line.litellm_version, line.verdict]),
      [['1.120.3', 'newer']],
    );
  });
});

describe('advice after an upgrade within the hour', () => {
  beforeEach(() => useRelease('1.93'));

  it('disable_custom_api_keys: the advice reads the release afresh, not the hour-old one', async () => {
    assert.equal((await provision({ guid: 'before-upgrade' })).status, 201);
    h.litellm.useRelease('1.104');
    h.litellm.settings.configDisableCustomApiKeys = true;

    const refused = await provision({ guid: 'after-upgrade' });

    assert.equal(refused.status, 502, JSON.stringify(refused.body));
    assert.match(
      String(refused.body.detail),
      /v1\.104 or later: set general_settings\.disable_custom_api_keys/,
    );
  });
});
