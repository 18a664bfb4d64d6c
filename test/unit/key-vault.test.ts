import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { UnavailableError } from '../../lib/errors.ts';
import type { KeyVault, SealContext } from '../../lib/vault/key-vault.ts';
import { KmsStandIn } from '../support/stand-ins/kms.ts';

let kms: KmsStandIn;
let vault: KeyVault;
let SealBrokenError: typeof import('../../lib/vault/key-vault.ts').SealBrokenError;
let KeyVaultRefusedError: typeof import('../../lib/vault/key-vault.ts').KeyVaultRefusedError;

const value = `sk-${randomBytes(24).toString('base64url')}`;
const context: SealContext = {
  target: 'default',
  guid: 'lab-vault-1',
  alias: 'lab-vault-1-user1',
  keyId: createHash('sha256').update(value).digest('hex'),
};

/** The rejection `promise` ends in. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

before(async () => {
  kms = await KmsStandIn.start();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_KMS: kms.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDSTANDIN',
    AWS_SECRET_ACCESS_KEY: 'stand-in-secret',
    // One attempt: a fault reaches the vault as it does once the SDK's retries are spent, without their backoff.
    AWS_MAX_ATTEMPTS: '1',
  });
  // Imported once the environment is set, as the functions are: the vault's KMS client reads it.
  const module = await import('../../lib/vault/key-vault.ts');
  SealBrokenError = module.SealBrokenError;
  KeyVaultRefusedError = module.KeyVaultRefusedError;
  vault = new module.KmsKeyVault(kms.keyArn);
});

beforeEach(() => kms.reset());

after(() => kms.close());

describe('the KMS key vault', () => {
  it('opens what it sealed, and the sealed text does not carry the value', async () => {
    const sealed = await vault.seal(value, context);
    assert.ok(!sealed.includes(value));
    assert.ok(!Buffer.from(sealed, 'base64').includes(value));
    assert.equal(await vault.open(sealed, context), value);
  });

  it('makes one KMS call per seal and per open', async () => {
    const sealed = await vault.seal(value, context);
    assert.deepEqual([kms.callCount('Encrypt'), kms.callCount()], [1, 1]);
    await vault.open(sealed, context);
    assert.deepEqual([kms.callCount('Decrypt'), kms.callCount()], [1, 2]);
  });

  it('refuses a value opened under a context differing in any one field (a 500, not handed out)', async () => {
    const sealed = await vault.seal(value, context);
    for (const field of ['target', 'guid', 'alias', 'keyId'] as const) {
      const error = await failure(vault.open(sealed, { ...context, [field]: `${context[field]}-other` }));
      assert.ok(error instanceof SealBrokenError, field);
      assert.equal(error.status, 500, field);
    }
  });

  it('turns throttling and KMS outages into 503s to retry', async () => {
    kms.failNext('Encrypt', 1, 'throttled');
    const throttled = await failure(vault.seal(value, context));
    assert.ok(throttled instanceof UnavailableError);
    assert.equal(throttled.status, 503);

    const sealed = await vault.seal(value, context);
    kms.failNext('Decrypt', 1, 'unavailable');
    const down = await failure(vault.open(sealed, context));
    assert.ok(down instanceof UnavailableError);
    assert.equal(down.status, 503);
  });

  it('names access denied as KMS refusing the service (a deployment fault), not a 503', async () => {
    const sealed = await vault.seal(value, context);
    kms.denyAll();
    const error = await failure(vault.open(sealed, context));
    assert.ok(error instanceof KeyVaultRefusedError);
    assert.equal(error.status, 500);
    assert.equal(error.problem, 'key-vault-refused');
    assert.match(error.message, /AccessDeniedException/);
  });
});
