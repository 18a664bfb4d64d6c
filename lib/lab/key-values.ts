import { Problem } from '../errors.ts';
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

/** A key the Ansible role made (taken over, lib/role-made/): the service never had its value to hand out. */
export class ValueNotKeptError extends Problem {
  override name = 'ValueNotKeptError';
  constructor(guid: string, alias: string) {
    super(
      409,
      'role-made-key',
      'The key’s value is not kept by the service',
      `key ${alias} of lab ${guid} was made by the Ansible role and taken over, so its value was never stored: ` +
        `it can be extended, read without its value and destroyed; destroy the lab (DELETE /keys/${guid}) and provision it again for a key the service can hand out or move`,
    );
  }
}

/** A recorded key's value (one KMS call); a 409 for a role-made key, whose value is not kept. */
export function openKey(vault: KeyVault, guid: string, key: LabKey): Promise<string> {
  if (key.sealed === undefined) return Promise.reject(new ValueNotKeptError(guid, key.alias));
  return vault.open(key.sealed, sealContextOf(guid, key));
}

/**
 * What to name a key by in a LiteLLM call: its value where kept (LiteLLM evicts its auth cache
 * under the hash of what it is given), else its id (a role-made key: LiteLLM's cache of it then
 * lapses on its own, in its cache's time).
 */
export function keyValueOrId(vault: KeyVault, guid: string, key: LabKey): Promise<string> {
  return key.sealed === undefined ? Promise.resolve(key.keyId) : openKey(vault, guid, key);
}
