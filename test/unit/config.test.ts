import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../lib/config.ts';
import { BUILT_IN_PACKAGES } from '../../lib/packages.ts';

const REQUIRED = {
  LITELLM_URL: 'https://litellm.example.com/',
  LITELLM_MASTER_KEY_SECRET_ID: 'litellm/master',
  API_TOKENS_SECRET_ID: 'litellm/tokens',
  LABS_TABLE: 'litellm-virtual-keys-dev-labs',
  KEY_VALUES_KMS_KEY_ID: 'alias/litellm-virtual-keys',
};

describe('config', () => {
  it('fills the documented defaults', () => {
    const config = readConfig(REQUIRED);

    assert.equal(config.litellm.url, 'https://litellm.example.com');
    assert.equal(config.litellm.publicUrl, 'https://litellm.example.com');
    assert.equal(config.litellm.timeoutMs, 30_000);
    assert.equal(config.litellm.retries, 3);
    assert.equal(config.litellm.verifyTls, true);
    assert.equal(config.defaultPackage, 'ai-developer');
    assert.equal(config.forceDbDelete, false);
    assert.equal(config.labEventSource, 'rhdp.lab');
    assert.equal(config.eventBusName, 'default');
    assert.equal(config.keyValuesKmsKeyId, 'alias/litellm-virtual-keys');
    assert.equal(config.labUserDomain, 'lab.opentlc.com');
    assert.equal(config.labUserBase, 'user');
    assert.equal(config.sweepGrace, '0h');
    assert.equal(config.warnBefore, '24h');
    assert.equal(config.reconcileGrace, '1h');
    assert.equal(config.packages, BUILT_IN_PACKAGES);
    assert.equal(config.labsTable, 'litellm-virtual-keys-dev-labs');
    assert.equal(config.reconcileCalls, 50);
  });

  it('names the variable at fault', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...REQUIRED, LITELLM_URL: '' }, /LITELLM_URL is required/],
      [{ ...REQUIRED, LITELLM_URL: 'ftp://x' }, /LITELLM_URL must be an http\(s\) URL/],
      [{ ...REQUIRED, LITELLM_MASTER_KEY_SECRET_ID: ' ' }, /LITELLM_MASTER_KEY_SECRET_ID is required/],
      [{ ...REQUIRED, LITELLM_TIMEOUT_MS: '0' }, /LITELLM_TIMEOUT_MS must be an integer >= 1/],
      [{ ...REQUIRED, LITELLM_RETRIES: 'three' }, /LITELLM_RETRIES/],
      [{ ...REQUIRED, FORCE_DB_DELETE: 'yes' }, /FORCE_DB_DELETE must be true or false/],
      [{ ...REQUIRED, SWEEP_GRACE: '1y' }, /SWEEP_GRACE/],
      [{ ...REQUIRED, LAB_USER_BASE: 'Student' }, /LAB_USER_BASE must be 1-37 lowercase/],
      [{ ...REQUIRED, LAB_USER_BASE: 'b'.repeat(38) }, /LAB_USER_BASE/],
      [{ ...REQUIRED, PACKAGES_JSON: '{' }, /PACKAGES_JSON is not valid JSON/],
      [{ ...REQUIRED, LABS_TABLE: '' }, /LABS_TABLE is required/],
      [{ ...REQUIRED, KEY_VALUES_KMS_KEY_ID: '' }, /KEY_VALUES_KMS_KEY_ID is required/],
      [{ ...REQUIRED, RECONCILE_GRACE: 'soon' }, /RECONCILE_GRACE must be a duration/],
      [{ ...REQUIRED, RECONCILE_CALLS: '-1' }, /RECONCILE_CALLS must be an integer >= 0/],
      [{ ...REQUIRED, PACKAGES_JSON: '{"x": {"models": [], "duration": "7d"}}' }, /PACKAGES_JSON x.models/],
    ];
    for (const [env, message] of cases) assert.throws(() => readConfig(env), message);
  });

  it('refuses a default package missing from the catalogue, naming both', () => {
    const env = { ...REQUIRED, PACKAGES_JSON: '{"gpu-lab": {"models": ["m1"], "duration": "2d"}}' };

    assert.throws(() => readConfig(env), /DEFAULT_PACKAGE "ai-developer" is not defined in PACKAGES_JSON/);
    const config = readConfig({ ...env, DEFAULT_PACKAGE: 'gpu-lab' });
    assert.deepEqual(config.packages, { 'gpu-lab': { models: ['m1'], duration: '2d' } });
  });
});
