import { expiryOf } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { KeyEntry } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { labKeysOf, lookUpLabAliases, packageOfKey } from './lab-keys.ts';
import { readLegacyUsers } from './legacy-users-list.ts';
import type { Lifecycle } from './lifecycle.ts';

/**
 * What LiteLLM and Secrets Manager hold under the aliases of a lab from before the ledger (our
 * marker trusted), its users from the users list it then had, if any. Reads only.
 */
export async function lookUpLegacyLab(
  guid: string,
  deps: {
    readonly litellm: LiteLlmClient;
    readonly keyStore: KeyStore;
    readonly target: LiteLlmTarget;
  },
) {
  const legacy = await readLegacyUsers(deps.keyStore, guid);
  const aliases = await lookUpLabAliases(
    { guid, ...(legacy ? { users: legacy.users } : {}), recorded: [], adopting: true },
    deps.litellm,
    deps.keyStore,
    deps.target.maxConnections,
  );
  return { legacy, aliases };
}

export interface AdoptionDeps {
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  readonly keyStore: KeyStore;
  readonly lifecycle: Lifecycle;
  readonly leaseOwner: string;
  readonly target: LiteLlmTarget;
}

/**
 * Record a lab made before the ledger existed, on its first touch and under its lease: its keys as
 * LiteLLM holds them under its aliases (our marker is trusted for such a lab), its users from the
 * users list it then had (which the sweep deletes once the ledger has the lab). An empty list when
 * LiteLLM holds none.
 */
export async function adoptLegacyLab(guid: string, deps: AdoptionDeps): Promise<KeyEntry[]> {
  const { legacy, aliases } = await lookUpLegacyLab(guid, deps);
  const keys = labKeysOf(aliases);
  const [first] = keys;
  if (!first) return [];
  const now = new Date().toISOString();
  const entries: KeyEntry[] = keys.map((key) => {
    const secretName = aliases.find((alias) => alias.alias === key.alias)?.secretName ?? '';
    const expires = expiryOf(key.record);
    return {
      guid,
      target: deps.target.name,
      alias: key.alias,
      ...(key.user ? { user: key.user } : {}),
      keyId: key.keyId,
      secretName,
      package: packageOfKey(key.record),
      ...(expires ? { expiresAt: expires.toISOString() } : {}),
      createdAt: key.record.created_at ?? now,
    };
  });
  const metadata = first.record.metadata ?? {};
  const expiries = entries.flatMap((entry) => (entry.expiresAt ? [entry.expiresAt] : [])).sort();
  await deps.ledger.startGeneration(guid, deps.leaseOwner, {
    ...(legacy ? { users: legacy.users } : {}),
    package: packageOfKey(first.record),
    models: first.record.models,
    maxBudget: first.record.max_budget ?? null,
    duration: typeof metadata.duration === 'string' ? metadata.duration : 'unknown',
    ...(legacy || !first.record.user_id ? {} : { userId: first.record.user_id }),
    target: deps.target.name,
    client: typeof metadata.api_client === 'string' ? metadata.api_client : 'unknown',
    startedAt: first.record.created_at ?? now,
    expiresAt: expiries.at(-1) ?? now,
    adopted: true,
  });
  for (const entry of entries) await deps.ledger.putKey(entry);
  return entries;
}
