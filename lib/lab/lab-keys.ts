import { eachLimited } from '../concurrency.ts';
import { expiryOf, hashKey, isLabKey, keyAlias } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import type { KeyEntry } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import type { KeyRecord } from '../litellm/types.ts';

/** A key of the lab as LiteLLM holds it, with its raw value when Secrets Manager has it. */
export interface LabKey {
  readonly alias: string;
  /** The lab user the key is for; undefined for a single-user lab's key. */
  readonly user?: string;
  /** LiteLLM's token: the sha256 of the raw key. */
  readonly keyId: string;
  readonly record: KeyRecord;
  readonly value?: string;
}

/** One alias of the lab: its stored value (if any), its keys and what else holds it. */
export interface LabAlias {
  readonly alias: string;
  readonly user?: string;
  readonly secretName: string;
  readonly stored?: { readonly value: string; readonly keyId: string; readonly arn: string };
  /** Keys of this lab: recorded in the ledger, holding the stored value, or (a lab from before the ledger) carrying its marker. */
  readonly keys: readonly LabKey[];
  /** Keys with this lab's marker that this service has no record of: reported, never touched. */
  readonly unrecorded: readonly KeyRecord[];
  /** Keys of other labs or systems under the alias: never touched. */
  readonly foreign: readonly KeyRecord[];
}

export interface AliasLookup {
  readonly guid: string;
  /** Users of a multi-user lab; undefined for a single-user lab. */
  readonly users?: readonly string[];
  /** Keys the ledger records for the lab. */
  readonly recorded: readonly KeyEntry[];
  /** The lab predates the ledger: keys with its marker count as its own. */
  readonly adopting: boolean;
}

/** What LiteLLM and Secrets Manager hold under one alias of the lab, sorted by whose it is. */
async function lookUpAlias(
  lookup: AliasLookup,
  user: string | undefined,
  litellm: LiteLlmClient,
  store: KeyStore,
): Promise<LabAlias> {
  const { guid } = lookup;
  const alias = keyAlias(guid, user);
  const secretName = store.nameOf(alias);
  const [stored, holders] = await Promise.all([store.read(secretName), litellm.listKeysByAlias(alias)]);
  const storedKeyId = stored.state === 'present' ? hashKey(stored.value) : undefined;
  const recorded = new Set(lookup.recorded.map((entry) => entry.keyId));
  const keys: LabKey[] = [];
  const unrecorded: KeyRecord[] = [];
  const foreign: KeyRecord[] = [];
  for (const record of holders) {
    const token = record.token ?? '';
    const marked = isLabKey(record, guid, user);
    if (recorded.has(token) || (marked && (token === storedKeyId || lookup.adopting))) {
      const value = token === storedKeyId && stored.state === 'present' ? stored.value : undefined;
      keys.push({ alias, ...(user ? { user } : {}), keyId: token, record, ...(value ? { value } : {}) });
    } else if (marked) {
      unrecorded.push(record);
    } else {
      foreign.push(record);
    }
  }
  // Lab `a-user1` and user `user1` of lab `a` share a name: a value whose key is another lab's is not ours.
  const ours =
    stored.state === 'present' && storedKeyId && !foreign.some((record) => record.token === storedKeyId)
      ? { value: stored.value, keyId: storedKeyId, arn: stored.arn }
      : undefined;
  return {
    alias,
    ...(user ? { user } : {}),
    secretName,
    ...(ours ? { stored: ours } : {}),
    keys,
    unrecorded,
    foreign,
  };
}

/**
 * What LiteLLM and Secrets Manager hold under each alias of a lab: one exact-alias `/key/list` call
 * and one secret read per alias, whatever the number of keys in LiteLLM. A lab from before the
 * ledger is looked up under its lab-wide alias too, whatever its users.
 */
export async function lookUpLabAliases(
  lookup: AliasLookup,
  litellm: LiteLlmClient,
  store: KeyStore,
  concurrency: number,
): Promise<LabAlias[]> {
  const users: (string | undefined)[] = lookup.users ? [...lookup.users] : [undefined];
  if (lookup.adopting && lookup.users) users.unshift(undefined);
  const aliases = await eachLimited(users, concurrency, (user) => lookUpAlias(lookup, user, litellm, store));
  // A multi-user lab has no lab-wide key; that alias counts only if something of the lab is there.
  return aliases.filter(
    (entry) => entry.user !== undefined || !lookup.users || entry.keys.length > 0 || entry.stored,
  );
}

export function labKeysOf(aliases: readonly LabAlias[]): LabKey[] {
  return aliases.flatMap((alias) => alias.keys);
}

/** The package a key was made for, as its metadata records it. */
export function packageOfKey(record: KeyRecord): string {
  const name = record.metadata?.package;
  return typeof name === 'string' && name ? name : 'unknown';
}

/** What result events and metrics tell of a lab's keys; never a key value. */
export interface LabSummary {
  readonly models: readonly string[];
  /** The latest expiry among the keys. */
  readonly expires: Date | undefined;
  readonly secretArns: readonly string[];
  /** Keys per package. */
  readonly packages: ReadonlyMap<string, number>;
}

export function summariseKeys(keys: readonly LabKey[], secretArns: readonly string[]): LabSummary {
  const expiries = keys.map((key) => expiryOf(key.record)?.getTime()).filter((t) => t !== undefined);
  return {
    models: [...new Set(keys.flatMap((key) => key.record.models))],
    expires: expiries.length > 0 ? new Date(Math.max(...expiries)) : undefined,
    secretArns,
    packages: keys.reduce(
      (counts, key) => counts.set(packageOfKey(key.record), (counts.get(packageOfKey(key.record)) ?? 0) + 1),
      new Map<string, number>(),
    ),
  };
}
