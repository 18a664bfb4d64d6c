import type { Config } from '../config.ts';
import { expiryOf, hashKey } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import type { KeyEntry, LabRecord } from '../ledger/records.ts';
import type { KeyRecord } from '../litellm/types.ts';
import type { EnsuredKey } from '../provision/ensure-key.ts';
import type { KeySpec } from '../provision/key-spec.ts';

/** The service's own metadata a moved key carries over, as strings (LiteLLM keeps what it is sent). */
export function stringMetadata(record: KeyRecord): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record.metadata ?? {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
}

/** A key of the lab as the move answer shows it: the provision answer's shape, from what LiteLLM holds. */
export function movedKey(
  entry: KeyEntry,
  record: KeyRecord,
  stored: { readonly value: string; readonly arn: string },
  lab: LabRecord,
  deps: { readonly keyStore: KeyStore; readonly config: Pick<Config, 'labUserDomain'> },
): EnsuredKey {
  const metadata = stringMetadata(record);
  const spec: KeySpec = {
    guid: entry.guid,
    ...(entry.user ? { user: entry.user } : {}),
    alias: entry.alias,
    secretName: deps.keyStore.nameOf(entry.alias),
    packageName: metadata.package ?? lab.package ?? entry.package,
    models: record.models,
    duration: metadata.duration ?? lab.duration ?? '',
    userId: record.user_id ?? `${entry.guid}@${deps.config.labUserDomain}`,
    maxBudget: record.max_budget ?? null,
    metadata,
  };
  return {
    spec,
    value: stored.value,
    keyId: hashKey(stored.value),
    secretArn: stored.arn,
    models: record.models,
    duration: spec.duration,
    packageName: spec.packageName,
    expires: expiryOf(record),
    created: false,
    replacedExpired: false,
  };
}
