import { hashKey, newKeyValue } from '../key-identity.ts';
import type { LabKey } from '../ledger/lab-record.ts';
import type { KeyVault, SealContext } from '../vault/key-vault.ts';

function sealContextOf(guid: string, key: Pick<LabKey, 'alias' | 'target' | 'keyId'>): SealContext {
  return { guid, alias: key.alias, target: key.target, keyId: key.keyId };
}

/**
 * A new key value and its ledger entry, sealed (one KMS call) before LiteLLM is told of it. Its
 * expiry is the one the key will have, so the sweep deletes it even if only LiteLLM ever heard of it.
 */
export async function intendKey(
  vault: KeyVault,
  guid: string,
  key: Pick<LabKey, 'alias' | 'user' | 'target' | 'package' | 'expiresAt'>,
  now: Date,
): Promise<{ readonly value: string; readonly entry: LabKey }> {
  const value = newKeyValue();
  const keyId = hashKey(value);
  const sealed = await vault.seal(value, sealContextOf(guid, { ...key, keyId }));
  return {
    value,
    entry: {
      alias: key.alias,
      ...(key.user ? { user: key.user } : {}),
      target: key.target,
      keyId,
      sealed,
      status: 'intended',
      package: key.package,
      ...(key.expiresAt ? { expiresAt: key.expiresAt } : {}),
      createdAt: now.toISOString(),
    },
  };
}

/** A recorded key's value (one KMS call). */
export function openKey(vault: KeyVault, guid: string, key: LabKey): Promise<string> {
  return vault.open(key.sealed, sealContextOf(guid, key));
}
