import type { Config } from '../config.ts';
import { expiryOf } from '../key-identity.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import type { KeyRecord } from '../litellm/types.ts';
import type { KeySpec } from '../provision/key-spec.ts';
import type { ProvisionedKey } from '../provision/provision-lab.ts';

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
  key: LabKey,
  value: string,
  record: KeyRecord,
  lab: Lab,
  deps: { readonly config: Pick<Config, 'labUserDomain'> },
): ProvisionedKey {
  const metadata = stringMetadata(record);
  const spec: KeySpec = {
    guid: lab.guid,
    ...(key.user ? { user: key.user } : {}),
    alias: key.alias,
    packageName: metadata.package ?? lab.package ?? key.package,
    models: record.models,
    duration: metadata.duration ?? lab.duration ?? '',
    userId: record.user_id ?? `${lab.guid}@${deps.config.labUserDomain}`,
    maxBudget: record.max_budget ?? null,
    metadata,
  };
  const expires = key.expiresAt ? new Date(key.expiresAt) : expiryOf(record);
  return {
    spec,
    value,
    keyId: key.keyId,
    models: record.models,
    duration: spec.duration,
    packageName: spec.packageName,
    expires,
    created: false,
    replacedExpired: false,
  };
}
