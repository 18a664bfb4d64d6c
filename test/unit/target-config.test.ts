import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../lib/config.ts';

const BASE = {
  API_TOKENS_SECRET_ID: 'litellm/tokens',
  LABS_TABLE: 'litellm-virtual-keys-dev-labs',
  KEY_VALUES_KMS_KEY_ID: 'alias/litellm-virtual-keys',
  LITELLM_TIMEOUT_MS: '5000',
  LITELLM_MAX_CONNECTIONS: '8',
};
const targets = (value: unknown) => ({ ...BASE, LITELLM_TARGETS: JSON.stringify(value) });

describe('LiteLLM targets', () => {
  it('reads LITELLM_URL and LITELLM_MASTER_KEY_SECRET_ID as the one target default', () => {
    const config = readConfig({
      ...BASE,
      LITELLM_URL: 'https://litellm.example.com/',
      LITELLM_PUBLIC_URL: 'https://ai.example.com',
      LITELLM_MASTER_KEY_SECRET_ID: 'litellm/master',
    });

    assert.deepEqual([...config.targets.keys()], ['default']);
    assert.deepEqual(config.targets.get('default'), {
      name: 'default',
      url: 'https://litellm.example.com',
      publicUrl: 'https://ai.example.com',
      masterKeySecretId: 'litellm/master',
      timeoutMs: 5000,
      retries: 3,
      verifyTls: true,
      maxConnections: 8,
    });
    assert.equal(config.litellm, config.targets.get('default'));
  });

  it('reads LITELLM_TARGETS in place of the single-target variables, each target with its own settings', () => {
    const config = readConfig({
      ...targets({
        default: { url: 'https://a.example.com/', master_key_secret_id: 'lvk/a' },
        'east-2': {
          url: 'http://b.internal:4000',
          public_url: 'https://ai-east.example.com/',
          master_key_secret_id: ' lvk/b ',
          verify_tls: false,
          max_connections: 3,
        },
      }),
      LITELLM_URL: 'https://ignored.example.com',
    });

    assert.deepEqual([...config.targets.keys()], ['default', 'east-2']);
    assert.equal(config.litellm.url, 'https://a.example.com');
    assert.equal(config.litellm.publicUrl, 'https://a.example.com');
    assert.deepEqual(config.targets.get('east-2'), {
      name: 'east-2',
      url: 'http://b.internal:4000',
      publicUrl: 'https://ai-east.example.com',
      masterKeySecretId: 'lvk/b',
      timeoutMs: 5000,
      retries: 3,
      verifyTls: false,
      maxConnections: 3,
    });
  });

  it('fails at start naming the target and the field at fault', () => {
    const good = { url: 'https://a.example.com', master_key_secret_id: 'lvk/a' };
    const cases: [unknown, RegExp][] = [
      [{ default: { master_key_secret_id: 'm' } }, /target "default" field url is required/],
      [
        { default: good, east: { ...good, url: 'ftp://b' } },
        /target "east" field url must be an http\(s\) URL/,
      ],
      [{ default: { url: 'https://a' } }, /target "default" field master_key_secret_id is required/],
      [
        { default: { ...good, master_key_secret_id: ' ' } },
        /field master_key_secret_id must be a secret name or ARN/,
      ],
      [{ default: { ...good, verify_tls: 'no' } }, /target "default" field verify_tls must be true or false/],
      [{ default: { ...good, max_connections: 0 } }, /field max_connections must be an integer >= 1/],
      [{ default: { ...good, public_url: 'b.example.com' } }, /field public_url must be an http\(s\) URL/],
      [{ default: { ...good, timeout: 5 } }, /target "default" has unknown field\(s\) timeout/],
      [{ east: good }, /LITELLM_TARGETS must name one target "default" \(it has east\)/],
      [{ default: good, East: good }, /target "East" must be named with 1-32 lowercase letters/],
      [
        JSON.parse('{"default": {"url": "https://a", "master_key_secret_id": "m"}, "__proto__": {}}'),
        /"__proto__"/,
      ],
      [[good], /LITELLM_TARGETS must be a JSON object of targets by name/],
    ];
    for (const [value, message] of cases) assert.throws(() => readConfig(targets(value)), message);
    assert.throws(() => readConfig({ ...BASE, LITELLM_TARGETS: '{default' }), /LITELLM_TARGETS is not JSON/);
    assert.throws(() => readConfig(BASE), /LITELLM_URL is required/);
  });
});
