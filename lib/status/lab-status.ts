import { logRawKeyRead } from '../auth/access.ts';
import type { Caller } from '../auth/client-grants.ts';
import { eachLimited } from '../concurrency.ts';
import { formatExpiry } from '../duration.ts';
import { NotFoundError } from '../errors.ts';
import { expiryOf, hashKey, isExpired } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import { lookUpLegacyLab } from '../lab/adopt-legacy-lab.ts';
import { type LabKey, labKeysOf } from '../lab/lab-keys.ts';
import { knownLab, type LabLedger } from '../ledger/lab-ledger.ts';
import type { LabRecord, LedgerLab } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { entryTarget } from '../targets/lab-target.ts';

export interface StatusDeps {
  readonly caller: Caller;
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  readonly keyStore: KeyStore;
  readonly concurrency: number;
  /** The lab's LiteLLM target. */
  readonly target: LiteLlmTarget;
  /** The lab as the ledger holds it. */
  readonly known: LedgerLab;
  readonly now: () => Date;
}

interface StatusKey extends LabKey {
  readonly secretArn?: string;
}

/** The keys the ledger records for a live lab, as LiteLLM holds them now (one call), with their stored values. */
async function recordedKeys(guid: string, deps: StatusDeps): Promise<{ lab?: LabRecord; keys: StatusKey[] }> {
  const lab = knownLab(deps.known);
  if (!lab) return { keys: await legacyKeys(guid, deps) };
  // An unfinished move's keys on its other target are not the lab's until it commits.
  const entries = deps.known.keys.filter((entry) => entryTarget(entry) === deps.target.name);
  if (lab.state === 'destroyed' || entries.length === 0) return { lab, keys: [] };
  const [records, stored] = await Promise.all([
    deps.litellm.getKeysInfo(entries.map((entry) => entry.keyId)),
    // The alias's own name, not the entry's: mid-move an old entry has let go of it.
    eachLimited(entries, deps.concurrency, (entry) => deps.keyStore.read(deps.keyStore.nameOf(entry.alias))),
  ]);
  const keys = entries.flatMap((entry, index): StatusKey[] => {
    const record = records.get(entry.keyId);
    if (!record) return [];
    const value = stored[index];
    const held = value?.state === 'present' && hashKey(value.value) === entry.keyId ? value : undefined;
    return [
      {
        alias: entry.alias,
        ...(entry.user ? { user: entry.user } : {}),
        keyId: entry.keyId,
        record,
        ...(held ? { value: held.value, secretArn: held.arn } : {}),
      },
    ];
  });
  return { lab, keys };
}

/** A lab from before the ledger: what LiteLLM and Secrets Manager hold under its aliases (read only). */
async function legacyKeys(guid: string, deps: StatusDeps): Promise<StatusKey[]> {
  const { aliases } = await lookUpLegacyLab(guid, deps);
  return labKeysOf(aliases).map((key) => {
    const arn = aliases.find((alias) => alias.alias === key.alias)?.stored?.arn;
    return key.value && arn ? { ...key, secretArn: arn } : key;
  });
}

/**
 * `GET /keys/{guid}`: every key of the lab (each user's, in a multi-user lab) as LiteLLM holds it,
 * expired ones included; 404 when none. Raw keys only for a caller with `read-key`, and each such
 * read is logged. The caller is known to own the lab (or hold `all-labs`): the operation checked
 * that before it reached the lab's target.
 */
export async function labStatus(guid: string, deps: StatusDeps): Promise<Record<string, unknown>> {
  const now = deps.now();
  const { lab, keys: found } = await recordedKeys(guid, deps);
  if (found.length === 0) {
    throw new NotFoundError(
      lab?.state === 'destroyed'
        ? `lab ${guid} has no key (destroyed at ${lab.destroyedAt})`
        : `lab ${guid} has no key`,
    );
  }
  const withValues = deps.caller.scopes.has('read-key');
  const keys = withValues
    ? found
    : found.map(({ value: _value, secretArn: _arn, ...key }) => key as StatusKey);
  logRawKeyRead(
    deps.caller,
    guid,
    keys.filter((key) => key.value).map((key) => key.alias),
  );
  return {
    guid,
    ...(lab?.state ? { state: lab.state } : {}),
    litellm_target: deps.target.name,
    keys: keys.map(({ alias, user, keyId, record, value, secretArn }) => ({
      litellm_key_alias: alias,
      ...(user ? { user } : {}),
      litellm_key_id: keyId,
      litellm_available_models: record.models,
      litellm_key_expires: formatExpiry(expiryOf(record)),
      expired: isExpired(record, now),
      spend: record.spend ?? 0,
      ...(record.total_spend === undefined ? {} : { total_spend: record.total_spend }),
      max_budget: record.max_budget ?? null,
      blocked: record.blocked === true,
      created_at: record.created_at ?? null,
      package: record.metadata?.package ?? null,
      ...(value ? { litellm_virtual_key: value, secret_arn: secretArn } : {}),
    })),
  };
}
