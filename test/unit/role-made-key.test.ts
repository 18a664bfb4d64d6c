import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../lib/config.ts';
import type { KeyRecord } from '../../lib/litellm/types.ts';
import { roleMadeOwner } from '../../lib/role-made/role-made-key.ts';

const record = (alias: string, metadata: Record<string, unknown>): KeyRecord => ({
  token: 'f'.repeat(64),
  key_alias: alias,
  expires: null,
  models: [],
  metadata,
  user_id: null,
});
const babylon = (guid: string, extra: Record<string, unknown> = {}) => ({
  guid,
  created_by: 'babylon',
  ...extra,
});

describe('a key the Ansible role made', () => {
  it('is known by its guid, `created_by: babylon` and the alias the role gives that guid and user', () => {
    assert.deepEqual(roleMadeOwner(record('virtkey-ab12', babylon('ab12'))), { guid: 'ab12' });
    assert.deepEqual(roleMadeOwner(record('virtkey-ab12-user3', babylon('ab12', { user: 'user3' }))), {
      guid: 'ab12',
      user: 'user3',
    });
  });

  it('is not a key whose alias and metadata disagree, one another tool made, or one with our marker', () => {
    for (const [alias, metadata] of [
      ['virtkey-ab12', babylon('cd34')],
      ['virtkey-ab12-user3', babylon('ab12')],
      ['virtkey-ab12', babylon('ab12', { user: 'user3' })],
      ['virtkey-ab12', { guid: 'ab12', created_by: 'agnosticd-ci' }],
      ['virtkey-ab12', babylon('ab12', { managed_by: 'litellm-virtual-keys' })],
      ['virtkey-AB12', babylon('AB12')],
      ['virtkey-ab12', babylon('ab12', { user: 7 })],
    ] as const) {
      assert.equal(roleMadeOwner(record(alias, metadata)), undefined, `${alias} ${JSON.stringify(metadata)}`);
    }
  });
});

describe('the cut-over window setting', () => {
  const base = {
    LITELLM_URL: 'https://litellm.example.com',
    LITELLM_MASTER_KEY_SECRET_ID: 'litellm-master-key',
    LABS_TABLE: 'labs',
    KEY_VALUES_KMS_KEY_ID: 'alias/k',
  };

  it('is off when unset, and read as an instant and a list of clients when set', () => {
    assert.equal(readConfig(base).roleKeysTakeover, undefined);
    const set = readConfig({
      ...base,
      ROLE_KEYS_TAKEOVER_UNTIL: '2027-03-31',
      ROLE_KEYS_TAKEOVER_CLIENTS: 'rhdp, ops',
    });
    assert.deepEqual(set.roleKeysTakeover, {
      until: new Date('2027-03-31T00:00:00Z'),
      clients: ['rhdp', 'ops'],
    });
  });

  it('refuses at start a date it cannot read, a window without clients, and clients without a window', () => {
    assert.throws(
      () =>
        readConfig({ ...base, ROLE_KEYS_TAKEOVER_UNTIL: 'next spring', ROLE_KEYS_TAKEOVER_CLIENTS: 'rhdp' }),
      /ROLE_KEYS_TAKEOVER_UNTIL must be an ISO-8601 date or instant/,
    );
    assert.throws(
      () => readConfig({ ...base, ROLE_KEYS_TAKEOVER_UNTIL: '2027-03-31T00:00:00Z' }),
      /ROLE_KEYS_TAKEOVER_CLIENTS must name the API clients/,
    );
    assert.throws(() => readConfig({ ...base, ROLE_KEYS_TAKEOVER_CLIENTS: 'rhdp' }), /set both, or neither/);
  });
});
